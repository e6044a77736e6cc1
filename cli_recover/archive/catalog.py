"""The catalog of archives in a folder, read from their manifests (`cli-recover list`, the app's History)."""

from __future__ import annotations

from pathlib import Path


def catalog(directory: Path) -> list[dict]:
    """Every archive in directory, from its manifest (archives without one are listed too)."""
    from cli_recover.archive.manifest import SUFFIX, load_manifest_header
    from cli_recover.errors import RecoverError

    entries = []
    if not directory.is_dir():
        return entries
    names = {p.name for p in directory.iterdir()}
    for name in sorted(names):
        path = directory / name
        if name.endswith(SUFFIX):
            archive_name = name[: -len(SUFFIX)]
            try:
                m = load_manifest_header(path)
            except RecoverError as exc:
                entries.append({"archive": str(directory / archive_name), "name": archive_name,
                                "status": f"bad manifest: {exc}"})
                continue
            codec, size, sha = _obj(m, "codec"), _obj(m, "bytes"), _obj(m, "sha256")
            entries.append({
                "archive": str(directory / archive_name),
                "name": archive_name,
                "created": m.get("created"),
                "provider": m.get("provider"),
                "source": _obj(m, "source") or None,
                "codec": codec.get("name"),
                "level": codec.get("level"),
                "raw_bytes": size.get("raw"),
                "stored_bytes": size.get("stored"),
                "members": m.get("members_count"),
                "sha256": sha.get("stored"),
                "status": _status(directory / archive_name, size.get("stored")),
            })
        elif ".tar" in name and not name.startswith(".") and not name.endswith(".partial") and name + SUFFIX not in names:
            try:
                stored = (directory / name).stat().st_size
            except OSError:
                continue  # gone since the listing
            status = "no manifest"
            if name + SUFFIX + ".partial" in names:  # a backup between its two renames (docs/FORMAT.md)
                status = "manifest not committed yet (running or killed backup: `cli-recover status` finishes it)"
            entries.append({"archive": str(path), "name": name, "status": status, "stored_bytes": stored})
    entries.sort(key=lambda e: (str(e.get("created") or ""), e.get("name") or ""), reverse=True)
    return entries


def _status(archive: Path, stored) -> str:
    """ok, archive missing, or size mismatch: a stat, not a checksum (that is `verify`)."""
    try:
        actual = archive.stat().st_size
    except FileNotFoundError:
        return "archive missing"
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if actual != stored:
        return f"size mismatch: {actual} bytes, the manifest says {stored}"
    return "ok"


def _obj(manifest: dict, key: str) -> dict:
    """A sub-object of a (possibly hand-edited) manifest; {} when it is missing or not an object."""
    value = manifest.get(key)
    return value if isinstance(value, dict) else {}
