"""The two storage seams (docs/ARCHITECTURE.md, "Adding a store").

- `Sink`: where one backup's stored bytes go while the pipeline runs (`write`, `finish`, `commit`,
  `abort`). It owns the commit rule of docs/FORMAT.md ("How a backup commits") for its medium.
- `ArchiveStore`: everything that reads, lists, stats or removes archives (catalog, verify,
  restore's opening of an archive, schedule retention, cleanup). Modelled on restic's
  internal/backend `Backend` (Save/Load/Stat/List/Remove + a location that strips its own secrets):
  `create` is Save as a streaming `Sink`, `load` is Load as a file object.

Names inside a store are relative POSIX paths (`shop/web-0-....tar.zst`); a store's `locate(name)`
is the string a user sees and `open_store`/`store_for` accept back (a local path today, a URL later).
A store never puts a credential into anything it returns: `describe()` and `locate()` are safe to log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, TextIO, runtime_checkable

MANIFEST_SUFFIX = ".manifest.json"


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object (restic's FileInfo): its name in the store, size and modification time."""
    name: str
    size: int
    mtime: float
    kind: str = "file"  # file | dir | other (a FIFO or device in a local folder: never read it)


class Manifest(Protocol):
    """The manifest a sink commits: written as text, streamed (it holds the member index)."""
    def write_to(self, out: TextIO) -> None: ...

    def done(self) -> None:
        """The manifest is durable: what it was streamed from (the member spool) may go."""


@runtime_checkable
class Sink(Protocol):
    name: str  # the archive's name in its store
    where: str  # where it goes, for messages (a folder; later a store's describe())
    spool_path: Path  # a local scratch file for the member index (the pipeline creates and removes it)
    partial_outputs: list[str]  # what the job records as its own to clean up if it dies uncommitted

    def write(self, data: bytes) -> None:
        """Append stored (compressed) bytes. Called from the pipeline's store stage only."""

    def finish(self) -> int:
        """Every byte written is durable but not yet visible; returns the stored size."""

    def commit(self, manifest: Manifest) -> tuple[str, str]:
        """Make archive then manifest visible, in the documented order; on any error undo every
        step done (the manifest before the archive) and re-raise. Returns (archive, manifest) as
        `locate()` strings."""

    def abort(self) -> None:
        """Remove everything this sink created (never anything else). Safe to call twice."""


@runtime_checkable
class ArchiveStore(Protocol):
    location: str  # what open_store() was given (may hold secrets later: never print it, describe())

    def describe(self) -> str:
        """The location without credentials, for messages and logs."""

    def locate(self, name: str) -> str:
        """The user-facing string for one object (a path here; a URL without secrets later)."""

    def local_path(self, name: str) -> Path | None:
        """A filesystem path for the object when the store is a local folder, else None."""

    def create(self, name: str, *, reserved: bool = False, unique: bool = False, extension: str = "") -> Sink:
        """A sink writing a new archive (restic: Save); `sink.name` is the name it got. The name is
        reserved here (a taken one is a one-line error, or with `unique` gets `-2`, `-3`... before
        `extension`) unless `reserved`: the caller already did (locally: created the `.partial`)."""

    def load(self, name: str, offset: int = 0) -> BinaryIO:
        """A binary reader of the object from offset (restic: Load). FileNotFoundError if missing."""

    def stat(self, name: str) -> ObjectInfo:
        """FileNotFoundError if missing (restic: Stat)."""

    def list(self, prefix: str = "", *, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Every object under prefix (restic: List); with recursive=False only that level's files."""

    def remove(self, name: str) -> None:
        """Remove one object (restic: Remove). A missing one is not an error."""

    def remove_archive(self, name: str, on_removed: Callable[[str], None] | None = None) -> list[str]:
        """Remove an archive and its manifest, the manifest FIRST (a reader never sees a manifest
        without its archive); stops at the first error (raised) so the order always holds. Returns
        what was removed, as locate() strings. See `removal_order`."""


def manifest_name(archive: str) -> str:
    return archive + MANIFEST_SUFFIX


def removal_order(archive: str) -> list[str]:
    """The order in which an archive's objects are removed: manifest, then archive (docs/FORMAT.md)."""
    return [manifest_name(archive), archive]


def remove_in_order(store: ArchiveStore, archive: str, on_removed: Callable[[str], None] | None = None) -> list[str]:
    """The shared `remove_archive` of every store: `removal_order`, stop at the first failure."""
    removed = []
    for name in removal_order(archive):
        try:
            store.stat(name)
        except FileNotFoundError:
            continue
        store.remove(name)
        removed.append(store.locate(name))
        if on_removed is not None:
            on_removed(name)
    return removed
