"""Issue 2 benchmark: cli-recover backup/restore vs the plain pipeline, side by side in one run.

    python benchmarks/bench_archive.py [--sizes 1,4] [--workdir DIR] [--rounds 2]

Baselines: `tar -cf - . | zstd -T0 -3 > f` and `zstd -d < f | tar -x`. Reports throughput ratios
(ours / baseline; > 1 is faster) and the peak RSS of the cli-recover process at each size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import check_bounded, du_bytes, fresh_dir, make_mixed_data, python_peak_rss, timed  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,4", help="GB of data, comma separated")
    ap.add_argument("--workdir", default="/var/tmp/cli-recover-bench")
    ap.add_argument("--rounds", type=int, default=2)
    opts = ap.parse_args()
    work = Path(opts.workdir)
    work.mkdir(parents=True, exist_ok=True)
    env = {"CLI_RECOVER_HOME": str(work / "home")}
    report = []
    for gb in [float(s) for s in opts.sizes.split(",")]:
        src = work / f"data-{gb:g}g"
        if not src.exists() or du_bytes(src) < gb * 1e9 * 0.99:
            fresh_dir(src)
            print(f"making {gb:g} GB of mixed data in {src} ...", flush=True)
            make_mixed_data(src, int(gb * 1e9))
        size = du_bytes(src)
        rows = {"backup_base": [], "backup_ours": [], "restore_base": [], "restore_ours": [],
                "restore_ours_noverify": [], "rss_backup": [], "rss_restore": []}
        for r in range(opts.rounds):
            base_f, ours_f = work / "base.tar.zst", work / "ours.tar.zst"
            for f in (base_f, ours_f, Path(str(ours_f) + ".manifest.json")):
                f.unlink(missing_ok=True)
            order = [0, 1] if r % 2 == 0 else [1, 0]
            for which in order:
                if which == 0:
                    t, _ = timed(f"tar -cf - -C '{src}' . | zstd -q -T0 -3 > '{base_f}'", shell=True)
                    rows["backup_base"].append(t)
                else:
                    t, rss = python_peak_rss(["backup", "filesystem", "--local", str(src), "-o", str(ours_f), "-q"], env)
                    rows["backup_ours"].append(t)
                    rows["rss_backup"].append(rss)
            for which in order:
                dest = fresh_dir(work / "restore")
                if which == 0:
                    t, _ = timed(f"zstd -q -d < '{base_f}' | tar -x -C '{dest}'", shell=True)
                    rows["restore_base"].append(t)
                else:
                    t, rss = python_peak_rss(["restore", "filesystem", "--local", str(ours_f), "--target-path",
                                              str(dest), "-q"], env)
                    rows["restore_ours"].append(t)
                    rows["rss_restore"].append(rss)
            dest = fresh_dir(work / "restore")
            t, _ = python_peak_rss(["restore", "filesystem", "--local", str(ours_f), "--target-path", str(dest),
                                    "-q", "--no-verify"], env)
            rows["restore_ours_noverify"].append(t)
        med = {k: statistics.median(v) for k, v in rows.items()}
        result = {
            "gb": gb, "bytes": size,
            "backup_baseline_mb_s": size / med["backup_base"] / 1e6,
            "backup_ours_mb_s": size / med["backup_ours"] / 1e6,
            "backup_ratio": med["backup_base"] / med["backup_ours"],
            "restore_baseline_mb_s": size / med["restore_base"] / 1e6,
            "restore_ours_mb_s": size / med["restore_ours"] / 1e6,
            "restore_ratio": med["restore_base"] / med["restore_ours"],
            "restore_noverify_ratio": med["restore_base"] / med["restore_ours_noverify"],
            "peak_rss_backup_mb": max(rows["rss_backup"]) / 1024,
            "peak_rss_restore_mb": max(rows["rss_restore"]) / 1024,
            "stored_ours": os.path.getsize(work / "ours.tar.zst"),
            "stored_baseline": os.path.getsize(work / "base.tar.zst"),
        }
        report.append(result)
        print(json.dumps(result, indent=1), flush=True)
    check_bounded(report, 150)
    print("\nsize   backup ratio   restore ratio (no-verify)   peak RSS backup/restore")
    for r in report:
        print(f"{r['gb']:g} GB   {r['backup_ratio']:.2f}x         {r['restore_ratio']:.2f}x ({r['restore_noverify_ratio']:.2f}x)"
              f"          {r['peak_rss_backup_mb']:.0f} / {r['peak_rss_restore_mb']:.0f} MB")


if __name__ == "__main__":
    main()
