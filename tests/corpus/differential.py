"""The differential: for each tar stream, GNU tar's own extraction (tree A) against the restore
path (our parser + guard + canonical re-encoding, then the same `tar -x`: tree B), tree by tree
(names, types, modes, owners, mtimes, content hashes, link targets, hard-link groups); and the
backup ingest (the member index our parser makes) against tree A.

Run as `python -m tests.corpus.differential` it classifies every archive of tests/corpus/foreign
and every case of tests/corpus/crafted.py and prints one JSON line per case (a case that does not
finish within ALARM seconds is reported as a hang). Outcomes:
  right          our restore gives GNU tar's tree
  refused-safe   we refuse with one clear line; GNU tar fails on it too, or it is a safety refusal
  refused-policy we refuse a stream that may be cut short (no end marker...), GNU tar takes what it finds
  valid-refused  we refuse an archive GNU tar extracts cleanly (no safety or integrity reason)
  wrong          both extract, the trees differ (or tar fails on our stream)
  crash          an exception that is not a one-line IntegrityError
  hang           no result within ALARM seconds
"""

from __future__ import annotations

import bz2
import hashlib
import json
import lzma
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from pathlib import Path

CORPUS = Path(__file__).parent / "foreign"
ALARM = 10
BIG = 256 << 20  # members larger than this are not hashed by the ingest check (60 GB of holes)
SAFETY_WORDS = ("device", "outside", "'..'", "absolute", "symlink", "hard link", "type tar would not",
                "data size", "longer than")
# integrity rules: a stream that may be cut short (no end marker, members after a lone zero block,
# data after the end) is not restored, though GNU tar extracts what it finds
POLICY_WORDS = ("no end-of-archive marker", "lone zero block", "after the tar end-of-archive marker")


def raw_tar(data: bytes) -> bytes:
    if data[:2] == b"\x1f\x8b":  # one gzip member (some fixtures have junk after it)
        return zlib.decompressobj(31).decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:6] == b"\xfd7zXZ\0":
        return lzma.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    if data[:4] == b"\x04\x22\x4d\x18":
        import lz4.frame

        return lz4.frame.decompress(data)
    return data


def cases() -> list[tuple[str, bytes]]:
    from tests.corpus.crafted import CASES

    out = [(str(p.relative_to(CORPUS)), raw_tar(p.read_bytes())) for p in sorted(CORPUS.rglob("*")) if p.is_file()]
    return out + [(f"crafted/{name}", raw) for name, raw in CASES.items()]


def tree(root: Path) -> dict:
    now = time.time()
    out: dict = {}
    inodes: dict = {}
    base = os.fsencode(root)
    for dirpath, dirs, files in os.walk(base):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, base)
            fresh = abs(st.st_mtime - now) < 3600  # made by tar itself (an implied parent folder)
            entry = [stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                     "now" if fresh else st.st_mtime_ns]
            if stat.S_ISREG(st.st_mode):
                entry.append(_digest(full, st.st_size))
                inodes.setdefault(st.st_ino, []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                entry.append(os.fsdecode(os.readlink(full)))
            out[rel] = entry
    for group in inodes.values():
        for rel in group:
            out[rel].append(sorted(group)[0] if len(group) > 1 else None)
    return {k.decode("utf-8", "surrogateescape"): v for k, v in out.items()}


def _digest(path: bytes, size: int) -> str:
    """sha256 of the content; of a huge sparse file, of its size and data regions (not the holes)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= BIG:
            return hashlib.file_digest(f, "sha256").hexdigest()
        h.update(b"%d" % size)
        pos = 0
        while pos < size:
            try:
                start = os.lseek(f.fileno(), pos, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(f.fileno(), start, os.SEEK_HOLE)
            f.seek(start)
            h.update(b"@%d" % start)
            h.update(f.read(end - start))
            pos = end
    return h.hexdigest()


def restore_ours(raw: bytes, dest: Path):
    """What restore does with this stream: index it (as backup/verify would), then the real
    run_restore (guard, canonical re-encoding, `tar -x -p -k`, as the filesystem provider runs it)."""
    from cli_recover.archive.pipeline import RestoreRequest, duplicate_copies, run_restore
    from cli_recover.archive.tarindex import TarIndexer
    from cli_recover.archive.tarwrite import CanonicalTar
    from cli_recover.errors import ProducerError
    from cli_recover.kube.local import LocalTarget

    members = []
    indexer = TarIndexer(on_member=members.append, hash_content=False)
    indexer.feed(raw)
    indexer.finish()
    if all(m.size <= BIG for m in members):
        members = []
        indexer = TarIndexer(on_member=members.append)
        indexer.feed(raw)
        indexer.finish()
    drop = duplicate_copies(m.path for m in members)
    archive = dest.parent / "in.tar"
    archive.write_bytes(raw)
    argv = ["tar", "-x", "-f", "-", "-C", str(dest), "-p", "-k"]
    try:
        run_restore(RestoreRequest(target=LocalTarget(), archive=archive, argv=argv, codec="none", manifest=None,
                                   check_stored=False, drop=drop))
        failure = None
    except ProducerError as exc:
        failure = str(exc)
    # the re-encoded stream says exactly what was parsed
    out = bytearray()
    writer = CanonicalTar(out.extend)
    writer.feed(raw)
    writer.finish()
    again: list = []
    reread = TarIndexer(on_member=again.append, hash_content=False)
    reread.feed(bytes(out))
    reread.finish()
    kept = [m for m in members if m.type in ("file", "dir", "symlink", "hardlink", "fifo")]
    for a, b in zip(kept, again, strict=True):
        if _fields(a) != _fields(b):
            raise AssertionError(f"the re-encoded stream differs: {_fields(a)} != {_fields(b)}")
    return members, failure


def _fields(m) -> tuple:
    ns = m.mtime_ns
    if any("\udc80" <= c <= "\udcff" for c in m.raw_name + (m.link or "") + m.uname + m.gname):
        ns = ns // 10**9 * 10**9  # a name that is not UTF-8 goes in GNU format: whole seconds
    regions = [r for r in m.sparse if r[1]] if m.sparse else None
    return (m.path, m.type, m.size, m.mode, ns, m.link, m.uid, m.gid, m.uname, m.gname, regions)


def ingest_problems(members, tree_a: dict) -> list[str]:
    """The member index (last copy of each path) against what GNU tar extracted."""
    last = {m.path: m for m in members}
    problems = []
    for path, m in last.items():
        got = tree_a.get(path)
        if got is None:
            if path != ".":
                problems.append(f"{path}: not extracted by tar")
            continue
        if m.type == "file" and got[0] == stat.S_IFREG and m.sha256 and got[5] != m.sha256:
            problems.append(f"{path}: content hash differs")
        if m.type == "symlink" and got[0] == stat.S_IFLNK and got[5] != m.link:
            problems.append(f"{path}: link differs")
        want = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "fifo": stat.S_IFIFO}.get(m.type)
        if want and got[0] != want and m.type != "file":
            problems.append(f"{path}: type differs")
    return problems


def classify(name: str, raw: bytes, work: Path) -> dict:
    from cli_recover.errors import IntegrityError

    a, b = work / "A", work / "B"
    for d in (a, b):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
    ta = subprocess.run(["tar", "-x", "-f", "-", "-C", str(a), "-p"], input=raw, capture_output=True, timeout=ALARM)
    result = {"case": name, "tar_rc": ta.returncode}
    try:
        members, failure = restore_ours(raw, b)
    except IntegrityError as exc:
        text = str(exc)
        safe = ta.returncode != 0 or type(exc).__name__ == "UnsafeMember" or any(w in text for w in SAFETY_WORDS)
        policy = any(w in text for w in POLICY_WORDS)
        outcome = "refused-safe" if safe else "refused-policy" if policy else "valid-refused"
        return {**result, "outcome": outcome, "why": text[:200],
                "one_line": "\n" not in text}
    except TimeoutError:
        raise
    except Exception:  # noqa: BLE001 - the point is to count them
        return {**result, "outcome": "crash", "why": traceback.format_exc()[-600:]}
    tree_a, tree_b = tree(a), tree(b)
    if failure is not None and not (ta.returncode != 0 and tree_a == tree_b):
        return {**result, "outcome": "wrong", "why": "tar fails on our stream: " + failure[:300]}
    if tree_a != tree_b:
        diff = sorted(k for k in set(tree_a) | set(tree_b) if tree_a.get(k) != tree_b.get(k))
        detail = "; ".join(f"{k}: tar {tree_a.get(k)} ours {tree_b.get(k)}" for k in diff[:3])
        # GNU tar failing on a member (and leaving it out or half-done) while we restore it: note it
        outcome = "wrong" if ta.returncode == 0 else "tar-failed-we-differ"
        return {**result, "outcome": outcome, "why": detail[:600]}
    problems = ingest_problems(members, tree_a) if ta.returncode == 0 else []
    return {**result, "outcome": "right", "members": len(members), "ingest": problems[:3]}


def main() -> None:
    def alarm(*_):
        raise TimeoutError("hang")

    signal.signal(signal.SIGALRM, alarm)
    only = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        for name, raw in cases():
            if only and name not in only:
                continue
            signal.alarm(ALARM)
            try:
                res = classify(name, raw, Path(tmp))
            except (TimeoutError, subprocess.TimeoutExpired):
                res = {"case": name, "outcome": "hang"}
            finally:
                signal.alarm(0)
            print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
