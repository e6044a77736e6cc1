"""The restore guard (cli_recover/archive/guard.py) on its own, and the restore behaviours around it:
pod restores of many files into a new folder, a pod without `sh`, symlinks that point outside."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from cli_recover.archive.guard import KnownDisk, LocalDisk, RestoreGuard, UnsafeMember
from cli_recover.archive.tarindex import Member
from cli_recover.kube.sandbox import make_pod, serve
from tests.conftest import run_cli


def m(path: str, kind: str = "file", link: str | None = None) -> Member:
    return Member(path=path.removeprefix("./").rstrip("/") or ".", raw_name=path, type=kind, size=0, mode=0o644,
                  mtime=0, link=link)


def test_a_real_tree_with_relative_link_chains_passes():
    guard = RestoreGuard()
    for member in [m("./", "dir"), m("venv/bin", "dir"), m("venv/bin/python3.11"),
                   m("venv/bin/python3", "symlink", "python3.11"), m("venv/bin/python", "symlink", "python3"),
                   m("venv/lib", "dir"), m("venv/lib64", "symlink", "lib"), m("venv/lib/x.py"),
                   m("venv/bin/up", "symlink", "../lib/x.py"), m("hard", "hardlink", "venv/lib/x.py"),
                   m("venv/bin/python3.11", "file")]:  # the same path twice (tar -r)
        guard.check(member)


def test_sixteen_thousand_components_check_in_linear_time():
    deep = "/".join(["d"] * 16_000)
    guard = RestoreGuard(LocalDisk("/nonexistent-target"))
    guard.check(m(deep + "/f"))
    guard.check(m(deep + "/g"))  # the same prefix again: a dict walk, no string rebuilt
    guard.check(m("x", "symlink", "../" * 0 + "/".join(["d"] * 16_000)))
    with pytest.raises(UnsafeMember, match="below a symlink"):
        guard.check(m("x/" + deep))


def test_disk_links_are_found_locally_and_never_followed(tmp_path):
    (tmp_path / "t" / "real").mkdir(parents=True)
    os.symlink("/etc", tmp_path / "t" / "real" / "etc")
    guard = RestoreGuard(LocalDisk(str(tmp_path / "t")))
    guard.check(m("real/etc", "file"))  # a leaf replaced by tar (it unlinks it) is fine
    for path in ("real/etc/passwd", "real//etc/./x", "./real/etc/"):
        with pytest.raises(UnsafeMember, match="symlink already in the target"):
            guard.check(m(path, "dir" if path.endswith("/") else "file"))


def test_pod_answers_cover_every_asked_path_and_nothing_else():
    tree = {"sub": ("link", None), "d": ("dir", {"x": ("absent", None)})}
    guard = RestoreGuard(KnownDisk(tree))
    guard.check(m("d/x/y"))
    with pytest.raises(UnsafeMember, match="symlink already in the target"):
        guard.check(m("sub/y"))
    with pytest.raises(UnsafeMember, match="not checked on the target"):
        guard.check(m("d/unasked/y"))


def test_wanted_walk_is_depth_first_and_balanced():
    guard = RestoreGuard()
    for path in ("a/b/c", "a/d", "e"):
        guard.check(m(path))
    steps = [(s, n) for s, n, _ in guard.wanted()]
    assert steps == [("d", "a"), ("d", "b"), ("u", None), ("u", None)]  # leaves are never asked about


def test_a_link_through_an_earlier_link_is_refused():
    guard = RestoreGuard()
    guard.check(m("x", "symlink", "."))
    with pytest.raises(UnsafeMember, match="through another symlink"):
        guard.check(m("y", "symlink", "x/.."))


# --- through the CLI ----------------------------------------------------------------------------


def _tar(path: Path, entries) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, arg in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "file":
                info.size = len(arg)
                tar.addfile(info, io.BytesIO(arg))
            else:
                info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE}[kind]
                info.mode = 0o755
                info.linkname = arg or ""
                tar.addfile(info)
    path.write_bytes(buf.getvalue())
    return path


VENV = [("./", "dir", None), ("./bin/", "dir", None), ("./bin/python", "sym", "/usr/bin/python3"),
        ("./bin/python3", "sym", "python"), ("./etc/", "dir", None), ("./etc/localtime", "sym", "/usr/share/zoneinfo/UTC"),
        ("./bin/activate", "file", b"# activate\n")]


def test_outside_symlinks_restore_as_links_with_the_flag(tmp_path):
    archive = _tar(tmp_path / "venv.tar", VENV)
    dest = tmp_path / "dest"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode != 0 and "--allow-outside-symlinks" in out.stderr and "Traceback" not in out.stderr
    assert not dest.exists() or not any(dest.rglob("*"))
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q", "--allow-outside-symlinks")
    assert out.returncode == 0, out.stderr
    assert os.readlink(dest / "bin" / "python") == "/usr/bin/python3"
    assert os.readlink(dest / "etc" / "localtime") == "/usr/share/zoneinfo/UTC"
    assert (dest / "bin" / "activate").read_bytes() == b"# activate\n"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    make_pod(root, "default", "app", {"containers": [{"name": "main"}]})
    make_pod(root, "default", "nosh", {"containers": [{"name": "main"}], "env": {"PATH": "/nowhere"}})
    with serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig") as sb:
        yield sb


def kube(cluster, *args):
    return run_cli(*args, "--kubeconfig", cluster.kubeconfig_path, timeout=300)


def test_pod_restore_of_many_files_into_a_new_folder(cluster, tmp_path):
    """Issue 9 item 7: the existing-files check ran before `mkdir -p` and exited without reading."""
    entries = [("./", "dir", None)] + [(f"./d{i // 500}/f{i}", "file", b"%d\n" % i) for i in range(5000)]
    archive = _tar(tmp_path / "many.tar", entries)
    out = kube(cluster, "restore", "filesystem", "app", archive, "--target-path", "/new/folder", "-q")
    assert out.returncode == 0, out.stderr
    dest = cluster.root / "default" / "app" / "new" / "folder"
    assert sum(1 for p in dest.rglob("f*") if p.is_file()) == 5000
    assert (dest / "d9" / "f4999").read_bytes() == b"4999\n"


def test_pod_restore_outside_symlinks_with_the_flag(cluster, tmp_path):
    archive = _tar(tmp_path / "venv.tar", VENV)
    out = kube(cluster, "restore", "filesystem", "app", archive, "--target-path", "/venv", "-q")
    assert out.returncode != 0 and "--allow-outside-symlinks" in out.stderr
    out = kube(cluster, "restore", "filesystem", "app", archive, "--target-path", "/venv", "-q",
               "--allow-outside-symlinks")
    assert out.returncode == 0, out.stderr
    assert os.readlink(cluster.root / "default" / "app" / "venv" / "bin" / "python") == "/usr/bin/python3"


def test_pod_without_sh_says_so(cluster, tmp_path):
    entries = [("./", "dir", None)] + [(f"./a/f{i}", "file", b"x") for i in range(5000)]
    archive = _tar(tmp_path / "a.tar", entries)  # many paths: the writes outrun the failed exec
    out = kube(cluster, "restore", "filesystem", "nosh", archive, "--target-path", "/x", "-q")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "no `sh`" in out.stderr and "stopped reading" not in out.stderr, out.stderr


def test_backup_warns_about_symlinks_that_point_outside(tmp_path):
    import json

    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    os.symlink("/usr/bin/python3", src / "bin" / "python")
    os.symlink("python", src / "bin" / "python3")
    os.symlink("../../elsewhere", src / "bin" / "up")
    out = run_cli("backup", "filesystem", "--local", src, "-o", tmp_path / "a.tar.zst", "--json", "-q")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    warning = next(w for w in result["warnings"] if "outside" in w)
    assert "2 symlink(s)" in warning and "--allow-outside-symlinks" in warning and "bin/python ->" in warning
    assert "cli-recover: warning: 2 symlink(s) point outside" in out.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    os.symlink("inside", plain / "l")
    out = run_cli("backup", "filesystem", "--local", plain, "-o", tmp_path / "b.tar.zst", "-q")
    assert out.returncode == 0 and "warning" not in out.stderr


# --- failed restores: the real cause, the file left incomplete, no partial file (issue 9 item 10) --


def test_stderr_summary_keeps_the_cause_over_its_consequences():
    from cli_recover.archive.pipeline import stderr_file, stderr_summary

    tar = ("tar: big.bin: Wrote only 6656 of 10240 bytes\n"
           "tar: small.txt: Cannot open: No space left on device\n"
           "tar: Exiting with failure status due to previous errors\n")
    assert stderr_summary(tar) == "tar: small.txt: Cannot open: No space left on device"
    assert stderr_file(tar) == "big.bin"
    short = "tar: big.bin: Wrote only 6656 of 10240 bytes\ntar: Exiting with failure status due to previous errors\n"
    assert stderr_summary(short).startswith("No space left on device") and "big.bin" in stderr_summary(short)
    assert stderr_summary("tar: Exiting with failure status due to previous errors\n").startswith("tar: Exiting")
    assert stderr_summary("") == "no error output"


def _big_archive(tmp_path) -> Path:
    return _tar(tmp_path / "big.tar", [("./", "dir", None), ("./a.txt", "file", b"a\n"),
                                        ("./big.bin", "file", os.urandom(3 << 20)), ("./z.txt", "file", b"z\n")])


def test_local_restore_into_a_full_disk_names_the_cause_and_leaves_no_partial_file(tmp_path):
    from tests.faults import full_disk

    archive = _big_archive(tmp_path)
    with full_disk(tmp_path / "full", "1m") as mount:
        dest = Path(mount) / "dest"
        out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
        assert out.returncode != 0 and "Traceback" not in out.stderr
        assert "No space left on device" in out.stderr, out.stderr
        assert "nothing was restored" in out.stderr
        assert [str(p) for p in Path(mount).rglob("*")] in ([], [str(dest)]), list(Path(mount).rglob("*"))
        log = next((Path(os.environ["CLI_RECOVER_HOME"]) / "logs").glob("*.log")).read_text()
        assert "stderr (last lines)" in log and "Wrote only" in log
        # --in-place: tar writes into the target and the error names the file it left incomplete
        out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q", "--in-place")
        assert out.returncode != 0 and "No space left on device" in out.stderr
        assert "big.bin may be left incomplete" in out.stderr, out.stderr


def test_staged_restore_of_a_damaged_stream_leaves_the_target_as_it_was(tmp_path):
    archive = _big_archive(tmp_path)
    data = bytearray(archive.read_bytes())
    data[-20000] ^= 0xFF  # inside big.bin: only the stored hash taken while streaming can tell
    archive.write_bytes(bytes(data))
    lying = {"format": "cli-recover/manifest", "format_version": 1, "provider": "filesystem",
             "stream": {"type": "tar", "member_prefix": "./"}, "codec": {"name": "none"},
             "bytes": {"stored": len(data)}, "sha256": {"stored": "0" * 64}, "members": []}
    import json

    Path(str(archive) + ".manifest.json").write_text(json.dumps(lying))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q", "--no-verify")
    assert out.returncode != 0 and "nothing was restored" in out.stderr, out.stderr
    assert sorted(os.listdir(dest)) == ["old.txt"]


def test_staged_restore_merges_into_an_existing_tree_and_applies_the_root_mode(tmp_path):
    src = tmp_path / "src"
    (src / "keep" / "sub").mkdir(parents=True)
    (src / "keep" / "sub" / "new.txt").write_text("new")
    (src / "f.txt").write_text("archived")
    os.chmod(src, 0o750)
    os.utime(src, (1_600_000_000, 1_600_000_000))
    archive = tmp_path / "a.tar"
    assert run_cli("backup", "filesystem", "--local", src, "-o", archive, "--compression", "none", "-q").returncode == 0
    dest = tmp_path / "dest"
    (dest / "keep" / "sub").mkdir(parents=True)
    (dest / "keep" / "mine.txt").write_text("mine")
    (dest / "f.txt").write_text("current")
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode != 0 and "f.txt" in out.stderr and "--force" in out.stderr
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q", "--force")
    assert out.returncode == 0, out.stderr
    assert (dest / "f.txt").read_text() == "archived" and (dest / "keep" / "mine.txt").read_text() == "mine"
    assert (dest / "keep" / "sub" / "new.txt").read_text() == "new"
    assert oct(dest.stat().st_mode & 0o777) == "0o750" and int(dest.stat().st_mtime) == 1_600_000_000
    assert not [p for p in os.listdir(dest) if p.startswith(".cli-recover-staging-")]


def test_merge_never_writes_through_a_link_that_appeared_after_the_checks(tmp_path):
    from cli_recover.errors import RecoverError
    from cli_recover.providers.filesystem import merge_staged

    (tmp_path / "stage" / "sub").mkdir(parents=True)
    (tmp_path / "stage" / "sub" / "pwned").write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "dest").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "dest" / "sub")
    with pytest.raises(RecoverError, match="through the symlink sub"):
        merge_staged(str(tmp_path / "stage"), str(tmp_path / "dest"), force=True, apply_root=False)
    assert os.listdir(tmp_path / "outside") == []


def test_pod_restore_into_a_full_disk_names_the_file_and_the_cause(cluster, tmp_path):
    from tests.faults import full_disk

    archive = _big_archive(tmp_path)
    with full_disk(cluster.root / "default" / "app" / "full", "1m"):
        out = kube(cluster, "restore", "filesystem", "app", archive, "--target-path", "/full/dest", "-q")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "No space left on device" in out.stderr and "big.bin may be left incomplete" in out.stderr, out.stderr


def test_merged_usr_links_restore_with_the_flag_in_any_order():
    """A root filesystem: links through `lib -> usr/lib`, before or after it in the archive. Refused
    by default (the refusal names the flag); with the flag they are links, never written through."""
    members = [m("usr/lib/x", "dir"), m("usr/lib/x/libfoo.so.1"),
               m("usr/lib/x/libfoo.so", "symlink", "../../../lib/x/libfoo.so.1"),
               m("lib", "symlink", "usr/lib"), m("usr/lib/x/libbar.so", "symlink", "../../../lib/x/libfoo.so.1")]
    for order in (members, members[:2] + members[3:] + members[2:3]):
        with pytest.raises(UnsafeMember, match="--allow-outside-symlinks"):
            guard = RestoreGuard()
            for member in order:
                guard.check(member)
        guard = RestoreGuard(allow_outside_symlinks=True)
        for member in order:
            guard.check(member)
        with pytest.raises(UnsafeMember, match="below a symlink"):
            guard.check(m("lib/x/pwned"))


def test_a_failure_before_the_move_leaves_the_target_as_it_was(tmp_path):
    from tests.faults import fault_env

    archive = _big_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q",
                  env=fault_env("restore.merge=enospc"))
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert "No space left on device" in out.stderr and "cannot move the restored files" in out.stderr, out.stderr
    assert sorted(os.listdir(dest)) == ["old.txt"]


def test_sigterm_during_a_staged_restore_removes_the_staging_folder(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    import zstandard

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i in range(40):  # 40 x 16 MiB of zeros: seconds of writing, a few KB stored
            info = tarfile.TarInfo(f"./z{i}.bin")
            info.size = 16 << 20
            tar.addfile(info, io.BytesIO(bytes(info.size)))
    archive = tmp_path / "zeros.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    del buf
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "cli_recover", "restore", "filesystem", "--local", str(archive),
                             "--target-path", str(dest), "-q"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        staging = [p for p in dest.iterdir() if p.name.startswith(".cli-recover-staging-")]
        if staging and any(staging[0].rglob("z*.bin")):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the restore finished before the signal")
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert list(dest.iterdir()) == []


def test_a_staging_folder_left_by_kill_9_is_removed_by_the_vanished_job_check(tmp_path):
    """kill -9 between extraction and the move leaves the private staging folder in the target; the
    job recorded it as a partial output, so the next look at the history (`status`) removes it whole."""
    from tests.faults import fault_env

    archive = _big_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "old.txt").write_text("old")
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q",
                  env=fault_env("restore.merge=kill"))
    assert out.returncode != 0
    left = [n for n in os.listdir(dest) if n.startswith(".cli-recover-staging-")]
    assert left and any(os.scandir(dest / left[0] / "root"))  # the kill left a full staging folder
    status = run_cli("status", "-o", "json")
    assert status.returncode == 0, status.stderr
    assert sorted(os.listdir(dest)) == ["old.txt"]
