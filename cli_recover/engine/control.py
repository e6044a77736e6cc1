"""Controlling and reading jobs from any face (CLI, app, scheduler): cancel, log tails."""

from __future__ import annotations

import os
import signal
import time

from cli_recover.errors import RecoverError


def cancel_job(ref: str, *, timeout: float = 30.0, wait: bool = True) -> str:
    """SIGTERM the job's process (after checking pid + start time) and, with wait, until it has ended.
    Returns what happened in one line; raises RecoverError when the job cannot be cancelled."""
    from cli_recover.engine import proc
    from cli_recover.engine.model import ACTIVE_STATES
    from cli_recover.engine.store import JobStore

    store = JobStore()
    rec = store.get(ref)
    job_id = rec["id"]
    if rec.get("state") not in ACTIVE_STATES:
        how = f": {rec['error']}" if rec.get("error") else ""
        raise RecoverError(f"job {job_id} is not running (it {rec.get('state')}{how})")
    pid = rec.get("pid")
    if not proc.is_alive(pid, rec.get("pid_start"), rec.get("boot_id")):
        rec = store.get(job_id)
        raise RecoverError(f"job {job_id} is not running (it {rec.get('state')})")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        raise RecoverError(f"job {job_id} is not running (its process {pid} has exited)") from None
    except PermissionError:
        raise RecoverError(f"not allowed to signal job {job_id} (pid {pid}): it belongs to another user") from None
    if not wait:
        return f"sent SIGTERM to job {job_id} (pid {pid})"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = store.get(job_id)
        if rec.get("state") not in ACTIVE_STATES:
            break
        time.sleep(0.1)
    state = rec.get("state")
    if state == "cancelled":
        return f"job {job_id} cancelled"
    if state in ACTIVE_STATES:
        raise RecoverError(f"sent SIGTERM to job {job_id} (pid {pid}) but it is still {state} after "
                           f"{timeout:g}s; see: cli-recover logs {job_id}")
    raise RecoverError(f"job {job_id} ended as {state} before the cancel took effect")


def log_tail(path: str | None, n: int) -> list[str]:
    """The last n lines of a file, reading only its end."""
    if not path or n <= 0:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            block = 8192
            data = b""
            while size > 0 and data.count(b"\n") <= n:
                step = min(block, size)
                size -= step
                f.seek(size)
                data = f.read(step) + data
                block *= 2
    except OSError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-n:]


def copy_new_lines(path: str, pos: int, out) -> int:
    """Write the complete lines of path after byte pos; returns the new position."""
    try:
        with open(path, "rb") as f:
            f.seek(pos)
            data = f.read()
    except OSError:
        return pos
    end = data.rfind(b"\n") + 1
    if end:
        out.write(data[:end].decode("utf-8", "replace"))
    return pos + end
