"""Job history: one JSON file per job under `history_dir()`.

Writes are atomic (temporary file + fsync + os.replace; a new record is published with os.link,
which fails when the id is taken, so ids are unique across processes). Every write that changes a
record takes an flock on `history/.lock` for the few microseconds of the replace: that is what
keeps a job's final write and another process's "this job's process vanished" verdict from
overwriting each other.

Listing 10,000 records fast: `history/.index.json` caches a small summary of each record keyed by
(inode, mtime_ns, size). Records in a final state never change, so a listing only re-reads new
files, changed files and active jobs. The index is a cache: lose it and it is rebuilt.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from cli_recover import config
from cli_recover.engine import proc
from cli_recover.engine.model import (
    ACTIVE_STATES,
    FAILED,
    QUEUED,
    SUCCEEDED,
    describe_target,
    iso,
    new_job_id,
    new_record,
    parse_duration,
    parse_iso,
    valid_job_id,
)
from cli_recover.errors import RecoverError, UsageError
from cli_recover.fsutil import fsync_dir, open_append, replace_file, write_tmp

ENV_HISTORY_MAX_AGE = "CLI_RECOVER_HISTORY_MAX_AGE"
DEFAULT_HISTORY_MAX_AGE = 30 * 86400
INDEX_NAME = ".index.json"
LOCK_NAME = ".lock"
INDEX_VERSION = 3
# A summary is what listing, liveness checks and pruning need; the index stores it as a flat list.
SUMMARY_KEYS = ("id", "state", "kind", "provider", "pid", "pid_start", "boot_id", "created_ts", "finished_ts",
                "target", "done", "total", "rate", "eta", "phase", "error", "host")


class JobNotFound(RecoverError):
    """No job has this id (or prefix)."""


def history_max_age() -> float | None:
    """Seconds after which finished jobs leave the history; None = never.

    From `$CLI_RECOVER_HISTORY_MAX_AGE` (e.g. 30d, or 0/never/off to keep everything), else the key
    `history_max_age` in `$CLI_RECOVER_HOME/config.json`, else 30 days.
    """
    value = os.environ.get(ENV_HISTORY_MAX_AGE)
    source = ENV_HISTORY_MAX_AGE
    if value is None:
        cfg = config.data_home() / "config.json"
        try:
            value = json.loads(cfg.read_text()).get("history_max_age")
            source = f"{cfg}: history_max_age"
        except (OSError, ValueError, AttributeError):
            value = None
    if value is None:
        return DEFAULT_HISTORY_MAX_AGE
    text = str(value).strip().lower()
    if text in ("0", "never", "off", "none", ""):
        return None
    try:
        return parse_duration(text)
    except UsageError as exc:
        raise UsageError(f"{source}: {exc}") from None


def summarize(rec: dict) -> dict:
    p = rec.get("progress") or {}
    err = rec.get("error")
    return {
        "id": rec.get("id"), "state": rec.get("state"), "kind": rec.get("kind"), "provider": rec.get("provider"),
        "pid": rec.get("pid"), "pid_start": rec.get("pid_start"), "boot_id": rec.get("boot_id"),
        "created_ts": parse_iso(rec.get("created")), "finished_ts": parse_iso(rec.get("finished")),
        "target": describe_target(rec.get("target")), "done": p.get("done"), "total": p.get("total"),
        "rate": p.get("rate"), "eta": p.get("eta"), "phase": p.get("phase"),
        "error": str(err)[:120] if err else None, "host": rec.get("host"),
    }


def _parse_record(data: bytes, job_id: str) -> dict:
    """A job record, or ValueError: JSON that is not an object of this id is as broken as bad JSON."""
    rec = json.loads(data)
    if not isinstance(rec, dict) or rec.get("id") != job_id:
        raise ValueError(f"not the record of job {job_id}")
    return rec


def remove_paths(paths) -> list[str]:
    """Remove files; returns the ones that were there. The only directories removed are a staged
    restore's private staging folders (named STAGING_PREFIX..., made by the job that lists them),
    removed whole without following links; any other directory is left alone."""
    import shutil

    from cli_recover.fsutil import STAGING_PREFIX

    removed = []
    for p in paths or ():
        if not p:
            continue
        try:
            os.unlink(p)
            removed.append(str(p))
        except FileNotFoundError:
            pass
        except (IsADirectoryError, PermissionError):
            path = str(p)
            if os.path.basename(path.rstrip("/")).startswith(STAGING_PREFIX) and not os.path.islink(path) \
                    and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        except OSError:
            pass
    return removed


def finish_commit(rec: dict) -> dict | None:
    """For a backup whose process vanished: its result when the archive was committed, else None.

    The commit (docs/FORMAT.md) renames the archive into place first, then its manifest, both
    written and fsynced as `.partial` before. An archive in place whose manifest is still
    `<manifest>.partial` was killed between the two renames: the manifest is complete, and the
    rename is finished here. The archive name was reserved by this job, so a file there is its own."""
    archive, manifest = rec.get("archive"), rec.get("manifest")
    if rec.get("kind") != "backup" or not archive or not manifest or not os.path.isfile(archive):
        return None
    if not os.path.exists(manifest):
        try:
            os.replace(manifest + ".partial", manifest)
        except OSError:
            return None  # an archive with no manifest at all: not ours to judge; it stays
        fsync_dir(os.path.dirname(manifest))
    result = {"archive": archive, "manifest": manifest, "completed_by": os.getpid()}
    try:
        with open(manifest, "rb") as f:  # the header only: the member index can be huge
            text = f.read(1 << 20)
        cut = text.find(b',\n "members": [')
        head = json.loads(text[:cut] + b"}" if cut > 0 else text)
        result.update(raw_bytes=head["bytes"]["raw"], stored_bytes=head["bytes"]["stored"],
                      members=head.get("members_count"), sha256=head["sha256"]["stored"],
                      compression=head["codec"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return result


class JobStore:
    def __init__(self, directory: Path | None = None, logs: Path | None = None):
        self.dir = Path(directory) if directory else config.history_dir()
        self.logs = Path(logs) if logs else config.logs_dir()

    # --- paths and locking -------------------------------------------------------------------

    def path(self, job_id: str) -> Path:
        return self.dir / f"{job_id}.json"

    def log_path(self, job_id: str) -> Path:
        return self.logs / f"{job_id}.log"

    def pid_path(self, job_id: str) -> Path:
        """`$CLI_RECOVER_HOME/run/<id>.pid` while the job's process runs (the record has the same pid)."""
        return self.dir.parent / "run" / f"{job_id}.pid"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        import fcntl

        config.ensure_dir(self.dir)
        fd = os.open(self.dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    # --- raw I/O -----------------------------------------------------------------------------

    def _write_tmp(self, rec: dict, name: str) -> Path:
        return write_tmp(self.dir, name, json.dumps(rec, separators=(",", ":"), sort_keys=False).encode())

    def write(self, rec: dict, *, durable: bool = True) -> None:
        """Atomically replace the record (callers hold the lock when another process may write too)."""
        rec["updated"] = iso()
        replace_file(self.path(rec["id"]), json.dumps(rec, separators=(",", ":"), sort_keys=False).encode(),
                     durable=durable)

    def save(self, rec: dict, *, durable: bool = True) -> None:
        with self.lock():
            self.write(rec, durable=durable)

    def read(self, job_id: str) -> dict:
        try:
            with open(self.path(job_id), "rb") as f:
                return _parse_record(f.read(), job_id)
        except FileNotFoundError:
            raise JobNotFound(f"no job {job_id!r} in {self.dir}") from None
        except ValueError:
            raise RecoverError(f"job record {self.path(job_id)} is not a valid job record (bad JSON)") from None

    # --- creating ----------------------------------------------------------------------------

    def create(self, *, kind: str, provider: str | None, target: dict, options: dict,
               schedule: str | None = None, argv: list[str] | None = None) -> dict:
        """A new queued record owned by this process, published under a fresh unique id."""
        config.ensure_dir(self.dir)
        config.ensure_dir(self.logs)
        for _ in range(100):
            job_id = new_job_id()
            rec = new_record(job_id, kind=kind, provider=provider, target=target, options=options,
                             schedule=schedule, log=str(self.log_path(job_id)), argv=argv)
            rec.update(proc.identity())
            tmp = self._write_tmp(rec, job_id)
            try:
                os.link(tmp, self.path(job_id))  # fails if the id is taken: never overwrite a job
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
                # No hard links on this filesystem: O_EXCL placeholder, then replace.
                try:
                    os.close(os.open(self.path(job_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                except FileExistsError:
                    continue
                os.replace(tmp, self.path(job_id))
                tmp = None
            finally:
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
            fsync_dir(self.dir)
            return rec
        raise RecoverError(f"could not allocate a job id in {self.dir}")  # pragma: no cover

    # --- listing -----------------------------------------------------------------------------

    def ids(self) -> list[str]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in names if n.endswith(".json") and not n.startswith("."))

    def resolve(self, ref: str) -> str:
        """The id of the job `ref` names: an exact id or a unique prefix."""
        ref = (ref or "").strip().lower()
        if not valid_job_id(ref):
            raise UsageError(f"bad job id {ref!r}: job ids are letters and digits")
        ids = self.ids()
        if ref in ids:
            return ref
        matches = [i for i in ids if i.startswith(ref)]
        if not matches:
            raise JobNotFound(f"no job matches {ref!r} (see: cli-recover status -A)")
        if len(matches) > 1:
            shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise UsageError(f"job prefix {ref!r} is ambiguous: {len(matches)} jobs match ({shown})")
        return matches[0]

    def get(self, ref: str) -> dict:
        """The record `ref` names, with a vanished process already marked failed."""
        job_id = self.resolve(ref)
        rec = self.read(job_id)
        if rec.get("state") in ACTIVE_STATES and not self._alive(rec):
            rec = self.mark_vanished(job_id) or self.read(job_id)
        return rec

    def _load_index(self) -> dict:
        try:
            with open(self.dir / INDEX_NAME, "rb") as f:
                data = json.loads(f.read())
            if data.get("v") == INDEX_VERSION and isinstance(data.get("entries"), dict):
                return data["entries"]
        except (OSError, ValueError, AttributeError):
            pass
        return {}

    def _save_index(self, entries: dict) -> None:
        data = json.dumps({"v": INDEX_VERSION, "entries": entries}, separators=(",", ":")).encode()
        with contextlib.suppress(OSError):  # a cache: losing a write only costs a re-read
            replace_file(self.dir / INDEX_NAME, data, durable=False)

    def summaries(self, *, reconcile: bool = True, prune: bool = True) -> list[dict]:
        """Summaries of every job, newest first. Marks vanished jobs failed; prunes old history."""
        if not self.dir.is_dir():
            return []
        index = self._load_index()
        fresh: dict = {}
        changed = False
        try:
            it = os.scandir(self.dir)
        except FileNotFoundError:
            return []
        with it:
            for entry in it:
                name = entry.name
                if name[0] == "." or not name.endswith(".json"):
                    continue
                job_id = name[:-5]
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                key = [st.st_ino, st.st_mtime_ns, st.st_size]
                cached = index.get(job_id)
                if (cached is not None and cached[0] == key[0] and cached[1] == key[1] and cached[2] == key[2]
                        and cached[4] not in ACTIVE_STATES):
                    fresh[job_id] = cached
                    continue
                try:
                    with open(entry.path, "rb") as f:
                        rec = _parse_record(f.read(), job_id)
                    summary = summarize(rec)
                except FileNotFoundError:
                    continue
                except (OSError, ValueError, AttributeError):
                    summary = dict.fromkeys(SUMMARY_KEYS)
                    summary.update(id=job_id, state="unreadable", error="not a valid job record (bad JSON)",
                                   created_ts=st.st_mtime, finished_ts=st.st_mtime)
                if summary["state"] not in ACTIVE_STATES:
                    summary["boot_id"] = summary["pid_start"] = None  # only active jobs need them
                row = key + [summary[k] for k in SUMMARY_KEYS]
                fresh[job_id] = row
                changed = changed or row != cached
        if len(fresh) != len(index):
            changed = True
        keys = SUMMARY_KEYS
        result = [dict(zip(keys, v[3:], strict=True)) for v in fresh.values()]
        if reconcile:
            for s in result:
                if s["state"] in ACTIVE_STATES and not self._alive(s):
                    rec = self.mark_vanished(s["id"])
                    if rec is not None:
                        s.update(summarize(rec))
                        fresh.pop(s["id"], None)  # re-stat next time
                        changed = True
        if prune:
            removed = self.prune(result)
            if removed:
                result = [s for s in result if s["id"] not in removed]
                for job_id in removed:
                    fresh.pop(job_id, None)
                changed = True
        if changed:
            self._save_index(fresh)
        result.sort(key=lambda s: s["id"], reverse=True)
        return result

    # --- liveness ----------------------------------------------------------------------------

    @staticmethod
    def _alive(rec: dict) -> bool:
        host = rec.get("host")
        if host and host != proc.hostname():
            return True  # a data home shared with another machine: only that machine can tell
        if rec.get("state") == QUEUED and not rec.get("pid"):
            created = parse_iso(rec.get("created")) or 0
            return time.time() - created < 60
        return proc.is_alive(rec.get("pid"), rec.get("pid_start"), rec.get("boot_id"))

    def _active_paths(self, except_id: str) -> set[str]:
        """The archive, manifest and partial paths of the other jobs that are running now."""
        paths: set[str] = set()
        for other in self.ids():
            if other == except_id:
                continue
            try:
                rec = self.read(other)
            except (JobNotFound, RecoverError, OSError):
                continue
            if rec.get("state") in ACTIVE_STATES and self._alive(rec):
                paths.update(os.path.abspath(p) for p in [rec.get("archive"), rec.get("manifest"),
                                                          *(rec.get("partial") or [])] if p)
        return paths

    def mark_vanished(self, job_id: str) -> dict | None:
        """Mark an active job whose process is gone as failed and remove its partial outputs.

        Re-checked under the lock, so a job that finished a moment ago keeps its own verdict."""
        with self.lock():
            try:
                rec = self.read(job_id)
            except (JobNotFound, RecoverError):
                return None
            if rec.get("state") not in ACTIVE_STATES or self._alive(rec):
                return None
            pid = rec.get("pid")
            rec["finished"] = iso()
            # Files of this job's names that a running job now holds (this one's archive was removed by
            # hand and another backup reserved the name) are that job's: never finish or remove them.
            others = self._active_paths(job_id)
            taken = any(os.path.abspath(p) in others for p in [rec.get("archive"), *(rec.get("partial") or [])] if p)
            committed = None if taken else finish_commit(rec)
            if committed is not None:
                # killed after the commit point: the archive is complete, its manifest is now in place
                rec["state"] = SUCCEEDED
                rec["exit_code"] = 0
                rec["error"] = None
                rec["result"] = committed
                why = (f"the job's process (pid {pid}) disappeared after its archive was committed; "
                       "the manifest's rename was finished")
            else:
                rec["state"] = FAILED
                rec["error"] = why = (f"the job's process (pid {pid}) disappeared: killed, crashed or the "
                                      "machine restarted")
                rec["exit_code"] = None
            removed = remove_paths(p for p in rec.get("partial") or () if p and os.path.abspath(p) not in others)
            rec["removed_partial"] = removed
            self.write(rec)
            remove_paths([self.pid_path(job_id)])
        self._append_log(rec, f"marked {rec['state']} by {os.getpid()}: {why}"
                         + (f"; removed partial output: {', '.join(removed)}" if removed else ""))
        return rec

    def _append_log(self, rec: dict, line: str) -> None:
        path = rec.get("log") or str(self.log_path(rec["id"]))
        try:
            config.ensure_dir(Path(path).parent)
            with open_append(path, encoding="utf-8", errors="backslashreplace") as f:
                f.write(f"{iso()} {line}\n")
        except OSError:
            pass

    # --- pruning -----------------------------------------------------------------------------

    def prune(self, summaries: list[dict], max_age: float | None | str = "config") -> set[str]:
        """Delete finished records (and their logs) older than the history max age."""
        if max_age == "config":
            max_age = history_max_age()
        if max_age is None:
            return set()
        cutoff = time.time() - max_age
        removed: set[str] = set()
        for s in summaries:
            if s["state"] in ACTIVE_STATES:
                continue
            when = s.get("finished_ts") or s.get("created_ts")
            if when is not None and when < cutoff:
                self.delete(s["id"])
                removed.add(s["id"])
        return removed

    def delete(self, job_id: str) -> None:
        """Remove a finished job's record and its log (never an active one)."""
        with self.lock():
            try:
                rec = self.read(job_id)
            except JobNotFound:
                return
            except RecoverError:
                rec = {}
            if rec.get("state") in ACTIVE_STATES:
                return
            remove_paths([self.path(job_id), rec.get("log") or self.log_path(job_id)])
