"""Retention, restic-style `forget --keep-*`, over a schedule's archives."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cli_recover.engine.model import iso, parse_iso


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
