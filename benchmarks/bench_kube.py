"""Issue 3 benchmark: pod backup/restore through the sandbox's exec protocol, cli-recover vs kubectl.

    python benchmarks/bench_kube.py [--gb 1] [--rounds 2] [--workdir DIR]

Same data in a sandbox pod, side by side in one run:
  backup:  cli-recover backup filesystem POD /data   vs  kubectl exec POD -- tar -cf - -C /data . | zstd -T0 -3 > f
  restore: cli-recover restore filesystem POD f2 ... vs  zstd -d < f | kubectl exec -i POD -- tar -x -C DIR
Also the peak RSS of the cli-recover process (bounded memory: it must not grow with the stream).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PY, check_bounded, du_bytes, make_mixed_data, python_peak_rss, timed  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--gb", default="1", help="GB of data in the pod (comma list for an RSS comparison)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workdir", default="/var/tmp/cli-recover-bench-kube")
    opts = ap.parse_args()
    if not shutil.which("kubectl"):
        raise SystemExit("kubectl is not installed: the baseline cannot run")
    work = Path(opts.workdir)
    work.mkdir(parents=True, exist_ok=True)
    root = work / "cluster"
    kubeconfig = work / "kubeconfig"
    env = {"CLI_RECOVER_HOME": str(work / "home"), "HOME": str(work / "kubehome"), "KUBECONFIG": str(kubeconfig)}
    (work / "kubehome").mkdir(exist_ok=True)
    summary = []
    for gb in [float(x) for x in opts.gb.split(",")]:
        pod = root / "default" / f"bench{gb:g}".replace(".", "-")
        name = pod.name
        data = pod / "data"
        if not data.exists() or du_bytes(data) < gb * 1e9 * 0.99:
            shutil.rmtree(pod, ignore_errors=True)
            print(f"making {gb:g} GB of mixed data in pod {name} ...", flush=True)
            make_mixed_data(data, int(gb * 1e9))
            (root / "default" / f"{name}.pod.json").write_text(json.dumps({"containers": [{"name": "main"}]}))
        port = free_port()
        server = subprocess.Popen([PY, "-m", "cli_recover", "sandbox", "serve", "--root", str(root), "--port",
                                   str(port), "--kubeconfig", str(kubeconfig)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env={**os.environ, **env})
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if kubeconfig.exists() and subprocess.run(["kubectl", "get", "pods"], capture_output=True,
                                                          env={**os.environ, **env}).returncode == 0:
                    break
                time.sleep(0.2)
            size = du_bytes(data)
            rows: dict[str, list[float]] = {k: [] for k in ("b_base", "b_ours", "r_base", "r_ours", "rss_b", "rss_r")}
            for r in range(opts.rounds):
                base_f, ours_f = work / "base.tar.zst", work / "ours.tar.zst"
                for f in (base_f, ours_f, Path(str(ours_f) + ".manifest.json")):
                    f.unlink(missing_ok=True)
                for d in ("restore-base", "restore-ours"):
                    shutil.rmtree(pod / d, ignore_errors=True)
                    (pod / d).mkdir()
                order = ["base", "ours"] if r % 2 == 0 else ["ours", "base"]
                for which in order:
                    if which == "base":
                        t, _ = timed(f"kubectl exec {name} -- tar -cf - -C /data . | zstd -q -T0 -3 > '{base_f}'",
                                     shell=True, env=env)
                        rows["b_base"].append(t)
                    else:
                        t, rss = python_peak_rss(["backup", "filesystem", name, "/data", "-o", str(ours_f), "-q"], env)
                        rows["b_ours"].append(t)
                        rows["rss_b"].append(rss)
                for which in order:
                    if which == "base":
                        t, _ = timed(f"zstd -q -d < '{base_f}' | kubectl exec -i {name} -- tar -x -C /restore-base",
                                     shell=True, env=env)
                        rows["r_base"].append(t)
                    else:
                        t, rss = python_peak_rss(["restore", "filesystem", name, str(ours_f), "--target-path",
                                                  "/restore-ours", "-q"], env)
                        rows["r_ours"].append(t)
                        rows["rss_r"].append(rss)
            med = {k: statistics.median(v) for k, v in rows.items()}
            result = {
                "gb": gb, "bytes": size,
                "backup_kubectl_mb_s": size / med["b_base"] / 1e6, "backup_ours_mb_s": size / med["b_ours"] / 1e6,
                "backup_ratio": med["b_base"] / med["b_ours"],
                "restore_kubectl_mb_s": size / med["r_base"] / 1e6, "restore_ours_mb_s": size / med["r_ours"] / 1e6,
                "restore_ratio": med["r_base"] / med["r_ours"],
                "peak_rss_backup_mb": max(rows["rss_b"]) / 1024, "peak_rss_restore_mb": max(rows["rss_r"]) / 1024,
            }
            summary.append(result)
            print(json.dumps(result, indent=1), flush=True)
        finally:
            server.terminate()
            server.wait(10)
    check_bounded(summary, 160)
    print("\nsize   backup vs kubectl   restore vs kubectl   peak RSS backup/restore")
    for r in summary:
        print(f"{r['gb']:g} GB   {r['backup_ratio']:.2f}x               {r['restore_ratio']:.2f}x"
              f"                {r['peak_rss_backup_mb']:.0f} / {r['peak_rss_restore_mb']:.0f} MB")


if __name__ == "__main__":
    main()
