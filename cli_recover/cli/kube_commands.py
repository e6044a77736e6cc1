"""Cluster commands: `pods`, `contexts`, `preflight` and `sandbox serve`. Heavy imports stay in handlers."""

from __future__ import annotations

import argparse
import json
import sys


def _cluster_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )


def register(sub) -> None:
    from cli_recover.argtypes import add_exec_timeout_argument, count, port

    p = sub.add_parser(
        "pods",
        help="list pods (what the app's pods screen shows)",
        description="List pods with phase, readiness, containers, restarts, age and node.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("-n", "--namespace", help="namespace (default: the context's, else `default`)")
    where.add_argument("-A", "--all-namespaces", action="store_true", help="pods of every namespace")
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    _cluster_flags(p)
    p.set_defaults(func=cmd_pods)

    p = sub.add_parser("contexts", help="list the kubeconfig's contexts")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.add_argument(
        "--kubeconfig", metavar="FILE", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)"
    )
    p.set_defaults(func=cmd_contexts)

    p = sub.add_parser(
        "preflight",
        help="report what a pod offers for backup (tar, shell, free space, dump tools)",
        description="Runs one short probe in the container: shell, tar and its flavour, du, free "
        "space at PATH, and pg_dump/mysqldump/mariadb-dump/mongodump. Exit 1 when a "
        "filesystem backup cannot run.",
    )
    p.add_argument("pod")
    p.add_argument("path", nargs="?", help="path in the container to check (existence, access, free space)")
    p.add_argument("-n", "--namespace")
    p.add_argument(
        "-c", "--container", help="container (default: the pod's default-container, else the first)"
    )
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    _cluster_flags(p)
    add_exec_timeout_argument(p)
    p.set_defaults(func=cmd_preflight)

    p = sub.add_parser(
        "sandbox", help="a local sandbox cluster (folders served as pods) for trying things out"
    )
    ssub = p.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", parser_class=p.__class__)
    s = ssub.add_parser(
        "serve",
        help="serve DIR as a sandbox cluster until Ctrl-C",
        description="Serves DIR/<namespace>/<pod>/ as pods over the real Kubernetes API and exec "
        "protocols and writes a kubeconfig for it. Not a real cluster: exec runs local "
        "processes chrooted into the pod folder.",
    )
    s.add_argument("--root", required=True, metavar="DIR", help="folder whose subfolders are namespaces")
    s.add_argument("--port", type=port, default=0, help="port (default: a free one)")
    s.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; other than loopback needs --i-know-this-is-unsafe)")
    s.add_argument("--i-know-this-is-unsafe", dest="allow_remote", action="store_true",
                   help="listen on a non-loopback --host: whoever reaches it with the admin token runs commands "
                   "on this host (as root when the sandbox runs as root)")
    s.add_argument(
        "--kubeconfig", metavar="FILE", help="where to write the kubeconfig (default DIR/.sandbox-kubeconfig)"
    )
    s.add_argument("--synthetic", type=count(1_000_000), default=0, metavar="N", help="also serve N synthetic pods")
    s.set_defaults(func=cmd_sandbox_serve)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])


# -- output helpers ------------------------------------------------------------------------------------


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(str(c))) for w, c in zip(widths, row, strict=False)]
    lines = ["   ".join(str(c).ljust(w) for c, w in zip(headers, widths, strict=False)).rstrip()]
    lines += ["   ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows]
    return "\n".join(lines)


def _size(n: int | None) -> str:
    from cli_recover.units import human_bytes

    return "unknown" if n is None else human_bytes(n)


# -- handlers --------------------------------------------------------------------------------------------


def cmd_pods(args) -> int:
    from cli_recover.kube.cluster import Cluster
    from cli_recover.kube.errors import UnknownNamespace, choices

    with Cluster(args.kubeconfig, args.context) as cluster:
        ns = args.namespace or cluster.namespace
        pods = cluster.pods(ns, all_namespaces=args.all_namespaces)
        if not pods and not args.all_namespaces and cluster.namespace_exists(ns) is False:
            raise UnknownNamespace(f"unknown namespace {ns!r}; namespaces: {choices(cluster.namespaces())}")
    if args.output == "json":
        print(json.dumps([p.to_dict() for p in pods], indent=2))
        return 0
    if args.output == "yaml":
        import yaml

        print(yaml.safe_dump([p.to_dict() for p in pods], sort_keys=False), end="")
        return 0
    if not pods:
        where = "any namespace" if args.all_namespaces else f"namespace {ns}"
        print(f"No pods in {where}.", file=sys.stderr)
        return 0
    headers = ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "CONTAINERS", "NODE"]
    rows = [
        [p.name, p.ready, p.status, str(p.restarts), p.age, ",".join(p.containers), p.node or "<none>"]
        for p in pods
    ]
    if args.all_namespaces:
        headers.insert(0, "NAMESPACE")
        rows = [[p.namespace, *row] for p, row in zip(pods, rows, strict=True)]
    print(_table(headers, rows))
    return 0


def cmd_contexts(args) -> int:
    from cli_recover.kube.kubeconfig import list_contexts

    contexts = list_contexts(args.kubeconfig)
    if args.output == "json":
        from dataclasses import asdict

        print(json.dumps([asdict(c) for c in contexts], indent=2))
        return 0
    rows = [["*" if c.current else "", c.name, c.cluster, c.user, c.namespace, c.server] for c in contexts]
    print(_table(["CURRENT", "NAME", "CLUSTER", "USER", "NAMESPACE", "SERVER"], rows))
    return 0


def cmd_preflight(args) -> int:
    from cli_recover.kube.pod import open_pod_target
    from cli_recover.kube.preflight import DB_TOOLS, preflight

    target = open_pod_target(
        args.pod, args.namespace, args.container, args.context, args.kubeconfig, exec_timeout=args.exec_timeout
    )
    try:
        report = preflight(target, args.path)
    finally:
        target.close()
    if args.output == "json":
        print(json.dumps(report.to_dict(), indent=2))
        return 0 if report.ok else 1

    def have(value, extra: str = "") -> str:
        return f"{value}{extra}" if value else "missing"

    tar_extra = ""
    if report.tar:
        tar_extra = (
            f" ({report.tar_flavour}" + (f": {report.tar_version}" if report.tar_version else "") + ")"
        )
    rows = [
        ["target", report.target],
        ["shell", have(report.shell)],
        ["tar", have(report.tar, tar_extra)],
        ["du", have(report.du, "" if report.du else " (progress falls back to no size estimate)")],
    ]
    if args.path:
        state = report.path_state or "unknown"
        access = ", ".join(
            a for a, ok in (("readable", report.path_readable), ("writable", report.path_writable)) if ok
        )
        rows.append(["path", f"{args.path}: {state}" + (f", {access}" if access else "")])
        rows.append(["free space", _size(report.free_bytes)])
    for tool in DB_TOOLS:
        rows.append([tool, have(report.tools.get(tool))])
    rows.append(["verdict", "ready for a filesystem backup" if report.ok else "; ".join(report.problems)])
    width = max(len(r[0]) for r in rows)
    print("\n".join(f"{k.ljust(width)}   {v}" for k, v in rows))
    return 0 if report.ok else 1


def cmd_sandbox_serve(args) -> int:
    import logging
    import signal
    import threading

    from cli_recover.kube.sandbox import serve
    from cli_recover.kube.sandbox.server import is_loopback as sandbox_is_loopback

    if not args.root.strip():
        from cli_recover.errors import UsageError

        raise UsageError("--root is empty: give the folder whose subfolders are namespaces")
    logging.basicConfig(level=logging.WARNING, format="cli-recover sandbox: %(message)s")
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum, frame) -> None:
        received.append(signum)
        stop.set()

    # a closed terminal (SIGHUP) stops it like Ctrl-C: the TLS key removed, the pod commands stopped
    hup = [] if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN else [signal.SIGHUP]  # nohup: keep running
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM, *hup)}
    try:
        sandbox = serve(
            args.root,
            host=args.host,
            port=args.port,
            kubeconfig_path=args.kubeconfig,
            synthetic=args.synthetic,
            allow_remote=args.allow_remote,
        )
        try:
            if not sandbox_is_loopback(args.host):
                print(f"warning: UNSAFE: the sandbox listens on {args.host}: anyone who can reach it with the "
                      f"admin token from {sandbox.kubeconfig_path} runs commands on this host", file=sys.stderr)
            print(f"cli-recover SANDBOX cluster (local folders as pods, not a real cluster) at {sandbox.url}")
            print(
                f"serving {sandbox.root}" + (f" + {args.synthetic} synthetic pods" if args.synthetic else "")
            )
            if not sandbox.isolated:
                print("warning: not root: pod commands run on this host with the pod folder as cwd only")
            print(f"kubeconfig: {sandbox.kubeconfig_path}  (contexts: sandbox, sandbox-viewer)")
            print(f"  export KUBECONFIG={sandbox.kubeconfig_path}")
            print("  kubectl get pods -A")
            print("stop with Ctrl-C", flush=True)
            while not stop.wait(0.5):
                pass
        finally:
            sandbox.stop()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    print("sandbox stopped", file=sys.stderr)
    return 0
