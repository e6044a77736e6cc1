"""Issue 9 item 4: every stage of the backup and restore/verify pipelines fails cleanly.

A failure injected at each stage's start and at its first chunk (cli_recover/testhooks.py fault
points, armed through the environment of the real CLI in a subprocess) must end the command with one
clear line on stderr, a non-zero exit and nothing that looks complete left behind, and never hang.
A manifest naming an unknown codec (or a codec that is not a string) used to make the decompress
thread die before its try block while the reader waited forever, deaf to SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import make_tree, run_cli
from tests.faults import fault_env

BACKUP_STAGES = ["read", "index", "compress", "store"]
READ_STAGES = ["decompress", "sink"]
TIMEOUT = 60  # a hang fails the test (subprocess.TimeoutExpired) instead of stalling the run


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    root = make_tree(tmp_path_factory.mktemp("faults") / "data")
    with open(root / "big.bin", "wb") as f:  # several chunks, so every stage sees a first chunk
        f.write(os.urandom(3 << 20))
    return root


@pytest.fixture(scope="module")
def archive(src, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("faults-archive") / "a.tar.zst"
    proc = run_cli("backup", "filesystem", "--local", src, "-o", out, "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def one_clear_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("cli-recover: error:"), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("when", ["start", "chunk"])
@pytest.mark.parametrize("stage", BACKUP_STAGES)
def test_backup_stage_failure_is_clean(src, tmp_path, stage, when):
    (tmp_path / "o").mkdir()
    out = tmp_path / "o" / "b.tar.zst"
    proc = run_cli("backup", "filesystem", "--local", src, "-o", out, "-q", timeout=TIMEOUT,
                   env=fault_env(f"stage.{stage}.{when}=raise"))
    assert proc.returncode != 0
    line = one_clear_line(proc.stderr)
    assert f"stage.{stage}.{when}" in line and "no archive was written" in line
    assert sorted(p.name for p in out.parent.iterdir()) == []


@pytest.mark.parametrize("when", ["start", "chunk"])
def test_disk_full_at_the_store_stage_says_so(src, tmp_path, when):
    (tmp_path / "o").mkdir()
    out = tmp_path / "o" / "b.tar.zst"
    proc = run_cli("backup", "filesystem", "--local", src, "-o", out, "-q", timeout=TIMEOUT,
                   env=fault_env(f"stage.store.{when}=enospc"))
    assert proc.returncode != 0
    line = one_clear_line(proc.stderr)
    assert "No space left on device" in line and "no archive was written" in line
    assert sorted(p.name for p in out.parent.iterdir()) == []


@pytest.mark.parametrize("when", ["start", "chunk"])
@pytest.mark.parametrize("stage", READ_STAGES)
def test_verify_stage_failure_is_clean(archive, stage, when):
    proc = run_cli("verify", archive, "-q", timeout=TIMEOUT, env=fault_env(f"stage.{stage}.{when}=raise"))
    assert proc.returncode != 0
    assert f"stage.{stage}.{when}" in one_clear_line(proc.stderr)


@pytest.mark.parametrize("when", ["start", "chunk"])
@pytest.mark.parametrize("stage", READ_STAGES)
@pytest.mark.parametrize("verify", [True, False])
def test_restore_stage_failure_is_clean(archive, tmp_path, stage, when, verify):
    dest = tmp_path / "dest"
    extra = [] if verify else ["--no-verify"]
    proc = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q", *extra,
                   timeout=TIMEOUT, env=fault_env(f"stage.{stage}.{when}=raise"))
    assert proc.returncode != 0
    assert f"stage.{stage}.{when}" in one_clear_line(proc.stderr)
    # nothing half-written: the failure comes before tar has any member's bytes
    assert not dest.exists() or [p for p in dest.rglob("*") if p.is_file()] == []


def _with_codec(archive: Path, tmp_path: Path, value) -> Path:
    copy = tmp_path / archive.name
    copy.write_bytes(archive.read_bytes())
    manifest = json.loads(Path(str(archive) + ".manifest.json").read_text())
    manifest["codec"]["name"] = value
    Path(str(copy) + ".manifest.json").write_text(json.dumps(manifest))
    return copy


@pytest.mark.parametrize("value", ["brotli", 5, ["zstd"], {"name": "zstd"}, True])
def test_unknown_or_mistyped_codec_in_the_manifest(archive, tmp_path, value):
    bad = _with_codec(archive, tmp_path, value)
    proc = run_cli("verify", bad, "-q", timeout=TIMEOUT)
    assert proc.returncode != 0
    assert "unknown compression" in one_clear_line(proc.stderr)
    dest = tmp_path / "dest"
    for extra in ([], ["--no-verify"]):
        proc = run_cli("restore", "filesystem", "--local", bad, "--target-path", dest, "-q", *extra, timeout=TIMEOUT)
        assert proc.returncode != 0
        assert "unknown compression" in one_clear_line(proc.stderr)
        assert not dest.exists()


def _stuck(args: list, point: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli_recover", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=fault_env(f"{point}=hang"))


@pytest.mark.parametrize("point", ["stage.decompress.start", "stage.decompress.chunk"])
def test_sigterm_ends_a_stuck_verify(archive, point):
    proc = _stuck(["verify", archive, "-q"], point)
    time.sleep(1.5)  # it is stuck by then: the decompress thread sleeps for good
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode != 0 and "cancelled" in err, err


@pytest.mark.parametrize("stage", ["index", "compress", "store"])
def test_sigterm_ends_a_backup_with_a_stuck_stage(src, tmp_path, stage):
    (tmp_path / "o").mkdir()
    out = tmp_path / "o" / "b.tar.zst"
    proc = _stuck(["backup", "filesystem", "--local", src, "-o", out, "-q"], f"stage.{stage}.chunk")
    time.sleep(1.5)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode != 0 and "cancelled" in err, err
    assert sorted(p.name for p in out.parent.iterdir()) == []
