"""Text for table cells shared by the jobs, history, restore and schedules screens: job states,
progress bars, shortened targets and paths."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text

STATE_STYLES = {
    "queued": "bold cyan",
    "running": "bold yellow",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "magenta",
    "unreadable": "red",
}


def state_text(state: str | None) -> Text:
    return Text(state or "-", style=STATE_STYLES.get(state or "", ""))


def progress_bar_text(done: float | None, total: float | None, width: int = 8) -> Text:
    """A bar of `width` cells with eighth-cell resolution, then the percentage."""
    if not total:
        return Text("·" * width, style="dim")
    frac = max(0.0, min(1.0, (done or 0) / total))
    eighths = int(frac * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    out = Text(bar, style="green")
    out.append("·" * (width - len(bar)), style="dim")
    out.append(f" {frac * 100:3.0f}%")
    return out


def ellipsize(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def split_pod_target(text: str | None) -> tuple[str, str, str, str, str] | None:
    """(context, namespace, pod, container, path) from `describe_target` text of a pod target.

    Pod and namespace names never hold '/' or ':', a context name may: split from the right."""
    if not text or "]" not in text:
        return None
    head, _, path = text.partition("]:") if "]:" in text else (text.rstrip("]"), "", "")
    if "[" not in head:
        return None
    where, _, container = head.rpartition("[")
    parts = where.rsplit("/", 2)
    if len(parts) < 2:
        return None
    ctx = parts[0] if len(parts) == 3 else ""
    return ctx, parts[-2], parts[-1], container.rstrip("]"), path


def short_target(text: str | None, backups_dir: Path | None = None) -> str:
    """`namespace/pod:path` for pod targets, archive names for archives in the backups folder."""
    pod = split_pod_target(text)
    if pod is not None:
        _, ns, name, _, path = pod
        return f"{ns}/{name}:{path}" if path else f"{ns}/{name}"
    return short_path(text, backups_dir)


def short_path(path: str | None, backups_dir: Path | None) -> str:
    """Archive paths inside the backups folder are shown by name only."""
    if not path:
        return "-"
    if backups_dir is not None:
        try:
            return str(Path(path).relative_to(backups_dir))
        except ValueError:
            pass
    return path
