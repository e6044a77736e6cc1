"""The fault-injection helper every stage and store is tested under.

- `inject(monkeypatch, "POINT=ACTION", ...)`: arm fault points (cli_recover/testhooks.py) for this
  process and the subprocesses it starts (the environment is inherited).
- `env_with(**)`-style: `fault_env("POINT=kill")` returns an environment dict for subprocess.run.
- `full_disk(path, size)`: a size-limited tmpfs mounted at path (needs root; skips otherwise).
- `stopped(pid)`: SIGSTOP a server (e.g. the sandbox API server) for the duration of a block.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import pytest

from cli_recover.testhooks import ENV


def inject(monkeypatch, *specs: str) -> None:
    monkeypatch.setenv(ENV, ",".join(specs))


def fault_env(*specs: str, base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env[ENV] = ",".join(specs)
    return env


@contextlib.contextmanager
def full_disk(path, size: str = "1m"):
    """Mount a tmpfs of `size` at `path` (created if missing); unmount afterwards."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("a size-limited tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def stopped(pid: int):
    """The process is frozen (SIGSTOP) inside the block, as a hung API server would be."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)
