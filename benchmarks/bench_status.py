"""Time `cli-recover status` over 10,000 job records and `cli-recover --help`, as real subprocesses.

    .venv/bin/python benchmarks/bench_status.py [--records 10000] [--runs 7]

Creates the records in a temporary CLI_RECOVER_HOME (finished jobs spread over the last 20 days,
plus a few running ones whose process is this script, so they stay alive), then prints the
wall-clock time of each command: the first run (which builds the history index) and the median of
the following runs. Targets from the roadmap: status <= 0.5 s, --help <= 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli_recover.engine import proc  # noqa: E402
from cli_recover.engine.model import iso, new_job_id, new_record  # noqa: E402


def make_records(home: Path, n: int) -> None:
    hist, logs = home / "history", home / "logs"
    hist.mkdir(parents=True)
    logs.mkdir(parents=True)
    now = time.time()
    me = proc.identity()
    for i in range(n):
        t = now - 20 * 86400 * (n - i) / n
        job_id = new_job_id(t)
        rec = new_record(job_id, kind="backup", provider="filesystem",
                         target={"kind": "pod", "context": "kind-dev", "namespace": "shop", "pod": f"web-{i % 7}",
                                 "container": "app", "path": "/var/lib/data"},
                         options={"codec": "zstd", "level": 3, "exclude": ["*.tmp", "cache/"]},
                         schedule=None, log=str(logs / f"{job_id}.log"),
                         argv=["backup", "filesystem", "--pod", f"web-{i % 7}", "/var/lib/data"])
        running = i >= n - 3
        rec.update(state="running" if running else ("succeeded" if i % 10 else "failed"),
                   created=iso(t), started=iso(t + 1), finished=None if running else iso(t + 61), **me)
        rec["progress"] = {"done": 123456789 + i, "total": 223456789, "rate": 2.1e7, "eta": None if not running else 5.0,
                           "phase": "streaming" if running else "done"}
        rec["archive"] = f"/backups/web-{i}.tar.zst"
        rec["manifest"] = rec["archive"] + ".manifest.json"
        rec["result"] = None if running else {"bytes": 123456789 + i, "files": 1234, "sha256": "ab" * 32}
        if rec["state"] == "failed":
            rec["error"] = "tar on kind-dev/shop/web-1 exited with status 2: Cannot open: Permission denied"
        (hist / f"{job_id}.json").write_text(json.dumps(rec, separators=(",", ":")))


def timed(cmd: list[str], env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-status-") as tmp:
        home = Path(tmp)
        t = time.perf_counter()
        make_records(home, a.records)
        print(f"created {a.records} records in {time.perf_counter() - t:.1f}s under {home}")
        env = dict(os.environ, CLI_RECOVER_HOME=str(home), PYTHONPATH=str(ROOT))
        base = [sys.executable, "-m", "cli_recover"]
        cases = [
            ("status -o json", ["status", "-o", "json"]),
            ("status (table)", ["status"]),
            ("status -A (table)", ["status", "-A"]),
            ("status -A -o json", ["status", "-A", "-o", "json"]),
            ("--help", ["--help"]),
            ("status --help", ["status", "--help"]),
        ]
        print(f"{'command':<22} {'first':>8} {'median':>8} {'min':>8}   ({a.runs} runs after the first)")
        for label, args in cases:
            first = timed(base + args, env)
            runs = [timed(base + args, env) for _ in range(a.runs)]
            print(f"{label:<22} {first:8.3f} {statistics.median(runs):8.3f} {min(runs):8.3f}")
        baseline = [timed([sys.executable, "-c", "pass"], env) for _ in range(a.runs)]
        print(f"{'(python -c pass)':<22} {'':8} {statistics.median(baseline):8.3f} {min(baseline):8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
