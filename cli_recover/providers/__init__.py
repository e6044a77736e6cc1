"""Providers: one per kind of data (filesystem, postgres, ...), discovered through the entry-point
group `cli_recover.providers`. Listing names reads package metadata only; a provider module is
imported when it is used, and a plugin that fails to load is reported in one line."""

from __future__ import annotations

GROUP = "cli_recover.providers"


def _entry_points():
    from importlib.metadata import entry_points

    eps = {}
    for ep in entry_points(group=GROUP):
        eps.setdefault(ep.name, ep)
    return eps


def provider_names() -> list[str]:
    """Names of every installed provider, without importing any of them."""
    return sorted(_entry_points())


def load_provider(name: str):
    """An instance of the named provider."""
    from cli_recover.errors import RecoverError, UsageError

    eps = _entry_points()
    if name not in eps:
        known = ", ".join(sorted(eps)) or "none installed"
        raise UsageError(f"unknown provider {name!r} (installed: {known})")
    try:
        cls = eps[name].load()
        provider = cls()
    except Exception as exc:  # noqa: BLE001 - a third-party plugin may fail in any way
        raise RecoverError(f"provider plugin {name!r} ({eps[name].value}) failed to load: {exc}") from None
    for attr in ("name", "stream_type", "add_backup_arguments", "backup_plan", "restore_plan"):
        if not hasattr(provider, attr):
            raise RecoverError(f"provider plugin {name!r} is not a valid provider: it has no {attr!r}")
    return provider
