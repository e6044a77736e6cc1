"""Issue 4: the output shapes and errors of status, cancel, logs and cleanup (real CLI processes)."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest
import yaml

from cli_recover.engine.model import iso
from cli_recover.engine.store import JobStore
from tests.jobs_helpers import cli, record, records, run_worker, wait_for

DAY = 86400


def _finished_job(state="succeeded", age_days=0.0, error=None, log_text="a log line\n") -> dict:
    store = JobStore()
    rec = store.create(kind="backup", provider="filesystem", target={"kind": "local", "path": "/srv/data"},
                       options={"compression": "zstd"})
    t = time.time() - age_days * DAY
    rec.update(state=state, created=iso(t - 60), started=iso(t - 59), finished=iso(t), error=error,
               exit_code=0 if state == "succeeded" else 1)
    rec["progress"].update(done=4096, total=4096, phase="done")
    store.save(rec)
    Path(rec["log"]).write_text(log_text)
    os.utime(rec["log"], (t, t))
    return rec


def _background(tmp_path, seconds="60", out=None) -> str:
    res = run_worker("--out", out or tmp_path / "out.bin", "--seconds", seconds, "--background")
    assert res.returncode == 0, res.stderr
    return res.stdout.strip().splitlines()[-1]


@pytest.fixture
def stop_jobs():
    """Cancels whatever background job a test leaves running."""
    yield
    for rec in records():
        if rec["state"] in ("queued", "running") and rec.get("pid"):
            try:
                os.kill(rec["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


def _one_error_line(res, code: int) -> str:
    assert res.returncode == code, (res.returncode, res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cli-recover: error: "), res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def test_status_with_no_jobs():
    assert cli("status").stdout.strip() == "no jobs"
    assert json.loads(cli("status", "-o", "json").stdout) == []


def test_status_lists_running_first_with_pid_state_progress_age(tmp_path, stop_jobs):
    old = _finished_job("failed", age_days=1, error="tar exited with status 2: Permission denied")
    new = _finished_job("succeeded")
    running = _background(tmp_path)
    wait_for(lambda: record(running)["progress"]["done"] > 0, what="progress")
    res = cli("status")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].split() == ["ID", "KIND", "STATE", "PID", "PROGRESS", "AGE", "TARGET", "ERROR"]
    assert [ln.split()[0] for ln in lines[1:]] == [running, new["id"], old["id"]]
    row = lines[1].split()
    assert row[1:4] == ["backup", "running", str(record(running)["pid"])]
    assert re.search(r"copying \d+% \d+ B/1000 B", lines[1])
    assert lines[3].split()[2] == "failed" and "Permission denied" in lines[3]
    assert "1d0h" in lines[3]  # age
    shown = json.loads(cli("status", "-o", "json").stdout)
    assert [r["id"] for r in shown] == [running, new["id"], old["id"]]
    assert shown[0]["state"] == "running" and shown[0]["pid"] and shown[0]["pid_start"]
    assert yaml.safe_load(cli("status", "-o", "yaml").stdout)[1]["id"] == new["id"]


def test_status_without_all_shows_recent_jobs_only():
    for _ in range(23):
        _finished_job()
    assert len(json.loads(cli("status", "-o", "json").stdout)) == 20
    assert len(json.loads(cli("status", "-A", "-o", "json").stdout)) == 23
    assert len(cli("status", "-A").stdout.strip().splitlines()) == 24


def test_status_of_one_job_shows_the_record_and_the_log_tail():
    lines = "".join(f"line {i}\n" for i in range(30))
    rec = _finished_job("succeeded", log_text=lines)
    res = cli("status", rec["id"][:11])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"Job:       {rec['id']}" in out and "State:     succeeded" in out
    assert "Target:    /srv/data" in out and '"compression": "zstd"' in out
    assert out.rstrip().endswith("--- last 10 log lines ---\n" + "\n".join(f"line {i}" for i in range(20, 30)))
    detail = json.loads(cli("status", rec["id"], "-o", "json").stdout)
    assert detail["id"] == rec["id"] and detail["state"] == "succeeded"
    assert detail["log_tail"] == [f"line {i}" for i in range(20, 30)]
    assert set(rec) <= set(detail)
    assert yaml.safe_load(cli("status", rec["id"], "-o", "yaml").stdout)["log"] == rec["log"]


def test_bad_job_references_are_one_line_errors():
    a = _finished_job()
    _finished_job()
    assert "no job matches 'zzzz'" in _one_error_line(cli("status", "zzzz"), 1)
    assert "ambiguous" in _one_error_line(cli("status", a["id"][:2]), 2)
    assert "bad job id" in _one_error_line(cli("logs", "../etc"), 2)
    assert "no job matches" in _one_error_line(cli("cancel", "zzzz"), 1)
    assert "is not running (it succeeded)" in _one_error_line(cli("cancel", a["id"]), 1)
    assert "bad duration '7x'" in _one_error_line(cli("cleanup", "--older-than", "7x"), 2)
    assert "bad duration" in _one_error_line(cli("cleanup", "--older-than", "d"), 2)


def test_logs_prints_tails_and_follows_a_job_to_its_end(tmp_path):
    rec = _finished_job(log_text="one\ntwo\nthree\n")
    assert cli("logs", rec["id"]).stdout == "one\ntwo\nthree\n"
    assert cli("logs", rec["id"], "-n", "2").stdout == "two\nthree\n"
    job = _background(tmp_path, seconds="1.5")
    res = cli("logs", job, "-f")
    assert res.returncode == 0, res.stderr
    assert f"job {job} started" in res.stdout
    assert "succeeded: {'bytes': " in res.stdout  # followed until the job's last record line
    assert record(job)["state"] == "succeeded"


def test_status_watch_refreshes_until_the_job_ends(tmp_path):
    job = _background(tmp_path, seconds="1.5")
    res = cli("status", job, "--watch", "--interval", "0.2")
    assert res.returncode == 0, res.stderr
    snapshots = res.stdout.split(f"Job:       {job}")[1:]
    assert len(snapshots) >= 2
    assert "State:     running" in snapshots[0]
    assert "State:     succeeded" in snapshots[-1]
    res = cli("status", "--watch", "-o", "json", "--interval", "0.2")
    docs = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(docs) == 1 and docs[0][0]["state"] == "succeeded"  # nothing running: one snapshot, done


# --- cleanup ---------------------------------------------------------------------------------


def _backup(name: str, age_days: float, size: int = 1000, with_manifest=True) -> Path:
    root = Path(os.environ["CLI_RECOVER_HOME"]) / "backups"
    root.mkdir(parents=True, exist_ok=True)
    archive = root / name
    archive.write_bytes(b"a" * size)
    t = time.time() - age_days * DAY
    if with_manifest:
        manifest = Path(str(archive) + ".manifest.json")
        manifest.write_text(json.dumps({"format": "cli-recover/manifest", "created": iso(t), "members": []}))
    # mtimes say "new": the manifest's created time must win
    return archive


def _tree(live: tuple = ()) -> dict:
    """Every file under the data home (size, mtime); the files a live job keeps writing: existence only."""
    home = Path(os.environ["CLI_RECOVER_HOME"])
    return {str(p): (None if str(p) in live else (p.stat().st_size, p.stat().st_mtime_ns))
            for p in home.rglob("*") if p.is_file() and not p.name.startswith(".")}


def _listed(stdout: str) -> list[tuple[str, str]]:
    out = []
    for line in stdout.strip().splitlines()[:-1]:
        m = re.match(r"(would remove|removed)\s+(\w+)\s+\S+ \S+\s+[\d.]+ \w+\s+(.*)$", line)
        assert m, line
        out.append((m.group(2), m.group(3)))
    return out


def test_cleanup_dry_run_changes_nothing_and_the_real_run_removes_exactly_that(tmp_path, stop_jobs):
    old_a = _backup("old-a.tar.zst", 10, size=5000)
    new_b = _backup("new-b.tar.zst", 1)
    stray = Path(os.environ["CLI_RECOVER_HOME"]) / "backups" / "killed.tar.zst.partial"
    stray.write_bytes(b"x" * 300)
    os.utime(stray, (time.time() - 9 * DAY,) * 2)
    old_jobs = [_finished_job("succeeded", age_days=8 + i) for i in range(3)]
    new_job = _finished_job("failed", age_days=2, error="boom")
    # a running job whose output and log look old: never cleaned
    running_out = Path(os.environ["CLI_RECOVER_HOME"]) / "backups" / "running.bin"
    running = _background(tmp_path, out=running_out)
    rrec = wait_for(lambda: os.path.exists(str(running_out) + ".partial") and record(running), what="partial")
    os.utime(str(running_out) + ".partial", (time.time() - 30 * DAY,) * 2)
    os.utime(rrec["log"], (time.time() - 30 * DAY,) * 2)
    live = (str(running_out) + ".partial", rrec["log"], str(JobStore().path(running)))

    before = _tree(live)
    dry = cli("cleanup", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert _tree(live) == before
    listed = _listed(dry.stdout)
    assert sorted(listed) == sorted(
        [("backups", f"{old_a} (+ manifest)"), ("backups", f"{stray} (incomplete output of an interrupted job)")]
        + [("history", f"{j['id']} (succeeded)") for j in old_jobs]
        + [("logs", j["log"]) for j in old_jobs])
    assert dry.stdout.strip().splitlines()[-1].startswith("would free ")
    assert "(8 items)" in dry.stdout.strip().splitlines()[-1]

    real = cli("cleanup")
    assert real.returncode == 0, real.stderr
    assert _listed(real.stdout) == listed
    assert real.stdout.strip().splitlines()[-1] == dry.stdout.strip().splitlines()[-1].replace("would free", "freed")
    after = _tree(live)
    removed = set(before) - set(after)
    expected = {str(old_a), str(old_a) + ".manifest.json", str(stray)}
    expected |= {str(JobStore().path(j["id"])) for j in old_jobs} | {j["log"] for j in old_jobs}
    assert removed == expected
    assert os.path.exists(new_b) and os.path.exists(str(new_b) + ".manifest.json")
    assert record(new_job["id"])["state"] == "failed"
    # the running job and everything it owns are still there
    assert record(running)["state"] == "running"
    assert os.path.exists(str(running_out) + ".partial") and os.path.exists(rrec["log"])
    assert cli("cleanup", "--dry-run").stdout.startswith("nothing to clean up")


def test_cleanup_keep_last_and_type(stop_jobs):
    jobs = [_finished_job("succeeded", age_days=10 + i) for i in range(4)]
    a = _backup("a.tar", 20)
    res = cli("cleanup", "--type", "history", "--keep-last", "1", "--older-than", "1w", "--dry-run")
    assert _listed(res.stdout) == [("history", f"{j['id']} (succeeded)") for j in reversed(jobs[1:])]
    res = cli("cleanup", "--type", "backups", "--older-than", "30d")
    assert res.stdout.startswith("nothing to clean up")
    res = cli("cleanup", "--type", "backups", "--older-than", "2w")
    assert _listed(res.stdout) == [("backups", f"{a} (+ manifest)")]
    assert not a.exists()
    assert all(Path(j["log"]).exists() for j in jobs)  # --type backups left logs alone


def test_cleanup_of_logs_leaves_the_scheduler_log_alone(data_home):
    import os
    import subprocess
    import sys

    logs = data_home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "scheduler.log").write_text("scheduler\n")
    old = 1_600_000_000
    os.utime(logs / "scheduler.log", (old, old))
    out = subprocess.run([sys.executable, "-m", "cli_recover", "cleanup", "--type", "logs", "--older-than", "1d"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (logs / "scheduler.log").exists()
