"""Schedules: cron expressions, their stored definitions and state, retention and notifications.

A schedule is one JSON file, `$CLI_RECOVER_HOME/schedules/<name>.json` (mode 0600: webhook URLs may
carry tokens), replaced atomically; every read-modify-write holds an flock on `schedules/.lock`, so
the CLI (pause, resume, run) and the scheduler (its `state`) never overwrite each other::

    {"v": 1, "name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Berlin",
     "backup": ["backup", "filesystem", "--local", "/srv/data"],
     "keep": {"last": 3, "daily": 7, "weekly": 4}, "notify": ["https://..."], "notify_on": "failure",
     "paused": false, "created": "...Z", "updated": "...Z",
     "job": {"provider": "filesystem", "target": {...}, "options": {...}},  # for the job record, from add
     "state": {"anchor": "...Z", "last_scheduled": "...Z", "pending": ["<job id>"], "last_job": "...",
               "last_result": {...}, "runs": 0, "skipped": 0, "skips": [...], "archives": [...],
               "retention": {...}}}

Cron: five fields (minute hour day-of-month month day-of-week) or a macro (@hourly, @daily, ...),
computed by croniter in the schedule's time zone with aware datetimes. On the autumn DST change a
wall time that happens twice fires once for a fixed-hour expression (like Vixie cron) and every
real hour for an hour-wildcard one; a wall time skipped in spring fires at the first instant after
the gap. `CLI_RECOVER_CRON_SECONDS=1` (a test hook) also accepts a sixth field: seconds.

Nothing here imports textual or kubernetes; croniter is imported when a cron is computed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cli_recover import config
from cli_recover.engine.model import REDACTED, iso, parse_iso, redact_argv
from cli_recover.errors import RecoverError, UsageError
from cli_recover.fsutil import replace_file

SCHEMA = 1
ENV_CRON_SECONDS = "CLI_RECOVER_CRON_SECONDS"
NAME_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
NAME_MAX = 40  # "cli-recover-" + name must fit a CronJob name (52)
NOTIFY_ON = ("failure", "always")
MAX_SKIPS_KEPT = 20
MAX_ARCHIVES_KEPT = 1000

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week", "second")
FIELD_HINTS = ("0-59", "0-23", "1-31 or L", "1-12 or jan-dec", "0-7 or sun-sat (0 and 7 are Sunday)", "0-59")


class ScheduleNotFound(RecoverError):
    """No schedule has this name."""


# --- cron -------------------------------------------------------------------------------------


def seconds_enabled() -> bool:
    return os.environ.get(ENV_CRON_SECONDS, "").strip().lower() in ("1", "true", "yes", "on")


def expand(expr: str) -> str:
    """The field form of an expression (macros expanded), single spaces."""
    text = " ".join(expr.split())
    return MACROS.get(text.lower(), text)


def validate_cron(expr: str, *, allow_seconds: bool | None = None) -> str:
    """The normalized expression, or a one-line UsageError naming the bad field."""
    from croniter import CroniterBadDateError, CroniterError, croniter

    text = " ".join((expr or "").split())
    if not text:
        raise UsageError("empty cron expression: give five fields (minute hour day-of-month month day-of-week)")
    if text.startswith("@"):
        if text.lower() in MACROS:
            return text.lower()
        raise UsageError(f"unknown cron macro {text!r}: use one of {', '.join(MACROS)}")
    fields = text.split(" ")
    allow_seconds = seconds_enabled() if allow_seconds is None else allow_seconds
    if len(fields) != 5 and not (allow_seconds and len(fields) == 6):
        raise UsageError(f"cron expression {text!r} has {len(fields)} field{'s' if len(fields) != 1 else ''}; "
                         "expected 5: minute hour day-of-month month day-of-week")
    for i, value in enumerate(fields):
        name, hint = FIELD_NAMES[i], FIELD_HINTS[i]
        for part in value.lower().split(","):
            base = part.split("/", 1)[0]
            if base in ("h", "r") or base.startswith("h("):
                raise UsageError(f"bad {name} field {value!r} in {text!r}: hashed (H) and random (R) "
                                 "values are not supported")
        probe = ["*"] * len(fields)
        probe[i] = value
        try:
            croniter(" ".join(probe))
        except (CroniterError, ValueError, KeyError, IndexError) as exc:
            detail = f" ({_croniter_reason(exc)})" if _croniter_reason(exc) else ""
            raise UsageError(f"bad {name} field {value!r} in {text!r}: allowed {hint}{detail}") from None
    try:
        croniter(text, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError:
        raise UsageError(f"cron expression {text!r} never matches a date "
                         "(day-of-month and month never meet, e.g. 30 February)") from None
    except (CroniterError, ValueError, KeyError, IndexError) as exc:
        raise UsageError(f"bad cron expression {text!r}: {_croniter_reason(exc) or exc}") from None
    return text


def _croniter_reason(exc: BaseException) -> str:
    text = str(exc)
    if "step" in text:
        return "bad step"
    if "out of range" in text:
        return "out of range"
    return ""


def validate_timezone(name: str | None) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    value = (name or "").strip()
    if not value:
        raise UsageError("empty time zone: use an IANA name such as Europe/Berlin or UTC")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise UsageError(f"unknown time zone {value!r}: use an IANA name such as Europe/Berlin, "
                         "America/New_York or UTC") from None
    return value


def local_timezone() -> str:
    """This host's IANA time zone name ($TZ, else /etc/localtime, else /etc/timezone), else UTC."""
    from zoneinfo import ZoneInfo

    candidates = []
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        candidates.append(env)
    with contextlib.suppress(OSError):
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text().strip())
    for c in candidates:
        try:
            ZoneInfo(c)
            return c
        except Exception:  # noqa: BLE001 - try the next source
            continue
    return "UTC"


def _repeats_once(expr: str) -> bool:
    """True when the hour field is fixed: a repeated wall time (autumn DST) fires only once."""
    fields = expand(expr).split(" ")
    return not fields[1].startswith("*")


def iter_runs(expr: str, tz: str, after: float) -> Iterator[datetime]:
    """Fire times strictly after `after` (epoch seconds), aware, in zone `tz`, for ever."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    zone = ZoneInfo(tz)
    once = _repeats_once(expr)
    it = croniter(expand(expr), datetime.fromtimestamp(after, zone))
    while True:
        d = it.get_next(datetime)
        if d.timestamp() <= after:
            continue
        if once and d.fold == 1 and d.replace(fold=0).utcoffset() != d.utcoffset():
            continue  # the second occurrence of a repeated wall time
        yield d


def next_runs(expr: str, tz: str, after: float, count: int = 5) -> list[datetime]:
    """The next `count` fire times strictly after `after` (epoch seconds), aware, in zone `tz`."""
    out: list[datetime] = []
    if count <= 0:
        return out
    for d in iter_runs(expr, tz, after):
        out.append(d)
        if len(out) >= count:
            break
    return out


def next_run(expr: str, tz: str, after: float) -> float | None:
    runs = next_runs(expr, tz, after, 1)
    return runs[0].timestamp() if runs else None


def latest_run(expr: str, tz: str, start: float, now: float, limit: int = 1000) -> tuple[float | None, int]:
    """(the latest fire time in (start, now], how many fire times fall in that interval; counting stops
    at `limit`, the latest is then found backwards from now)."""
    latest, count = None, 0
    for d in iter_runs(expr, tz, start):
        t = d.timestamp()
        if t > now:
            return latest, count
        latest, count = t, count + 1
        if count >= limit:
            break
    from zoneinfo import ZoneInfo

    from croniter import croniter

    back = croniter(expand(expr), datetime.fromtimestamp(now, ZoneInfo(tz))).get_prev(datetime).timestamp()
    return max(back, latest or back), count


def upcoming(schedule: dict, now: float, count: int = 1) -> tuple[list[datetime], str | None]:
    """(the schedule's next runs, None) or ([], a one-line problem) for a hand-edited file whose
    expression or time zone is broken. Paused schedules have no next runs."""
    if schedule.get("paused"):
        return [], None
    try:
        cron = validate_cron(schedule.get("cron") or "", allow_seconds=True)
        tz = validate_timezone(schedule.get("timezone") or "UTC")
        return next_runs(cron, tz, now, count), None
    except RecoverError as exc:
        return [], str(exc)
    except Exception as exc:  # noqa: BLE001 - whatever croniter makes of it
        return [], f"bad cron expression {schedule.get('cron')!r}: {exc}"


def format_time(ts: float | None, tz: str) -> str:
    """'2026-03-29 03:00 CEST' in the schedule's zone ('-' for None)."""
    if ts is None:
        return "-"
    from zoneinfo import ZoneInfo

    d = datetime.fromtimestamp(ts, ZoneInfo(tz))
    fmt = "%Y-%m-%d %H:%M:%S %Z" if d.second else "%Y-%m-%d %H:%M %Z"
    return d.strftime(fmt)


# --- describing -------------------------------------------------------------------------------

_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("", "January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_DAY_ALIASES = {d[:3].lower(): i for i, d in enumerate(_DAYS[:7])}
_MONTH_ALIASES = {m[:3].lower(): i for i, m in enumerate(_MONTHS) if m}


def _num(value: str, aliases: dict | None = None) -> int | None:
    v = value.lower()
    if aliases and v in aliases:
        return aliases[v]
    return int(v) if v.isdigit() else None


def _list_of(value: str, aliases: dict | None = None) -> list[int] | None:
    out = []
    for part in value.split(","):
        n = _num(part, aliases)
        if n is None:
            return None
        out.append(n)
    return out


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _days_text(dow: str) -> str | None:
    v = dow.lower()
    m = re.fullmatch(r"(\w+)-(\w+)", v)
    if m:
        a, b = _num(m[1], _DAY_ALIASES), _num(m[2], _DAY_ALIASES)
        if a is not None and b is not None and a <= 7 and b <= 7:
            if (a, b) == (1, 5):
                return "on weekdays"
            return f"{_DAYS[a]} to {_DAYS[b]}"
        return None
    m = re.fullmatch(r"(\w+)#([1-5])", v)
    if m:
        a = _num(m[1], _DAY_ALIASES)
        return f"on the {_ordinal(int(m[2]))} {_DAYS[a]} of the month" if a is not None and a <= 7 else None
    days = _list_of(v, _DAY_ALIASES)
    if days is None or any(d > 7 for d in days):
        return None
    if sorted(set(d % 7 for d in days)) == [0, 6]:
        return "on weekends"
    if len(days) == 1:
        return f"weekly on {_DAYS[days[0]]}"
    return "on " + _join([_DAYS[d] for d in days])


def describe(expr: str) -> str:
    """A short English description of the common cron forms; the fields spelled out otherwise."""
    text = " ".join(expr.split())
    fields = expand(text).split(" ")
    seconds = None
    if len(fields) == 6:
        seconds, fields = fields[5], fields[:5]
    if len(fields) != 5:
        return text
    minute, hour, dom, month, dow = (f.lower() for f in fields)
    if seconds is not None:
        if [minute, hour, dom, month, dow] == ["*"] * 5:
            if seconds == "*":
                return "every second"
            m = re.fullmatch(r"\*/(\d+)", seconds)
            if m:
                return f"every {m[1]} seconds"
        return _spelled(fields + [seconds])
    if dom == "?":
        dom = "*"
    if dow == "?":
        dow = "*"
    minutes = _list_of(minute)
    hours = _list_of(hour)
    step_m = re.fullmatch(r"\*/(\d+)", minute)
    step_h = re.fullmatch(r"\*/(\d+)", hour)
    # the time of day part
    when: str | None = None
    if minute == "*" and hour == "*":
        when = "every minute"
    elif step_m and hour == "*":
        when = f"every {step_m[1]} minutes"
    elif minutes is not None and hour == "*":
        when = "every hour at " + _join([f":{m:02d}" for m in minutes])
    elif minutes is not None and len(minutes) == 1 and step_h:
        when = f"every {step_h[1]} hours at :{minutes[0]:02d}"
    elif minutes is not None and hours is not None and len(minutes) * len(hours) <= 6:
        when = "at " + _join([f"{h:02d}:{m:02d}" for h in hours for m in minutes])
    elif minute == "*" and hours is not None:
        when = "every minute during hour " + _join([f"{h:02d}" for h in hours])
    if when is None:
        return _spelled(fields)
    # the date part
    date: str | None = None
    if dom == "*" and month == "*" and dow == "*":
        date = "daily" if when.startswith("at ") else ""
    elif dom == "*" and month == "*":
        date = _days_text(dow)
    elif month == "*" and dow == "*":
        if dom == "l":
            date = "monthly on the last day"
        else:
            days = _list_of(dom)
            if days is not None:
                date = "monthly on the " + _join([_ordinal(d) for d in days])
    elif dow == "*":
        months = _list_of(month, _MONTH_ALIASES)
        days = _list_of(dom) if dom != "*" else None
        if months is not None and all(1 <= m <= 12 for m in months):
            names = _join([_MONTHS[m] for m in months])
            if dom == "*":
                date = f"every day in {names}"
            elif days is not None and len(months) == 1:
                date = ("yearly on " if len(days) == 1 else "on ") + _join([f"{names} {d}" for d in days])
            elif days is not None:
                date = f"on the {_join([_ordinal(d) for d in days])} of {names}"
    if date is None:
        return _spelled(fields)
    if date == "daily" and not when.startswith("at "):
        return when
    if not date:
        return when
    if date.startswith(("on weekdays", "on weekends")) and when.startswith("at "):
        return f"{when} {date}"
    if date.startswith("weekly") and not when.startswith("at "):
        return f"{when} on {date.removeprefix('weekly on ')}s"
    first = ("daily", "weekly", "monthly", "yearly", "every day")
    return f"{date} {when}" if date.startswith(first) else f"{when} {date}"


def _spelled(fields: list[str]) -> str:
    parts = [f"{FIELD_NAMES[i]} {v}" for i, v in enumerate(fields) if v not in ("*", "?")]
    return "cron: " + (", ".join(parts) if parts else "every minute")


# --- the schedule files -----------------------------------------------------------------------


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
    if not isinstance(data, dict) or not data.get("name") or not data.get("cron"):
        raise RecoverError(f"schedule file {path} is not a cli-recover schedule")
    problem = _shape_problem(data)
    if problem:
        raise RecoverError(f"schedule file {path} is not a cli-recover schedule: {problem}")
    data.setdefault("state", {})
    return data


# What a hand-edited file must keep: each key absent, null or of this type; lists hold these items.
_SHAPE = {"name": str, "cron": str, "timezone": str, "backup": list, "keep": dict, "notify": list,
          "notify_on": str, "paused": bool, "job": dict, "state": dict}
_STATE_SHAPE = {"anchor": str, "last_scheduled": str, "pending": list, "last_job": str, "last_result": dict,
                "runs": int, "skipped": int, "skips": list, "archives": list, "retention": dict}
_KIND_NAMES = {str: "a string", int: "a whole number", bool: "true or false", list: "a list", dict: "an object"}
_ITEMS = {"backup": str, "notify": str, "pending": str, "skips": dict, "archives": dict}


def _shape_problem(data: dict) -> str | None:
    if not isinstance(data.get("backup"), list) or not data["backup"]:
        return "'backup' must be the list of backup arguments"
    for shape, where, prefix in ((_SHAPE, data, ""), (_STATE_SHAPE, data.get("state") or {}, "state.")):
        for key, kind in shape.items():
            value = where.get(key)
            if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
                return f"'{prefix}{key}' must be {_KIND_NAMES[kind]}"
            item = _ITEMS.get(key)
            if item and value and not all(isinstance(v, item) for v in value):
                return f"'{prefix}{key}' must hold only {'objects' if item is dict else 'strings'}"
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (data.get("keep") or {}).values()):
        return "'keep' values must be whole numbers"
    return None


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
    return {
        "v": SCHEMA, "name": name, "cron": cron, "timezone": timezone, "backup": list(backup),
        "keep": {k: int(v) for k, v in (keep or {}).items() if v},
        "notify": list(notify or []), "notify_on": notify_on, "paused": False,
        "created": stamp, "updated": stamp,
        "state": {"anchor": stamp, "last_scheduled": None, "pending": [], "last_job": None, "last_result": None,
                  "runs": 0, "skipped": 0, "skips": [], "archives": [], "retention": None},
    }


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


# --- display ----------------------------------------------------------------------------------

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")


def is_webhook(target: str) -> bool:
    return target.lower().startswith(("http://", "https://"))


def redact_url(url: str) -> str:
    """scheme://host[:port]/*** : webhook paths and queries often are the token."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    tail = "/" + REDACTED if (parts.path.strip("/") or parts.query or parts.fragment) else ""
    return f"{parts.scheme}://{host}{port}{tail}"


def redact_notify(target: str) -> str:
    """A notify target as list/show print it: no URL paths, no values of secret-looking options."""
    if is_webhook(target):
        return redact_url(target)
    try:
        words = shlex.split(target)
    except ValueError:
        words = target.split()
    words = redact_argv(words)
    return _URL.sub(lambda m: redact_url(m.group(0)), shlex.join(words))


def public_view(schedule: dict) -> dict:
    """The schedule as printed (JSON/YAML/text): secrets redacted."""
    out = json.loads(json.dumps(schedule))
    out["notify"] = [redact_notify(t) for t in schedule.get("notify") or []]
    out["backup"] = redact_argv(list(schedule.get("backup") or []))
    return out


# --- retention --------------------------------------------------------------------------------


@dataclass
class ArchiveRef:
    path: str
    created: float  # epoch seconds
    job: str | None = None
    reasons: list[str] = field(default_factory=list)


def retention_plan(archives: list[ArchiveRef], *, keep_last: int = 0, keep_daily: int = 0, keep_weekly: int = 0,
                   tz: str = "UTC", now: float | None = None) -> tuple[list[ArchiveRef], list[ArchiveRef]]:
    """restic-style `forget --keep-*`: (kept, removed), newest first. Pure: `now` is the clock.

    keep-last N keeps the N newest; keep-daily N keeps the newest archive of each of the N most
    recent days (in zone `tz`) that have one; keep-weekly N the same for ISO weeks. The newest
    archive is always kept, and so is one dated after `now` (a clock that went back). With no
    keep-* at all nothing is removed."""
    from zoneinfo import ZoneInfo

    now = time.time() if now is None else now
    ordered = sorted(archives, key=lambda a: (a.created, a.path), reverse=True)
    for a in ordered:
        a.reasons = []
    if not (keep_last or keep_daily or keep_weekly):
        for a in ordered:
            a.reasons.append("no retention policy")
        return ordered, []
    zone = ZoneInfo(tz)
    if ordered:
        ordered[0].reasons.append("newest")
    for i, a in enumerate(ordered):
        if a.created > now:
            a.reasons.append("dated in the future")
        if i < keep_last:
            a.reasons.append(f"last {keep_last}")
    for count, key, label in ((keep_daily, lambda d: d.date().isoformat(), "daily"),
                              (keep_weekly, lambda d: f"{d.isocalendar()[0]:04d}-W{d.isocalendar()[1]:02d}", "weekly")):
        if not count:
            continue
        seen: list[str] = []
        for a in ordered:
            k = key(datetime.fromtimestamp(a.created, zone))
            if k in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(k)
            a.reasons.append(f"{label} {k}")
    kept = [a for a in ordered if a.reasons]
    removed = [a for a in ordered if not a.reasons]
    return kept, removed


def archive_refs(schedule: dict) -> list[ArchiveRef]:
    """The schedule's archives that still exist, dated by their manifest's `created` time."""
    from cli_recover.engine.cleanup import manifest_created

    out = []
    seen = set()
    for entry in (schedule.get("state") or {}).get("archives") or []:
        path = entry.get("path")
        if not path or path in seen or not os.path.exists(path):
            continue
        seen.add(path)
        created = manifest_created(path + ".manifest.json") or parse_iso(entry.get("created"))
        if created is None:
            with contextlib.suppress(OSError):
                created = os.stat(path).st_mtime
        out.append(ArchiveRef(path, created or 0.0, entry.get("job")))
    return out


def apply_retention(schedule: dict, *, now: float | None = None, log: Callable[[str], None] = lambda s: None
                    ) -> tuple[list[ArchiveRef], list[str]]:
    """Run the schedule's policy over its archives; returns (kept, removed paths). Never touches a file
    that belongs to a running job."""
    from cli_recover.engine.cleanup import protected_paths
    from cli_recover.engine.store import JobStore
    from cli_recover.storage import remove_archive_at

    keep = schedule.get("keep") or {}
    kept, doomed = retention_plan(archive_refs(schedule), keep_last=int(keep.get("last") or 0),
                                  keep_daily=int(keep.get("daily") or 0), keep_weekly=int(keep.get("weekly") or 0),
                                  tz=schedule.get("timezone") or "UTC", now=now)
    if not doomed:
        return kept, []
    store = JobStore()
    _ids, protected = protected_paths(store, store.summaries(prune=False))
    removed: list[str] = []
    for a in doomed:
        group = [a.path + ".manifest.json", a.path]  # the manifest first: never one without its archive
        if any(os.path.abspath(p) in protected for p in group):
            log(f"retention: kept {a.path}: it belongs to a running job")
            continue
        removed += remove_archive_at(a.path, log=lambda m: log(f"retention: {m}"))  # storage: manifest first
        log(f"retention: removed {a.path} (created {iso(a.created)}, job {a.job or '-'})")
    return kept, removed


# --- notifications ----------------------------------------------------------------------------

WEBHOOK_TIMEOUT = 10.0
COMMAND_TIMEOUT = 60.0


def notification_event(schedule: dict, rec: dict) -> dict:
    return {
        "schedule": schedule.get("name"), "job_id": rec.get("id"), "state": rec.get("state"),
        "error": rec.get("error"), "archive": rec.get("archive") if rec.get("state") == "succeeded" else None,
        "started": rec.get("started"), "finished": rec.get("finished"), "host": rec.get("host"),
        "log": rec.get("log"),
    }


def notification_text(event: dict) -> str:
    state = event.get("state") or "?"
    text = f"cli-recover: scheduled backup {event.get('schedule')!r} {state}"
    if event.get("error"):
        text += f": {event['error']}"
    if event.get("archive"):
        text += f" -> {event['archive']}"
    if event.get("job_id"):
        text += f" (job {event['job_id']}"
        text += f" on {event['host']})" if event.get("host") else ")"
    return text


def wants_notification(schedule: dict, state: str | None) -> bool:
    if not schedule.get("notify"):
        return False
    return schedule.get("notify_on") == "always" or state != "succeeded"


def send_notification(target: str, event: dict) -> str:
    """Deliver one notification; returns a short description. Raises RecoverError on failure."""
    body = {"text": notification_text(event), **event}
    if is_webhook(target):
        import urllib.error
        import urllib.request

        from cli_recover import __version__

        data = json.dumps(body).encode()
        req = urllib.request.Request(target, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"cli-recover/{__version__}"})
        try:
            with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT) as resp:  # noqa: S310 - the user's URL
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise RecoverError(f"webhook {redact_url(target)} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RecoverError(f"webhook {redact_url(target)} failed: {reason}") from None
        return f"webhook {redact_url(target)}: HTTP {status}"
    import subprocess

    env = dict(os.environ)
    env.update({
        "CLI_RECOVER_JOB_ID": event.get("job_id") or "", "CLI_RECOVER_JOB_STATE": event.get("state") or "",
        "CLI_RECOVER_SCHEDULE": event.get("schedule") or "", "CLI_RECOVER_JOB_ERROR": event.get("error") or "",
        "CLI_RECOVER_ARCHIVE": event.get("archive") or "", "CLI_RECOVER_JOB_LOG": event.get("log") or "",
        "CLI_RECOVER_MESSAGE": body["text"],
    })
    try:
        proc = subprocess.run(["/bin/sh", "-c", target], input=json.dumps(body).encode(), env=env,
                              capture_output=True, timeout=COMMAND_TIMEOUT, close_fds=True)
    except subprocess.TimeoutExpired:
        raise RecoverError(f"command {redact_notify(target)} did not finish within {COMMAND_TIMEOUT:g}s") from None
    except OSError as exc:
        raise RecoverError(f"command {redact_notify(target)} could not start: {exc.strerror}") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RecoverError(f"command {redact_notify(target)} exited with {proc.returncode}"
                           + (f": {err[-1][:200]}" if err else ""))
    return f"command {redact_notify(target)}: ok"
