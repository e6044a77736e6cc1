"""The catalog of archives in a folder, read from their manifests (`cli-recover list`, the app's History)."""

from __future__ import annotations

import json
from pathlib import Path


def catalog(directory: Path) -> list[dict]:
    """Every archive in directory, from its manifest (archives without one are listed too)."""
    from cli_recover.archive.manifest import SUFFIX

    entries = []
    if not directory.is_dir():
        return entries
    names = {p.name for p in directory.iterdir()}
    for name in sorted(names):
        path = directory / name
        if name.endswith(SUFFIX):
            archive_name = name[: -len(SUFFIX)]
            try:
                with open(path, encoding="utf-8") as f:
                    m = json.load(f)
            except (OSError, ValueError) as exc:
                entries.append({"archive": str(directory / archive_name), "status": f"bad manifest: {exc}"})
                continue
            present = archive_name in names
            entries.append({
                "archive": str(directory / archive_name),
                "name": archive_name,
                "created": m.get("created"),
                "provider": m.get("provider"),
                "source": m.get("source"),
                "codec": (m.get("codec") or {}).get("name"),
                "level": (m.get("codec") or {}).get("level"),
                "raw_bytes": (m.get("bytes") or {}).get("raw"),
                "stored_bytes": (m.get("bytes") or {}).get("stored"),
                "members": m.get("members_count"),
                "sha256": (m.get("sha256") or {}).get("stored"),
                "status": "ok" if present else "archive missing",
            })
        elif ".tar" in name and not name.endswith(".partial") and name + SUFFIX not in names:
            entries.append({"archive": str(path), "name": name, "status": "no manifest",
                            "stored_bytes": path.stat().st_size})
    entries.sort(key=lambda e: (e.get("created") or "", e.get("name") or ""), reverse=True)
    return entries
