"""The schedule files: one JSON file per schedule, `$CLI_RECOVER_HOME/schedules/<name>.json` (mode
0600: webhook URLs may carry tokens), replaced atomically; every read-modify-write holds an flock on
`schedules/.lock`, so the CLI (pause, resume, run) and the scheduler (its `state`) never overwrite
each other."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from cli_recover import config
from cli_recover.engine.model import iso
from cli_recover.engine.schedules.model import NewerSchema, Schedule, State
from cli_recover.errors import RecoverError, UsageError
from cli_recover.fsutil import replace_file

NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
NAME_MAX = 40  # "cli-recover-" + name must fit a CronJob name (52)
NOTIFY_ON = ("failure", "always")
MAX_SKIPS_KEPT = 20
MAX_ARCHIVES_KEPT = 1000


class ScheduleNotFound(RecoverError):
    """No schedule has this name."""


def schedules_dir() -> Path:
    return config.data_home() / "schedules"


def validate_name(name: str) -> str:
    value = (name or "").strip()
    if not NAME_RE.fullmatch(value) or len(value) > NAME_MAX:
        raise UsageError(f"bad schedule name {name!r}: use lower-case letters, digits and '-' "
                         f"(like a Kubernetes name), starting and ending with a letter or digit, "
                         f"at most {NAME_MAX} characters")
    return value


def schedule_path(name: str) -> Path:
    return schedules_dir() / f"{name}.json"


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """The flock every read-modify-write of a schedule file holds."""
    import fcntl

    directory = config.ensure_dir(schedules_dir())
    fd = os.open(directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def launch_lock(name: str) -> Iterator[None]:
    """Held from "is a run active?" to "the new run is recorded": `schedule run` and the scheduler
    never start the same schedule twice."""
    import fcntl

    directory = config.ensure_dir(schedules_dir())
    fd = os.open(directory / f".{name}.launch", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write(schedule: dict) -> None:
    try:
        schedule = Schedule.from_dict(schedule).to_dict()
    except ValueError as exc:  # a bug, never a hand edit: say what, never write it
        raise RecoverError(f"internal: schedule {schedule.get('name')!r} is not valid: {exc}") from None
    directory = config.ensure_dir(schedules_dir())
    data = json.dumps(schedule, indent=1, ensure_ascii=False).encode() + b"\n"
    replace_file(directory / f"{schedule['name']}.json", data)


def _read_path(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
    except FileNotFoundError:
        raise ScheduleNotFound(f"no schedule {path.stem!r} (see: cli-recover schedule list)") from None
    except (OSError, ValueError) as exc:
        raise RecoverError(f"schedule file {path} is unreadable: {exc}") from None
    try:
        return Schedule.from_dict(data).to_dict()
    except NewerSchema as exc:
        raise RecoverError(f"schedule file {path} was written by a newer cli-recover ({exc})") from None
    except ValueError as exc:
        raise RecoverError(f"schedule file {path} is not a cli-recover schedule"
                           + (f": {exc}" if str(exc) else "")) from None


def load(name: str) -> dict:
    path = schedule_path(name)
    if not NAME_RE.fullmatch(name or ""):
        raise ScheduleNotFound(f"no schedule {name!r} (see: cli-recover schedule list)")
    return _read_path(path)


def load_all(errors: list[str] | None = None) -> list[dict]:
    """Every schedule, by name. Unreadable files are skipped (and named in `errors`)."""
    directory = schedules_dir()
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        if n.startswith(".") or not n.endswith(".json"):
            continue
        try:
            out.append(_read_path(directory / n))
        except RecoverError as exc:
            if errors is not None:
                errors.append(str(exc))
    return out


def new_schedule(name: str, cron: str, timezone: str, backup: list[str], *, keep: dict | None = None,
                 notify: list[str] | None = None, notify_on: str = "failure", now: float | None = None) -> dict:
    stamp = iso(now)
    return Schedule(name=name, cron=cron, timezone=timezone, backup=list(backup),
                    keep={k: int(v) for k, v in (keep or {}).items() if v}, notify=list(notify or []),
                    notify_on=notify_on, created=stamp, updated=stamp, state=State(anchor=stamp)).to_dict()


def create(schedule: dict) -> None:
    with locked():
        if schedule_path(schedule["name"]).exists():
            raise UsageError(f"a schedule named {schedule['name']!r} already exists "
                             f"(remove it first: cli-recover schedule remove {schedule['name']})")
        _write(schedule)


def update(name: str, fn: Callable[[dict], object], *, missing_ok: bool = False) -> dict | None:
    """Re-read the schedule under the lock, apply fn(schedule) and write it back; returns it."""
    with locked():
        try:
            schedule = load(name)
        except ScheduleNotFound:
            if missing_ok:
                return None
            raise
        fn(schedule)
        schedule["updated"] = iso()
        _write(schedule)
        return schedule


def remove(name: str) -> dict:
    with locked():
        schedule = load(name)
        os.unlink(schedule_path(name))
        with contextlib.suppress(OSError):
            os.unlink(schedules_dir() / f".{name}.launch")
        return schedule


def pause(name: str) -> bool:
    """Pause the schedule; returns whether it already was."""
    was = {}

    def fn(s: dict) -> None:
        was["paused"] = bool(s.get("paused"))
        s["paused"] = True

    update(name, fn)
    return was["paused"]


def resume(name: str, now: float | None = None) -> tuple[bool, dict]:
    """Resume the schedule, counting runs from `now` on (runs missed while paused are not made up);
    returns (whether it was paused, the schedule)."""
    was = {}
    stamp = iso(now)

    def fn(s: dict) -> None:
        was["paused"] = bool(s.get("paused"))
        if s.get("paused"):
            s["paused"] = False
            st = s.setdefault("state", {})
            st["anchor"] = stamp
            st["last_scheduled"] = None

    schedule = update(name, fn)
    return was["paused"], schedule


EDITABLE = ("cron", "timezone", "backup", "job", "keep", "notify", "notify_on")


def edit(name: str, **fields) -> dict:
    """Change a schedule's definition (its state and history stay)."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise UsageError(f"cannot change {', '.join(sorted(unknown))} of a schedule")

    def fn(s: dict) -> None:
        for key, value in fields.items():
            if key == "keep":
                value = {k: int(v) for k, v in (value or {}).items() if v}
            s[key] = value

    return update(name, fn)


def record_skip(state: dict, scheduled: float | None, reason: str, now: float) -> None:
    state["skipped"] = int(state.get("skipped") or 0) + 1
    skips = list(state.get("skips") or [])
    skips.append({"at": iso(now), "scheduled": iso(scheduled) if scheduled else None, "reason": reason})
    state["skips"] = skips[-MAX_SKIPS_KEPT:]
