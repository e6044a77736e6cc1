"""What list/show (CLI and app) print of a schedule: secrets redacted."""

from __future__ import annotations

import json
import re
import shlex

from cli_recover.engine.model import REDACTED, redact_argv

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
