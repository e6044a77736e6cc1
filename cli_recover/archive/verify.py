"""verify: re-hash the stored file against the manifest, decompress, re-hash every member against
the index, and report what differs. Also the integrity/safety checks restore runs before extracting."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

from cli_recover.archive.codecs import detect_codec
from cli_recover.archive.manifest import manifest_path
from cli_recover.archive.pipeline import Progress, hash_file, stream_archive
from cli_recover.archive.tarindex import Member, TarIndexer, check_safe
from cli_recover.errors import IntegrityError, RecoverError, UsageError

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


def scan_members(archive: Path, codec: str, cancel: threading.Event | None = None) -> list[Member]:
    """For an archive without a manifest: a full pass (decompress + parse) before extracting, so
    damage or an unsafe member is found before anything is written."""
    members: list[Member] = []
    symlinks: set[str] = set()
    indexer = TarIndexer(on_member=members.append, on_header=lambda m: check_safe(m, symlinks), hash_content=False)
    stream_archive(archive, codec, indexer.feed, cancel=cancel)
    indexer.finish()
    return members


def check_safety(members: list[Member]) -> None:
    symlinks: set[str] = set()
    for m in members:
        check_safe(m, symlinks)


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
    """Which of paths (relative to root) already exist on the target."""
    if target.kind == "local":
        return [p for p in paths if os.path.lexists(os.path.join(root, p))]
    script = ('cd "$1" 2>/dev/null || exit 0; while IFS= read -r p; do '
              'if [ -e "$p" ] || [ -L "$p" ]; then printf "%s\\n" "$p"; fi; done')
    proc = target.spawn(["sh", "-c", script, "sh", root], stdin=True)
    out = bytearray()
    reader = threading.Thread(target=lambda: _drain(proc, out), daemon=True)
    reader.start()
    for p in paths:
        if "\n" not in p:
            proc.write((p + "\n").encode("utf-8", "surrogateescape"))
    proc.close_stdin()
    code = proc.wait()
    reader.join()
    if code != 0:
        raise RecoverError(f"cannot check existing files on {target.describe()}: {proc.stderr_text().strip()}")
    return [line for line in out.decode("utf-8", "surrogateescape").splitlines() if line]


def _drain(proc, out: bytearray) -> None:
    while True:
        data = proc.read(65536)
        if not data:
            return
        out += data
