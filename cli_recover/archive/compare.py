"""compare-compression: measure every codec on a sample of the user's own data."""

from __future__ import annotations

import io
import os
import time

from cli_recover.archive.codecs import Compressor, Decompressor
from cli_recover.errors import UsageError

PIECE = 1 << 20


def sample_tar(path: str, limit: int) -> bytes:
    """The first `limit` bytes of the real tar stream of path (what a backup would compress)."""
    from cli_recover.kube.local import LocalTarget
    from cli_recover.providers.filesystem import tar_create_argv

    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.lexists(path):
        raise UsageError(f"no such file or folder: {path}")
    if os.path.isdir(path):
        argv = tar_create_argv(path, ["."], [], False)
    else:
        argv = tar_create_argv(os.path.dirname(path), [os.path.basename(path)], [], False)
    proc = LocalTarget().spawn(argv)
    buf = bytearray()
    try:
        while len(buf) < limit:
            data = proc.read(min(PIECE, limit - len(buf)))
            if not data:
                break
            buf += data
    finally:
        proc.kill()
        proc.wait()
    if not buf.strip(b"\0"):
        raise UsageError(f"nothing to sample in {path}")
    return bytes(buf)


def _measure(sample: bytes, codec: str, level: int | None) -> dict:
    view = memoryview(sample)
    t0 = time.perf_counter()
    comp = Compressor(codec, level)
    parts = [comp.compress(view[i : i + PIECE]) for i in range(0, len(view), PIECE)]
    parts.append(comp.finish())
    t1 = time.perf_counter()
    stored = b"".join(parts)
    t2 = time.perf_counter()
    dec = Decompressor(io.BytesIO(stored), codec)
    size = 0
    while piece := dec.read(PIECE):
        size += len(piece)
    t3 = time.perf_counter()
    if size != len(sample):
        raise RuntimeError(f"{codec} round trip lost data")
    mb = len(sample) / 1e6
    return {"codec": codec, "level": level, "stored_bytes": len(stored), "ratio": len(sample) / max(len(stored), 1),
            "compress_mb_s": mb / max(t1 - t0, 1e-9), "decompress_mb_s": mb / max(t3 - t2, 1e-9)}


def compare_codecs(sample: bytes, candidates: list[tuple[str, int | None]]) -> list[dict]:
    return [_measure(sample, codec, level) for codec, level in candidates]


def seconds_per_gb(result: dict, bandwidth_mb_s: float) -> float:
    """Compression and writing overlap in the pipeline: the slower of the two sets the pace."""
    return max(1000 / result["compress_mb_s"], 1000 / result["ratio"] / bandwidth_mb_s)


def recommend(results: list[dict], bandwidth_mb_s: float) -> dict:
    for r in results:
        r["seconds_per_gb"] = seconds_per_gb(r, bandwidth_mb_s)
    best = min(results, key=lambda r: (round(r["seconds_per_gb"], 1), -r["ratio"]))
    smallest = max(results, key=lambda r: r["ratio"])
    reason = f"fastest end to end at {bandwidth_mb_s:g} MB/s, {best['ratio']:.2f}x smaller"
    if smallest is not best:
        reason += f"; smallest is {smallest['codec']} {smallest['level']} at {smallest['ratio']:.2f}x"
    return {"codec": best["codec"], "level": best["level"], "reason": reason}
