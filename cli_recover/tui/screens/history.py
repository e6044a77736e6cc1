"""The History screen: the archive catalog (from the manifests in the backups folder) and finished
jobs, a filter by text/state/kind/namespace, details (manifest: sizes, codec, checksums, file
count, source), verify an archive as a background job, and restore (the Restore dialog).

Filter syntax (`/`, or the keys below rewrite it): words match ids, names, targets and providers;
`state:failed`, `kind:backup`, `ns:default` narrow jobs (and `ns:` archives, by their source pod).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from cli_recover.engine.model import (
    ACTIVE_STATES,
    FINAL_STATES,
    describe_target,
    iso,
    parse_iso,
)
from cli_recover.errors import RecoverError
from cli_recover.tui.widgets.cells import STATE_STYLES, short_path, short_target, split_pod_target
from cli_recover.tui.widgets.errors import PlainNotify, report
from cli_recover.tui.widgets.table import Column, VirtualTable
from cli_recover.units import human_bytes, human_duration

REFRESH_SECONDS = 2.0
KINDS = ("backup", "restore", "verify")
FILTER_KEYS = ("state", "kind", "ns")

ARCHIVE_COLUMNS = [
    Column("NAME", width=31), Column("CREATED (UTC)", width=16), Column("SOURCE", width=24),
    Column("CODEC", width=7), Column("SIZE", width=9, justify="right"), Column("FILES", width=5, justify="right"),
    Column("VERIFIED", width=9),
]
JOB_COLUMNS = [
    Column("ID", width=12), Column("STATE", width=9), Column("KIND", width=7), Column("PROVIDER", width=10),
    Column("TARGET", width=30), Column("SIZE", width=9, justify="right"), Column("FINISHED (UTC)", width=16),
    Column("AGE", width=5),
]


# --- filtering ---------------------------------------------------------------------------------


@dataclass
class Filter:
    words: list[str] = field(default_factory=list)
    state: str | None = None
    kind: str | None = None
    ns: str | None = None

    @classmethod
    def parse(cls, text: str) -> Filter:
        out = cls()
        for token in (text or "").split():
            key, sep, value = token.partition(":")
            if sep and key.lower() in FILTER_KEYS and value:
                setattr(out, key.lower(), value.lower())
            else:
                out.words.append(token.lower())
        return out

    def _words_match(self, haystack: str) -> bool:
        hay = haystack.lower()
        return all(w in hay for w in self.words)

    def job(self, s: dict) -> bool:
        if self.state and not (s.get("state") or "").startswith(self.state):
            return False
        if self.kind and not (s.get("kind") or "").startswith(self.kind):
            return False
        if self.ns and job_namespace(s) != self.ns:
            return False
        return self._words_match(" ".join(str(s.get(k) or "") for k in ("id", "kind", "provider", "target",
                                                                         "state", "error")))

    def archive(self, e: dict) -> bool:
        if self.ns and archive_namespace(e) != self.ns:
            return False
        if self.kind and not "backup".startswith(self.kind):
            return False
        src = e.get("source") or {}
        return self._words_match(" ".join(str(x or "") for x in (e.get("name"), e.get("provider"), e.get("codec"),
                                                                 src.get("target"), src.get("path"),
                                                                 e.get("status"))))


def set_filter_term(text: str, key: str, value: str | None) -> str:
    """The filter text with `key:` replaced by `key:value` (or removed)."""
    kept = [t for t in (text or "").split() if t.partition(":")[0].lower() != key or not t.partition(":")[1]]
    if value:
        kept.append(f"{key}:{value}")
    return " ".join(kept)


def cycle(values: list[str], current: str | None) -> str | None:
    """The value after current in values, then None (no filter), then the first again."""
    if not values:
        return None
    if current not in values:
        return values[0]
    i = values.index(current)
    return values[i + 1] if i + 1 < len(values) else None


def job_namespace(s: dict) -> str | None:
    pod = split_pod_target(s.get("target"))
    return pod[1] if pod else None


def archive_source(e: dict) -> tuple[str | None, str | None, str | None, str | None]:
    """(namespace, pod, container, context) of the pod an archive was made from (all None for local)."""
    src = e.get("source") or {}
    if src.get("kind") != "pod":
        return None, None, None, None
    parts = str(src.get("target") or "").rsplit("/", 3)
    if len(parts) < 3:
        return None, None, None, None
    if len(parts) == 3:
        parts = ["", *parts]
    return parts[1], parts[2], parts[3], parts[0] or None


def archive_namespace(e: dict) -> str | None:
    return archive_source(e)[0]


def day_time(value: str | float | None) -> str:
    """`2026-11-26 12:40` (UTC) from an ISO string or epoch seconds."""
    if value is None:
        return "-"
    ts = parse_iso(value) if isinstance(value, str) else value
    return iso(ts)[:16].replace("T", " ") if ts is not None else str(value)


def source_text(e: dict) -> str:
    src = e.get("source") or {}
    ns, pod, _c, _ctx = archive_source(e)
    if ns:
        return f"{ns}/{pod}:{src.get('path') or ''}"
    return f"local:{src.get('path')}" if src.get("path") else "-"


def verify_states(summaries: list[dict]) -> dict[str, dict]:
    """archive path -> the newest verify job's summary."""
    out: dict[str, dict] = {}
    for s in summaries:  # newest first
        if s.get("kind") == "verify" and s.get("target") and s["target"] not in out:
            out[s["target"]] = s
    return out


VERIFIED_TEXT = {"succeeded": ("ok", "green"), "failed": ("FAILED", "bold red"), "running": ("running", "yellow"),
                 "queued": ("queued", "cyan"), "cancelled": ("-", "")}


def archive_cells(e: dict, verify: dict | None) -> tuple:
    status = e.get("status")
    if status != "ok":
        check = (status or "?", "red")
    elif verify is None:
        check = ("-", "dim")
    else:
        check = VERIFIED_TEXT.get(verify.get("state"), ("-", ""))
    codec = e.get("codec") or "-"
    if e.get("level") is not None and codec not in ("-", "none"):
        codec = f"{codec} {e['level']}"
    files = e.get("members")
    return (e.get("name") or Path(e.get("archive") or "?").name, day_time(e.get("created")), source_text(e), codec,
            human_bytes(e.get("stored_bytes")), "-" if files is None else str(files), check)


def history_job_cells(s: dict, now: float, backups_dir: Path | None) -> tuple:
    state = s.get("state") or "-"
    done = s.get("done")
    created, finished = s.get("created_ts"), s.get("finished_ts")
    return (s.get("id") or "-", (state, STATE_STYLES.get(state, "")), s.get("kind") or "-", s.get("provider") or "-",
            short_target(s.get("target"), backups_dir), human_bytes(done) if done else "-", day_time(finished),
            human_duration(now - created) if created else "-")


# --- details ------------------------------------------------------------------------------------


class _Grid(Table):
    """Label/value rows; str values are shown as is (never read as markup)."""

    def add_row(self, *cells, **kw) -> None:
        super().add_row(*(Text(c) if isinstance(c, str) else c for c in cells), **kw)


def _grid() -> Table:
    grid = _Grid.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def archive_details(e: dict, manifest: dict | None, verify: dict | None) -> Table:
    grid = _grid()
    name = e.get("name") or Path(e.get("archive") or "?").name
    grid.add_row("archive", Text(name, style="bold"))
    if manifest is None:
        grid.add_row("status", Text(e.get("status") or "no manifest", style="red"))
        grid.add_row("size", human_bytes(e.get("stored_bytes")))
        return grid
    src = manifest.get("source") or {}
    grid.add_row("source", f"{src.get('target') or '-'}:{src.get('path') or ''}  ({manifest.get('provider') or '-'})")
    took = manifest.get("duration_seconds")
    grid.add_row("created", f"{manifest.get('created') or '-'}" + (f"  ·  took {took:.1f}s" if took else ""))
    codec = manifest.get("codec") or {}
    b = manifest.get("bytes") or {}
    ratio = f"  ·  ratio {b['raw'] / b['stored']:.2f}x" if b.get("raw") and b.get("stored") else ""
    level = f" level {codec['level']}" if codec.get("level") is not None else ""
    grid.add_row("size", f"{human_bytes(b.get('stored'))} stored ({codec.get('name') or '-'}{level})  ·  "
                         f"{human_bytes(b.get('raw'))} tar stream{ratio}")
    kinds: dict[str, int] = {}
    for m in manifest.get("members") or []:
        kinds[m.get("type", "other")] = kinds.get(m.get("type", "other"), 0) + 1
    order = ("file", "dir", "symlink", "hardlink")
    counts = [f"{kinds[k]} {k}{'s' if kinds[k] != 1 else ''}" for k in order if kinds.get(k)]
    counts += [f"{n} {k}" for k, n in sorted(kinds.items()) if k not in order]
    grid.add_row("members", f"{manifest.get('members_count', '?')}: {', '.join(counts) or 'none'}  ·  "
                            f"content {human_bytes(b.get('content'))}")
    sha = manifest.get("sha256") or {}
    grid.add_row("sha256", f"{sha.get('stored') or '-'}  (archive)")
    grid.add_row("", f"{sha.get('raw') or '-'}  (tar stream)")
    if verify is None:
        check = Text("never verified (v verifies it)", style="dim")
    else:
        label, style = VERIFIED_TEXT.get(verify.get("state"), (verify.get("state") or "-", ""))
        check = Text(f"{label} (job {verify['id']}, {day_time(verify.get('finished_ts') or verify.get('created_ts'))})",
                     style=style)
        if verify.get("state") == "failed" and verify.get("error"):
            check.append(f": {verify['error']}")
    grid.add_row("verified", check)
    warnings = manifest.get("warnings") or []
    if warnings:
        grid.add_row("warnings", Text(f"{len(warnings)}: {warnings[0]}", style="yellow"))
    return grid


def job_details(rec: dict, now: float, backups_dir: Path | None) -> Table:
    grid = _grid()
    state = rec.get("state") or "-"
    head = Text(f"{rec.get('id')}  ", style="bold")
    head.append(state, style=STATE_STYLES.get(state, ""))
    head.append(f"  {rec.get('kind') or '-'}" + (f" ({rec['provider']})" if rec.get("provider") else ""))
    grid.add_row("job", head)
    target = describe_target(rec.get("target"))
    grid.add_row("target", short_path(target, backups_dir) if rec.get("kind") == "verify" else target)
    created, started, finished = (parse_iso(rec.get(k)) for k in ("created", "started", "finished"))
    when = f"{day_time(created)}" + (f"  ·  {human_duration(now - created)} ago" if created else "")
    if started and finished:
        when += f"  ·  took {human_duration(finished - started)}"
    grid.add_row("created", when)
    result = rec.get("result") or {}
    if rec.get("archive"):
        grid.add_row("archive", short_path(rec["archive"], backups_dir))
    options = rec.get("options") or {}
    if rec.get("kind") == "restore" and options.get("archive"):
        grid.add_row("archive", short_path(options["archive"], backups_dir))
        picks = options.get("include") or []
        grid.add_row("restored", (", ".join(p.removeprefix("./") for p in picks) if picks else "everything")
                     + ("  ·  --force" if options.get("force") else ""))
    if result.get("raw_bytes") is not None and rec.get("kind") == "backup":
        grid.add_row("size", f"{result.get('members', '?')} members, {human_bytes(result['raw_bytes'])} -> "
                             f"{human_bytes(result.get('stored_bytes'))} ({result.get('compression')})")
    elif result.get("members") is not None and rec.get("kind") == "restore":
        grid.add_row("size", f"{result['members']} members, {human_bytes(result.get('bytes'))}")
    elif result.get("members_checked") is not None:
        grid.add_row("result", f"OK, {result['members_checked']} members checked")
    if rec.get("error"):
        grid.add_row("error", Text(str(rec["error"]), style="red"))
    if rec.get("warnings"):
        grid.add_row("warnings", Text(str(rec["warnings"]), style="yellow"))
    return grid


# --- the screen --------------------------------------------------------------------------------


class HistoryScreen(PlainNotify, Screen):
    """Archives and finished jobs; filter, details, verify and restore."""

    DEFAULT_CSS = """
    HistoryScreen { layout: vertical; }
    HistoryScreen .history-title { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    HistoryScreen #history-archives { height: 1fr; min-height: 4; }
    HistoryScreen #history-jobs { height: 1fr; min-height: 4; }
    HistoryScreen #history-details { height: 10; padding: 0 1; border-top: solid $primary; }
    """

    BINDINGS = [
        Binding("v", "verify", "Verify", id="history.verify", tooltip="Verify the archive (background job)"),
        Binding("r", "restore", "Restore", id="history.restore", tooltip="Restore the archive into a pod"),
        Binding("s", "cycle_state", "State", id="history.state", tooltip="Filter by state (cycles)"),
        Binding("k", "cycle_kind", "Kind", id="history.kind", tooltip="Filter by kind (cycles)"),
        Binding("n", "cycle_namespace", "Namespace", id="history.namespace",
                tooltip="Filter by namespace (cycles)"),
        Binding("ctrl+r", "refresh", "Refresh", id="history.refresh", tooltip="Reload archives and jobs now"),
        Binding("tab", "switch_table", "Archives/Jobs", id="history.switch", tooltip="Switch between the tables"),
    ]

    def __init__(self, services, *, refresh_seconds: float = REFRESH_SECONDS, name: str | None = None,
                 id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.services = services
        self.refresh_seconds = refresh_seconds
        self.filter_text = ""
        self._summaries: list[dict] = []
        self._catalog: list[dict] = []
        self._catalog_stamp = None
        self._finished_ids: frozenset = frozenset()
        self._verify_by_archive: dict[str, dict] = {}
        self._watch: dict[str, str] = {}  # job id -> what to say when it ends (verify jobs started here)
        self._shown_archives: list[dict] = []
        self._shown_jobs: list[dict] = []
        self._manifests: dict[str, tuple] = {}  # archive path -> (stamp, manifest)
        self._detail_key: tuple | None = None
        self._loading = False
        self._force_catalog = True
        self._load_error: str | None = None
        self._backups_dir: Path | None = None
        self.loaded = 0
        self._active_table = "archives"

    def compose(self) -> ComposeResult:
        yield Static("Archives", id="archives-title", classes="history-title")
        yield VirtualTable(ARCHIVE_COLUMNS, id="history-archives", empty_text="no archives yet")
        yield Static("Finished jobs", id="jobs-title", classes="history-title")
        yield VirtualTable(JOB_COLUMNS, id="history-jobs", empty_text="no finished jobs")
        yield Static("", id="history-details")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#history-archives").focus()
        self.refresh_history()
        self.set_interval(self.refresh_seconds, self.refresh_history)

    # --- loading ------------------------------------------------------------------------------

    def refresh_history(self) -> None:
        if not self._loading:
            self._loading = True
            self._load(self._force_catalog)

    @work(thread=True, group="history-load")
    def _load(self, force_catalog: bool) -> None:
        from cli_recover.archive.catalog import catalog

        try:
            store = self.services.store()
            backups = self._backups_dir or self.services.backups_dir()
            summaries = store.summaries()
            finished = frozenset(s["id"] for s in summaries if s.get("state") in FINAL_STATES)
            try:
                st = os.stat(backups)
                stamp = (st.st_mtime_ns, st.st_ino)
            except OSError:
                stamp = None
            entries = None
            if force_catalog or stamp != self._catalog_stamp or finished != self._finished_ids:
                entries = catalog(backups)
            result = (summaries, finished, entries, stamp, backups, self.services.clock(), None)
        except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
            result = (None, None, None, None, None, 0.0, f"cannot read the history: {exc}")
        self.post_message(self.Loaded(*result))

    @dataclass
    class Loaded(Message):
        """A refresh's result, posted by the load worker (`error` set when the history could not be read)."""

        bubble: ClassVar[bool] = False
        summaries: list[dict] | None
        finished: set | None
        entries: list[dict] | None
        stamp: object
        backups: Path | None
        now: float
        error: str | None = None

    def on_history_screen_loaded(self, m: Loaded) -> None:
        self._apply(m.summaries, m.finished, m.entries, m.stamp, m.backups, m.now, m.error)

    def _apply(self, summaries, finished, entries, stamp, backups, now, error) -> None:
        self._loading = False
        self.loaded += 1
        if error:
            if error != self._load_error:
                report(self, error, title="History")
            self._load_error = error
            return
        self._load_error = None
        self._force_catalog = False
        self._backups_dir = backups
        self._now = now
        self._summaries = summaries
        self._finished_ids = finished
        if entries is not None:
            self._catalog = entries
            self._catalog_stamp = stamp
        self._verify_by_archive = verify_states(summaries)
        self._announce_finished(summaries)
        self._render_tables()

    def _announce_finished(self, summaries: list[dict]) -> None:
        by_id = {s["id"]: s for s in summaries}
        for job_id, label in list(self._watch.items()):
            s = by_id.get(job_id)
            if s is None or s.get("state") in ACTIVE_STATES:
                continue
            del self._watch[job_id]
            if s.get("state") == "succeeded":
                self.notify(f"{label}: verified OK", title="Verify", timeout=8)
            else:
                report(self, f"{label}: {s.get('state')}" + (f": {s['error']}" if s.get("error") else ""),
                       title="Verify", timeout=12)

    def _render_tables(self) -> None:
        flt = Filter.parse(self.filter_text)
        archives = [e for e in self._catalog if flt.archive(e)]
        jobs = [s for s in self._summaries if s.get("state") not in ACTIVE_STATES and flt.job(s)]
        self._shown_archives, self._shown_jobs = archives, jobs
        atable = self.query_one("#history-archives", VirtualTable)
        jtable = self.query_one("#history-jobs", VirtualTable)
        atable.set_rows([e.get("archive") or "" for e in archives],
                        [archive_cells(e, self._verify_by_archive.get(e.get("archive") or "")) for e in archives],
                        widths=[c.width for c in ARCHIVE_COLUMNS])
        jtable.set_rows([s["id"] for s in jobs], [history_job_cells(s, self._now, self._backups_dir) for s in jobs],
                        widths=[c.width for c in JOB_COLUMNS])
        more = f"  ·  filter: {self.filter_text}" if self.filter_text else ""
        atable.set_empty_text("no archive matches the filter" if self.filter_text and self._catalog
                              else "no archives yet")
        jtable.set_empty_text("no finished job matches the filter" if self.filter_text else "no finished jobs")
        self.query_one("#archives-title", Static).update(
            Text(f"Archives  ·  {len(archives)} of {len(self._catalog)}{more}"))
        total = sum(1 for s in self._summaries if s.get("state") not in ACTIVE_STATES)
        self.query_one("#jobs-title", Static).update(f"Finished jobs  ·  {len(jobs)} of {total}")
        self._show_details()

    # --- filter (the app's `/` bar calls apply_filter) -----------------------------------------

    def apply_filter(self, text: str) -> None:
        self.filter_text = (text or "").strip()
        self._detail_key = None
        if self._summaries or self._catalog:
            self._render_tables()

    def filter_done(self) -> None:
        self.query_one("#history-jobs" if self._active_table == "jobs" else "#history-archives").focus()

    def _set_term(self, key: str, values: list[str]) -> None:
        current = getattr(Filter.parse(self.filter_text), key)
        value = cycle(values, current)
        self.apply_filter(set_filter_term(self.filter_text, key, value))

    def action_cycle_state(self) -> None:
        self._set_term("state", list(FINAL_STATES))

    def action_cycle_kind(self) -> None:
        self._set_term("kind", list(KINDS))

    def action_cycle_namespace(self) -> None:
        names = {job_namespace(s) for s in self._summaries} | {archive_namespace(e) for e in self._catalog}
        self._set_term("ns", sorted(n for n in names if n))

    def action_refresh(self) -> None:
        self._force_catalog = True
        self._manifests.clear()
        self._detail_key = None
        self._loading = False
        self.refresh_history()

    def action_switch_table(self) -> None:
        other = "#history-archives" if self._active_table == "jobs" else "#history-jobs"
        self.query_one(other).focus()

    # --- selection and details ----------------------------------------------------------------

    def _focused_table(self) -> str:
        """The table last focused (the filter bar may have the focus now)."""
        return self._active_table

    def selected(self) -> tuple[str, dict] | None:
        """('archive', catalog entry) or ('job', summary) under the cursor of the focused table."""
        if self._focused_table() == "jobs":
            table, rows, kind = self.query_one("#history-jobs", VirtualTable), self._shown_jobs, "job"
        else:
            table, rows, kind = self.query_one("#history-archives", VirtualTable), self._shown_archives, "archive"
        if 0 <= table.cursor < len(rows):
            return kind, rows[table.cursor]
        return None

    @on(VirtualTable.Highlighted)
    def _highlighted(self, event: VirtualTable.Highlighted) -> None:
        self._show_details()

    def on_descendant_focus(self, event) -> None:
        if isinstance(event.widget, VirtualTable):
            self._active_table = "jobs" if event.widget.id == "history-jobs" else "archives"
            self._show_details()

    def _show_details(self) -> None:
        picked = self.selected()
        pane = self.query_one("#history-details", Static)
        if picked is None:
            self._detail_key = None
            pane.update(Text("Nothing selected.", style="dim"))
            return
        kind, item = picked
        verify = self._verify_by_archive.get(item.get("archive") or "") if kind == "archive" else None
        key = (kind, item.get("archive") if kind == "archive" else item.get("id"),
               item.get("state"), verify and (verify.get("id"), verify.get("state")))
        if key == self._detail_key:
            return
        self._detail_key = key
        self._load_details(kind, item, verify, key)

    @work(thread=True, group="history-details", exclusive=True)
    def _load_details(self, kind: str, item: dict, verify: dict | None, key: tuple) -> None:
        try:
            if kind == "archive":
                manifest = self._manifest(item) if item.get("status") == "ok" else None
                body = archive_details(item, manifest, verify)
            else:
                rec = self.services.store().read(item["id"])
                body = job_details(rec, self.services.clock(), self._backups_dir)
        except Exception as exc:  # noqa: BLE001 - shown in the pane
            body = Text(f"cannot show details: {exc}", style="red")
        self.post_message(self.DetailsLoaded(key, body))

    @dataclass
    class DetailsLoaded(Message):
        """The details pane's text for the selection `key`, posted by the details worker."""

        bubble: ClassVar[bool] = False
        key: tuple
        body: object

    def on_history_screen_details_loaded(self, m: DetailsLoaded) -> None:
        self._set_details(m.key, m.body)

    def _set_details(self, key: tuple, body) -> None:
        if key == self._detail_key:
            self.query_one("#history-details", Static).update(body)

    def _manifest(self, entry: dict) -> dict | None:
        """The entry's manifest (cached while the file is unchanged). Runs in workers."""
        from cli_recover.archive.manifest import load_manifest, manifest_path

        path = manifest_path(entry["archive"])
        try:
            st = path.stat()
        except OSError:
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._manifests.get(entry["archive"])
        if cached and cached[0] == stamp:
            return cached[1]
        manifest = load_manifest(path)
        self._manifests[entry["archive"]] = (stamp, manifest)
        return manifest

    def _archive_of_selection(self) -> str | None:
        """The archive the selection stands for (an archive row, or a backup job's archive)."""
        picked = self.selected()
        if picked is None:
            self.notify("select an archive (or a backup job) first", severity="warning")
            return None
        kind, item = picked
        if kind == "archive":
            if item.get("status") == "archive missing":
                report(self, f"{item.get('name')}: the archive file is missing")
                return None
            return item["archive"]
        if item.get("kind") != "backup" or item.get("state") != "succeeded":
            self.notify("only a successful backup job has an archive; select it in Archives", severity="warning")
            return None
        return "job:" + item["id"]

    # --- verify -------------------------------------------------------------------------------

    def action_verify(self) -> None:
        archive = self._archive_of_selection()
        if archive:
            self._verify(archive)

    @work(thread=True, group="history-verify")
    def _verify(self, archive: str) -> None:
        try:
            archive = self._resolve_archive(archive)
            job_id = self.services.launch(["verify", archive])
        except Exception as exc:  # noqa: BLE001 - RecoverErrors carry the CLI's one-line message
            report(self, exc, title="Verify")
            return
        self.post_message(self.VerifyStarted(job_id, Path(archive).name))

    @dataclass
    class VerifyStarted(Message):
        """The verify worker started job `job_id` for the archive named `label`."""

        bubble: ClassVar[bool] = False
        job_id: str
        label: str

    def on_history_screen_verify_started(self, m: VerifyStarted) -> None:
        self._verify_started(m.job_id, m.label)

    def _verify_started(self, job_id: str, label: str) -> None:
        self._watch[job_id] = label
        self.notify(f"verifying {label} (job {job_id})", title="Verify", timeout=4)
        self.action_refresh()

    def _resolve_archive(self, ref: str) -> str:
        """An archive path from an archive path or `job:ID` (a backup job's record). Runs in workers."""
        if not ref.startswith("job:"):
            return ref
        rec = self.services.store().read(ref[4:])
        archive = rec.get("archive") or (rec.get("result") or {}).get("archive")
        if not archive or not Path(archive).exists():
            raise RecoverError(f"job {rec['id']} left no archive (it was removed or moved)")
        return archive

    # --- restore ------------------------------------------------------------------------------

    def action_restore(self) -> None:
        archive = self._archive_of_selection()
        if archive:
            self._open_restore(archive)

    @work(thread=True, group="history-restore")
    def _open_restore(self, ref: str) -> None:
        from cli_recover.archive.manifest import find_manifest

        try:
            archive = self._resolve_archive(ref)
            manifest = find_manifest(archive)
            if manifest is None:
                raise RecoverError(f"{Path(archive).name} has no manifest: restore it with cli-recover restore")
            if (manifest.get("stream") or {}).get("type", "tar") != "tar":
                raise RecoverError(f"{Path(archive).name} is a {manifest.get('provider')} dump; "
                                   "only file archives can be restored from here")
        except Exception as exc:  # noqa: BLE001
            report(self, exc, title="Restore")
            return
        self.post_message(self.RestoreReady(archive, manifest))

    @dataclass
    class RestoreReady(Message):
        """The restore worker found the archive and its manifest: open the Restore dialog."""

        bubble: ClassVar[bool] = False
        archive: str
        manifest: dict

    def on_history_screen_restore_ready(self, m: RestoreReady) -> None:
        self._push_restore(m.archive, m.manifest)

    def _push_restore(self, archive: str, manifest: dict) -> None:
        from cli_recover.tui.screens.restore import RestoreDialog

        def started(job_id: str | None) -> None:
            if job_id:
                self.notify(f"restore started (job {job_id})", title="Restore", timeout=5)
                show_job(self.app, self.services, job_id)

        self.app.push_screen(RestoreDialog(self.services, archive, manifest), started)


def show_job(app, services, job_id: str) -> None:
    """Bring up the Jobs screen (the app's view when it has one) with job_id selected."""
    from cli_recover.tui.screens.jobs import JobsScreen

    opener = getattr(app, "open_view", None)
    if opener is not None and opener("jobs") and isinstance(app.screen, JobsScreen):
        app.screen.select_job(job_id)
        return
    app.push_screen(JobsScreen(services, select=job_id))
