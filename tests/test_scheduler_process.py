"""Issue 6 for real: a scheduler process fires a schedule due within seconds (a seconds field, enabled
by the CLI_RECOVER_CRON_SECONDS test hook), the jobs show in `status -o json` with the schedule's
name, retention keeps exactly the policy's archives, a webhook reaches a local HTTP server, a notify
command gets the job in its environment; a second scheduler is refused naming the holder; an
overlapping run is skipped and recorded; SIGTERM stops the scheduler and leaves the running job alone.

Never asserts timings: everything waits for a state with a generous timeout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.jobs_helpers import ROOT, cli, env, records, wait_for

SECONDS = {"CLI_RECOVER_CRON_SECONDS": "1"}


def cli_env(*args, extra: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli_recover", *map(str, args)], capture_output=True, text=True,
                          env={**env(), **(extra or {})}, cwd=ROOT, timeout=timeout)


def schedule_file(name: str) -> dict:
    return json.loads((Path(os.environ["CLI_RECOVER_HOME"]) / "schedules" / f"{name}.json").read_text())


def scheduler_log() -> str:
    path = Path(os.environ["CLI_RECOVER_HOME"]) / "logs" / "scheduler.log"
    return path.read_text() if path.exists() else ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


@pytest.fixture
def cleanup_processes():
    """Stops the scheduler and any job a test leaves behind."""
    yield
    cli("scheduler", "stop", "--timeout", "10")
    for rec in records():
        if rec["state"] in ("queued", "running") and rec.get("pid"):
            try:
                os.kill(rec["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def webhook():
    """A local HTTP server that records the JSON bodies POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "type": self.headers["Content-Type"], "json": json.loads(body)})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def slow_source(tmp_path_factory):
    """A 64 GiB sparse file: tar reads zeros for minutes, so its backup is reliably still running."""
    src = tmp_path_factory.mktemp("sparse")
    with open(src / "zeros.img", "wb") as f:
        f.truncate(64 << 30)
    return src


def test_scheduler_fires_runs_keeps_the_policy_and_notifies(tmp_path, webhook, cleanup_processes):
    url, received = webhook
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.txt").write_text("important\n" * 100)
    out = tmp_path / "archives"
    out.mkdir()
    envdir = tmp_path / "env"
    envdir.mkdir()
    command = f'env | grep ^CLI_RECOVER_ > "{envdir}/$CLI_RECOVER_JOB_ID"'

    res = cli("scheduler", "start", "--background", "--tick", "0.2")
    assert res.returncode == 0, res.stderr
    pid = int(res.stdout.split("(pid ")[1].split(")")[0])
    again = cli("scheduler", "start")
    assert again.returncode == 1
    assert f"a scheduler is already running for {os.environ['CLI_RECOVER_HOME']} (pid {pid}, since 20" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    status = json.loads(cli("scheduler", "status", "-o", "json").stdout)
    assert status["running"] is True and status["pid"] == pid and status["schedules"] == 0
    wait_for(lambda: "scheduler started" in scheduler_log(), what="the scheduler's first tick")

    # added while the scheduler runs: picked up without a restart
    res = cli_env("schedule", "add", "fast", "--cron", "* * * * * */2", "--timezone", "UTC", "--keep-last", "2",
                  "--notify", f"{url}/hook/T0K3N", "--notify", command, "--notify-on", "always",
                  "--", "backup", "filesystem", "--local", src, "-o", out, "--compression", "gzip", extra=SECONDS)
    assert res.returncode == 0, res.stderr
    assert "every 2 seconds" in res.stdout and "no scheduler is running" not in res.stderr

    # the jobs appear in `status -o json` with the schedule's name
    def scheduled_jobs():
        jobs = json.loads(cli("status", "-A", "-o", "json").stdout)
        done = [j for j in jobs if j["schedule"] == "fast" and j["state"] == "succeeded"]
        return jobs if len(done) >= 3 else None

    jobs = wait_for(scheduled_jobs, timeout=60, interval=0.3, what="three scheduled runs")
    assert all(j["schedule"] == "fast" and j["kind"] == "backup" for j in jobs)
    # stop firing, let the scheduler collect what ran, then stop it
    assert cli("schedule", "pause", "fast").returncode == 0
    wait_for(lambda: "schedules: changed fast" in scheduler_log(), what="the pause to be seen")
    wait_for(lambda: not schedule_file("fast")["state"]["pending"] and not any(
        r["state"] in ("queued", "running") for r in records()), timeout=60, what="the runs to be collected")
    res = cli("scheduler", "stop")
    assert res.returncode == 0 and f"scheduler stopped (pid {pid})" in res.stdout
    assert not _alive(pid)
    assert cli("scheduler", "status").returncode == 3

    runs = sorted((r for r in records() if r.get("schedule") == "fast"), key=lambda r: r["id"])
    assert runs and all(r["state"] == "succeeded" for r in runs)
    # retention: exactly the two newest archives (and their manifests) are left
    newest = [r["archive"] for r in runs[-2:]]
    assert sorted(str(p) for p in out.iterdir()) == sorted(newest + [a + ".manifest.json" for a in newest])
    assert "retention: removed" in scheduler_log()
    state = schedule_file("fast")["state"]
    assert [a["path"] for a in state["archives"]] == newest
    assert state["last_result"]["job"] == runs[-1]["id"] and state["last_result"]["state"] == "succeeded"

    # one webhook per run, a JSON body chat tools accept plus the structured fields
    assert sorted(r["json"]["job_id"] for r in received) == [r["id"] for r in runs]
    for r in received:
        assert r["path"] == "/hook/T0K3N" and r["type"] == "application/json"
        body = r["json"]
        assert body["schedule"] == "fast" and body["state"] == "succeeded" and body["error"] is None
        assert body["text"].startswith("cli-recover: scheduled backup 'fast' succeeded -> ")
        assert body["archive"] == next(x["archive"] for x in runs if x["id"] == body["job_id"])
    # the command ran once per run with the job in its environment
    for r in runs:
        seen = dict(line.split("=", 1) for line in (envdir / r["id"]).read_text().splitlines())
        assert seen["CLI_RECOVER_JOB_ID"] == r["id"] and seen["CLI_RECOVER_JOB_STATE"] == "succeeded"
        assert seen["CLI_RECOVER_SCHEDULE"] == "fast" and seen["CLI_RECOVER_ARCHIVE"] == r["archive"]
    log = scheduler_log()
    assert "T0K3N" not in log and "notified webhook http://127.0.0.1:" in log
    assert "schedules: added fast" in log


def test_overlap_is_skipped_and_sigterm_leaves_the_running_job(tmp_path, slow_source, cleanup_processes):
    out = tmp_path / "out"
    out.mkdir()
    res = cli_env("schedule", "add", "slow", "--cron", "* * * * * *", "--timezone", "UTC", "--",
                  "backup", "filesystem", "--local", slow_source, "-o", out, "--level", "1", extra=SECONDS)
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "scheduler.err", "wb") as err:
        daemon = subprocess.Popen([sys.executable, "-m", "cli_recover", "scheduler", "start", "--tick", "0.2"],
                                  stdout=subprocess.DEVNULL, stderr=err, env=env(), cwd=ROOT)
    try:
        def skipped():
            s = schedule_file("slow")["state"]
            return s if s["skipped"] >= 2 and s["runs"] == 1 else None

        state = wait_for(skipped, timeout=60, interval=0.1, what="two overlapping runs skipped")
        job_id = state["pending"][0]
        assert state["skips"][-1]["reason"] == f"overlap: the previous run (job {job_id}) is still running"
        assert "slow: skipped the run due at " in scheduler_log()
        assert len([r for r in records() if r.get("schedule") == "slow"]) == 1  # never two at once

        job = wait_for(lambda: (r := json.loads(cli("status", job_id, "-o", "json").stdout))["state"] == "running"
                       and r, what="the run to be running")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    log = scheduler_log()
    assert "scheduler stopped (SIGTERM); jobs left running: " + job_id in log
    assert (tmp_path / "scheduler.err").read_text().count("scheduler stopped (SIGTERM)") == 1
    after = json.loads(cli("status", job_id, "-o", "json").stdout)
    assert after["state"] == "running" and _alive(job["pid"])  # the job goes on
    assert cli("scheduler", "status").returncode == 3
    assert cli("cancel", job_id).returncode == 0


def test_run_now_as_a_job_refuses_a_second_and_the_scheduler_reports_it_later(tmp_path, slow_source,
                                                                              cleanup_processes):
    envfile = tmp_path / "notified"
    res = cli("schedule", "add", "manual", "--cron", "0 3 1 1 *", "--timezone", "UTC",
              "--notify", f'env | grep ^CLI_RECOVER_ > "{envfile}"', "--",
              "backup", "filesystem", "--local", slow_source, "-o", tmp_path)
    assert res.returncode == 0, res.stderr
    res = cli("schedule", "run", "manual")
    assert res.returncode == 0, res.stderr
    job_id = res.stdout.strip()
    assert "no scheduler is running" in res.stderr
    rec = json.loads(cli("status", job_id, "-o", "json").stdout)
    assert rec["schedule"] == "manual" and rec["kind"] == "backup"
    wait_for(lambda: json.loads(cli("status", job_id, "-o", "json").stdout)["state"] == "running",
             what="the run to be running")
    again = cli("schedule", "run", "manual")
    assert again.returncode == 1
    assert again.stderr.strip() == (f"cli-recover: error: schedule manual is already running (job {job_id}); "
                                    "a schedule never runs twice at once")
    listed = cli("schedule", "list").stdout
    assert f"running (job {job_id})" in listed
    assert cli("cancel", job_id).returncode == 0

    # a scheduler started later collects the cancelled run and notifies (on failure is the default)
    res = cli("scheduler", "start", "--background", "--tick", "0.2")
    assert res.returncode == 0, res.stderr
    seen = wait_for(lambda: envfile.exists() and dict(line.split("=", 1) for line in envfile.read_text().splitlines()),
                    timeout=30, what="the notify command")
    assert seen["CLI_RECOVER_JOB_ID"] == job_id and seen["CLI_RECOVER_JOB_STATE"] == "cancelled"
    assert seen["CLI_RECOVER_SCHEDULE"] == "manual" and "cancelled by SIGTERM" in seen["CLI_RECOVER_JOB_ERROR"]
    state = schedule_file("manual")["state"]
    assert state["last_result"]["state"] == "cancelled" and state["pending"] == []
    assert "cancelled" in cli("schedule", "list").stdout.splitlines()[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notified"]  # no archive from the cancelled run
