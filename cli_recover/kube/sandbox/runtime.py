"""Running a command "inside" a sandbox pod: a real local process whose `/` is the pod folder.

As root, each exec gets a private mount namespace (`unshare --mount --propagation private`) where the
host's /usr (and the merged-usr links /bin, /lib, ...), /dev, /proc and, when the pod has no /etc of
its own, /etc are bind-mounted read-only into the pod folder; then `chroot` into it with cwd `/` and the
pod's environment. So `tar -C /data` in a pod reads `DIR/ns/pod/data`, never the host's /data. Without
root the command runs with the pod folder as cwd only (absolute paths then reach the host: a warning
is logged once).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger("cli_recover.sandbox")

# Top-level host paths shared into every pod, read-only. Symlinks on the host (Debian merged-usr:
# /bin -> usr/bin) become the same symlinks in the pod.
SHARED_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")

_SCRIPT = r"""
set -e
R="$1"; shift
for d in $SANDBOX_RO_BINDS; do {mount} -o bind,ro "/$d" "$R/$d"; done
{mount} --rbind /dev "$R/dev"
{mount} --bind /proc "$R/proc"
if [ -n "$SANDBOX_ETC" ]; then {mount} -o bind,ro /etc "$R/etc"; fi
unset SANDBOX_RO_BINDS SANDBOX_ETC
exec {chroot} "$R" "$@"
"""


class CommandNotFound(Exception):
    """The command cannot start in the pod (kubelet: `executable file not found in $PATH`)."""


class PodRuntime:
    """Spawns commands in pod folders, isolated when possible."""

    def __init__(self) -> None:
        self.isolated = self._probe()
        self._warned = False
        if self.isolated:
            self._script = _SCRIPT.format(mount=self._mount, chroot=self._chroot)

    def _probe(self) -> bool:
        if os.name != "posix" or os.geteuid() != 0:
            return False
        self._unshare = shutil.which("unshare")
        self._mount = shutil.which("mount")
        self._chroot = shutil.which("chroot")
        if not (self._unshare and self._mount and self._chroot):
            return False
        try:
            done = subprocess.run(
                [self._unshare, "--mount", "--propagation", "private", "true"],
                capture_output=True,
                timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0

    def warn_once(self) -> None:
        if not self.isolated and not self._warned:
            self._warned = True
            log.warning(
                "SANDBOX WARNING: not root or no mount namespaces: pod commands run on this host with the "
                "pod folder as working directory only; absolute paths like /data reach the HOST's files."
            )

    # -- pod folder preparation ----------------------------------------------------------------

    def prepare(self, root: Path) -> tuple[list[str], bool]:
        """Create missing mountpoints in the pod folder. Returns (dirs to bind read-only, bind /etc?)."""
        binds: list[str] = []
        for name in SHARED_DIRS:
            host = Path("/") / name
            mine = root / name
            if host.is_symlink():
                if not os.path.lexists(mine):
                    try:  # two execs may prepare the same pod at once
                        os.symlink(os.readlink(host), mine)
                    except FileExistsError:
                        pass
                continue
            if not host.is_dir():
                continue
            if mine.is_symlink():
                continue
            if not mine.exists():
                mine.mkdir(mode=0o755, exist_ok=True)
            if name == "usr" or not any(mine.iterdir()):
                binds.append(name)
        for name in ("dev", "proc"):
            (root / name).mkdir(mode=0o755, exist_ok=True)
        etc = root / "etc"
        bind_etc = False
        if not etc.is_symlink():
            if not etc.exists():
                etc.mkdir(mode=0o755, exist_ok=True)
            bind_etc = not any(etc.iterdir())
        return binds, bind_etc

    # -- command lookup (as execvp would inside the pod) --------------------------------------

    def _host_path(self, root: Path, path: str, binds: set[str], depth: int = 0) -> str:
        """Where a pod path lives on the host, following top-level links of the pod folder."""
        parts = [p for p in path.split("/") if p and p != "."]
        if not parts:
            return str(root)
        top = parts[0]
        if top in binds:
            return "/" + "/".join(parts)
        candidate = root / top
        if candidate.is_symlink() and depth < 8:
            target = os.readlink(candidate)
            if not target.startswith("/"):
                target = "/" + target
            return self._host_path(root, target + "/" + "/".join(parts[1:]), binds, depth + 1)
        return str(root.joinpath(*parts))

    def lookup(self, root: Path, argv0: str, env: dict[str, str], binds: set[str]) -> None:
        """Raise CommandNotFound unless argv0 can be executed in the pod."""
        if "/" in argv0:
            dirs = [""]
            name = argv0 if argv0.startswith("/") else "/" + argv0
        else:
            dirs = env.get("PATH", "").split(":")
            name = argv0
        for d in dirs:
            host = self._host_path(root, f"{d}/{name}" if d else name, binds)
            if os.path.isfile(host) and os.access(host, os.X_OK):
                return
        if "/" in argv0:
            raise CommandNotFound(f'exec: "{argv0}": stat {argv0}: no such file or directory')
        raise CommandNotFound(f'exec: "{argv0}": executable file not found in $PATH')

    # -- spawning --------------------------------------------------------------------------------

    def spawn(self, root: Path, argv: list[str], env: dict[str, str], *, stdin: bool) -> subprocess.Popen:
        """Start argv in the pod folder; raises CommandNotFound if it cannot start."""
        if not argv:
            raise CommandNotFound("exec: no command given")
        common = dict(
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
            close_fds=True,
        )
        if self.isolated:
            ro_binds, bind_etc = self.prepare(root)
            bound = set(ro_binds) | {"dev", "proc"} | ({"etc"} if bind_etc else set())
            self.lookup(root, argv[0], env, bound)
            full_env = dict(env)
            full_env["SANDBOX_RO_BINDS"] = " ".join(ro_binds)
            full_env["SANDBOX_ETC"] = "1" if bind_etc else ""
            cmd = [self._unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", self._script, "sh"]
            return subprocess.Popen([*cmd, str(root), *argv], env=full_env, cwd="/", **common)
        self.warn_once()
        if shutil.which(argv[0], path=env.get("PATH")) is None:
            raise CommandNotFound(f'exec: "{argv[0]}": executable file not found in $PATH')
        return subprocess.Popen(argv, env=env, cwd=str(root), **common)
