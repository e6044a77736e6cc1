"""Errors of cluster access, one readable line each (the CLI prints them without a traceback)."""

from __future__ import annotations

from cli_recover.errors import ProducerError, RecoverError, UsageError


class ClusterError(RecoverError):
    """Something between us and the pod went wrong."""


class KubeconfigError(UsageError):
    """No kubeconfig, or an unreadable one."""


class ClusterUnreachable(ClusterError):
    """The API server cannot be reached (connection refused, DNS, TLS, timeout)."""


class ExecTimeout(ClusterUnreachable):
    """The exec stream got no frame and sent no stdin for --exec-timeout seconds (a hung server)."""


class Unauthorized(ClusterError):
    """401: the credentials were rejected."""


class Forbidden(ClusterError):
    """403: RBAC does not allow the verb on the resource."""


class NotFound(ClusterError):
    """An unknown context, namespace, pod or container."""


class UnknownContext(NotFound, UsageError):
    pass


class UnknownNamespace(NotFound):
    pass


class UnknownPod(NotFound):
    pass


class UnknownContainer(NotFound):
    pass


class PodNotRunning(ClusterError):
    """The pod (or its container) is not in a state that can run commands."""


class CommandNotFound(ProducerError):
    """The command does not exist in the container (e.g. no `tar`)."""


def choices(names, limit: int = 8) -> str:
    """`a, b, c (+12 more)` or `none`."""
    names = list(names)
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit} more)" if len(names) > limit else "")
