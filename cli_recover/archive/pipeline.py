"""The byte pipeline. Backup: producer stdout -> (tar index, sha256, byte count) -> compress ->
sha256 -> `<archive>.partial` -> fsync -> rename. Restore: archive -> decompress -> (guard, sha256)
-> consumer stdin. The producer/consumer is a `StreamProcess` from any target (local host or pod).

Nothing half-done looks done: the archive is renamed into place only after the producer exited
successfully, the tar end marker was seen and every count agrees; on any failure or cancel the
partial file is removed and the error says why.
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
from cli_recover.archive.manifest import FORMAT, FORMAT_VERSION, MemberSpool, manifest_path, spool_path
from cli_recover.archive.tarindex import Member, TarIndexer
from cli_recover.errors import Cancelled, IntegrityError, ProducerError, RecoverError
from cli_recover.fsutil import fsync_dir

CHUNK = 1 << 20
QUEUE_DEPTH = 8  # chunks in flight per stage: memory is bounded by ~2 x QUEUE_DEPTH MiB
DECOMPRESS_SLICE = 64 << 10  # compressed bytes per decompress call (bounds each output chunk)

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


class _Stage(threading.Thread):
    """A pipeline stage consuming chunks from a bounded queue. On error it keeps draining so the
    reader never blocks, and records the first exception."""

    def __init__(self, name: str, fn: Callable[[bytes], None], finish: Callable[[], None]):
        super().__init__(name=name, daemon=True)
        self.queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self.fn, self.finish_fn = fn, finish
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            chunk = self.queue.get()
            if chunk is None:
                break
            if self.error is None:
                try:
                    self.fn(chunk)
                except BaseException as exc:  # noqa: BLE001 - reported by the reader
                    self.error = exc
        if self.error is None:
            try:
                self.finish_fn()
            except BaseException as exc:  # noqa: BLE001
                self.error = exc


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
    out = Path(req.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    if out.exists():
        raise RecoverError(f"{out} already exists; choose another -o or remove it first")
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
        f = open(partial, "xb")  # never write into another backup's .partial
    except FileExistsError:
        raise RecoverError(f"{partial} exists: another backup is writing {out.name}") from None
    except OSError as exc:
        raise RecoverError(f"cannot write the archive in {out.parent}: {exc.strerror or exc}") from None
    try:
        spool = MemberSpool(spool_path(out))
    except OSError as exc:
        f.close()
        partial.unlink(missing_ok=True)
        raise RecoverError(f"cannot write the member index next to {out.name}: {exc.strerror or exc}") from None
    compressor = Compressor(req.codec, req.level, req.threads)

    def store_chunk(data: bytes) -> None:
        stored_hash.update(data)
        counts["stored"] += len(data)
        f.write(data)

    def store_finish() -> None:
        f.flush()
        os.fsync(f.fileno())

    # compress and store run in separate threads: the codec never waits for sha256 or the disk
    writer = _Stage("write", store_chunk, store_finish)

    def compress_chunk(chunk: bytes) -> None:
        data = compressor.compress(chunk)
        if data:
            writer.queue.put(data)

    def compress_finish() -> None:
        data = compressor.finish()
        if data:
            writer.queue.put(data)

    feeders = [_Stage("index", index_chunk, index_finish), _Stage("compress", compress_chunk, compress_finish)]
    stages = [*feeders, writer]
    for stage in stages:
        stage.start()

    proc = None
    failure: BaseException | None = None
    stage_failed: list[_Stage] = []
    try:
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
            counts["raw"] += len(chunk)
            for stage in feeders:
                stage.queue.put(chunk)
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
            stage.queue.put(None)
        for stage in feeders:
            stage.join()
        writer.queue.put(None)  # after the compressor's last output
        writer.join()
        try:
            f.close()
        except OSError as exc:  # a failed write left bytes in the buffer (disk full): already reported
            if failure is None and writer.error is None:
                writer.error = exc

    def _abort(exc: BaseException):
        spool.discard()
        try:
            partial.unlink()
        except FileNotFoundError:
            pass
        return exc

    if failure is not None:
        if isinstance(failure, KeyboardInterrupt):
            raise _abort(Cancelled(signal.SIGINT)) from None
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
                raise _abort(RecoverError(f"backup stream failed in {stage.name}: {err}; no archive was written"))

    if stage_failed:  # we stopped the producer because the stream was bad: that is the cause
        stage_errors()
    if code not in req.ok_exit_codes:
        detail = stderr_summary(stderr)
        what = exit_description(code)
        raise _abort(ProducerError(f"{req.argv[0]} on {req.target.describe()} {what}: {detail}; no archive was written"))
    stage_errors()
    if indexer is not None and indexer.bytes_seen != counts["raw"]:
        raise _abort(IntegrityError("byte counts disagree between reader and index; no archive was written"))
    if counts["stored"] != partial.stat().st_size:
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
        "archive": out.name,
        "kind": "backup",
        "provider": req.provider,
        "source": req.source,
        "created": finished,
        "started": started,
        "finished": finished,
        "duration_seconds": round(time.monotonic() - t0, 3),
        "host": socket.gethostname(),
        "stream": {"type": req.stream_type, "command": req.argv, "member_prefix": prefix[0] if prefix else ""},
        "codec": {"name": req.codec, "level": req.level, "extension": info.extension},
        "bytes": {"raw": counts["raw"], "stored": counts["stored"],
                  "content": indexer.content_bytes if indexer else None},
        "sha256": {"stored": stored_hash.hexdigest(), "raw": raw_hash.hexdigest()},
        "members_count": indexer.members if indexer else None,
        "options": req.options,
        "warnings": warnings,
    }
    mpath = manifest_path(out)
    try:
        spool.write_manifest(header, mpath)
        os.replace(partial, out)  # the commit point: the archive exists only when complete
        fsync_dir(out.parent)
    except BaseException as exc:
        _abort(exc)
        mpath.unlink(missing_ok=True)
        raise RecoverError(f"cannot finish the archive: {exc}") from None
    header["archive_path"] = str(out)
    header["manifest_path"] = str(mpath)
    return header


# ---------------------------------------------------------------------------------------------
# Reading archives back: shared by verify and restore


def hash_file(path: Path, progress: Progress | None = None, cancel: threading.Event | None = None) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    total = path.stat().st_size
    with open(path, "rb", buffering=0) as f:
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
    runs in its own thread so it overlaps with the sink (tar parse, hashing, writing)."""
    q: queue.Queue = queue.Queue(QUEUE_DEPTH)
    state: dict = {"error": None}
    total = path.stat().st_size
    stop = threading.Event()

    def produce() -> None:
        dec = Decompressor(codec)
        done = 0
        try:
            with open(path, "rb", buffering=0) as f:
                while not stop.is_set():
                    data = f.read(CHUNK)
                    if not data:
                        break
                    done += len(data)
                    if stored_hash is not None:
                        stored_hash.update(data)
                    # Feed the codec small slices: each output stays a few MiB even for data that
                    # compresses 50:1, so the queue (and memory) is bounded by what it holds.
                    view = memoryview(data)
                    step = len(view) if codec == "none" else DECOMPRESS_SLICE
                    for i in range(0, len(view), step):
                        out = dec.decompress(view[i : i + step])
                        if out:
                            q.put((out, done - len(view) + min(i + step, len(view))))
            dec.finish()
        except BaseException as exc:  # noqa: BLE001
            state["error"] = exc
        finally:
            q.put(None)

    thread = threading.Thread(target=produce, name="decompress", daemon=True)
    thread.start()
    raw = 0
    try:
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled(_cancel_signum(cancel))
            item = q.get()
            if item is None:
                break
            chunk, done = item
            raw += len(chunk)
            sink(chunk)
            if progress is not None:
                progress(done, total)
    finally:
        stop.set()
        while thread.is_alive():  # unblock the producer if the sink failed
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
    if state["error"] is not None:
        raise state["error"]
    return raw


@dataclass
class RestoreRequest:
    target: object  # kube.base.Target
    archive: Path
    argv: list[str]  # the consumer command (e.g. tar -x ...), run on the target
    codec: str
    manifest: dict | None
    stream_type: str = "tar"
    # Hash the stored bytes as they are read and compare with the manifest at the end. Redundant
    # when the whole file was verified just before; it is the check that remains with --no-verify.
    # (Stored rather than raw bytes: fewer of them, hashed in the decompress thread.)
    check_stored: bool = True
    # The restore guard every header passes before its bytes reach the consumer (on_header): a
    # RestoreGuard set up by the restore checks (it knows the target's disk); default: a fresh one.
    guard: object = None
    staged: bool = False  # the consumer writes into a staging folder that is removed on failure


def run_restore(req: RestoreRequest, progress: Progress | None = None, cancel: threading.Event | None = None,
                on_process: Callable[[object], None] | None = None) -> dict:
    """Streams the archive into the consumer. The caller has already checked integrity and safety
    from the manifest (see restore planning); this stream checks again as it goes: every tar header
    passes the safety guard before its bytes reach the consumer, the codec checks its frame checksum,
    and (check_stored) the stored file's sha256 must match the manifest."""
    stored_hash = hashlib.sha256() if req.check_stored else None
    guard = req.guard if req.guard is not None else RestoreGuard()
    indexer = None
    if req.stream_type == "tar":
        indexer = TarIndexer(on_header=guard, hash_content=False)
    proc = req.target.spawn(req.argv, stdin=True)
    if on_process is not None:
        on_process(proc)

    consumer_done = False

    def sink(chunk: bytes) -> None:
        nonlocal consumer_done
        if indexer is not None:
            indexer.feed(chunk)  # raises before the chunk is written when a header is unsafe
        if consumer_done:
            return
        try:
            proc.write(chunk)
        except ProducerError:
            if indexer is not None and indexer.end_seen:
                # tar stops reading at the end-of-archive marker and may exit before the zero padding
                # after it arrives; its exit status (checked below) says whether it got everything
                consumer_done = True
                return
            raise

    try:
        raw = stream_archive(req.archive, req.codec, sink, progress=progress, cancel=cancel, stored_hash=stored_hash)
        if indexer is not None:
            indexer.finish()
        expected = (req.manifest or {}).get("sha256", {}).get("stored")
        if stored_hash is not None and expected and stored_hash.hexdigest() != expected:
            raise IntegrityError("the archive's sha256 differs from the manifest")
    except KeyboardInterrupt:
        proc.kill()
        raise Cancelled(signal.SIGINT) from None
    except ProducerError as exc:
        proc.kill()
        proc.wait()
        raise _consumer_failed(req, proc, guard, str(exc)) from None
    except IntegrityError as exc:
        proc.kill()
        proc.wait()
        if req.staged:
            raise IntegrityError(f"{exc}; nothing was restored (the staged files were removed)") from None
        raise IntegrityError(f"{exc}; the restore stopped part-way and is incomplete") from None
    except BaseException:
        proc.kill()
        raise
    proc.close_stdin()
    code = proc.wait()
    if cancel is not None and cancel.is_set():
        raise Cancelled(_cancel_signum(cancel))
    if code != 0:
        raise _consumer_failed(req, proc, guard, f"{req.argv[0]} on {req.target.describe()} {exit_description(code)}")
    return {"raw_bytes": raw, "members": indexer.members if indexer else None}


def _consumer_failed(req: RestoreRequest, proc, guard, what: str) -> ProducerError:
    """The consumer failed: its real cause, the file it left incomplete (the one tar names, else the
    member in flight) and the tail of its stderr (`stderr_tail`, for the job log)."""
    stderr = proc.stderr_text()
    name = stderr_file(stderr)
    in_flight = getattr(getattr(req, "reencoder", None), "current", None) or getattr(guard, "last", None)
    if name is None and in_flight is not None:
        name = in_flight.path
    if name is not None:
        name = name.removeprefix("./")
    where = f"; {name} may be left incomplete in the target (and members after it missing)" if name else ""
    if req.staged:
        where = "; nothing was restored (the staged files were removed)"
    err = ProducerError(f"{what}: {stderr_summary(stderr)}{where}")
    err.incomplete = name
    err.stderr_tail = stderr[-4000:]
    return err
