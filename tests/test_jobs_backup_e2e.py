"""Issue 4 end to end: real `cli-recover backup filesystem --background` jobs, watched and cancelled."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.jobs_helpers import cli, record, wait_for

SOURCE_MB = 96  # random data with gzip -9: a few seconds of work, long enough to watch it run


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for i in range(SOURCE_MB // 8):
        (src / f"blob-{i:02d}.bin").write_bytes(os.urandom(8 << 20))
    (src / "small.txt").write_text("hello\n")
    return src


def _start(source, out) -> str:
    res = cli("backup", "filesystem", "--local", source, "-o", out, "--compression", "gzip", "--level", "9",
              "--background")
    assert res.returncode == 0, res.stderr
    job_id = res.stdout.strip().splitlines()[-1]
    assert job_id.isalnum()
    return job_id


def _status(job_id: str) -> dict:
    res = cli("status", job_id, "-o", "json")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_background_backup_observed_running_then_finished(source, tmp_path):
    out = tmp_path / "data.tar.gz"
    job_id = _start(source, out)
    running = wait_for(lambda: (s := _status(job_id))["state"] == "running" and s["progress"]["done"] > 0 and s,
                       what="the backup running with progress")
    assert running["kind"] == "backup" and running["provider"] == "filesystem"
    assert running["target"]["path"] == str(source)
    assert running["archive"] == str(out) and running["manifest"] == f"{out}.manifest.json"
    assert running["progress"]["done"] < running["progress"]["total"]
    assert not out.exists()  # only the partial exists while it runs
    listed = json.loads(cli("status", "-o", "json").stdout)
    assert listed[0]["id"] == job_id and listed[0]["state"] in ("running", "succeeded")

    final = wait_for(lambda: (s := _status(job_id))["state"] not in ("queued", "running") and s, timeout=300,
                     what="the backup to end")
    assert final["state"] == "succeeded", final["error"]
    assert final["exit_code"] == 0 and final["result"]["archive"] == str(out)
    assert final["result"]["raw_bytes"] >= SOURCE_MB << 20
    assert out.exists() and os.path.exists(f"{out}.manifest.json")
    assert not os.path.exists(f"{out}.partial")
    assert any("succeeded" in line for line in final["log_tail"])
    res = cli("verify", out)
    assert res.returncode == 0, res.stderr


def test_sigterm_to_a_background_backup_cancels_it_and_leaves_no_archive(source, tmp_path):
    out = tmp_path / "data.tar.gz"
    job_id = _start(source, out)
    rec = wait_for(lambda: (r := record(job_id))["state"] == "running" and r["progress"]["done"] > 0 and r,
                   what="the backup running")
    os.kill(rec["pid"], signal.SIGTERM)
    final = wait_for(lambda: (s := _status(job_id))["state"] != "running" and s, timeout=60, what="the cancel")
    assert final["state"] == "cancelled" and final["exit_code"] == 143
    assert final["error"].startswith("cancelled by SIGTERM")
    wait_for(lambda: not _alive(rec["pid"]), what="the job process to exit")
    assert sorted(os.listdir(tmp_path)) == []  # no archive, no manifest, no partial, no spool


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_sigkill_mid_backup_leaves_no_partial_and_no_index_spool_after_status(source, tmp_path):
    out = tmp_path / "data.tar.gz"
    job_id = _start(source, out)
    rec = wait_for(lambda: (r := record(job_id))["state"] == "running" and r["progress"]["done"] > 0 and r,
                   what="the backup running")
    assert any(name.startswith(".members-") for name in os.listdir(tmp_path))  # the spool exists while it runs
    os.kill(rec["pid"], signal.SIGKILL)
    wait_for(lambda: not _alive(rec["pid"]), what="the job process to die")
    final = _status(job_id)  # loading the history finds the vanished job
    assert final["state"] == "failed" and "disappeared" in final["error"]
    assert sorted(os.listdir(tmp_path)) == []  # no archive, no .partial, no member spool
