"""The manifest written next to every archive: `<archive>.manifest.json` (see docs/FORMAT.md).

The per-member index is spooled to a temporary file while the stream runs and copied into the
manifest at the end, so a backup of millions of files does not hold its index in memory.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from cli_recover.errors import UsageError
from cli_recover.fsutil import open_regular  # noqa: F401 - also used by readers of manifests
from cli_recover.testhooks import fault_point

FORMAT = "cli-recover/manifest"
FORMAT_VERSION = 1
SUFFIX = ".manifest.json"


def manifest_path(archive: str | os.PathLike) -> Path:
    return Path(str(archive) + SUFFIX)


def partial_path(archive: str | os.PathLike) -> Path:
    """Where the archive is written until it commits."""
    return Path(str(archive) + ".partial")


def manifest_partial_path(archive: str | os.PathLike) -> Path:
    """Where the manifest is written until it commits (after the archive, see docs/FORMAT.md)."""
    return Path(str(manifest_path(archive)) + ".partial")


def spool_path(archive: str | os.PathLike) -> Path:
    """Where a running backup spools its member index: a known name, so a job killed with -9 can
    have it removed with its other partial output."""
    archive = Path(archive)
    return archive.with_name(f".members-{archive.name}.jsonl")


def partial_outputs(archive: str | os.PathLike) -> list[Path]:
    """Every file a backup to `archive` writes before it commits: the job's to remove if it fails."""
    return [partial_path(archive), spool_path(archive), manifest_partial_path(archive)]


def _taken(archive: Path) -> bool:
    return any(os.path.lexists(p) for p in (archive, manifest_path(archive), *partial_outputs(archive)))


def _check_name_length(archive: Path) -> None:
    """Every name a backup to `archive` writes must fit the folder's limit (checked before it starts)."""
    try:
        limit = os.pathconf(archive.parent, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    longest = max(len(os.fsencode(p.name)) for p in (manifest_path(archive), *partial_outputs(archive)))
    if longest > limit:
        raise UsageError(f"the archive name {archive.name[:40]}... is too long: its files' names need "
                         f"{longest} bytes, more than the {limit} the folder allows")


def reserve_output(archive: str | os.PathLike, *, extension: str = "", unique: bool = False,
                   attempts: int = 1000) -> Path:
    """Reserve an archive name for one backup: create `<archive>.partial` exclusively (O_EXCL, 0600).

    The `.partial` exists from this moment until the archive is renamed into place, so at every
    instant either it or the archive marks the name as taken: two backups can never get one name.
    Only the process that created the `.partial` may register it (and the files derived from the
    name) as its own to remove. With `unique`, a taken name gets a `-2`, `-3`... suffix before
    `extension`; otherwise a taken name is a one-line error. Returns the reserved archive path."""
    archive = Path(archive)
    name = archive.name
    stem = name[: -len(extension)] if extension and name.endswith(extension) else name
    ext = name[len(stem):]
    for n in range(1, attempts + 1):
        candidate = archive if n == 1 else archive.with_name(f"{stem}-{n}{ext}")
        _check_name_length(candidate)
        if not _taken(candidate):
            partial = partial_path(candidate)
            try:
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                fd = None
            except OSError as exc:
                raise UsageError(f"cannot write the archive in {candidate.parent}: {exc.strerror or exc}") from None
            if fd is not None:
                os.fchmod(fd, 0o600)
                os.close(fd)
                # The .partial is ours. The archive may have appeared just before we created it (a
                # backup that committed this name a moment ago): then the name is not ours after all.
                if not os.path.lexists(candidate) and not os.path.lexists(manifest_path(candidate)):
                    return candidate
                os.unlink(partial)
        if not unique:
            if os.path.lexists(candidate):
                raise UsageError(f"{candidate} already exists; cli-recover never overwrites an archive")
            raise UsageError(f"{partial_path(candidate)} or another file of a backup to {candidate.name} exists: "
                             "a backup to it is running or was killed (see: cli-recover status; remove the "
                             "*.partial files if none runs)")
    raise UsageError(f"no free archive name like {archive} after {attempts} tries")


class MemberSpool:
    """Collects member records (JSON lines) in a temp file beside the archive."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._f = os.fdopen(fd, "w", encoding="utf-8")
        self.count = 0

    def add(self, record: dict) -> None:
        self._f.write(_dumps(record, separators=(",", ":")))
        self._f.write("\n")
        self.count += 1

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()

    def discard(self) -> None:
        try:
            self.close()
        except OSError:  # e.g. the disk is full and the buffer cannot be flushed: the file goes anyway
            pass
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def document(self, header: dict) -> ManifestDocument:
        """The manifest (header + the spooled members) for a sink to write (storage/base.Sink.commit)."""
        self.close()
        return ManifestDocument(header, self.path, done=self.discard)


class ManifestDocument:
    """A manifest ready to be written: the header and the member spool it streams from (a backup of
    millions of files never holds its index in memory)."""

    def __init__(self, header: dict, spool: str | os.PathLike | None = None, done=None):
        self.header, self.spool, self._done = header, spool, done

    def done(self) -> None:
        if self._done is not None:
            self._done()

    def write_to(self, out) -> None:
        body = _dumps(self.header, indent=1)
        assert body.endswith("}")
        out.write(body[:-1].rstrip() + ',\n "members": [')
        fault_point("commit.manifest-write")  # half of the manifest is written
        first = True
        if self.spool is not None:
            with open(self.spool, encoding="utf-8") as lines:
                for line in lines:
                    out.write("\n  " if first else ",\n  ")
                    out.write(line.rstrip("\n"))
                    first = False
        out.write("\n ]\n}\n")


# What the manifest's `stream.command` may show of the producer's argv. A value is hidden when it
# follows or is glued to a secret-looking option (`--password X`, `--token=X`), is a secret-looking
# environment assignment (`PGPASSWORD=X`, `MYSQL_PWD=X`), holds URL credentials (`scheme://u:X@`),
# or is one of the values the provider marked secret (`BackupRequest.secrets`). The argv shape stays,
# so readers of the field keep working; what reaches the producer is never changed.
_ENV_ASSIGN = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)


def _secret_env(name: str) -> bool:
    """PGPASSWORD, AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN: a part that ends with a secret word."""
    return any(part.endswith(("PASSWORD", "PASSWD", "PWD", "SECRET", "TOKEN", "KEY"))
               for part in name.upper().split("_") if part) and name != "PWD"  # PWD: the shell's folder


def redact_command(argv: list[str], secrets: tuple[str, ...] | list[str] = ()) -> list[str]:
    from cli_recover.engine.model import REDACTED, is_secret_name, redact_argv, redact_text

    out = []
    for arg in redact_argv([str(a) for a in argv]):
        m = _ENV_ASSIGN.match(arg)
        if m and m.group(2) and (is_secret_name(m.group(1)) or _secret_env(m.group(1))):
            arg = f"{m.group(1)}={REDACTED}"
        out.append(redact_text(arg, [s for s in secrets if s]))
    return out


def _dumps(obj, **kwargs) -> str:
    """JSON as UTF-8 text. A file name that is not valid UTF-8 arrives as lone surrogates
    (surrogateescape), which UTF-8 cannot encode: such records are written with \\u escapes, which
    json.load turns back into the same surrogates (hence the same bytes on disk)."""
    text = json.dumps(obj, ensure_ascii=False, **kwargs)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(obj, ensure_ascii=True, **kwargs)
    return text


def load_manifest(path: str | os.PathLike, store=None, name: str | None = None) -> dict:
    """The manifest at path; with a store (storage/base.ArchiveStore), object `name` read from it
    (path is then only what the messages call it). Regular files only (open_regular)."""
    try:
        if store is not None:
            with store.load(name) as raw:
                data = json.loads(raw.read().decode("utf-8"))
        else:
            with open_regular(path, "r", encoding="utf-8") as f:
                data = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"no manifest at {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"cannot read manifest {path}: {exc}") from None
    return _checked(data, path)


MEMBERS_MARK = b',\n "members": ['  # where the header this tool writes ends (ManifestDocument.write_to)
HEADER_LIMIT = 1 << 20


def load_manifest_header(path: str | os.PathLike, store=None, name: str | None = None) -> dict:
    """The manifest without its member index, read from the first HEADER_LIMIT bytes: memory does not
    grow with the index (list, the app's History). A manifest not laid out as this tool writes it
    (hand-edited) is read whole. With a store: object `name` in it, as load_manifest."""
    try:
        with (store.load(name) if store is not None else open_regular(path)) as f:
            head = f.read(HEADER_LIMIT)
    except FileNotFoundError:
        raise UsageError(f"no manifest at {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read manifest {path}: {exc.strerror or exc}") from None
    cut = head.find(MEMBERS_MARK)
    try:
        data = json.loads(head[:cut] + b"}") if cut > 0 else None
    except ValueError:
        data = None
    return load_manifest(path, store, name) if data is None else _checked(data, path)


def _checked(data, path) -> dict:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"{path} is not a cli-recover manifest")
    problem = _shape_problem(data)
    if problem:
        raise UsageError(f"{path} is not a cli-recover manifest: {problem}")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise UsageError(
            f"{path} has manifest format {data.get('format_version')}, newer than this cli-recover understands"
        )
    return data


def _shape_problem(data: dict) -> str | None:
    """What a hand-edited manifest broke that readers rely on (None when the shape is fine)."""
    version = data.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        return "'format_version' must be a whole number"
    for key in ("codec", "bytes", "sha256"):
        if not isinstance(data.get(key), dict):
            return f"'{key}' must be an object"
    for key in ("source", "stream", "options"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"'{key}' must be an object"
    if not isinstance((data.get("stream") or {}).get("member_prefix", ""), str):
        return "'stream.member_prefix' must be a string"
    members = data.get("members")
    if members is not None and not (isinstance(members, list) and all(
            isinstance(m, dict) and isinstance(m.get("path"), str) and isinstance(m.get("type"), str) for m in members)):
        return "'members' must be a list of objects with a path and a type"
    for m in members or ():
        for key, kinds in _MEMBER_FIELDS:
            value = m.get(key)
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
                return f"member {m['path'][:100]!r}: '{key}' has the wrong type"
    return None


_MEMBER_FIELDS = (("link", str), ("sha256", str), ("size", int), ("mode", int), ("mtime", (int, float)),
                  ("uid", int), ("gid", int))


def find_manifest(archive: str | os.PathLike) -> dict | None:
    path = manifest_path(archive)
    return load_manifest(path) if path.exists() else None
