"""Issue 4: real job processes and real signals (driven through run_as_job by tests/jobs_worker.py)."""

from __future__ import annotations

import json
import os
import signal
import time

from tests.jobs_helpers import cli, only_record, record, run_worker, start_worker, wait_for, wait_running


def _wait_partial(tmp_path):
    rec = wait_running()
    wait_for(lambda: os.path.exists(rec["partial"][0]), what="the partial file")
    return rec


def test_foreground_job_succeeds_and_records_result(tmp_path):
    out = tmp_path / "out.bin"
    res = run_worker("--out", out, "--seconds", "0.3", "--password", "hunter22")
    assert res.returncode == 0, res.stderr
    rec = only_record()
    assert rec["state"] == "succeeded" and rec["exit_code"] == 0
    assert rec["result"] == {"bytes": out.stat().st_size}
    assert rec["pid"] != os.getpid() and rec["pid_start"] is not None
    assert rec["progress"]["phase"] == "done" and rec["progress"]["done"] > 0
    assert rec["warnings"] == 1 and rec["warning_messages"] == ["one file changed while it was read"]
    assert not os.path.exists(str(out) + ".part")
    # secrets: never in the record, never in the log
    raw = json.dumps(rec)
    log = open(rec["log"]).read()
    assert "hunter22" not in raw and "hunter22" not in log
    assert rec["options"]["password"] == "***"
    assert "succeeded" in log and "WARNING: one file changed" in log


def test_sigterm_cancels_cleanly_exit_143(tmp_path):
    out = tmp_path / "out.bin"
    p = start_worker("--out", out, "--seconds", "60")
    rec = _wait_partial(tmp_path)
    os.kill(p.pid, signal.SIGTERM)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 143
    assert err.strip().splitlines() == ["jobs_worker: error: cancelled by SIGTERM"]
    rec = record(rec["id"])
    assert rec["state"] == "cancelled" and rec["exit_code"] == 143
    assert rec["error"] == "cancelled by SIGTERM"
    assert not out.exists() and not os.path.exists(rec["partial"][0])
    assert rec["removed_partial"] == rec["partial"]


def test_sigint_cancels_with_exit_130(tmp_path):
    out = tmp_path / "out.bin"
    p = start_worker("--out", out, "--seconds", "60")
    rec = _wait_partial(tmp_path)
    os.kill(p.pid, signal.SIGINT)
    p.communicate(timeout=30)
    assert p.returncode == 130
    assert record(rec["id"])["state"] == "cancelled"
    assert list(tmp_path.iterdir()) == []


def test_cancel_through_the_hook_when_work_does_not_poll(tmp_path):
    # The work only notices because the hook "stopped the producer" and then fails: still cancelled.
    out = tmp_path / "out.bin"
    p = start_worker("--out", out, "--seconds", "60", "--ignore-cancel-event")
    rec = _wait_partial(tmp_path)
    os.kill(p.pid, signal.SIGTERM)
    p.communicate(timeout=30)
    assert p.returncode == 143
    rec = record(rec["id"])
    assert rec["state"] == "cancelled"
    assert "producer exited" in open(rec["log"]).read()
    assert list(tmp_path.iterdir()) == []


def test_more_signals_during_the_cancel_leave_a_whole_record(tmp_path):
    out = tmp_path / "out.bin"
    p = start_worker("--out", out, "--seconds", "60")
    rec = _wait_partial(tmp_path)
    sent = 0
    while p.poll() is None:  # keep signalling while it cleans up and writes its final record
        try:
            os.kill(p.pid, (signal.SIGTERM, signal.SIGINT)[sent % 2])
        except ProcessLookupError:
            break
        sent += 1
        time.sleep(0.001)
    p.communicate(timeout=30)
    assert sent >= 2
    rec = record(rec["id"])  # parses: never half-written
    # One signal decides (pending signals are delivered lowest first). Once the record is final the
    # previous handlers are back, so a later signal may end the process itself: the record stays whole.
    assert rec["state"] == "cancelled" and rec["exit_code"] in (130, 143)
    assert p.returncode == rec["exit_code"] or p.returncode in (-signal.SIGTERM, -signal.SIGINT)
    assert list(tmp_path.iterdir()) == []


def test_sigkill_is_marked_failed_on_next_status_and_partial_removed(tmp_path):
    out = tmp_path / "out.bin"
    p = start_worker("--out", out, "--seconds", "60")
    rec = _wait_partial(tmp_path)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    assert record(rec["id"])["state"] == "running"  # nobody could record the kill
    assert os.path.exists(rec["partial"][0])
    res = cli("status", "-o", "json")
    assert res.returncode == 0, res.stderr
    [shown] = json.loads(res.stdout)
    assert shown["id"] == rec["id"] and shown["state"] == "failed"
    assert "disappeared" in shown["error"] and str(p.pid) in shown["error"]
    assert not os.path.exists(rec["partial"][0]) and not os.path.exists(rec["pid_file"])
    assert record(rec["id"])["state"] == "failed"
    assert "marked failed" in open(rec["log"]).read()


def test_failures_are_one_line_and_tracebacks_go_to_the_log(tmp_path):
    res = run_worker("--out", tmp_path / "a", "--seconds", "0.1", "--fail", "disk full")
    assert res.returncode == 1
    assert res.stderr.strip() == "jobs_worker: error: disk full"
    res = run_worker("--out", tmp_path / "b", "--seconds", "0.1", "--crash")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "ZeroDivisionError: division by zero in the worker" in lines[0]
    assert "Traceback" not in res.stderr
    crashed = [r for r in _all() if r["error"] and "ZeroDivisionError" in r["error"]][0]
    assert crashed["state"] == "failed"
    assert "Traceback (most recent call last)" in open(crashed["log"]).read()
    failed = [r for r in _all() if r["error"] == "disk full"][0]
    assert failed["state"] == "failed" and failed["exit_code"] == 1
    assert list(tmp_path.iterdir()) == []  # partials removed on failure too


def _all():
    from tests.jobs_helpers import records

    return records()


def test_background_job_runs_detached_and_finishes(tmp_path):
    out = tmp_path / "out.bin"
    res = run_worker("--out", out, "--seconds", "1.5", "--background", "--password", "hunter22")
    assert res.returncode == 0, res.stderr
    job_id = res.stdout.strip().splitlines()[-1]
    rec = record(job_id)
    assert rec["pid"] and rec["state"] in ("running", "succeeded")
    assert os.getsid(0) != _sid(rec["pid"])  # a new session: no terminal ties
    assert rec["argv"][-3:] == ["--background", "--password", "***"]  # the user's command line, redacted
    assert "hunter22" not in json.dumps(rec)
    seen = wait_for(lambda: (r := record(job_id))["state"] == "running" and r["progress"]["done"] > 0 and r,
                    what="live progress")
    assert open(seen["pid_file"]).read() == f"{seen['pid']}\n"
    assert seen["progress"]["total"] == 1000 and seen["progress"]["phase"] == "copying"
    final = wait_for(lambda: (r := record(job_id))["state"] == "succeeded" and r, what="the job to finish")
    assert final["result"] == {"bytes": out.stat().st_size}
    assert not os.path.exists(final["pid_file"])
    # the record says succeeded before the child's last stdout line is flushed to the log: wait for it
    log = wait_for(lambda: (text := open(final["log"]).read()) and "done " in text and text,
                   what="the child's stdout in its log")
    assert f"--job-id {job_id}" in log  # the child's own stdout went to the log
    assert "hunter22" not in log


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


def test_cancel_command_stops_a_background_job(tmp_path):
    out = tmp_path / "out.bin"
    res = run_worker("--out", out, "--seconds", "60", "--background")
    job_id = res.stdout.strip().splitlines()[-1]
    rec = _wait_partial(tmp_path)
    assert rec["id"] == job_id
    res = cli("cancel", job_id[:10])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"job {job_id} cancelled"
    rec = record(job_id)
    assert rec["state"] == "cancelled" and rec["exit_code"] == 143
    assert list(tmp_path.iterdir()) == []
    res = cli("cancel", job_id)
    assert res.returncode == 1
    assert res.stderr.strip() == f"cli-recover: error: job {job_id} is not running (it cancelled: cancelled by SIGTERM)"


def test_concurrent_writers_lose_nothing(tmp_path):
    # Two processes each run 60 jobs (every job writes its record several times) while a third lists.
    script = (
        "import sys\n"
        "from types import SimpleNamespace\n"
        "from cli_recover.engine.runner import JobSpec, run_as_job\n"
        "tag = sys.argv[1]\n"
        "for i in range(60):\n"
        "    args = SimpleNamespace(background=False, job_id=None, _argv=['x', tag, str(i)])\n"
        "    def work(h, i=i):\n"
        "        h.set_paths(partial=[])\n"
        "        h.progress(i, 60, 'w')\n"
        "        h.log(f'{tag} {i}')\n"
        "        return {'tag': tag, 'i': i}\n"
        "    run_as_job(args, JobSpec('backup', 'test', {'kind': 'local', 'path': '/'}, {}), work)\n"
    )
    import subprocess
    import sys

    from tests.jobs_helpers import env, records

    procs = [subprocess.Popen([sys.executable, "-c", script, tag], env=env()) for tag in ("a", "b")]
    listings = 0
    while any(p.poll() is None for p in procs):
        res = cli("status", "-A", "-o", "json")
        assert res.returncode == 0, res.stderr
        json.loads(res.stdout)
        listings += 1
    assert [p.wait() for p in procs] == [0, 0]
    recs = records()
    assert len(recs) == 120 and len({r["id"] for r in recs}) == 120
    assert all(r["state"] == "succeeded" for r in recs)
    assert sorted((r["result"]["tag"], r["result"]["i"]) for r in recs) == sorted(
        (t, i) for t in "ab" for i in range(60))
    res = cli("status", "-A", "-o", "json")
    assert len(json.loads(res.stdout)) == 120
    assert listings >= 1
