"""The engine stays free of textual and kubernetes: checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

HEADLESS = [
    "cli_recover.cli.main", "cli_recover.cli.archive_commands", "cli_recover.archive.pipeline",
    "cli_recover.archive.verify", "cli_recover.archive.codecs", "cli_recover.archive.tarindex",
    "cli_recover.providers.filesystem", "cli_recover.kube.local", "cli_recover.config",
]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_headless_modules_do_not_import_textual_or_kubernetes():
    imports = "\n".join(f"import {m}" for m in HEADLESS)
    loaded = _modules_after(imports + "\nfrom cli_recover.cli.main import build_parser; build_parser(['--help'])")
    assert "textual" not in loaded
    assert "kubernetes" not in loaded
    assert "cli_recover.archive.pipeline" in loaded  # the check itself ran


def test_help_does_not_import_codecs_textual_or_kubernetes():
    loaded = _modules_after("from cli_recover.cli.main import build_parser\nbuild_parser(['backup', 'filesystem'])")
    assert not {"textual", "kubernetes", "zstandard", "lz4"} & loaded


def test_listing_providers_does_not_import_them():
    loaded = _modules_after("from cli_recover.providers import provider_names\nassert 'filesystem' in provider_names()")
    assert "cli_recover.providers.filesystem" not in loaded


def test_only_tui_imports_textual():
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent / "cli_recover"
    offenders = []
    for path in root.rglob("*.py"):
        if "tui" in path.relative_to(root).parts:
            continue
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import textual", "from textual")):
                offenders.append(str(path))
    assert offenders == []
