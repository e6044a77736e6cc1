"""The restore guard: refuses every archive member that could write outside the restore target."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from cli_recover.errors import IntegrityError

if TYPE_CHECKING:
    from cli_recover.archive.tarindex import Member


class UnsafeMember(IntegrityError):
    """A member that would write outside the restore target."""


def check_safe(member: Member, symlinks: set[str]) -> None:
    """Refuse members that could escape the target folder. `symlinks` collects symlink paths seen."""
    name = member.raw_name or member.path
    if name.startswith("/"):
        raise UnsafeMember(f"refusing member with an absolute path: {name}")
    parts = member.path.split("/")
    if ".." in parts:
        raise UnsafeMember(f"refusing member with '..' in its path: {name}")
    if _below_symlink(member.path, symlinks):
        raise UnsafeMember(f"refusing member below a symlink of the same archive: {member.path}")
    if member.type in ("char", "block"):
        raise UnsafeMember(f"refusing device node: {member.path}")
    if member.type == "symlink":
        target = member.link or ""
        if target.startswith("/"):
            raise UnsafeMember(f"refusing symlink that points outside the target: {member.path} -> {target}")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member.path), target))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeMember(f"refusing symlink that points outside the target: {member.path} -> {target}")
        symlinks.add(_canonical(member.path))
    if member.type == "hardlink":
        target = member.link or ""
        if target.startswith("/") or ".." in target.split("/"):
            raise UnsafeMember(f"refusing hard link that points outside the target: {member.path} -> {target}")
        if _below_symlink(target, symlinks):
            raise UnsafeMember(f"refusing hard link through a symlink of the same archive: {member.path} -> {target}")


def _canonical(path: str) -> str:
    """The path as the filesystem resolves its spelling: `x/./a`, `x//a` and `x/a` are one file."""
    return "/".join(p for p in path.split("/") if p not in ("", "."))


def _below_symlink(path: str, symlinks: set[str]) -> bool:
    parts = _canonical(path).split("/")
    return any("/".join(parts[:i]) in symlinks for i in range(1, len(parts)))
