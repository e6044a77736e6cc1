"""The sandbox's view of its root folder: namespaces are folders, pods are sub-folders.

`DIR/<namespace>/<pod>/` is the pod's filesystem. An optional `DIR/<namespace>/<pod>.pod.json` describes
the pod (all keys optional):

    {"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/default-container": "app"},
     "containers": [{"name": "app", "image": "shop/web:1.4", "env": {"MODE": "prod"}}],
     "phase": "Running", "reason": "", "env": {"PATH": "/usr/bin:/bin"}, "restarts": 0,
     "node": "sandbox-node-1", "created": "2026-01-01T00:00:00Z", "ready": true}

Everything is read from disk on each request, so removing a pod's folder deletes the pod.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_NODE = "sandbox-node-1"
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SYNTHETIC_NAMESPACES = ("synthetic-a", "synthetic-b", "synthetic-c", "synthetic-d")
_SYNTHETIC_APPS = ("web", "api", "worker", "cache", "db", "queue", "cron")
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class Container:
    name: str
    image: str = "sandbox/folder:latest"
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class SandboxPod:
    namespace: str
    name: str
    root: Path | None  # None for a synthetic pod (exec gets an empty scratch folder)
    containers: list[Container]
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    phase: str = "Running"
    reason: str = ""
    ready: bool = True
    restarts: int = 0
    node: str = DEFAULT_NODE
    env: dict[str, str] = field(default_factory=dict)
    created: dt.datetime = _EPOCH
    synthetic: bool = False

    def container(self, name: str | None) -> Container | None:
        if not name:
            return self.containers[0]
        return next((c for c in self.containers if c.name == name), None)

    def exec_env(self, container: Container) -> dict[str, str]:
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": self.name, "HOME": "/root"}
        env.update(self.env)
        env.update(container.env)
        return env

    # -- Kubernetes JSON -----------------------------------------------------------------------

    def uid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox/{self.namespace}/{self.name}/{self.created}"))

    def ip(self) -> str:
        digest = hashlib.sha1(f"{self.namespace}/{self.name}".encode()).digest()
        return f"10.244.{digest[0]}.{digest[1] % 254 + 1}"

    def metadata(self) -> dict:
        meta = {
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid(),
            "resourceVersion": "1",
            "creationTimestamp": _ts(self.created),
        }
        if self.labels:
            meta["labels"] = dict(self.labels)
        if self.annotations:
            meta["annotations"] = dict(self.annotations)
        return meta

    def to_json(self) -> dict:
        running = self.phase == "Running"
        started = _ts(self.created)
        statuses = []
        for c in self.containers:
            if running:
                state = {"running": {"startedAt": started}}
            elif self.phase in ("Failed", "Succeeded"):
                state = {
                    "terminated": {
                        "exitCode": 1 if self.phase == "Failed" else 0,
                        "reason": self.reason or ("Error" if self.phase == "Failed" else "Completed"),
                        "startedAt": started,
                        "finishedAt": started,
                    }
                }
            else:
                state = {"waiting": {"reason": self.reason or "ContainerCreating"}}
            statuses.append(
                {
                    "name": c.name,
                    "image": c.image,
                    "imageID": "",
                    "ready": running and self.ready,
                    "restartCount": self.restarts,
                    "started": running,
                    "state": state,
                }
            )
        ready = "True" if running and self.ready else "False"
        status = {
            "phase": self.phase,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": ready, "lastTransitionTime": started},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": started},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
            ],
            "hostIP": "192.168.49.2",
            "podIP": self.ip(),
            "podIPs": [{"ip": self.ip()}],
            "startTime": started,
            "containerStatuses": statuses,
            "qosClass": "BestEffort",
        }
        if self.reason:
            status["reason"] = self.reason
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": self.metadata(),
            "spec": {
                "containers": [
                    {
                        "name": c.name,
                        "image": c.image,
                        "env": [{"name": k, "value": v} for k, v in c.env.items()],
                    }
                    for c in self.containers
                ],
                "nodeName": self.node,
                "restartPolicy": "Always",
                "serviceAccountName": "default",
            },
            "status": status,
        }

    def table_cells(self, now: dt.datetime) -> list:
        ready = sum(1 for _ in self.containers) if self.phase == "Running" and self.ready else 0
        status = self.reason if self.reason and self.phase != "Running" else self.phase
        return [
            self.name,
            f"{ready}/{len(self.containers)}",
            status,
            str(self.restarts),
            human_age(now - self.created),
            self.ip(),
            self.node,
            "<none>",
            "<none>",
        ]


def _ts(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_age(delta: dt.timedelta) -> str:
    """Kubernetes' short age: 45s, 12m, 5h, 3d, 2y."""
    s = max(0, int(delta.total_seconds()))
    if s < 120:
        return f"{s}s"
    if s < 3600 * 2:
        return f"{s // 60}m"
    if s < 86400 * 2:
        return f"{s // 3600}h"
    if s < 86400 * 365 * 2:
        return f"{s // 86400}d"
    return f"{s // (86400 * 365)}y"


def _parse_time(value, fallback: dt.datetime) -> dt.datetime:
    if not value:
        return fallback
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return fallback


def _env_dict(value) -> dict[str, str]:
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, list):
        return {str(e["name"]): str(e.get("value", "")) for e in value if isinstance(e, dict) and "name" in e}
    return {}


class PodStore:
    """Reads namespaces and pods from the root folder, plus optional synthetic ones."""

    def __init__(self, root: Path, synthetic: int = 0):
        self.root = Path(root)
        self.synthetic = synthetic
        self._synthetic_created = _EPOCH
        self._seen: dict[tuple[str, str, int], dt.datetime] = {}

    # namespaces
    def namespaces(self) -> list[str]:
        names = {"default"}
        try:
            with os.scandir(self.root) as it:
                for entry in it:
                    if NAME_RE.match(entry.name) and entry.is_dir():
                        names.add(entry.name)
        except FileNotFoundError:
            pass
        if self.synthetic:
            names.update(SYNTHETIC_NAMESPACES[: min(self.synthetic, len(SYNTHETIC_NAMESPACES))])
        return sorted(names)

    def namespace_exists(self, ns: str) -> bool:
        return ns in self.namespaces() if NAME_RE.match(ns or "") else False

    def namespace_created(self, ns: str) -> dt.datetime:
        try:
            return dt.datetime.fromtimestamp((self.root / ns).stat().st_mtime, dt.UTC).replace(microsecond=0)
        except OSError:
            return _EPOCH

    # pods
    def pods(self, ns: str | None = None) -> list[SandboxPod]:
        namespaces = [ns] if ns else self.namespaces()
        out: list[SandboxPod] = []
        for name in namespaces:
            base = self.root / name
            try:
                entries = sorted(e.name for e in os.scandir(base) if e.is_dir() and NAME_RE.match(e.name))
            except (FileNotFoundError, NotADirectoryError):
                entries = []
            for pod in entries:
                p = self.get(name, pod)
                if p is not None:
                    out.append(p)
            out.extend(self._synthetic_pods(name))
        return out

    def get(self, ns: str, name: str) -> SandboxPod | None:
        if not (NAME_RE.match(ns or "") and NAME_RE.match(name or "")):
            return None
        folder = self.root / ns / name
        try:
            st = folder.stat()
        except OSError:
            return self._synthetic_get(ns, name)
        if not os.path.isdir(folder):
            return None
        spec: dict = {}
        meta_file = self.root / ns / f"{name}.pod.json"
        if meta_file.is_file():
            try:
                spec = json.loads(meta_file.read_text())
            except (OSError, ValueError):
                spec = {}
        key = (ns, name, st.st_ino)
        first_seen = self._seen.setdefault(
            key, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC).replace(microsecond=0)
        )
        containers = [
            Container(
                name=str(c.get("name") or f"c{i}"),
                image=str(c.get("image") or "sandbox/folder:latest"),
                env=_env_dict(c.get("env")),
            )
            for i, c in enumerate(spec.get("containers") or [])
            if isinstance(c, dict)
        ] or [Container("main")]
        return SandboxPod(
            namespace=ns,
            name=name,
            root=folder,
            containers=containers,
            labels={str(k): str(v) for k, v in (spec.get("labels") or {}).items()},
            annotations={str(k): str(v) for k, v in (spec.get("annotations") or {}).items()},
            phase=str(spec.get("phase") or "Running"),
            reason=str(spec.get("reason") or ""),
            ready=bool(spec.get("ready", True)),
            restarts=int(spec.get("restarts") or 0),
            node=str(spec.get("node") or DEFAULT_NODE),
            env=_env_dict(spec.get("env")),
            created=_parse_time(spec.get("created"), first_seen),
        )

    # synthetic pods: deterministic, spread across a few namespaces
    def _synthetic_index(self, ns: str) -> int:
        try:
            return SYNTHETIC_NAMESPACES.index(ns)
        except ValueError:
            return -1

    def _synthetic_pods(self, ns: str) -> list[SandboxPod]:
        k = self._synthetic_index(ns)
        if k < 0 or not self.synthetic:
            return []
        return [self._make_synthetic(i) for i in range(k, self.synthetic, len(SYNTHETIC_NAMESPACES))]

    def _synthetic_get(self, ns: str, name: str) -> SandboxPod | None:
        k = self._synthetic_index(ns)
        m = re.match(r"^[a-z]+-(\d{5})$", name)
        if k < 0 or not m:
            return None
        i = int(m.group(1))
        if i >= self.synthetic or i % len(SYNTHETIC_NAMESPACES) != k:
            return None
        pod = self._make_synthetic(i)
        return pod if pod.name == name else None

    def _make_synthetic(self, i: int) -> SandboxPod:
        app = _SYNTHETIC_APPS[i % len(_SYNTHETIC_APPS)]
        phase, reason = "Running", ""
        if i % 53 == 17:
            phase, reason = "Pending", "ContainerCreating"
        elif i % 97 == 41:
            phase, reason = "Failed", "Error"
        containers = [Container(app, f"synthetic/{app}:1.{i % 10}")]
        if i % 5 == 3:
            containers.append(Container("sidecar", "synthetic/log-shipper:2.1"))
        return SandboxPod(
            namespace=SYNTHETIC_NAMESPACES[i % len(SYNTHETIC_NAMESPACES)],
            name=f"{app}-{i:05d}",
            root=None,
            containers=containers,
            labels={"app": app, "sandbox.cli-recover/synthetic": "true"},
            phase=phase,
            reason=reason,
            restarts=(i * 7) % 4 if i % 3 == 0 else 0,
            node=f"sandbox-node-{i % 3 + 1}",
            created=self._synthetic_created - dt.timedelta(minutes=i * 13),
            synthetic=True,
        )


def match_labels(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selectors: `a=b,c!=d,e,!f`."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True
