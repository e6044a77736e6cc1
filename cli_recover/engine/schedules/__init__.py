"""Schedules: cron expressions, their stored definitions and state, retention and notifications.

One module per concern: `cron` (validation, fire times), `describe` (cron in words), `store` (the
schedule files and their lock), `view` (what list/show print: secrets redacted), `retention`
(restic-style keep-*), `notify` (webhooks and commands). This package re-exports the public names,
so `from cli_recover.engine import schedules as sched; sched.load(...)` keeps working.

A schedule is one JSON file, `$CLI_RECOVER_HOME/schedules/<name>.json`::

    {"v": 1, "name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Berlin",
     "backup": ["backup", "filesystem", "--local", "/srv/data"],
     "keep": {"last": 3, "daily": 7, "weekly": 4}, "notify": ["https://..."], "notify_on": "failure",
     "paused": false, "created": "...Z", "updated": "...Z",
     "job": {"provider": "filesystem", "target": {...}, "options": {...}},  # for the job record, from add
     "state": {"anchor": "...Z", "last_scheduled": "...Z", "pending": ["<job id>"], "last_job": "...",
               "last_result": {...}, "runs": 0, "skipped": 0, "skips": [...], "archives": [...],
               "retention": {...}}}

Nothing here imports textual or kubernetes; croniter is imported when a cron is computed.
"""

from __future__ import annotations

from cli_recover.engine.model import iso
from cli_recover.engine.schedules.cron import (
    ENV_CRON_SECONDS,
    FIELD_HINTS,
    FIELD_NAMES,
    MACROS,
    expand,
    format_time,
    iter_runs,
    latest_run,
    local_timezone,
    next_run,
    next_runs,
    seconds_enabled,
    upcoming,
    validate_cron,
    validate_timezone,
)
from cli_recover.engine.schedules.describe import describe
from cli_recover.engine.schedules.model import SCHEMA, JobTemplate, NewerSchema, Schedule, State, Target
from cli_recover.engine.schedules.notify import (
    COMMAND_TIMEOUT,
    WEBHOOK_TIMEOUT,
    notification_event,
    notification_text,
    send_notification,
    wants_notification,
)
from cli_recover.engine.schedules.retention import ArchiveRef, apply_retention, archive_refs, retention_plan
from cli_recover.engine.schedules.store import (
    EDITABLE,
    MAX_ARCHIVES_KEPT,
    MAX_SKIPS_KEPT,
    NAME_MAX,
    NAME_RE,
    NOTIFY_ON,
    ScheduleNotFound,
    create,
    edit,
    launch_lock,
    load,
    load_all,
    locked,
    new_schedule,
    pause,
    record_skip,
    remove,
    resume,
    schedule_path,
    schedules_dir,
    update,
    validate_name,
)
from cli_recover.engine.schedules.view import (
    is_webhook,
    public_view,
    redact_notify,
    redact_url,
    schedule_view,
    schedule_views,
)

__all__ = [
    "COMMAND_TIMEOUT", "EDITABLE", "ENV_CRON_SECONDS", "FIELD_HINTS", "FIELD_NAMES", "MACROS", "MAX_ARCHIVES_KEPT",
    "MAX_SKIPS_KEPT", "NAME_MAX", "NAME_RE", "NOTIFY_ON", "SCHEMA", "WEBHOOK_TIMEOUT", "ArchiveRef",
    "JobTemplate", "NewerSchema", "Schedule", "ScheduleNotFound", "State", "Target", "apply_retention", "archive_refs", "create", "describe", "edit", "expand", "format_time",
    "is_webhook", "iso", "iter_runs", "latest_run", "launch_lock", "load", "load_all", "local_timezone", "locked",
    "new_schedule", "next_run", "next_runs", "notification_event", "notification_text", "pause", "public_view",
    "record_skip", "redact_notify", "redact_url", "remove", "resume", "retention_plan", "schedule_path", "schedule_view", "schedule_views",
    "schedules_dir", "seconds_enabled", "send_notification", "update", "upcoming", "validate_cron",
    "validate_name", "validate_timezone", "wants_notification",
]
