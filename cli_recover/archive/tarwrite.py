"""Canonical re-encoding: restore never hands the archive's own bytes to `tar -x`.

`CanonicalTar.feed(raw)` parses the stream with the project's reader (tarindex) and writes a fresh
tar stream built only from the fields of the members it accepted: every header is encoded anew by
python's tarfile (pax format), content is copied through, padding and the end marker are ours.
Whatever a hostile header means to some other parser, `tar -x` can only see what the guard saw.
"""

from __future__ import annotations

import posixpath
import tarfile

from cli_recover.archive.tarindex import BLOCK, Member, TarIndexer
from cli_recover.errors import IntegrityError

FLUSH = 1 << 20  # output is gathered into writes of about this size
TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}


def pax_time(ns: int) -> str:
    """Nanoseconds as a pax time: `1700000000.5`, `-5.25` (exact, no float rounding)."""
    sign = "-" if ns < 0 else ""
    seconds, frac = divmod(abs(ns), 10**9)
    return f"{sign}{seconds}" + (f".{frac:09d}".rstrip("0") if frac else "")


def encode_header(m: Member) -> bytes:
    """The header block(s) of one member, from its parsed fields only."""
    info = tarfile.TarInfo(m.raw_name)
    info.type = TYPES[m.type]
    info.mode, info.uid, info.gid = m.mode, m.uid, m.gid
    info.uname, info.gname = m.uname, m.gname
    ns = m.mtime_ns if m.mtime_ns is not None else round(m.mtime * 10**9)
    info.mtime = ns // 10**9
    pax: dict[str, str] = {}
    if ns % 10**9 or not 0 <= info.mtime < 8**11:
        pax["mtime"] = pax_time(ns)
        info.mtime = max(0, min(info.mtime, 8**11 - 1))
    if m.type in ("symlink", "hardlink"):
        info.linkname = m.link or ""
    if m.type == "file":
        info.size = m.stored
        if m.sparse is not None:  # GNU sparse 1.0: tar -x recreates the holes
            pax.update({"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": m.raw_name,
                        "GNU.sparse.realsize": str(m.size)})
            info.name = "GNUSparseFile.0/" + (posixpath.basename(m.path).encode("ascii", "replace").decode()[:80] or "f")
            info.size += len(sparse_map(m))
    info.pax_headers = pax
    if m.sparse is None and not all(_is_utf8(t) for t in (m.raw_name, m.link or "", m.uname, m.gname)):
        # a name that is not UTF-8 goes into pax with hdrcharset=BINARY, which GNU tar warns about
        # once per member (and the warning would hide tar's real error): the GNU format stores the
        # bytes as they are (long names as GNU long-name records). Only an mtime fraction is lost.
        return info.tobuf(tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape")
    return info.tobuf(tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def sparse_map(m: Member) -> bytes:
    regions = list(m.sparse)
    if not regions or sum(regions[-1]) < m.size:
        regions.append((m.size, 0))  # GNU tar sets the size of a file that ends in a hole from this
    text = f"{len(regions)}\n" + "".join(f"{off}\n{length}\n" for off, length in regions)
    data = text.encode()
    return data + bytes(-len(data) % BLOCK)


class CanonicalTar:
    """Parses a raw tar stream and writes (through `write(bytes)`) a canonical one.

    on_header(member) runs before any byte of that member is written; it refuses by raising.
    drop: (path, occurrence) pairs (occurrence 0 = the first member of that path) to leave out,
    e.g. all but the last copy of a path stored twice (GNU tar without -k lets the last one win).
    `current` names the member whose bytes were being written last (for an error message)."""

    def __init__(self, write, on_header=None, drop=frozenset()):
        self.write, self.guard = write, on_header
        self.drop = set(drop)
        self._drop_paths = {path for path, _ in self.drop}
        self._seen: dict[str, int] = {}
        self.indexer = TarIndexer(on_header=self._header, on_content=self._content, on_member=self._member,
                                  hash_content=False)
        self._out = bytearray()
        self._skip = False
        self._stored = 0
        self._pending: str | None = None
        self.current: str | None = None
        self.emitted = 0
        self.end_written = False

    def feed(self, raw) -> None:
        self.indexer.feed(raw)

    def finish(self) -> None:
        self.indexer.finish()
        self._emit(bytes(2 * BLOCK))
        self._flush()
        self.end_written = True

    # --- the indexer's hooks ----------------------------------------------------------------------

    def _header(self, m: Member) -> None:
        if self.guard is not None:
            self.guard(m)
        if m.type not in TYPES:
            raise IntegrityError(f"refusing a member of a type tar would not restore as such ({m.type}): {m.path}")
        self._skip = False
        if m.path in self._drop_paths:
            n = self._seen.get(m.path, 0)
            self._seen[m.path] = n + 1
            self._skip = (m.path, n) in self.drop
        if self._skip:
            return
        try:
            header = encode_header(m)
        except (ValueError, UnicodeError, OverflowError) as exc:  # never a traceback for odd fields
            raise IntegrityError(f"cannot re-encode member {m.path}: {exc}") from None
        self._emit(header)
        self._pending = m.raw_name
        if m.sparse is not None:
            self._emit(sparse_map(m))
        self._stored = m.stored if m.type == "file" else 0

    def _content(self, view) -> None:
        if not self._skip:
            self._emit(view)

    def _member(self, m: Member) -> None:
        if self._skip:
            self._skip = False
            return
        self._emit(bytes(-self._stored % BLOCK))
        self.emitted += 1

    # --- output -----------------------------------------------------------------------------------

    def _emit(self, data) -> None:
        self._out += data
        if len(self._out) >= FLUSH:
            self._flush()

    def _flush(self) -> None:
        if self._out:
            if self._pending is not None:
                self.current = self._pending
            data = bytes(self._out)
            self._out.clear()
            self.write(data)
