"""The fault-injection helper itself: each action does what it says, in this process and in a child."""

import errno
import os
import signal
import subprocess
import sys

import pytest

from cli_recover.testhooks import InjectedFault, fault_point
from tests.faults import fault_env, full_disk, inject


def test_unarmed_point_is_a_no_op(monkeypatch):
    monkeypatch.delenv("CLI_RECOVER_FAULTS", raising=False)
    fault_point("anything")  # must not raise


def test_raise_and_enospc(monkeypatch):
    inject(monkeypatch, "a=raise", "b=enospc")
    with pytest.raises(InjectedFault):
        fault_point("a")
    with pytest.raises(OSError) as info:
        fault_point("b")
    assert info.value.errno == errno.ENOSPC
    fault_point("c")  # not armed


def test_kill_in_a_child():
    code = "from cli_recover.testhooks import fault_point; fault_point('x'); print('survived')"
    proc = subprocess.run([sys.executable, "-c", code], env=fault_env("x=kill"), capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    assert "survived" not in proc.stdout


def test_full_disk_gives_enospc(tmp_path):
    with full_disk(tmp_path / "small", "64k") as path:
        with pytest.raises(OSError) as info:
            with open(os.path.join(path, "big"), "wb") as f:
                f.write(b"x" * (1 << 20))
                f.flush()
                os.fsync(f.fileno())
        assert info.value.errno == errno.ENOSPC
