"""Issue 9, minor: `-o` names and codecs, `list` statuses, and tar's stderr in the job log."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.jobs_helpers import cli, records

MAGIC = {"zstd": b"\x28\xb5\x2f\xfd", "gzip": b"\x1f\x8b", "lz4": b"\x04\x22\x4d\x18"}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    (src / "a.txt").write_text("hello\n" * 100)
    return src


def _one_error_line(res) -> str:
    assert res.returncode != 0 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_an_empty_output_is_refused_with_one_line(source, tmp_path):
    line = _one_error_line(cli("backup", "filesystem", "--local", source, "-o", ""))
    assert "-o is empty" in line
    assert records() == []


@pytest.mark.parametrize(("name", "codec"), [("x.tar", "none"), ("x.tar.zst", "zstd"), ("x.tzst", "zstd"),
                                             ("x.tar.gz", "gzip"), ("x.tgz", "gzip"), ("x.tar.lz4", "lz4"),
                                             ("x.bak", "zstd")])
def test_the_codec_comes_from_the_output_name(source, tmp_path, name, codec):
    out = tmp_path / name
    res = cli("backup", "filesystem", "--local", source, "-o", out, "-q")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((tmp_path / (name + ".manifest.json")).read_text())
    assert manifest["codec"]["name"] == codec
    head = out.read_bytes()[:512]
    if codec == "none":
        assert head[257:262] == b"ustar"  # a plain tar under a .tar name
    else:
        assert head.startswith(MAGIC[codec])
    assert cli("verify", out, "-q").returncode == 0


@pytest.mark.parametrize(("name", "compression"), [("x.tar.gz", "zstd"), ("x.tar", "gzip"), ("x.tgz", "lz4")])
def test_a_name_that_contradicts_the_compression_is_refused(source, tmp_path, name, compression):
    line = _one_error_line(cli("backup", "filesystem", "--local", source, "-o", tmp_path / name,
                               "--compression", compression))
    assert "--compression" in line and name in line
    assert os.listdir(tmp_path) == []


def test_an_agreeing_name_and_compression_and_a_folder_are_fine(source, tmp_path):
    assert cli("backup", "filesystem", "--local", source, "-o", tmp_path / "y.tar.gz", "--compression", "gzip",
               "-q").returncode == 0
    res = cli("backup", "filesystem", "--local", source, "-o", f"{tmp_path}/", "--compression", "lz4", "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["archive"].endswith(".tar.lz4")


def test_list_stats_each_archive(source, tmp_path):
    for name in ("good.tar.zst", "cut.tar.zst", "grown.tar.zst", "gone.tar.zst"):
        assert cli("backup", "filesystem", "--local", source, "-o", tmp_path / name, "-q").returncode == 0
    cut = tmp_path / "cut.tar.zst"
    os.truncate(cut, cut.stat().st_size // 2)
    with open(tmp_path / "grown.tar.zst", "ab") as f:
        f.write(b"junk")
    os.unlink(tmp_path / "gone.tar.zst")
    listed = {e["name"]: e["status"] for e in json.loads(cli("list", "--dir", tmp_path, "-o", "json").stdout)}
    assert listed["good.tar.zst"] == "ok"
    assert listed["cut.tar.zst"].startswith("size mismatch")
    assert listed["grown.tar.zst"].startswith("size mismatch")
    assert listed["gone.tar.zst"] == "archive missing"
    table = cli("list", "--dir", tmp_path).stdout
    assert table.count("size mismatch") == 2 and "archive missing" in table


def _sysfs_file() -> str | None:
    """A sysfs file whose stat size (4096) is larger than what reading it gives."""
    for p in ("/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/profiling", "/sys/kernel/uevent_seqnum"):
        try:
            if os.path.getsize(p) == 4096 and len(open(p, "rb").read()) < 4096:
                return p
        except OSError:
            continue
    return None


def test_a_failed_backup_keeps_the_tail_of_tars_stderr_in_the_job_log(tmp_path):
    # 30 files bind-mounted over a sysfs file: tar says "File shrank" for each (30 lines), exit 1
    sysfs = _sysfs_file()
    if os.geteuid() != 0 or sysfs is None:
        pytest.skip("needs root (bind mounts) and a sysfs file")
    src = tmp_path / "src"
    src.mkdir()
    mounted = []
    try:
        for i in range(30):
            p = src / f"shrinks-{i:02d}"
            p.write_text("")
            if subprocess.run(["mount", "--bind", sysfs, p], capture_output=True).returncode != 0:
                pytest.skip("cannot bind-mount here")
            mounted.append(p)
        res = cli("backup", "filesystem", "--local", src, "-q", "-o", tmp_path / "x.tar")
        line = _one_error_line(res)
        assert "shrinks-" in line and "exited with status 1" in line
        (rec,) = records()
        text = open(rec["log"]).read()
        assert "stderr (last 20 of 30 lines)" in text, text
        shrank = [ln for ln in text.splitlines() if "File shrank" in ln]
        assert len(shrank) >= 20
        assert len({ln.split("shrinks-")[1][:2] for ln in shrank}) >= 20  # 20 different files named
        assert not any(n.startswith("x.tar") for n in os.listdir(tmp_path))
    finally:
        for p in mounted:
            subprocess.run(["umount", p], capture_output=True)
