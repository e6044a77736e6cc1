"""Shared fixtures: every test gets its own data home; helpers to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def data_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("CLI_RECOVER_HOME", str(home))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return home


def run_cli(*args, check: bool = False, timeout: float = 120, input: bytes | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Runs the real `python -m cli_recover` in a subprocess (text output)."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "cli_recover", *map(str, args)], capture_output=True,
                          timeout=timeout, env=full_env, input=input)
    out = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                      proc.stderr.decode("utf-8", "replace"))
    if check and out.returncode != 0:
        raise AssertionError(f"cli-recover {' '.join(map(str, args))} failed ({out.returncode}):\n{out.stderr}")
    return out


def make_tree(root: Path) -> Path:
    """A tree with everything a filesystem backup must keep."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "docs").mkdir()
    (root / "docs" / "readme.txt").write_text("hello\n" * 1000)
    (root / "empty.txt").write_bytes(b"")
    (root / "empty dir").mkdir()
    (root / "name with spaces.md").write_text("spaces")
    (root / "ünïcødé-日本.txt").write_text("non-ascii")
    deep = root / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / ("f" * 90 + ".bin")).write_bytes(os.urandom(200_000))
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    (root / "app.log").write_text("log line\n" * 500)
    (root / "secret.key").write_text("k")
    os.chmod(root / "secret.key", 0o600)
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "run.sh", 0o755)
    os.symlink("docs/readme.txt", root / "link-to-readme")
    os.symlink("empty dir", root / "link-to-dir")
    os.link(root / "docs" / "readme.txt", root / "hardlink.txt")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    for i, p in enumerate(sorted(root.rglob("*"), reverse=True)):
        os.utime(p, (1_600_000_000 + i * 61, 1_600_000_000 + i * 61), follow_symlinks=False)
    return root


def snapshot_tree(root: Path) -> dict:
    """Everything that must survive a round trip: type, mode, mtime, content, link target, hard links."""
    out = {}
    inodes: dict[int, str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        st = p.lstat()
        if p.is_symlink():
            out[rel] = ("symlink", os.readlink(p), int(st.st_mtime))
        elif p.is_dir():
            out[rel] = ("dir", oct(st.st_mode & 0o7777))
        else:
            link = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
            out[rel] = ("file", oct(st.st_mode & 0o7777), int(st.st_mtime), p.read_bytes(), link and "hardlinked")
    return out


# --- Textual snapshots live in the top-level snapshots/ folder -----------------------------------
try:
    import pytest_textual_snapshot as _pts

    class _TopLevelSVGs(_pts.SVGImageExtension):
        @classmethod
        def dirname(cls, *, test_location) -> str:
            return str(ROOT / "snapshots")

    _pts.SVGImageExtension = _TopLevelSVGs
except ImportError:  # pragma: no cover - the test extras are not installed
    pass


def pytest_configure(config):
    if config.getoption("--snapshot-update", default=False) and any("::" in a for a in config.args):
        raise pytest.UsageError("refusing --snapshot-update with ::node ids: it would delete the other "
                                "snapshots of that module (snapshots/ lives outside tests/)")


@pytest.fixture(autouse=True)
def steady_cursors(monkeypatch):
    """Input cursors do not blink in tests (a blink timer makes snapshots and pauses flaky); the app's
    code knows nothing of this. Only when textual is already loaded (TUI tests)."""
    if "textual.widgets" not in sys.modules:
        return
    from textual.widgets import Input

    monkeypatch.setattr(Input.cursor_blink, "_default", False)
