"""The Schedules screen: every schedule with its next run and last result; add and edit with live
validation of the cron expression and a preview of the next five runs; pause/resume, run now and
delete with confirmation.

It works on the same files as `cli-recover schedule ...` (`$CLI_RECOVER_HOME/schedules/`), through
the engine; "run now" is `cli-recover schedule run NAME` (a background job with the schedule's name
in its record), so the screen and the CLI can never disagree. Times come from `services.clock`.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, Label, Static

from cli_recover.engine import schedules as sched
from cli_recover.engine.model import parse_iso
from cli_recover.errors import RecoverError
from cli_recover.tui.screens.jobs import (
    STATE_STYLES,
    ConfirmDialog,
    PlainNotify,
    blink_off_if_asked,
    ellipsize,
)

REFRESH_SECONDS = 2.0
PREVIEW_RUNS = 5

# (label, key, width)
COLUMNS = [
    ("NAME", "name", 16),
    ("STATE", "state", 9),
    ("CRON", "cron", 15),
    ("DESCRIPTION", "description", 27),
    ("NEXT RUN", "next", 22),
    ("LAST RESULT", "last", 29),
]


def run_schedule_now(name: str) -> str:
    """`cli-recover schedule run NAME` in a subprocess; returns the job id (RecoverError with the
    command's own one-line message otherwise)."""
    proc = subprocess.run([sys.executable, "-m", "cli_recover", "schedule", "run", name], capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise RecoverError(lines[-1].removeprefix("cli-recover: error: ") if lines else "the run did not start")
    return proc.stdout.strip().splitlines()[-1]


def preview(cron: str, tz: str, now: float, count: int = PREVIEW_RUNS) -> tuple[str, list[str]]:
    """(description, the next runs as text) of a valid expression; UsageError otherwise."""
    expr = sched.validate_cron(cron)
    zone = sched.validate_timezone(tz)
    runs = sched.next_runs(expr, zone, now, count)
    return sched.describe(expr), [d.strftime("%a %Y-%m-%d %H:%M" + (":%S" if d.second else "") + " %Z")
                                  for d in runs]


def _last_text(view: dict, tz: str) -> Text:
    if view.get("running_job"):
        return Text(f"running ({view['running_job']})", style=STATE_STYLES["running"])
    r = view.get("last_result")
    if not r:
        return Text("-", style="dim")
    state = r.get("state") or "?"
    out = Text(state, style=STATE_STYLES.get(state, ""))
    when = parse_iso(r.get("finished"))
    if when:
        out.append(" " + sched.format_time(when, tz).rsplit(" ", 1)[0], style="dim")
    return out


def _when(iso_time: str, tz: str) -> str:
    """A next run of the engine's schedule view, as the screen prints it."""
    return sched.format_time(datetime.fromisoformat(iso_time).timestamp(), tz)


class ScheduleEditor(PlainNotify, ModalScreen[dict | None]):
    """Add or edit a schedule. The cron expression and time zone are checked as they are typed and
    the next five runs previewed; everything else is checked on save (the backup arguments by the
    real `backup` parser). Dismisses with the fields to store, or None."""

    DEFAULT_CSS = """
    ScheduleEditor { align: center middle; }
    ScheduleEditor > Vertical {
        width: 96; height: auto; max-height: 100%; border: thick $primary; background: $surface; padding: 0 1;
    }
    ScheduleEditor #editor-title { text-style: bold; margin-bottom: 1; }
    ScheduleEditor .row { height: 3; }
    ScheduleEditor .row Label { width: 14; padding-top: 1; }
    ScheduleEditor .row Input { width: 1fr; }
    ScheduleEditor .keep Input { width: 10; }
    ScheduleEditor .keep Label { width: 14; }
    ScheduleEditor #cron-preview { height: auto; min-height: 3; padding: 0 1; margin: 0 0 1 14; }
    ScheduleEditor #editor-error { height: auto; color: $error; padding: 0 1; }
    ScheduleEditor #editor-buttons { height: auto; align-horizontal: right; }
    ScheduleEditor Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="schedule_editor.save", tooltip="Check everything and save"),
        Binding("escape", "cancel", "Cancel", id="schedule_editor.cancel", tooltip="Close without saving"),
    ]

    def __init__(self, clock, existing: dict | None = None, default_tz: str = "UTC", *,
                 kubeconfig: str | None = None, context: str | None = None) -> None:
        super().__init__()
        self.clock = clock
        self.existing = existing
        self.default_tz = default_tz
        # the app's cluster: a pod backup that names no --kubeconfig/--context gets these
        self.kubeconfig, self.context = kubeconfig, context
        self.preview_ok = False
        self.preview_text = ""

    def compose(self) -> ComposeResult:
        s = self.existing or {}
        keep = s.get("keep") or {}
        title = f"Edit schedule {s['name']}" if s else "New schedule"
        backup = shlex.join(s.get("backup") or []) if s else ""
        with Vertical():
            yield Label(title, id="editor-title")
            with Horizontal(classes="row"):
                yield Label("Name")
                yield Input(value=s.get("name", ""), placeholder="nightly-db (a-z, 0-9, -)", id="name",
                            disabled=bool(s))
            with Horizontal(classes="row"):
                yield Label("Cron")
                yield Input(value=s.get("cron", ""), placeholder="30 2 * * *  or  @daily", id="cron")
            with Horizontal(classes="row"):
                yield Label("Time zone")
                yield Input(value=s.get("timezone") or self.default_tz, placeholder="Europe/Berlin", id="timezone")
            yield Static("", id="cron-preview")
            with Horizontal(classes="row"):
                yield Label("Backup")
                yield Input(value=backup, placeholder="backup filesystem POD PATH -n NAMESPACE  |  "
                            "backup filesystem --local PATH", id="backup")
            with Horizontal(classes="row keep"):
                yield Label("Keep last")
                yield Input(value=str(keep.get("last") or ""), placeholder="0", id="keep-last", type="integer")
                yield Label("  daily")
                yield Input(value=str(keep.get("daily") or ""), placeholder="0", id="keep-daily", type="integer")
                yield Label("  weekly")
                yield Input(value=str(keep.get("weekly") or ""), placeholder="0", id="keep-weekly", type="integer")
            with Horizontal(classes="row"):
                yield Label("Notify")
                placeholder = ("unchanged: " + ", ".join(sched.redact_notify(t) for t in s.get("notify") or [])
                               if s.get("notify") else "webhook URL or command (optional)")
                yield Input(placeholder=placeholder, id="notify")
            yield Checkbox("notify after successful runs too", value=s.get("notify_on") == "always", id="always")
            yield Static("", id="editor-error")
            with Horizontal(id="editor-buttons"):
                yield Button("Cancel (esc)", id="cancel")
                yield Button("Save (ctrl+s)", id="save", variant="primary")

    def on_mount(self) -> None:
        blink_off_if_asked(self)
        self.query_one("#cron" if self.existing else "#name", Input).focus()
        self._update_preview()

    @on(Input.Changed, "#cron, #timezone")
    def _changed(self, _event: Input.Changed) -> None:
        self._update_preview()

    def _update_preview(self) -> None:
        cron = self.query_one("#cron", Input).value
        tz = self.query_one("#timezone", Input).value
        widget = self.query_one("#cron-preview", Static)
        if not cron.strip():
            self.preview_ok, self.preview_text = False, "type a cron expression: minute hour day-of-month month " \
                                                        "day-of-week, or @hourly, @daily, @weekly, @monthly"
            widget.update(Text(self.preview_text, style="dim"))
            return
        try:
            description, runs = preview(cron, tz, self.clock())
        except RecoverError as exc:
            self.preview_ok, self.preview_text = False, str(exc)
            widget.update(Text(self.preview_text, style="bold red"))
            return
        self.preview_ok = True
        self.preview_text = "\n".join([description + ", next runs:", *("  " + r for r in runs)])
        out = Text(description, style="bold green")
        out.append(", next runs:\n", style="green")
        out.append("\n".join("  " + r for r in runs))
        widget.update(out)

    def _int(self, field_id: str, label: str) -> int:
        text = self.query_one(f"#{field_id}", Input).value.strip()
        if not text:
            return 0
        try:
            value = int(text)
        except ValueError:
            raise RecoverError(f"{label} must be a whole number") from None
        if value < 0:
            raise RecoverError(f"{label} must be 0 or more")
        return value

    def collect(self) -> dict:
        """The checked fields; RecoverError (one line) for the first problem."""
        from cli_recover.engine.schedules.add import validate_backup

        name = self.existing["name"] if self.existing else sched.validate_name(self.query_one("#name", Input).value)
        cron = sched.validate_cron(self.query_one("#cron", Input).value)
        tz = sched.validate_timezone(self.query_one("#timezone", Input).value)
        keep = {"last": self._int("keep-last", "keep last"), "daily": self._int("keep-daily", "keep daily"),
                "weekly": self._int("keep-weekly", "keep weekly")}
        text = self.query_one("#backup", Input).value.strip()
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise RecoverError(f"backup arguments: {exc}") from None
        if words and words[0] != "backup":
            words = ["backup", *words]
        warnings: list[str] = []
        argv, job = validate_backup(words, warnings, kubeconfig=self.kubeconfig, context=self.context)
        notify_text = self.query_one("#notify", Input).value.strip()
        if notify_text:
            notify = [notify_text]
        else:
            notify = list((self.existing or {}).get("notify") or [])
        return {"name": name, "cron": cron, "timezone": tz, "backup": argv, "job": job, "keep": keep,
                "notify": notify, "notify_on": "always" if self.query_one("#always", Checkbox).value else "failure",
                "warnings": warnings}

    def action_save(self) -> None:
        error = self.query_one("#editor-error", Static)
        try:
            fields = self.collect()
        except RecoverError as exc:
            error.update(Text(str(exc)))
            return
        error.update("")
        self.dismiss(fields)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()


class SchedulesScreen(PlainNotify, Screen):
    """Schedules with next run and last result; add, edit, pause/resume, run now, delete."""

    DEFAULT_CSS = """
    SchedulesScreen { layout: vertical; }
    SchedulesScreen #schedules-title { height: 1; padding: 0 1; background: $boost; text-style: bold; }
    SchedulesScreen #schedules-table { height: 1fr; min-height: 6; padding-left: 1; }
    SchedulesScreen #schedules-empty { height: auto; padding: 1 2; color: $text-muted; }
    SchedulesScreen #schedule-detail { height: auto; min-height: 8; padding: 0 1; border-top: solid $primary; }
    """

    BINDINGS = [
        Binding("a", "add", "Add", id="schedules.add", tooltip="Add a schedule"),
        Binding("e", "edit", "Edit", id="schedules.edit", tooltip="Edit the selected schedule"),
        Binding("p", "toggle_pause", "Pause/Resume", id="schedules.pause", tooltip="Pause or resume the schedule"),
        Binding("r", "run_now", "Run now", id="schedules.run", tooltip="Run the backup now as a background job"),
        Binding("ctrl+d,delete", "delete", "Delete", id="schedules.delete", tooltip="Delete the schedule"),
        Binding("ctrl+r", "refresh", "Refresh", id="schedules.refresh", tooltip="Reload the schedules now"),
    ]

    def __init__(self, services, *, refresh_seconds: float = REFRESH_SECONDS, default_timezone: str | None = None,
                 name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self.services = services
        self.default_timezone = default_timezone  # for new schedules; None: this host's zone
        self.refresh_seconds = refresh_seconds
        self.views: dict[str, dict] = {}
        self._row_ids: list[str] = []
        self._selected: str | None = None
        self._loading = False
        self._scheduler: dict | None = None
        self.loaded = 0  # completed refreshes (tests wait on it)
        self.filter_text = ""
        self._now = 0.0

    def compose(self) -> ComposeResult:
        yield Static("Schedules", id="schedules-title")
        yield DataTable(id="schedules-table", cursor_type="row", cell_padding=0)
        yield Static("No schedules yet. Press a to add one (or: cli-recover schedule add NAME --cron EXPR -- "
                     "backup ...).", id="schedules-empty")
        yield Static("", id="schedule-detail")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        self.query_one("#schedules-empty").display = False
        table.focus()
        self.refresh_schedules()
        self.set_interval(self.refresh_seconds, self.refresh_schedules)

    # --- loading ------------------------------------------------------------------------------

    def refresh_schedules(self) -> None:
        if not self._loading:
            self._loading = True
            self._load()

    @work(thread=True, group="schedules-load")
    def _load(self) -> None:
        from cli_recover.engine import scheduler

        try:
            now = self.services.clock()
            store = self.services.store()
            views = sched.schedule_views(store, now, runs=PREVIEW_RUNS)
            result = (views, scheduler.holder(), now, None)
        except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
            result = ([], None, 0.0, f"cannot read schedules: {exc}")
        self.app.call_from_thread(self._apply, *result)

    def _apply(self, views: list[dict], holder: dict | None, now: float, error: str | None) -> None:
        self._loading = False
        self.loaded += 1
        if error:
            self.notify(error, severity="error", title="Schedules")
            return
        self._now = now
        self._scheduler = holder
        self.views = {v["name"]: v for v in views}
        self._fill()

    def _visible(self) -> list[dict]:
        words = self.filter_text.lower().split()
        out = []
        for v in self.views.values():
            hay = " ".join(str(v.get(k) or "") for k in ("name", "cron", "description", "timezone")).lower()
            hay += " " + " ".join(v.get("backup") or []).lower()
            if all(w in hay for w in words):
                out.append(v)
        return sorted(out, key=lambda v: v["name"])

    def _cells(self, v: dict) -> tuple:
        tz = v.get("timezone") or "UTC"
        state = "paused" if v.get("paused") else "active"
        nxt = "paused" if v.get("paused") else (
            _when(v["next_runs"][0], tz) if v.get("next_runs") else (v.get("problem") and "invalid") or "-")
        return (ellipsize(v["name"], 15), Text(state, style="dim" if state == "paused" else "green"),
                ellipsize(v["cron"], 14), ellipsize(v.get("description") or "-", 26), ellipsize(nxt, 21),
                _last_text(v, tz))

    def _fill(self) -> None:
        table = self.query_one(DataTable)
        visible = self._visible()
        ids = [v["name"] for v in visible]
        self.query_one("#schedules-empty").display = not self.views
        selected = self._selected if self._selected in ids else (ids[0] if ids else None)
        table.clear()
        for v in visible:
            table.add_row(*self._cells(v), key=v["name"])
        self._row_ids = ids
        if selected is not None:
            table.move_cursor(row=ids.index(selected), animate=False)
        self._selected = selected
        self._show_detail()
        self._update_title()

    def _update_title(self) -> None:
        paused = sum(1 for v in self.views.values() if v.get("paused"))
        title = f"Schedules  ·  {len(self.views)} total, {paused} paused  ·  scheduler "
        title += ("running" + (f" (pid {self._scheduler['pid']})" if self._scheduler.get("pid") else "")
                  if self._scheduler is not None else "not running (cli-recover scheduler start --background)")
        if self.filter_text:
            title += f"  ·  filter: {self.filter_text}"
        self.query_one("#schedules-title", Static).update(Text(title))

    def apply_filter(self, text: str) -> None:
        """`/` filter (the app's filter bar calls this as the user types)."""
        self.filter_text = (text or "").strip()
        self._fill()

    def _show_detail(self) -> None:
        widget = self.query_one("#schedule-detail", Static)
        v = self.views.get(self._selected or "")
        if v is None:
            widget.update("")
            return
        tz = v.get("timezone") or "UTC"
        keep = ", ".join(f"{k} {n}" for k, n in (v.get("keep") or {}).items() if n)
        lines = [Text.assemble((v["name"], "bold"), f"  {v['cron']}  ({v.get('description')}, {tz})")]
        lines.append(Text(f"backup:    cli-recover {' '.join(v.get('backup') or [])}"))
        target = v.get("target") or {}
        if target.get("kind") == "pod":
            lines.append(Text(f"cluster:   context {target.get('context') or '(current when it fires)'}, "
                              f"kubeconfig {target.get('kubeconfig') or '(current when it fires)'}", style="dim"))
        lines.append(Text(f"retention: {'keep ' + keep if keep else 'none (archives are kept)'}"
                          f"   notify: {', '.join(v.get('notify') or []) or '-'}"
                          + (f" (on {v.get('notify_on')})" if v.get("notify") else "")))
        if v.get("problem"):
            lines.append(Text(f"problem:   {v['problem']}", style="red"))
        elif v.get("paused"):
            lines.append(Text("next runs: paused (press p to resume)", style="dim"))
        else:
            runs = [_when(t, tz) for t in v.get("next_runs") or []]
            lines.append(Text("next runs: " + "  ·  ".join(runs[:3])))
        r = v.get("last_result") or {}
        st = v.get("state") or {}
        last = Text("last:      ")
        last.append_text(_last_text(v, tz))
        if r.get("job"):
            last.append(f"  job {r['job']}", style="dim")
        if r.get("error"):
            last.append(f"  {r['error']}", style="red")
        elif r.get("archive"):
            last.append(f"  -> {r['archive']}")
        lines.append(last)
        skips = st.get("skips") or []
        summary = f"runs:      {st.get('runs') or 0} started, {st.get('skipped') or 0} skipped"
        if skips:
            summary += f"  (last: {skips[-1].get('reason')})"
        lines.append(Text(summary, style="dim"))
        widget.update(Text("\n").join(lines))

    @on(DataTable.RowHighlighted, "#schedules-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value if event.row_key is not None else None
        if name and name != self._selected:
            self._selected = name
            self._show_detail()

    @property
    def selected(self) -> str | None:
        return self._selected

    def _need_selection(self) -> dict | None:
        v = self.views.get(self._selected or "")
        if v is None:
            self.notify("no schedule selected", severity="warning")
        return v

    # --- actions ------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self._loading = False
        self.refresh_schedules()

    def _cluster(self) -> dict:
        """The app's current kubeconfig and context (`:ctx` changes the context)."""
        return {"kubeconfig": getattr(self.services, "kubeconfig", None),
                "context": getattr(self.services, "context", None)}

    def action_add(self) -> None:
        tz = self.default_timezone or sched.local_timezone()
        self.app.push_screen(ScheduleEditor(self.services.clock, default_tz=tz, **self._cluster()), self._added)

    def _added(self, fields: dict | None) -> None:
        if not fields:
            return
        warnings = fields.pop("warnings", [])
        schedule = sched.new_schedule(fields["name"], fields["cron"], fields["timezone"], fields["backup"],
                                      keep=fields["keep"], notify=fields["notify"], notify_on=fields["notify_on"])
        schedule["job"] = fields["job"]
        try:
            sched.create(schedule)
        except RecoverError as exc:
            self.notify(str(exc), severity="error", title="Add schedule")
            return
        self._selected = fields["name"]
        self.notify(f"added schedule {fields['name']}: {sched.describe(fields['cron'])}"
                    + "".join(f"\nwarning: {w}" for w in warnings), title="Schedules")
        self.action_refresh()

    def action_edit(self) -> None:
        v = self._need_selection()
        if v is None:
            return
        try:
            existing = sched.load(v["name"])
        except RecoverError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(ScheduleEditor(self.services.clock, existing=existing, **self._cluster()),
                             self._edited)

    def _edited(self, fields: dict | None) -> None:
        if not fields:
            return
        name = fields.pop("name")
        warnings = fields.pop("warnings", [])
        try:
            sched.edit(name, **fields)
        except RecoverError as exc:
            self.notify(str(exc), severity="error", title="Edit schedule")
            return
        self.notify(f"saved schedule {name}" + "".join(f"\nwarning: {w}" for w in warnings), title="Schedules")
        self.action_refresh()

    def action_toggle_pause(self) -> None:
        v = self._need_selection()
        if v is None:
            return
        try:
            if v.get("paused"):
                sched.resume(v["name"], self.services.clock())
                self.notify(f"schedule {v['name']} resumed", timeout=3)
            else:
                sched.pause(v["name"])
                self.notify(f"schedule {v['name']} paused", timeout=3)
        except RecoverError as exc:
            self.notify(str(exc), severity="error")
        self.action_refresh()

    def action_run_now(self) -> None:
        v = self._need_selection()
        if v is None:
            return
        self.notify(f"starting schedule {v['name']}…", timeout=3)
        self._run(v["name"])

    @work(thread=True, group="schedules-run")
    def _run(self, name: str) -> None:
        try:
            job_id = run_schedule_now(name)
            message, severity = f"schedule {name}: started job {job_id} (see :jobs)", "information"
        except RecoverError as exc:
            message, severity = str(exc), "error"
        except Exception as exc:  # noqa: BLE001
            message, severity = f"schedule {name}: {type(exc).__name__}: {exc}", "error"
        self.app.call_from_thread(self.notify, message, severity=severity, title="Run now")
        self.app.call_from_thread(self.action_refresh)

    def action_delete(self) -> None:
        v = self._need_selection()
        if v is None:
            return
        name = v["name"]
        message = (f"Delete schedule {name}?\n{v['cron']} ({v.get('description')})\n\n"
                   "Its archives and job history stay; a run in progress goes on.")

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                sched.remove(name)
            except RecoverError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"deleted schedule {name}", timeout=3)
            self.action_refresh()

        self.app.push_screen(ConfirmDialog("Delete schedule", message, yes="Delete", no="Keep"), answered)
