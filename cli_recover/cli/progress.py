"""Progress for headless commands: a live line on a terminal (drawn with rich), plain periodic lines
otherwise (logs, pipes, CI)."""

from __future__ import annotations

import os
import sys
import time

from cli_recover.units import human_bytes, human_duration

__all__ = ["ProgressLine", "human_bytes", "human_duration"]

BAR_WIDTH = 20


class ProgressLine:
    """Call it with (done, total). It draws at most 10 times a second on a terminal (after the job
    has run for `delay` seconds) and every `interval` seconds elsewhere. `-q` -> enabled=False."""

    def __init__(self, label: str, *, enabled: bool = True, stream=None, delay: float = 0.5,
                 interval: float = 5.0, clock=time.monotonic):
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = self.stream.isatty()
        self.clock = clock
        self.start = clock()
        self.delay = delay
        self.interval = 0.1 if self.tty else interval
        self.last = self.start
        self.drawn = False
        self.done = 0
        self.total: int | None = None
        self._console = None

    def __call__(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        if not self.enabled:
            return
        now = self.clock()
        if now - self.start < self.delay or now - self.last < self.interval:
            return
        self.last = now
        self.draw(now)

    def _numbers(self, now: float) -> tuple[str | None, str, list[str]]:
        """(percentage, bytes, [rate, eta]) as words."""
        elapsed = max(now - self.start, 1e-6)
        rate = self.done / elapsed
        if not self.total:
            return None, human_bytes(self.done), [f"{human_bytes(rate)}/s"]
        pct = min(self.done / self.total, 1.0)
        eta = (self.total - self.done) / rate if rate > 0 and self.total > self.done else 0.0
        return (f"{pct * 100:3.0f}%", f"{human_bytes(self.done)} / {human_bytes(self.total)}",
                [f"{human_bytes(rate)}/s", f"ETA {human_duration(eta)}"])

    def text(self, now: float) -> str:
        """The plain line written when the stream is not a terminal."""
        pct, nbytes, rest = self._numbers(now)
        return "  ".join([self.label, *([pct.strip()] if pct else []), nbytes, *rest])

    def _render(self, now: float) -> str:
        """The terminal line: rich's bar and colours, cut to the terminal's width (never wrapped, so the
        next draw overwrites it)."""
        from rich.console import Console
        from rich.progress_bar import ProgressBar
        from rich.table import Column, Table

        try:  # asked every time: the terminal may have been resized
            width = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            width = 80
        if self._console is None:
            self._console = Console(file=self.stream, markup=False, highlight=False, emoji=False)
        self._console.width = max(width - 1, 20)  # one short of the edge: never wraps, `\r` redraws it
        pct, nbytes, rest = self._numbers(now)
        # only the label gives way when the terminal is narrow; the bar and the numbers keep their width
        line = Table.grid(Column(no_wrap=True, overflow="ellipsis"), padding=(0, 2, 0, 0), collapse_padding=True)
        cells: list = [self.label]
        if pct:
            line.add_column(width=BAR_WIDTH, no_wrap=True)
            cells.append(ProgressBar(total=self.total, completed=min(self.done, self.total), width=BAR_WIDTH))
        for text in ([pct] if pct else []) + [nbytes, *rest]:
            line.add_column(width=len(text), no_wrap=True)
            cells.append(text)
        line.add_row(*cells)
        with self._console.capture() as captured:
            self._console.print(line, end="")
        return captured.get().rstrip("\n")

    def draw(self, now: float) -> None:
        if self.tty:
            self.stream.write("\r\x1b[2K" + self._render(now))
        else:
            self.stream.write(self.text(now) + "\n")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.enabled and self.drawn and self.tty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
