"""Durable file writes shared by the archive pipeline, the job history and the schedules."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename in this folder durable (best effort: not every filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_append(path: str | os.PathLike, **kwargs):
    """A text file opened for appending, created 0600 (logs: private whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        return os.fdopen(fd, "a", **kwargs)
    except BaseException:
        os.close(fd)
        raise


def write_tmp(directory: Path, name: str, data: bytes, mode: int = 0o600) -> Path:
    """A fsynced hidden temporary file in directory holding data (to be renamed or linked into place)."""
    tmp = directory / f".{name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:  # os.write may write less than asked
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException as exc:  # e.g. a full disk: no empty temporary file left, and say which file
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise OSError(exc.errno, exc.strerror, str(directory / name)) from None
        raise
    os.close(fd)
    return tmp


def replace_file(path: Path, data: bytes, *, durable: bool = True, mode: int = 0o600) -> None:
    """Atomically replace path with data: readers see the old or the new file, never a half."""
    tmp = write_tmp(path.parent, path.name, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def open_regular(path: str | os.PathLike, mode: str = "rb", **kwargs):
    """path opened for reading, or OSError when it is not a regular file (a FIFO would block the open
    forever, /dev/zero would be read without end). O_NONBLOCK only matters for the FIFO's open."""
    import errno
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


# The private folder a staged local restore extracts into, inside the target (providers/filesystem.py).
# A job records it as a partial output; remove_partial() removes such folders whole, nothing else.
STAGING_PREFIX = ".cli-recover-staging-"
