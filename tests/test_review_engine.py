"""Engine review: archives made by other tars, malicious archives, unusual trees, failure paths.

Real tar, real files, the real CLI; archives are crafted with python's tarfile where a real tar
cannot be made to write them.
"""

from __future__ import annotations

import io
import os
import random
import tarfile

import zstandard

from cli_recover.archive import pipeline
from tests.conftest import run_cli


def _tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes | None]], fmt=tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
    return info, data


# --- codecs -------------------------------------------------------------------------------------


def test_zstd_frame_ending_on_a_read_boundary(tmp_path):
    """A .tar.zst of several frames (pzstd, `cat a.zst b.zst`) whose first frame ends exactly where
    a 1 MiB read ends is a valid archive: restore must not call it corrupted."""
    rnd = random.Random(7)
    content = rnd.randbytes(3 << 20)
    raw = _tar_bytes([_file("./big.bin", content), _file("./small.txt", b"small\n")])
    cctx = zstandard.ZstdCompressor(level=1, write_checksum=True)
    cut = None
    for n in range(pipeline.CHUNK - 2048, pipeline.CHUNK + 2048):
        if len(cctx.compress(raw[:n])) == pipeline.CHUNK:
            cut = n
            break
    assert cut is not None, "no split gives a first frame of exactly one read"
    archive = tmp_path / "frames.tar.zst"
    archive.write_bytes(cctx.compress(raw[:cut]) + cctx.compress(raw[cut:]))
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode == 0, out.stderr
    assert (dest / "big.bin").read_bytes() == content
    assert (dest / "small.txt").read_bytes() == b"small\n"


# --- the tar parser must see exactly what tar extracts ------------------------------------------


def test_lone_zero_block_mid_archive_is_refused(tmp_path):
    """tar (GNU, bsdtar, python) stops at a single zero block: the members after it are never
    extracted. Restoring such an archive must not report them as restored."""
    a = _tar_bytes([_file("./a.txt", b"aaa")])[:1024]  # header + data, no end marker
    b = _tar_bytes([_file("./b.txt", b"bbb")])
    archive = tmp_path / "lone.tar"
    archive.write_bytes(a + bytes(512) + b)
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode != 0, out.stdout
    assert "zero block" in out.stderr
    assert not (dest / "a.txt").exists()


def _header(name: str, size: int, typeflag: bytes, **attrs) -> bytes:
    """One raw GNU header with exactly this size field (tarfile zeroes it for non-files)."""
    info = tarfile.TarInfo(name)
    info.mtime, info.type = 1_700_000_000, typeflag
    for key, value in attrs.items():
        setattr(info, key, value)
    block = bytearray(info.tobuf(tarfile.GNU_FORMAT)[-512:])
    block[124:136] = b"%011o\0" % size
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _hidden_device_archive(first: bytes) -> bytes:
    """`first` claims 512 bytes of data or none, depending on who reads it. The block after it is a
    file header whose data is the next header: a char device that tar extracts when `first`
    carries data, and that a parser that skips no data would never see."""
    device = _header("./disk", 0, tarfile.CHRTYPE, devmajor=8, devminor=0)
    decoy = _header("./decoy", len(device), tarfile.REGTYPE)
    return first + decoy + device + bytes(1024)


def test_unknown_typeflag_data_is_skipped_like_tar_does(tmp_path):
    """tar extracts an unknown type as a regular file, data included. The guard must stay in
    step, or a member hidden in that data reaches tar -x unchecked."""
    archive = tmp_path / "unknown.tar"
    archive.write_bytes(_hidden_device_archive(_header("./x", 512, b"Z")))
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode != 0, out.stdout
    assert "device node" in out.stderr
    assert not os.path.lexists(dest / "disk")


def test_symlink_with_a_size_is_refused(tmp_path):
    """GNU tar skips `size` bytes after a symlink/device/fifo header, bsdtar and tarfile do not: the
    tars themselves disagree on where the next header is, so the guard cannot vouch for it."""
    archive = tmp_path / "sized-symlink.tar"
    archive.write_bytes(_hidden_device_archive(_header("./s", 512, tarfile.SYMTYPE, linkname="decoy")))
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode != 0, out.stdout
    assert "size" in out.stderr
    assert not os.path.lexists(dest / "disk")


def test_unknown_typeflag_member_then_a_file_is_indexed(tmp_path):
    """A harmless unknown-type member (e.g. a vendor extension) with data does not derail the
    index of the members after it."""
    from cli_recover.archive.tarindex import TarIndexer

    seen = []
    indexer = TarIndexer(on_member=seen.append)
    payload = b"vendor data".ljust(700, b"!")
    raw = _header("./v", len(payload), b"Z") + payload + bytes(-len(payload) % 512)
    raw += _tar_bytes([_file("./after.txt", b"after\n")])
    indexer.feed(raw)
    indexer.finish()
    assert [(m.path, m.type) for m in seen] == [("v", "other"), ("after.txt", "file")]


def _sparse_tree(root) -> None:
    """A file with more data regions than a GNU sparse header holds (4): tar adds extension blocks."""
    root.mkdir()
    with open(root / "sparse.bin", "wb") as f:
        for i in range(8):
            f.seek(i * (1 << 20) + 4096 - 300)  # the region's last block holds data
            f.write(b"region %d " % i * 30)
        f.truncate(9 << 20)
    (root / "after.txt").write_text("after\n")


def test_gnu_sparse_with_extension_blocks(tmp_path):
    """`tar -S` (GNU format) writes sparse extension blocks between the header and the data."""
    import subprocess

    src = tmp_path / "src"
    _sparse_tree(src)
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", "-S", "-c", "-f", str(archive), "-C", str(src), "./sparse.bin", "./after.txt"], check=True)
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q", "--include", "after.txt")
    assert out.returncode == 0, out.stderr
    assert (dest / "after.txt").read_text() == "after\n"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q", "--include", "sparse.bin")
    assert out.returncode == 0, out.stderr
    assert (dest / "sparse.bin").read_bytes() == (src / "sparse.bin").read_bytes()


def test_pax_sparse_member_goes_by_its_real_name(tmp_path):
    """pax sparse (GNU tar --format=pax -S, bsdtar's default) stores the data under
    GNUSparseFile.N/... and the real name in GNU.sparse.name, the name tar extracts."""
    import subprocess

    src = tmp_path / "src"
    _sparse_tree(src)
    archive = tmp_path / "sparse.tar"
    subprocess.run(["tar", "--format=pax", "-S", "-c", "-f", str(archive), "-C", str(src), "."], check=True)
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q", "--include", "sparse.bin")
    assert out.returncode == 0, out.stderr
    assert (dest / "sparse.bin").read_bytes() == (src / "sparse.bin").read_bytes()
    assert not (dest / "after.txt").exists()


def test_pax_sparse_name_passes_the_guard(tmp_path):
    """GNU.sparse.name is the name tar writes to (GNU tar, bsdtar and tarfile all use it): a
    traversal there must be refused like one in the path."""
    info = tarfile.TarInfo("./GNUSparseFile.0/x")
    data = b"1\n0\n5\n".ljust(512, b"\0") + b"hello"
    info.size, info.mtime = len(data), 1_700_000_000
    info.pax_headers = {"GNU.sparse.name": "../evil.txt", "GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                        "GNU.sparse.realsize": "5"}
    archive = tmp_path / "evil.tar"
    archive.write_bytes(_tar_bytes([(info, data)], fmt=tarfile.PAX_FORMAT))
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode != 0, out.stdout
    assert "'..'" in out.stderr
    assert not dest.exists() or not any(dest.iterdir())


# --- unusual trees ------------------------------------------------------------------------------


def test_names_that_are_not_utf8_round_trip(tmp_path):
    """Linux file names are bytes: a name that is not valid UTF-8 (an old latin-1 file), one with a
    newline and one with a backslash are backed up, verified and restored byte for byte."""
    src = tmp_path / "src"
    src.mkdir()
    names = [b"caf\xe9.txt", b"new\nline", b"back\\slash", b"ok.txt"]
    for i, name in enumerate(names):
        with open(os.path.join(os.fsencode(src), name), "wb") as f:
            f.write(b"content %d\n" % i)
    os.mkdir(os.path.join(os.fsencode(src), b"dir\xff"))
    out = run_cli("backup", "filesystem", "--local", src, "-q")
    assert out.returncode == 0, out.stderr
    archive = out.stdout.strip().splitlines()[-1]
    out = run_cli("verify", archive)
    assert out.returncode == 0, out.stdout + out.stderr
    dest = tmp_path / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(os.fsencode(dest))) == sorted([*names, b"dir\xff"])
    for i, name in enumerate(names):
        with open(os.path.join(os.fsencode(dest), name), "rb") as f:
            assert f.read() == b"content %d\n" % i


# --- failure paths ------------------------------------------------------------------------------


def test_disk_full_leaves_nothing_and_says_why(tmp_path):
    """The output disk fills up mid-backup: no archive, no .partial, no member spool left behind,
    and a one-line error (not a traceback)."""
    import subprocess

    import pytest

    tiny = tmp_path / "tiny"
    tiny.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(tiny)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        src = tmp_path / "src"
        src.mkdir()
        (src / "random.bin").write_bytes(random.Random(3).randbytes(4 << 20))
        out = run_cli("backup", "filesystem", "--local", src, "-q", "--compression", "none", "-o", tiny / "x.tar")
        assert out.returncode != 0
        assert "No space left on device" in out.stderr
        assert "traceback" not in out.stderr.lower()
        assert os.listdir(tiny) == []
    finally:
        subprocess.run(["umount", str(tiny)], check=True)


# --- the safety guard ---------------------------------------------------------------------------


def _symlink(name: str, target: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, 1_700_000_000
    return info, None


def _dir(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
    return info, None


def test_file_below_a_symlink_spelled_differently_is_refused(tmp_path):
    """`x/./a` is the symlink `x/a`: a member `x/a/evil` is written through it. Here the symlink
    looks inside the target by its text but leaves it through another symlink (sub/b -> .), so
    a tar that follows it (busybox) writes evil outside the restore folder."""
    archive = tmp_path / "spelled.tar"
    archive.write_bytes(_tar_bytes([
        _dir("./sub"), _symlink("./sub/b", "."), _dir("./x"), _symlink("./x/./a", "../sub/b/../.."),
        _file("./x/a/evil", b"pwned\n"),
    ]))
    dest = tmp_path / "box" / "out"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode != 0, out.stdout
    assert "below a symlink" in out.stderr or "passes through another symlink" in out.stderr
    assert not (tmp_path / "box" / "evil").exists()


def test_hard_link_through_a_symlink_is_refused(tmp_path):
    """A hard link whose target path goes through a symlink of the same archive links whatever
    that symlink reaches; tar never writes such a target for a real tree."""
    archive = tmp_path / "hardlink.tar"
    info = tarfile.TarInfo("./h")
    info.type, info.linkname, info.mtime = tarfile.LNKTYPE, "./l/secret", 1_700_000_000
    archive.write_bytes(_tar_bytes([_dir("./sub"), _file("./sub/secret", b"s"), _symlink("./l", "sub"), (info, None)]))
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", tmp_path / "out", "-q")
    assert out.returncode != 0, out.stdout
    assert "symlink" in out.stderr
