"""Helpers shared by the benchmark scripts: test data, timing, peak RSS of a command."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

WORDS = ("backup restore pod namespace container volume snapshot archive stream manifest checksum "
         "tar zstd lz4 gzip cluster node kubelet exec status error warning info debug request "
         "response latency user order invoice customer product price quantity").split()


def make_mixed_data(root: Path, total_bytes: int, seed: int = 7) -> Path:
    """Half compressible text (log-like lines), half incompressible random; files of 64 KiB-16 MiB."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    i = 0
    line_pool = [" ".join(rng.choice(WORDS) for _ in range(12)) + f" id={rng.randrange(10**9)}\n"
                 for _ in range(4096)]
    text_block = "".join(rng.choice(line_pool) for _ in range(40_000)).encode()  # ~2.6 MB
    while written < total_bytes:
        size = min(rng.choice([64 << 10, 1 << 20, 4 << 20, 16 << 20]), total_bytes - written)
        sub = root / f"dir{i % 16:02d}"
        sub.mkdir(exist_ok=True)
        if i % 2:
            with open(sub / f"blob{i:05d}.bin", "wb") as f:
                left = size
                while left:
                    n = min(left, 1 << 20)
                    f.write(os.urandom(n))
                    left -= n
        else:
            with open(sub / f"log{i:05d}.log", "wb") as f:
                left = size
                off = rng.randrange(len(text_block))
                while left:
                    piece = text_block[off:off + left] or text_block[: left]
                    f.write(piece)
                    left -= len(piece)
                    off = 0
        written += size
        i += 1
    return root


def timed(cmd, *, shell: bool = False, env: dict | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of the slowest-growing process in cmd, via GNU time."""
    full = {**os.environ, **(env or {})}
    if shell:
        argv = ["/usr/bin/time", "-f", "%M", "sh", "-c", cmd]
    else:
        argv = ["/usr/bin/time", "-f", "%M", *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=full)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"benchmark command failed: {cmd}\n{proc.stderr[-2000:]}")
    rss = int(proc.stderr.strip().splitlines()[-1])
    return elapsed, rss


def python_peak_rss(args: list[str], env: dict | None = None) -> tuple[float, int]:
    """Runs `cli-recover ARGS` in a Python process and reports its own peak RSS (KiB), not its children's."""
    code = ("import resource, sys, runpy\n"
            "sys.argv = ['cli-recover'] + sys.argv[1:]\n"
            "from cli_recover.cli.main import main\n"
            "rc = main()\n"
            "sys.stderr.write('RSS %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
            "sys.exit(rc)\n")
    t0 = time.perf_counter()
    proc = subprocess.run([PY, "-c", code, *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"cli-recover {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    rss = int(next(ln for ln in proc.stderr.splitlines() if ln.startswith("RSS "))[4:])
    return elapsed, rss


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def du_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def check_bounded(report: list[dict], limit_mb: float) -> None:
    """The memory promise: the cli-recover process's peak RSS stays under a fixed bound at every size."""
    worst = max(max(r["peak_rss_backup_mb"], r["peak_rss_restore_mb"]) for r in report)
    if worst > limit_mb:
        raise SystemExit(f"memory NOT bounded: peak RSS {worst:.0f} MB > {limit_mb:g} MB")
    print(f"memory bounded: peak RSS {worst:.0f} MB <= {limit_mb:g} MB at every size")
