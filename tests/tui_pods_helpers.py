"""Shared set-up for the pods/pod/backup app tests: the demo cluster with fixed creation times, a fixed
clock, and helpers that wait for the app's workers."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cli_recover.kube.sandbox import create_demo_tree, serve

# 2026-03-01T00:00:00Z: the demo pods were created 2026-01-01, so every AGE reads 59d.
FIXED_NOW = 1772323200.0
CREATED = "2026-01-01T00:00:00Z"


def demo_cluster(root: Path):
    """The demo tree (creation times pinned: exec in a pod touches its folder) served by a sandbox."""
    create_demo_tree(root)
    for spec in root.glob("*/*.pod.json"):
        doc = json.loads(spec.read_text())
        doc["created"] = CREATED
        spec.write_text(json.dumps(doc))
    return serve(root, kubeconfig_path=root.parent / f"{root.name}.kubeconfig")


def make_services(kubeconfig=None, **kw):
    from cli_recover.tui.services import Services

    return Services(kubeconfig=kubeconfig, clock=lambda: FIXED_NOW, **kw)


def make_app(services, **kw):
    from cli_recover.tui.app import RecoverApp

    kw.setdefault("refresh_interval", 0)
    return RecoverApp(services, **kw)


async def settle(pilot, rounds: int = 3) -> None:
    """Wait until every worker is done and the messages they posted are handled."""
    from textual.worker import WorkerCancelled, WorkerFailed

    for _ in range(rounds):
        try:
            await pilot.app.workers.wait_for_complete([])
        except (WorkerCancelled, WorkerFailed):  # a dialog's worker ends with its dialog
            pass
        await pilot.pause()


async def wait_for(pilot, predicate, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)
