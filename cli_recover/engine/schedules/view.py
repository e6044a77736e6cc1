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


def schedule_view(schedule: dict, store, now: float, runs: int = 1) -> dict:
    """One schedule as `schedule list`/`show` and the app's screen show it: its definition (secrets
    redacted), `description`, `next_run` and `next_runs` (ISO times in its zone), `problem` (a
    broken hand-edited cron or zone, else None), `running_job` and `last_result` live from the job
    store, `target` (structured: kind, kubeconfig, context, namespace, pod, container, path) and
    `retention` (the policy and what its last pass did)."""
    from cli_recover.engine.scheduler import live_status
    from cli_recover.engine.schedules.cron import upcoming
    from cli_recover.engine.schedules.describe import describe

    out = public_view(schedule)
    job = out.pop("job", None) or {}
    try:
        running, result = live_status(schedule, store)
    except Exception:  # noqa: BLE001 - a record being replaced: show what the schedule knows
        running, result = None, (schedule.get("state") or {}).get("last_result")
    nxt, problem = upcoming(schedule, now, runs)
    out["description"] = describe(schedule["cron"]) if problem is None else "-"
    out["next_run"] = nxt[0].isoformat() if nxt else None
    out["next_runs"] = [d.isoformat() for d in nxt]
    out["problem"] = problem
    out["running_job"] = running
    out["last_result"] = result
    target = job.get("target") if isinstance(job.get("target"), dict) else None
    out["target"] = dict(target) if target else None
    last = (schedule.get("state") or {}).get("retention") or {}
    out["retention"] = {
        "keep": {k: v for k, v in (schedule.get("keep") or {}).items() if v}, "last_applied": last.get("at"),
        "kept": len(last.get("kept") or []),
        "removed": len([p for p in last.get("removed") or [] if not str(p).endswith(".manifest.json")]),
    }
    return out


def schedule_views(store, now: float, errors: list[str] | None = None, runs: int = 1) -> list[dict]:
    """`schedule_view` of every schedule, by name (unreadable files are named in `errors`)."""
    from cli_recover.engine.schedules.store import load_all

    return [schedule_view(s, store, now, runs) for s in load_all(errors)]
