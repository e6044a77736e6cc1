"""Codecs: bounded decompression (bombs), integrity errors, and detection as the real CLIs do it.

Every stream here is made by the real `zstd`, `pzstd`, `lz4` and `gzip` CLIs (or by our Compressor,
checked by the CLI), and every reader case is checked against what the CLI itself says.
"""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from cli_recover.archive.codecs import Compressor, Decompressor, detect_codec, resolve_level
from cli_recover.errors import IntegrityError, UsageError
from tests.conftest import run_cli

CLI = {"zstd": ["zstd", "-q"], "lz4": ["lz4", "-q"], "gzip": ["gzip"]}
MiB = 1 << 20


def need(*tools: str) -> None:
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


def cli_compress(codec: str, data: bytes, *flags: str) -> bytes:
    need(CLI[codec][0])
    return subprocess.run([*CLI[codec], *flags, "-c"], input=data, capture_output=True, check=True).stdout


def cli_accepts(codec: str, stored: bytes) -> bool:
    return subprocess.run([*CLI[codec], "-d", "-c"], input=stored, capture_output=True).returncode == 0


def read_all(stored: bytes, codec: str, size: int = MiB) -> bytes:
    dec = Decompressor(io.BytesIO(stored), codec)
    parts = []
    while piece := dec.read(size):
        assert len(piece) <= size
        parts.append(piece)
    return b"".join(parts)


DATA = os.urandom(300_000) + b"text " * 200_000


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip"])
def test_round_trip_of_cli_output_and_concatenated_frames(codec):
    one = cli_compress(codec, DATA)
    assert read_all(one, codec) == DATA
    assert cli_accepts(codec, one + one)
    assert read_all(one + one, codec, size=77_777) == DATA + DATA


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip"])
def test_every_read_is_bounded_on_a_bomb(codec):
    """256 MiB of zeros: a few hundred KiB stored; every read returns at most what was asked."""
    comp = Compressor(codec, resolve_level(codec, None))
    zeros = bytes(MiB)
    stored = b"".join(comp.compress(zeros) for _ in range(256)) + comp.finish()
    dec = Decompressor(io.BytesIO(stored), codec)
    total = 0
    while piece := dec.read(64 << 10):
        assert len(piece) <= 64 << 10
        total += len(piece)
    assert total == 256 * MiB


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip"])
def test_damage_is_one_integrity_error(codec):
    good = cli_compress(codec, DATA)
    truncated = good[: len(good) - 7]
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x40
    cases = {"truncated": truncated, "corrupted": bytes(flipped), "corrupted ": good + b"garbage!",
             "truncated|empty": b""}
    for word, stored in cases.items():
        assert not cli_accepts(codec, stored) or not stored
        with pytest.raises(IntegrityError, match=word.strip()):
            read_all(stored, codec)


def test_checksum_is_checked():
    """A changed byte in the content checksum alone (the data is intact) is still caught."""
    for codec in ("zstd", "lz4"):  # both CLIs write a content checksum by default
        stored = cli_compress(codec, DATA)
        bad = bytearray(stored)
        bad[-1] ^= 0x01  # the last 4 bytes are the content checksum
        assert not cli_accepts(codec, bytes(bad))
        with pytest.raises(IntegrityError, match="corrupted"):
            read_all(bytes(bad), codec)


def test_unknown_or_mistyped_codec_name_is_one_line():
    for name in ("brotli", 5, ["zstd"], None):
        with pytest.raises(UsageError, match="unknown compression"):
            Decompressor(io.BytesIO(b""), name)


def skippable(payload: bytes, nibble: int = 0) -> bytes:
    return struct.pack("<II", 0x184D2A50 + nibble, len(payload)) + payload


def test_pzstd_output_is_detected_and_read(tmp_path):
    need("pzstd")
    src = tmp_path / "d.bin"
    src.write_bytes(DATA * 3)
    out = tmp_path / "d.zst"
    subprocess.run(["pzstd", "-q", "-p", "2", str(src), "-o", str(out)], check=True)
    assert out.read_bytes()[:4] == b"\x50\x2a\x4d\x18"  # pzstd starts with a skippable frame
    assert detect_codec(str(out)) == "zstd"
    assert read_all(out.read_bytes(), "zstd") == DATA * 3


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_leading_and_inner_skippable_frames(tmp_path, codec):
    frame = cli_compress(codec, DATA)
    stored = skippable(b"meta") + skippable(b"", 0xF) + frame + skippable(b"x" * 100, 3) + frame
    assert cli_accepts(codec, stored)  # the CLI itself accepts them
    path = tmp_path / "s.bin"
    path.write_bytes(stored)
    assert detect_codec(str(path)) == codec
    assert read_all(stored, codec) == DATA + DATA


def test_legacy_lz4_is_detected_and_read_in_bounded_blocks(tmp_path):
    need("lz4")
    data = os.urandom(9 * MiB) + bytes(10 * MiB)  # more than one 8 MiB legacy block
    stored = cli_compress("lz4", data, "-l")
    assert stored[:4] == struct.pack("<I", 0x184C2102)
    path = tmp_path / "l.lz4"
    path.write_bytes(stored)
    assert detect_codec(str(path)) == "lz4"
    assert read_all(stored, "lz4") == data
    assert read_all(stored + stored, "lz4", size=3 * MiB) == data + data  # `lz4 -d` reads both too
    with pytest.raises(IntegrityError, match="truncated"):
        read_all(stored[:-10], "lz4")
    bad = bytearray(stored)
    bad[20] ^= 0xFF
    with pytest.raises(IntegrityError):
        read_all(bytes(bad), "lz4")


def test_gzip_with_trailing_zero_padding(tmp_path):
    stored = cli_compress("gzip", DATA) + bytes(10_000)
    assert cli_accepts("gzip", stored)  # gzip: "decompression OK, trailing zero bytes ignored"
    assert read_all(stored, "gzip") == DATA
    with pytest.raises(IntegrityError, match="corrupted"):
        read_all(cli_compress("gzip", DATA) + b"\x00\x00junk", "gzip")


def _tar_of(tmp_path: Path) -> tuple[Path, bytes]:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "a.txt").write_bytes(b"alpha\n" * 1000)
    (src / "b.bin").write_bytes(os.urandom(50_000))
    raw = subprocess.run(["tar", "-cf", "-", "-C", str(src), "."], capture_output=True, check=True).stdout
    return src, raw


@pytest.mark.parametrize("kind", ["pzstd", "zstd-skippable", "lz4-skippable", "lz4-legacy", "gzip-padded"])
def test_foreign_archives_restore_through_the_cli(tmp_path, kind):
    """What `zstd -d | tar -x` (etc.) restores, cli-recover restores from the same file."""
    src, raw = _tar_of(tmp_path)
    if kind == "pzstd":
        need("pzstd")
        stored = subprocess.run(["pzstd", "-q", "-c"], input=raw, capture_output=True, check=True).stdout
        name, codec = "a.tar.zst", "zstd"
    elif kind == "zstd-skippable":
        stored, name, codec = skippable(b"hello") + cli_compress("zstd", raw), "a.tar.zst", "zstd"
    elif kind == "lz4-skippable":
        stored, name, codec = skippable(b"hello", 7) + cli_compress("lz4", raw), "a.tar.lz4", "lz4"
    elif kind == "lz4-legacy":
        stored, name, codec = cli_compress("lz4", raw, "-l"), "a.tar.lz4", "lz4"
    else:
        stored, name, codec = cli_compress("gzip", raw) + bytes(4096), "a.tar.gz", "gzip"
    assert cli_accepts(codec, stored)
    archive = tmp_path / name
    archive.write_bytes(stored)
    dest = tmp_path / "dest"
    out = run_cli("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
    assert out.returncode == 0, out.stderr
    assert (dest / "sub" / "a.txt").read_bytes() == (src / "sub" / "a.txt").read_bytes()
    assert (dest / "b.bin").read_bytes() == (src / "b.bin").read_bytes()


# --- peak memory of the real CLI on a decompression bomb ----------------------------------------

# VmHWM (this process image's own peak): ru_maxrss would carry the forking pytest's RSS across exec
PEAK = """
import sys
from cli_recover.cli.main import main
rc = main(sys.argv[1:])
hwm = [ln for ln in open("/proc/self/status") if ln.startswith("VmHWM:")][0]
sys.stderr.write("PEAK_KB %s\\n" % hwm.split()[1])
sys.exit(rc)
"""
LIMIT_MB = 150


def peak_rss_mb(*args) -> tuple[subprocess.CompletedProcess, float]:
    proc = subprocess.run([sys.executable, "-c", PEAK, *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).resolve().parent.parent)
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("PEAK_KB ")]
    assert lines, proc.stderr
    return proc, int(lines[-1].split()[1]) / 1024


@pytest.fixture(scope="module")
def zero_gb(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("bomb") / "src"
    src.mkdir()
    with open(src / "zeros.bin", "wb") as f:
        f.truncate(1 << 30)  # sparse: made at once, yet tar reads 1 GiB of zeros
    return src


@pytest.mark.parametrize("codec", ["zstd", "lz4", "gzip"])
def test_verify_of_a_zero_bomb_stays_under_the_memory_bound(zero_gb, tmp_path, codec):
    archive = tmp_path / f"bomb.tar.{codec}"
    out = run_cli("backup", "filesystem", "--local", zero_gb, "-o", archive, "-q", "--compression", codec,
                  "--level", "1", timeout=600)
    assert out.returncode == 0, out.stderr
    assert archive.stat().st_size < 8 * MiB  # 1 GiB became a few MB at most: a bomb
    proc, peak = peak_rss_mb("verify", archive, "-q")
    assert proc.returncode == 0, proc.stderr
    assert peak < LIMIT_MB, f"verify peaked at {peak:.0f} MB"
    if codec == "zstd":  # restore goes through the same reader; once is enough for the disk's sake
        dest = tmp_path / "dest"
        proc, peak = peak_rss_mb("restore", "filesystem", "--local", archive, "--target-path", dest, "-q")
        assert proc.returncode == 0, proc.stderr
        assert peak < LIMIT_MB, f"restore peaked at {peak:.0f} MB"
        assert (dest / "zeros.bin").stat().st_size == 1 << 30
        (dest / "zeros.bin").unlink()



def test_pod_restore_of_a_zero_bomb_stays_under_the_memory_bound(zero_gb, tmp_path):
    """Through the sandbox's real exec protocol (was 1.1 GB for 1 GiB of zeros)."""
    from cli_recover.kube.sandbox import make_pod, serve

    archive = tmp_path / "bomb.tar.zst"
    out = run_cli("backup", "filesystem", "--local", zero_gb, "-o", archive, "-q", "--level", "1", timeout=600)
    assert out.returncode == 0, out.stderr
    root = tmp_path / "cluster"
    pod = make_pod(root, "default", "app", {"containers": [{"name": "app"}]})
    with serve(root, kubeconfig_path=tmp_path / "kubeconfig") as sb:
        proc, peak = peak_rss_mb("restore", "filesystem", "app", archive, "--target-path", "/restored", "-q",
                                 "--kubeconfig", sb.kubeconfig_path)
    assert proc.returncode == 0, proc.stderr
    assert peak < LIMIT_MB, f"pod restore peaked at {peak:.0f} MB"
    assert (pod / "restored" / "zeros.bin").stat().st_size == 1 << 30
    (pod / "restored" / "zeros.bin").unlink()


def test_a_frame_that_needs_a_2_gib_window_is_refused_as_zstd_does():
    need("zstd")
    stored = subprocess.run(["zstd", "-q", "--long=31", "-c"], input=DATA, capture_output=True, check=True).stdout
    assert not cli_accepts("zstd", stored)  # `zstd -d` wants --memory=2048MB for it
    with pytest.raises(IntegrityError, match="too much memory"):
        read_all(stored, "zstd")
