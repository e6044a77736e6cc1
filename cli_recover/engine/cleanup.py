"""Retention: what `cleanup` removes. One plan, shown by --dry-run and carried out as listed.

Types: `backups` (an archive under `backups_dir()` and its `<archive>.manifest.json`, aged by the
manifest's `created` time, else the file's mtime; plus stray `*.partial` files left by killed
jobs; found, aged and removed through the archive store, storage/), `history` (finished job records) and `logs` (job logs). Anything that belongs to a queued or
running job (its record, log, archive, manifest and partial files) is never touched.
"""

from __future__ import annotations

import os
import posixpath
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
    store: object | None = None  # backups: the storage.base.ArchiveStore holding `names`
    names: list[str] = field(default_factory=list)  # backups: the objects, in removal order


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


def manifest_created(path: str, store=None, name: str | None = None) -> float | None:
    """The manifest's `created` time, read from its header (manifests can be large: read the head).
    With a store: object `name` in it (path is ignored)."""
    from cli_recover.fsutil import open_regular

    try:
        with (store.load(name) if store is not None else open_regular(path)) as f:  # never a FIFO or /dev/zero
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
         store: JobStore | None = None, now: float | None = None, archives=None) -> list[Item]:
    """Everything `cleanup` would remove, oldest first within each type. `archives`: the
    storage.base.ArchiveStore to clean (default: the data home's backups folder)."""
    store = store or JobStore()
    now = time.time() if now is None else now
    cutoff = now - older_than
    summaries = store.summaries(prune=False)
    active_ids, protected = protected_paths(store, summaries)
    out: list[Item] = []

    if "backups" in types:
        if archives is None:
            from cli_recover.storage.local import LocalArchiveStore

            archives = LocalArchiveStore(config.backups_dir())
        out += _select(_backups(protected, archives), cutoff, keep_last)
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


def _backups(protected: set[str], archives) -> list[Item]:
    from cli_recover.storage import removal_order

    infos = {i.name: i for i in archives.list()}
    items: list[Item] = []

    def where(name: str) -> str:
        return os.path.abspath(archives.locate(name))

    for name, info in infos.items():
        base = posixpath.basename(name)
        path = where(name)
        if name.endswith(MANIFEST_SUFFIX):
            archive = name[: -len(MANIFEST_SUFFIX)]
            # the store's order: the manifest first, a reader never sees a manifest without its archive
            group = removal_order(archive) if archive in infos else [name]
            paths = [where(n) for n in group]
            if any(p in protected for p in paths):
                continue
            when = (manifest_created(path, archives, name) or (infos[archive].mtime if archive in infos else None)
                    or info.mtime or 0.0)
            note = "" if len(group) == 2 else "manifest without its archive"
            items.append(Item("backups", where(archive) if len(group) == 2 else path, paths, when, note=note,
                              store=archives, names=group))
        elif name.endswith(MANIFEST_SUFFIX + PARTIAL_SUFFIX) and name[: -len(MANIFEST_SUFFIX + PARTIAL_SUFFIX)] in infos:
            continue  # the complete manifest of an archive in place (a commit cut between its renames)
        elif base.endswith(PARTIAL_SUFFIX) or (base.startswith(".members-") and base.endswith(".jsonl")):
            if path in protected or _partial_owner_active(path, protected):
                continue
            items.append(Item("backups", path, [path], info.mtime or 0.0,
                              note="incomplete output of an interrupted job", store=archives, names=[name]))
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
        if item.store is not None:  # backups: the store removes them, in its order, stopping at an error
            try:
                item.removed += item.store.remove_archive(item.names[-1], lambda _n: fault_point("cleanup.removed-one")) \
                    if len(item.names) == 2 else _remove_one(item.store, item.names[0])
            except OSError as exc:
                item.note = f"could not remove {exc.filename or item.label}: {exc.strerror}"
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


def _remove_one(archives, name: str) -> list[str]:
    try:
        archives.stat(name)
    except FileNotFoundError:
        return []
    archives.remove(name)
    fault_point("cleanup.removed-one")
    return [os.path.abspath(archives.locate(name))]
