"""The Pods view: a live pod table of one namespace (or all), context and namespace switching, `/` filter.

The pod list is fetched in a thread worker (at start, every `refresh_interval` seconds and on demand);
filtering works on the rows in memory (a substring test per pod) and swaps the rows of a VirtualTable,
so a keystroke costs milliseconds even with thousands of pods.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from cli_recover.tui.services import Services
from cli_recover.tui.widgets.errors import error_text, report
from cli_recover.tui.widgets.table import Column, VirtualTable, column_widths

ALL = "all"
_ALL_WORDS = {"all", "-a", "*", "--all-namespaces", "-all"}


def status_style(status: str) -> str | None:
    if status == "Running":
        return "green"
    if status in ("Succeeded", "Completed"):
        return "dim"
    if status in ("Pending", "ContainerCreating", "PodInitializing", "Unknown"):
        return "yellow"
    return "red"


def pod_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def now_from(services: Services) -> dt.datetime:
    return dt.datetime.fromtimestamp(services.clock(), dt.UTC)


class PodsScreen(Screen):
    help_title = "pods"

    BINDINGS = [
        Binding("enter", "open_pod", "Open", id="open_pod"),
        Binding("b", "backup_pod", "Backup", id="backup_pod"),
        Binding("0", "all_namespaces", "All ns", id="all_namespaces", tooltip="Toggle all namespaces"),
        Binding("n", "pick_namespace", "Namespace", id="namespace"),
        Binding("x", "pick_context", "Context", id="context"),
        Binding("ctrl+r", "refresh", "Refresh", id="refresh", show=False),  # it refreshes itself; in ? help
    ]

    def __init__(self, services: Services, *, all_namespaces: bool = False, refresh_interval: float = 5.0) -> None:
        super().__init__()
        self.services = services
        self.all_namespaces = all_namespaces
        self.namespace: str | None = services.namespace  # None: the context's namespace
        self.context_name: str | None = services.context
        self.refresh_interval = refresh_interval
        self.pods: list = []  # PodInfo, in API order
        self.by_key: dict[str, object] = {}
        self.keys: list[str] = []
        self.rows: list[tuple] = []
        self.haystack: list[str] = []
        self.widths: list[int] = []
        self.filter_text = ""
        self.loaded = False
        self.error: str | None = None
        self._generation = 0
        self._loading = False
        self._pending = False
        self._fetch_seconds = 0.0  # how long the last list took
        self._fetched_at = 0.0

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="pods-header", classes="screen-header")
        yield VirtualTable(self._columns(), empty_text="loading pods…", id="pods-table")
        yield Footer()

    def _columns(self) -> list[Column]:
        cols = [Column("NAME", max_width=48), Column("READY"), Column("STATUS", max_width=24),
                Column("CONTAINERS", max_width=30), Column("RESTARTS", justify="right"),
                Column("AGE", justify="right")]
        return ([Column("NAMESPACE", max_width=24)] if self.all_namespaces else []) + cols

    def on_mount(self) -> None:
        self._show_header()
        self.query_one(VirtualTable).focus()
        self.reload()
        if self.refresh_interval and self.refresh_interval > 0:
            self.set_interval(self.refresh_interval, self._tick)

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.reload()

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#pods-table", VirtualTable)

    def _scope(self) -> str:
        if self.all_namespaces:
            return "all namespaces"
        return self.namespace or "…"

    def _show_header(self) -> None:
        parts = [f"[b]Context[/b] {self.context_name or '…'}", f"[b]Namespace[/b] {self._scope()}"]
        if self.loaded:
            shown = self.table.row_count
            parts.append(f"[b]Pods[/b] {shown}" if shown == len(self.pods) else f"[b]Pods[/b] {shown} of {len(self.pods)}")
        if self.filter_text:
            parts.append(f"[b]Filter[/b] /{self.filter_text}")
        self.query_one("#pods-header", Static).update("   ".join(parts))

    # -- loading --------------------------------------------------------------------------------

    def _tick(self) -> None:
        # Views underneath do not poll (a Pod screen checks its own pod); a big cluster is polled less
        # often: at least 4x the time the last list took between two lists.
        if self.app.screen is self and time.monotonic() - self._fetched_at >= 4 * self._fetch_seconds:
            self.reload()

    def reload(self) -> None:
        """Fetch the pod list again (a running fetch is followed by one more)."""
        if self._loading:
            self._pending = True
            return
        self._loading = True
        self._fetch(self._generation, self.context_name, self.namespace, self.all_namespaces)

    @work(thread=True, group="pods-fetch")
    def _fetch(self, generation: int, context: str | None, namespace: str | None, all_ns: bool) -> None:
        started = time.monotonic()
        try:
            cluster = self.services.cluster(context)
            ns = None if all_ns else (namespace or cluster.namespace)
            pods = cluster.pods(ns, all_namespaces=all_ns)
            missing_ns = None
            if not pods and ns and cluster.namespace_exists(ns) is False:
                missing_ns = ns
            result = (cluster.context, ns, pods, missing_ns, None)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            result = (context, namespace, [], None, exc)
        self._fetch_seconds = time.monotonic() - started
        self._fetched_at = time.monotonic()
        self.post_message(self.Fetched(generation, *result))

    @dataclass
    class Fetched(Message):
        """The fetch worker's pod list for `generation` (`missing_ns`: the namespace does not exist;
        `error`: the list failed)."""

        bubble: ClassVar[bool] = False
        generation: int
        context: str | None
        ns: str | None  # (`namespace` is taken by Message)
        pods: list
        missing_ns: str | None
        error: BaseException | None

    def on_pods_screen_fetched(self, m: Fetched) -> None:
        self._fetched(m.generation, m.context, m.ns, m.pods, m.missing_ns, m.error)

    def _fetched(self, generation, context, namespace, pods, missing_ns, exc) -> None:
        self._loading = False
        if generation == self._generation:
            if exc is not None:
                self._failed(exc)
            elif missing_ns:
                report(self, f"no namespace {missing_ns!r} in context {context!r}")
                self.error = f"namespace {missing_ns} does not exist"
                self._show(context, namespace, [])
            else:
                self.error = None
                self._show(context, namespace, pods)
        if self._pending:
            self._pending = False
            self.reload()

    def _failed(self, exc: BaseException) -> None:
        message = error_text(exc)
        if message != self.error:  # the same failure every 5 s is said once
            report(self, message, title="Pods")
        self.error = message
        self.loaded = True
        self.pods, self.by_key, self.keys, self.rows, self.haystack = [], {}, [], [], []
        self.table.set_empty_text(f"cannot list pods: {message}")
        self.table.set_rows([], [])
        self._show_header()

    def _show(self, context: str, namespace: str | None, pods: list) -> None:
        self.context_name = context
        if not self.all_namespaces:
            self.namespace = namespace
        now = now_from(self.services)
        from cli_recover.kube.cluster import age_text

        old = set(self.by_key)
        self.pods = pods
        self.by_key = {}
        self.keys = []
        self.rows = []
        self.haystack = []
        all_ns = self.all_namespaces
        for p in pods:
            key = pod_key(p.namespace, p.name)
            self.by_key[key] = p
            self.keys.append(key)
            row = (p.name, p.ready, (p.status, status_style(p.status)), ",".join(p.containers),
                   str(p.restarts), age_text(p.created, now))
            if all_ns:
                row = (p.namespace, *row)
            self.rows.append(row)
            self.haystack.append(f"{p.namespace}/{p.name} {p.status} {' '.join(p.containers)}".lower())
        self.widths = column_widths(self.table.columns, self.rows)
        self.loaded = True
        if self.error:
            self.table.set_empty_text(self.error)
        else:
            where = "any namespace" if all_ns else f"namespace {namespace}"
            self.table.set_empty_text(f"no pods in {where}")
        self._apply()
        gone = old - set(self.by_key)
        if gone:
            self._notify_gone(gone)

    def _notify_gone(self, gone: set[str]) -> None:
        from cli_recover.tui.screens.pod import PodScreen

        for screen in self.app.screen_stack:
            if isinstance(screen, PodScreen) and screen.key in gone:
                screen.pod_gone()

    # -- filter ---------------------------------------------------------------------------------

    def apply_filter(self, text: str) -> None:
        self.filter_text = text
        self._apply()

    def filter_done(self) -> None:
        self.table.focus()

    def _apply(self) -> None:
        terms = self.filter_text.lower().split()
        table = self.table
        if terms:
            hay = self.haystack
            if len(terms) == 1:
                term = terms[0]
                picked = [i for i, h in enumerate(hay) if term in h]
            else:
                picked = [i for i, h in enumerate(hay) if all(t in h for t in terms)]
            keys = [self.keys[i] for i in picked]
            rows = [self.rows[i] for i in picked]
            if not picked and self.pods:
                table.set_empty_text(f"no pods match /{self.filter_text}")
        else:
            keys, rows = self.keys, self.rows
        table.set_rows(keys, rows, widths=self.widths or None)
        self._show_header()

    # -- namespace and context ------------------------------------------------------------------

    def set_namespace(self, name: str) -> None:
        if name.lower() in _ALL_WORDS:
            self._set_scope(all_ns=True, namespace=self.namespace)
        else:
            self._set_scope(all_ns=False, namespace=name)

    def _set_scope(self, *, all_ns: bool, namespace: str | None) -> None:
        changed_columns = all_ns != self.all_namespaces
        self.all_namespaces = all_ns
        self.namespace = namespace
        self.services.namespace = namespace
        self._generation += 1
        self.loaded = False
        self.error = None
        if changed_columns:
            self.table.set_columns(self._columns())
        self.table.set_empty_text("loading pods…")
        self.table.set_rows([], [])
        self.pods, self.by_key, self.keys, self.rows, self.haystack = [], {}, [], [], []
        self._show_header()
        self._loading = False  # results of a running fetch are dropped (older generation)
        self.reload()

    def set_context(self, name: str) -> None:
        self._check_context(name)

    @work(thread=True, group="pods-context")
    def _check_context(self, name: str) -> None:
        try:
            names = [c.name for c in self.services.contexts()]
        except Exception as exc:  # noqa: BLE001
            report(self, exc)
            return
        if name not in names:
            report(self, f"unknown context {name!r}; contexts: {', '.join(names)}")
            return
        self.post_message(self.ContextChosen(name))

    @dataclass
    class ContextChosen(Message):
        """A context that exists was asked for (by `:ctx NAME` or the picker): switch to it."""

        bubble: ClassVar[bool] = False
        name: str

    def on_pods_screen_context_chosen(self, m: ContextChosen) -> None:
        self._switch_context(m.name)

    def _switch_context(self, name: str) -> None:
        self.services.context = name
        self.context_name = name
        self._set_scope(all_ns=self.all_namespaces, namespace=None)
        self.notify(f"context {name}", timeout=3)

    def pick_namespace(self) -> None:
        self._namespaces_for_picker(self.context_name)

    @work(thread=True, group="pods-picker")
    def _namespaces_for_picker(self, context: str | None) -> None:
        try:
            names = self.services.cluster(context).namespaces()
        except Exception as exc:  # noqa: BLE001
            report(self, exc)
            return
        self.post_message(self.Choices("namespace", names))

    @dataclass
    class Choices(Message):
        """The picker worker's namespaces or contexts (`kind`) to choose from."""

        bubble: ClassVar[bool] = False
        kind: str
        items: list

    def on_pods_screen_choices(self, m: Choices) -> None:
        if m.kind == "namespace":
            self._show_namespace_picker(m.items)
        else:
            self._show_context_picker(m.items)

    def _show_namespace_picker(self, names: list[str]) -> None:
        from cli_recover.tui.widgets.picker import PickerDialog

        choices = [(ALL, "all namespaces"), *[(n, n) for n in names]]
        current = ALL if self.all_namespaces else self.namespace
        self.app.push_screen(PickerDialog("Namespace", choices, current),
                             lambda value: value and self.set_namespace(value))

    def pick_context(self) -> None:
        self._contexts_for_picker()

    @work(thread=True, group="pods-picker")
    def _contexts_for_picker(self) -> None:
        try:
            contexts = self.services.contexts()
        except Exception as exc:  # noqa: BLE001
            report(self, exc)
            return
        self.post_message(self.Choices("context", contexts))

    def _show_context_picker(self, contexts) -> None:
        from cli_recover.tui.widgets.picker import PickerDialog

        choices = [(c.name, f"{c.name}  ({c.namespace})") for c in contexts]
        self.app.push_screen(PickerDialog("Context", choices, self.context_name),
                             lambda value: value and value != self.context_name and self._switch_context(value))

    # -- actions --------------------------------------------------------------------------------

    def action_all_namespaces(self) -> None:
        if self.all_namespaces:
            self._set_scope(all_ns=False, namespace=self.namespace)
        else:
            self._set_scope(all_ns=True, namespace=self.namespace)

    def action_pick_namespace(self) -> None:
        self.pick_namespace()

    def action_pick_context(self) -> None:
        self.pick_context()

    def action_refresh(self) -> None:
        self.reload()

    def action_open_pod(self) -> None:
        key = self.table.cursor_key
        if key is None or key not in self.by_key:
            return
        from cli_recover.tui.screens.pod import PodScreen

        self.app.push_screen(PodScreen(self.services, self.by_key[key], context=self.context_name,
                                       refresh_interval=self.refresh_interval))

    def action_backup_pod(self) -> None:
        """The Backup dialog for the highlighted pod, the path typed (Enter browses folders instead)."""
        key = self.table.cursor_key
        if key is None or key not in self.by_key:
            return
        from cli_recover.tui.screens.backup import BackupDialog, announce_started

        pod = self.by_key[key]
        dialog = BackupDialog(self.services, namespace=pod.namespace, pod=pod.name, paths=[],
                              container=pod.default_container, containers=pod.containers, context=self.context_name)
        self.app.push_screen(dialog, lambda result: announce_started(self.app, result))

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        if event.table.id == "pods-table":
            self.action_open_pod()
