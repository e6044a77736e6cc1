"""Run one unit of work as a job: the record, the log, signals, progress and background mode.

The seam every command uses::

    add_job_arguments(parser)                       # --background and the hidden --job-id
    code, result = run_as_job(args, JobSpec(...), work)

`work(handle)` does the job and returns a JSON-able dict (the record's `result`; `run_as_job`
returns a copy with `job_id` added). It reports
progress with `handle.progress(done, total, phase)`, registers the producer's stop function with
`handle.on_cancel(fn)`, declares its outputs with `handle.set_paths(...)` and polls
`handle.cancel_event` (or calls `handle.check_cancelled()`) where it can.

Outcomes: the return value -> `succeeded`; `RecoverError` -> `failed` with its one-line message,
re-raised for the CLI to print; any other exception -> `failed`, the traceback goes to the job's
log only and a one-line RecoverError is raised; `Cancelled` (or any exception once a cancel signal
arrived) -> `cancelled`, `Cancelled(signum)` is raised (exit code 128+signum: 130 for SIGINT, 143
for SIGTERM). Whenever the job does not succeed the paths given as `partial` are removed.

Background mode re-executes `sys.executable -m cli_recover` with the original command line, which
is taken from `args._argv` when a caller set it, else from `sys.argv[1:]`, minus `--background`,
plus `--job-id ID`. The module re-executed is `args._reexec_module` when set (test drivers and
other entry points use this), else `cli_recover`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cli_recover import config
from cli_recover.engine import proc
from cli_recover.engine.model import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    describe_target,
    iso,
    redact,
    redact_argv,
    redact_text,
)
from cli_recover.engine.store import JobStore, remove_paths
from cli_recover.errors import Cancelled, RecoverError
from cli_recover.fsutil import open_append, replace_file

__all__ = ["JobSpec", "JobHandle", "add_job_arguments", "run_as_job", "redact", "redact_argv",
           "START_TIMEOUT", "PROGRESS_INTERVAL"]

START_TIMEOUT = float(os.environ.get("CLI_RECOVER_START_TIMEOUT", "15"))  # seconds to wait for a child
PROGRESS_INTERVAL = 1.0  # seconds between progress writes to the record
_MAX_WARNINGS_KEPT = 20


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--background", action="store_true",
                        help="run as a background job: detach, print the job id and return at once "
                        "(follow it with `cli-recover status ID` / `cli-recover logs ID -f`)")
    parser.add_argument("--job-id", dest="job_id", default=None, help=argparse.SUPPRESS)


@dataclass
class JobSpec:
    kind: str
    provider: str | None
    target: dict
    options: dict = field(default_factory=dict)
    schedule: str | None = None


class JobHandle:
    """What `work` gets: the job's id, cancellation, progress, paths and log."""

    def __init__(self, store: JobStore, record: dict):
        self._store = store
        self.record = record
        self.id: str = record["id"]
        self.cancel_event = threading.Event()
        self.signum: int | None = None
        self._hooks: list[Callable[[], object]] = []
        self._hooks_called = False
        self._lock = threading.Lock()  # guards record writes
        self._log_lock = threading.Lock()
        self._secrets: list[str] = []
        self._log_file = None
        # progress state
        self._done = 0
        self._total: int | None = None
        self._phase = ""
        self._last_write = 0.0
        self._last_done = 0
        self._last_t = time.monotonic()
        self._rate: float | None = None

    # --- cancellation ------------------------------------------------------------------------

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def on_cancel(self, fn: Callable[[], object]) -> None:
        """Register a hook that stops the producer; called once, from the signal handler.

        A hook registered after the cancel arrived is called at once."""
        self._hooks.append(fn)
        if self.cancel_event.is_set():
            self._call_hook(fn)

    @staticmethod
    def _call_hook(fn) -> None:
        try:
            fn()
        except Exception:  # noqa: BLE001 - a failing hook must not mask the cancel
            pass

    def cancel(self, signum: int = signal.SIGTERM) -> None:
        """Request cancellation (what SIGINT/SIGTERM do): set the event, call the hooks once."""
        if self.cancel_event.is_set():
            return
        self.signum = signum
        self.cancel_event.set()
        if not self._hooks_called:
            self._hooks_called = True
            for fn in list(self._hooks):
                self._call_hook(fn)

    def check_cancelled(self) -> None:
        """Raise Cancelled(signum) when a cancel was requested."""
        if self.cancel_event.is_set():
            raise Cancelled(self.signum or signal.SIGTERM)

    # --- progress ----------------------------------------------------------------------------

    def progress(self, done: int, total: int | None = None, phase: str = "") -> None:
        """Report bytes done (and the total estimate when known). Cheap; writes ~once a second."""
        self._done = done
        if total is not None:
            self._total = total
        phase_changed = bool(phase) and phase != self._phase
        if phase:
            self._phase = phase
        now = time.monotonic()
        elapsed = now - self._last_write
        if elapsed >= PROGRESS_INTERVAL or (phase_changed and elapsed >= 0.1):
            self._flush_progress(now)

    def _progress_fields(self, now: float) -> dict:
        dt = now - self._last_t
        if dt > 0.05:
            inst = max(0.0, (self._done - self._last_done) / dt)
            self._rate = inst if self._rate is None else 0.6 * self._rate + 0.4 * inst
            self._last_done, self._last_t = self._done, now
        eta = None
        if self._total and self._rate and self._rate > 0:
            eta = max(0.0, (self._total - self._done) / self._rate)
        return {"done": self._done, "total": self._total,
                "rate": round(self._rate, 1) if self._rate is not None else None,
                "eta": round(eta, 1) if eta is not None else None, "phase": self._phase}

    def _flush_progress(self, now: float | None = None) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is writing right now; the next call will catch up
        try:
            now = time.monotonic() if now is None else now
            self._last_write = now
            self.record["progress"] = self._progress_fields(now)
            self._save(durable=False)
        finally:
            self._lock.release()

    # --- paths, log, warnings ----------------------------------------------------------------

    def set_paths(self, archive: str | os.PathLike | None = None, manifest: str | os.PathLike | None = None,
                  partial: list | tuple | None = None) -> None:
        """Record the outputs. `partial`: every file to remove if the job does not succeed (also
        after a kill -9, by whoever next loads the history). Written to the record at once."""
        with self._lock:
            if archive is not None:
                self.record["archive"] = os.path.abspath(archive)
            if manifest is not None:
                self.record["manifest"] = os.path.abspath(manifest)
            if partial is not None:
                self.record["partial"] = [os.path.abspath(p) for p in partial]
            self._save()

    def add_secret(self, value: str | None) -> None:
        """A value (password, key...) to mask wherever it would appear in the log."""
        if value and len(value) >= 3:
            self._secrets.append(value)

    def log(self, line: str) -> None:
        """Append a timestamped line to the job's log (secrets masked)."""
        text = redact_text(str(line).rstrip("\n"), self._secrets)
        stamp = iso()
        data = "".join(f"{stamp} {part}\n" for part in text.split("\n"))
        with self._log_lock:
            try:
                if self._log_file is None:
                    path = Path(self.record["log"])
                    config.ensure_dir(path.parent)
                    self._log_file = open_append(path, buffering=1, encoding="utf-8",
                                                 errors="backslashreplace")  # a non-UTF-8 file name
                self._log_file.write(data)
            except OSError:
                pass

    def warn(self, line: str) -> None:
        """A warning: logged and counted in the record (the last few kept in `warning_messages`)."""
        self.log(f"WARNING: {line}")
        with self._lock:
            self.record["warnings"] = int(self.record.get("warnings") or 0) + 1
            kept = list(self.record.get("warning_messages") or [])
            kept.append(redact_text(str(line), self._secrets)[:500])
            self.record["warning_messages"] = kept[-_MAX_WARNINGS_KEPT:]

    def _close_log(self) -> None:
        with self._log_lock:
            if self._log_file is not None:
                with contextlib.suppress(OSError):
                    self._log_file.close()
                self._log_file = None

    def _save(self, durable: bool = True) -> None:
        self._store.save(self.record, durable=durable)


# --- running ---------------------------------------------------------------------------------


def _original_argv(args) -> list[str]:
    argv = getattr(args, "_argv", None)
    return list(argv) if argv is not None else list(sys.argv[1:])


def _child_argv(argv: list[str], job_id: str) -> list[str]:
    """argv minus --background (or an abbreviation argparse accepted), plus --job-id ID."""
    out: list[str] = []
    rest: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--":
            rest = argv[i:]
            break
        if arg.startswith("--b") and "--background".startswith(arg):
            continue
        out.append(arg)
    return out + ["--job-id", job_id] + rest


def _package_root() -> str:
    import cli_recover

    return str(Path(cli_recover.__file__).resolve().parent.parent)


def run_as_job(args, spec: JobSpec, work: Callable[[JobHandle], dict]) -> tuple[int, dict | None]:
    """Run `work` as a job (see the module docstring). Progress display is the caller's: the handle
    only records progress (the CLI draws it with cli.progress.ProgressLine)."""
    store = JobStore()
    job_id = getattr(args, "job_id", None)
    if getattr(args, "background", False) and not job_id:
        return _launch_background(store, args, spec)
    argv = _original_argv(args)
    # Signals that arrive while the record is being created wait (blocked) for the handlers below.
    blocked = _block_signals()
    try:
        if job_id:
            record = _adopt(store, job_id)
        else:
            record = store.create(kind=spec.kind, provider=spec.provider, target=spec.target,
                                  options=spec.options, schedule=spec.schedule, argv=argv)
            record.update(state=RUNNING, started=iso(), **proc.identity())
            record["progress"]["phase"] = "starting"
            _write_pid_file(store, record)
            store.save(record)
        handle = JobHandle(store, record)
        previous = _install_signal_handlers(handle)
    finally:
        _unblock_signals(blocked)
    handle.log(f"job {record['id']} started: {spec.kind} {spec.provider or ''} {describe_target(record['target'])}"
               f" (pid {os.getpid()})")
    handle.log(f"command: cli-recover {' '.join(redact_argv(argv))}")
    if record.get("options"):
        handle.log(f"options: {record['options']}")

    try:
        try:
            result = work(handle)
        except BaseException as exc:  # noqa: BLE001 - every outcome is recorded
            error = _finish_error(handle, exc)
            if error is exc:
                raise
            raise error from None
        result = {} if result is None else result
        handle.log(f"succeeded: {redact(result)}")  # the log is complete before the record says so
        _finish(handle, SUCCEEDED, exit_code=0, result=redact(result))
        return 0, {**result, "job_id": handle.id}
    finally:
        handle._close_log()
        _restore_signal_handlers(previous)


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _adopt(store: JobStore, job_id: str) -> dict:
    """The detached child takes over the queued record its parent created."""
    with store.lock():
        record = store.read(job_id)
        if record.get("state") != QUEUED:
            raise RecoverError(f"job {job_id} is {record.get('state')}, not queued: nothing to run")
        record.update(state=RUNNING, started=iso(), **proc.identity())
        record["progress"]["phase"] = "starting"
        _write_pid_file(store, record)
        store.write(record)
    return record


def _write_pid_file(store: JobStore, record: dict) -> None:
    """The classic PID file (`run/<id>.pid`) for tools that want one; removed when the job ends."""
    path = store.pid_path(record["id"])
    try:
        config.ensure_dir(path.parent)
        replace_file(path, f"{os.getpid()}\n".encode(), durable=False)
        record["pid_file"] = str(path)
    except OSError:
        record["pid_file"] = None


def _finish(handle: JobHandle, state: str, *, exit_code: int | None, error: str | None = None,
            result: dict | None = None) -> None:
    with handle._lock:
        rec = handle.record
        if rec.get("progress") is not None and state == SUCCEEDED:
            p = handle._progress_fields(time.monotonic())
            p["phase"] = "done"
            p["eta"] = None
            rec["progress"] = p
        elif rec.get("progress") is not None:
            rec["progress"] = handle._progress_fields(time.monotonic())
        rec["state"] = state
        rec["exit_code"] = exit_code
        rec["error"] = error
        rec["result"] = result
        rec["finished"] = iso()
        if state != SUCCEEDED:
            removed = remove_paths(rec.get("partial"))
            if removed:
                rec["removed_partial"] = removed
        remove_paths([rec.get("pid_file")])  # gone before the record says the job ended
        handle._save()


def _finish_error(handle: JobHandle, exc: BaseException) -> BaseException:
    """Record a failed or cancelled job; return the exception the caller should raise."""
    if isinstance(exc, Cancelled) or handle.cancel_event.is_set() or isinstance(exc, KeyboardInterrupt):
        if isinstance(exc, Cancelled):
            err = exc
        else:
            err = Cancelled(handle.signum or signal.SIGINT)
            if not isinstance(exc, KeyboardInterrupt):
                handle.log(f"after the cancel: {type(exc).__name__}: {exc}")
        message = str(err)
        _finish(handle, CANCELLED, exit_code=err.exit_code, error=message)
        removed = handle.record.get("removed_partial")
        handle.log(f"cancelled: {message}" + (f"; removed partial output: {', '.join(removed)}" if removed else ""))
        return err
    if isinstance(exc, RecoverError):
        message = _one_line(str(exc)) or type(exc).__name__
        handle.log(f"failed: {message}")
        _finish(handle, FAILED, exit_code=exc.exit_code, error=message)
        return exc
    message = _one_line(f"{type(exc).__name__}: {exc}")
    import traceback

    tb = "".join(traceback.format_exception(exc))
    handle.log(f"failed: {message}\n{tb.rstrip()}")
    _finish(handle, FAILED, exit_code=1, error=message)
    if not isinstance(exc, Exception):
        return exc  # SystemExit and friends keep their meaning
    return RecoverError(f"{message} (job {handle.id}; traceback in {handle.record['log']})")


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if len(lines) <= 1 else lines[0] + " ..."


_CANCEL_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _block_signals() -> set | None:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, _CANCEL_SIGNALS)


def _unblock_signals(previous: set | None) -> None:
    if previous is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _install_signal_handlers(handle: JobHandle) -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum, _frame):
        handle.cancel(signum)

    previous = {}
    for sig in _CANCEL_SIGNALS:
        try:
            current = signal.getsignal(sig)
            if sig == signal.SIGHUP and current == signal.SIG_IGN:
                continue  # nohup: keep ignoring hangups
            previous[sig] = current
            signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    return previous


def _restore_signal_handlers(previous: dict) -> None:
    for sig, h in previous.items():
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(sig, h if h is not None else signal.SIG_DFL)


# --- background ------------------------------------------------------------------------------


def _launch_background(store: JobStore, args, spec: JobSpec) -> tuple[int, None]:
    import subprocess

    argv = _original_argv(args)
    record = store.create(kind=spec.kind, provider=spec.provider, target=spec.target, options=spec.options,
                          schedule=spec.schedule, argv=argv)
    job_id = record["id"]
    child_argv = _child_argv(argv, job_id)
    log_path = Path(record["log"])
    config.ensure_dir(log_path.parent)
    env = dict(os.environ)
    root = _package_root()
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with open_append(log_path, encoding="utf-8", errors="backslashreplace") as logf:
        logf.write(f"{iso()} launching background job {job_id}: cli-recover {' '.join(redact_argv(argv))}\n")
        logf.flush()
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", getattr(args, "_reexec_module", None) or "cli_recover", *child_argv],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env,
                start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            _fail_queued(store, job_id, f"could not start the background process: {exc}")
            raise RecoverError(f"could not start background job {job_id}: {exc}") from None
    threading.Thread(target=child.wait, name=f"reap-{job_id}", daemon=True).start()

    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.005
    while True:
        try:
            rec = store.read(job_id)
        except RecoverError:
            rec = {}
        if rec.get("pid") == child.pid and rec.get("state") != QUEUED:
            break
        status = child.poll()
        if status is not None:
            rec = store.read(job_id)
            if rec.get("pid") == child.pid and rec.get("state") != QUEUED:
                break
            reason = f"the background process exited with status {status} before it started"
            _fail_queued(store, job_id, reason)
            raise RecoverError(f"background job {job_id} failed to start: {reason} (see {log_path})")
        if time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
            reason = f"the background process did not start within {START_TIMEOUT:g}s"
            _fail_queued(store, job_id, reason)
            raise RecoverError(f"background job {job_id} failed to start: {reason} (see {log_path})")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)

    if _isatty(sys.stderr):
        print(f"started background job {job_id} (pid {child.pid}); follow it with: "
              f"cli-recover status {job_id} --watch", file=sys.stderr)
    print(job_id, flush=True)
    return 0, None


def _fail_queued(store: JobStore, job_id: str, reason: str) -> None:
    with store.lock():
        try:
            rec = store.read(job_id)
        except RecoverError:
            return
        if rec.get("state") != QUEUED:
            return
        rec.update(state=FAILED, error=reason, finished=iso(), exit_code=None)
        store.write(rec)
    store._append_log(rec, f"failed: {reason}")
