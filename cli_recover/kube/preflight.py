"""What a pod offers for backup: shell, tar (and its flavour), du, free space, database dump tools."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from cli_recover.kube.base import Target

TOOLS = (
    "sh",
    "bash",
    "tar",
    "du",
    "df",
    "gzip",
    "zstd",
    "pg_dump",
    "pg_dumpall",
    "psql",
    "mysqldump",
    "mariadb-dump",
    "mysql",
    "mongodump",
    "mongorestore",
)
DB_TOOLS = ("pg_dump", "mysqldump", "mariadb-dump", "mongodump")

_SCRIPT = r"""
for c in $TOOLS; do p=$(command -v "$c" 2>/dev/null) && echo "tool $c $p"; done
if command -v tar >/dev/null 2>&1; then
  tar --version 2>&1 | head -n 3 | sed 's/^/tarversion /'
  t=$(command -v tar); case "$(readlink -f "$t" 2>/dev/null || echo "$t")" in *busybox*) echo "tarversion BusyBox";; esac
fi
if [ -n "$1" ]; then
  if [ -d "$1" ]; then echo "path directory"; elif [ -e "$1" ]; then echo "path file"; else echo "path missing"; fi
  [ -r "$1" ] && echo "path readable"
  [ -w "$1" ] && echo "path writable"
  d="$1"; while [ ! -e "$d" ] && [ "$d" != "/" ]; do d=$(dirname "$d"); done
  df -Pk "$d" 2>/dev/null | tail -n 1 | sed 's/^/df /'
fi
"""


@dataclass
class PreflightReport:
    target: str
    path: str | None
    shell: str | None = None
    tar: str | None = None
    tar_flavour: str | None = None  # GNU, busybox, bsd, unknown
    tar_version: str | None = None
    du: str | None = None
    path_state: str | None = None  # directory, file, missing
    path_readable: bool = False
    path_writable: bool = False
    free_bytes: int | None = None
    tools: dict[str, str | None] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when a filesystem backup can run."""
        return not self.problems

    def to_dict(self) -> dict:
        out = asdict(self)
        out["ok"] = self.ok
        return out


def tar_flavour(version_text: str) -> str:
    text = version_text.lower()
    if "gnu tar" in text:
        return "GNU"
    if "busybox" in text:
        return "busybox"
    if "bsdtar" in text or "libarchive" in text:
        return "bsd"
    return "unknown"


def preflight(target: Target, path: str | None = None, timeout: float = 30.0) -> PreflightReport:
    """Probe the target with one shell script (or tar alone when it has no shell)."""
    report = PreflightReport(target=target.describe(), path=path)
    script = "TOOLS='" + " ".join(TOOLS) + "'\n" + _SCRIPT
    code, out, err = target.run(["sh", "-c", script, "sh", path or ""], timeout=timeout)
    if code == 127 and not out:
        # No shell: try tar directly (distroless images sometimes ship one).
        report.tools = {name: None for name in TOOLS}
        tcode, tout, terr = target.run(["tar", "--version"], timeout=timeout)
        if tcode != 127:
            report.tar = "tar"
            text = (tout.decode(errors="replace") + terr).strip()
            report.tar_version = text.splitlines()[0] if text else None
            report.tar_flavour = tar_flavour(text)
        report.problems.append(
            "no shell (sh) in the container: size estimates and path checks are not possible"
        )
        if not report.tar:
            report.problems.append("no tar in the container: filesystem backup and restore need it")
        return report
    versions = []
    tools: dict[str, str | None] = {name: None for name in TOOLS}
    for line in out.decode(errors="replace").splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "tool":
            name, _, where = rest.partition(" ")
            tools[name] = where
        elif kind == "tarversion":
            versions.append(rest)
        elif kind == "path":
            if rest == "readable":
                report.path_readable = True
            elif rest == "writable":
                report.path_writable = True
            else:
                report.path_state = rest
        elif kind == "df":
            fields = rest.split()
            if len(fields) >= 4 and fields[3].isdigit():
                report.free_bytes = int(fields[3]) * 1024
    report.tools = tools
    report.shell = tools.get("sh") or tools.get("bash")
    report.tar = tools.get("tar")
    report.du = tools.get("du")
    if report.tar:
        text = "\n".join(versions)
        report.tar_flavour = tar_flavour(text)
        report.tar_version = next((v for v in versions if v and "unrecognized" not in v), None)
    else:
        report.problems.append("no tar in the container: filesystem backup and restore need it")
    if path and report.path_state == "missing":
        report.problems.append(f"{path} does not exist in the container")
    elif path and not report.path_readable:
        report.problems.append(f"{path} is not readable in the container")
    if code not in (0, 127) and err.strip():
        report.problems.append(f"probe script failed: {err.strip().splitlines()[-1]}")
    return report
