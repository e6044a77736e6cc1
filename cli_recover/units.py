"""Sizes and durations in words for people, the same in the CLI, the app and the engine's messages.

Below every face (cli/, tui/) and the engine: it imports nothing of the project."""

from __future__ import annotations


def human_bytes(n: float | None) -> str:
    """`512 B`, `1.5 KiB`, `3.0 GiB` (binary units, one decimal above bytes); `-` for None."""
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `12m`, `2h05m`, `3d4h`, `12d`; `-` for None."""
    if seconds is None:
        return "-"
    s = int(max(0, seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s < 600 else f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600}h" if s < 10 * 86400 else f"{s // 86400}d"
