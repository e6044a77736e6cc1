"""Process identity: a PID plus the process start time, so a reused PID is never mistaken for a job.

On Linux the start time comes from /proc/<pid>/stat (clock ticks since boot) and the boot id from
/proc/sys/kernel/random/boot_id, so a record written before a reboot never matches a process after it.
Elsewhere psutil is used when installed; without it only the PID's existence is checked.
"""

from __future__ import annotations

import os

_BOOT_ID: str | None = None


def boot_id() -> str:
    global _BOOT_ID
    if _BOOT_ID is None:
        try:
            with open("/proc/sys/kernel/random/boot_id") as f:
                _BOOT_ID = f.read().strip()
        except OSError:
            _BOOT_ID = ""
    return _BOOT_ID


def hostname() -> str:
    return os.uname().nodename if hasattr(os, "uname") else ""


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start ticks) from /proc/<pid>/stat, or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(b")") + 2 :].split()
    # rest[0] is field 3 (state); field 22 (starttime) is rest[19].
    return rest[0].decode(), int(rest[19])


def start_time(pid: int) -> int | float | None:
    """An opaque start-time token for pid (None when the process does not exist)."""
    if os.path.isdir("/proc/self"):
        st = _proc_stat(pid)
        return None if st is None or st[0] in ("Z", "X") else st[1]
    try:
        import psutil  # noqa: PLC0415

        return psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001 - psutil missing or no such process
        return None if not _pid_exists(pid) else 0


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def identity(pid: int | None = None) -> dict:
    """The identity of pid (default: this process) as stored in a job record."""
    pid = os.getpid() if pid is None else pid
    return {"pid": pid, "pid_start": start_time(pid), "boot_id": boot_id()}


def is_alive(pid: int | None, pid_start, boot: str | None) -> bool:
    """True when the process recorded as (pid, pid_start, boot) is still running (not a zombie)."""
    if not pid:
        return False
    if boot and boot_id() and boot != boot_id():
        return False  # the machine was rebooted since
    current = start_time(pid)
    if current is None:
        return False
    if pid_start is None or current == 0:
        return True  # nothing better to compare against
    return current == pid_start
