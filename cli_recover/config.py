"""Settings and paths. Everything cli-recover keeps lives under one data home."""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "CLI_RECOVER_HOME"


def data_home() -> Path:
    """`$CLI_RECOVER_HOME`, default `~/.cli-recover`."""
    value = os.environ.get(ENV_HOME)
    return Path(value).expanduser() if value else Path.home() / ".cli-recover"


def backups_dir() -> Path:
    return data_home() / "backups"


def history_dir() -> Path:
    return data_home() / "history"


def logs_dir() -> Path:
    return data_home() / "logs"


def ensure_dir(path: Path) -> Path:
    """path, created with its missing parents 0700 whatever the umask: what we keep is private.
    Folders that exist already are left as they are (they may be the user's)."""
    path = Path(path)
    missing = []
    p = path
    while not os.path.isdir(p) and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue  # made by another process a moment ago (or a file: the caller's open says so)
        os.chmod(d, 0o700)
    return path
