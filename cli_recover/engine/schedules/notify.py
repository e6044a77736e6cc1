"""Notifications after a scheduled run: a webhook (POSTed JSON) or a shell command."""

from __future__ import annotations

import json
import os

from cli_recover.engine.schedules.view import is_webhook, redact_notify, redact_url
from cli_recover.errors import RecoverError

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
