"""Issue 2: the streaming archive engine through the real CLI, real tar and real codecs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from tests.conftest import make_tree, run_cli, snapshot_tree

CODECS = {"zstd": ".tar.zst", "lz4": ".tar.lz4", "gzip": ".tar.gz", "none": ".tar"}
CLI_READERS = {"zstd": "zstd -d -c", "lz4": "lz4 -d -c", "gzip": "gzip -d -c", "none": "cat"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("src") / "data")


def backup(src: Path, *extra) -> Path:
    out = run_cli("backup", "filesystem", "--local", src, "-q", *extra)
    assert out.returncode == 0, out.stderr
    archive = Path(out.stdout.strip().splitlines()[-1])
    assert archive.exists()
    return archive


@pytest.mark.parametrize("codec", list(CODECS))
def test_round_trip_every_codec(tree, tmp_path, codec, data_home):
    archive = backup(tree, "--compression", codec)
    assert archive.name.endswith(CODECS[codec])
    assert archive.parent == data_home / "backups"
    assert archive.name.startswith("data-")
    manifest = json.loads(Path(str(archive) + ".manifest.json").read_text())
    assert manifest["codec"]["name"] == codec
    assert manifest["sha256"]["stored"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert manifest["bytes"]["stored"] == archive.stat().st_size
    assert not list(archive.parent.glob("*.partial")) and not list(archive.parent.glob(".members-*"))

    dest = tmp_path / "restored"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode == 0, out.stderr
    assert snapshot_tree(dest) == snapshot_tree(tree)


@pytest.mark.parametrize("codec", list(CODECS))
def test_archive_readable_by_plain_tools(tree, tmp_path, codec):
    archive = backup(tree, "--compression", codec)
    manifest = json.loads(Path(str(archive) + ".manifest.json").read_text())
    sha = subprocess.run(["sha256sum", str(archive)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert sha == manifest["sha256"]["stored"]
    dest = tmp_path / "plain"
    dest.mkdir()
    subprocess.run(f"{CLI_READERS[codec]} < '{archive}' | tar -x -C '{dest}'", shell=True, check=True)
    assert snapshot_tree(dest) == snapshot_tree(tree)
    raw = subprocess.run(f"{CLI_READERS[codec]} < '{archive}' | sha256sum", shell=True, capture_output=True,
                         text=True, check=True).stdout.split()[0]
    assert raw == manifest["sha256"]["raw"]


def test_manifest_indexes_every_member(tree):
    archive = backup(tree)
    manifest = json.loads(Path(str(archive) + ".manifest.json").read_text())
    members = {m["path"]: m for m in manifest["members"]}
    assert manifest["members_count"] == len(manifest["members"])
    big = members["big.bin"]
    assert big["type"] == "file" and big["size"] == (tree / "big.bin").stat().st_size
    assert big["sha256"] == hashlib.sha256((tree / "big.bin").read_bytes()).hexdigest()
    assert members["link-to-readme"] == {**members["link-to-readme"], "type": "symlink", "link": "docs/readme.txt"}
    assert members["secret.key"]["mode"] == 0o600
    assert members["run.sh"]["mode"] == 0o755
    assert members["empty.txt"]["sha256"] == hashlib.sha256(b"").hexdigest()
    long_path = next(p for p in members if p.endswith(".bin") and len(p) > 100)
    assert members[long_path]["size"] == 200_000
    assert members["ünïcødé-日本.txt"]["type"] == "file"
    assert {members["hardlink.txt"]["type"], members["docs/readme.txt"]["type"]} == {"file", "hardlink"}
    assert members["name with spaces.md"]["mtime"] == int((tree / "name with spaces.md").stat().st_mtime)


def test_excludes(tree, tmp_path):
    archive = backup(tree, "--exclude", "*.log", "--exclude-vcs", "--exclude", "big.bin")
    paths = {m["path"] for m in json.loads(Path(str(archive) + ".manifest.json").read_text())["members"]}
    assert "app.log" not in paths and "big.bin" not in paths
    assert not any(p.startswith(".git") for p in paths)
    assert "docs/readme.txt" in paths


def test_exclude_vcs_is_understood_by_busybox_style_tars(tmp_path):
    """--exclude-vcs becomes plain --exclude patterns (busybox tar has no --exclude-vcs)."""
    from cli_recover.providers.filesystem import tar_create_argv

    argv = tar_create_argv("/data", ["."], [], True)
    assert "--exclude-vcs" not in argv and "--exclude=.git" in argv and "--exclude=.gitignore" in argv
    src = tmp_path / "s"
    (src / "sub" / ".git").mkdir(parents=True)
    (src / "sub" / ".git" / "HEAD").write_text("x")
    (src / "sub" / ".gitignore").write_text("*.o")
    (src / "sub" / "keep.txt").write_text("k")
    archive = backup(src, "--exclude-vcs")
    paths = {m["path"] for m in json.loads(Path(str(archive) + ".manifest.json").read_text())["members"]}
    assert paths == {".", "sub", "sub/keep.txt"}


def test_include_restores_only_chosen_members(tree, tmp_path):
    archive = backup(tree)
    dest = tmp_path / "partial-restore"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "--include", "docs",
                  "--include", "./run.sh", "-q")
    assert out.returncode == 0, out.stderr
    restored = {str(p.relative_to(dest)) for p in dest.rglob("*")}
    members = {m["path"]: m for m in json.loads(Path(str(archive) + ".manifest.json").read_text())["members"]}
    # docs/readme.txt and hardlink.txt are one inode: when readme is stored as the hard link, its
    # target must come along (tar cannot link to a file it did not extract)
    extra = {"hardlink.txt"} if members["docs/readme.txt"]["type"] == "hardlink" else set()
    assert restored == {"docs", "docs/readme.txt", "run.sh"} | extra
    assert (dest / "docs" / "readme.txt").read_text() == (tree / "docs" / "readme.txt").read_text()
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", tmp_path / "x", "--include", "nope")
    assert out.returncode != 0 and "not in the archive: nope" in out.stderr


def test_restore_refuses_to_overwrite_without_force(tree, tmp_path):
    archive = backup(tree)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "run.sh").write_text("mine")
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest)
    assert out.returncode != 0
    assert "already exist" in out.stderr and "--force" in out.stderr
    assert (dest / "run.sh").read_text() == "mine"
    assert not (dest / "docs").exists()  # nothing was extracted
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "--force", "-q")
    assert out.returncode == 0, out.stderr
    assert (dest / "run.sh").read_text() == (tree / "run.sh").read_text()


def test_verify_ok_and_json(tree):
    archive = backup(tree)
    out = run_cli("verify", archive, "--json", "-q")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] is True and report["problems"] == []
    assert report["members_checked"] == report["members_expected"] > 10


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip", "none"])
def test_flipped_byte_caught_by_verify_and_refused_by_restore(tree, tmp_path, codec):
    archive = backup(tree, "--compression", codec)
    _flip(archive, archive.stat().st_size // 2)
    out = run_cli("verify", archive, "-q")
    assert out.returncode == 1
    assert "FAILED" in out.stdout and "sha256 differs" in out.stdout
    assert len(out.stderr.strip().splitlines()) == 1
    dest = tmp_path / "never"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest)
    assert out.returncode != 0 and "corrupted" in out.stderr and "nothing was restored" in out.stderr
    assert not dest.exists() or not any(dest.iterdir())


def test_member_level_differences_are_named(tree, tmp_path):
    """An uncompressed archive edited in place (same size): verify names the changed member."""
    archive = backup(tree, "--compression", "none")
    manifest = json.loads(Path(str(archive) + ".manifest.json").read_text())
    data = bytearray(archive.read_bytes())
    pos = data.find(b"hello\nhello\n")
    data[pos] = ord("J")
    archive.write_bytes(bytes(data))
    report = json.loads(run_cli("verify", archive, "--json", "-q").stdout)
    assert report["ok"] is False
    assert any(c.startswith(("docs/readme.txt", "hardlink.txt")) and "content sha256 differs" in c
               for c in report["changed"])
    assert manifest["members_count"] == report["members_expected"]


def test_truncated_archive_caught_and_refused(tree, tmp_path):
    archive = backup(tree)
    archive.write_bytes(archive.read_bytes()[:-100])
    out = run_cli("verify", archive, "-q")
    assert out.returncode == 1 and "stored size" in out.stdout
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", tmp_path / "t")
    assert out.returncode != 0 and "truncated" in out.stderr
    assert not (tmp_path / "t").exists()


def test_truncated_archive_without_manifest_is_not_reported_restored(tree, tmp_path):
    archive = backup(tree)
    Path(str(archive) + ".manifest.json").unlink()
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size * 2 // 3])
    dest = tmp_path / "t"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest)
    assert out.returncode != 0 and "truncated" in out.stderr
    assert "restored" not in out.stdout
    assert not dest.exists()  # the pre-scan found it before anything was written


def _evil_archive(path: Path, member: tarfile.TarInfo, data: bytes = b"x") -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        ok = tarfile.TarInfo("./fine.txt")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        if member.isreg():
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
        else:
            tar.addfile(member)
    path.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    return path


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize("member, reason", [
    (tarfile.TarInfo("../escape.txt"), "'..'"),
    (tarfile.TarInfo("/tmp/cli-recover-absolute.txt"), "absolute path"),
    (_link("./evil-link", "/etc"), "symlink that points outside"),
    (_link("./sub/evil-link", "../../outside"), "symlink that points outside"),
    (_link("./evil-hard", "../outside", tarfile.LNKTYPE), "hard link that points outside"),
])
def test_path_traversal_archive_is_refused(tmp_path, member, reason):
    archive = _evil_archive(tmp_path / "evil.tar.zst", member)
    dest = tmp_path / "dest"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest)
    assert out.returncode != 0
    assert reason in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "escape.txt").exists() and not Path("/tmp/cli-recover-absolute.txt").exists()
    assert not dest.exists() or not any(dest.iterdir())


def test_member_below_archive_symlink_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.addfile(_link("./d", "."))
        inner = tarfile.TarInfo("./d/x")
        inner.size = 1
        tar.addfile(inner, io.BytesIO(b"x"))
    archive = tmp_path / "a.tar"
    archive.write_bytes(buf.getvalue())
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", tmp_path / "dest")
    assert out.returncode != 0 and "below a symlink" in out.stderr


def test_failing_producer_leaves_nothing(tmp_path):
    """The pipeline with a producer that writes data, then fails: no archive, no partial, a clear error."""
    from cli_recover.archive.pipeline import BackupRequest, run_backup
    from cli_recover.errors import ProducerError
    from cli_recover.kube.local import LocalTarget

    out = tmp_path / "x.tar.zst"
    src = make_tree(tmp_path.parent / (tmp_path.name + "-src"))
    for argv in (["tar", "-c", "-f", "-", "-C", str(tmp_path / "missing"), "."],
                 ["sh", "-c", f"tar -c -f - -C '{src}' .; echo boom >&2; exit 3"]):
        with pytest.raises(ProducerError) as err:
            run_backup(BackupRequest(target=LocalTarget(), argv=argv, output=out, codec="zstd", level=3,
                                     provider="filesystem", source={}))
        assert "no archive was written" in str(err.value)
        assert list(tmp_path.iterdir()) == []
    assert "exited with status 3: boom" in str(err.value)


def test_stream_that_is_not_tar_is_refused(tmp_path):
    from cli_recover.archive.pipeline import BackupRequest, run_backup
    from cli_recover.errors import IntegrityError
    from cli_recover.kube.local import LocalTarget

    with pytest.raises(IntegrityError, match="checksum mismatch"):
        run_backup(BackupRequest(target=LocalTarget(), argv=["head", "-c", "5000000", "/dev/urandom"],
                                 output=tmp_path / "o.tar.zst", codec="zstd", level=1, provider="filesystem",
                                 source={}))
    assert list(tmp_path.iterdir()) == []


def test_stream_that_is_not_a_whole_tar_is_refused(tmp_path):
    from cli_recover.archive.pipeline import BackupRequest, run_backup
    from cli_recover.errors import IntegrityError
    from cli_recover.kube.local import LocalTarget

    src = make_tree(tmp_path / "src")
    # a tar cut short (exit 0): the end-of-archive marker never comes
    argv = ["sh", "-c", f"tar -c -f - -C '{src}' . | head -c 100000"]
    with pytest.raises(IntegrityError, match="truncated"):
        run_backup(BackupRequest(target=LocalTarget(), argv=argv, output=tmp_path / "o.tar", codec="none",
                                 level=None, provider="filesystem", source={}))
    assert not (tmp_path / "o.tar").exists() and not (tmp_path / "o.tar.partial").exists()


def test_sigint_mid_backup_leaves_nothing(tmp_path, data_home):
    src = tmp_path / "slow"
    src.mkdir()
    with open(src / "random.bin", "wb") as f:
        for _ in range(150):
            f.write(os.urandom(1 << 20))
    out_file = tmp_path / "out.tar.gz"
    proc = subprocess.Popen([sys.executable, "-m", "cli_recover", "backup", "filesystem", "--local", str(src),
                             "--compression", "gzip", "--level", "9", "-o", str(out_file), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    partial = tmp_path / "out.tar.gz.partial"
    deadline = time.monotonic() + 30
    while not partial.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.exists(), "the backup never started writing"
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "cancelled" in err.decode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow"]


def test_dry_run_writes_nothing(tree, data_home):
    out = run_cli("backup", "filesystem", "--local", tree, "--dry-run", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["dry_run"] is True and result["command"][0] == "tar"
    assert result["estimated_bytes"] > 3 * 1024 * 1024
    assert not (data_home / "backups").exists() or not any((data_home / "backups").iterdir())


def test_estimate_is_close_to_the_real_stream(tree):
    from cli_recover.providers.filesystem import estimate_local

    archive = backup(tree)
    raw = json.loads(Path(str(archive) + ".manifest.json").read_text())["bytes"]["raw"]
    estimate = estimate_local(str(tree), [], False)
    assert abs(estimate - raw) / raw < 0.05


def test_json_result_and_explicit_output(tree, tmp_path):
    out = run_cli("backup", "filesystem", "--local", tree, "-o", tmp_path / "mine.tar.lz4", "--compression",
                  "lz4", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["archive"] == str(tmp_path / "mine.tar.lz4")
    assert result["stored_bytes"] == (tmp_path / "mine.tar.lz4").stat().st_size
    assert result["members"] > 10
    again = run_cli("backup", "filesystem", "--local", tree, "-o", tmp_path / "mine.tar.lz4")
    assert again.returncode != 0 and "already exists" in again.stderr


def test_list_catalog(tree, data_home):
    a = backup(tree, "--compression", "gzip")
    b = backup(tree, "--compression", "lz4")
    out = run_cli("list", "-o", "json")
    assert out.returncode == 0, out.stderr
    entries = json.loads(out.stdout)
    assert {e["archive"] for e in entries} == {str(a), str(b)}
    assert {e["codec"] for e in entries} == {"gzip", "lz4"}
    assert all(e["status"] == "ok" and e["members"] > 10 for e in entries)
    table = run_cli("list").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "CREATED", "PROVIDER"]
    assert a.name in table and b.name in table
    import yaml

    assert len(yaml.safe_load(run_cli("list", "-o", "yaml").stdout)) == 2


def test_compare_compression(tmp_path):
    src = tmp_path / "sample"
    src.mkdir()
    (src / "text.txt").write_text("the quick brown fox jumps over the lazy dog\n" * 50_000)
    (src / "random.bin").write_bytes(os.urandom(500_000))
    out = run_cli("compare-compression", src, "--json", "--sample-mb", "4")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    codecs = {r["codec"] for r in data["results"]}
    assert codecs == {"zstd", "lz4", "gzip"}
    assert all(r["ratio"] > 1.5 and r["compress_mb_s"] > 0 and r["decompress_mb_s"] > 0 for r in data["results"])
    assert data["recommendation"]["codec"] in codecs
    text = run_cli("compare-compression", src, "--sample-mb", "4").stdout
    assert "recommended: --compression" in text and "RATIO" in text


@pytest.mark.parametrize("args, message", [
    (["backup", "filesystem", "--local", "/nonexistent/x"], "no such file or folder"),
    (["backup", "filesystem", "--local", "/tmp", "--level", "99"], "out of range"),
    (["backup", "filesystem", "--local", "/tmp", "--compression", "none", "--level", "3"], "takes no --level"),
    (["backup", "filesystem"], "usage: cli-recover backup filesystem POD PATH"),
    (["backup", "nosuchprovider", "--local", "/tmp"], "invalid choice"),
    (["restore", "filesystem", "--local", "/nonexistent.tar.zst", "--target-path", "/tmp/x"], "no such archive"),
    (["verify", "/nonexistent.tar.zst"], "no such archive"),
    (["list", "--dir", "/nonexistent"], "no such folder"),
    (["compare-compression", "/nonexistent"], "no such file or folder"),
])
def test_bad_input_is_one_line_and_nonzero(args, message):
    out = run_cli(*args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.startswith("cli-recover: error")]) == 1


def test_restore_needs_target_path_locally(tree):
    archive = backup(tree)
    out = run_cli("restore", "filesystem", "--local", archive)
    assert out.returncode == 2 and "--target-path DIR is required" in out.stderr


def test_progress_lines_when_not_a_terminal():
    from cli_recover.cli.progress import ProgressLine

    now = [0.0]
    buf = io.StringIO()
    line = ProgressLine("backup", stream=buf, clock=lambda: now[0], interval=5)
    for i in range(1, 101):
        now[0] = i * 0.2
        line(i * 10 << 20, 1000 << 20)
    lines = buf.getvalue().splitlines()
    assert 3 <= len(lines) <= 5  # one every 5 s over 20 s
    assert lines[-1].startswith("backup  ") and "%" in lines[-1] and "ETA" in lines[-1] and "MiB/s" in lines[-1]
    quiet = io.StringIO()
    silent = ProgressLine("backup", stream=quiet, enabled=False, clock=lambda: now[0])
    now[0] = 100
    silent(1, 2)
    assert quiet.getvalue() == ""


def test_no_verify_restore_still_catches_damage_and_says_incomplete(tree, tmp_path):
    """--no-verify skips the up-front hash; the stored sha256 taken while streaming still fails it."""
    archive = backup(tree, "--compression", "none")
    data = bytearray(archive.read_bytes())
    pos = data.find(b"hello\nhello\n")
    data[pos] = ord("J")
    archive.write_bytes(bytes(data))
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", tmp_path / "d", "--no-verify", "--in-place")
    assert out.returncode != 0
    assert "sha256 differs from the manifest" in out.stderr and "incomplete" in out.stderr
    assert "restored" not in out.stdout
    status = json.loads(run_cli("status", "-o", "json").stdout)
    job = status[0] if isinstance(status, list) else status["jobs"][0]
    assert job["kind"] == "restore" and job["state"] == "failed"


def test_include_from_an_archive_made_by_plain_tar(tmp_path):
    """`tar -czf a.tar.gz dir` names members `dir/...` (no ./): --include must still find them."""
    src = tmp_path / "src"
    (src / "proj" / "docs").mkdir(parents=True)
    (src / "proj" / "docs" / "a.txt").write_text("a")
    (src / "proj" / "b.txt").write_text("b")
    archive = tmp_path / "plain.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(src), "proj"], check=True)
    dest = tmp_path / "dest"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "--include", "proj/docs", "-q")
    assert out.returncode == 0, out.stderr
    assert (dest / "proj" / "docs" / "a.txt").read_text() == "a"
    assert not (dest / "proj" / "b.txt").exists()
