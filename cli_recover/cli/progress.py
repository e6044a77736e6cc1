"""Progress for headless commands: a live line on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time

from cli_recover.engine.model import human_bytes, human_duration

__all__ = ["ProgressLine", "human_bytes", "human_duration"]


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

    def __call__(self, done: int, total: int | None) -> None:
        self.done, self.total = done, total
        if not self.enabled:
            return
        now = self.clock()
        if now - self.start < self.delay or now - self.last < self.interval:
            return
        self.last = now
        self.draw(now)

    def text(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-6)
        rate = self.done / elapsed
        parts = [self.label, human_bytes(self.done)]
        if self.total:
            pct = min(self.done / self.total, 1.0)
            if self.tty:
                width = 20
                fill = int(pct * width)
                parts.insert(1, "[" + "#" * fill + "-" * (width - fill) + f"] {pct * 100:3.0f}%")
            else:
                parts.insert(1, f"{pct * 100:.0f}%")
            parts[-1] += f" / {human_bytes(self.total)}"
            eta = (self.total - self.done) / rate if rate > 0 and self.total > self.done else 0.0
            parts.append(f"{human_bytes(rate)}/s")
            parts.append(f"ETA {human_duration(eta)}")
        else:
            parts.append(f"{human_bytes(rate)}/s")
        return "  ".join(parts)

    def draw(self, now: float) -> None:
        line = self.text(now)
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.enabled and self.drawn and self.tty:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
