"""What the screens depend on, injected so tests run them against the sandbox with a fixed clock.

Screens never construct clusters, stores or processes themselves: they ask `Services`. Everything
here is blocking; screens call it from workers (`@work(thread=True)`), never on the event loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cli_recover.errors import RecoverError


def _default_launcher(argv: list[str], env: dict | None = None) -> str:
    """Starts `cli-recover ARGV --background` (a detached job that outlives the app); returns its id."""
    proc = subprocess.run([sys.executable, "-m", "cli_recover", *argv, "--background"], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=60)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RecoverError(lines[-1].removeprefix("cli-recover: error: ") if lines else "the job did not start")
    return proc.stdout.strip().splitlines()[-1]


@dataclass
class Services:
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    clock: Callable[[], float] = time.time  # seconds since the epoch; tests pass a fixed one
    launcher: Callable[[list[str]], str] = _default_launcher
    data_home: Path | None = None
    _clusters: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- cluster access -----------------------------------------------------------------------

    def cluster(self, context: str | None = None):
        """A (cached) `cli_recover.kube.cluster.Cluster` for the context (default: the current one)."""
        from cli_recover.kube.cluster import Cluster

        key = context or self.context
        with self._lock:  # workers run in threads: one Cluster per context, never two
            if key not in self._clusters:
                self._clusters[key] = Cluster(self.kubeconfig, key)
            return self._clusters[key]

    def contexts(self) -> list:
        from cli_recover.kube.kubeconfig import list_contexts

        return list_contexts(self.kubeconfig)

    def pod_target(self, pod: str, namespace: str | None = None, container: str | None = None,
                   context: str | None = None):
        from cli_recover.kube.pod import open_pod_target

        return open_pod_target(pod, namespace=namespace, container=container, context=context or self.context,
                               kubeconfig=self.kubeconfig)

    def kube_args(self, context: str | None = None) -> list[str]:
        """The cluster flags a CLI command needs to reach the same cluster as the app."""
        out = []
        if self.kubeconfig:
            out += ["--kubeconfig", str(self.kubeconfig)]
        if context or self.context:
            out += ["--context", context or self.context]
        return out

    # --- jobs and archives --------------------------------------------------------------------

    def store(self):
        from cli_recover.engine.store import JobStore

        return JobStore()

    def backups_dir(self) -> Path:
        from cli_recover.config import backups_dir

        return backups_dir()

    def launch(self, argv: list[str]) -> str:
        """Start a cli-recover command as a background job (same engine as the CLI); returns the job id."""
        return self.launcher(argv)

    def close(self) -> None:
        with self._lock:
            clusters, self._clusters = list(self._clusters.values()), {}
        for cluster in clusters:
            try:
                cluster.close()
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
