"""Retention: what `cleanup` removes. One plan, shown by --dry-run and carried out as listed.

Types: `backups` (an archive under `backups_dir()` and its `<archive>.manifest.json`, aged by the
manifest's `created` time, else the file's mtime; plus stray `*.partial` files left by killed
jobs), `history` (finished job records) and `logs` (job logs). Anything that belongs to a queued or
running job (its record, log, archive, manifest and partial files) is never touched.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from cli_recover import config
from cli_recover.engine.model import ACTIVE_STATES, parse_iso
from cli_recover.engine.store import JobStore
from cli_recover.testhooks import fault_point

TYPES = ("backups", "history", "logs")
JOB_LOG = re.compile(r"[0-9a-z]{12}\.log")  # logs/<job id>.log; other logs (scheduler.log) are not jobs
MANIFEST_SUFFIX = ".manifest.json"
PARTIAL_SUFFIX = ".partial"
_CREATED = re.compile(rb'"created"\s*:\s*"([^"]+)"')


@dataclass
class Item:
    type: str  # backups | history | logs
    label: str  # what a user reads: a path or a job id
    paths: list[str]
    when: float  # the time the age is measured from (epoch seconds)
    size: int = 0
    note: str = ""
    removed: list[str] = field(default_factory=list)


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def manifest_created(path: str) -> float | None:
    """The manifest's `created` time, read from its header (manifests can be large: read the head)."""
    from cli_recover.archive.manifest import open_regular

    try:
        with open_regular(path) as f:  # never a FIFO's open or /dev/zero's read
            head = f.read(64 * 1024)
    except OSError:
        return None
    m = _CREATED.search(head)
    return parse_iso(m.group(1).decode("utf-8", "replace")) if m else None


def protected_paths(store: JobStore, summaries: list[dict]) -> tuple[set[str], set[str]]:
    """(ids of active jobs, absolute paths that belong to them)."""
    ids: set[str] = set()
    paths: set[str] = set()
    for s in summaries:
        if s["state"] not in ACTIVE_STATES:
            continue
        ids.add(s["id"])
        paths.add(str(store.path(s["id"])))
        try:
            rec = store.read(s["id"])
        except Exception:  # noqa: BLE001 - a record being replaced: protect what the summary knows
            rec = {}
        paths.add(os.path.abspath(rec.get("log") or store.log_path(s["id"])))
        for p in [rec.get("archive"), rec.get("manifest"), *(rec.get("partial") or [])]:
            if p:
                p = os.path.abspath(p)
                paths.update({p, p + MANIFEST_SUFFIX, p + PARTIAL_SUFFIX})
    return ids, paths


def _select(items: list[Item], cutoff: float, keep_last: int) -> list[Item]:
    items.sort(key=lambda i: i.when, reverse=True)
    return [i for n, i in enumerate(items) if n >= keep_last and i.when < cutoff]


def plan(types: tuple[str, ...], older_than: float, keep_last: int = 0, *,
         store: JobStore | None = None, now: float | None = None) -> list[Item]:
    """Everything `cleanup` would remove, oldest first within each type."""
    store = store or JobStore()
    now = time.time() if now is None else now
    cutoff = now - older_than
    summaries = store.summaries(prune=False)
    active_ids, protected = protected_paths(store, summaries)
    out: list[Item] = []

    if "backups" in types:
        out += _select(_backups(protected), cutoff, keep_last)
    if "history" in types:
        items = []
        for s in summaries:
            if s["state"] in ACTIVE_STATES:
                continue
            when = s.get("finished_ts") or s.get("created_ts") or _mtime(str(store.path(s["id"]))) or now
            path = str(store.path(s["id"]))
            items.append(Item("history", s["id"], [path], when, _size(path), note=s["state"]))
        out += _select(items, cutoff, keep_last)
    if "logs" in types:
        items = []
        try:
            entries = list(os.scandir(store.logs))
        except FileNotFoundError:
            entries = []
        for e in entries:
            if not e.name.endswith(".log") or not e.is_file(follow_symlinks=False):
                continue
            if not JOB_LOG.fullmatch(e.name):
                continue  # not a job's log (e.g. scheduler.log): not ours to remove
            if e.name[:-4] in active_ids or os.path.abspath(e.path) in protected:
                continue
            st = e.stat()
            items.append(Item("logs", e.path, [e.path], st.st_mtime, st.st_size))
        out += _select(items, cutoff, keep_last)
    for item in out:
        item.size = sum(_size(p) for p in item.paths)
    return sorted(out, key=lambda i: (TYPES.index(i.type), i.when))


def _backups(protected: set[str]) -> list[Item]:
    root = config.backups_dir()
    items: list[Item] = []
    if not root.is_dir():
        return items
    for dirpath, _dirs, files in os.walk(root):
        names = set(files)
        for name in files:
            path = os.path.abspath(os.path.join(dirpath, name))
            if name.endswith(MANIFEST_SUFFIX):
                archive = path[: -len(MANIFEST_SUFFIX)]
                # the manifest is removed first: a reader never sees a manifest without its archive
                group = [path, archive] if os.path.basename(archive) in names else [path]
                if any(p in protected for p in group):
                    continue
                when = manifest_created(path) or _mtime(archive) or _mtime(path) or 0.0
                note = "" if len(group) == 2 else "manifest without its archive"
                items.append(Item("backups", archive if len(group) == 2 else path, group, when, note=note))
            elif name.endswith(MANIFEST_SUFFIX + PARTIAL_SUFFIX) and name[: -len(MANIFEST_SUFFIX + PARTIAL_SUFFIX)] in names:
                continue  # the complete manifest of an archive in place (a commit cut between its renames)
            elif name.endswith(PARTIAL_SUFFIX) or (name.startswith(".members-") and name.endswith(".jsonl")):
                if path in protected or _partial_owner_active(path, protected):
                    continue
                items.append(Item("backups", path, [path], _mtime(path) or 0.0,
                                  note="incomplete output of an interrupted job"))
    return items


def _partial_owner_active(path: str, protected: set[str]) -> bool:
    """A spool or partial file beside an archive an active job is writing belongs to that job."""
    directory = os.path.dirname(path)
    return any(os.path.dirname(p) == directory for p in protected) and Path(path).name.startswith(".members-")


def execute(items: list[Item], *, store: JobStore | None = None) -> list[Item]:
    """Remove the planned items, re-checking first that none became part of an active job."""
    store = store or JobStore()
    _ids, protected = protected_paths(store, store.summaries(prune=False))
    for item in items:
        if any(os.path.abspath(p) in protected for p in item.paths):
            item.note = "skipped: now used by a running job"
            continue
        for p in item.paths:
            try:
                os.unlink(p)
                item.removed.append(p)
                fault_point("cleanup.removed-one")
            except FileNotFoundError:
                pass
            except OSError as exc:
                item.note = f"could not remove {p}: {exc.strerror}"
    return items
