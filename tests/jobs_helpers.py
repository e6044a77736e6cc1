"""Helpers for the job tests: run the test worker and the CLI as real processes, read records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {"PYTHONPATH": str(ROOT)}


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    return e


def worker_argv(*args) -> list[str]:
    return [sys.executable, "-m", "tests.jobs_worker", *map(str, args)]


def start_worker(*args) -> subprocess.Popen:
    """A foreground worker job as a real child process (its own process group)."""
    return subprocess.Popen(worker_argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                            cwd=ROOT, text=True, start_new_session=True)


def run_worker(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(worker_argv(*args), capture_output=True, text=True, env=env(), cwd=ROOT,
                          timeout=timeout)


def cli(*args, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli_recover", *map(str, args)], capture_output=True, text=True,
                          env=env(), cwd=ROOT, timeout=timeout)


def history() -> Path:
    return Path(os.environ["CLI_RECOVER_HOME"]) / "history"


def record(job_id: str) -> dict:
    return json.loads((history() / f"{job_id}.json").read_text())


def records() -> list[dict]:
    d = history()
    if not d.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(d.glob("*.json")) if not p.name.startswith(".")]


def only_record() -> dict:
    recs = records()
    assert len(recs) == 1, recs
    return recs[0]


def wait_for(predicate, timeout: float = 30, interval: float = 0.02, what: str = "condition"):
    """Poll until predicate() is truthy (returns it); fails the test after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (FileNotFoundError, json.JSONDecodeError, KeyError, AssertionError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def wait_running(timeout: float = 30) -> dict:
    """The single job once it is running and has reported progress."""
    def ready():
        recs = records()
        if len(recs) == 1 and recs[0]["state"] == "running" and recs[0]["partial"]:
            return recs[0]
        return None

    return wait_for(ready, timeout, what="a running job")
