"""Engine review: archives made by other tars, malicious archives, unusual trees, failure paths.

Real tar, real files, the real CLI; archives are crafted with python's tarfile where a real tar
cannot be made to write them.
"""

from __future__ import annotations

import io
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
