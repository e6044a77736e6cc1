"""The headless entry point. Imports stay lazy: `--help` must not load textual, kubernetes or codecs."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from cli_recover import __version__
from cli_recover.errors import RecoverError

# Each module exposes register(subparsers); its parsers set `func=handler(args) -> int`.
COMMAND_MODULES = (
    "cli_recover.cli.archive_commands",
    "cli_recover.cli.kube_commands",
    "cli_recover.cli.job_commands",
    "cli_recover.cli.demo_command",
    "cli_recover.cli.schedule_commands",
    "cli_recover.cli.tui_command",
)


# Flags whose empty value would silently mean the default (`-n ""` = the context's namespace).
NON_EMPTY = {"namespace": "-n/--namespace", "container": "-c/--container", "context": "--context",
             "kubeconfig": "--kubeconfig"}


class Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line (plus a hint), exit code 2, and refuses empty
    NON_EMPTY values (every command, and the backup a schedule validates with this parser)."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"cli-recover: error: {message}\n(see: {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        for dest, flag in NON_EMPTY.items():
            value = getattr(namespace, dest, None)
            if isinstance(value, str) and not value.strip():
                self.error(f"argument {flag}: empty value; leave the flag out to use the default")
        return namespace, extras


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = Parser(
        prog="cli-recover",
        description="Back up and restore what lives inside Kubernetes pods and on the local host. "
        "Archives are plain tar (+ zstd/lz4/gzip) with a JSON manifest of checksums.",
    )
    parser.add_argument("--version", action="version", version=f"cli-recover {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        if getattr(module, "REGISTER_WITH_ARGV", False):
            module.register(sub, argv)
        else:
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from cli_recover.cli.output import guard_pipes

    guard_pipes()  # `cli-recover ... | head -1`: the rest is dropped, never a BrokenPipeError mid-job
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv and sys.stdin.isatty() and sys.stdout.isatty():
        argv = ["tui"]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    args._argv = argv  # what a --background job re-executes
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except RecoverError as exc:
        print(f"cli-recover: error: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("cli-recover: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:  # a path we could not use (data home, -o, an input file): one line, no traceback
        print(f"cli-recover: error: {one_line(describe_os_error(exc))}", file=sys.stderr)
        return 1


def one_line(text: str) -> str:
    """Control characters escaped (`\\n`, `\\x1b`): an error quotes names from archives and pods,
    and must stay one line with no terminal escape sequence in it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def describe_os_error(exc: OSError) -> str:
    """`Not a directory: /x/history (data home: $CLI_RECOVER_HOME=/x)` rather than errno and repr."""
    from cli_recover import config

    reason = exc.strerror or type(exc).__name__
    name = exc.filename
    if name is None:
        return f"{reason}: {exc}" if str(exc) and str(exc) != reason else reason
    text = f"{reason}: {os.fsdecode(name)}"
    if exc.filename2 is not None:
        text += f" -> {os.fsdecode(exc.filename2)}"
    home = config.data_home()
    try:
        inside = Path(os.fsdecode(name)).absolute().is_relative_to(home.absolute())
    except (OSError, ValueError):
        inside = False
    if inside:
        text += f" (data home: ${config.ENV_HOME}={home})" if os.environ.get(config.ENV_HOME) else f" (data home: {home})"
    return text
