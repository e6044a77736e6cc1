"""The local-host target: the producer/consumer is a local subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

from cli_recover.errors import ProducerError
from cli_recover.kube.base import BoundedTail


def _grow_pipe(fd: int) -> None:
    """Ask for a 1 MiB pipe (Linux F_SETPIPE_SZ): fewer, larger reads and writes."""
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, 1 << 20)
    except (OSError, ImportError):
        pass


class LocalProcess:
    def __init__(self, argv: list[str], *, stdin: bool, cwd: str | None = None, env: dict | None = None):
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                bufsize=0,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, not tar: we stop it ourselves
            )
        except FileNotFoundError as exc:
            raise ProducerError(f"command not found on this host: {argv[0]}") from exc
        self._stderr = BoundedTail()
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        self._stdout = self._proc.stdout
        _grow_pipe(self._stdout.fileno())
        if self._proc.stdin:
            _grow_pipe(self._proc.stdin.fileno())

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _drain_stderr(self) -> None:
        fd = self._proc.stderr.fileno()
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            self._stderr.feed(data)

    def read(self, n: int = 1 << 20) -> bytes:
        return os.read(self._stdout.fileno(), n)

    def readinto(self, buf) -> int:
        return self._stdout.readinto(buf)

    def write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
        except BrokenPipeError as exc:
            raise ProducerError("the restore command stopped reading its input") from exc

    def close_stdin(self) -> None:
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass

    def wait(self, timeout: float | None = None) -> int:
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError(str(exc)) from exc
        self._stderr_thread.join(5)
        return code

    def stderr_text(self) -> str:
        return self._stderr.text()

    def kill(self) -> None:
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.close_stdin()


class LocalTarget:
    kind = "local"

    def __init__(self, cwd: str | None = None):
        self.cwd = cwd

    def describe(self) -> str:
        return "local"

    def spawn(self, argv: list[str], *, stdin: bool = False) -> LocalProcess:
        return LocalProcess(argv, stdin=stdin, cwd=self.cwd)

    def run(self, argv: list[str], *, timeout: float = 30.0) -> tuple[int, bytes, str]:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=self.cwd)
        except FileNotFoundError:
            return 127, b"", f"{argv[0]}: command not found"
        return done.returncode, done.stdout, done.stderr.decode("utf-8", "replace")
