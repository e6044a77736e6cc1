"""Making a schedule: everything `schedule add` and the app's editor check before a schedule is
stored, in one place, so the two faces refuse the same things with the same one-line errors.

The backup a schedule runs is parsed with the `backup PROVIDER` grammar (`backup_parser`, the same
options as `cli-recover backup PROVIDER`: both are built by engine/grammar.py) without running anything, then completed: abbreviated options spelled out, local paths made
absolute (the scheduler runs elsewhere), and for a pod the full target as it is when the schedule is
made: the kubeconfig file and the context (from the flags, else the caller's defaults, else
KUBECONFIG or ~/.kube/config and its current-context), written into the argv so every run backs up
the same cluster whatever is current when it fires.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os

from cli_recover.errors import UsageError

EXAMPLE = "e.g. -- backup filesystem --local /srv/data"
# Flags whose empty value would silently mean the default (as cli/main.py's Parser refuses them).
NON_EMPTY = {"namespace": "-n/--namespace", "container": "-c/--container", "context": "--context",
             "kubeconfig": "--kubeconfig"}


class _Stop(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """Reports instead of exiting: the caller turns it into one UsageError."""

    def exit(self, status: int = 0, message: str | None = None):  # noqa: A003
        raise _Stop(status, message or "")

    def error(self, message: str):
        raise _Stop(2, message)


def backup_parser(provider: str | None = None) -> argparse.ArgumentParser:
    """`backup PROVIDER ...`: the options of `cli-recover backup PROVIDER` (only `provider`'s own
    options are loaded, as the CLI does)."""
    from cli_recover.engine.grammar import add_backup_arguments
    from cli_recover.providers import load_provider, provider_names

    parser = _Parser(prog="cli-recover", add_help=False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    backup = sub.add_parser("backup")
    kinds = backup.add_subparsers(dest="provider", metavar="PROVIDER", required=True, parser_class=_Parser)
    for name in provider_names():
        p = kinds.add_parser(name)
        add_backup_arguments(p)
        if name == provider:
            load_provider(name).add_backup_arguments(p)
    return parser


def _provider_parser(parser, provider: str):
    def subparsers(p):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices
        return {}

    backup = subparsers(parser).get("backup")
    return subparsers(backup).get(provider) if backup is not None else None


def _canonical(argv: list[str], options) -> list[str]:
    """Abbreviated long options (argparse accepts --loc for --local) spelled out."""
    out = []
    rest = False
    for token in argv:
        if rest or token == "--" or not token.startswith("--"):
            rest = rest or token == "--"
            out.append(token)
            continue
        name, eq, value = token.partition("=")
        if name not in options:
            matches = [o for o in options if o.startswith(name)]
            if len(matches) == 1:
                name = matches[0]
        out.append(name + eq + value)
    return out


def _absolute(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """argv with the values of the given path options made absolute (the scheduler runs elsewhere)."""
    out = list(argv)
    i = 0
    while i < len(out):
        token = out[i]
        if token == "--":
            break
        if token in options and i + 1 < len(out):
            out[i + 1] = os.path.abspath(os.path.expanduser(out[i + 1]))
            i += 2
            continue
        for opt in options:
            if opt.startswith("--") and token.startswith(opt + "="):
                out[i] = opt + "=" + os.path.abspath(os.path.expanduser(token[len(opt) + 1:]))
            elif not opt.startswith("--") and token.startswith(opt) and len(token) > len(opt):
                out[i] = opt + os.path.abspath(os.path.expanduser(token[len(opt):]))
        i += 1
    return out


def parse_backup(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """(the parsed backup, argv with abbreviations spelled out); one-line UsageError otherwise."""
    argv = list(argv)
    if not argv:
        raise UsageError(f"give the backup a schedule runs after --, {EXAMPLE}")
    if argv[0] != "backup":
        raise UsageError(f"a schedule runs a backup: the arguments after -- must start with 'backup' "
                         f"(got {argv[0]!r}), {EXAMPLE}")
    provider = argv[1] if len(argv) > 1 else None
    parser = backup_parser(provider)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            args = parser.parse_args(argv)
    except _Stop as stop:
        if not stop.status:
            raise UsageError(f"the backup arguments only asked for help; give the backup itself, {EXAMPLE}") from None
        raise UsageError(f"bad backup arguments ({' '.join(argv)}): {str(stop).strip()}") from None
    for dest, flag in NON_EMPTY.items():
        value = getattr(args, dest, None)
        if isinstance(value, str) and not value.strip():
            raise UsageError(f"bad backup arguments ({' '.join(argv)}): argument {flag}: empty value; "
                             "leave the flag out to use the default")
    sub = _provider_parser(parser, args.provider)
    if sub is not None:
        argv = _canonical(argv, sub._option_string_actions)
    return args, argv


def cluster_of(kubeconfig: str | None, context: str | None,
               warnings: list[str] | None = None) -> tuple[str | None, str | None]:
    """(the kubeconfig file, the context) a pod backup reaches now: the given ones, else KUBECONFIG or
    ~/.kube/config and its current-context. An unknown context is a one-line error. What cannot be
    pinned now is a warning and None (then the run uses what is current when it fires): no kubeconfig
    at all (a schedule only meant for `schedule export --kubernetes`), a named file that does not
    exist yet, or KUBECONFIG naming several files (the context is kept, the files are read then)."""
    from cli_recover.kube.errors import KubeconfigError
    from cli_recover.kube.kubeconfig import KubeConfig, kubeconfig_paths

    def warn(text: str) -> None:
        if warnings is not None:
            warnings.append(text)

    if kubeconfig:
        path = os.path.abspath(os.path.expanduser(kubeconfig))
        if not os.path.isfile(path):
            warn(f"kubeconfig {path} does not exist (yet); runs fail until it does")
            return path, context
        return path, KubeConfig.load(path).context(context).name
    try:
        paths = kubeconfig_paths(None)
    except KubeconfigError as exc:
        warn(f"{exc}; runs use the kubeconfig and context current when they fire")
        return None, context
    info = KubeConfig(paths).context(context)
    if len(paths) > 1:
        warn(f"KUBECONFIG names several files: the schedule keeps context {info.name} and reads KUBECONFIG "
             "when it fires (pass --kubeconfig FILE in its backup to keep one file)")
        return None, info.name
    return os.path.abspath(paths[0]), info.name


def validate_backup(argv: list[str], warnings: list[str] | None = None, *, kubeconfig: str | None = None,
                    context: str | None = None) -> tuple[list[str], dict]:
    """(the argv a run executes, the job's provider/target/options), without running anything.

    `kubeconfig`/`context` are the caller's defaults for a pod backup that names neither (the app's
    current cluster); the argv's own flags win. One-line UsageErrors; things worth a warning go to
    `warnings`."""
    args, argv = parse_backup(argv)
    for flag, attr in (("--background", "background"), ("--job-id", "job_id"), ("--dry-run", "dry_run")):
        if getattr(args, attr, None):
            raise UsageError(f"leave {flag} out of a schedule's backup: the scheduler runs it as a background job")
    provider = args.provider
    if args.local and args.pod is not None:
        raise UsageError("bad backup arguments: give either --local PATH or POD PATH, not both")
    if not args.local and (args.pod is None or args.path is None):
        raise UsageError(f"bad backup arguments: say what to back up: backup {provider} POD PATH, "
                         f"or backup {provider} --local PATH")
    argv = _absolute(argv, ("--local", "--output", "-o", "--kubeconfig"))
    output = None
    if args.output:
        output = os.path.abspath(os.path.expanduser(args.output))
        if not os.path.isdir(output):
            raise UsageError(f"-o in a schedule must be an existing folder (every run writes a new archive): {output}")
    if args.local:
        path = os.path.abspath(os.path.expanduser(args.local))
        target = {"kind": "local", "path": path}
        if not os.path.exists(path) and warnings is not None:
            warnings.append(f"{path} does not exist (yet); runs fail until it does")
    else:
        if not args.path.startswith("/"):
            raise UsageError(f"the path in pod {args.pod} must be absolute (a schedule runs without a working "
                             f"folder): {args.path!r}")
        config_file, ctx = cluster_of(args.kubeconfig or kubeconfig, args.context or context, warnings)
        missing = ([] if args.kubeconfig or not config_file else ["--kubeconfig", config_file]) + \
            ([] if args.context or not ctx else ["--context", ctx])
        end = argv.index("--") if "--" in argv else len(argv)
        argv = [*argv[:end], *missing, *argv[end:]]
        target = {"kind": "pod", "kubeconfig": config_file, "context": ctx, "namespace": args.namespace,
                  "pod": args.pod, "container": args.container, "path": args.path}
    options = {"compression": args.compression, "level": args.level, "output": output}
    return argv, {"provider": provider, "target": target, "options": options}


def validate_keep(keep: dict) -> dict:
    for key, value in keep.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise UsageError(f"--keep-{key} must be 0 or more")
    return {k: v for k, v in keep.items() if v}


def validate_notify(targets: list[str]) -> list[str]:
    from cli_recover.engine.schedules.view import is_webhook, redact_url

    for target in targets:
        if not target.strip():
            raise UsageError("--notify needs a webhook URL or a command")
        if is_webhook(target):
            from urllib.parse import urlsplit

            try:
                ok = bool(urlsplit(target).hostname)
            except ValueError:
                ok = False
            if not ok:
                raise UsageError(f"bad --notify webhook URL {redact_url(target)}: it has no host")
    return list(targets)
