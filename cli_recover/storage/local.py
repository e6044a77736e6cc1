"""A folder as an archive store: `LocalArchiveStore(root)` and its `LocalFileSink`.

The sink is the local commit rule of docs/FORMAT.md ("How a backup commits"), step by step, with
the fault points `commit.*` the commit-order tests kill the process at:

1. `<archive>.partial` reserved with O_CREAT|O_EXCL, 0600 (by `reserve_output`, the caller's or ours);
2. bytes written to it; `finish()` fsyncs it;
3. `commit()`: `commit.archive-synced`, the manifest to `<archive>.manifest.json.partial` (O_EXCL,
   0600, fsynced; `commit.manifest-write` fires half-way), fsync the folder, `commit.manifest-written`;
4. rename the archive into place (the commit point), `commit.archive-renamed`;
5. rename the manifest into place, `commit.manifest-renamed`;
6. fsync the folder, `commit.dir-synced`.
"""

from __future__ import annotations

import contextlib
import os
import stat as st
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cli_recover.archive.manifest import (
    manifest_partial_path,
    manifest_path,
    partial_outputs,
    partial_path,
    reserve_output,
    spool_path,
)
from cli_recover.config import ensure_dir
from cli_recover.errors import RecoverError, UsageError
from cli_recover.fsutil import fsync_dir, open_regular
from cli_recover.storage.base import Manifest, ObjectInfo, remove_in_order
from cli_recover.testhooks import fault_point


class LocalFileSink:
    """One archive being written into a local folder. Removes only what it created."""

    def __init__(self, archive: str | os.PathLike, *, reserved: bool = False):
        self.archive = Path(archive)
        self.name = self.archive.name
        self.partial = partial_path(self.archive)
        self.manifest_partial = manifest_partial_path(self.archive)
        self.manifest = manifest_path(self.archive)
        self.spool_path = spool_path(self.archive)  # the member-index spool, beside the archive
        self._manifest_ours = False
        self._done = False
        if not reserved:
            reserve_output(self.archive)  # the name is ours from here (or a one-line error)
        try:
            # the .partial reserved for us (created exclusively): never one another backup is writing
            self._f = os.fdopen(os.open(self.partial, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW), "wb")
        except OSError as exc:
            with contextlib.suppress(OSError):  # (a folder in its place is not ours to remove)
                self.partial.unlink(missing_ok=True)
            raise RecoverError(f"cannot write the archive in {self.archive.parent}: {exc.strerror or exc}") from None

    @property
    def where(self) -> str:
        return str(self.archive.parent)

    @property
    def partial_outputs(self) -> list[str]:
        """What a job registers as its own to remove if it dies before the commit."""
        return [str(p) for p in partial_outputs(self.archive)]

    def write(self, data: bytes) -> None:
        self._f.write(data)

    def finish(self) -> int:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        return self.partial.stat().st_size

    def commit(self, manifest: Manifest) -> tuple[str, str]:
        # Both files are complete and durable under their .partial names before either is renamed;
        # the archive is renamed first (the commit point), then the manifest. A crash between the
        # renames leaves an archive whose complete manifest is still `.partial`: the vanished-job
        # check (engine/store.py) finishes that rename.
        renamed: list[Path] = []
        folder = self.archive.parent
        try:
            fault_point("commit.archive-synced")
            self._write_manifest(manifest)  # written and fsynced, not renamed
            fsync_dir(folder)  # both .partial names are durable before the first rename
            fault_point("commit.manifest-written")
            os.replace(self.partial, self.archive)  # the commit point: the archive exists only when complete
            renamed.append(self.archive)
            fault_point("commit.archive-renamed")
            os.replace(self.manifest_partial, self.manifest)
            renamed.append(self.manifest)
            fault_point("commit.manifest-renamed")
            fsync_dir(folder)
            fault_point("commit.dir-synced")
        except BaseException:
            for p in reversed(renamed):  # the manifest goes before its archive
                p.unlink(missing_ok=True)
            self.abort()
            raise
        self._done = True
        return str(self.archive), str(self.manifest)

    def _write_manifest(self, manifest: Manifest) -> None:
        fd = os.open(self.manifest_partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self._manifest_ours = True
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            manifest.write_to(out)
            out.flush()
            os.fsync(out.fileno())
        manifest.done()

    def abort(self) -> None:
        if self._done:
            return
        try:
            self._f.close()
        except OSError:  # a failed write left bytes in the buffer (disk full): the file goes anyway
            pass
        self.partial.unlink(missing_ok=True)
        if self._manifest_ours:
            self.manifest_partial.unlink(missing_ok=True)


class LocalArchiveStore:
    """A folder (and its subfolders) of archives and manifests."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()
        self.location = str(self.root)

    def __repr__(self) -> str:
        return f"LocalArchiveStore({self.location!r})"

    def describe(self) -> str:
        return self.location

    def _path(self, name: str) -> Path:
        parts = PurePosixPath(name).parts
        if not name or PurePosixPath(name).is_absolute() or ".." in parts:
            raise UsageError(f"not an archive name inside {self.location}: {name!r}")
        return self.root.joinpath(*parts)

    def locate(self, name: str) -> str:
        return str(self._path(name))

    def local_path(self, name: str) -> Path:
        return self._path(name)

    def create(self, name: str, *, reserved: bool = False, unique: bool = False, extension: str = "") -> LocalFileSink:
        path = self._path(name)
        ensure_dir(path.parent)  # a missing folder is made 0700 whatever the umask, like the data home
        if not reserved:  # a taken name: one line, or with unique the next free `-2`, `-3`... before extension
            path = reserve_output(path, extension=extension, unique=unique)
        return LocalFileSink(path, reserved=True)

    def load(self, name: str, offset: int = 0) -> BinaryIO:
        f = open_regular(self._path(name), "rb", buffering=0)  # never a FIFO's open or /dev/zero's read
        if offset:
            f.seek(offset)
        return f

    def stat(self, name: str) -> ObjectInfo:
        s = os.stat(self._path(name))
        kind = "file" if st.S_ISREG(s.st_mode) else "dir" if st.S_ISDIR(s.st_mode) else "other"
        return ObjectInfo(name, s.st_size, s.st_mtime, kind)

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        top = self._path(prefix) if prefix else self.root
        if not top.is_dir():
            return
        for dirpath, dirs, files in os.walk(top):
            rel = Path(dirpath).relative_to(self.root)
            for name in sorted(files):
                try:
                    s = os.stat(os.path.join(dirpath, name))
                except OSError:
                    continue  # gone since the listing (or a dangling link)
                kind = "file" if st.S_ISREG(s.st_mode) else "other"
                yield ObjectInfo((rel / name).as_posix(), s.st_size, s.st_mtime, kind)
            if not recursive:
                dirs.clear()

    def remove(self, name: str) -> None:
        try:
            os.unlink(self._path(name))
        except FileNotFoundError:
            pass

    def remove_archive(self, name: str, on_removed: Callable[[str], None] | None = None) -> list[str]:
        return remove_in_order(self, name, on_removed)
