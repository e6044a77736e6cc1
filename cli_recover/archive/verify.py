"""verify: re-hash the stored file against the manifest, decompress, re-hash every member against
the index, and report what differs. Also the integrity/safety checks restore runs before extracting."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from cli_recover.archive.codecs import detect_codec
from cli_recover.archive.guard import ABSENT, DIR, LINK, OTHER, KnownDisk, LocalDisk, RestoreGuard
from cli_recover.archive.manifest import manifest_path
from cli_recover.archive.pipeline import Progress, hash_file, stream_archive
from cli_recover.archive.tarindex import Member, TarIndexer
from cli_recover.errors import IntegrityError, ProducerError, RecoverError, UsageError

MAX_LISTED = 50


def open_archive(path: str | os.PathLike) -> tuple[Path, dict | None, str]:
    """(archive path, manifest or None, codec) with one-line errors for bad input. The archive is
    looked up through the store of its folder (storage.store_for)."""
    from cli_recover.archive.codecs import codec_info
    from cli_recover.archive.manifest import load_manifest
    from cli_recover.storage import store_for

    text = str(path)
    if not text.strip():
        raise UsageError("no archive given (an empty path)")
    if "://" in text:  # a store URL: `file://` is its path, any other store is one line until it exists
        store, name = store_for(text)
        text = store.locate(name)
    archive = Path(text).expanduser()
    if str(archive).endswith(".manifest.json"):
        archive = Path(str(archive)[: -len(".manifest.json")])
    store, name = store_for(archive)
    if not name or name in (".", ".."):
        raise UsageError(f"{archive} is a folder, not an archive")
    try:
        info = store.stat(name)
    except FileNotFoundError:
        if _exists(store, name + ".partial"):
            raise UsageError(f"{archive} is incomplete (only {archive.name}.partial exists: the backup did not finish)") from None
        raise UsageError(f"no such archive: {archive}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {archive}: {exc.strerror or exc}") from None
    if info.kind == "dir":
        raise UsageError(f"{archive} is a folder, not an archive")
    if info.kind != "file":  # a FIFO or a device would block or never end
        raise UsageError(f"{archive} is not a regular file, not an archive")
    mname = name + ".manifest.json"
    manifest = load_manifest(manifest_path(archive), store, mname) if _exists(store, mname) else None
    codec = (manifest or {}).get("codec", {}).get("name") or detect_codec(str(archive))
    codec_info(codec)  # a hand-edited manifest's unknown or mistyped codec: one line, before anything runs
    return archive, manifest, codec


def _exists(store, name: str) -> bool:
    try:
        store.stat(name)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # there, but unreadable: the reader says why
    return True


def manifest_members(manifest: dict) -> list[Member]:
    prefix = (manifest.get("stream") or {}).get("member_prefix", "")
    out = []
    for m in manifest.get("members") or []:
        path = m["path"]
        out.append(Member(path=path, type=m["type"], size=m.get("size", 0), mode=m.get("mode", 0),
                          mtime=m.get("mtime", 0), link=m.get("link"), sha256=m.get("sha256"),
                          raw_name=path if path == "." and prefix else prefix + path))
    return out


def verify_archive(path: str | os.PathLike, progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> dict:
    archive, manifest, codec = open_archive(path)
    if manifest is None:
        raise UsageError(f"no manifest next to {archive} ({manifest_path(archive).name}): nothing to verify against")
    problems: list[str] = []
    expected_stored = manifest.get("sha256", {}).get("stored")
    from cli_recover.storage import store_for

    store, name = store_for(archive)
    stored_size = store.stat(name).size
    if stored_size != manifest.get("bytes", {}).get("stored"):
        problems.append(f"stored size is {stored_size} bytes, the manifest says {manifest['bytes'].get('stored')}")

    # a path can be stored more than once (`tar -r`, ACL archives): members go by (path, occurrence)
    expected: dict[tuple[str, int], Member] = {}
    copies: dict[str, int] = {}
    for m in manifest_members(manifest):
        copies[m.path] = copies.get(m.path, 0) + 1
        expected[(m.path, copies[m.path] - 1)] = m
    seen: set[tuple[str, int]] = set()
    occurrences: dict[str, int] = {}
    changed: list[str] = []
    extra: list[str] = []
    raw_hash, stored_hash = hashlib.sha256(), hashlib.sha256()

    def on_member(m: Member) -> None:
        key = (m.path, occurrences.get(m.path, 0))
        occurrences[m.path] = key[1] + 1
        want = expected.get(key)
        if want is None:
            extra.append(m.path)
            return
        seen.add(key)
        diffs = []
        if want.type != m.type:
            diffs.append(f"type {m.type} != {want.type}")
        if want.type == "file" and want.size != m.size:
            diffs.append(f"size {m.size} != {want.size}")
        if want.sha256 and m.sha256 != want.sha256:
            diffs.append("content sha256 differs")
        if (want.link or None) != (m.link or None):
            diffs.append("link target differs")
        if diffs:
            changed.append(f"{m.path}: {', '.join(diffs)}")

    is_tar = (manifest.get("stream") or {}).get("type", "tar") == "tar"
    indexer = TarIndexer(on_member=on_member) if is_tar else None

    def sink(chunk: bytes) -> None:
        raw_hash.update(chunk)
        if indexer is not None:
            indexer.feed(chunk)

    raw = 0
    stream_error = None
    try:
        raw = stream_archive(archive, codec, sink, progress=progress, cancel=cancel, stored_hash=stored_hash)
        if indexer is not None:
            indexer.finish()
    except IntegrityError as exc:
        stream_error = str(exc)
        problems.append(stream_error)
    if stream_error is None or "truncated" in stream_error or "corrupt" in stream_error:
        # stored hash: complete the hash over any bytes the stream did not get to
        pass
    stored_digest = stored_hash.hexdigest() if stream_error is None else hash_file(archive)[0]
    if stored_digest != expected_stored:
        problems.insert(0, "stored file sha256 differs from the manifest (the archive file was changed or damaged)")
    if stream_error is None:
        if raw != manifest.get("bytes", {}).get("raw"):
            problems.append(f"raw stream is {raw} bytes, the manifest says {manifest['bytes'].get('raw')}")
        if raw_hash.hexdigest() != manifest.get("sha256", {}).get("raw"):
            problems.append("raw tar stream sha256 differs from the manifest")
    missing = [key[0] for key in expected if key not in seen] if (is_tar and stream_error is None) else []
    for label, items in (("changed", changed), ("missing", missing), ("unexpected", extra)):
        if items:
            problems.append(f"{len(items)} member(s) {label}: " + "; ".join(items[:3]) + (" ..." if len(items) > 3 else ""))
    return {
        "archive": str(archive),
        "manifest": str(manifest_path(archive)),
        "ok": not problems,
        "codec": codec,
        "stored_bytes": stored_size,
        "raw_bytes": raw if stream_error is None else None,
        "stored_sha256": stored_digest,
        "members_checked": len(seen),
        "members_expected": len(expected),
        "changed": changed[:MAX_LISTED],
        "missing": missing[:MAX_LISTED],
        "unexpected": extra[:MAX_LISTED],
        "problems": problems,
    }


def check_integrity_first(archive: Path, manifest: dict, progress: Progress | None = None,
                          cancel: threading.Event | None = None) -> None:
    """Before a restore writes anything: the stored file must be the one the manifest describes."""
    want_size = manifest.get("bytes", {}).get("stored")
    size = archive.stat().st_size
    if want_size is not None and size != want_size:
        raise IntegrityError(
            f"{archive.name} is {'truncated' if size < want_size else 'damaged'}: {size} bytes, "
            f"the manifest says {want_size}; nothing was restored"
        )
    digest, _ = hash_file(archive, progress=progress, cancel=cancel)
    if digest != manifest.get("sha256", {}).get("stored"):
        raise IntegrityError(f"{archive.name} is corrupted: its sha256 differs from the manifest; nothing was restored")


def scan_members(archive: Path, codec: str, cancel: threading.Event | None = None, *,
                 allow_outside_symlinks: bool = False) -> list[Member]:
    """For an archive without a manifest: a full pass (decompress + parse) before extracting, so
    damage or an unsafe member is found before anything is written."""
    members: list[Member] = []
    guard = RestoreGuard(allow_outside_symlinks=allow_outside_symlinks)
    indexer = TarIndexer(on_member=members.append, on_header=guard.check, hash_content=False)
    stream_archive(archive, codec, indexer.feed, cancel=cancel)
    indexer.finish()
    return members


def check_safety(members: list[Member], target=None, root: str | None = None, *,
                 allow_outside_symlinks: bool = False) -> RestoreGuard:
    """Every member through the restore guard: against the archive's own links and (given a target)
    the links already on the target's disk (lstat here; one batched `sh` query in a pod, after a
    first pass that finds which paths to ask about). Returns the guard: `guard.disk` is what the
    stream guard checks against, `guard.outside_links` the links restored with the flag."""
    guard = RestoreGuard(allow_outside_symlinks=allow_outside_symlinks)
    if target is None or target.kind != "local" or not root:
        for m in members:
            guard.check(m)
    if target is not None and root:
        disk = LocalDisk(root) if target.kind == "local" else query_disk(target, root, guard)
        guard = RestoreGuard(disk, allow_outside_symlinks=allow_outside_symlinks)
        for m in members:
            guard.check(m)
    return guard


# Reads "d<name>" (enter a child of the current folder) and "u" (back up) lines, depth first from the
# target folder; prints "<n> L|D|O" for the n-th name that is a symlink, a folder or something else.
# Never follows a link: it only enters folders that `[ -L ]` says are not links (cd -P).
_PROBE_SCRIPT = r"""
if ! cd -P "$1" 2>/dev/null; then cat >/dev/null; exit 0; fi
i=0; skip=0
while IFS= read -r line; do
  case $line in
  u) if [ "$skip" -gt 0 ]; then skip=$((skip-1)); else cd -P .. || exit 3; fi ;;
  *) i=$((i+1)); n=${line#?}
     if [ "$skip" -gt 0 ]; then skip=$((skip+1))
     elif [ -L "./$n" ]; then echo "$i L"; skip=1
     elif [ -d "./$n" ]; then echo "$i D"; cd -P "./$n" || exit 3
     elif [ -e "./$n" ]; then echo "$i O"; skip=1
     else skip=1; fi ;;
  esac
done
"""
_KINDS = {"L": LINK, "D": DIR, "O": OTHER}


def query_disk(target, root: str, guard: RestoreGuard) -> KnownDisk:
    """What is on the target's disk at every path the guard asked about, in one exec of `sh`."""
    queried: list = []
    lines: list[bytes] = []
    skip_depth = 0  # inside a name that cannot be sent (a newline): not queried, so refused if used
    for step, name, node in guard.wanted():
        if skip_depth:
            skip_depth += 1 if step == "d" else -1
            continue
        if step == "d" and "\n" in name:
            skip_depth = 1
            continue
        if step == "d":
            queried.append(node)
            lines.append(b"d" + name.encode("utf-8", "surrogateescape") + b"\n")
        else:
            lines.append(b"u\n")
    answers = _run_script(target, root, _PROBE_SCRIPT, lines, "check the target folder for symlinks")
    kinds = {}
    for line in answers:
        number, _, letter = line.partition(" ")
        if number.isdigit() and letter in _KINDS:
            kinds[int(number)] = _KINDS[letter]
    tree: dict = {}
    dirs = {id(guard.root): tree}
    for i, node in enumerate(queried, 1):
        parent = dirs.get(id(node.parent))
        if parent is None:  # below something that is not a folder: never looked up
            continue
        kind = kinds.get(i, ABSENT)
        sub = {} if kind == DIR else None
        parent[node.name] = (kind, sub)
        if sub is not None:
            dirs[id(node)] = sub
    return KnownDisk(tree)


def _run_script(target, root: str, script: str, lines: list[bytes], what: str) -> list[str]:
    """Runs `sh -c script sh root` on a pod, feeding lines on stdin; returns its output lines."""
    proc = target.spawn(["sh", "-c", script, "sh", root], stdin=True)
    out = bytearray()
    reader = threading.Thread(target=lambda: _drain(proc, out), daemon=True)
    reader.start()
    try:
        batch = bytearray()
        for line in lines:
            batch += line
            if len(batch) >= 65536:
                proc.write(bytes(batch))
                batch.clear()
        if batch:
            proc.write(bytes(batch))
    except ProducerError:
        pass  # it stopped reading: its exit status (or a missing sh) says why, below
    proc.close_stdin()
    code = proc.wait()  # a container without `sh` raises its own one line here ("no `sh` in container ...")
    reader.join()
    if code != 0:
        detail = proc.stderr_text().strip() or f"sh exited with status {code}"
        raise RecoverError(f"cannot {what} on {target.describe()}: {detail}")
    return out.decode("utf-8", "surrogateescape").splitlines()


def select_members(members: list[Member], includes: list[str], prefix: str) -> tuple[list[Member], list[str]]:
    """The members an `--include` list restores, and the extra paths that must come too: the
    targets of hard links (tar cannot create a hard link to a file it did not extract)."""
    if not includes:
        return members, []
    wanted = [i[len(prefix):] if prefix and i.startswith(prefix) else i for i in includes]
    found = dict.fromkeys(wanted, False)

    def covered(path: str) -> str | None:
        for w in wanted:
            if path == w or path.startswith(w + "/"):
                return w
        return None

    chosen = []
    for m in members:
        w = covered(m.path)
        if w is not None:
            chosen.append(m)
            found[w] = True
    missing = [w for w, ok in found.items() if not ok]
    if missing:
        raise UsageError(f"not in the archive: {', '.join(missing[:5])}")
    extra = sorted({m.link for m in chosen if m.type == "hardlink" and m.link and covered(m.link) is None})
    if extra:
        by_path = {m.path: m for m in members}
        chosen += [by_path[p] for p in extra if p in by_path]
    return chosen, extra


def existing_paths(target, root: str, paths: list[str]) -> list[str]:
    """Which of paths (relative to root) already exist on the target. A folder that does not exist
    yet has none (the script still reads all its input: the writer never sees a closed pipe)."""
    if target.kind == "local":
        return [p for p in paths if os.path.lexists(os.path.join(root, p))]
    script = ('if ! cd "$1" 2>/dev/null; then cat >/dev/null; exit 0; fi; while IFS= read -r p; do '
              'if [ -e "$p" ] || [ -L "$p" ]; then printf "%s\\n" "$p"; fi; done')
    lines = [(p + "\n").encode("utf-8", "surrogateescape") for p in paths if "\n" not in p]
    return [line for line in _run_script(target, root, script, lines, "check existing files") if line]


def _drain(proc, out: bytearray) -> None:
    while True:
        data = proc.read(65536)
        if not data:
            return
        out += data
