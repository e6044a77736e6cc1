"""Cron expressions: validation with one-line errors, time zones, fire times (croniter, imported lazily).

Five fields (minute hour day-of-month month day-of-week) or a macro (@hourly, @daily, ...),
computed by croniter in the schedule's time zone with aware datetimes. On the autumn DST change a
wall time that happens twice fires once for a fixed-hour expression (like Vixie cron) and every
real hour for an hour-wildcard one; a wall time skipped in spring fires at the first instant after
the gap. `CLI_RECOVER_CRON_SECONDS=1` (a test hook) also accepts a sixth field: seconds.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from cli_recover.errors import RecoverError, UsageError

ENV_CRON_SECONDS = "CLI_RECOVER_CRON_SECONDS"
MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week", "second")
FIELD_HINTS = ("0-59", "0-23", "1-31 or L", "1-12 or jan-dec", "0-7 or sun-sat (0 and 7 are Sunday)", "0-59")


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
