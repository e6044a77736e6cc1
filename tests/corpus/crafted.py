"""Crafted tar streams: the header kinds where tar readers were seen to disagree (issue 10), built
byte by byte in code. `CASES` maps a name to the raw tar bytes."""

from __future__ import annotations

import tarfile

END = bytes(1024)
MTIME = 1_700_000_000


def header(name: str, size: int | bytes = 0, typeflag: bytes = b"0", *, link: str = "", mode: int = 0o644,
           fmt=tarfile.GNU_FORMAT, raw: dict | None = None, **attrs) -> bytes:
    """One header block with exactly these fields; `size` may be the raw 12-byte field, `raw` sets
    other fields by offset; the checksum is recomputed unless `raw` sets it (offset 148)."""
    info = tarfile.TarInfo(name)
    info.mtime, info.type, info.mode, info.linkname = MTIME, typeflag, mode, link
    for key, value in attrs.items():
        setattr(info, key, value)
    block = bytearray(info.tobuf(fmt)[-512:])
    block[124:136] = (b"%011o\0" % size) if isinstance(size, int) else size.ljust(12, b"\0")[:12]
    for offset, value in (raw or {}).items():
        if offset != 148:
            block[offset : offset + len(value)] = value
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    if raw and 148 in raw:
        block[148:156] = raw[148]
    return bytes(block)


def pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def record(key: bytes, value: bytes, length: bytes | None = None) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n = len(str(n)) + len(body)
    return (length if length is not None else str(n).encode()) + body


def pax(records: list[bytes], typeflag: bytes = b"x") -> bytes:
    payload = b"".join(records)
    return header("./PaxHeaders/x", len(payload), typeflag) + pad(payload)


def file(name: str, data: bytes, **kw) -> bytes:
    return header(name, len(data), **kw) + pad(data)


def _checksum_as(fmt: bytes) -> bytes:
    block = bytearray(header("./f", 5))
    total = sum(block[:148]) + 256 + sum(block[156:])
    value = fmt % total
    block[148 : 148 + len(value)] = value
    return bytes(block) + pad(b"hello") + END


DEVICE = header("./disk", 0, b"3", devmajor=8, devminor=0)
INNER = file("./inner.txt", b"inner")

CASES: dict[str, bytes] = {
    # a type-0 header whose name ends in "/": GNU tar makes a directory and reads the next header
    # right after it (its size bytes are not data)
    "slash-file-with-size": header("./d/", 512) + INNER + END,
    "slash-file-hides-device": header("./d/", 512) + DEVICE + END,
    "dir-with-size": header("./d", 1024, b"5") + INNER + END,
    "hardlink-with-size": file("./a", b"AAAA") + header("./h", 1024, b"1", link="./a") + INNER + END,
    "symlink-with-size": header("./s", 512, b"2", link="a") + DEVICE + END,
    "device": DEVICE + END,
    "unknown-type": header("./z", 512, b"Z") + pad(b"z" * 512) + END,
    "volume-label": header("label", 0, b"V") + INNER + END,
    "solaris-X": pax([record(b"path", b"./solaris")], b"X") + file("./orig", b"x") + END,
    "two-pax-last-wins": pax([record(b"path", b"./first")]) + pax([record(b"mtime", b"1600000000")])
    + file("./orig", b"x") + END,
    "pax-then-longname": pax([record(b"path", b"./paxname")])
    + header("././@LongLink", 9, b"L") + pad(b"./longL\0\0") + file("./orig", b"x") + END,
    "longname-then-pax": header("././@LongLink", 9, b"L") + pad(b"./longL\0\0")
    + pax([record(b"path", b"./paxname")]) + file("./orig", b"x") + END,
    "pax-nul-in-path": pax([record(b"path", b"./ab\0cd")]) + file("./orig", b"x") + END,
    "pax-nul-in-linkpath": pax([record(b"linkpath", b"target\0../../etc")])
    + header("./l", 0, b"2", link="x") + END,
    "pax-no-newline": pax([b"15 path=./nonl!"]) + file("./orig", b"x") + END,
    "pax-underscore-length": pax([record(b"path", b"./und", length=b"1_3")]) + file("./orig", b"x") + END,
    "pax-size-negative": pax([record(b"size", b"-512")]) + file("./s", b"x") + END,
    "pax-size-junk": pax([record(b"size", b"12abc")]) + file("./s", b"x") + END,
    "pax-global-then-file": pax([record(b"mtime", b"100"), record(b"uid", b"5")], b"g")
    + pax([record(b"mtime", b"200")], b"g") + file("./a", b"x") + END,
    "pax-uid-garbage": pax([record(b"uid", b"abc"), record(b"gid", b"-3")]) + file("./u", b"x") + END,
    "size-0o": header("./f", b"0o000000005\0") + pad(b"hello") + END,
    "size-underscore": header("./f", b"0_000000005\0") + pad(b"hello") + END,
    "size-leading-spaces": header("./f", b"   00000005\0") + pad(b"hello") + END,
    "size-trailing-junk": header("./f", b"00000000005x") + pad(b"hello") + END,
    "size-base64-sign": header("./f", b"-0000001000\0") + pad(b"hello") + END,
    "size-base256": header("./f", b"\x80" + bytes(10) + b"\x05") + pad(b"hello") + END,
    "size-base256-negative": header("./f", b"\xff" * 11 + b"\x00") + pad(b"hello") + END,
    "size-base256-bad-lead": header("./f", b"\x81" + bytes(10) + b"\x05") + pad(b"hello") + END,
    "mode-0o": header("./g", 5, raw={100: b"0o00644\0"}) + pad(b"hello") + END,
    "checksum-0o": _checksum_as(b"0o%o\0"),
    "checksum-spaces": _checksum_as(b"  %o\0 "),
    "checksum-no-terminator": _checksum_as(b"%08o"),
    "duplicate-path": file("./a", b"first copy") + file("./a", b"second, longer copy") + END,
    "absolute-symlink": header("./s", 0, b"2", link="/etc") + END,
    "escape-through-symlink": header("./s", 0, b"2", link="..") + file("./s/evil", b"x") + END,
    "dotdot-name": file("../evil", b"x") + END,
    "long-path-70k": pax([record(b"path", b"./" + b"d/" * 35000 + b"f")]) + file("./x", b"x") + END,
}

for _value in (b"999xxx9324.4", b"1748089464.951928467a", b"inf", b"nan", b"1e400", b"-5.5",
               b"1748089464.951928467", b"99999999999999999999999"):
    CASES[f"pax-mtime-{_value.decode()}"] = pax([record(b"mtime", _value)]) + file("./m", b"x") + END
