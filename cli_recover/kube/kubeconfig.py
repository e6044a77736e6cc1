"""Kubeconfig as kubectl reads it: `--kubeconfig FILE`, else `$KUBECONFIG` (a colon list, first file to
define a name wins, missing files are skipped), else `~/.kube/config`. Pure YAML: no kubernetes import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from cli_recover.kube.errors import KubeconfigError, UnknownContext, choices


@dataclass(frozen=True)
class ContextInfo:
    name: str
    cluster: str
    user: str
    namespace: str  # the context's namespace, else "default"
    server: str
    current: bool


def kubeconfig_paths(explicit: str | os.PathLike | None = None) -> list[Path]:
    """The files kubectl would read, in order (only those that exist, except an explicit one)."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise KubeconfigError(f"kubeconfig file not found: {path}")
        return [path]
    env = os.environ.get("KUBECONFIG")
    if env:
        paths = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
        found = [p for p in dict.fromkeys(paths) if p.is_file()]
        if not found:
            raise KubeconfigError(f"none of the files in KUBECONFIG exist: {env}")
        return found
    default = Path("~/.kube/config").expanduser()
    if not default.is_file():
        raise KubeconfigError(
            "no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG or create ~/.kube/config"
        )
    return [default]


class KubeConfig:
    """The merged view of one or more kubeconfig files."""

    def __init__(self, paths: list[Path]):
        self.paths = paths
        self.clusters: dict[str, dict] = {}
        self.users: dict[str, dict] = {}
        self.contexts: dict[str, dict] = {}
        self.current_context = ""
        for path in paths:
            try:
                doc = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise KubeconfigError(f"cannot read kubeconfig {path}: {first}") from exc
            if not isinstance(doc, dict):
                raise KubeconfigError(f"cannot read kubeconfig {path}: not a mapping")
            for key, table in (
                ("clusters", self.clusters),
                ("users", self.users),
                ("contexts", self.contexts),
            ):
                for item in doc.get(key) or []:
                    if isinstance(item, dict) and item.get("name") and item["name"] not in table:
                        table[item["name"]] = item.get(key[:-1]) or {}
            if not self.current_context and doc.get("current-context"):
                self.current_context = str(doc["current-context"])

    @classmethod
    def load(cls, kubeconfig: str | os.PathLike | None = None) -> KubeConfig:
        return cls(kubeconfig_paths(kubeconfig))

    @property
    def loader_path(self) -> str:
        """The path list to hand to the kubernetes client's loader."""
        return os.pathsep.join(str(p) for p in self.paths)

    def context(self, name: str | None = None) -> ContextInfo:
        """The named context, else the current one."""
        name = name or self.current_context
        if not name:
            raise UnknownContext(
                f"no current context in the kubeconfig; pass --context (contexts: {choices(self.contexts)})"
            )
        ctx = self.contexts.get(name)
        if ctx is None:
            raise UnknownContext(f"unknown context {name!r}; contexts: {choices(sorted(self.contexts))}")
        cluster = self.clusters.get(ctx.get("cluster", ""), {})
        return ContextInfo(
            name=name,
            cluster=str(ctx.get("cluster", "")),
            user=str(ctx.get("user", "")),
            namespace=str(ctx.get("namespace") or "default"),
            server=str(cluster.get("server", "")),
            current=name == self.current_context,
        )

    def list_contexts(self) -> list[ContextInfo]:
        return [self.context(name) for name in self.contexts]


def list_contexts(kubeconfig: str | os.PathLike | None = None) -> list[ContextInfo]:
    """Every context of the kubeconfig, `current` marking the current one."""
    return KubeConfig.load(kubeconfig).list_contexts()
