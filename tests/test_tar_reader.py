"""The tar reader (tarindex) and the canonical restore stream (tarwrite): strict where GNU tar is
strict, lenient where it is lenient, bounded in memory, and the stream tar -x gets holds exactly
the members the guard accepted."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile
import tracemalloc

import pytest

from cli_recover.archive.tarindex import IntegrityError, Member, TarIndexer, parse_number, pax_time
from cli_recover.archive.tarwrite import CanonicalTar
from tests.conftest import run_cli
from tests.corpus.crafted import END, file, header, pad, pax, record


def _members(raw: bytes, step: int = 4096, **kw) -> list[Member]:
    out: list[Member] = []
    indexer = TarIndexer(on_member=out.append, **kw)
    for i in range(0, len(raw), step):
        indexer.feed(raw[i : i + step])
    indexer.finish()
    return out


def _canonical(raw: bytes, **kw) -> bytes:
    out = bytearray()
    writer = CanonicalTar(out.extend, **kw)
    for i in range(0, len(raw), 1000):
        writer.feed(raw[i : i + 1000])
    writer.finish()
    return bytes(out)


# --- numbers and records as GNU tar reads them --------------------------------------------------


@pytest.mark.parametrize("field, value", [
    (b"00000000005\0", 5), (b"   00000005\0", 5), (b"\x000000000005", 5), (b"0000005 \0\0\0\0", 5),
    (b"\0" * 12, 0), (b"\x80" + bytes(10) + b"\x05", 5), (b"00000000005 ", 5),
])
def test_numbers_gnu_tar_accepts(field, value):
    assert parse_number(field, "size") == value


@pytest.mark.parametrize("field", [
    b"0o000000005\0", b"0_000000005\0", b"00000000005x", b"+0000000005\0", b"-0000001000\0", b" " * 12,
    b"\x81" + bytes(10) + b"\x05", b"\xff" * 12,
])
def test_numbers_gnu_tar_refuses(field):
    """python's int() takes `0o1000` and `1_000`; GNU tar does not (real tar checked: rc 2)."""
    with pytest.raises(IntegrityError):
        parse_number(field, "size")


def test_negative_sizes_are_refused_not_looped_on():
    """A negative size used to make the reader step back and loop forever (RSS to 15 GB)."""
    for raw in (header("./f", b"\xff" * 11 + b"\x00") + pad(b"hello") + END,
                pax([record(b"size", b"-512")]) + file("./s", b"x") + END):
        with pytest.raises(IntegrityError, match="size"):
            _members(raw)


@pytest.mark.parametrize("value, expected", [
    (b"999xxx9324.4", 999 * 10**9),  # GNU tar reads the leading number and ignores the rest (rc 0)
    (b"1748089464.951928467a", 1748089464951928467),
    (b"1748089464.951928467", 1748089464951928467),
    (b"-5.5", -5_500_000_000),
    (b"1e400", 10**9),
    (b"inf", None), (b"nan", None), (b"99999999999999999999999", None), (b"", None),
])
def test_pax_times_as_gnu_tar_reads_them(value, expected):
    assert pax_time(value) == expected


def test_malformed_pax_numbers_fall_back_to_the_header_like_tar():
    """tar warns and keeps the header's value; no ValueError traceback any more."""
    raw = pax([record(b"mtime", b"nan"), record(b"uid", b"abc"), record(b"gid", b"-3")]) + file("./u", b"x", uid=7, gid=8) + END
    (m,) = _members(raw)
    assert (m.mtime, m.uid, m.gid) == (1_700_000_000, 7, 8)


def test_pax_record_rules():
    ok = pax([record(b"path", b"./p\0cut"), record(b"SCHILY.xattr.user.x", b"v")], b"X")
    (m,) = _members(ok + file("./orig", b"x") + END)
    assert m.path == "p"  # Solaris X applies like x; tar cuts a value at a NUL
    for bad in ([b"15 path=./nonl!"], [record(b"path", b"./u", length=b"1_3")], [b"5 a=b\n"], [b"x"]):
        with pytest.raises(IntegrityError, match="pax"):
            _members(pax(bad) + file("./orig", b"x") + END)


def test_last_pax_header_wins_and_pax_path_beats_a_long_name():
    raw = pax([record(b"path", b"./first")]) + pax([record(b"mtime", b"1600000000")]) + file("./orig", b"x")
    raw += header("././@LongLink", 9, b"L") + pad(b"./longL\0\0") + pax([record(b"path", b"./paxname")]) + file("./o2", b"y")
    a, b = _members(raw + END)
    assert (a.path, a.mtime) == ("orig", 1_600_000_000)  # not merged with the first header
    assert b.path == "paxname"


def test_global_headers_replace_each_other_and_are_bounded():
    raw = pax([record(b"mtime", b"100"), record(b"uid", b"5")], b"g") + pax([record(b"mtime", b"200")], b"g")
    (m,) = _members(raw + file("./a", b"x") + END)
    assert (m.mtime, m.uid) == (200, 0)  # GNU tar: a global header replaces the one before
    big = pax([record(b"uname", b"u" * 60000) for _ in range(20)], b"g")
    with pytest.raises(IntegrityError, match="limit"):
        _members(big + file("./a", b"x") + END)
    many = pax([record(b"comment", b"c")], b"g") * 10_001
    with pytest.raises(IntegrityError, match="global headers"):
        _members(many + END, step=1 << 20)


def test_a_large_unneeded_pax_attribute_streams_by():
    """A valid 8 MB attribute (an xattr) passes; it is skipped, not buffered."""
    value = os.urandom(4 << 20).hex().encode()
    raw = pax([record(b"SCHILY.xattr.user.big", value), record(b"path", b"./big-attr")]) + file("./x", b"data") + END
    tracemalloc.start()
    try:
        (m,) = _members(raw, step=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert m.path == "big-attr"
    assert peak < 4 << 20, peak


def test_slash_typed_file_is_a_directory_and_its_size_is_not_data():
    raw = header("./d/", 512) + file("./inner.txt", b"inner") + END
    assert [(m.path, m.type) for m in _members(raw)] == [("d", "dir"), ("inner.txt", "file")]


def test_absurd_path_is_refused_at_once():
    raw = pax([record(b"path", b"./" + b"d/" * 300_000 + b"f")]) + file("./x", b"x") + END
    with pytest.raises(IntegrityError, match="longer than"):
        _members(raw, step=1 << 20)


# --- sparse members -----------------------------------------------------------------------------


def _sparse_file(path, size: int, regions: list[tuple[int, bytes]]) -> None:
    with open(path, "wb") as f:
        for offset, data in regions:
            f.seek(offset)
            f.write(data)
        f.truncate(size)


@pytest.mark.parametrize("flags", [["--format=gnu"], ["--format=pax", "--sparse-version=0.0"],
                                   ["--format=pax", "--sparse-version=0.1"], ["--format=pax", "--sparse-version=1.0"]])
def test_sparse_member_has_its_real_size_and_content_hash(tmp_path, flags):
    src = tmp_path / "src"
    src.mkdir()
    regions = [(i * (1 << 20), b"region %d " % i * 500) for i in range(30)]  # > 4: GNU extension blocks
    _sparse_file(src / "s.bin", 40 << 20, regions)
    raw = subprocess.run(["tar", "-S", *flags, "-c", "-f", "-", "-C", str(src), "s.bin"], capture_output=True,
                         check=True).stdout
    (m,) = _members(raw)
    data = (src / "s.bin").read_bytes()
    assert (m.path, m.size, m.sha256) == ("s.bin", len(data), hashlib.sha256(data).hexdigest())
    # the canonical stream recreates it sparse
    dest = tmp_path / "out"
    dest.mkdir()
    subprocess.run(["tar", "-x", "-k", "-p", "-C", str(dest)], input=_canonical(raw), check=True)
    assert (dest / "s.bin").read_bytes() == data
    assert os.stat(dest / "s.bin").st_blocks * 512 < 2 << 20


def test_huge_hole_is_hashed_in_flat_memory(tmp_path):
    """1 GiB of hole: hashed as zeros in bounded slices, never allocated."""
    _sparse_file(tmp_path / "h.bin", 1 << 30, [(0, b"start"), ((1 << 30) - 5, b"end!!")])
    raw = subprocess.run(["tar", "-S", "--format=pax", "-c", "-f", "-", "-C", str(tmp_path), "h.bin"],
                         capture_output=True, check=True).stdout
    assert len(raw) < 1 << 20
    tracemalloc.start()
    try:
        (m,) = _members(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    h = hashlib.sha256(b"start")
    zeros = bytes(1 << 20)
    left = (1 << 30) - 10
    while left:
        n = min(left, len(zeros))
        h.update(zeros[:n])
        left -= n
    h.update(b"end!!")
    assert (m.size, m.sha256) == (1 << 30, h.hexdigest())
    assert peak < 8 << 20, peak


def test_backup_manifest_records_the_sparse_files_real_size(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _sparse_file(src / "s.bin", 64 << 20, [(4096, b"x" * 100), (32 << 20, b"y" * 100)])
    archive = tmp_path / "a.tar.zst"
    out = run_cli("backup", "filesystem", "--local", src, "-q", "-o", archive)
    assert out.returncode == 0, out.stderr
    # the filesystem provider's tar does not use -S: make the archive sparse the way bsdtar would
    raw = subprocess.run(["tar", "-S", "--format=pax", "-c", "-f", "-", "-C", str(src), "."], capture_output=True,
                         check=True).stdout
    (s,) = [m for m in _members(raw) if m.path == "s.bin"]
    assert s.size == 64 << 20
    manifest = json.loads((tmp_path / "a.tar.zst.manifest.json").read_text())
    (entry,) = [m for m in manifest["members"] if m["path"] == "s.bin"]
    assert (entry["size"], entry["sha256"]) == (s.size, s.sha256)


# --- the canonical stream -----------------------------------------------------------------------


def test_canonical_stream_keeps_names_times_and_owners(tmp_path):
    info = tarfile.TarInfo("./caf\udce9/d\udcff.txt")
    info.size, info.mtime, info.uid, info.gid, info.uname, info.gname = 3, 5, 1234, 4321, "", ""
    raw = pax([record(b"mtime", b"1748089464.951928467")]) + info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    raw += pad(b"abc") + header("./d", 0, b"5", mode=0o700) + header("./l", 0, b"2", link="d") + END
    dest = tmp_path / "out"
    dest.mkdir()
    subprocess.run(["tar", "-x", "-k", "-p", "-C", str(dest)], input=_canonical(raw), check=True, capture_output=True)
    name = os.path.join(os.fsencode(dest), b"caf\xe9", b"d\xff.txt")
    st = os.stat(name)
    assert (st.st_size, st.st_uid, st.st_gid) == (3, 1234, 4321) or os.geteuid() != 0
    assert os.stat(dest / "d").st_mode & 0o7777 == 0o700
    assert os.readlink(dest / "l") == "d"


def test_the_guard_runs_before_any_byte_of_the_member_is_written():
    seen = bytearray()

    def guard(m: Member) -> None:
        if m.path == "evil":
            raise IntegrityError("no")

    writer = CanonicalTar(seen.extend, on_header=guard)
    with pytest.raises(IntegrityError):
        writer.feed(file("./ok", b"fine") + file("./evil", b"EVIL-CONTENT") + END)
    writer._flush()  # what was buffered would have gone out next
    assert b"fine" in seen and b"EVIL" not in seen


def test_unknown_types_and_devices_are_not_re_encoded():
    for raw in (header("./z", 512, b"Z") + pad(b"z" * 512) + END, header("./disk", 0, b"3") + END):
        with pytest.raises(IntegrityError, match="type"):
            _canonical(raw)


def test_current_names_the_member_being_written_when_the_consumer_fails():
    class Stop(Exception):
        pass

    def write(data):
        if len(data) > 1 << 19:
            raise Stop

    writer = CanonicalTar(write)
    with pytest.raises(Stop):
        writer.feed(file("./small", b"s") + file("./big.bin", os.urandom(2 << 20)) + END)
    assert writer.current == "./big.bin"


# --- the same path twice ------------------------------------------------------------------------


def _backup_stream(tmp_path, raw: bytes):
    from cli_recover.archive.pipeline import BackupRequest, run_backup
    from cli_recover.kube.local import LocalTarget

    (tmp_path / "in.tar").write_bytes(raw)
    out = tmp_path / "dup.tar.zst"
    run_backup(BackupRequest(target=LocalTarget(), argv=["cat", str(tmp_path / "in.tar")], output=out, codec="zstd",
                             level=3, provider="filesystem", source={"target": "local", "path": "x"}))
    return out


def test_same_path_twice_verifies_and_restores_the_last_copy(tmp_path):
    """`tar -r` appends a second copy: GNU tar without -k lets the last one win. verify used to
    say "member(s) changed" of an intact archive, restore stopped at the second copy (tar -k)."""
    raw = file("./a", b"first copy") + file("./b", b"b") + file("./a", b"second, longer copy") + END
    archive = _backup_stream(tmp_path, raw)
    out = run_cli("verify", archive)
    assert out.returncode == 0, out.stdout + out.stderr
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode == 0, out.stderr
    assert (dest / "a").read_bytes() == b"second, longer copy"
    assert (dest / "b").read_bytes() == b"b"


def test_restore_of_a_slash_typed_file_hiding_a_device_is_refused(tmp_path):
    """The old reader took the device header for the data of `d/`, tar extracted it: rc 0."""
    device = header("./disk", 0, b"3", devmajor=8, devminor=0)
    archive = tmp_path / "hidden.tar"
    archive.write_bytes(header("./d/", 512) + device + END)
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode != 0
    assert "device" in out.stderr and "Traceback" not in out.stderr
    assert not os.path.lexists(dest / "disk")


@pytest.mark.parametrize("name", ["tar-split/pax-records.tar", "tar-split/pax.tar", "tar-split/gnu.tar",
                                  "tar-rs/sparse.tar", "libarchive/test_read_format_gtar_sparse_1_17_posix10.tar",
                                  "libarchive/test_pax_filename_encoding.tar", "tar-split/pax-global-records.tar"])
def test_chunk_boundaries_do_not_change_the_parse(name):
    from pathlib import Path

    raw = (Path(__file__).parent / "corpus" / "foreign" / name).read_bytes()
    whole = _members(raw, step=len(raw))
    for step in (1, 7, 513):
        assert _members(raw, step=step) == whole


def test_many_global_headers_stay_flat_in_memory():
    """Issue 9: 1,000 global headers of 1 MB took restore to 2 GB RSS; unneeded records are skipped."""
    raw = pax([record(b"comment", b"c" * (1 << 20))], b"g") * 40 + file("./x", b"x") + END
    tracemalloc.start()
    try:
        (m,) = _members(raw, step=1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert m.path == "x" and peak < 6 << 20, peak


def test_mutated_archives_never_crash_or_hang():
    """Hostile input: random byte flips, cuts and inserts in the corpus archives. Every one is read
    (and re-encoded) or refused with an IntegrityError, within seconds."""
    import random
    import signal
    from pathlib import Path

    corpus = sorted(p for p in (Path(__file__).parent / "corpus" / "foreign").rglob("*.tar") if p.stat().st_size < 200_000)
    archives = [p.read_bytes() for p in corpus]
    rnd = random.Random(20261204)

    def alarm(*_):
        raise TimeoutError("a mutated archive hung the reader")

    old = signal.signal(signal.SIGALRM, alarm)
    try:
        for _ in range(1500):
            data = bytearray(rnd.choice(archives))
            for _ in range(rnd.randint(1, 6)):
                pos = rnd.randrange(len(data))
                roll = rnd.random()
                if roll < 0.5:
                    data[pos] = rnd.randrange(256)
                elif roll < 0.7:
                    data[pos] = rnd.choice(b"0123456789 =\n\0x-.")
                elif roll < 0.85:
                    del data[pos : pos + rnd.randint(1, 600)]
                else:
                    data[pos:pos] = bytes(rnd.randint(1, 600))
            signal.alarm(5)
            try:
                _canonical(bytes(data))
            except IntegrityError as exc:
                assert "\n" not in str(exc)
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, old)
