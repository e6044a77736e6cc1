"""The byte pipeline. Backup: producer stdout -> (tar index, sha256, byte count) -> compress ->
sha256 -> a `Sink` (storage/: locally `<archive>.partial` -> fsync -> rename). Restore: archive -> decompress -> (guard, sha256)
-> consumer stdin. The producer/consumer is a `StreamProcess` from any target (local host or pod).

Nothing half-done looks done: the archive is renamed into place only after the producer exited
successfully, the tar end marker was seen and every count agrees; on any failure or cancel the
partial file is removed and the error says why.

Every stage thread ends with its end or its error delivered, and every wait is a timed slice that
looks at cancel. Fault points (cli_recover/testhooks.py): `stage.NAME.start` and `stage.NAME.chunk`
(its first chunk) for NAME in read, index, compress, store (backup) and decompress, sink
(verify, restore, scan).
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import re
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cli_recover import __version__
from cli_recover.archive.codecs import Compressor, Decompressor, codec_info
from cli_recover.archive.guard import RestoreGuard
from cli_recover.archive.manifest import (
    FORMAT,
    FORMAT_VERSION,
    MemberSpool,
    redact_command,
)
from cli_recover.archive.tarindex import Member, TarIndexer
from cli_recover.archive.tarwrite import CanonicalTar
from cli_recover.errors import Cancelled, IntegrityError, ProducerError, RecoverError
from cli_recover.testhooks import fault_point

CHUNK = 1 << 20
QUEUE_DEPTH = 8  # chunks in flight per stage: memory is bounded by ~2 x QUEUE_DEPTH MiB
WAIT_SLICE = 0.1  # seconds: every wait wakes this often to look at cancel and the other threads

Progress = Callable[[int, "int | None"], None]


_NOISE = ("Exiting with failure status", "Error is not recoverable", "Child returned status", "Error exit delayed")
# The causes that matter, most telling first (tar names them after the file: `tar: f: Cannot write: ...`)
_CAUSES = tuple(os.strerror(e) for e in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG, errno.EIO,
                                         errno.ENOMEM, errno.EACCES, errno.EPERM))
_SHORT_WRITE = re.compile(r"^(?:[^:\s]+: )?(?P<name>.+): Wrote only \d+ of \d+ bytes$")
_FILE_ERROR = re.compile(r"^[^:\s]+: (?P<name>.+?): (?:Wrote only \d+|Cannot (?:write|open|create|mkdir|utime|"
                         r"change|hard link|create symlink))")


def stderr_summary(stderr: str) -> str:
    """The most telling line of a command's stderr: an errno cause (`No space left on device`) over
    tar's consequences (`Wrote only 1024 of 10240 bytes`, `Exiting with failure status`). GNU tar
    reports a short write (the disk filled up mid-file) only as `Wrote only`: that is named too."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    useful = [ln for ln in lines if not any(noise in ln for noise in _NOISE)]
    for cause in _CAUSES:
        for ln in useful:
            if cause in ln:
                return ln
    for ln in useful:
        if _SHORT_WRITE.match(ln):
            return f"{os.strerror(errno.ENOSPC)} (or over quota): {ln}"
    return (useful or lines or ["no error output"])[0]


def stderr_file(stderr: str) -> str | None:
    """The file tar names in its first error about writing one (`tar: a/b: Cannot write: ...`)."""
    for ln in stderr.splitlines():
        found = _FILE_ERROR.match(ln.strip())
        if found:
            return found.group("name")
    return None


def exit_description(code: int) -> str:
    """`exited with status 2`, `killed by signal 9 (SIGKILL)`; 128+N (a shell or kubelet) is named too."""
    def name(n: int) -> str:
        try:
            return f" ({signal.Signals(n).name})"
        except ValueError:
            return ""

    if code < 0:
        return f"killed by signal {-code}{name(-code)}"
    if 128 < code < 160:
        return f"exited with status {code} (killed by signal {code - 128}{name(code - 128)})"
    return f"exited with status {code}"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _cancel_signum(cancel) -> int:
    return int(getattr(cancel, "signum", 0) or signal.SIGINT)


@dataclass
class BackupRequest:
    target: object  # kube.base.Target
    argv: list[str]  # the producer command, run on the target
    output: Path  # the final archive path
    codec: str
    level: int | None
    provider: str
    source: dict  # what was backed up (target kind, path, pod...)
    stream_type: str = "tar"  # "tar" gets a member index; other streams only checksums
    options: dict = field(default_factory=dict)
    ok_exit_codes: tuple[int, ...] = (0,)
    estimate: Callable[[], int | None] | None = None  # run in a thread; total for progress
    threads: int | None = None
    reserved: bool = False  # the caller created `<output>.partial` (manifest.reserve_output)
    sink: object | None = None  # a storage.base.Sink; None: a LocalFileSink for `output`
    secrets: tuple[str, ...] = ()  # values the provider marked secret: never in the manifest


class _Stage(threading.Thread):
    """A pipeline stage consuming chunks from a bounded queue. It always ends, with `error` set or
    not: everything it runs is inside one try from its first instruction. On error it keeps draining
    so its feeder never blocks; its feeder's `put` never blocks on a stage that has ended anyway."""

    def __init__(self, name: str, fn: Callable[[bytes], None], finish: Callable[[], None],
                 halt: threading.Event):
        super().__init__(name=name, daemon=True)
        self.queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self.fn, self.finish_fn = fn, finish
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self.halt = halt  # the pipeline gave up on its stuck stages: nobody waits for anybody
        self.end_sent = False

    def run(self) -> None:
        try:
            fault_point(f"stage.{self.name}.start")
            first = True
            while True:
                # the feeder always sends the end (None), in its finally: this wait ends
                chunk = self.queue.get()
                if chunk is None:
                    break
                if self.error is None:
                    try:
                        if first:
                            first = False
                            fault_point(f"stage.{self.name}.chunk")
                        self.fn(chunk)
                    except BaseException as exc:  # noqa: BLE001 - reported by the reader
                        self.error = exc
            if self.error is None:
                self.finish_fn()
        except BaseException as exc:  # noqa: BLE001
            if self.error is None:
                self.error = exc
        finally:
            self.ended.set()

    def put(self, item, cancel: threading.Event | None = None) -> None:
        """Hand the stage a chunk (None: the end). Never blocks for good: returns at once when the
        stage has ended or the pipeline halted, and gives up a full queue after a cancel."""
        while not self.ended.is_set() and not self.halt.is_set():
            try:
                self.queue.put(item, timeout=WAIT_SLICE)
                self.end_sent = self.end_sent or item is None
                return
            except queue.Full:
                if cancel is not None and cancel.is_set():
                    return

    def wait(self, cancel: threading.Event | None = None, grace: float = 5.0) -> None:
        """Join, in slices; after a cancel give up once `grace` seconds passed and halt the pipeline
        (a stage stuck, say in a write to a dead disk, must not keep a cancelled job alive: it is a
        daemon thread, and what it was writing is removed anyway)."""
        deadline = None
        while self.is_alive() and not self.halt.is_set():
            if not self.end_sent:  # put(None) gave up on a full queue (cancel): deliver it now
                try:
                    self.queue.put_nowait(None)
                    self.end_sent = True
                except queue.Full:
                    pass
            self.join(WAIT_SLICE)
            if cancel is not None and cancel.is_set():
                deadline = deadline or time.monotonic() + grace
                if time.monotonic() > deadline:
                    self.halt.set()


def limit_malloc_arenas(arenas: int = 2) -> None:
    """glibc gives each busy thread its own malloc arena and rarely returns their memory: with the
    pipeline's threads, zstd's workers and the exec client, RSS crept up with the stream's length.
    Two arenas keep it flat (measured: pod backup of 1 GB 144 MB -> 132 MB). No-op elsewhere."""
    global _arenas_limited
    if _arenas_limited:
        return
    _arenas_limited = True
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


_arenas_limited = False


def run_backup(req: BackupRequest, progress: Progress | None = None, cancel: threading.Event | None = None,
               on_process: Callable[[object], None] | None = None) -> dict:
    """Runs one backup stream to completion. Returns the manifest header (without members)."""
    limit_malloc_arenas()
    info = codec_info(req.codec)
    if req.sink is None:  # the store of the output's folder; it reserves the name unless the caller did
        from cli_recover.storage import store_for

        store, name = store_for(Path(req.output))
        sink = store.create(name, reserved=req.reserved)
    else:
        sink = req.sink
    started, t0 = utc_now(), time.monotonic()

    total: list[int | None] = [None]
    if req.estimate is not None:
        def _estimate() -> None:
            try:
                total[0] = req.estimate()
            except Exception:  # noqa: BLE001 - progress just has no total
                total[0] = None
        threading.Thread(target=_estimate, name="estimate", daemon=True).start()

    raw_hash, stored_hash = hashlib.sha256(), hashlib.sha256()
    counts = {"raw": 0, "stored": 0}
    prefix: list[str] = []

    def on_member(m: Member) -> None:
        if not prefix:
            prefix.append("./" if m.raw_name.startswith("./") else "")
        spool.add(m.to_json())

    indexer = TarIndexer(on_member=on_member) if req.stream_type == "tar" else None

    def index_chunk(chunk: bytes) -> None:
        raw_hash.update(chunk)
        if indexer is not None:
            indexer.feed(chunk)

    def index_finish() -> None:
        if indexer is not None:
            indexer.finish()

    try:
        spool = MemberSpool(sink.spool_path)
    except OSError as exc:
        sink.abort()
        raise RecoverError(f"cannot write the member index next to {sink.name}: {exc.strerror or exc}") from None
    compressor = Compressor(req.codec, req.level, req.threads)

    def store_chunk(data: bytes) -> None:
        stored_hash.update(data)
        counts["stored"] += len(data)
        sink.write(data)

    def store_finish() -> None:
        counts["file"] = sink.finish()  # durable, not yet visible

    # compress and store run in separate threads: the codec never waits for sha256 or the disk
    halt = threading.Event()
    writer = _Stage("store", store_chunk, store_finish, halt)

    def compress_chunk(chunk: bytes) -> None:
        data = compressor.compress(chunk)
        if data:
            writer.put(data)

    def compress_finish() -> None:
        data = compressor.finish()
        if data:
            writer.put(data)

    feeders = [_Stage("index", index_chunk, index_finish, halt),
               _Stage("compress", compress_chunk, compress_finish, halt)]
    stages = [*feeders, writer]
    for stage in stages:
        stage.start()

    proc = None
    failure: BaseException | None = None
    stage_failed: list[_Stage] = []
    try:
        fault_point("stage.read.start")
        proc = req.target.spawn(req.argv)
        if on_process is not None:
            on_process(proc)
        if cancel is not None and cancel.is_set():
            proc.kill()
        while True:
            if cancel is not None and cancel.is_set():
                proc.kill()
                break
            chunk = proc.read(CHUNK)
            if not chunk:
                break
            if not counts["raw"]:
                fault_point("stage.read.chunk")
            counts["raw"] += len(chunk)
            for stage in feeders:
                stage.put(chunk, cancel)
            if any(stage.error for stage in stages):
                # the cause: the stages that failed so far (stopping the producer makes the index
                # stage see a truncated stream too, which is not what went wrong)
                stage_failed = [stage for stage in stages if stage.error]
                proc.kill()
                break
            if progress is not None:
                progress(counts["raw"], total[0])
    except BaseException as exc:  # noqa: BLE001 - includes KeyboardInterrupt: clean up below
        failure = exc
        if proc is not None:
            proc.kill()
    finally:
        for stage in feeders:
            stage.put(None, cancel)
        for stage in feeders:
            stage.wait(cancel)
        writer.put(None, cancel)  # after the compressor's last output
        writer.wait(cancel)

    def _abort(exc: BaseException):
        spool.discard()
        sink.abort()
        return exc

    if failure is not None:
        if isinstance(failure, KeyboardInterrupt):
            raise _abort(Cancelled(signal.SIGINT)) from None
        if isinstance(failure, Exception) and not isinstance(failure, (RecoverError, OSError)):
            raise _abort(RecoverError(f"backup stream failed in read: {failure}; no archive was written")) from failure
        raise _abort(failure)
    code = proc.wait()
    if cancel is not None and cancel.is_set():
        raise _abort(Cancelled(_cancel_signum(cancel)))
    stderr = proc.stderr_text().strip()

    def stage_errors() -> None:
        for stage in [*stage_failed, *stages]:
            if stage.error is not None:
                err = stage.error
                if isinstance(err, RecoverError):
                    raise _abort(type(err)(f"{err}; no archive was written"))
                what = (err.strerror or str(err)) if isinstance(err, OSError) else str(err)
                raise _abort(RecoverError(f"backup stream failed in {stage.name}: {what}; no archive was written"))

    if stage_failed:  # we stopped the producer because the stream was bad: that is the cause
        stage_errors()
    if code not in req.ok_exit_codes:
        detail = stderr_summary(stderr)
        what = exit_description(code)
        raise _abort(ProducerError(f"{req.argv[0]} on {req.target.describe()} {what}: {detail}; no archive was written"))
    stage_errors()
    if indexer is not None and indexer.bytes_seen != counts["raw"]:
        raise _abort(IntegrityError("byte counts disagree between reader and index; no archive was written"))
    if counts["stored"] != counts.get("file"):
        raise _abort(IntegrityError("stored byte count disagrees with the file size; no archive was written"))

    warnings = []
    if code != 0:
        warnings.append(f"{req.argv[0]} exited {code}: {stderr_summary(stderr)}")
    finished = utc_now()
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tool": "cli-recover",
        "tool_version": __version__,
        "archive": sink.name,
        "kind": "backup",
        "provider": req.provider,
        "source": req.source,
        "created": finished,
        "started": started,
        "finished": finished,
        "duration_seconds": round(time.monotonic() - t0, 3),
        "host": socket.gethostname(),
        "stream": {"type": req.stream_type, "command": redact_command(req.argv, req.secrets), "member_prefix": prefix[0] if prefix else ""},
        "codec": {"name": req.codec, "level": req.level, "extension": info.extension},
        "bytes": {"raw": counts["raw"], "stored": counts["stored"],
                  "content": indexer.content_bytes if indexer else None},
        "sha256": {"stored": stored_hash.hexdigest(), "raw": raw_hash.hexdigest()},
        "members_count": indexer.members if indexer else None,
        "options": req.options,
        "warnings": warnings,
    }
    # The commit (docs/FORMAT.md, "How a backup commits"; storage/local.py for a folder): archive
    # and manifest complete and durable before either becomes visible, the archive first. The sink
    # undoes its own steps on error; the member spool goes here.
    try:
        archive_at, manifest_at = sink.commit(spool.document(header))
    except BaseException as exc:
        _abort(exc)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise RecoverError(f"no space left on the device holding {sink.where} while writing the manifest; "
                               "no archive was written") from None
        raise RecoverError(f"cannot finish the archive: {exc}; no archive was written") from None
    spool.discard()
    header["archive_path"] = archive_at
    header["manifest_path"] = manifest_at
    return header


# ---------------------------------------------------------------------------------------------
# Reading archives back: shared by verify and restore


def open_stored(path) -> tuple:
    """(binary reader, size) of an archive, read through the store of its folder (storage/)."""
    from cli_recover.storage import store_for

    store, name = store_for(path)
    size = store.stat(name).size
    return store.load(name), size


def hash_file(path: Path, progress: Progress | None = None, cancel: threading.Event | None = None) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    f, total = open_stored(path)
    with f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(_cancel_signum(cancel))
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            size += n
            if progress is not None:
                progress(size, total)
    return h.hexdigest(), size


def stream_archive(path: Path, codec: str, sink: Callable[[bytes], None], *, progress: Progress | None = None,
                   cancel: threading.Event | None = None, stored_hash=None) -> int:
    """Reads path, decompresses and calls sink(raw_chunk); returns the raw byte count. Decompression
    runs in its own thread so it overlaps with the sink (tar parse, hashing, writing). Every raw chunk
    is at most CHUNK bytes whatever the compression ratio, and at most QUEUE_DEPTH of them wait."""
    codec_info(codec)  # an unknown (or mistyped) codec name: one clear line, before any thread starts
    q: queue.Queue = queue.Queue(QUEUE_DEPTH)
    state: dict = {"error": None}
    reader, total = open_stored(path)
    stop, ended = threading.Event(), threading.Event()

    def produce() -> None:
        try:  # from the first instruction: the reader always learns the end or the error
            fault_point("stage.decompress.start")
            with reader as f:
                dec = Decompressor(f if stored_hash is None else _Hashing(f, stored_hash), codec)
                first = True
                while not stop.is_set():
                    out = dec.read(CHUNK)
                    if not out:
                        break
                    if first:
                        fault_point("stage.decompress.chunk")
                        first = False
                    if not _put(q, (out, dec.consumed), stop):
                        break
        except BaseException as exc:  # noqa: BLE001 - re-raised in the reader
            state["error"] = exc
        finally:
            reader.close()  # (also when a fault point fired before it was read)
            ended.set()

    thread = threading.Thread(target=produce, name="decompress", daemon=True)
    thread.start()
    raw = 0
    try:
        fault_point("stage.sink.start")
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(_cancel_signum(cancel))
            try:
                chunk, done = q.get(timeout=WAIT_SLICE)
            except queue.Empty:
                if ended.is_set() and q.empty():
                    break
                continue
            if not raw:
                fault_point("stage.sink.chunk")
            raw += len(chunk)
            sink(chunk)
            if progress is not None:
                progress(done, total)
    finally:
        stop.set()  # a producer blocked on a full queue gives up within WAIT_SLICE
        thread.join(timeout=5)
    if state["error"] is not None:
        raise state["error"]
    return raw


class _Hashing:
    """The stored bytes on their way into the decompressor, hashed."""

    def __init__(self, f, stored_hash):
        self.f, self.hash = f, stored_hash

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.hash.update(data)
        return data


def _put(q: queue.Queue, item, stop: threading.Event) -> bool:
    """q.put that gives up (False) once stop is set, instead of blocking forever on a full queue."""
    while not stop.is_set():
        try:
            q.put(item, timeout=WAIT_SLICE)
            return True
        except queue.Full:
            continue
    return False


@dataclass
class RestoreRequest:
    target: object  # kube.base.Target
    archive: Path
    argv: list[str]  # the consumer command (e.g. tar -x ...), run on the target
    codec: str
    manifest: dict | None
    stream_type: str = "tar"
    # Hash the stored bytes as they are read and compare with the manifest at the end: the check
    # that remains with --no-verify, and the one that sees an archive replaced after it was verified
    # (the check and the stream read the file twice). Stored rather than raw bytes: fewer of them,
    # hashed in the decompress thread.
    check_stored: bool = True
    # (path, occurrence) of members to leave out; None: all but the last copy of a path the
    # manifest lists twice (pass duplicate_copies() of a scanned member list for an archive without one)
    drop: set | None = None
    # The restore guard every header passes before its bytes reach the consumer (on_header): a
    # RestoreGuard set up by the restore checks (it knows the target's disk); default: a fresh one.
    guard: object = None
    staged: bool = False  # the consumer writes into a staging folder that is removed on failure


def run_restore(req: RestoreRequest, progress: Progress | None = None, cancel: threading.Event | None = None,
                on_process: Callable[[object], None] | None = None) -> dict:
    """Streams the archive into the consumer. The caller has already checked integrity and safety
    from the manifest (see restore planning); this stream checks again as it goes: every tar member
    passes the safety guard before any of it reaches the consumer, which gets a tar stream
    re-encoded from the accepted members (tarwrite.CanonicalTar), never the archive's own headers;
    the codec checks its frame checksum, and (check_stored) the stored file's sha256 must match the
    manifest."""
    stored_hash = hashlib.sha256() if req.check_stored else None
    guard = req.guard if req.guard is not None else RestoreGuard()
    proc = req.target.spawn(req.argv, stdin=True)
    if on_process is not None:
        on_process(proc)

    consumer_done = False

    def send(data: bytes) -> None:
        nonlocal consumer_done
        if consumer_done:
            return
        try:
            proc.write(data)
        except ProducerError:
            if writer is not None and writer.end_written:
                # tar stops reading at the end-of-archive marker and may exit before the zero
                # padding after it arrives; its exit status (checked below) says whether it got everything
                consumer_done = True
                return
            raise

    # tar never sees the archive's own bytes: it gets a stream re-encoded from the members the guard
    # accepted (see docs/FORMAT.md, "The restore stream"), so no parser disagreement can reach it
    writer = None
    if req.stream_type == "tar":
        drop = req.drop if req.drop is not None else duplicate_copies(_manifest_paths(req.manifest))
        writer = CanonicalTar(send, on_header=guard, drop=drop)
    sink = writer.feed if writer is not None else send

    try:
        raw = stream_archive(req.archive, req.codec, sink, progress=progress, cancel=cancel, stored_hash=stored_hash)
        if writer is not None:
            writer.finish()  # refuses a truncated stream before tar sees the end marker
        expected = (req.manifest or {}).get("sha256", {}).get("stored")
        if stored_hash is not None and expected and stored_hash.hexdigest() != expected:
            raise IntegrityError("the archive's sha256 differs from the manifest")
    except KeyboardInterrupt:
        proc.kill()
        raise _cancelled(req, guard, writer, signal.SIGINT) from None
    except Cancelled as exc:
        proc.kill()
        raise _cancelled(req, guard, writer, exc.signum) from None
    except ProducerError as exc:
        proc.kill()
        proc.wait()
        raise _consumer_failed(req, proc, guard, str(exc), writer) from None
    except IntegrityError as exc:
        proc.kill()
        proc.wait()
        if req.staged:
            raise IntegrityError(f"{exc}; {NOTHING_RESTORED}") from None
        raise IntegrityError(f"{exc}; the restore stopped part-way and is incomplete") from None
    except BaseException:
        proc.kill()
        raise
    proc.close_stdin()
    code = proc.wait()
    if cancel is not None and cancel.is_set():
        raise _cancelled(req, guard, writer, _cancel_signum(cancel))
    if code != 0:
        raise _consumer_failed(req, proc, guard, f"{req.argv[0]} on {req.target.describe()} {exit_description(code)}", writer)
    return {"raw_bytes": raw, "members": writer.indexer.members if writer else None}


NOTHING_RESTORED = "nothing was restored (the staged files were removed)"


def _left_incomplete(name: str) -> str:
    return f"{name} may be left incomplete in the target (and members after it missing)"


def _in_flight(guard, writer) -> str | None:
    last = getattr(guard, "last", None)
    name = getattr(writer, "current", None) or (last.path if last is not None else None)
    return name.removeprefix("./") if name is not None else None


def _cancelled(req: RestoreRequest, guard, writer, signum: int) -> Cancelled:
    """A cancelled restore says what it left: nothing (staged), or which file may be incomplete."""
    what = str(Cancelled(signum))
    if req.staged:
        return Cancelled(signum, f"{what}; {NOTHING_RESTORED}")
    name = _in_flight(guard, writer)
    where = f": {_left_incomplete(name)}" if name else ""
    err = Cancelled(signum, f"{what}; the restore stopped part-way{where}")
    err.incomplete = name
    return err


def _consumer_failed(req: RestoreRequest, proc, guard, what: str, writer=None) -> ProducerError:
    """The consumer failed: its real cause, the file it left incomplete (the one tar names, else the
    member in flight) and the tail of its stderr (`stderr_tail`, for the job log)."""
    stderr = proc.stderr_text()
    name = stderr_file(stderr)
    name = name.removeprefix("./") if name is not None else _in_flight(guard, writer)
    where = f"; {NOTHING_RESTORED}" if req.staged else f"; {_left_incomplete(name)}" if name else ""
    err = ProducerError(f"{what}: {stderr_summary(stderr)}{where}")
    err.incomplete = name
    err.stderr_tail = stderr[-4000:]
    return err


def duplicate_copies(paths) -> set[tuple[str, int]]:
    """(path, occurrence) of every copy of a path stored more than once but the last, given the
    members' paths in stream order: GNU tar without -k lets the last copy win, and restore runs tar
    with -k (which would stop at the second)."""
    from collections import Counter

    counts = Counter(paths)
    return {(path, i) for path, n in counts.items() if n > 1 for i in range(n - 1)}


def _manifest_paths(manifest: dict | None) -> list[str]:
    """The member paths a (possibly hand-edited) manifest lists, in order."""
    return [m["path"] for m in (manifest or {}).get("members") or []
            if isinstance(m, dict) and isinstance(m.get("path"), str)]
