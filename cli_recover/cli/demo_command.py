"""`cli-recover demo`: a sample sandbox cluster, started on a free loopback port, and a guided
backup -> verify -> restore through the same commands a user types."""

from __future__ import annotations

import shlex
import signal
import sys
import threading

DEMO_POD, DEMO_NS, DEMO_PATH = "web-7d4b9c6f5-x2k8p", "shop", "/app"
RESTORE_POD, RESTORE_NS = "toolbox", "default"


def _step(argv: list[str], kubeconfig: str) -> tuple[int, str]:
    """Runs one cli-recover command as its own process, echoing it like a shell would."""
    import os
    import subprocess

    print(f"\n$ {shlex.join(['cli-recover', *argv])}", flush=True)
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    proc = subprocess.run([sys.executable, "-m", "cli_recover", *argv], stdout=subprocess.PIPE, env=env, text=True)
    sys.stdout.write(proc.stdout)
    sys.stdout.flush()
    return proc.returncode, proc.stdout


def _pause(seconds: float) -> None:
    """Time to read the last lines of the tour before the app takes the screen (Enter skips it)."""
    import select

    try:
        ready, _, _ = select.select([sys.stdin], [], [], seconds)
        if ready:
            sys.stdin.readline()
    except (OSError, ValueError):
        pass


def cmd_demo(args) -> int:
    from cli_recover.config import data_home
    from cli_recover.errors import RecoverError
    from cli_recover.kube.sandbox.demo import create_demo_tree
    from cli_recover.kube.sandbox.server import serve

    root = data_home() / "sandbox"
    create_demo_tree(root, overwrite=args.reset)
    kubeconfig = str(data_home() / "sandbox-kubeconfig")
    sandbox = serve(root, port=args.port, kubeconfig_path=kubeconfig)
    try:
        print(f"cli-recover demo: a SANDBOX cluster (folders under {root} served as pods; not a real cluster)")
        print(f"  API server {sandbox.url}, kubeconfig {kubeconfig}")
        if not args.no_tour:
            code, _ = _step(["pods", "-A"], kubeconfig)
            code, out = _step(["backup", "filesystem", DEMO_POD, DEMO_PATH, "-n", DEMO_NS, "--exclude", "*.log"],
                              kubeconfig)
            if code != 0:
                raise RecoverError("the demo backup failed (see above)")
            archive = out.strip().splitlines()[-1]
            _step(["verify", archive], kubeconfig)
            _step(["restore", "filesystem", RESTORE_POD, archive, "-n", RESTORE_NS, "--target-path",
                   "/restore/app", "--include", "uploads", "--force"], kubeconfig)
            restored = root / RESTORE_NS / RESTORE_POD / "restore" / "app" / "uploads"
            count = sum(1 for p in restored.rglob("*") if p.is_file()) if restored.exists() else 0
            print(f"\n{count} files now in pod {RESTORE_NS}/{RESTORE_POD} at /restore/app/uploads "
                  f"(on disk: {restored}).")
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        open_app = interactive and not (args.no_app or args.no_wait)
        if not open_app:
            print("\nTry it yourself, in another terminal, while this runs:")
            print(f"  export KUBECONFIG={kubeconfig}")
            print("  kubectl get pods -A")
            print(f"  cli-recover backup filesystem {DEMO_POD} /app -n {DEMO_NS} --compression lz4")
            print(f"  cli-recover preflight {DEMO_POD} /app -n {DEMO_NS}")
            print("  cli-recover list; cli-recover status")
        if args.no_wait or not sys.stdin.isatty():
            return 0
        if open_app:
            from cli_recover.cli.tui_command import run_app

            if not args.no_tour:
                print("\nOpening the app on the sandbox: Enter opens a pod, b backs up a folder, :jobs and "
                      ":history follow it, ? lists the keys, q quits (and stops the sandbox).", flush=True)
                _pause(3.0)
            run_app(kubeconfig=kubeconfig, namespace=DEMO_NS)
            print("stopped the sandbox; `cli-recover demo` starts it again with the same pods and archives")
            return 0
        print("\nThe sandbox stays up until you press Ctrl-C.", flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
        print("\nstopping the sandbox")
        return 0
    finally:
        sandbox.stop()


def register(sub) -> None:
    from cli_recover.argtypes import port

    p = sub.add_parser("demo", help="start a sample sandbox cluster and walk through a backup and restore",
                       description="Creates a sample SANDBOX cluster under $CLI_RECOVER_HOME/sandbox (pods are "
                       "folders), serves it on a free loopback port and runs a backup, verify and restore; then, on a terminal, "
                       "opens the app on it.")
    p.add_argument("--port", type=port, default=0, help="port for the sandbox API server (default: a free one)")
    p.add_argument("--reset", action="store_true", help="recreate the sample pods from scratch")
    p.add_argument("--no-tour", action="store_true", help="just serve the sandbox")
    p.add_argument("--no-wait", action="store_true", help="stop the sandbox after the tour")
    p.add_argument("--no-app", action="store_true",
                   help="on a terminal, keep serving until Ctrl-C instead of opening the app after the tour")
    p.set_defaults(func=cmd_demo)
