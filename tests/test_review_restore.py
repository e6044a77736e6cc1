"""Attacks on the restore path that are not archive shapes (those are in tests/hostile_corpus.py):
what the target holds, how the restore is run, what happens to it while it runs."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from tests.conftest import run_cli


def tar_of(path: Path, specs) -> Path:
    """specs: (kind, name, data-or-link) with kind in file/dir/sym/hard."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, arg in specs:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode = 1_700_000_000, 0o755 if kind == "dir" else 0o644
            data = None
            if kind == "file":
                data = arg or b""
                info.size = len(data)
            else:
                info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE}[kind]
                info.linkname = arg or ""
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def one_line_error(out, phrase: str) -> None:
    assert out.returncode != 0, out.stdout
    assert "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert phrase in out.stderr, out.stderr


def test_staged_conflict_found_in_the_merge_moves_nothing(tmp_path):
    """A folder in the archive where the target has a file (no --force), and a file in the archive
    where the target has a folder (--force): refused before the first entry moves into place."""
    for flags, setup, specs in (
        ((), lambda t: (t / "z").write_text("mine"),
         [("dir", "./a/", None), ("file", "./a/f", b"new"), ("dir", "./z/", None), ("file", "./z/g", b"x")]),
        (("--force",), lambda t: ((t / "z").mkdir(), (t / "z" / "mine").write_text("m")),
         [("dir", "./a/", None), ("file", "./a/f", b"new"), ("file", "./z", b"x")]),
    ):
        base = tmp_path / ("force" if flags else "plain")
        target = base / "T"
        target.mkdir(parents=True)
        setup(target)
        before = listing(target)
        archive = tar_of(base / "a.tar", specs)
        out = run_cli("restore", "filesystem", "--local", archive, "--target-path", target, "-q", *flags)
        one_line_error(out, "z")
        assert "nothing was restored" in out.stderr, out.stderr
        assert listing(target) == before


SWAP_AFTER_CHECK = """
import os, sys
import cli_recover.archive.verify as verify
real = verify.check_integrity_first
def check_then_swap(archive, *a, **k):
    real(archive, *a, **k)
    os.replace(sys.argv[1], archive)  # another writer replaces the archive once it was verified
verify.check_integrity_first = check_then_swap
from cli_recover.cli.main import main
raise SystemExit(main(sys.argv[2:]))
"""


def test_archive_swapped_after_its_check_is_not_restored_as_verified(tmp_path):
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"the real content\n")
    archive = tmp_path / "a.tar"
    run_cli("backup", "filesystem", "--local", src, "-o", archive, "-c", "none", "-q", check=True)
    evil = tar_of(tmp_path / "evil.tar", [("dir", "./", None), ("file", "./f", b"an attacker's content\n")])
    target = tmp_path / "T"
    proc = subprocess.run([sys.executable, "-c", SWAP_AFTER_CHECK, evil, "restore", "filesystem", "--local",
                           archive, "--target-path", target, "-q"], capture_output=True, text=True, timeout=120)
    one_line_error(proc, "sha256 differs from the manifest")
    assert "nothing was restored" in proc.stderr
    assert not (target / "f").exists()


def test_staged_restore_over_a_deep_existing_tree_within_a_small_fd_limit(tmp_path):
    """The merge holds an fd per folder level: 600 levels over a tree already there (--force), with
    the common soft limit of 1024 open files."""
    import resource
    import subprocess
    import sys

    specs, path = [("dir", "./", None)], "."
    for _ in range(600):
        path += "/d"
        specs.append(("dir", path + "/", None))
    specs.append(("file", path + "/f", b"x"))
    archive = tar_of(tmp_path / "deep.tar", specs)
    target = tmp_path / "T"
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "cli_recover", "restore", "filesystem", "--local", archive,
                               "--target-path", target, "-q", "--force"], capture_output=True, text=True,
                              timeout=120, env={**os.environ},
                              preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)))
        assert proc.returncode == 0, proc.stderr
    assert (target / path / "f").read_bytes() == b"x"


@pytest.mark.parametrize("edit", [
    lambda m: m["stream"].update(member_prefix=5),
    lambda m: m["members"].append({"path": "l", "type": "symlink", "link": 5}),
    lambda m: m["members"].append({"path": "h", "type": "hardlink", "link": 5}),
    lambda m: m["members"][-1].update(size="big"),
], ids=["prefix", "symlink-link", "hardlink-link", "size"])
def test_a_manifest_field_of_the_wrong_type_is_one_line(tmp_path, edit):
    import json

    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    archive = tmp_path / "a.tar"
    run_cli("backup", "filesystem", "--local", src, "-o", archive, "-c", "none", "-q", check=True)
    path = Path(str(archive) + ".manifest.json")
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest))
    for args in (["restore", "filesystem", "--local", archive, "--target-path", tmp_path / "T", "-q", "--include", "f"],
                 ["verify", archive]):
        out = run_cli(*args)
        one_line_error(out, "is not a cli-recover manifest")


def _zeros_archive(tmp_path: Path) -> Path:
    import zstandard

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for i in range(40):  # 40 x 16 MiB of zeros: seconds of writing, a few KB stored
            info = tarfile.TarInfo(f"./z{i}.bin")
            info.size = 16 << 20
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    archive = tmp_path / "zeros.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    return archive


def test_sigterm_during_an_in_place_restore_names_the_file_left_incomplete(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    archive = _zeros_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "cli_recover", "restore", "filesystem", "--local", str(archive),
                             "--target-path", str(dest), "-q", "--in-place"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not any(dest.glob("z*.bin")):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the restore finished before the signal")
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert "cancelled by SIGTERM; the restore stopped part-way: z" in err and "incomplete" in err, err


def test_staged_restore_over_a_mount_point_in_the_target_moves_nothing(tmp_path):
    from tests.faults import full_disk

    target = tmp_path / "T"
    target.mkdir()
    archive = tar_of(tmp_path / "a.tar", [("dir", "./a/", None), ("file", "./a/f", b"1"), ("dir", "./sub/", None),
                                          ("file", "./sub/f", b"2")])
    with full_disk(target / "sub", "1m"):
        out = run_cli("restore", "filesystem", "--local", archive, "--target-path", target, "-q")
        one_line_error(out, "mount point")
        assert "nothing was restored" in out.stderr
        assert listing(target) == ["sub"]


def test_a_fifo_where_the_manifest_goes_is_refused_not_waited_on(tmp_path):
    archive = tar_of(tmp_path / "a.tar", [("dir", "./", None), ("file", "./f", b"x")])
    os.mkfifo(str(archive) + ".manifest.json")
    for args in (["restore", "filesystem", "--local", archive, "--target-path", tmp_path / "T", "-q"],
                 ["verify", archive]):
        out = run_cli(*args, timeout=30)
        one_line_error(out, "not a regular file")


def test_verify_report_names_members_on_one_line_each(tmp_path):
    """An archive member named with a newline and a terminal escape, unexpected in the manifest."""
    import hashlib
    import json

    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    archive = tmp_path / "a.tar"
    run_cli("backup", "filesystem", "--local", src, "-o", archive, "-c", "none", "-q", check=True)
    manifest_file = Path(str(archive) + ".manifest.json")
    manifest = json.loads(manifest_file.read_text())
    evil = tar_of(tmp_path / "evil.tar", [("dir", "./", None), ("file", "./f", b"x"),
                                          ("file", "./a\nb\x1b[2Jc", b"y")]).read_bytes()
    archive.write_bytes(evil)
    manifest["bytes"]["stored"] = len(evil)
    manifest["sha256"]["stored"] = hashlib.sha256(evil).hexdigest()
    manifest_file.write_text(json.dumps(manifest))
    out = run_cli("verify", archive)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "\x1b" not in out.stdout and "a\\nb\\x1b[2Jc" in out.stdout, out.stdout
    assert not any(line.startswith("b") for line in out.stdout.splitlines()), out.stdout


def test_include_of_links_to_too_many_files_outside_it_is_one_line(tmp_path):
    """Every hard-link target outside --include is named to tar: past what argv holds, a clear
    refusal rather than E2BIG's `OSError: Argument list too long`."""
    archive = tmp_path / "hl.tar"
    n = 60_000  # 60k names of 40 bytes: 2.4 MB, past what Linux allows (E2BIG)
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("t", "h"):
            info = tarfile.TarInfo(f"./{name}")
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
        for j in range(n):
            info = tarfile.TarInfo(f"./t/target-file-with-a-long-name-{j:06d}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"a"))
        for j in range(n):
            info = tarfile.TarInfo(f"./h/l{j}")
            info.type, info.linkname = tarfile.LNKTYPE, f"./t/target-file-with-a-long-name-{j:06d}"
            tar.addfile(info)
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", tmp_path / "T", "-q", "--include", "h")
    one_line_error(out, "too many names to give tar")
    assert not (tmp_path / "T").exists() or listing(tmp_path / "T") == []


def test_pod_include_of_links_to_many_files_outside_it_is_one_line(tmp_path):
    """In a pod tar's argv goes in the exec URL: 3,000 hard-link targets made the sandbox answer
    HTTP 400 ('cannot exec ... Invalid response status')."""
    from cli_recover.kube.sandbox import make_pod, serve

    archive = tmp_path / "hl.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for j in range(3000):
            info = tarfile.TarInfo(f"./t/f{j:06d}")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"a"))
        for j in range(3000):
            info = tarfile.TarInfo(f"./h/l{j}")
            info.type, info.linkname = tarfile.LNKTYPE, f"./t/f{j:06d}"
            tar.addfile(info)
    root = tmp_path / "cluster"
    make_pod(root, "default", "p", {"containers": [{"name": "main"}]})
    with serve(root, kubeconfig_path=tmp_path / "kubeconfig") as sb:
        out = run_cli("restore", "filesystem", "p", archive, "--target-path", "/x", "-q", "--include", "h",
                      "--kubeconfig", sb.kubeconfig_path)
        one_line_error(out, "too many names to give tar")
        small = run_cli("restore", "filesystem", "p", archive, "--target-path", "/y", "-q", "--include", "h/l1",
                        "--kubeconfig", sb.kubeconfig_path)
        assert small.returncode == 0, small.stderr
    assert (root / "default" / "p" / "y" / "h" / "l1").read_bytes() == b"a"


def test_include_dot_says_to_leave_it_out(tmp_path):
    archive = tar_of(tmp_path / "a.tar", [("dir", "./", None), ("file", "./f", b"x")])
    for include in (".", "./", "/.", "./."):
        out = run_cli("restore", "filesystem", "--local", archive, "--target-path", tmp_path / "T", "-q",
                      "--include", include)
        one_line_error(out, "leave --include out")
