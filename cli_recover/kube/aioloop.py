"""One background asyncio loop (a daemon thread) for all cluster I/O; callers stay blocking."""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Awaitable, Callable

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_closers: list[Callable[[], Awaitable[None]]] = []


def get_loop() -> asyncio.AbstractEventLoop:
    """The shared loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def main() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                loop.run_forever()

            threading.Thread(target=main, name="cli-recover-kube-io", daemon=True).start()
            ready.wait()
            _loop = loop
        return _loop


def run(coro, timeout: float | None = None):
    """Run a coroutine on the shared loop and wait for its result."""
    loop = get_loop()
    if _in_loop_thread(loop):
        raise RuntimeError("cli_recover.kube blocking call made from its own I/O loop")
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


def submit(coro) -> asyncio.Future:
    """Schedule a coroutine on the shared loop; returns a concurrent.futures.Future."""
    return asyncio.run_coroutine_threadsafe(coro, get_loop())


def on_shutdown(closer: Callable[[], Awaitable[None]]) -> None:
    """Register an async cleanup (e.g. closing HTTP sessions) run at interpreter exit."""
    _closers.append(closer)


def _in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


@atexit.register
def _shutdown() -> None:
    loop = _loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return

    async def close_all() -> None:
        for closer in list(_closers):
            try:
                await closer()
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

    try:
        asyncio.run_coroutine_threadsafe(close_all(), loop).result(5)
    except Exception:  # noqa: BLE001
        pass
    loop.call_soon_threadsafe(loop.stop)
