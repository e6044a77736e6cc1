"""Shared by the Jobs/History/Restore TUI tests: a tiny host app, fixed job records and archives.

Fixed records use a foreign host name for active jobs: the store cannot judge a process on another
machine, so they stay `running` (nothing of the host name is shown on screen).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from textual.app import App

from cli_recover.engine.model import iso, parse_iso
from cli_recover.tui.services import Services
from cli_recover.tui.widgets.errors import ReportsErrors

NOW = parse_iso("2026-11-26T12:45:00Z")
FOREIGN_HOST = "elsewhere.invalid"


class ScreenHost(ReportsErrors, App):
    """Pushes one screen (factory()) on start (cursors do not blink: tests/conftest.py)."""

    def __init__(self, make_screen, services: Services | None = None):
        super().__init__()
        self.make_screen = make_screen
        self.services = services

    def on_mount(self) -> None:
        self.push_screen(self.make_screen())


def fixed_services(**kw) -> Services:
    return Services(clock=lambda: NOW, **kw)


def _record(home: Path, job_id: str, *, kind: str, state: str, created: float, target: dict,
            provider: str | None = "filesystem", progress: dict | None = None, started: float | None = None,
            finished: float | None = None, error: str | None = None, archive: str | None = None,
            options: dict | None = None, result: dict | None = None, log_lines: list[str] = (),
            pid: int | None = None) -> dict:
    history, logs = home / "history", home / "logs"
    history.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{job_id}.log"
    log.write_text("".join(line + "\n" for line in log_lines))
    rec = {
        "v": 1, "id": job_id, "kind": kind, "provider": provider, "target": target, "options": options or {},
        "schedule": None, "state": state, "pid": pid, "pid_start": None, "boot_id": None, "pid_file": None,
        "host": FOREIGN_HOST, "argv": None, "created": iso(created),
        "started": iso(started) if started else None, "finished": iso(finished) if finished else None,
        "updated": iso(finished or created),
        "progress": progress or {"done": 0, "total": None, "rate": None, "eta": None, "phase": "queued"},
        "archive": archive, "manifest": archive + ".manifest.json" if archive else None, "partial": [],
        "error": error, "exit_code": None, "warnings": 0, "log": str(log), "result": result,
    }
    (history / f"{job_id}.json").write_text(json.dumps(rec))
    return rec


def pod_target(ns: str, pod: str, path: str, container: str = "main") -> dict:
    return {"kind": "pod", "context": "sandbox", "namespace": ns, "pod": pod, "container": container, "path": path}


MEMBERS = [
    {"path": ".", "type": "dir", "size": 0, "mode": 493, "mtime": 1764150000},
    {"path": "docs", "type": "dir", "size": 0, "mode": 493, "mtime": 1764150000},
    {"path": "docs/readme.txt", "type": "file", "size": 6000, "mode": 420, "mtime": 1764150000, "sha256": "a" * 64},
    {"path": "docs/guide.md", "type": "file", "size": 1200, "mode": 420, "mtime": 1764150000, "sha256": "b" * 64},
    {"path": "config", "type": "dir", "size": 0, "mode": 493, "mtime": 1764150000},
    {"path": "config/app.yaml", "type": "file", "size": 310, "mode": 420, "mtime": 1764150000, "sha256": "c" * 64},
    {"path": "config/secret.key", "type": "file", "size": 1, "mode": 384, "mtime": 1764150000, "sha256": "d" * 64},
    {"path": "big.bin", "type": "file", "size": 3145745, "mode": 420, "mtime": 1764150000, "sha256": "e" * 64},
    {"path": "name with spaces.md", "type": "file", "size": 6, "mode": 420, "mtime": 1764150000, "sha256": "f" * 64},
    {"path": "link-to-readme", "type": "symlink", "link": "docs/readme.txt", "size": 0, "mode": 511,
     "mtime": 1764150000},
]


def write_archive(home: Path, name: str, *, created: str, ns: str, pod: str, path: str, codec: str = "zstd",
                  level: int | None = 3, members: list[dict] | None = None, stored: bytes | None = None,
                  raw: int = 3_164_160) -> Path:
    """An archive file (contents do not matter for display) and its manifest, all fields fixed."""
    backups = home / "backups"
    backups.mkdir(parents=True, exist_ok=True)
    archive = backups / name
    data = stored if stored is not None else hashlib.sha256(name.encode()).digest() * 4096
    archive.write_bytes(data)
    members = MEMBERS if members is None else members
    manifest = {
        "format": "cli-recover/manifest", "format_version": 1, "tool": "cli-recover", "tool_version": "0.1.0",
        "archive": name, "kind": "backup", "provider": "filesystem",
        "source": {"target": f"sandbox/{ns}/{pod}/main", "kind": "pod", "path": path},
        "created": created, "started": created, "finished": created, "duration_seconds": 1.25,
        "host": "build", "stream": {"type": "tar", "command": ["tar", "-c", "-f", "-", "-C", path, "--", "."],
                                    "member_prefix": "./"},
        "codec": {"name": codec, "level": level, "extension": ".zst"},
        "bytes": {"raw": raw, "stored": len(data), "content": sum(m["size"] for m in members)},
        "sha256": {"stored": hashlib.sha256(data).hexdigest(), "raw": "7" * 64},
        "members_count": len(members), "options": {"exclude": [], "exclude_vcs": False}, "warnings": [],
        "members": members,
    }
    (backups / (name + ".manifest.json")).write_text(json.dumps(manifest, indent=1))
    return archive


def fixed_history(home: Path) -> dict:
    """A running backup, a queued one, and finished jobs of every state and kind; two archives."""
    t = NOW
    a1 = write_archive(home, "data-20261126T120000Z.tar.zst", created="2026-11-26T12:00:00Z", ns="default",
                       pod="app", path="/data")
    a2 = write_archive(home, "uploads-20261125T080000Z.tar.gz", created="2026-11-25T08:00:00Z", ns="shop",
                       pod="web-0", path="/srv/uploads", codec="gzip", level=6, raw=52_428_800)
    _record(home, "0k1a2b3c4d5e", kind="backup", state="running", created=t - 95, started=t - 94, pid=4242,
            target=pod_target("default", "db-0", "/var/lib/data"),
            progress={"done": 188_743_680, "total": 314_572_800, "rate": 12_582_912, "eta": 10, "phase": "backup"},
            log_lines=["2026-11-26T12:43:26.000Z producer on sandbox/default/db-0/main: tar -c -f - -C "
                       "/var/lib/data -- .", "2026-11-26T12:43:27.000Z backup: 12.0 MiB",
                       "2026-11-26T12:44:59.000Z backup: 180.0 MiB"])
    _record(home, "0k1a2b3c4d5f", kind="restore", state="queued", created=t - 3,
            target=pod_target("other", "restore-here", "/restored"))
    _record(home, "0k1a2a000001", kind="backup", state="succeeded", created=t - 2700, started=t - 2699,
            finished=t - 2697, target=pod_target("default", "app", "/data"), archive=str(a1),
            progress={"done": 3_164_160, "total": 3_164_160, "rate": None, "eta": None, "phase": "backup"},
            log_lines=["2026-11-26T12:00:00.000Z producer on sandbox/default/app/main: tar -c -f - -C /data -- .",
                       "2026-11-26T12:00:02.000Z succeeded"])
    _record(home, "0k1a2a000002", kind="verify", state="succeeded", created=t - 2000, started=t - 2000,
            finished=t - 1999, target={"kind": "local", "path": str(a1)},
            progress={"done": 3_164_160, "total": 3_164_160, "rate": None, "eta": None, "phase": "verify"},
            result={"archive": str(a1), "ok": True, "members_checked": 10})
    _record(home, "0k1a2a000003", kind="restore", state="failed", created=t - 1500, started=t - 1500,
            finished=t - 1499, target=pod_target("default", "app", "/data"),
            error="3 file(s) already exist in /data (docs/readme.txt, big.bin, config/app.yaml); use --force "
                  "to overwrite; nothing was restored",
            options={"archive": str(a1), "include": [], "force": False})
    _record(home, "0k1a2a000004", kind="backup", state="cancelled", created=t - 900, started=t - 900,
            finished=t - 880, target=pod_target("shop", "web-0", "/srv/uploads"), error="cancelled by SIGTERM",
            progress={"done": 41_943_040, "total": 52_428_800, "rate": None, "eta": None, "phase": "backup"})
    _record(home, "0k19zz000005", kind="backup", state="succeeded", created=t - 103_000, started=t - 103_000,
            finished=t - 102_990, target=pod_target("shop", "web-0", "/srv/uploads"), archive=str(a2),
            progress={"done": 52_428_800, "total": 52_428_800, "rate": None, "eta": None, "phase": "backup"})
    return {"archives": [a1, a2]}


class FakeCluster:
    """Namespaces and pods for snapshot tests of the Restore dialog (pilot tests use the real sandbox)."""

    def __init__(self, pods: dict[str, list[tuple[str, list[str], str]]]):
        self._pods = pods

    def namespaces(self) -> list[str]:
        return sorted(self._pods)

    def pods(self, namespace=None, *, all_namespaces=False):
        from cli_recover.kube.cluster import PodInfo

        return [PodInfo(name=name, namespace=namespace, phase=phase, status=phase, ready="1/1",
                        containers=containers, restarts=0, created=None, node="node-1",
                        default_container=containers[0])
                for name, containers, phase in self._pods.get(namespace, [])]


FAKE_PODS = {
    "default": [("app", ["main", "sidecar"], "Running"), ("db-0", ["main"], "Running"),
                ("job-1", ["main"], "Pending")],
    "other": [("restore-here", ["main"], "Running")],
    "shop": [("web-0", ["main"], "Running")],
}


class FakeClusterServices(Services):
    """Services with a fixed clock, no kubeconfig and a fake cluster; launches are recorded."""

    def __init__(self, launched: list | None = None, **kw):
        super().__init__(clock=lambda: NOW, **kw)
        self.fake = FakeCluster(FAKE_PODS)
        self.launched = launched if launched is not None else []

    def cluster(self, context=None):
        return self.fake

    def launch(self, argv):
        self.launched.append(list(argv))
        return "0k1a2b3c4d60"


# --- pilot helpers ------------------------------------------------------------------------------


async def wait_for(pilot, predicate, timeout: float = 30.0, what: str = "condition") -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await pilot.pause(0.05)


SLOW_TAR = """#!/bin/sh
# the real tar, its output throttled to ~1.3 MB/s so the job is still running when the test cancels it
/usr/bin/tar "$@" | /usr/bin/python3 -c '
import sys, time
r, w = sys.stdin.buffer, sys.stdout.buffer
while True:
    b = r.read(65536)
    if not b:
        break
    w.write(b); w.flush(); time.sleep(0.05)
'
"""


def build_sandbox(root: Path):
    """Pods: default/app (a tree under /data), other/restore-here (empty), default/slow (20 MB behind a
    throttled tar). Returns the `serve(...)` context manager."""
    import os

    from cli_recover.kube.sandbox import make_pod, serve
    from tests.conftest import make_tree

    app = make_pod(root, "default", "app", {"containers": [{"name": "app"}]})
    make_tree(app / "data")
    make_pod(root, "other", "restore-here", {"containers": [{"name": "main"}]})
    slow = make_pod(root, "default", "slow",
                    {"containers": [{"name": "main"}], "env": {"PATH": "/fakebin:/usr/bin:/bin"}},
                    {"fakebin/tar": SLOW_TAR, "data/random.bin": os.urandom(20 * 1024 * 1024)})
    os.chmod(slow / "fakebin" / "tar", 0o755)
    return serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig")


async def settle(pilot) -> None:
    """Every worker done, and a moment for the messages they posted."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete([])
        await pilot.pause(0.05)
