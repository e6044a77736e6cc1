"""The small interface every provider implements (filesystem, databases, third-party plugins).

A provider turns command-line options into the command that *produces* the stream on the target
(backup) and the command that *consumes* it (restore). Everything else (compression, checksums,
manifest, progress, jobs) is the engine's and identical for every provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class BackupPlan:
    argv: list[str]  # run on the target; its stdout is the stream
    label: str  # short name used for default archive names, e.g. "uploads"
    source: dict  # recorded in the manifest
    options: dict = field(default_factory=dict)  # recorded in the manifest (never secrets)
    estimate: Callable[[], int | None] | None = None
    ok_exit_codes: tuple[int, ...] = (0,)


@dataclass
class RestorePlan:
    argv: list[str]  # run on the target; the stream goes to its stdin
    prepare: list[list[str]] = field(default_factory=list)  # run first (e.g. mkdir -p)
    target_dir: str | None = None
    includes: list[str] = field(default_factory=list)  # member names as stored in the archive


class Provider(Protocol):
    name: str
    summary: str
    stream_type: str  # "tar" streams get a per-member index; others only stream checksums

    def add_backup_arguments(self, parser) -> None: ...

    def add_restore_arguments(self, parser) -> None: ...

    def backup_plan(self, args, target) -> BackupPlan: ...

    def restore_plan(self, args, target, manifest: dict | None) -> RestorePlan: ...
