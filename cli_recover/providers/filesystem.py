"""The filesystem provider: a folder (or file) archived by the real `tar` on the target."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import stat

from cli_recover.errors import UsageError
from cli_recover.providers.base import BackupPlan, RestorePlan

VCS_DIRS = {".git", ".svn", ".hg", ".bzr", "CVS", "_darcs", ".arch-ids", "{arch}", "RCS", "SCCS"}
VCS_FILES = {".gitignore", ".gitattributes", ".gitmodules", ".cvsignore", ".hgignore", ".hgtags", ".bzrignore"}


def tar_create_argv(directory: str, names: list[str], excludes: list[str], exclude_vcs: bool) -> list[str]:
    argv = ["tar", "-c", "-f", "-", "-C", directory]
    argv += [f"--exclude={pattern}" for pattern in excludes]
    if exclude_vcs:
        # spelled out rather than GNU's --exclude-vcs, so busybox tar in a pod understands it too
        argv += [f"--exclude={name}" for name in sorted(VCS_DIRS | VCS_FILES)]
    return argv + ["--", *names]


def tar_extract_argv(directory: str, *, force: bool, includes: list[str]) -> list[str]:
    argv = ["tar", "-x", "-f", "-", "-C", directory, "-p"]
    if not force:
        argv.append("-k")  # keep existing files (we refuse them up front; this is the second guard)
    return argv + (["--", *includes] if includes else [])


def estimate_local(path: str, excludes: list[str], exclude_vcs: bool) -> int:
    """The size the tar stream will have: content rounded to blocks plus one header per entry."""

    def excluded(name: str) -> bool:
        return (exclude_vcs and name in VCS_DIRS | VCS_FILES) or any(fnmatch.fnmatch(name, p) for p in excludes)

    if not os.path.isdir(path):
        size = os.lstat(path).st_size
        return 512 + -(-size // 512) * 512 + 1024
    total = 1024
    stack = [path]
    while stack:
        current = stack.pop()
        total += 512
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            if excluded(entry.name):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                size = entry.stat(follow_symlinks=False).st_size if entry.is_file(follow_symlinks=False) else 0
            except OSError:
                continue
            total += 512 + -(-size // 512) * 512
    return total


def estimate_remote(target, path: str) -> int | None:
    code, out, _ = target.run(["du", "-s", "-k", path], timeout=120)
    if code in (0, 1) and out.split():
        try:
            return int(out.split()[0]) * 1024
        except ValueError:
            return None
    return None


def label_for(path: str) -> str:
    base = posixpath.basename(posixpath.normpath(path)) or "root"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in base) or "root"


class FilesystemProvider:
    name = "filesystem"
    summary = "files and folders, archived with tar"
    stream_type = "tar"

    def add_backup_arguments(self, parser) -> None:
        parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                            help="leave out members matching this tar pattern (repeatable)")
        parser.add_argument("--exclude-vcs", action="store_true", help="leave out .git, .svn, .hg... folders")
        parser.add_argument("--allow-changed-files", action="store_true",
                            help="accept tar's exit status 1 (a file changed while it was read); recorded as a warning")

    def add_restore_arguments(self, parser) -> None:
        parser.add_argument("--include", action="append", default=[], metavar="PATH",
                            help="restore only this member (file or folder; repeatable)")

    def backup_plan(self, args, target) -> BackupPlan:
        path = args.path
        excludes = list(args.exclude or [])
        if target.kind == "local":
            path = os.path.abspath(os.path.expanduser(path))
            if not os.path.lexists(path):
                raise UsageError(f"no such file or folder: {args.path}")
            if os.path.isdir(path):
                argv = tar_create_argv(path, ["."], excludes, args.exclude_vcs)
            else:
                argv = tar_create_argv(os.path.dirname(path) or "/", [os.path.basename(path)], excludes, args.exclude_vcs)

            def estimate() -> int:
                return estimate_local(path, excludes, args.exclude_vcs)
        else:
            if not path.startswith("/"):
                raise UsageError(f"the path in the pod must be absolute: {path}")
            argv = tar_create_argv(path, ["."], excludes, args.exclude_vcs)

            def estimate() -> int | None:
                return estimate_remote(target, path)

        return BackupPlan(
            argv=argv,
            label=label_for(path),
            source={"target": target.describe(), "kind": target.kind, "path": path},
            options={"exclude": excludes, "exclude_vcs": bool(args.exclude_vcs)},
            estimate=estimate,
            ok_exit_codes=(0, 1) if args.allow_changed_files else (0,),
        )

    def restore_plan(self, args, target, manifest: dict | None) -> RestorePlan:
        directory = args.target_path
        if directory is None and manifest is not None and target.kind != "local":
            directory = manifest.get("source", {}).get("path")
        if not directory:
            raise UsageError("--target-path DIR is required (where to restore)")
        if target.kind == "local":
            directory = os.path.abspath(os.path.expanduser(directory))
        elif not directory.startswith("/"):
            raise UsageError(f"the target path in the pod must be absolute: {directory}")
        prefix = ((manifest or {}).get("stream") or {}).get("member_prefix", "./")
        includes = [prefix + normalize_include(p) for p in (args.include or [])]
        return RestorePlan(
            argv=tar_extract_argv(directory, force=args.force, includes=includes),
            prepare=[["mkdir", "-p", directory]],
            target_dir=directory,
            includes=includes,
        )


def normalize_include(path: str) -> str:
    raw = path
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    path = path.lstrip("/").rstrip("/")
    if path in ("", "."):
        raise UsageError(f"--include {raw!r} is the whole archive: leave --include out to restore everything")
    if ".." in path.split("/"):
        raise UsageError(f"--include {path!r} is not a path inside the archive")
    return path


# --- staged local restores -------------------------------------------------------------------

from cli_recover.fsutil import STAGING_PREFIX  # noqa: E402 - one name for the engine and the provider

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def make_staging(target_dir: str) -> tuple[str, str]:
    """A fresh private (0700) folder inside the target (same filesystem, so entries move in with a
    rename), and the folder inside it that tar extracts into. Returns (staging, extract_root)."""
    import tempfile

    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=target_dir)
    root = os.path.join(staging, "root")
    os.mkdir(root, 0o700)
    return staging, root


def remove_staging(staging: str) -> None:
    import shutil

    shutil.rmtree(staging, ignore_errors=True)  # fd-based: never follows a symlink it removes


def finish_staged(staging: str, src_root: str, dst_root: str, *, force: bool, apply_root: bool) -> int:
    """Move the staged tree into place, remove the staging folder, then give the target the
    archive's `.` mode, owner and mtime (last: removing the staging folder changes its mtime)."""
    from cli_recover.errors import RecoverError
    from cli_recover.testhooks import fault_point

    root_st = os.stat(src_root, follow_symlinks=False)
    try:  # every conflict is found before the first entry moves: a refusal leaves the target as it was
        merge_staged(src_root, dst_root, force=force, apply_root=False, check_only=True)
    except RecoverError as exc:
        raise RecoverError(f"{exc}; nothing was restored") from None
    fault_point("restore.merge")
    moved = merge_staged(src_root, dst_root, force=force, apply_root=False)
    remove_staging(staging)
    if apply_root:
        fd = os.open(dst_root, _DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            _apply_dir_attrs(fd, root_st)
        finally:
            os.close(fd)
    return moved


def merge_staged(src_root: str, dst_root: str, *, force: bool, apply_root: bool, check_only: bool = False) -> int:
    """Moves every entry of src_root into dst_root with no-follow semantics: folders are opened with
    O_NOFOLLOW|O_DIRECTORY and entries renamed relative to those fds, so nothing is ever written
    through a symlink (a link where a folder should be is refused, even with force). A folder that
    exists is merged into; a file that exists is replaced only with force. Folder modes and mtimes
    (and the archive's `.`, when apply_root) are applied after their contents. Returns the count.
    check_only: the same walk, raising at the first conflict, changing nothing."""
    from cli_recover.errors import RecoverError

    root_st = os.stat(src_root, follow_symlinks=False)
    _raise_fd_limit()  # two fds per folder level: a deep tree passes the common soft limit of 1024
    moved = 0
    src_fd = os.open(src_root, _DIR_FLAGS)
    try:
        dst_fd = os.open(dst_root, _DIR_FLAGS & ~os.O_NOFOLLOW)  # the target the user named
    except OSError:
        os.close(src_fd)
        raise
    stack = [(src_fd, dst_fd, iter(sorted(os.listdir(src_fd))), root_st if apply_root else None, "")]
    try:
        while stack:
            sfd, dfd, names, st_dir, rel = stack[-1]
            for name in names:
                path = f"{rel}{name}"
                st = os.stat(name, dir_fd=sfd, follow_symlinks=False)
                try:
                    dst = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except FileNotFoundError:
                    dst = None
                if dst is not None and stat.S_ISDIR(st.st_mode):
                    if stat.S_ISLNK(dst.st_mode):
                        raise RecoverError(f"refusing to write through the symlink {path} in the target")
                    if stat.S_ISDIR(dst.st_mode):
                        nsfd = os.open(name, _DIR_FLAGS, dir_fd=sfd)
                        try:
                            ndfd = os.open(name, _DIR_FLAGS, dir_fd=dfd)
                        except OSError:
                            os.close(nsfd)
                            raise
                        if os.fstat(ndfd).st_dev != st.st_dev:  # nothing can be renamed into it
                            os.close(nsfd)
                            os.close(ndfd)
                            raise RecoverError(f"{path} in the target is a mount point: the staged files cannot "
                                               "move into it (--in-place extracts without staging)")
                        stack.append((nsfd, ndfd, iter(sorted(os.listdir(nsfd))), st, path + "/"))
                        break
                if dst is not None:
                    if not force:
                        raise RecoverError(f"{path} already exists in the target; use --force to overwrite")
                    if stat.S_ISDIR(dst.st_mode):
                        raise RecoverError(f"cannot replace the folder {path} in the target with a file")
                    if stat.S_ISDIR(st.st_mode) and not check_only:
                        os.unlink(name, dir_fd=dfd)
                if check_only:
                    continue
                # rename replaces a file or a symlink itself, never what a symlink points to
                os.rename(name, name, src_dir_fd=sfd, dst_dir_fd=dfd)
                moved += 1
            else:
                stack.pop()
                if st_dir is not None and not check_only:
                    _apply_dir_attrs(dfd, st_dir)
                os.close(sfd)
                os.close(dfd)
    except BaseException:
        for sfd, dfd, *_ in stack:
            os.close(sfd)
            os.close(dfd)
        raise
    return moved


def _raise_fd_limit() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 16
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (OSError, ValueError):
            pass  # then a tree deeper than the limit allows fails with EMFILE, in one line


def _apply_dir_attrs(fd: int, st: os.stat_result) -> None:
    if os.geteuid() == 0:
        try:
            os.chown(fd, st.st_uid, st.st_gid)
        except OSError:
            pass
    os.chmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
