"""The Jobs screen: every job in the history store (also those started by the CLI or another app),
running first, with live progress, the log of the selected job, and cancel with confirmation.

Jobs are separate processes (`cli-recover ... --background`): this screen only reads their records
and logs, and cancels through the same code path as `cli-recover cancel` (SIGTERM, then wait for the
job to record `cancelled`). Closing the app never stops them.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Log, ProgressBar, Static

from cli_recover.engine.model import ACTIVE_STATES, describe_target, parse_iso
from cli_recover.errors import RecoverError
from cli_recover.tui.widgets.cells import (  # noqa: F401 - re-exported for screens.schedules
    STATE_STYLES,
    ellipsize,
    progress_bar_text,
    short_path,
    short_target,
    split_pod_target,
    state_text,
)
from cli_recover.tui.widgets.confirm import ConfirmDialog
from cli_recover.tui.widgets.errors import PlainNotify, report
from cli_recover.units import human_bytes, human_duration

LOG_LINES = 500  # lines of a job's log kept on screen
MAX_FINISHED = 500  # finished jobs listed (every active one is; History lists them all)
REFRESH_SECONDS = 1.0


def blink_off_if_asked(screen: Screen) -> None:
    """Kept for screens.schedules: an app with `blink = False` gets steady cursors in the screen's inputs.
    Tests get steady cursors from tests/conftest.py; the screens here no longer call this."""
    if getattr(screen.app, "blink", True) is False:
        from textual.widgets import Input

        for widget in screen.query(Input):
            widget.cursor_blink = False


def read_log(path: str | None, pos: int | None) -> tuple[list[str], int, bool]:
    """(new complete lines, new position, reset?) of a job's log: its tail when pos is None."""
    from cli_recover.engine.control import copy_new_lines, log_tail

    if not path:
        return [], 0, pos is None
    if pos is None:
        lines = log_tail(path, LOG_LINES)
        try:
            size = os.path.getsize(path)
        except OSError:
            return lines, 0, True
        # log_tail returns complete and partial lines; keep the position at the last newline
        with open(path, "rb") as f:
            f.seek(max(0, size - 1))
            ends_with_newline = f.read(1) == b"\n"
        if not ends_with_newline and lines:
            partial = lines.pop()
            size -= len(partial.encode("utf-8", "replace"))
        return lines, size, True
    buf = io.StringIO()
    new_pos = copy_new_lines(path, pos, buf)
    text = buf.getvalue()
    return (text.splitlines() if text else []), new_pos, False


# --- the screen --------------------------------------------------------------------------------


# (label, key, width): cells are padded by hand (one space on the right) so 120 columns fit them all
COLUMNS = [
    ("ID", "id", 13),
    ("STATE", "state", 10),
    ("KIND", "kind", 8),
    ("PROVIDER", "provider", 11),
    ("TARGET", "target", 24),
    ("PROGRESS", "progress", 14),
    ("BYTES", "bytes", 16),
    ("RATE · ETA", "rate", 15),
    ("AGE", "age", 6),
]
TARGET_WIDTH = 23


def order_jobs(summaries: list[dict]) -> list[dict]:
    """Active jobs first, then finished ones; newest first within each group."""
    active = [s for s in summaries if s.get("state") in ACTIVE_STATES]
    done = [s for s in summaries if s.get("state") not in ACTIVE_STATES]
    key = lambda s: s.get("id") or ""  # noqa: E731
    return sorted(active, key=key, reverse=True) + sorted(done, key=key, reverse=True)


def job_cells(s: dict, now: float, backups_dir: Path | None) -> tuple:
    state = s.get("state")
    active = state in ACTIVE_STATES
    done, total = s.get("done"), s.get("total")
    if active:
        progress = progress_bar_text(done, total) if total else Text(s.get("phase") or state or "-", style="dim")
        nbytes = bytes_pair(done, total) if total else human_bytes(done or 0)
        rate = s.get("rate")
        eta = s.get("eta")
        rate_eta = (f"{human_bytes(rate)}/s" if rate else "-") + (f" {human_duration(eta)}" if eta is not None else "")
    else:
        progress = progress_bar_text(1, 1) if state == "succeeded" else Text("-", style="dim")
        nbytes = human_bytes(done) if done else "-"
        rate_eta = "-"
    age = now - s["created_ts"] if s.get("created_ts") else None
    return (s.get("id") or "-", state_text(state), s.get("kind") or "-", s.get("provider") or "-",
            ellipsize(short_target(s.get("target"), backups_dir), TARGET_WIDTH), progress, _fit(nbytes, 15),
            _fit(rate_eta, 14), human_duration(age))


def _fit(text: str, width: int) -> str:
    return ellipsize(text, width)


def bytes_pair(done: float | None, total: float | None) -> str:
    """`180.0/300.0 MiB` when both share a unit, else `900.0 KiB/1.2 MiB`."""
    a, b = human_bytes(done or 0), human_bytes(total)
    ua, ub = a.rsplit(" ", 1), b.rsplit(" ", 1)
    if len(ua) == 2 and len(ub) == 2 and ua[1] == ub[1]:
        return f"{ua[0]}/{b}"
    return f"{a}/{b}"


class JobsScreen(PlainNotify, Screen):
    """Every job, running first; the selected job's progress and log; cancel with confirmation."""

    DEFAULT_CSS = """
    JobsScreen { layout: vertical; }
    JobsScreen #jobs-title { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    JobsScreen #jobs-table { height: 1fr; min-height: 6; padding-left: 1; }
    JobsScreen #jobs-empty { height: auto; padding: 1 2; color: $text-muted; }
    JobsScreen #job-detail { height: auto; padding: 0 1; border-top: solid $primary; }
    JobsScreen #job-progress-row { height: 1; }
    JobsScreen #job-progress { width: 40; }
    JobsScreen #job-progress-text { width: 1fr; padding-left: 1; }
    JobsScreen #job-log { height: 1fr; min-height: 5; border: round $primary-darken-2; }
    """

    BINDINGS = [
        Binding("c,ctrl+d", "cancel_job", "Cancel job", id="jobs.cancel", tooltip="Stop the selected job (SIGTERM)"),
        Binding("f", "toggle_follow", "Follow log", id="jobs.follow", tooltip="Keep the log scrolled to its end"),
        Binding("ctrl+r", "refresh", "Refresh", id="jobs.refresh", tooltip="Reload jobs now"),
    ]

    def __init__(self, services, *, select: str | None = None, refresh_seconds: float = REFRESH_SECONDS,
                 name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.services = services
        self.refresh_seconds = refresh_seconds
        self._selected: str | None = select  # job id shown in the detail pane and log
        self._row_ids: list[str] = []
        self._cells: dict[str, tuple] = {}
        self._summaries: dict[str, dict] = {}
        self._log_job: str | None = None
        self._log_pos: int | None = None
        self._follow = True
        self._loading = False
        self._load_error: str | None = None
        self.loaded = 0  # completed refreshes (tests wait on it)
        self._backups_dir: Path | None = None
        self.filter_text = ""
        self._last: tuple | None = None  # (summaries, now) of the last refresh, for re-filtering

    def compose(self) -> ComposeResult:
        yield Static("Jobs", id="jobs-title")
        table = DataTable(id="jobs-table", cursor_type="row", cell_padding=0)
        yield table
        yield Static("No jobs yet. Jobs started here or with `cli-recover ... --background` appear here.",
                     id="jobs-empty")
        with Vertical(id="job-detail"):
            yield Static("", id="job-summary")
            with Horizontal(id="job-progress-row"):
                yield ProgressBar(total=100, show_eta=False, id="job-progress")
                yield Static("", id="job-progress-text")
        yield Log(id="job-log", max_lines=LOG_LINES * 4, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self.query_one("#job-progress-row").display = False
        self.query_one("#jobs-empty").display = False
        self.query_one("#job-log", Log).border_title = "log"
        table.focus()
        self.refresh_jobs()
        self.set_interval(self.refresh_seconds, self.refresh_jobs)

    # --- loading ------------------------------------------------------------------------------

    def refresh_jobs(self) -> None:
        if not self._loading:
            self._loading = True
            self._load(self._selected, self._log_job, self._log_pos)

    @work(thread=True, group="jobs-load")
    def _load(self, selected: str | None, log_job: str | None, log_pos: int | None) -> None:
        try:
            store = self.services.store()
            if self._backups_dir is None:
                self._backups_dir = self.services.backups_dir()
            summaries = store.summaries()
            now = self.services.clock()
            if selected is None and summaries:
                selected = order_jobs(summaries)[0]["id"]
            record = None
            log = ([], log_pos, False)
            if selected is not None:
                try:
                    record = store.read(selected)
                except RecoverError:
                    record = None
                if record is not None:
                    path = record.get("log") or str(store.log_path(selected))
                    log = read_log(path, None if log_job != selected else log_pos)
            message = self.Loaded(summaries, now, selected, record, log)
        except Exception as exc:  # noqa: BLE001 - shown as a notification, never a traceback
            message = self.Loaded([], 0.0, selected, None, ([], log_pos, False), f"cannot read jobs: {exc}")
        self.post_message(message)

    @dataclass
    class Loaded(Message):
        """A refresh's result, posted by the load worker (`error` set when the store could not be read)."""

        bubble: ClassVar[bool] = False
        summaries: list[dict]
        now: float
        selected: str | None
        record: dict | None
        log: tuple[list[str], int | None, bool]
        error: str | None = None

    def on_jobs_screen_loaded(self, message: Loaded) -> None:
        self._apply(message.summaries, message.now, message.selected, message.record, message.log, message.error)

    def _apply(self, summaries, now, selected, record, log, error) -> None:
        self._loading = False
        self.loaded += 1
        if error:
            if error != self._load_error:
                report(self, error, title="Jobs")
            self._load_error = error
            return
        self._load_error = None
        self._summaries = {s["id"]: s for s in summaries}
        self._last = (summaries, now)
        self._fill_table(self._visible(summaries), now)
        if self._selected is None:
            self._selected = selected
        if selected == self._selected:
            self._show_detail(record, now)
            lines, pos, reset = log
            if reset or self._log_job != selected:
                self._reset_log(selected)
            self._log_pos = pos
            if lines:
                self.query_one("#job-log", Log).write_lines(lines)
        self._update_title()

    def _visible(self, summaries: list[dict]) -> list[dict]:
        ordered = order_jobs(summaries)
        words = self.filter_text.lower().split()
        if words:
            ordered = [s for s in ordered if all(w in " ".join(str(s.get(k) or "") for k in (
                "id", "state", "kind", "provider", "target", "error")).lower() for w in words)]
        active = [s for s in ordered if s.get("state") in ACTIVE_STATES]
        return active + [s for s in ordered if s.get("state") not in ACTIVE_STATES][:MAX_FINISHED]

    def _update_title(self) -> None:
        summaries = list(self._summaries.values())
        active = sum(1 for s in summaries if s.get("state") in ACTIVE_STATES)
        title = f"Jobs  ·  {len(summaries)} total, {active} active"
        if self.filter_text:
            title += f"  ·  filter: {self.filter_text} ({len(self._row_ids)} shown)"
        if len(summaries) - active > MAX_FINISHED:
            title += f"  ·  latest {MAX_FINISHED} finished shown (:history has all)"
        if not self._follow:
            title += "  ·  log follow off"
        self.query_one("#jobs-title", Static).update(Text(title))

    def apply_filter(self, text: str) -> None:
        """`/` filter (the app's filter bar calls this as the user types)."""
        self.filter_text = (text or "").strip()
        if self._last is not None:
            self._fill_table(self._visible(self._last[0]), self._last[1])
            self._update_title()

    def _fill_table(self, ordered: list[dict], now: float) -> None:
        table = self.query_one(DataTable)
        ids = [s["id"] for s in ordered]
        self.query_one("#jobs-empty").display = not ids
        cells = {s["id"]: job_cells(s, now, self._backups_dir) for s in ordered}
        if ids != self._row_ids:
            table.clear()
            for job_id in ids:
                table.add_row(*cells[job_id], key=job_id)
            self._row_ids = ids
            if self._selected in ids:
                table.move_cursor(row=ids.index(self._selected), animate=False)
        else:
            for job_id in ids:
                old = self._cells.get(job_id)
                for i, (_, key, _w) in enumerate(COLUMNS):
                    if old is None or old[i] != cells[job_id][i]:
                        table.update_cell(job_id, key, cells[job_id][i])
        self._cells = cells

    # --- the selected job ---------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#jobs-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row != event.data_table.cursor_row:
            return  # stale: the table was rebuilt since
        job_id = event.row_key.value if event.row_key is not None else None
        if job_id and job_id != self._selected:
            self._selected = job_id
            self._reset_log(None)
            self._loading = False  # a load for the old selection is dropped when it lands
            self.refresh_jobs()

    def _reset_log(self, job_id: str | None) -> None:
        log = self.query_one("#job-log", Log)
        log.clear()
        self._log_job = job_id
        self._log_pos = None
        log.border_title = f"log {job_id}" if job_id else "log"

    def _show_detail(self, rec: dict | None, now: float) -> None:
        summary = self.query_one("#job-summary", Static)
        row = self.query_one("#job-progress-row")
        if rec is None:
            summary.update("Select a job to see its progress and log." if self._row_ids else "")
            row.display = False
            return
        state = rec.get("state")
        head = Text()
        head.append(f"{rec.get('id')}  ", style="bold")
        head.append_text(state_text(state))
        head.append(f"  {rec.get('kind') or '-'}" + (f" ({rec['provider']})" if rec.get("provider") else ""))
        if rec.get("pid") and state in ACTIVE_STATES:
            head.append(f"  pid {rec['pid']}", style="dim")
        target = describe_target(rec.get("target"))
        if rec.get("kind") == "verify":
            target = short_path(target, self._backups_dir)
        head.append(f"  {target}")
        created, finished = parse_iso(rec.get("created")), parse_iso(rec.get("finished"))
        started = parse_iso(rec.get("started"))
        lines = [head]
        when = Text(f"created {human_duration(now - created)} ago" if created else "", style="dim")
        if started and finished:
            when.append(f"  ·  took {human_duration(finished - started)}")
        elif started and state in ACTIVE_STATES:
            when.append(f"  ·  running for {human_duration(now - started)}")
        if rec.get("archive"):
            when.append(f"  ·  archive {short_path(rec['archive'], self._backups_dir)}")
        lines.append(when)
        if rec.get("error"):
            lines.append(Text(f"error: {rec['error']}", style="red"))
        summary.update(Text("\n").join(lines))
        p = rec.get("progress") or {}
        if state in ACTIVE_STATES and p.get("total"):
            row.display = True
            bar = self.query_one("#job-progress", ProgressBar)
            bar.update(total=p["total"], progress=min(p.get("done") or 0, p["total"]))
            parts = [f"{human_bytes(p.get('done'))} of {human_bytes(p['total'])}"]
            if p.get("rate"):
                parts.append(f"{human_bytes(p['rate'])}/s")
            if p.get("eta") is not None:
                parts.append(f"ETA {human_duration(p['eta'])}")
            if p.get("phase"):
                parts.append(p["phase"])
            self.query_one("#job-progress-text", Static).update("  ·  ".join(parts))
        elif state in ACTIVE_STATES:
            row.display = False
            summary.update(Text("\n").join([*lines, Text(f"{p.get('phase') or state}: "
                                                         f"{human_bytes(p.get('done') or 0)} so far")]))
        else:
            row.display = False

    @property
    def selected_job(self) -> str | None:
        return self._selected

    def select_job(self, job_id: str) -> None:
        """Show job_id (once it is listed)."""
        self._selected = job_id
        self._reset_log(None)
        if job_id in self._row_ids:
            self.query_one(DataTable).move_cursor(row=self._row_ids.index(job_id), animate=False)
        self._loading = False
        self.refresh_jobs()

    # --- actions ------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self._loading = False
        self.refresh_jobs()

    def action_toggle_follow(self) -> None:
        self._follow = not self._follow
        self._update_title()
        log = self.query_one("#job-log", Log)
        log.auto_scroll = self._follow
        if self._follow:
            log.scroll_end(animate=False)
        self.notify("log follow " + ("on" if self._follow else "off"), timeout=2)

    def action_cancel_job(self) -> None:
        job_id = self._selected
        s = self._summaries.get(job_id or "")
        if not job_id or s is None:
            self.notify("no job selected", severity="warning")
            return
        if s.get("state") not in ACTIVE_STATES:
            self.notify(f"job {job_id} is not running (it {s.get('state')})", severity="warning")
            return
        message = (f"Send SIGTERM to job {job_id}?\n{s.get('kind')} {s.get('target') or ''}\n\n"
                   "It stops, removes its partial output and is recorded as cancelled.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.notify(f"cancelling job {job_id}…", timeout=3)
                self._cancel(job_id)

        self.app.push_screen(ConfirmDialog("Cancel job", message, yes="Cancel job", no="Keep running"), answered)

    @work(thread=True, group="jobs-cancel")
    def _cancel(self, job_id: str) -> None:
        from cli_recover.engine.control import cancel_job

        try:
            self.post_message(self.Cancelled(cancel_job(job_id)))
        except RecoverError as exc:
            report(self, exc, title="Cancel")
            self.post_message(self.Cancelled(None))
        except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
            report(self, f"cannot cancel job {job_id}: {exc}", title="Cancel")
            self.post_message(self.Cancelled(None))

    @dataclass
    class Cancelled(Message):
        """The cancel worker is done; `message` says what happened (None: it failed, already reported)."""

        bubble: ClassVar[bool] = False
        message: str | None

    def on_jobs_screen_cancelled(self, message: Cancelled) -> None:
        if message.message:
            self.notify(message.message, title="Cancel")
        self.action_refresh()
