"""Output for read commands: `-o table|json|yaml`, like kubectl."""

from __future__ import annotations

import json
import os
import stat
import sys

FORMATS = ("table", "json", "yaml")


def add_output_argument(parser, default: str = "table") -> None:
    parser.add_argument("-o", "--output", choices=FORMATS, default=default, help="output format (default: %(default)s)")


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def print_yaml(data) -> None:
    import yaml

    sys.stdout.write(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False, allow_unicode=True))


def table(headers: list[str], rows: list[list], *, empty: str = "") -> str:
    """Plain aligned columns (three spaces apart, like kubectl), rendered by rich: widths count terminal
    cells (CJK, emoji), cells are text (never markup), nothing is wrapped or cut whatever the width."""
    if not rows:
        return empty
    import io

    from rich.console import Console
    from rich.table import Table

    grid = Table(box=None, show_edge=False, pad_edge=False, padding=(0, 3, 0, 0), header_style="", expand=False)
    for header in headers:
        grid.add_column(header, no_wrap=True, overflow="ignore")
    for row in rows:
        grid.add_row(*[str(c) if c is not None else "-" for c in row])
    buf = io.StringIO()
    Console(file=buf, width=1 << 20, color_system=None, markup=False, highlight=False, emoji=False).print(grid)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines())


def emit(data, fmt: str, headers: list[str], rows: list[list], *, empty: str = "") -> None:
    if fmt == "json":
        print_json(data)
    elif fmt == "yaml":
        print_yaml(data)
    else:
        text = table(headers, rows, empty=empty)
        if text:
            print(text)


class PipeGuard:
    """Wraps sys.stdout/sys.stderr when they are pipes. Once the reader has gone (`verify --json | head -1`)
    the rest of the output is dropped (the fd now points at /dev/null) instead of raising BrokenPipeError
    wherever the next print happens, e.g. inside a job, which would then be recorded as failed although
    its work succeeded. `broken` says whether that happened."""

    def __init__(self, stream):
        self._stream = stream
        self.broken = False

    def write(self, text):
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self.broken = True
        try:  # the unwritten buffer and the interpreter's last flush then go to /dev/null, silently
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def guard_pipes() -> None:
    """Install PipeGuard on sys.stdout and sys.stderr when they are pipes or sockets (not yet guarded)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, PipeGuard):
            continue
        try:
            mode = os.fstat(stream.fileno()).st_mode
        except (AttributeError, OSError, ValueError):  # no real fd (a test's capture object)
            continue
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            setattr(sys, name, PipeGuard(stream))
