"""Listing a folder inside a container through exec (no textual here: usable by any screen).

GNU find prints type, size and name in one exec; images whose find has no `-printf` (busybox, distroless
debug shells) fall back to `ls -1apL`, which gives names and folders but no sizes.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from cli_recover.errors import RecoverError

FIND_FORMAT = "%y\\t%Y\\t%s\\t%f\\0"  # type, type behind symlinks, size, name; NUL-separated


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # "dir", "file", "link" (to a file), "dirlink" (to a folder), "other"
    size: int | None

    @property
    def is_dir(self) -> bool:
        return self.kind in ("dir", "dirlink")


class ListingError(RecoverError):
    pass


def _kind(own: str, behind: str) -> str:
    if own == "l":
        return "dirlink" if behind == "d" else "link"
    return {"d": "dir", "f": "file"}.get(own, "other")


def sort_entries(entries: list[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (not e.is_dir, e.name.lower(), e.name))


def parse_find(out: bytes) -> list[Entry]:
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        parts = record.split(b"\t", 3)
        if len(parts) != 4:
            continue
        own, behind, size, name = (p.decode("utf-8", "replace") for p in parts)
        kind = _kind(own, behind)
        entries.append(Entry(name, kind, int(size) if size.isdigit() and kind in ("file", "link") else None))
    return entries


def parse_ls(out: bytes) -> list[Entry]:
    entries = []
    for line in out.decode("utf-8", "replace").splitlines():
        if not line or line in ("./", "../"):
            continue
        if line.endswith("/"):
            entries.append(Entry(line[:-1], "dir", None))
        else:
            entries.append(Entry(line, "file", None))
    return entries


def _unsupported(code: int, err: str) -> bool:
    low = err.lower()
    return code == 127 or any(w in low for w in ("printf", "unrecognized", "unknown", "invalid", "not found"))


def list_dir(target, path: str, *, timeout: float = 30.0) -> list[Entry]:
    """Entries of `path` in the target's container, folders first. Raises ListingError (one line)."""
    code, out, err = target.run(["find", path.rstrip("/") + "/", "-mindepth", "1", "-maxdepth", "1", "-printf", FIND_FORMAT],
                                timeout=timeout)
    if code == 0 or (code == 1 and out):  # 1: some entries unreadable, the rest is listed
        return sort_entries(parse_find(out))
    if _unsupported(code, err):
        code2, out2, err2 = target.run(["ls", "-1apL", path], timeout=timeout)
        if code2 == 0 or (code2 == 1 and out2):
            return sort_entries(parse_ls(out2))
        code, err = code2, err2
    reason = next((ln for ln in err.strip().splitlines() if ln.strip()), f"exit status {code}")
    if ": " in reason and reason.split(": ", 1)[0] in ("find", "ls"):
        reason = reason.split(": ", 1)[1]
    raise ListingError(f"cannot list {path}: {reason}")


def join(path: str, name: str) -> str:
    return posixpath.normpath(posixpath.join(path, name))


def parent(path: str) -> str:
    return posixpath.dirname(path.rstrip("/")) or "/"
