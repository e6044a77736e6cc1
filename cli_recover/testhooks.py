"""Fault points for the fault-injection tests (tests/faults.py).

`fault_point("commit.manifest-written")` is a no-op unless the environment variable
CLI_RECOVER_FAULTS names that point: `POINT=ACTION[,POINT=ACTION...]`. Actions:
`kill` (SIGKILL this process: a crash at exactly that instruction), `raise` (a RuntimeError, as a
bug in that stage would), `enospc` (OSError ENOSPC, as a full disk would), `hang` (that thread
sleeps forever, as one stuck on a dead disk or peer would). The cost when unset is
one dictionary lookup, so fault points can sit in the hot path's stage starts and commit steps.
"""

from __future__ import annotations

import errno
import os
import signal
import time

ENV = "CLI_RECOVER_FAULTS"


class InjectedFault(RuntimeError):
    """Raised at a fault point whose action is `raise`."""


def _actions() -> dict[str, str]:
    spec = os.environ.get(ENV, "")
    out = {}
    for item in spec.split(","):
        point, _, action = item.strip().partition("=")
        if point:
            out[point] = action or "raise"
    return out


def fault_point(name: str) -> None:
    if ENV not in os.environ:
        return
    action = _actions().get(name)
    if action is None:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if action == "hang":
        while True:
            time.sleep(3600)
    if action == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC) + f" (injected at {name})")
    raise InjectedFault(f"fault injected at {name}")
