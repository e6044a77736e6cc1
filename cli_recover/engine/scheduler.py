"""The scheduler: one process per data home that fires due schedules as background jobs.

- One at a time: `$CLI_RECOVER_HOME/run/scheduler.lock` is held with flock for the process's life
  and holds `{"pid", "started", "host", ...}`, so a second start can say who holds it.
- Each tick re-reads `schedules/` (a few small files), so adds, edits, pauses and removals apply
  without a restart. It sleeps until the next due time or `tick` seconds, whichever comes first.
- A due schedule is launched through the job runner (`run_as_job` in background mode with
  `JobSpec(schedule=name)`): the same re-exec of `cli-recover backup ... --job-id ID` every
  `--background` job uses, with the schedule's name in the job record.
- Never two runs of one schedule at once: while its previous job is queued or running a due run
  is skipped, and the skip is recorded in the schedule's state and the scheduler log.
- Missed runs (the scheduler was down): the latest one is run once if it is at most `grace`
  seconds late, else recorded as missed. Runs missed while a schedule was paused are not made up.
- When it sees a scheduled job finish (it polls the job store) it records the result, applies the
  schedule's retention after a success (never after a failure) and sends the notifications, in a
  thread: a slow or failing webhook or command is logged and never delays or fails anything.
- SIGTERM, SIGINT and SIGHUP stop it cleanly; running jobs (own sessions) are left to finish.

Log: `$CLI_RECOVER_HOME/logs/scheduler.log`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cli_recover import config
from cli_recover.engine import proc
from cli_recover.engine import schedules as sched
from cli_recover.engine.model import ACTIVE_STATES, FINAL_STATES, human_duration, iso, parse_iso
from cli_recover.errors import RecoverError
from cli_recover.fsutil import open_append

DEFAULT_GRACE = 3600.0
DEFAULT_TICK = 5.0
LOCK_NAME = "scheduler.lock"
LOG_NAME = "scheduler.log"
LOG_MAX_BYTES = 5 << 20


def lock_path() -> Path:
    return config.data_home() / "run" / LOCK_NAME


def log_path() -> Path:
    return config.logs_dir() / LOG_NAME


# --- the lock ---------------------------------------------------------------------------------


def holder() -> dict | None:
    """The running scheduler's lock info ({} when unreadable), or None when none runs."""
    import fcntl

    path = lock_path()
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                data = os.pread(fd, 65536, 0)
                info = json.loads(data.decode() or "{}")
                return info if isinstance(info, dict) else {}
            except (OSError, ValueError):
                return {}
        return None
    finally:
        os.close(fd)


def describe_holder(info: dict) -> str:
    if not info:
        return "another process (its lock file is unreadable)"
    host = f" on {info['host']}" if info.get("host") and info.get("host") != proc.hostname() else ""
    return f"pid {info.get('pid', '?')}{host}, since {info.get('started', '?')}"


class SchedulerLock:
    """Holds `run/scheduler.lock` (flock) for the life of the process."""

    def __init__(self) -> None:
        self.fd: int | None = None

    def acquire(self, info: dict) -> None:
        import fcntl

        path = lock_path()
        config.ensure_dir(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                data = os.pread(fd, 65536, 0)
                current = json.loads(data.decode() or "{}")
            except (OSError, ValueError):
                current = {}
            os.close(fd)
            raise RecoverError(f"a scheduler is already running for {config.data_home()} "
                               f"({describe_holder(current if isinstance(current, dict) else {})}); "
                               "see: cli-recover scheduler status") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, 0)
            os.close(self.fd)
            self.fd = None


# --- launching a run --------------------------------------------------------------------------


def _never_called(_handle) -> dict:  # pragma: no cover - background mode never runs work here
    raise RecoverError("internal: a background launch ran its work in the parent")


def launch(schedule: dict) -> str:
    """Start the schedule's backup as a background job with the schedule's name in its record;
    returns the job id once the job's own process has taken it over."""
    from cli_recover.engine.runner import JobSpec, run_as_job

    argv = list(schedule["backup"])
    job = schedule.get("job") or {}
    spec = JobSpec(kind="backup", provider=job.get("provider") or (argv[1] if len(argv) > 1 else None),
                   target=job.get("target") or {}, options=job.get("options") or {}, schedule=schedule["name"])
    ns = argparse.Namespace(background=True, job_id=None, _argv=argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        run_as_job(ns, spec, _never_called)
    words = out.getvalue().split()
    if not words:
        raise RecoverError(f"schedule {schedule['name']}: the job did not report an id")
    return words[-1]


def active_run(schedule: dict, store=None) -> str | None:
    """The id of this schedule's queued or running job, if any."""
    from cli_recover.engine.store import JobNotFound, JobStore

    store = store or JobStore()
    for job_id in (schedule.get("state") or {}).get("pending") or []:
        try:
            rec = store.get(job_id)
        except JobNotFound:
            continue
        except RecoverError:
            return job_id  # being replaced right now: assume it runs
        if rec.get("state") in ACTIVE_STATES:
            return job_id
    for s in store.summaries(prune=False):
        if s["state"] not in ACTIVE_STATES:
            continue
        try:
            rec = store.read(s["id"])
        except RecoverError:
            continue
        if rec.get("schedule") == schedule["name"] and rec.get("state") in ACTIVE_STATES:
            return s["id"]
    return None


def run_now(name: str) -> str:
    """`schedule run NAME`: launch now (refused while a run is active); the id goes to `pending`."""
    sched.load(name)  # one-line error for an unknown name
    with sched.launch_lock(name):
        schedule = sched.load(name)
        running = active_run(schedule)
        if running:
            raise RecoverError(f"schedule {name} is already running (job {running}); "
                               "a schedule never runs twice at once")
        job_id = launch(schedule)

        def note(s: dict) -> None:
            st = s.setdefault("state", {})
            st["pending"] = [*(st.get("pending") or []), job_id]
            st["last_job"] = job_id
            st["runs"] = int(st.get("runs") or 0) + 1

        sched.update(name, note, missing_ok=True)
    return job_id


def live_status(schedule: dict, store) -> tuple[str | None, dict | None]:
    """(the id of a queued/running run, the latest known result), from the job store: a run that
    finished since the scheduler last looked is shown as it is now."""
    st = schedule.get("state") or {}
    running = None
    result = st.get("last_result")
    for job_id in reversed(st.get("pending") or []):
        try:
            rec = store.get(job_id)
        except RecoverError:
            continue
        if rec.get("state") in ACTIVE_STATES and running is None:
            running = job_id
        elif rec.get("state") in FINAL_STATES and (result is None or (rec.get("finished") or "") > (
                result.get("finished") or "")):
            result = result_of(rec)
    return running, result


def result_of(rec: dict) -> dict:
    return {"job": rec.get("id"), "state": rec.get("state"), "finished": rec.get("finished"),
            "error": rec.get("error"), "archive": rec.get("archive") if rec.get("state") == "succeeded" else None}


# --- the scheduler ----------------------------------------------------------------------------


class Scheduler:
    """The loop. `tick()` does one pass and is what tests drive with an injected clock and launcher."""

    def __init__(self, *, grace: float = DEFAULT_GRACE, tick: float = DEFAULT_TICK,
                 clock: Callable[[], float] = time.time, launcher: Callable[[dict], str] = launch,
                 notifier: Callable[[str, dict], str] = sched.send_notification, echo: bool = False,
                 async_notify: bool = True, store=None):
        from cli_recover.engine.store import JobStore

        self.grace = grace
        self.tick_seconds = tick
        # a run this late is still on time (a busy machine, a slow tick), whatever the grace window
        self.on_time = max(2 * tick, 60.0)
        self.clock = clock
        self.launcher = launcher
        self.notifier = notifier
        self.echo = echo
        self.async_notify = async_notify
        self.store = store or JobStore()
        self.stop_event = threading.Event()
        self.stop_reason = ""
        self._threads: list[threading.Thread] = []
        self._log_lock = threading.Lock()
        self._errors_seen: set[str] = set()
        self._defs: dict | None = None

    # --- logging -----------------------------------------------------------------------------

    def log(self, message: str) -> None:
        line = f"{iso()} {message}\n"
        with self._log_lock:
            try:
                path = log_path()
                config.ensure_dir(path.parent)
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_size > LOG_MAX_BYTES:
                        os.replace(path, path.with_name(path.name + ".1"))  # one old log is kept
                with open_append(path, encoding="utf-8") as f:
                    f.write(line)
            except OSError:
                pass
            if self.echo:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.write(line)
                    sys.stderr.flush()

    # --- one pass ----------------------------------------------------------------------------

    def tick(self) -> float | None:
        """Collect finished runs, fire what is due; returns the earliest next due time (or None)."""
        errors: list[str] = []
        schedules = sched.load_all(errors)
        for err in errors:
            if err not in self._errors_seen:
                self._errors_seen.add(err)
                self.log(f"skipping a schedule file: {err}")
        defs = {s["name"]: json.dumps({k: v for k, v in s.items() if k not in ("state", "updated")}, sort_keys=True)
                for s in schedules}
        if self._defs is not None and defs != self._defs:
            changes = [f"added {n}" for n in defs if n not in self._defs]
            changes += [f"removed {n}" for n in self._defs if n not in defs]
            changes += [f"changed {n}" for n in defs if n in self._defs and defs[n] != self._defs[n]]
            self.log(f"schedules: {', '.join(changes)}")
        self._defs = defs
        for s in schedules:
            try:
                self._collect(s)
            except Exception as exc:  # noqa: BLE001 - one bad schedule never stops the others
                self.log(f"{s.get('name')}: could not collect its jobs: {type(exc).__name__}: {exc}")
        now = self.clock()
        upcoming = []
        for s in schedules:
            if self.stop_event.is_set():
                break
            try:
                due = self._consider(s, now)
            except Exception as exc:  # noqa: BLE001 - logged once per distinct problem
                problem = f"{s.get('name')}: {type(exc).__name__}: {exc}"
                if problem not in self._errors_seen:
                    self._errors_seen.add(problem)
                    self.log(problem)
                due = None
            if due is not None:
                upcoming.append(due)
        return min(upcoming) if upcoming else None

    def _collect(self, schedule: dict) -> None:
        """Record the results of the schedule's finished jobs; retention; notifications."""
        from cli_recover.engine.store import JobNotFound

        name = schedule["name"]
        for job_id in list((schedule.get("state") or {}).get("pending") or []):
            try:
                rec = self.store.get(job_id)
            except JobNotFound:
                self.log(f"{name}: job {job_id} is gone from the history; forgetting it")
                sched.update(name, lambda s, j=job_id: _drop_pending(s, j), missing_ok=True)
                continue
            except RecoverError:
                continue
            if rec.get("state") not in FINAL_STATES:
                continue
            result = result_of(rec)

            def finish(s: dict, rec=rec, result=result) -> None:
                st = s.setdefault("state", {})
                _drop_pending(s, rec["id"])
                st["last_result"] = result
                if result["state"] == "succeeded" and rec.get("archive"):
                    archives = list(st.get("archives") or [])
                    archives.append({"path": rec["archive"], "created": rec.get("finished"), "job": rec["id"]})
                    st["archives"] = archives[-sched.MAX_ARCHIVES_KEPT:]

            current = sched.update(name, finish, missing_ok=True)
            how = f": {rec['error']}" if rec.get("error") else (f" -> {rec['archive']}" if rec.get("archive") else "")
            self.log(f"{name}: job {job_id} {rec.get('state')}{how}")
            if current is None:
                continue
            if result["state"] == "succeeded":
                self._retention(current)
            if sched.wants_notification(current, result["state"]):
                self._notify(current, sched.notification_event(current, rec))

    def _retention(self, schedule: dict) -> None:
        keep = schedule.get("keep") or {}
        if not any(keep.values()):
            return
        name = schedule["name"]
        kept, removed = sched.apply_retention(schedule, now=self.clock(), log=lambda m: self.log(f"{name}: {m}"))
        summary = {"at": iso(self.clock()), "kept": [a.path for a in kept], "removed": removed}

        def note(s: dict) -> None:
            st = s.setdefault("state", {})
            st["retention"] = summary
            if removed:
                st["archives"] = [a for a in st.get("archives") or [] if a.get("path") not in removed]

        sched.update(name, note, missing_ok=True)
        self.log(f"{name}: retention kept {len(kept)} archive(s), removed {len([p for p in removed if not p.endswith('.manifest.json')])}")

    def _notify(self, schedule: dict, event: dict) -> None:
        targets = list(schedule.get("notify") or [])
        name = schedule["name"]

        def deliver() -> None:
            for target in targets:
                try:
                    what = self.notifier(target, event)
                    self.log(f"{name}: notified {what}")
                except Exception as exc:  # noqa: BLE001 - delivery failures are logged, never fatal
                    self.log(f"{name}: notification failed: {exc}")

        if not self.async_notify:
            deliver()
            return
        t = threading.Thread(target=deliver, name=f"notify-{name}", daemon=True)
        t.start()
        self._threads = [x for x in self._threads if x.is_alive()] + [t]

    def _consider(self, schedule: dict, now: float) -> float | None:
        """Fire, skip or wait; returns the schedule's next due time."""
        if schedule.get("paused"):
            return None
        name, cron, tz = schedule["name"], schedule["cron"], schedule.get("timezone") or "UTC"
        st = schedule.get("state") or {}
        ref = parse_iso(st.get("last_scheduled")) or parse_iso(st.get("anchor")) or parse_iso(schedule.get("created"))
        if ref is None:
            ref = now
            sched.update(name, lambda s: s.setdefault("state", {}).update(anchor=iso(now)), missing_ok=True)
        due = sched.next_run(cron, tz, ref)
        if due is None or due > now:
            return due
        latest, count = sched.latest_run(cron, tz, ref, now)
        if latest is None:  # pragma: no cover - due <= now implies one
            return due
        following = sched.next_run(cron, tz, latest)
        late = now - latest
        if late > max(self.grace, self.on_time):
            reason = (f"missed: the scheduler was not running at {sched.format_time(latest, tz)} "
                      f"({human_duration(late)} ago, more than the {human_duration(self.grace)} grace window)")
            self._skip(name, latest, reason, now)
            return following
        with sched.launch_lock(name):
            return self._fire(schedule, latest, count, late, following, now)

    def _fire(self, schedule: dict, latest: float, count: int, late: float, following: float | None,
              now: float) -> float | None:
        name, tz = schedule["name"], schedule.get("timezone") or "UTC"
        try:
            fresh = sched.load(name)  # `schedule run` may have started one a moment ago
        except sched.ScheduleNotFound:
            return None
        running = active_run(fresh, self.store)
        if running:
            self._skip(name, latest, f"overlap: the previous run (job {running}) is still running", now)
            return following
        if count > 1 or late > self.on_time:
            many = count if count < 1000 else "over 1000"
            self.log(f"{name}: catching up the run due at {sched.format_time(latest, tz)} "
                     f"({human_duration(late)} late; {many} run(s) were due since the last one)")
        try:
            job_id = self.launcher(fresh)
        except RecoverError as exc:
            self.log(f"{name}: could not start the run due at {sched.format_time(latest, tz)}: {exc}")
            result = {"job": None, "state": "failed", "finished": iso(now), "error": str(exc), "archive": None}

            def failed(s: dict) -> None:
                st = s.setdefault("state", {})
                st["last_scheduled"] = iso(latest)
                st["last_result"] = result

            current = sched.update(name, failed, missing_ok=True)
            if current and sched.wants_notification(current, "failed"):
                self._notify(current, {"schedule": name, "job_id": None, "state": "failed", "error": str(exc),
                                       "archive": None, "started": None, "finished": iso(now),
                                       "host": proc.hostname(), "log": str(log_path())})
            return following

        def fired(s: dict) -> None:
            st = s.setdefault("state", {})
            st["last_scheduled"] = iso(latest)
            st["pending"] = [*(st.get("pending") or []), job_id]
            st["last_job"] = job_id
            st["runs"] = int(st.get("runs") or 0) + 1

        sched.update(name, fired, missing_ok=True)
        self.log(f"{name}: started job {job_id} (due {sched.format_time(latest, tz)})")
        return following

    def _skip(self, name: str, scheduled: float, reason: str, now: float) -> None:
        def skipped(s: dict) -> None:
            st = s.setdefault("state", {})
            st["last_scheduled"] = iso(scheduled)
            sched.record_skip(st, scheduled, reason, now)

        sched.update(name, skipped, missing_ok=True)
        self.log(f"{name}: skipped the run due at {iso(scheduled)}: {reason}")

    # --- the loop ----------------------------------------------------------------------------

    def stop(self, reason: str = "") -> None:
        self.stop_reason = self.stop_reason or reason
        self.stop_event.set()

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                due = self.tick()
            except Exception as exc:  # noqa: BLE001 - the loop outlives one bad pass
                self.log(f"tick failed: {type(exc).__name__}: {exc}")
                due = None
            wait = self.tick_seconds
            if due is not None:
                wait = min(wait, max(due - self.clock(), 0.0) + 0.01)
            self.stop_event.wait(max(wait, 0.01))
        for t in self._threads:
            t.join(timeout=max(0.0, sched.WEBHOOK_TIMEOUT + 1))


def _drop_pending(schedule: dict, job_id: str) -> None:
    st = schedule.setdefault("state", {})
    st["pending"] = [j for j in st.get("pending") or [] if j != job_id]


# --- the process ------------------------------------------------------------------------------


def serve(*, grace: float = DEFAULT_GRACE, tick: float = DEFAULT_TICK, echo: bool = True) -> int:
    """`scheduler start` in the foreground: take the lock, loop until a signal."""
    lock = SchedulerLock()
    started = iso()
    lock.acquire({"pid": os.getpid(), "started": started, "host": proc.hostname(), "tick": tick, "grace": grace,
                  "log": str(log_path()), "data_home": str(config.data_home()), **proc.identity()})
    scheduler = Scheduler(grace=grace, tick=tick, echo=echo)
    previous = {}

    def handler(signum, _frame):
        scheduler.stop(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        with contextlib.suppress(ValueError, OSError):
            previous[sig] = signal.signal(sig, handler)
    try:
        scheduler.log(f"scheduler started (pid {os.getpid()}, data home {config.data_home()}, "
                      f"tick {tick:g}s, grace {human_duration(grace)})")
        scheduler.run()
    finally:
        running = [s["id"] for s in scheduler.store.summaries(prune=False) if s["state"] in ACTIVE_STATES]
        scheduler.log(f"scheduler stopped ({scheduler.stop_reason or 'done'})"
                      + (f"; jobs left running: {', '.join(running)}" if running else ""))
        lock.release()
        for sig, h in previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, h)
    return 0


def start_background(*, grace: float, tick: float, timeout: float = 15.0) -> int:
    """Start `scheduler start` detached; returns its pid once it holds the lock."""
    import subprocess

    current = holder()
    if current is not None:
        raise RecoverError(f"a scheduler is already running for {config.data_home()} "
                           f"({describe_holder(current)}); see: cli-recover scheduler status")
    import cli_recover

    root = str(Path(cli_recover.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    path = log_path()
    config.ensure_dir(path.parent)
    with open_append(path, encoding="utf-8") as logf:
        child = subprocess.Popen([sys.executable, "-m", "cli_recover", "scheduler", "start", "--tick", f"{tick:g}",
                                  "--grace", f"{grace:g}s", "--detached"],
                                 stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                                 start_new_session=True, close_fds=True)
    threading.Thread(target=child.wait, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = holder()
        if info and info.get("pid") == child.pid:
            return child.pid
        status = child.poll()
        if status is not None:
            info = holder()
            if info and info.get("pid") == child.pid:
                return child.pid
            tail = _last_line(path)
            raise RecoverError(f"the scheduler exited with status {status} before it started"
                               + (f": {tail}" if tail else f" (see {path})"))
        time.sleep(0.02)
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGTERM)
    raise RecoverError(f"the scheduler did not start within {timeout:g}s (see {path})")


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].removeprefix("cli-recover: error: ") if lines else ""


def stop_running(timeout: float = 30.0) -> dict | None:
    """SIGTERM the running scheduler and wait for its lock to be released; its info, or None."""
    info = holder()
    if info is None:
        return None
    pid = info.get("pid")
    if not pid:
        raise RecoverError(f"a scheduler holds {lock_path()} but its pid is unknown")
    if info.get("host") and info["host"] != proc.hostname():
        raise RecoverError(f"the scheduler runs on {info['host']} (pid {pid}); stop it there")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    except PermissionError:
        raise RecoverError(f"not allowed to signal the scheduler (pid {pid})") from None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # released its lock, and the process itself has exited (it releases the lock on its way out)
        if holder() is None and not proc.is_alive(pid, info.get("pid_start"), info.get("boot_id")):
            return info
        time.sleep(0.05)
    raise RecoverError(f"sent SIGTERM to the scheduler (pid {pid}) but it still runs after {timeout:g}s")
