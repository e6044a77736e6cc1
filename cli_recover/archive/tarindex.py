"""A streaming tar parser: indexes every member (and hashes its content) as the bytes go by.

It understands ustar, GNU (long names, long links, base-256 sizes) and pax (per-file and global
extended headers), checks every header checksum, and knows whether the end-of-archive marker (two
zero blocks) was seen. It never buffers member content: memory is one header plus metadata.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cli_recover.archive.guard import UnsafeMember, check_safe  # noqa: F401 - re-exported
from cli_recover.errors import IntegrityError

BLOCK = 512
META_LIMIT = 1 << 20  # largest pax / GNU long-name payload we accept

TYPE_NAMES = {
    b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink", b"3": "char",
    b"4": "block", b"5": "dir", b"6": "fifo", b"S": "file", b"D": "dir",
}


@dataclass
class Member:
    path: str
    type: str
    size: int
    mode: int
    mtime: float
    link: str | None = None
    uid: int = 0
    gid: int = 0
    sha256: str | None = None
    raw_name: str = ""  # the name exactly as stored (e.g. "./a/b")

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


def _num(field_bytes: bytes) -> int:
    if field_bytes and field_bytes[0] & 0x80:  # GNU base-256
        value = field_bytes[0] & 0x3F
        for b in field_bytes[1:]:
            value = (value << 8) | b
        if field_bytes[0] & 0x40:
            value -= 1 << (8 * len(field_bytes) - 2)
        return value
    text = field_bytes.split(b"\0", 1)[0].strip(b" \0")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise IntegrityError("tar header checksum mismatch or malformed field: not a valid tar stream") from None


def _str(field_bytes: bytes) -> str:
    return field_bytes.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _pax_records(payload: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(payload):
        space = payload.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(payload[pos:space])
        except ValueError:
            raise IntegrityError("malformed pax extended header") from None
        if length <= 0:
            break
        record = payload[space + 1 : pos + length - 1]
        key, _, value = record.partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


@dataclass
class TarIndexer:
    """Feed it the raw tar stream in chunks; it calls `on_member(member)` for each member once its
    content is fully hashed. Call `finish()` at the end: it raises IntegrityError unless the stream
    was a whole archive."""

    on_member: object = None  # callable(Member) | None
    on_header: object = None  # callable(Member) | None, before content (for safety guards)
    hash_content: bool = True
    members: int = 0
    content_bytes: int = 0
    bytes_seen: int = 0
    end_seen: bool = False
    trailing_nonzero: bool = False
    _hdr: bytearray = field(default_factory=bytearray)
    _remain: int = 0  # content bytes still to come for the current member
    _pad: int = 0  # padding bytes after the content
    _current: Member | None = None
    _hasher: object = None
    _meta: bytearray | None = None  # collecting a pax/GNU payload
    _meta_kind: bytes = b""
    _pending: dict = field(default_factory=dict)  # next-member overrides (pax x, GNU L/K)
    _global: dict = field(default_factory=dict)  # pax g
    _zero_blocks: int = 0
    _sparse_ext: bool = False  # GNU sparse extension blocks still to come before the data
    _sparse_data: int = 0

    def feed(self, data) -> None:
        view = memoryview(data)
        self.bytes_seen += len(view)
        pos, end = 0, len(view)
        while pos < end:
            if self.end_seen:
                if any(view[pos:end]):
                    # GNU tar pads with zeros to the record size; anything else is not ours.
                    if bytes(view[pos:end]).strip(b"\0"):
                        self.trailing_nonzero = True
                return
            if self._remain:
                take = min(self._remain, end - pos)
                chunk = view[pos : pos + take]
                if self._meta is not None:
                    self._meta += chunk
                elif self._hasher is not None:
                    self._hasher.update(chunk)
                self._remain -= take
                pos += take
                if not self._remain:
                    self._end_content()
                continue
            if self._pad:
                take = min(self._pad, end - pos)
                self._pad -= take
                pos += take
                continue
            need = BLOCK - len(self._hdr)
            if not self._hdr and end - pos >= BLOCK:
                block = view[pos : pos + BLOCK]
                pos += BLOCK
                self._header(bytes(block))
            else:
                take = min(need, end - pos)
                self._hdr += view[pos : pos + take]
                pos += take
                if len(self._hdr) == BLOCK:
                    block = bytes(self._hdr)
                    self._hdr.clear()
                    self._header(block)

    def _header(self, block: bytes) -> None:
        if self._sparse_ext:  # a GNU sparse extension block: 21 (offset, size) pairs, then "more?"
            self._sparse_ext = bool(block[504])
            if not self._sparse_ext:
                self._start_content(self._sparse_data)
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
        stored = _num(block[148:156])
        computed = sum(block[:148]) + 256 + sum(block[156:])
        if stored != computed:
            signed = sum((b if b < 128 else b - 256) for b in block[:148]) + 256 + sum(
                (b if b < 128 else b - 256) for b in block[156:]
            )
            if stored != signed:
                raise IntegrityError(f"tar header checksum mismatch at byte {self.bytes_seen}: the stream is corrupted")
        typeflag = block[156:157]
        size = _num(block[124:136])
        if typeflag in (b"x", b"g", b"L", b"K"):
            if size > META_LIMIT:
                raise IntegrityError("tar extended header too large")
            self._meta = bytearray()
            self._meta_kind = typeflag
            self._start_content(size)
            return
        name = _str(block[0:100])
        magic = block[257:263]
        if magic == b"ustar\0":  # POSIX ustar: prefix field
            prefix = _str(block[345:500])
            if prefix:
                name = prefix + "/" + name
        link = _str(block[157:257])
        pending, self._pending = self._pending, {}
        merged = {**self._global, **pending}
        # pax sparse files (GNU tar -S --format=pax, bsdtar) keep the real name in GNU.sparse.name:
        # it is the name tar extracts to
        name = merged.get("GNU.sparse.name") or merged.get("path", name)
        link = merged.get("linkpath", link)
        if "size" in merged:
            size = int(merged["size"])
        mtime: float = _num(block[136:148])
        if "mtime" in merged:
            mtime = float(merged["mtime"])
        kind = TYPE_NAMES.get(typeflag, "other")
        if typeflag == b"D":  # GNU dumpdir: content is a listing, not file data
            kind = "dir"
        member = Member(
            path=normalize_path(name),
            raw_name=name,
            type=kind,
            size=size if kind == "file" else 0,
            mode=_num(block[100:108]) & 0o7777,
            mtime=mtime,
            link=link if kind == "symlink" else normalize_path(link) if kind == "hardlink" else None,
            uid=int(merged.get("uid", _num(block[108:116]))),
            gid=int(merged.get("gid", _num(block[116:124]))),
        )
        if self.on_header is not None:
            self.on_header(member)
        if size and typeflag in (b"2", b"3", b"4", b"6"):
            # GNU tar skips `size` bytes after these headers, bsdtar and tarfile do not: tars disagree
            # on where the next header is, so nothing after this one can be vouched for.
            raise IntegrityError(f"refusing {kind} with a data size ({size} bytes): {member.path}")
        # Hard links, symlinks, dirs, devices carry no data in the stream (size field may lie for
        # links); every other type, unknown ones included, is followed by `size` bytes of data (tar
        # extracts an unknown type as a regular file).
        data_size = 0 if typeflag in (b"1", b"2", b"3", b"4", b"5", b"6") else size
        self._current = member
        self._hasher = hashlib.sha256() if (self.hash_content and kind == "file") else None
        self._meta = None
        if typeflag == b"S" and block[482]:  # old GNU sparse: extension blocks precede the data
            self._sparse_ext, self._sparse_data = True, data_size
            return
        self._start_content(data_size)

    def _start_content(self, size: int) -> None:
        self._remain = size
        self._pad = (-size) % BLOCK
        if not size:
            self._end_content()

    def _end_content(self) -> None:
        if self._meta is not None:
            payload, kind = bytes(self._meta), self._meta_kind
            self._meta = None
            if kind == b"x":
                self._pending.update(_pax_records(payload))
            elif kind == b"g":
                self._global.update(_pax_records(payload))
            elif kind == b"L":
                self._pending["path"] = payload.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            elif kind == b"K":
                self._pending["linkpath"] = payload.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
            return
        member, self._current = self._current, None
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
        if self._remain or self._pad or self._hdr or self._current is not None:
            raise IntegrityError("the tar stream is truncated (it stops inside a member)")
        if not self.end_seen:
            raise IntegrityError("the tar stream is truncated (no end-of-archive marker)")
        if self.trailing_nonzero:
            raise IntegrityError("unexpected data after the tar end-of-archive marker")
