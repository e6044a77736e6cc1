"""`cli-recover tui`: the full-screen app (also what `cli-recover` with no arguments opens on a terminal).
Textual is imported inside the handler only: the headless commands never load it."""

from __future__ import annotations

import sys


def run_app(*, kubeconfig=None, context=None, namespace=None, all_namespaces=False) -> int:
    from cli_recover.errors import UsageError

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the app needs a terminal; use the headless commands (cli-recover --help) in scripts")
    from cli_recover.tui.app import RecoverApp
    from cli_recover.tui.services import Services

    services = Services(kubeconfig=kubeconfig, context=context, namespace=namespace)
    try:
        RecoverApp(services, all_namespaces=all_namespaces).run()
    finally:
        services.close()
    return 0


def cmd_tui(args) -> int:
    return run_app(kubeconfig=args.kubeconfig, context=args.context, namespace=args.namespace,
                   all_namespaces=args.all_namespaces)


def register(sub) -> None:
    p = sub.add_parser("tui", help="open the full-screen app (pods, jobs, history)",
                       description="Opens the full-screen app on a kubeconfig context: browse pods and their "
                       "folders, start backups, follow jobs. Keys: ? help, : commands, / filter, esc back, q quit.")
    p.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="show the pods of every namespace")
    p.set_defaults(func=cmd_tui)
