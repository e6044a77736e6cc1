"""Cron in words: a short English description of the common forms, the fields spelled out otherwise."""

from __future__ import annotations

import re

from cli_recover.engine.schedules.cron import FIELD_NAMES, expand

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
