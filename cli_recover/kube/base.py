"""The one interface every place that runs a producer or consumer implements.

A *target* is where the data lives: the local host or a container in a pod. The pipeline only ever
talks to a `StreamProcess`, so the same engine backs up a local folder and a pod's folder.
"""

from __future__ import annotations

from typing import Protocol

STDERR_LIMIT = 64 * 1024  # bytes of stderr kept per process (the tail)


class StreamProcess(Protocol):
    """A running command with binary stdin/stdout. All methods are blocking and thread-safe enough
    for one reader thread and one writer thread."""

    def read(self, n: int = 1 << 20) -> bytes:
        """Up to n bytes of stdout; b"" once stdout has ended."""

    def write(self, data: bytes) -> None:
        """Send bytes to stdin (blocks when the far side is slow: bounded memory)."""

    def close_stdin(self) -> None:
        """Signal end of input (EOF for `tar -x`)."""

    def wait(self, timeout: float | None = None) -> int:
        """Exit status of the command (0 = success). Raises TimeoutError after timeout."""

    def stderr_text(self) -> str:
        """The captured stderr (bounded to the last STDERR_LIMIT bytes), decoded leniently."""

    def kill(self) -> None:
        """Stop the command now (used on cancel and on failure). Safe to call twice."""


class Target(Protocol):
    """Where commands run: the local host or a pod's container."""

    kind: str  # "local" or "pod"

    def describe(self) -> str:
        """A short human label: `local` or `ctx/ns/pod[/container]`."""

    def spawn(self, argv: list[str], *, stdin: bool = False) -> StreamProcess:
        """Start argv. stdout is always a stream; stdin is a stream when asked for."""

    def run(self, argv: list[str], *, timeout: float = 30.0) -> tuple[int, bytes, str]:
        """Run a short command to completion: (exit status, stdout, stderr)."""


class BoundedTail:
    """Keeps the last `limit` bytes written to it (stderr capture that never grows)."""

    def __init__(self, limit: int = STDERR_LIMIT):
        self.limit = limit
        self._buf = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        self._buf += data
        if len(self._buf) > self.limit:
            del self._buf[: len(self._buf) - self.limit]

    def text(self) -> str:
        return self._buf.decode("utf-8", "replace")
