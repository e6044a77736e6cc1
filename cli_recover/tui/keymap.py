"""The user's key remapping: `$CLI_RECOVER_HOME/keymap.toml` (or `keymap.yaml` / `keymap.yml`).

Binding ids map to keys (several keys: comma-separated), either at the top level or under `[keymap]`:

    # $CLI_RECOVER_HOME/keymap.toml
    [keymap]
    quit = "ctrl+q"
    backup = "B,ctrl+b"

`?` in the app lists the keys of the current screen with their binding ids.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from cli_recover.errors import UsageError

NAMES = ("keymap.toml", "keymap.yaml", "keymap.yml")


def default_keymap_path() -> Path | None:
    """The first keymap file that exists under the data home, else None."""
    from cli_recover.config import data_home

    for name in NAMES:
        path = data_home() / name
        if path.is_file():
            return path
    return None


def load_keymap(path: str | Path) -> dict[str, str]:
    """{binding id: "key[,key...]"}; raises UsageError with a one-line reason for a bad file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read the keymap {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix == ".toml":
            doc = tomllib.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text) or {}
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise UsageError(f"cannot read the keymap {path}: {str(exc).splitlines()[0]}") from None
    except Exception as exc:  # yaml.YAMLError
        raise UsageError(f"cannot read the keymap {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise UsageError(f"the keymap {path} must map binding ids to keys")
    table = doc.get("keymap", doc)
    if not isinstance(table, dict):
        raise UsageError(f"the keymap {path}: [keymap] must map binding ids to keys")
    out: dict[str, str] = {}
    for binding_id, keys in table.items():
        if isinstance(keys, list):
            keys = ",".join(str(k) for k in keys)
        if not isinstance(keys, str) or not keys.strip():
            raise UsageError(f"the keymap {path}: {binding_id!r} must be a key such as \"ctrl+q\"")
        out[str(binding_id)] = ",".join(k.strip() for k in keys.split(",") if k.strip())
    return out
