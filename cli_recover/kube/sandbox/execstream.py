"""The exec side of the sandbox: a local process wired to a Kubernetes channel WebSocket.

Frames are 1 channel byte + payload (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize; v5 adds 255 =
close channel). The base64 protocols send text frames: an ASCII channel digit + base64 payload.
Memory stays bounded both ways: at most one ~1 MiB chunk is in flight per direction and each pipe is
only read again once the previous chunk was handed to the socket (which applies TCP back-pressure).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess

from aiohttp import WSMsgType, web

log = logging.getLogger("cli_recover.sandbox")

CHUNK = 1 << 20
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = 1031

# Subprotocols in the order we prefer them; the client's order decides (first one we know).
PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v4.base64.channel.k8s.io",
    "base64.channel.k8s.io",
    "channel.k8s.io",
)


def status_json(code: int | None, message: str = "", argv: list[str] | None = None) -> dict:
    """The Status object kubelet sends on channel 3 (code None = could not start)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    if code is None:
        return {
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": "InternalError",
            "details": {"causes": [{"message": message}]},
            "code": 500,
        }
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {argv}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


class ChannelSocket:
    """Sends and decodes channel frames for one negotiated subprotocol."""

    def __init__(self, ws: web.WebSocketResponse, protocol: str):
        self.ws = ws
        self.protocol = protocol or "channel.k8s.io"
        self.base64 = "base64" in self.protocol
        self.v5 = self.protocol.startswith("v5.")
        self.json_status = self.protocol.startswith(("v4.", "v5."))
        self._lock = asyncio.Lock()

    async def send(self, channel: int, data: bytes) -> None:
        async with self._lock:
            if self.base64:
                await self.ws.send_str(chr(48 + channel) + base64.b64encode(data).decode("ascii"))
            else:
                await self.ws.send_bytes(bytes((channel,)) + data)

    async def send_status(self, status: dict) -> None:
        if self.json_status:
            await self.send(3, json.dumps(status).encode())
        elif status.get("status") != "Success":
            await self.send(3, status.get("message", "error").encode())

    def decode(self, msg) -> tuple[int, bytes] | None:
        if msg.type == WSMsgType.BINARY:
            data = msg.data
            return (data[0], memoryview(data)[1:]) if data else None
        if msg.type == WSMsgType.TEXT:
            text = msg.data
            if not text:
                return None
            if self.base64:
                return ord(text[0]) - 48, base64.b64decode(text[1:])
            return ord(text[0]), text[1:].encode()
        return None


async def _wait_readable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    fut = loop.create_future()
    loop.add_reader(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_reader(fd)


async def _wait_writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    fut = loop.create_future()
    loop.add_writer(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_writer(fd)


def _prepare_fd(fd: int) -> None:
    os.set_blocking(fd, False)
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)


async def pump_out(loop, fd: int, chan: ChannelSocket, channel: int, sink=None) -> None:
    """Pipe -> channel frames until EOF."""
    while True:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            await _wait_readable(loop, fd)
            continue
        if not data:
            return
        if sink is not None:
            sink(data)
        await chan.send(channel, data)


async def write_all(loop, fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            await _wait_writable(loop, fd)
            continue
        view = view[n:]


def kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


async def wait_exit(loop, proc: subprocess.Popen) -> int:
    """Exit status as a container runtime reports it (killed by signal N -> 128+N)."""
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            while proc.poll() is None:
                await _wait_readable(loop, pidfd)
        finally:
            os.close(pidfd)
    else:
        await loop.run_in_executor(None, proc.wait)
    code = proc.returncode
    return 128 - code if code < 0 else code


async def run_exec(chan: ChannelSocket, proc: subprocess.Popen, argv: list[str]) -> None:
    """Stream one exec to the end: stdout/stderr out, stdin in, the status last."""
    loop = asyncio.get_running_loop()
    ws = chan.ws
    out_fd = proc.stdout.fileno()
    err_fd = proc.stderr.fileno()
    in_fd = proc.stdin.fileno() if proc.stdin else None
    for fd in (out_fd, err_fd) + ((in_fd,) if in_fd is not None else ()):
        _prepare_fd(fd)

    def close_stdin() -> None:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()

    async def pump_in() -> None:
        """Channel 0 -> stdin; returns when the WebSocket goes away."""
        async for msg in ws:
            decoded = chan.decode(msg)
            if decoded is None:
                continue
            ch, data = decoded
            if ch == 0 and data:
                if proc.stdin and not proc.stdin.closed:
                    try:
                        await write_all(loop, proc.stdin.fileno(), data)
                    except (BrokenPipeError, OSError):
                        close_stdin()
            elif ch == 255 and chan.v5 and data[:1] == b"\x00":
                close_stdin()

    # Two tasks, not one gather(): when one pump fails (the client went away), a gather is done at once
    # and cancelling it no longer reaches the other pump, which then waits on a closed pipe forever.
    pumps = [asyncio.ensure_future(pump_out(loop, fd, chan, ch)) for fd, ch in ((out_fd, 1), (err_fd, 2))]
    outputs = asyncio.gather(*pumps)
    reader = asyncio.ensure_future(pump_in())
    exited = asyncio.ensure_future(wait_exit(loop, proc))
    try:
        done, _ = await asyncio.wait({outputs, reader}, return_when=asyncio.FIRST_COMPLETED)
        if outputs not in done:
            # The client went away before the command finished: stop it (and its children).
            log.debug("exec client disconnected; killing %s", argv)
            kill_group(proc)
            return
        outputs.result()
        code = await exited
        await chan.send_status(status_json(code, argv=argv))
    except asyncio.CancelledError:
        kill_group(proc)
        raise
    except (ConnectionError, RuntimeError) as exc:
        log.debug("exec stream ended early: %r", exc)
        kill_group(proc)
    finally:
        for task in (reader, *pumps):
            task.cancel()
        # The pumps must be gone (their add_reader/add_writer removed) before the pipes close: the next
        # exec reuses the fd numbers, and a late remove_reader would drop ITS reader (it would hang).
        await asyncio.wait({reader, *pumps, outputs})
        if not outputs.cancelled():
            outputs.exception()  # retrieved: the error was handled above
        close_stdin()
        kill_group(proc)
        if not exited.done():
            exited.cancel()
        for f in (proc.stdout, proc.stderr):
            with contextlib.suppress(OSError):
                f.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(loop.run_in_executor(None, proc.wait), 5)
