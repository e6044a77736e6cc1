"""A corpus of hostile archives: every way a tar archive tries to write outside its restore target.

Reusable by every restore path (local, pod, remote stores, encrypted): `CASES` is a plain list of
`Case`; `build(case, ctx)` returns the archive bytes (a plain, uncompressed tar) and
`build_first(case, ctx)` the bytes of the archive restored before it (for the second-archive attacks).

Layout every runner must use: the target folder `T` and a canary folder `O` (outside) are siblings
(`.../T`, `.../O`), so `../O` from the target root is the canary. `ctx.outside` is the canary's
absolute path as the restoring `tar` sees it (e.g. `/h/O` inside a pod); `case.setup(target, link)`
(if any) prepares the target folder before the restore (`target` is a host Path, `link` the text a
symlink to the canary should have). Expectation for every case: the restore is refused (non-zero
exit, one line naming `case.expect`), and nothing at all is written into the canary folder.
Members are built deterministically with Python's tarfile (pax format, fixed mtimes).
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ALLOW = "--allow-outside-symlinks"
DEEP = 16_000  # components in the deep-path cases


@dataclass(frozen=True)
class Ctx:
    outside: str  # the canary folder's absolute path as tar sees it


# A member spec: (kind, name, arg): kind in file/dir/sym/hard/char/block/fifo; name as stored; arg the
# data (file) or link text (sym/hard); a callable arg gets the Ctx (links to the canary's abs path).
Spec = tuple


@dataclass(frozen=True)
class Case:
    name: str
    members: tuple[Spec, ...]
    expect: str  # a phrase the one-line refusal contains
    flags: tuple[str, ...] = ()
    setup: Callable[[Path, str], None] | None = None  # prepare the target folder (host path, link text)
    first: tuple[Spec, ...] = ()  # an archive restored before this one (it is allowed: with flags)
    notes: str = ""
    tags: tuple[str, ...] = field(default=())


def _abs(rel: str) -> Callable[[Ctx], str]:
    return lambda ctx: ctx.outside + ("/" + rel if rel else "")


def _disk_link(name: str) -> Callable[[Path, str], None]:
    def setup(target: Path, link: str) -> None:
        target.mkdir(parents=True, exist_ok=True)
        os.symlink(link, target / name)
    return setup


def _deep(n: int) -> str:
    return "/".join(["d"] * n)


FINE = ("file", "./fine.txt", b"fine\n")
BELOW = "below a symlink"
OUT = "symlink that points outside"

CASES: list[Case] = [
    # --- names ------------------------------------------------------------------------------------
    Case("absolute-path", (FINE, ("file", lambda c: c.outside + "/pwned", b"x")), "absolute path"),
    Case("dotdot", (FINE, ("file", "../O/pwned", b"x")), "'..'"),
    Case("dotdot-inside", (FINE, ("file", "./a/../../O/pwned", b"x")), "'..'"),
    Case("dotdot-deep", (("file", "./" + "a/" * 3000 + "../" * 3001 + "O/pwned", b"x"),), "'..'"),
    Case("control-chars-in-name", (FINE, ("file", "./a\nb\x1b[2J\r/../../O/pwned", b"x")), "'..'",
         notes="the refusal names the member: still one line, no terminal escape reaches stderr"),
    Case("root-replaced-by-symlink", (("sym", "./", _abs("")), FINE), "in place of the target folder"),
    # --- symlinks that leave ------------------------------------------------------------------------
    Case("symlink-absolute", (FINE, ("sym", "./evil", _abs("")), ("file", "./evil/pwned", b"x")), OUT),
    Case("symlink-absolute-alone", (FINE, ("sym", "./venv-python", "/usr/bin/python3")), ALLOW,
         notes="harmless by itself: refused by default, naming the flag"),
    Case("symlink-relative-escape", (FINE, ("sym", "./sub/evil", "../../O"), ("file", "./sub/evil/pwned", b"x")), OUT),
    Case("symlink-dotdot-spelled", (("sym", "./evil", "./.././O"), ("file", "./evil/pwned", b"x")), OUT),
    # --- chains: a link whose text passes through another link ------------------------------------
    Case("chain-issue-9", (
        ("sym", "./s0", "."), ("sym", "./s1", "s0/.."), ("sym", "./s2", "s1/.."), ("sym", "./s3", "s2/.."),
        ("sym", "./s4", "s3/.."), ("sym", "./s5", "s4/.."), ("sym", "./up", "s5/O"),
        ("file", "./up/pwned", b"x")), "passes through another symlink"),
    Case("chain-links-only", (
        ("sym", "./s0", "."), ("sym", "./s1", "s0/.."), ("sym", "./s2", "s1/.."), ("sym", "./s3", "s2/.."),
        ("sym", "./s4", "s3/.."), ("sym", "./s5", "s4/.."), ("sym", "./up", "s5/O")),
        "passes through another symlink", notes="each text is lexically inside; together `up` is the canary: "
        "a later archive would write through it"),
    Case("chain-dot-spelling", (("sym", "./s0", "./."), ("sym", "./s1", "s0/./.."), ("sym", "./up", "s1/O"),
                                ("file", "./up/pwned", b"x")), "passes through another symlink"),
    Case("chain-slash-spelling", (("sym", "./s0", "."), ("sym", "./s1", "s0//.."), ("sym", "./up", "s1//O"),
                                  ("file", "./up//pwned", b"x")), "passes through another symlink"),
    Case("chain-link-made-later", (("sym", "./a", "b/.."), ("sym", "./b", "."), ("file", "./a/O/pwned", b"x")),
         "replaces a folder", notes="a's text was lexical when checked; b later turns it into ../"),
    Case("chain-in-subdir", (("dir", "./x/", None), ("sym", "./x/s0", ".."), ("sym", "./x/up", "s0/../O"),
                             ("file", "./x/up/pwned", b"x")), "passes through another symlink"),
    # --- members below a symlink of the same archive, every spelling ------------------------------
    Case("below-archive-link", (("sym", "./x", _abs("")), ("file", "./x/pwned", b"x")), BELOW, flags=(ALLOW,)),
    Case("below-archive-link-dot", (("sym", "./x", _abs("")), ("file", "./x/./pwned", b"x")), BELOW, flags=(ALLOW,)),
    Case("below-archive-link-slashes", (("sym", "./x", _abs("")), ("file", "x//pwned", b"x")), BELOW, flags=(ALLOW,)),
    Case("below-archive-link-no-prefix", (("sym", "x", _abs("")), ("file", "./././x/pwned", b"x")), BELOW,
         flags=(ALLOW,)),
    Case("dir-over-archive-link", (("sym", "./x", _abs("")), ("dir", "./x/", None)), BELOW, flags=(ALLOW,),
         notes="tar would chmod/chown the canary through the link"),
    Case("below-spelled-link-through-link", (("dir", "./sub/", None), ("sym", "./sub/b", "."), ("dir", "./x/", None),
                                             ("sym", "./x/./a", "../sub/b/../../O"), ("file", "./x/a/pwned", b"x")),
         BELOW, flags=(ALLOW,), notes="with the flag the link is kept, and nothing is written through it"),
    Case("below-inside-link", (("dir", "./real/", None), ("sym", "./x", "real"), ("file", "./x/a", b"x")), BELOW,
         notes="even a link that stays inside is never written through"),
    Case("deep-below-link", (("sym", "./x", _abs("")), ("file", "./x/" + _deep(DEEP) + "/pwned", b"x")), BELOW,
         flags=(ALLOW,)),
    # --- hard links ---------------------------------------------------------------------------------
    Case("hardlink-outside-dotdot", (FINE, ("hard", "./h", "../O/keep")), "hard link that points outside"),
    Case("hardlink-outside-absolute", (FINE, ("hard", "./h", _abs("keep"))), "hard link that points outside"),
    Case("hardlink-through-link", (("sym", "./x", _abs("")), ("hard", "./h", "./x/keep")), "hard link through",
         flags=(ALLOW,)),
    Case("hardlink-to-link", (("sym", "./x", _abs("keep")), ("hard", "./h", "./x")), "hard link to a symlink",
         flags=(ALLOW,)),
    Case("hardlink-through-disk-link", (FINE, ("hard", "./h", "./sub/keep")), "hard link through",
         setup=_disk_link("sub")),
    # --- devices ------------------------------------------------------------------------------------
    Case("char-device", (FINE, ("char", "./null", None)), "device node"),
    Case("block-device", (FINE, ("block", "./sda", None)), "device node"),
    # --- symlinks already on disk in the target ---------------------------------------------------
    Case("disk-link-parent", (FINE, ("dir", "./sub/", None), ("file", "./sub/pwned", b"x")),
         "symlink already in the target", setup=_disk_link("sub")),
    Case("disk-link-implied", (FINE, ("file", "./sub/pwned", b"x")), "symlink already in the target",
         setup=_disk_link("sub")),
    Case("disk-link-force", (FINE, ("file", "./sub/./pwned", b"x")), "symlink already in the target",
         flags=("--force",), setup=_disk_link("sub")),
    Case("disk-link-dir-only", (FINE, ("dir", "./sub/", None)), "symlink already in the target",
         flags=("--force",), setup=_disk_link("sub"), notes="tar would chmod the canary through it"),
    Case("disk-link-symlink-through", (FINE, ("sym", "./up", "sub/x")), "passes through another symlink",
         setup=_disk_link("sub")),
    # --- a second archive writes through what the first created ------------------------------------
    Case("second-archive", (("file", "./out/pwned", b"x"),), "symlink already in the target", flags=(ALLOW,),
         first=(("sym", "./out", _abs("")),)),
    Case("second-archive-relative", (("file", "./l/a", b"x"),), "symlink already in the target",
         first=(("dir", "./real/", None), ("sym", "./l", "real"))),
]


def _info(spec: Spec, ctx: Ctx) -> tuple[tarfile.TarInfo, bytes | None]:
    kind, name, arg = spec
    if callable(name):
        name = name(ctx)
    if callable(arg):
        arg = arg(ctx)
    info = tarfile.TarInfo(name)
    info.mtime = 1_700_000_000
    info.mode = 0o755 if kind == "dir" else 0o644
    info.uname = info.gname = "root"
    data = None
    if kind == "file":
        data = arg or b""
        info.size = len(data)
    else:
        info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE,
                     "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
        if kind in ("sym", "hard"):
            info.linkname = arg
        if kind in ("char", "block"):
            info.devmajor, info.devminor = (1, 3) if kind == "char" else (8, 0)
    return info, data


def build_members(specs, ctx: Ctx) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for spec in specs:
            info, data = _info(spec, ctx)
            # tarfile strips nothing: the name is stored exactly as spelled (x//a, ./x/./a, /abs)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def build(case: Case, ctx: Ctx) -> bytes:
    return build_members(case.members, ctx)


def build_first(case: Case, ctx: Ctx) -> bytes | None:
    return build_members(case.first, ctx) if case.first else None


def by_name(name: str) -> Case:
    return next(c for c in CASES if c.name == name)
