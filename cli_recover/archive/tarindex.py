"""A streaming tar parser: indexes every member (and hashes its content) as the bytes go by.

It reads what GNU tar 1.34 reads, or refuses: ustar, GNU (long names and links, base-256 numbers,
old sparse members with extension blocks) and pax (per-file `x` and Solaris `X`, global `g`, the
GNU sparse formats 0.0, 0.1 and 1.0). Numbers are parsed exactly as GNU tar parses them (strict
octal or base-256; `0o`, `_`, signs or junk are refused), pax records must be well formed, header
checksums must match, and the end-of-archive marker must be seen. It never buffers member content
and keeps only the pax records it needs (large xattrs, ACLs... are skipped as they stream by), so
memory is bounded by the limits below whatever the archive holds. Cost is linear in its size.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from cli_recover.errors import IntegrityError

BLOCK = 512
PAX_LIMIT = 64 << 20  # largest pax extended header (its content streams: only kept records stay)
KEEP_LIMIT = 16 << 20  # what is kept of one extended header (names, a sparse map)
GLOBAL_LIMIT = 1 << 20  # what is kept of all pax global headers together
GLOBAL_COUNT_LIMIT = 10_000  # pax global headers in one archive
PATH_LIMIT = 64 << 10  # longest member name or link target (GNU tar fails far below this)
SPARSE_REGIONS_LIMIT = 1 << 20  # data regions of one sparse member
NUMBER_KEEP = 128  # bytes kept of a numeric pax value (more is out of range anyway)
RECORDS_LIMIT = 1 << 20  # records in one pax header (bounds the time a header of tiny records takes)

TYPE_NAMES = {
    b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink", b"3": "char",
    b"4": "block", b"5": "dir", b"6": "fifo", b"S": "file", b"D": "dir",
}
META_TYPES = (b"x", b"X", b"g", b"L", b"K")
# pax keywords we use; every other one (atime, ctime, xattrs, ACLs, vendor keys) is skipped unread.
# GNU tar -x without --xattrs/--acls ignores them as well.
KEPT_KEYS = {
    "path", "linkpath", "size", "mtime", "uid", "gid", "uname", "gname",
    "GNU.sparse.name", "GNU.sparse.realsize", "GNU.sparse.size", "GNU.sparse.major",
    "GNU.sparse.minor", "GNU.sparse.map", "GNU.sparse.offset", "GNU.sparse.numbytes",
}
NAME_KEYS = ("path", "linkpath", "GNU.sparse.name", "uname", "gname")
ZEROS = bytes(1 << 20)


@dataclass(slots=True)  # restore keeps one per member of an archive without a manifest
class Member:
    path: str
    type: str
    size: int  # the file's real size (for a sparse file: with its holes)
    mode: int
    mtime: float
    link: str | None = None
    uid: int = 0
    gid: int = 0
    sha256: str | None = None  # of the content (a sparse file's holes read as zeros)
    raw_name: str = ""  # the name exactly as stored (e.g. "./a/b")
    uname: str = ""
    gname: str = ""
    mtime_ns: int | None = None  # exact mtime in nanoseconds, when known
    sparse: list | None = None  # [(offset, length), ...] data regions of a sparse file
    stored: int = 0  # content bytes in the stream (sparse: the regions only)

    def to_json(self) -> dict:
        out = {"path": self.path, "type": self.type, "size": self.size, "mode": self.mode,
               "mtime": int(self.mtime) if self.mtime == int(self.mtime) else self.mtime}
        if self.link is not None:
            out["link"] = self.link
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        out["uid"], out["gid"] = self.uid, self.gid
        return out


def normalize_path(name: str) -> str:
    """`./a/b/` -> `a/b`; the archive root `./` -> `.`."""
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    return name or "."


def _bad(what: str) -> IntegrityError:
    return IntegrityError(f"malformed tar header ({what}): not a valid tar stream as GNU tar reads it")


_SPACES = b" \t\n\v\f\r"
_OCTAL = re.compile(rb"\0?[ \t\n\v\f\r]*([0-7]*)(?:[\0 \t\n\v\f\r]|\Z)")


def parse_number(field_bytes: bytes, what: str, *, signed: bool = False) -> int:
    """A numeric header field exactly as GNU tar's from_header reads it: one leading NUL, leading
    blanks, then octal digits ended by NUL, a blank or the field's end; or base-256 (first byte
    0x80, or 0xff for a negative number). Anything else (`0o`, `_`, signs, junk) is refused."""
    m = _OCTAL.match(field_bytes)
    if m is not None:  # the common case, in one regex
        digits = m.group(1)
        if digits:
            return int(digits, 8)
        if m.end(1) < len(field_bytes):
            return 0
    pos, end = 0, len(field_bytes)
    if pos < end and field_bytes[pos] == 0:
        pos += 1
    while True:
        if pos == end:
            raise _bad(f"blank {what} field")
        if field_bytes[pos] not in _SPACES:
            break
        pos += 1
    first = field_bytes[pos]
    if first in (0x80, 0xFF):
        value = int.from_bytes(field_bytes[pos:], "big", signed=first == 0xFF) if first == 0xFF else \
            int.from_bytes(field_bytes[pos + 1 :], "big")
        if not -(1 << 63) <= value < (1 << 63):
            raise _bad(f"{what} out of range")
        pos = end
    else:
        start = pos
        while pos < end and 0x30 <= field_bytes[pos] <= 0x37:
            pos += 1
        value = int(field_bytes[start:pos], 8) if pos > start else 0
    if pos != end and field_bytes[pos] != 0 and field_bytes[pos] not in _SPACES:
        raise _bad(f"{what} field {bytes(field_bytes)!r}")
    if value < 0 and not signed:
        raise _bad(f"negative {what}")
    return value


def _str(field_bytes: bytes) -> str:
    return field_bytes.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def pax_decimal(text: bytes, limit: int) -> int | None:
    """A pax number as GNU tar's decode_num takes it: digits only, within 0..limit; else None."""
    if not text or not text.isdigit() or not text.isascii():
        return None
    value = int(text)
    return value if value <= limit else None


def pax_time(text: bytes) -> int | None:
    """A pax time in nanoseconds as GNU tar's decode_timespec reads it: an optional `-`, digits,
    an optional fraction (9 digits kept, truncated towards minus infinity); anything after that is
    ignored as tar ignores it. None (tar: "invalid" or "out of range", keeps the header's value)
    when there are no digits or it does not fit a 64-bit time_t."""
    negative = text[:1] == b"-"
    pos = 1 if negative else 0
    start = pos
    while pos < len(text) and 0x30 <= text[pos] <= 0x39:
        pos += 1
    if pos == start:
        return None
    seconds = int(text[start:pos])
    frac = b""
    if text[pos : pos + 1] == b".":
        pos += 1
        fstart = pos
        while pos < len(text) and 0x30 <= text[pos] <= 0x39:
            pos += 1
        frac = text[fstart:pos]
    ns = int(frac[:9].ljust(9, b"0")) + (1 if negative and frac[9:].strip(b"0") else 0)
    total = -(seconds * 10**9 + ns) if negative else seconds * 10**9 + ns
    if not -(1 << 63) <= total // 10**9 < (1 << 63):
        return None
    return total


class _PaxReader:
    """Reads pax records (`LEN key=value\\n`) as the payload streams by; keeps the records of
    KEPT_KEYS (bounded), skips the others unread. Records keep their order (sparse 0.0 repeats keys)."""

    def __init__(self, keep_limit: int):
        self.records: list[tuple[str, bytes]] = []
        self.kept = self.count = 0
        self.keep_limit = keep_limit
        self._state = 0  # 0 length, 1 key, 2 value, 3 newline
        self._length = 0
        self._used = 0
        self._key = bytearray()
        self._value: bytearray | None = None
        self._value_left = 0
        self._value_cap = 0

    def feed(self, data) -> None:
        data = bytes(data)
        pos, end = 0, len(data)
        while pos < end:
            if self._state == 0 and not self._key:
                pos = self._whole_records(data, pos, end)
                if pos >= end:
                    break
            if self._state == 0:  # the decimal length, up to its blank
                stop = data.find(b" ", pos, min(end, pos + 21))
                part = data[pos : stop if stop >= 0 else min(end, pos + 21)]
                self._key += part
                if not part.isdigit() and part or len(self._key) > 20:
                    raise IntegrityError("malformed pax extended header: a record without its decimal length")
                if stop < 0:
                    pos += len(part)
                    continue
                if not self._key:
                    raise IntegrityError("malformed pax extended header: a record without its decimal length")
                self._length, self._used = int(self._key), len(self._key) + 1
                self._key = bytearray()
                self._state, pos = 1, stop + 1
            elif self._state == 1:  # the keyword, up to its '='
                limit = min(end, pos + max(0, min(1025 - len(self._key), self._length - self._used)))
                stop = data.find(b"=", pos, limit)
                part = data[pos : stop if stop >= 0 else limit]
                self._key += part
                self._used += len(part)
                pos += len(part)
                if stop < 0:
                    if len(self._key) > 1024 or self._used >= self._length:
                        raise IntegrityError("malformed pax extended header: a record without '='")
                    continue
                self._used += 1
                pos += 1
                self._start_value()
            elif self._state == 2:
                take = min(self._value_left, end - pos)
                if self._value is not None:
                    room = self._value_cap - len(self._value)
                    self._value += data[pos : pos + min(take, room)]
                self._value_left -= take
                self._used += take
                pos += take
                if not self._value_left:
                    self._state = 3
            else:  # 3: the record's last byte
                self._used += 1
                pos += 1
                if data[pos - 1] != 0x0A or self._used != self._length:
                    raise IntegrityError("malformed pax extended header: a record does not end in a newline where its length says")
                self._end_record()

    def _whole_records(self, data: bytes, pos: int, end: int) -> int:
        """The records that lie whole in this chunk, without the byte-wise state machine."""
        while True:
            space = data.find(b" ", pos, min(end, pos + 21))
            if space <= pos:
                return pos
            digits = data[pos:space]
            if not digits.isdigit():
                raise IntegrityError("malformed pax extended header: a record without its decimal length")
            stop = pos + int(digits)
            if stop > end:
                return pos
            equals = data.find(b"=", space + 1, min(stop, space + 1026))
            if equals <= space + 1 or data[stop - 1] != 0x0A or b"\0" in data[space + 1 : equals]:
                raise IntegrityError("malformed pax extended header: a record that is not `LEN key=value\\n`")
            key = data[space + 1 : equals].decode("utf-8", "surrogateescape")
            self._count()
            if key in KEPT_KEYS:
                self._keep(key, data[equals + 1 : min(stop - 1, equals + 1 + self._cap(key))])
            pos = stop

    def _count(self) -> None:
        self.count += 1
        if self.count > RECORDS_LIMIT:
            raise IntegrityError(f"refusing a pax extended header of more than {RECORDS_LIMIT} records")

    def _cap(self, key: str) -> int:
        if key == "GNU.sparse.map":
            return self.keep_limit
        return PATH_LIMIT + 1 if key in NAME_KEYS else NUMBER_KEEP

    def _keep(self, key: str, value: bytes) -> None:
        if key == "GNU.sparse.map" and len(value) >= self._cap(key):
            raise IntegrityError("refusing a sparse map larger than the limit")
        value = value.split(b"\0", 1)[0]  # tar reads values as C strings
        if key in NAME_KEYS and len(value) > PATH_LIMIT:
            raise IntegrityError(f"refusing a pax {key} longer than {PATH_LIMIT} bytes")
        self.kept += len(value) + len(key)
        if self.kept > self.keep_limit:
            raise IntegrityError("refusing a pax extended header: more kept records than the limit")
        self.records.append((key, value))

    def _start_value(self) -> None:
        if not self._key:
            raise IntegrityError("malformed pax extended header: an empty keyword")
        left = self._length - self._used - 1
        if left < 0 or b"\0" in self._key:
            raise IntegrityError("malformed pax extended header: a record longer than its length")
        key = self._key.decode("utf-8", "surrogateescape")
        self._value = None
        if key in KEPT_KEYS:
            self._value, self._value_cap = bytearray(), self._cap(key)
        self._value_left = left
        self._state = 2 if left else 3

    def _end_record(self) -> None:
        self._count()
        if self._value is not None:
            self._keep(self._key.decode("utf-8", "surrogateescape"), bytes(self._value))
        self._state, self._length, self._used = 0, 0, 0
        self._key = bytearray()
        self._value = None

    def finish(self) -> None:
        if self._state != 0 or self._key:
            raise IntegrityError("malformed pax extended header: its last record is cut short")


class _SparseHash:
    """sha256 of a sparse file's expanded content, fed the stored regions in order: holes are
    hashed as zeros in bounded slices, never allocated."""

    def __init__(self, regions: list, size: int):
        self.h = hashlib.sha256()
        self.regions, self.size = regions, size
        self.index, self.left, self.pos = -1, 0, 0  # current region, its bytes still to come, file offset
        self._next()

    def _zeros_to(self, offset: int) -> None:
        while self.pos < offset:
            n = min(offset - self.pos, len(ZEROS))
            self.h.update(memoryview(ZEROS)[:n])
            self.pos += n

    def _next(self) -> None:
        while self.left == 0 and self.index + 1 < len(self.regions):
            self.index += 1
            offset, self.left = self.regions[self.index]
            self._zeros_to(offset)

    def update(self, data) -> None:
        view = memoryview(data)
        while len(view):
            if not self.left:
                self._next()
            take = min(self.left, len(view))
            if not take:
                raise IntegrityError("sparse member has more data than its map describes")
            self.h.update(view[:take])
            view = view[take:]
            self.left -= take
            self.pos += take

    def hexdigest(self) -> str:
        self._next()
        self._zeros_to(self.size)
        return self.h.hexdigest()


def _check_regions(regions: list, size: int, stored: int, name: str) -> int:
    """The data bytes the map uses. GNU tar reads region after region and skips what is left of
    the member's data (less than a block when GNU tar wrote it), so a shorter map is fine."""
    pos = total = 0
    last = max((i for i, (_, length) in enumerate(regions) if length), default=0)
    for i, (offset, length) in enumerate(regions):
        if offset < pos or offset + length > size:
            raise IntegrityError(f"refusing sparse member with an inconsistent map: {name}")
        if length % BLOCK and i < last:
            # GNU tar reads every region's data from a block boundary: a map of smaller regions
            # packed together (some writers make them) means something else to it
            raise IntegrityError(f"refusing sparse member with regions GNU tar reads differently: {name}")
        pos = offset + length
        total += length
    if total > stored:
        raise IntegrityError(f"refusing sparse member whose map does not match its data size: {name}")
    return total


def _sparse_size(regions: list) -> int:
    """The size GNU tar gives the file: the end of its map's last entry (a file that ends in a hole
    has a last entry of length 0 there), even where the stated real size says more."""
    return sum(regions[-1]) if regions else 0


def _pairs(numbers: list[int], name: str) -> list:
    if len(numbers) % 2:
        raise IntegrityError(f"refusing sparse member with an odd map: {name}")
    if len(numbers) // 2 > SPARSE_REGIONS_LIMIT:
        raise IntegrityError(f"refusing sparse member with more than {SPARSE_REGIONS_LIMIT} regions: {name}")
    return list(zip(numbers[0::2], numbers[1::2], strict=True))


@dataclass
class TarIndexer:
    """Feed it the raw tar stream in chunks; it calls `on_header(member)` once a member's header is
    read (before any of its content: the safety guard), `on_content(view)` with its content bytes
    (a sparse file's stored regions, in order) and `on_member(member)` once its content is fully
    hashed. Call `finish()` at the end: it raises IntegrityError unless the stream was a whole
    archive."""

    on_member: object = None  # callable(Member) | None
    on_header: object = None  # callable(Member) | None, before content (for safety guards)
    on_content: object = None  # callable(memoryview) | None
    hash_content: bool = True
    members: int = 0
    content_bytes: int = 0
    bytes_seen: int = 0
    end_seen: bool = False
    trailing_nonzero: bool = False
    _hdr: bytearray = field(default_factory=bytearray)
    _remain: int = 0  # payload bytes still to come (member content, or an extended header)
    _pad: int = 0  # padding bytes after the payload
    _mode: str = ""  # what the payload is: data, skip, pax, name, smap
    _current: Member | None = None
    _hasher: object = None
    _pax: _PaxReader | None = None
    _name_buf: bytearray | None = None
    _meta_kind: bytes = b""
    _x: list | None = None  # records of the last `x` header (the last one wins, as in GNU tar)
    _long_name: str | None = None
    _long_link: str | None = None
    _global: list = field(default_factory=list)  # records of the last `g` header (it replaces the ones before)
    _globals_seen: int = 0
    _zero_blocks: int = 0
    _sparse_ext: bool = False  # old GNU sparse extension blocks still to come before the data
    _smap: bytearray | None = None  # a pax 1.0 sparse map being read from the data
    _smap_lines: int = 0
    _data_left: int | None = None  # region bytes still to come of a sparse member
    _at: int = 0  # stream offset of the header block being read

    def feed(self, data) -> None:
        view = memoryview(data)
        self.bytes_seen += len(view)
        pos, end = 0, len(view)
        while pos < end:
            if self.end_seen:
                if view[pos:end].tobytes().lstrip(b"\0"):
                    # GNU tar pads with zeros to the record size; anything else is not ours.
                    self.trailing_nonzero = True
                return
            if self._remain:
                take = min(self._remain, end - pos)
                if self._mode == "smap":
                    take = min(take, BLOCK - len(self._smap) % BLOCK)
                self._payload(view[pos : pos + take])
                self._remain -= take
                pos += take
                if not self._remain:
                    self._end_payload()
                continue
            if self._pad:
                take = min(self._pad, end - pos)
                self._pad -= take
                pos += take
                continue
            if not self._hdr and end - pos >= BLOCK:
                block = bytes(view[pos : pos + BLOCK])
                pos += BLOCK
                self._at = self.bytes_seen - (end - pos) - BLOCK
                self._header(block)
            else:
                take = min(BLOCK - len(self._hdr), end - pos)
                self._hdr += view[pos : pos + take]
                pos += take
                if len(self._hdr) == BLOCK:
                    block = bytes(self._hdr)
                    self._hdr.clear()
                    self._at = self.bytes_seen - (end - pos) - BLOCK
                    self._header(block)

    # --- headers --------------------------------------------------------------------------------

    def _header(self, block: bytes) -> None:
        if self._sparse_ext:  # old GNU sparse extension block: 21 (offset, size) pairs, then "more?"
            self._sparse_entries(block, 0, 21)
            self._sparse_ext = bool(block[504])
            if not self._sparse_ext:
                self._sparse_ready()
            return
        if not any(block):
            self._zero_blocks += 1
            if self._zero_blocks >= 2:
                self.end_seen = True
            return
        if self._zero_blocks:
            # GNU tar, bsdtar and python's tarfile all stop reading at a lone zero block ("A lone
            # zero block at N"): the members after it would never be extracted. Refuse the stream
            # rather than index (and report as restored) what tar will not see.
            raise IntegrityError(
                "a lone zero block is followed by more members: tar stops reading at it, so the "
                "members after it could not be restored"
            )
        try:
            stored = parse_number(block[148:156], "checksum")
        except IntegrityError:
            stored = -1
        unsigned = sum(block[:148]) + 256 + sum(block[156:])
        if stored != unsigned:
            signed = sum((b if b < 128 else b - 256) for b in block[:148]) + 256 + sum(
                (b if b < 128 else b - 256) for b in block[156:]
            )
            if stored != signed:
                raise IntegrityError(f"tar header checksum mismatch at byte {self._at}: the stream is corrupted")
        typeflag = block[156:157]
        size = parse_number(block[124:136], "size")
        if typeflag in META_TYPES:
            self._meta_kind = typeflag
            if typeflag in (b"L", b"K"):
                if size > PATH_LIMIT + 1:
                    raise IntegrityError(f"refusing a GNU long name or link of {size} bytes (the limit is {PATH_LIMIT})")
                self._mode, self._name_buf = "name", bytearray()
            else:
                if size > PAX_LIMIT:
                    raise IntegrityError(f"refusing a pax extended header of {size} bytes (the limit is {PAX_LIMIT})")
                if typeflag == b"g":
                    self._globals_seen += 1
                    if self._globals_seen > GLOBAL_COUNT_LIMIT:
                        raise IntegrityError(f"refusing an archive with more than {GLOBAL_COUNT_LIMIT} pax global headers")
                self._mode = "pax"
                self._pax = _PaxReader(GLOBAL_LIMIT if typeflag == b"g" else KEEP_LIMIT)
            self._start_payload(size)
            return
        if typeflag == b"V":  # a volume label: GNU tar skips it and its data
            self._mode = "skip"
            self._start_payload(size)
            return
        self._member_header(block, typeflag, size)

    def _member_header(self, block: bytes, typeflag: bytes, size: int) -> None:
        name = _str(block[0:100])
        ustar = block[257:263] == b"ustar\0"
        if ustar:  # POSIX ustar: prefix field
            prefix = _str(block[345:500])
            if prefix:
                name = prefix + "/" + name
        link = _str(block[157:257])
        mode = parse_number(block[100:108], "mode") & 0o7777
        uid = parse_number(block[108:116], "uid")
        gid = parse_number(block[116:124], "gid")
        mtime_ns = parse_number(block[136:148], "mtime", signed=True) * 10**9
        uname = gname = ""
        if block[257:262] == b"ustar":
            uname, gname = _str(block[265:297]), _str(block[297:329])
        if self._long_name is not None:
            name = self._long_name
        if self._long_link is not None:
            link = self._long_link
        records = self._records()
        self._x, self._long_name, self._long_link = None, None, None
        sparse_name = None
        pax_size = None
        for key, value in records:  # in GNU tar's order; a bad value is ignored as tar ignores it
            if key == "path":
                name = value.decode("utf-8", "surrogateescape")
            elif key == "GNU.sparse.name":
                sparse_name = value.decode("utf-8", "surrogateescape")
            elif key == "linkpath":
                link = value.decode("utf-8", "surrogateescape")
            elif key == "uname":
                uname = value.decode("utf-8", "surrogateescape")
            elif key == "gname":
                gname = value.decode("utf-8", "surrogateescape")
            elif key == "size":
                pax_size = pax_decimal(value, (1 << 63) - 1)
                if pax_size is None:
                    raise IntegrityError(f"refusing a pax size that is not a size: {value[:40]!r}")
            elif key == "mtime":
                t = pax_time(value)
                if t is not None:
                    mtime_ns = t
            elif key in ("uid", "gid"):
                n = pax_decimal(value, (1 << 32) - 1)
                if n is not None:
                    uid, gid = (n, gid) if key == "uid" else (uid, n)
        if sparse_name is not None:
            name = sparse_name  # GNU tar extracts to GNU.sparse.name, whatever the path says
        if pax_size is not None:
            size = pax_size
        if not name:
            name = "."  # GNU tar: "Substituting `.' for empty member name"
        if len(name) > PATH_LIMIT or len(link) > PATH_LIMIT:
            raise IntegrityError(f"refusing a member name or link longer than {PATH_LIMIT} bytes")
        kind = TYPE_NAMES.get(typeflag, "other")
        data_size = size
        if typeflag in (b"0", b"\0", b"7") and name.endswith("/"):
            kind, data_size = "dir", 0  # GNU tar: a directory, and the size bytes are not skipped
        elif typeflag in (b"1", b"2", b"3", b"4", b"5", b"6"):
            data_size = 0  # GNU tar reads the next header right after these, whatever the size says
        member = Member(
            path=normalize_path(name), raw_name=name, type=kind, size=size if kind == "file" else 0,
            mode=mode, mtime=mtime_ns / 10**9, mtime_ns=mtime_ns, uid=uid, gid=gid, uname=uname,
            gname=gname, stored=data_size if kind == "file" else 0,
            link=link if kind == "symlink" else normalize_path(link) if kind == "hardlink" else None,
        )
        self._current = member
        self._hasher = None
        if size and typeflag in (b"2", b"3", b"4", b"6"):
            if self.on_header is not None:
                self.on_header(member)
            # bsdtar and tarfile read data after these headers, GNU tar does not: tars disagree
            # on where the next header is, so nothing after this one can be vouched for.
            raise IntegrityError(f"refusing {kind} with a data size ({size} bytes): {member.path}")
        fields = dict(records) if kind == "file" else {}  # sparse keys only make a file sparse
        if typeflag == b"S":  # old GNU sparse: map in the header, maybe extension blocks
            member.size = parse_number(block[483:495], "sparse real size")
            member.sparse = []
            self._sparse_entries(block, 386, 4)
            if block[482]:
                self._sparse_ext = True
                return
            self._sparse_ready()
            return
        if "GNU.sparse.major" in fields or "GNU.sparse.minor" in fields:
            if (fields.get("GNU.sparse.major"), fields.get("GNU.sparse.minor")) != (b"1", b"0"):
                raise IntegrityError(f"refusing a sparse member of an unknown format: {member.path}")
            member.size = self._sparse_number(fields.get("GNU.sparse.realsize"), member.path)
            member.sparse = []
            self._mode, self._smap, self._smap_lines = "smap", bytearray(), 0
            self._start_payload(data_size)
            return
        if "GNU.sparse.map" in fields or (fields and any(k == "GNU.sparse.offset" for k, _ in records)):
            member.size = self._sparse_number(fields.get("GNU.sparse.size"), member.path)
            if "GNU.sparse.map" in fields:
                numbers = [self._sparse_number(v, member.path) for v in fields["GNU.sparse.map"].split(b",")]
            else:
                numbers = []
                for key, value in records:
                    if key in ("GNU.sparse.offset", "GNU.sparse.numbytes"):
                        if (key == "GNU.sparse.offset") != (len(numbers) % 2 == 0):
                            raise IntegrityError(f"refusing a sparse member with a broken map: {member.path}")
                        numbers.append(self._sparse_number(value, member.path))
            member.sparse = _pairs(numbers, member.path)
            self._sparse_ready()
            return
        self._begin_content(data_size)

    def _records(self) -> list:
        """The pax records that apply to the next member, in the order GNU tar applies them: the
        last global header's (its first record of a key wins), then the member's own (the last
        record of a key wins)."""
        return [*reversed(self._global), *(self._x or [])]

    @staticmethod
    def _sparse_number(value, name: str) -> int:
        n = pax_decimal(value or b"", (1 << 63) - 1)
        if n is None:
            raise IntegrityError(f"refusing a sparse member with a malformed map: {name}")
        return n

    def _sparse_entries(self, block: bytes, start: int, count: int) -> None:
        member = self._current
        for i in range(count):
            entry = block[start + 24 * i : start + 24 * i + 24]
            if entry[12] == 0:  # GNU tar: an entry whose size field starts with NUL ends the map
                break
            member.sparse.append((parse_number(entry[:12], "sparse offset"), parse_number(entry[12:], "sparse size")))
            if len(member.sparse) > SPARSE_REGIONS_LIMIT:
                raise IntegrityError(f"refusing sparse member with more than {SPARSE_REGIONS_LIMIT} regions: {member.path}")

    def _sparse_ready(self) -> None:
        member = self._current
        payload = member.stored
        self._data_left = member.stored = _check_regions(member.sparse, member.size, payload, member.path)
        member.size = _sparse_size(member.sparse)
        self._begin_content(payload)

    def _begin_content(self, data_size: int, start: bool = True) -> None:
        """The member's header is complete: guard it, then stream its content (start=False: it
        is already streaming, after a pax 1.0 sparse map)."""
        member = self._current
        if self.on_header is not None:
            self.on_header(member)
        if self.hash_content and member.type == "file":
            self._hasher = _SparseHash(member.sparse, member.size) if member.sparse is not None else hashlib.sha256()
        self._mode = "data" if member.type in ("file", "other") else "skip"
        if start:
            self._start_payload(data_size)

    # --- payloads -------------------------------------------------------------------------------

    def _start_payload(self, size: int) -> None:
        self._remain = size
        self._pad = (-size) % BLOCK
        if not size:
            self._end_payload()

    def _payload(self, chunk) -> None:
        mode = self._mode
        if mode == "data":
            if self._data_left is not None:  # a sparse member: the bytes after its regions are slack
                chunk = chunk[: self._data_left]
                self._data_left -= len(chunk)
            if self._hasher is not None:
                self._hasher.update(chunk)
            if self.on_content is not None:
                self.on_content(chunk)
        elif mode == "pax":
            self._pax.feed(chunk)
        elif mode == "name":
            self._name_buf += chunk
        elif mode == "smap":
            self._smap += chunk
            self._smap_lines += bytes(chunk).count(b"\n")
            if len(self._smap) % BLOCK == 0:
                self._smap_block()

    def _smap_block(self) -> None:
        """A block of a pax 1.0 sparse map: `count\\n` then `offset\\nsize\\n` per region."""
        member = self._current
        lines = self._smap.split(b"\n")
        if not lines[0].isdigit():
            raise IntegrityError(f"refusing a sparse member with a malformed map: {member.path}")
        count = int(lines[0])
        if count > SPARSE_REGIONS_LIMIT:
            raise IntegrityError(f"refusing sparse member with more than {SPARSE_REGIONS_LIMIT} regions: {member.path}")
        if self._smap_lines < 1 + 2 * count:
            if len(self._smap) > KEEP_LIMIT:
                raise IntegrityError(f"refusing a sparse map larger than the limit: {member.path}")
            return
        numbers = [self._sparse_number(v, member.path) for v in lines[1 : 1 + 2 * count]]
        member.sparse = _pairs(numbers, member.path)
        member.stored -= len(self._smap)
        self._smap = None
        if member.stored < 0:
            raise IntegrityError(f"refusing a sparse member whose map is larger than its data: {member.path}")
        self._data_left = member.stored = _check_regions(member.sparse, member.size, member.stored, member.path)
        member.size = _sparse_size(member.sparse)
        self._begin_content(member.stored, start=False)

    def _end_payload(self) -> None:
        mode, self._mode = self._mode, ""
        if mode == "pax":
            reader, self._pax = self._pax, None
            reader.finish()
            if self._meta_kind == b"g":
                if any(key.startswith("GNU.sparse.") for key, _ in reader.records):
                    raise IntegrityError("refusing a pax global header with sparse keywords")
                self._global = reader.records
            else:
                self._x = reader.records
            return
        if mode == "name":
            value = bytes(self._name_buf).split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            self._name_buf = None
            if self._meta_kind == b"L":
                self._long_name = value
            else:
                self._long_link = value
            return
        if mode == "smap":
            raise IntegrityError(f"refusing a sparse member whose map is cut short: {self._current.path}")
        if mode == "skip" and self._current is None:
            return  # a volume label
        member, self._current = self._current, None
        self._data_left = None
        if member is None:
            return
        if self._hasher is not None:
            member.sha256 = self._hasher.hexdigest()
            self._hasher = None
        self.members += 1
        self.content_bytes += member.size
        if self.on_member is not None:
            self.on_member(member)

    def finish(self) -> None:
        if self._remain or self._pad or self._hdr or self._current is not None or self._sparse_ext:
            raise IntegrityError("the tar stream is truncated (it stops inside a member)")
        if not self.end_seen:
            raise IntegrityError("the tar stream is truncated (no end-of-archive marker)")
        if self.trailing_nonzero:
            raise IntegrityError("unexpected data after the tar end-of-archive marker")
