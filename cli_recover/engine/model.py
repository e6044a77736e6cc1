"""The job record and the small helpers around it: ids, timestamps, durations, redaction, sizes."""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime

from cli_recover.errors import UsageError
from cli_recover.units import human_bytes, human_duration  # noqa: F401 - re-exported

SCHEMA = 1
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE_STATES = (QUEUED, RUNNING)
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)
STATES = ACTIVE_STATES + FINAL_STATES

# --- ids --------------------------------------------------------------------------------------

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case: sorts like the numbers


def _b32(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_ALPHABET[n & 31])
        n >>= 5
    return "".join(reversed(out))


_last_id = (0, 0)


def new_job_id(now: float | None = None) -> str:
    """12 characters: 9 of milliseconds since the epoch (sortable until the year 3084) + 3 of a
    random number that counts up within one process when several ids share a millisecond.

    Within a process ids are strictly increasing; across processes a clash is unlikely and the
    store, which publishes a record with os.link (fails if the name exists), draws a new one.
    """
    global _last_id
    ms = int((time.time() if now is None else now) * 1000)
    last_ms, last_rand = _last_id
    if now is None and ms <= last_ms:
        ms, rand = last_ms, last_rand + 1
        if rand >= 1 << 15:
            ms, rand = ms + 1, 0
    else:
        rand = int.from_bytes(os.urandom(2), "big") >> 2  # 14 bits: room to count up
    if now is None:
        _last_id = (ms, rand)
    return _b32(ms, 9) + _b32(rand, 3)


def valid_job_id(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-z]{1,32}", value))


# --- time -------------------------------------------------------------------------------------


def iso(ts: float | None = None) -> str:
    """UTC timestamp as ISO 8601 with milliseconds and a Z."""
    ts = time.time() if ts is None else ts
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def parse_iso(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> float:
    """'7d', '12h', '30m', '2w', '45s', '1d12h', or '0' -> seconds. UsageError on anything else."""
    value = (text or "").strip().lower()
    if value == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not value or pos != len(value):
        raise UsageError(f"bad duration {text!r}: use a number and a unit s, m, h, d or w (e.g. 7d, 12h, 30m)")
    return total


# human_duration and human_bytes live in cli_recover.units (one for the whole project)


# --- redaction --------------------------------------------------------------------------------

REDACTED = "***"
_SECRET_WORDS = {"password", "passwd", "pass", "passphrase", "pwd", "secret", "token", "key", "credential",
                 "credentials", "auth", "apikey", "sessiontoken"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]*):(?P<pw>[^/@\s]*)@")


def is_secret_name(name: str) -> bool:
    """True for option names like password, db-password, secret_key, accessToken, --key-file."""
    raw = _CAMEL.sub("_", name)
    words = [w for w in _NON_ALNUM.split(raw.lower()) if w]
    return any(w in _SECRET_WORDS for w in words) or "".join(words) in _SECRET_WORDS


def redact_text(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Hide URL credentials (scheme://user:pw@) and the given secret values in a line of text."""
    text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    for value in secrets:
        if value:
            text = text.replace(value, REDACTED)
    return text


def redact(obj):
    """A copy of a JSON-able option structure with the values of secret-looking keys replaced."""
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_name(str(k)) and v not in (None, "", False) else redact(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def redact_argv(argv: list[str]) -> list[str]:
    """argv with the values of secret-looking options (`--password X`, `--token=X`) replaced."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        if arg.startswith("-") and len(arg) > 1 and arg != "--":
            name, eq, _value = arg.partition("=")
            if is_secret_name(name):
                if eq:
                    out.append(f"{name}={REDACTED}")
                else:
                    out.append(arg)
                    hide_next = True
                continue
        out.append(redact_text(arg))
    return out


def new_record(job_id: str, *, kind: str, provider: str | None, target: dict, options: dict,
               schedule: str | None, log: str, argv: list[str] | None = None) -> dict:
    now = iso()
    return {
        "v": SCHEMA,
        "id": job_id,
        "kind": kind,
        "provider": provider,
        "target": redact(target),
        "options": redact(options),
        "schedule": schedule,
        "state": QUEUED,
        "pid": None,
        "pid_start": None,
        "boot_id": None,
        "pid_file": None,
        "host": os.uname().nodename if hasattr(os, "uname") else None,  # == proc.hostname()
        "argv": redact_argv(argv) if argv is not None else None,
        "created": now,
        "started": None,
        "finished": None,
        "updated": now,
        "progress": {"done": 0, "total": None, "rate": None, "eta": None, "phase": "queued"},
        "archive": None,
        "manifest": None,
        "partial": [],
        "error": None,
        "exit_code": None,
        "warnings": 0,
        "log": log,
        "result": None,
    }


def describe_target(target: dict | None) -> str:
    t = target or {}
    if t.get("kind") == "pod":
        parts = [t.get("context"), t.get("namespace"), t.get("pod")]
        label = "/".join(p for p in parts if p)
        if t.get("container"):
            label += f"[{t['container']}]"
        return f"{label}:{t['path']}" if t.get("path") else label
    if t.get("path"):
        return str(t["path"])
    return t.get("kind") or "-"
