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
    path.mkdir(parents=True, exist_ok=True)
    return path
