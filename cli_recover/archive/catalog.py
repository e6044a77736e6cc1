"""The catalog of archives in a folder, read from their manifests (`cli-recover list`, the app's History)."""

from __future__ import annotations

from pathlib import Path


def catalog(directory: Path) -> list[dict]:
    """Every archive in directory, from its manifest (archives without one are listed too)."""
    from cli_recover.archive.manifest import SUFFIX, load_manifest
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
                m = load_manifest(path)
            except RecoverError as exc:
                entries.append({"archive": str(directory / archive_name), "name": archive_name,
                                "status": f"bad manifest: {exc}"})
                continue
            present = archive_name in names
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
                "status": "ok" if present else "archive missing",
            })
        elif ".tar" in name and not name.endswith(".partial") and name + SUFFIX not in names:
            entries.append({"archive": str(path), "name": name, "status": "no manifest",
                            "stored_bytes": path.stat().st_size})
    entries.sort(key=lambda e: (str(e.get("created") or ""), e.get("name") or ""), reverse=True)
    return entries


def _obj(manifest: dict, key: str) -> dict:
    """A sub-object of a (possibly hand-edited) manifest; {} when it is missing or not an object."""
    value = manifest.get(key)
    return value if isinstance(value, dict) else {}
