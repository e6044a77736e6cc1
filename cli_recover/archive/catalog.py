"""The catalog of archives in a store's top level, read from their manifests (`cli-recover list`, the
app's History). Works on any storage.base.ArchiveStore; a folder path is opened as one."""

from __future__ import annotations

import os


def catalog(where) -> list[dict]:
    """Every archive in `where` (an ArchiveStore, or a folder path), from its manifest (archives
    without one are listed too)."""
    from cli_recover.archive.manifest import SUFFIX, load_manifest_header
    from cli_recover.errors import RecoverError
    from cli_recover.storage import open_store

    store = open_store(where) if isinstance(where, (str, os.PathLike)) else where
    infos = {i.name: i for i in store.list(recursive=False)}
    entries = []
    for name in sorted(infos):
        if name.endswith(SUFFIX):
            archive_name = name[: -len(SUFFIX)]
            try:
                m = load_manifest_header(store.locate(name), store, name)
            except (RecoverError, OSError) as exc:
                entries.append({"archive": store.locate(archive_name), "name": archive_name,
                                "status": f"bad manifest: {exc}"})
                continue
            codec, size, sha = _obj(m, "codec"), _obj(m, "bytes"), _obj(m, "sha256")
            entries.append({
                "archive": store.locate(archive_name),
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
                "status": _status(store, archive_name, size.get("stored")),
            })
        elif ".tar" in name and not name.startswith(".") and not name.endswith(".partial") and name + SUFFIX not in infos:
            status = "no manifest"
            if name + SUFFIX + ".partial" in infos:  # a backup between its two renames (docs/FORMAT.md)
                status = "manifest not committed yet (running or killed backup: `cli-recover status` finishes it)"
            entries.append({"archive": store.locate(name), "name": name, "status": status,
                            "stored_bytes": infos[name].size})
    entries.sort(key=lambda e: (str(e.get("created") or ""), e.get("name") or ""), reverse=True)
    return entries


def _status(store, name: str, stored) -> str:
    """ok, archive missing, or size mismatch: a stat, not a checksum (that is `verify`)."""
    try:
        actual = store.stat(name).size
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
