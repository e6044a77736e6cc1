"""The schedule file as a typed model (stdlib dataclasses), with its schema version.

`Schedule.from_dict` is the one reader: it checks every field a hand edit could break (a one-line
problem, never a traceback later), tolerates what older files lack (no `v`: version 1; no `job`:
made before jobs were recorded; a target without `kubeconfig`: made before the full target was
kept), refuses a file from a newer schema, and keeps keys it does not know. `to_dict` is the JSON
written and the dict the rest of the engine works on.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field

SCHEMA = 1


class NewerSchema(ValueError):
    """A file written by a newer cli-recover: never guessed at, never rewritten."""


@dataclass
class Target:
    """What a schedule backs up: a pod (with the cluster it was made for) or a path on this host."""

    kind: str  # "pod" | "local"
    path: str | None = None
    kubeconfig: str | None = None  # pod: the kubeconfig file when the schedule was made
    context: str | None = None  # pod: the context when the schedule was made
    namespace: str | None = None  # pod: None is the context's namespace
    pod: str | None = None
    container: str | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class JobTemplate:
    """What each run's job record says it does."""

    provider: str | None = None
    target: Target | None = None
    options: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)


@dataclass
class State:
    """What the scheduler and `schedule run` record (the definition is the rest)."""

    anchor: str | None = None
    last_scheduled: str | None = None
    pending: list[str] = field(default_factory=list)
    last_job: str | None = None
    last_result: dict | None = None
    runs: int = 0
    skipped: int = 0
    skips: list[dict] = field(default_factory=list)
    archives: list[dict] = field(default_factory=list)
    retention: dict | None = None
    extra: dict = field(default_factory=dict)


@dataclass
class Schedule:
    name: str
    cron: str
    backup: list[str]
    timezone: str | None = None
    keep: dict = field(default_factory=dict)
    notify: list[str] = field(default_factory=list)
    notify_on: str | None = "failure"
    paused: bool = False
    created: str | None = None
    updated: str | None = None
    job: JobTemplate | None = None
    state: State = field(default_factory=State)
    v: int = SCHEMA
    extra: dict = field(default_factory=dict)  # keys this version does not know, written back as they were

    @classmethod
    def from_dict(cls, data: dict) -> Schedule:
        """The model of a decoded file; ValueError with a one-line problem otherwise."""
        if not isinstance(data, dict) or not data.get("name") or not data.get("cron"):
            raise ValueError("")
        version = data.get("v", 1)  # files from before the field: version 1
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError("'v' must be a positive whole number (the schema version)")
        if version > SCHEMA:
            raise NewerSchema(f"schema version {version}; this cli-recover reads up to {SCHEMA}")
        if not isinstance(data.get("backup"), list) or not data["backup"]:
            raise ValueError("'backup' must be the list of backup arguments")
        _check(cls, data, "")
        _check(State, data.get("state") or {}, "state.")
        job = data.get("job")
        if job:
            _check(JobTemplate, job, "job.")
            if job.get("target"):
                _check(Target, job["target"], "job.target.")
                if not job["target"].get("kind"):
                    raise ValueError("'job.target.kind' must be a string")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (data.get("keep") or {}).values()):
            raise ValueError("'keep' values must be whole numbers")
        schedule = _build(cls, data)
        schedule.v = version
        schedule.state = _build(State, data.get("state") or {})
        if job:
            schedule.job = _build(JobTemplate, job)
            if job.get("target"):
                schedule.job.target = _build(Target, job["target"])
        return schedule

    def to_dict(self) -> dict:
        out = {"v": self.v, **_plain(self)}
        if self.job is None:
            out.pop("job")
        return out


def _build(cls, data: dict):
    names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
    return cls(**{k: v for k, v in data.items() if k in names and v is not None},
               extra={k: v for k, v in data.items() if k not in names})


def _plain(obj) -> dict:
    """A model as JSON: every field (a local target: kind and path only), then the unknown keys."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name in ("v", "extra") or (isinstance(obj, Target) and obj.kind == "local"
                                        and f.name not in ("kind", "path")):
            continue
        out[f.name] = _plain(value) if dataclasses.is_dataclass(value) else value
    out.update(obj.extra)
    return out


_KIND_NAMES = {str: "a string", int: "a whole number", bool: "true or false", list: "a list", dict: "an object"}


def _shape(hint) -> tuple[type, type | None]:
    """(the JSON type a field holds, the type of its items for lists)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    origin = typing.get_origin(hint)
    if origin is list:
        return list, typing.get_args(hint)[0]
    if origin is dict or dataclasses.is_dataclass(hint):
        return dict, None
    return hint, None


@functools.cache
def _shapes(cls) -> tuple[tuple[str, type, type | None], ...]:
    hints = typing.get_type_hints(cls)
    return tuple((f.name, *_shape(hints[f.name])) for f in dataclasses.fields(cls) if f.name != "extra")


def _check(cls, data, prefix: str) -> None:
    if not isinstance(data, dict):
        raise ValueError(f"'{prefix.rstrip('.')}' must be an object")
    for name, kind, item in _shapes(cls):
        if data.get(name) is None:
            continue
        value = data[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"'{prefix}{name}' must be {_KIND_NAMES[kind]}")
        if item and not all(isinstance(v, item) for v in value):
            raise ValueError(f"'{prefix}{name}' must hold only {'objects' if item is dict else 'strings'}")
