"""The exec stream primitive: a command in a container as a blocking `StreamProcess`.

The official client's asyncio part opens the WebSocket (a WsApiClient request built exactly as
`CoreV1Api.connect_get_namespaced_pod_exec_without_preload_content` builds it, asking for v5 then v4,
without importing the generated CoreV1Api); raw frames are read on the shared background
loop (never the client's `read_stdout()` loop, which is quadratic and keeps all output). Memory is bounded
both ways: stdout frames wait in a queue of at most OUT_HIGH bytes (the socket is not read while it is
full: TCP back-pressure reaches the pod), stdin writes block while IN_CHUNKS chunks are unsent.

End of stdin needs v5 (`[255, 0]` closes channel 0). On a v4-only server close_stdin() cannot be
signalled: commands that stop on their own (tar -x ends at the archive's end marker) still work, commands
that read to EOF (cat, sh reading a script) wait forever. Which protocol was negotiated is logged at debug.

A hung API server, node or network must not freeze a job forever (a scheduled backup would never end):
the stream pings the server every PING_EVERY seconds (at most a third of the timeout) and gives up when,
for `exec_timeout` seconds, no frame arrived (data, or the pong a live server answers even while the
command in the pod is silent, e.g. tar scanning a big tree) and no stdin was sent. Opening the stream has
the same limit. Pings are our own task rather than aiohttp's `heartbeat=`, which closes the connection
when a pong is late by half the ping interval: on a restore into a slow pod the ping waits behind
megabytes of stdin, so that would kill live streams. The limit of this: once all stdin is handed to TCP,
a pod still writing the few MB in flight (socket and pipe buffers) sends nothing and its server reads no
ping until it is done, so the timeout must exceed that (300 s: a pod slower than about 30 KB/s).
Time this process itself did not run (Ctrl-Z then `fg`, SIGSTOP, a paused VM) is not the server's
silence: an idle timer that fires LATE_WAKEUP s after it was due starts a new window.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import threading
from collections import deque

from cli_recover.errors import ProducerError, UsageError
from cli_recover.kube import aioloop
from cli_recover.kube.base import BoundedTail
from cli_recover.kube.errors import ClusterError, CommandNotFound, ExecTimeout

log = logging.getLogger("cli_recover.kube")

CHUNK = 1 << 20  # largest stdin frame payload
OUT_HIGH = 8 << 20  # stdout bytes queued before we stop reading the socket
OUT_LOW = 4 << 20
IN_CHUNKS = 4  # stdin chunks queued before write() blocks
PROTOCOLS = "v5.channel.k8s.io,v4.channel.k8s.io"
_CLOSE = object()
# Seconds without a frame (not even a pong) and without stdin progress. A live API server answers a ping
# in milliseconds however quiet the command is, so this only bounds how long a hung server, node or
# network may stall a job; kubectl gives up after 61 s, we allow a slow restore (pongs queue behind
# stdin) and an API server fail-over more room: a scheduled job still ends within about 5 minutes.
DEFAULT_EXEC_TIMEOUT = 300.0
ENV_EXEC_TIMEOUT = "CLI_RECOVER_EXEC_TIMEOUT"
PING_EVERY = 20.0
# An idle timer that fires this many seconds after it was due means the process itself was stopped.
LATE_WAKEUP = 1.0


def resolve_exec_timeout(value: float | None = None) -> float:
    """The exec idle timeout in seconds: `value` (--exec-timeout), else $CLI_RECOVER_EXEC_TIMEOUT, else
    DEFAULT_EXEC_TIMEOUT. 0 means never time out. A bad environment value is a UsageError."""
    if value is not None:
        return float(value)
    text = os.environ.get(ENV_EXEC_TIMEOUT, "").strip()
    if not text:
        return DEFAULT_EXEC_TIMEOUT
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and 0 <= number <= 1e9):
        raise UsageError(f"${ENV_EXEC_TIMEOUT}={text!r} is not a number of seconds (0 = no timeout)")
    return number


class PodProcess:
    """A command running in a pod's container. Blocking methods, safe for one reader and one writer thread."""

    def __init__(
        self,
        cluster,
        pod: str,
        namespace: str,
        container: str,
        argv: list[str],
        *,
        stdin: bool,
        label: str,
        exec_timeout: float | None = None,
    ):
        self.cluster = cluster
        self.pod, self.namespace, self.container = pod, namespace, container
        self.argv = list(argv)
        self.label = label
        self.protocol = ""
        self._has_stdin = stdin
        self._cond = threading.Condition()
        self._out: deque = deque()  # (frame bytes, offset)
        self._out_bytes = 0
        self._producer_waiting = False
        self._eof = False
        self._done = threading.Event()
        self._in_slots = threading.Semaphore(IN_CHUNKS)
        self._stdin_closed = False
        self._killed = False
        self._stderr = BoundedTail()
        self._status: bytes = b""
        self._lost: str = ""
        self.timeout = resolve_exec_timeout(exec_timeout)
        self._sent = False  # stdin went out since the current receive started
        self._stalled: ExecTimeout | None = None
        self._loop = aioloop.get_loop()
        self._ws = aioloop.run(self._connect())
        self._task_future = aioloop.submit(self._pump())

    # -- loop side -------------------------------------------------------------------------------------

    async def _connect(self):
        import aiohttp

        api = await self.cluster.ws_api()
        self._room = asyncio.Event()
        self._in_q: asyncio.Queue = asyncio.Queue()
        try:
            # What CoreV1Api.connect_get_namespaced_pod_exec_without_preload_content does on a WsApiClient.
            ctx = await self.cluster.call(
                api,
                "GET",
                "/api/v1/namespaces/{namespace}/pods/{name}/exec",
                path_params={"namespace": self.namespace, "name": self.pod},
                query=[
                    ("command", self.argv),
                    ("container", self.container),
                    ("stdin", self._has_stdin),
                    ("stdout", True),
                    ("stderr", True),
                    ("tty", False),
                ],
                headers={"Accept": "*/*", "sec-websocket-protocol": PROTOCOLS},
                timeout=None,
            )
            ws = await (asyncio.wait_for(ctx, self.timeout) if self.timeout else ctx)
        except aiohttp.WSServerHandshakeError as exc:
            raise self._handshake_error(exc) from exc
        except aiohttp.ClientError as exc:  # aiohttp's own timeouts (sock_connect) are ClientErrors
            raise self.cluster.connection_error(exc) from exc
        except TimeoutError:  # wait_for above (TimeoutError is an OSError: before the next clause)
            raise ExecTimeout(
                f"no answer from the API server at {self.cluster.server} for {self.timeout:g} s "
                f"(--exec-timeout) while starting {self.argv[0]} in {self.label}"
            ) from None
        except OSError as exc:
            raise self.cluster.connection_error(exc) from exc
        response = getattr(ws, "_response", None)
        self.protocol = response.headers.get("Sec-WebSocket-Protocol", "") if response is not None else ""
        log.debug("exec %s %s: negotiated %s", self.label, self.argv, self.protocol or "no subprotocol")
        if self._has_stdin and not self.protocol.startswith("v5."):
            log.debug(
                "exec %s: %s cannot close stdin; the command must end on its own",
                self.label,
                self.protocol or "this protocol",
            )
        return ws

    def _handshake_error(self, exc) -> ClusterError:
        status = getattr(exc, "status", 0)
        if status in (401, 403):
            return self.cluster.http_error(status, b"", "create", "pods/exec", self.namespace)
        if status == 404:
            return ClusterError(f"pod {self.pod} not found in namespace {self.namespace}")
        return ClusterError(
            f"cannot exec in {self.label}: the API server answered HTTP {status} {getattr(exc, 'message', '')}".strip()
        )

    async def _push(self, frame: bytes) -> None:
        with self._cond:
            self._out.append((frame, 1))
            self._out_bytes += len(frame) - 1
            self._cond.notify_all()
            if self._out_bytes > OUT_HIGH:
                self._producer_waiting = True
                self._room.clear()
            else:
                return
        await self._room.wait()

    async def _writer(self, ws) -> None:
        while True:
            item = await self._in_q.get()
            if item is _CLOSE:
                if self.protocol.startswith("v5."):
                    await ws.send_bytes(b"\xff\x00")
                else:
                    log.debug(
                        "exec %s: close_stdin ignored (%s has no close signal)", self.label, self.protocol
                    )
                continue
            try:
                await ws.send_bytes(item)
                self._sent = True
            finally:
                self._in_slots.release()

    async def _pinger(self, ws) -> None:
        """A ping now and then: a live server answers it even while the command is silent."""
        every = min(PING_EVERY, self.timeout / 3) if self.timeout else PING_EVERY
        try:
            while not ws.closed:
                await asyncio.sleep(every)
                await ws.ping()
        except Exception:  # noqa: BLE001 - the connection is going away; the receive loop reports it
            pass

    async def _receive(self, ws):
        """The next message; raises ExecTimeout after `timeout` s without any frame or stdin progress."""
        if not self.timeout:
            return await ws.receive()
        loop = asyncio.get_running_loop()
        while True:
            self._sent = False
            deadline = loop.time() + self.timeout
            try:
                return await ws.receive(timeout=self.timeout)  # pongs restart the wait inside aiohttp
            except TimeoutError:
                if self._sent:  # stdin is moving: the far side is alive, only slow to answer
                    continue
                if loop.time() - deadline > LATE_WAKEUP:
                    # the timer fired long after it was due: this process did not run (SIGSTOP, Ctrl-Z,
                    # a paused VM); what the server sent meanwhile waits in the socket: a new window
                    continue
                raise ExecTimeout(
                    f"no data from the API server for {self.timeout:g} s (--exec-timeout): the exec stream of "
                    f"{self.argv[0]} in {self.label} stalled (a hung API server, node or network?)"
                ) from None

    async def _pump(self) -> None:
        import aiohttp

        ws = self._ws
        writer = asyncio.ensure_future(self._writer(ws))
        pinger = asyncio.ensure_future(self._pinger(ws))
        try:
            while True:
                msg = await self._receive(ws)
                if msg.type == aiohttp.WSMsgType.BINARY:
                    data = msg.data
                    if len(data) < 2:
                        continue
                    channel = data[0]
                    if channel == 1:
                        await self._push(data)
                    elif channel == 2:
                        self._stderr.feed(data[1:])
                    elif channel == 3:
                        self._status += data[1:]
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    break
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    self._lost = f"connection error: {msg.data}"
                    break
            if writer.done() and not writer.cancelled() and writer.exception():
                self._lost = f"sending stdin failed: {writer.exception()}"
        except asyncio.CancelledError:
            pass
        except ExecTimeout as exc:
            self._stalled = exc
            self._lost = str(exc)
            log.debug("exec %s: %s", self.label, exc)
        except Exception as exc:  # noqa: BLE001 - reported through wait()
            self._lost = f"connection error: {exc}"
        finally:
            writer.cancel()
            pinger.cancel()
            try:  # a stalled peer will not answer the close: do not wait long for it
                await asyncio.wait_for(ws.close(), 1 if self._stalled else 5)
            except Exception:  # noqa: BLE001 - the peer may be gone already
                pass
            with self._cond:
                self._eof = True
                self._cond.notify_all()
            # unblock a writer waiting for a slot
            for _ in range(IN_CHUNKS):
                self._in_slots.release()
            self._done.set()

    # -- blocking side ---------------------------------------------------------------------------------

    def _take(self, n: int, into=None) -> bytes | int:
        with self._cond:
            while not self._out and not self._eof:
                self._cond.wait()
            if not self._out and self._stalled is not None and not self._killed:
                raise ExecTimeout(str(self._stalled))
            parts = []
            taken = 0
            while self._out and taken < n:
                frame, off = self._out[0]
                avail = len(frame) - off
                k = min(avail, n - taken)
                if into is not None:
                    into[taken : taken + k] = memoryview(frame)[off : off + k]
                else:
                    parts.append(frame[off : off + k] if (off or k < avail) else frame)
                taken += k
                if k == avail:
                    self._out.popleft()
                else:
                    self._out[0] = (frame, off + k)
            self._out_bytes -= taken
            if self._producer_waiting and self._out_bytes <= OUT_LOW:
                self._producer_waiting = False
                self._loop.call_soon_threadsafe(self._room.set)
        if into is not None:
            return taken
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read(self, n: int = 1 << 20) -> bytes:
        """Up to n bytes of stdout; b"" once stdout has ended."""
        return self._take(n)

    def readinto(self, buf) -> int:
        """Fill buf with up to len(buf) bytes of stdout; 0 at the end."""
        view = memoryview(buf).cast("B")
        return self._take(len(view), into=view)

    def write(self, data: bytes) -> None:
        """Send bytes to stdin; blocks while IN_CHUNKS chunks are unsent."""
        if not self._has_stdin:
            raise ProducerError(f"{self.argv[0]} in {self.label} was started without stdin")
        view = memoryview(data)
        for start in range(0, len(view), CHUNK):
            if self._stdin_closed:
                raise ProducerError(f"stdin of {self.argv[0]} in {self.label} is already closed")
            self._in_slots.acquire()
            if self._stalled is not None:
                raise ExecTimeout(str(self._stalled))
            if self._done.is_set():
                raise ProducerError(f"the command in {self.label} stopped reading its input")
            part = view[start : start + CHUNK]
            piece = bytearray(len(part) + 1)  # channel byte + payload, one copy
            piece[1:] = part
            self._loop.call_soon_threadsafe(self._in_q.put_nowait, piece)

    def close_stdin(self) -> None:
        """Signal end of input (v5 only; see the module docstring for v4)."""
        if self._has_stdin and not self._stdin_closed and not self._done.is_set():
            self._stdin_closed = True
            self._loop.call_soon_threadsafe(self._in_q.put_nowait, _CLOSE)

    def wait(self, timeout: float | None = None) -> int:
        """Exit status from the status channel. Raises CommandNotFound when the command cannot start and
        ProducerError when the stream ended without a status."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"{self.argv[0]} in {self.label} still running after {timeout}s")
        if self._killed and not self._status:
            return -9
        if self._stalled is not None and not self._status:
            raise ExecTimeout(str(self._stalled))
        if not self._status:
            why = self._lost or "the connection closed"
            raise ProducerError(
                f"the exec stream of {self.argv[0]} in {self.label} ended without an exit status ({why})"
            )
        return self._exit_code()

    def _exit_code(self) -> int:
        try:
            doc = json.loads(self._status)
        except ValueError:
            raise ProducerError(
                f"{self.argv[0]} in {self.label} failed: {self._status.decode(errors='replace')[:300]}"
            ) from None
        if doc.get("status") == "Success":
            return 0
        causes = (doc.get("details") or {}).get("causes") or []
        for cause in causes:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
        message = str(doc.get("message") or "")
        lowered = message.lower()
        if "executable file not found" in lowered or "no such file or directory" in lowered:
            raise CommandNotFound(
                f"no `{self.argv[0]}` in container {self.container} of pod {self.pod} (namespace {self.namespace})"
            )
        raise ProducerError(
            f"{self.argv[0]} in {self.label} failed: {message or doc.get('reason') or 'unknown error'}"
        )

    def stderr_text(self) -> str:
        return self._stderr.text()

    def kill(self) -> None:
        """Stop the command now: closing the WebSocket makes the server kill it. Safe to call twice."""
        if self._killed:
            return
        self._killed = True
        if not self._done.is_set():
            self._task_future.cancel()
        with self._cond:
            self._eof = True
            self._out.clear()
            self._cond.notify_all()
        if self._producer_waiting:
            self._loop.call_soon_threadsafe(self._room.set)
        self._done.wait(10)
