"""Where archives live: the `Sink` and `ArchiveStore` seams (storage/base.py) and their
implementations (storage/local.py: a folder). `open_store(location)` is the one way from a location
string (`/path/dir`; `s3://...` later) to a store; `store_for(archive)` splits an archive path or
URL into (store of its folder, name)."""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from cli_recover.errors import UsageError
from cli_recover.storage.base import ArchiveStore, ObjectInfo, Sink, removal_order

__all__ = ["ArchiveStore", "ObjectInfo", "Sink", "open_store", "redact_location", "removal_order",
           "remove_archive_at", "store_for"]

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_SECRET_PARAM = re.compile(r"(?i)(secret|token|password|passwd|key|sig|signature|credential)")


def _scheme(location: str) -> str:
    m = _SCHEME.match(location)
    return m.group(1).lower() if m else ""


def redact_location(location: str | os.PathLike) -> str:
    """A location as it may be shown or logged: no password in the user part, no secret-looking
    query parameter (`?sig=`, `X-Amz-Credential=`). A plain path comes back unchanged."""
    text = str(location)
    if not _scheme(text):
        return text
    parts = urlsplit(text)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}:***@{host}" if ":" in user else f"{user}@{host}"
    query = urlencode([(k, "***" if _SECRET_PARAM.search(k) else v)
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def open_store(location: str | os.PathLike) -> ArchiveStore:
    """The store for a folder location (`DIR`, `file:///DIR`). Other schemes: one line, for now."""
    from cli_recover.storage.local import LocalArchiveStore

    text = str(location)
    if not text.strip():
        raise UsageError("no archive location given (an empty path)")
    scheme = _scheme(text)
    if scheme == "file":
        return LocalArchiveStore(urlsplit(text).path or "/")
    if scheme:
        raise UsageError(f"archive stores at {scheme}:// are not supported yet: {redact_location(text)}")
    return LocalArchiveStore(text)


def store_for(archive: str | os.PathLike) -> tuple[ArchiveStore, str]:
    """(store of the archive's folder, its name there) for an archive given on the command line."""
    text = str(archive)
    if not text.strip():
        raise UsageError("no archive given (an empty path)")
    if _scheme(text) and _scheme(text) != "file":
        open_store(text)  # the one-line "not supported yet"
    head, _, name = text.rstrip("/").rpartition("/")
    if _scheme(text) == "file":
        return open_store(head + "/"), name
    path = os.path.expanduser(text)
    return open_store(os.path.dirname(path) or "."), os.path.basename(path)


def remove_archive_at(archive: str | os.PathLike, log=lambda _m: None) -> list[str]:
    """Remove the archive and its manifest (manifest first, `ArchiveStore.remove_archive`) through
    the store of its location; a failure is logged as one line and stops there. Returns what went."""
    store, name = store_for(archive)
    try:
        return store.remove_archive(name)
    except OSError as exc:
        log(f"could not remove {exc.filename or archive}: {exc.strerror or exc}")
        return []
