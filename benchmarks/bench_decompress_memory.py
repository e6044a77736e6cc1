"""Issue 9 item 2 benchmark: peak RSS of `verify` and of a local restore of an archive of one big
zero file (a decompression bomb: 64 KiB of zstd is gigabytes), every codec, side by side with the
codec's own CLI piped into tar as the baseline.

    python benchmarks/bench_decompress_memory.py --gb 2 [--code DIR] [--limit-mb 150]

`--code DIR` runs the cli-recover found in DIR (e.g. an exported older commit) to compare before and
after. Prints, per codec, the peak RSS of ours and of the baseline and their ratio (ours / baseline).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fresh_dir, python_peak_rss, timed  # noqa: E402

CLI = {"zstd": "zstd -q -d", "lz4": "lz4 -q -d", "gzip": "gzip -d"}
EXT = {"zstd": ".zst", "lz4": ".lz4", "gzip": ".gz"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", type=float, default=2.0)
    ap.add_argument("--codecs", default="zstd,lz4,gzip")
    ap.add_argument("--code", default=str(ROOT), help="the cli-recover source tree to run")
    ap.add_argument("--workdir", default="/var/tmp/cli-recover-bomb")
    ap.add_argument("--limit-mb", type=float, default=0, help="fail when ours peaks above this")
    opts = ap.parse_args()
    work = Path(opts.workdir)
    src = fresh_dir(work / "src")
    os.chdir(work)  # `python -c` puts the cwd first on sys.path: only --code may provide cli_recover
    size = int(opts.gb * 1e9)
    with open(src / "zeros.bin", "wb") as f:  # sparse: tar still reads every zero
        f.truncate(size)
    env = {"PYTHONPATH": opts.code, "CLI_RECOVER_HOME": str(work / "home")}
    report = []
    _, idle = python_peak_rss(["list"], env)  # the interpreter and cli-recover doing nothing: the floor
    for codec in opts.codecs.split(","):
        archive = work / f"bomb.tar{EXT[codec]}"
        for p in (archive, Path(str(archive) + ".manifest.json")):
            p.unlink(missing_ok=True)
        # the archive is always written by the current tree (the same bytes before and after)
        python_peak_rss(["backup", "filesystem", "--local", str(src), "-o", str(archive), "-q",
                         "--compression", codec], {"PYTHONPATH": str(ROOT), "CLI_RECOVER_HOME": str(work / "home")})
        _, verify_rss = python_peak_rss(["verify", str(archive), "-q"], env)
        _, verify_base = timed(f"{CLI[codec]} < '{archive}' | tar -t > /dev/null", shell=True)
        dest = fresh_dir(work / "restore")
        _, restore_rss = python_peak_rss(["restore", "filesystem", "--local", str(archive), "--target-path",
                                          str(dest), "-q"], env)
        dest = fresh_dir(work / "restore")
        _, restore_base = timed(f"{CLI[codec]} < '{archive}' | tar -x -C '{dest}'", shell=True)
        fresh_dir(work / "restore")
        row = {"codec": codec, "gb": opts.gb, "stored_bytes": archive.stat().st_size,
               "verify_rss_mb": verify_rss / 1024, "verify_baseline_rss_mb": verify_base / 1024,
               "restore_rss_mb": restore_rss / 1024, "restore_baseline_rss_mb": restore_base / 1024,
               "idle_rss_mb": idle / 1024}
        row["verify_ratio"] = row["verify_rss_mb"] / row["verify_baseline_rss_mb"]
        row["restore_ratio"] = row["restore_rss_mb"] / row["restore_baseline_rss_mb"]
        report.append(row)
    print(json.dumps(report, indent=1))
    print(f"\n{opts.gb:g} GB of zeros   peak RSS MB: verify ours/baseline (ratio)   restore ours/baseline (ratio)")
    for r in report:
        print(f"{r['codec']:5} {r['stored_bytes']:>10} B   {r['verify_rss_mb']:7.0f} / {r['verify_baseline_rss_mb']:4.0f}"
              f" ({r['verify_ratio']:5.1f}x)   {r['restore_rss_mb']:7.0f} / {r['restore_baseline_rss_mb']:4.0f}"
              f" ({r['restore_ratio']:5.1f}x)")
    print(f"(cli-recover idle, `list` on an empty home: {idle / 1024:.0f} MB: the Python floor under every number)")
    if opts.limit_mb:
        worst = max(max(r["verify_rss_mb"], r["restore_rss_mb"]) for r in report)
        if worst > opts.limit_mb:
            raise SystemExit(f"memory NOT bounded: peak RSS {worst:.0f} MB > {opts.limit_mb:g} MB")
        print(f"memory bounded: peak RSS {worst:.0f} MB <= {opts.limit_mb:g} MB")
    subprocess.run(["rm", "-rf", str(src)], check=False)
    os.sync()


if __name__ == "__main__":
    main()
