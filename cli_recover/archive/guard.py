"""The restore guard: refuses every archive member that could write outside the restore target.

Paths are resolved at the root, not per spelling. A `RestoreGuard` keeps a tree (a trie of path
components) of what the archive has created so far, and walks each member's parent path component
by component: `x/./a`, `x//a` and `x/a` are the same walk. A component that is a symlink, whether
the archive made it or it is already on disk in the target, stops the walk: nothing is ever written
below (through) a symlink. A symlink's own text is resolved the same way against the tree, where a
`..` after a symlink component is never lexical: a link whose text passes through another link is
refused, as is one that leaves the target (unless `allow_outside_symlinks`: then it is restored as
a link, and still nothing is written through it).

What is on disk comes from a `disk` object, probed once per directory prefix: `LocalDisk` (lstat on
this host) or `KnownDisk` (answers gathered from a pod before the restore, see verify.disk_view).
Cost is linear in the depth of each path: no prefix string is ever rebuilt.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Protocol

from cli_recover.errors import IntegrityError


class Member(Protocol):
    """What the guard reads of a member (tarindex.Member, which imports this module, has it)."""

    path: str
    raw_name: str
    type: str
    link: str | None

ALLOW_OUTSIDE_FLAG = "--allow-outside-symlinks"

ABSENT, DIR, LINK, OTHER = "absent", "dir", "link", "other"


class UnsafeMember(IntegrityError):
    """A member that would write outside the restore target."""


class _Node:
    __slots__ = ("name", "parent", "kids", "kind", "disk", "handle", "used", "via_link", "want")

    def __init__(self, name: str, parent: _Node | None):
        self.name = name
        self.parent = parent
        self.kids: dict[str, _Node] | None = None
        self.kind: str | None = None  # what the archive made here: dir, file, symlink, hardlink...
        self.disk: str | None = None  # what was on disk before the restore (None: not probed yet)
        self.handle = None  # the disk object's handle for looking up children (set for DIR)
        self.used = False  # walked through as a folder by a member
        self.via_link = False  # walked through as a folder by a symlink's text
        self.want = False  # the disk state was asked for (the pod query sends these)

    def path(self) -> str:
        names = []
        node = self
        while node is not None and node.parent is not None:
            names.append(node.name)
            node = node.parent
        return "/".join(reversed(names)) or "."


class LocalDisk:
    """The target folder on this host: each directory prefix is lstat-ed once (never followed)."""

    def __init__(self, root: str):
        self.root = os.fspath(root)

    def root_handle(self):
        return self.root if os.path.isdir(self.root) else None

    def probe(self, handle, name: str, node: _Node) -> tuple[str, object]:
        path = os.path.join(handle, name)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return ABSENT, None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise UnsafeMember(f"refusing member too deep to check on disk: {node.path()[:200]}...") from None
            raise UnsafeMember(f"cannot check {path} before restoring: {exc.strerror or exc}") from None
        if stat.S_ISLNK(st.st_mode):
            return LINK, None
        if stat.S_ISDIR(st.st_mode):
            return DIR, path
        return OTHER, None


class KnownDisk:
    """Disk answers gathered before the restore (in a pod): `tree` is {name: (kind, subtree)} for
    every name the query covered under an existing folder; any other name there is refused."""

    def __init__(self, tree: dict | None):
        self.tree = tree

    def root_handle(self):
        return self.tree

    def probe(self, handle, name: str, node: _Node) -> tuple[str, object]:
        entry = handle.get(name)
        if entry is None:
            raise UnsafeMember(f"refusing member not checked on the target before the restore: {node.path()}")
        kind, sub = entry
        return kind, sub if kind == DIR else None


class RestoreGuard:
    """Call `check(member)` for every member in archive order, before any of its bytes reach tar.
    `disk`: None (only the archive's own links; the nodes whose disk state would be asked are marked
    `want`), LocalDisk or KnownDisk. `last` is the member in flight (the last one checked)."""

    def __init__(self, disk=None, *, allow_outside_symlinks: bool = False):
        self.disk = disk
        self.allow_outside = allow_outside_symlinks
        self.root = _Node("", None)
        self.root.kind = "dir"
        self.root.used = True
        self.root.disk = DIR
        self.root.handle = disk.root_handle() if disk is not None else None
        if self.root.handle is None:
            self.root.disk = ABSENT
        self.last: Member | None = None
        self.outside_links: list[str] = []  # symlinks restored although they point outside (the flag)

    # --- the tree -----------------------------------------------------------------------------

    @staticmethod
    def _child(node: _Node, name: str) -> _Node:
        kids = node.kids
        if kids is None:
            kids = node.kids = {}
        child = kids.get(name)
        if child is None:
            child = kids[name] = _Node(name, node)
        return child

    def _disk(self, node: _Node) -> str:
        if node.disk is None:
            node.want = True
            parent = node.parent
            if self.disk is None or parent.disk != DIR:
                node.disk = ABSENT
            else:
                node.disk, node.handle = self.disk.probe(parent.handle, node.name, node)
        return node.disk

    def _as_dir(self, node: _Node, member: Member) -> None:
        """node is used as a folder by member: it must not be a symlink, in the archive or on disk."""
        if node.kind == "symlink":
            raise UnsafeMember(f"refusing member below a symlink of the same archive: {member.path} "
                               f"(through {node.path()})")
        if self._disk(node) == LINK:
            raise UnsafeMember(f"refusing member below a symlink already in the target: {member.path} "
                               f"(through {node.path()}; restore into the folder it points to instead)")
        node.used = True

    def _walk(self, parts: list[str], member: Member) -> _Node:
        node = self.root
        for name in parts:
            node = self._child(node, name)
            self._as_dir(node, member)
        return node

    # --- the check ----------------------------------------------------------------------------

    def check(self, member: Member) -> None:
        self.last = member
        name = member.raw_name or member.path
        if name.startswith("/") or member.path.startswith("/"):
            raise UnsafeMember(f"refusing member with an absolute path: {name}")
        parts = [p for p in member.path.split("/") if p not in ("", ".")]
        if ".." in parts:
            raise UnsafeMember(f"refusing member with '..' in its path: {name}")
        if member.type in ("char", "block"):
            raise UnsafeMember(f"refusing device node: {member.path}")
        if not parts:  # the archive root `.`: the target folder itself
            if member.type != "dir":
                raise UnsafeMember(f"refusing a {member.type} in place of the target folder: {name}")
            return
        parent = self._walk(parts[:-1], member)
        kind = member.type
        if kind not in ("dir", "symlink"):
            # files keep no node (memory grows with folders and links, not with files): one that
            # later turns out to be a folder or a link gets its node then
            if kind == "hardlink":
                self._check_hardlink(member)
            node = parent.kids.get(parts[-1]) if parent.kids else None
            if node is not None and node.kind not in ("symlink", "dir"):
                node.kind = kind
            return
        node = self._child(parent, parts[-1])
        if kind == "dir":
            self._as_dir(node, member)
        else:
            if node.used:
                raise UnsafeMember(f"refusing symlink that replaces a folder other members use: {member.path}")
            if node.via_link and not self.allow_outside:
                raise UnsafeMember(f"refusing symlink that replaces a folder an earlier link's text passes "
                                   f"through: {member.path} (to restore it as a link anyway: {ALLOW_OUTSIDE_FLAG})")
            self._check_link_text(node, member)
        if node.kind != "symlink":  # once a symlink, always one (tar -k keeps it in place)
            node.kind = kind

    __call__ = check  # a guard instance is the on_header hook

    def _check_hardlink(self, member: Member) -> None:
        target = member.link or ""
        tparts = [p for p in target.split("/") if p not in ("", ".")]
        if target.startswith("/") or ".." in tparts or not tparts:
            raise UnsafeMember(f"refusing hard link that points outside the target: {member.path} -> {target}")
        node = self.root
        for name in tparts[:-1]:
            node = self._child(node, name)
            if node.kind == "symlink" or self._disk(node) == LINK:
                raise UnsafeMember(f"refusing hard link through a symlink: {member.path} -> {target}")
            node.used = True
        node = self._child(node, tparts[-1])
        if node.kind == "symlink" or self._disk(node) == LINK:
            raise UnsafeMember(f"refusing hard link to a symlink: {member.path} -> {target}")

    def _check_link_text(self, node: _Node, member: Member) -> None:
        text = member.link or ""
        hint = f" (to restore it as a link anyway: {ALLOW_OUTSIDE_FLAG})"
        if self.allow_outside:
            # where a link leads is not checked: nothing is ever written through one. Those that
            # leave on their own (lexically) are counted for the summary.
            if _leaves(member.path, text):
                self.outside_links.append(member.path)
            return
        if text.startswith("/"):
            raise UnsafeMember(f"refusing symlink that points outside the target: {member.path} -> {text}{hint}")
        comps = [c for c in text.split("/") if c not in ("", ".")]
        cur = node.parent
        for i, comp in enumerate(comps):
            if comp == "..":
                if cur is self.root:
                    raise UnsafeMember(f"refusing symlink that points outside the target: {member.path} -> "
                                       f"{text}{hint}")
                cur = cur.parent
                continue
            nxt = self._child(cur, comp)
            if i == len(comps) - 1:  # the link's final component may be a link (python3 -> python)
                return
            if nxt.kind == "symlink" or self._disk(nxt) == LINK:
                raise UnsafeMember(f"refusing symlink whose target passes through another symlink: "
                                   f"{member.path} -> {text} (through {nxt.path()}){hint}")
            nxt.via_link = True  # resolved as a folder: it must not become a link later
            cur = nxt

    # --- for the pod query --------------------------------------------------------------------

    def wanted(self):
        """The nodes whose disk state was asked, depth first, as ("d", name) / ("u", None) steps
        from the root (iterative: a 16k-deep path is fine). Yields (step, name, node)."""
        stack = [iter(sorted((self.root.kids or {}).items()))]
        while stack:
            for name, node in stack[-1]:
                if node.want:
                    yield "d", name, node
                    stack.append(iter(sorted((node.kids or {}).items())))
                    break
            else:
                stack.pop()
                if stack:
                    yield "u", None, None


def _leaves(path: str, text: str) -> bool:
    """The link text leaves the archive root on its own (absolute, or more `..` than folders)."""
    if text.startswith("/"):
        return True
    depth = sum(1 for p in path.split("/")[:-1] if p not in ("", "."))
    for comp in text.split("/"):
        if comp == "..":
            depth -= 1
            if depth < 0:
                return True
        elif comp not in ("", "."):
            depth += 1
    return False


def manifest_outside_symlinks(manifest_path, limit: int = 3) -> tuple[int, list[str]]:
    """(count, first few `path -> text`) of the symlinks in a manifest that restore refuses without
    ALLOW_OUTSIDE_FLAG (they leave the root, or their text passes through another link). Read line
    by line (a manifest writes one member per line) through the restore guard, which keeps only
    folders and links: memory does not grow with the number of files."""
    import json
    from types import SimpleNamespace

    guard = RestoreGuard()
    names: list[str] = []
    count = 0
    with open(manifest_path, encoding="utf-8") as f:
        for line in f:
            line = line.strip().rstrip(",")
            if not (line.startswith("{") and ('"symlink"' in line or '"dir"' in line)):
                continue
            try:
                rec = json.loads(line)
                member = SimpleNamespace(path=str(rec["path"]), raw_name="", type=str(rec["type"]),
                                         link=rec.get("link"))
            except (ValueError, KeyError, TypeError):
                continue
            if member.type not in ("symlink", "dir"):
                continue
            try:
                guard.check(member)
            except UnsafeMember as exc:
                if member.type == "symlink" and ALLOW_OUTSIDE_FLAG in str(exc):
                    count += 1
                    if len(names) < limit:
                        names.append(f"{member.path} -> {member.link}")
    return count, names
