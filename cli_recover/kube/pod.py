"""The pod target: commands run in a container of a pod, over the exec WebSocket."""

from __future__ import annotations

import difflib
import os
import threading

from cli_recover.errors import ProducerError, UsageError
from cli_recover.kube.cluster import Cluster, default_container
from cli_recover.kube.errors import (
    CommandNotFound,
    NotFound,
    PodNotRunning,
    UnknownContainer,
    UnknownNamespace,
    UnknownPod,
    choices,
)
from cli_recover.kube.stream import PodProcess, resolve_exec_timeout


class PodTarget:
    """A container of a running pod (implements `cli_recover.kube.base.Target`)."""

    kind = "pod"

    def __init__(
        self,
        cluster: Cluster,
        pod: str,
        namespace: str,
        container: str,
        pod_object: dict | None = None,
        exec_timeout: float | None = None,
    ):
        self.exec_timeout = resolve_exec_timeout(exec_timeout)
        self.cluster = cluster
        self.pod = pod
        self.namespace = namespace
        self.container = container
        self.pod_object = pod_object or {}

    @property
    def context(self) -> str:
        return self.cluster.context

    def describe(self) -> str:
        return f"{self.cluster.context}/{self.namespace}/{self.pod}/{self.container}"

    def spawn(self, argv: list[str], *, stdin: bool = False) -> PodProcess:
        """Start argv in the container; stdout is a stream, stdin too when asked for."""
        for arg in argv:
            if not _utf8(arg):  # a non-UTF-8 name from the command line (surrogateescape)
                raise UsageError(f"{os.fsencode(arg)!r} is not valid UTF-8: the exec API of a pod carries "
                                 "only UTF-8 text")
        return PodProcess(
            self.cluster,
            self.pod,
            self.namespace,
            self.container,
            argv,
            stdin=stdin,
            label=self.describe(),
            exec_timeout=self.exec_timeout,
        )

    def run(self, argv: list[str], *, timeout: float = 30.0) -> tuple[int, bytes, str]:
        """Run a short command to completion: (exit status, stdout, stderr). 127 when it does not exist."""
        proc = self.spawn(argv)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        chunks = []
        try:
            while data := proc.read():
                chunks.append(data)
            code = proc.wait(timeout)
        except CommandNotFound as exc:
            return 127, b"", str(exc)
        except TimeoutError:
            expire()
            code = -9
        finally:
            timer.cancel()
        if expired.is_set():
            raise ProducerError(f"`{' '.join(argv)}` in {self.describe()} did not finish within {timeout:g}s")
        return code, b"".join(chunks), proc.stderr_text()

    def close(self) -> None:
        self.cluster.close()


def _suggest(name: str, names: list[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def open_pod_target(
    pod: str,
    namespace: str | None = None,
    container: str | None = None,
    context: str | None = None,
    kubeconfig: str | os.PathLike | None = None,
    exec_timeout: float | None = None,
) -> PodTarget:
    """Check that the pod exists and runs, pick the container (given, else the default-container
    annotation, else the first one) and return its target. Raises one-line RecoverErrors.
    exec_timeout: see `cli_recover.kube.stream.resolve_exec_timeout` (None: the environment or 300 s)."""
    exec_timeout = resolve_exec_timeout(exec_timeout)
    for what, name in (("pod", pod), ("namespace", namespace), ("container", container)):
        if name and not _utf8(name):  # the API's URLs carry UTF-8 only (the client would raise)
            raise UsageError(f"the {what} name {os.fsencode(name)!r} is not valid UTF-8")
    cluster = Cluster(kubeconfig, context)
    ns = namespace or cluster.namespace
    try:
        obj = cluster.pod(pod, ns)
    except NotFound:
        exists = cluster.namespace_exists(ns)
        if exists is False:
            try:
                known = cluster.namespaces()
            except NotFound:
                known = []
            except Exception:  # noqa: BLE001 - listing is only a hint
                known = []
            hint = f"; namespaces: {choices(known)}" if known else ""
            raise UnknownNamespace(f"unknown namespace {ns!r} in context {cluster.context!r}{hint}") from None
        try:
            names = [p.name for p in cluster.pods(ns)]
        except Exception:  # noqa: BLE001 - listing is only a hint
            names = []
        hint = f"{_suggest(pod, names)}; pods there: {choices(names)}" if names else ""
        raise UnknownPod(f"no pod {pod!r} in namespace {ns} (context {cluster.context}){hint}") from None
    spec_names = [c.get("name", "") for c in (obj.get("spec") or {}).get("containers") or []]
    if container:
        if container not in spec_names:
            raise UnknownContainer(
                f"pod {pod} has no container {container!r}; containers: {choices(spec_names)}"
            )
        chosen = container
    else:
        chosen = default_container(obj)
    status = obj.get("status") or {}
    phase = status.get("phase") or "Unknown"
    if phase != "Running":
        reason = status.get("reason") or ""
        for cs in status.get("containerStatuses") or []:
            if cs.get("name") == chosen:
                reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason") or reason
        extra = f" ({reason})" if reason and reason != phase else ""
        raise PodNotRunning(f"pod {pod} in namespace {ns} is {phase}{extra}, not Running")
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") == chosen:
            state = cs.get("state") or {}
            if "running" not in state and state:
                what = next(iter(state))
                reason = (state[what] or {}).get("reason") or what
                raise PodNotRunning(
                    f"container {chosen} of pod {pod} in namespace {ns} is not running ({reason})"
                )
    return PodTarget(cluster, pod, ns, chosen, obj, exec_timeout)
