"""The Pod view: its containers, and a folder browser that lists the chosen container's files through exec.

Enter opens a folder, Backspace goes up, Space marks entries, `b` opens the Backup dialog for the marked
entries (or, with nothing marked, the current folder).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from cli_recover.tui import browse
from cli_recover.tui.services import Services
from cli_recover.tui.widgets.errors import error_text, report
from cli_recover.tui.widgets.table import Column, VirtualTable
from cli_recover.units import human_bytes

UP = ".."


KIND_LABEL = {"dir": "dir", "dirlink": "link→dir", "file": "file", "link": "link", "other": "other"}


class PodScreen(Screen):
    help_title = "pod"

    BINDINGS = [
        Binding("enter", "enter_dir", "Open folder", id="enter_dir"),
        Binding("backspace", "parent_dir", "Up", id="parent_dir"),
        Binding("space", "mark", "Mark", id="mark"),
        Binding("b", "backup", "Backup", id="backup"),
        Binding("c", "next_container", "Container", id="next_container"),
        Binding("ctrl+r", "refresh", "Refresh", id="refresh_dir"),
    ]

    def __init__(self, services: Services, pod, *, context: str | None = None, path: str = "/",
                 container: str | None = None, refresh_interval: float = 5.0) -> None:
        super().__init__()
        self.services = services
        self.pod = pod  # PodInfo
        self.context_name = context
        self.path = path
        self.container = container or pod.default_container or (pod.containers[0] if pod.containers else "")
        self.refresh_interval = refresh_interval
        self.entries: list[browse.Entry] = []
        self.marked: list[str] = []  # full paths, in the order they were marked
        self.gone = False
        self.error: str | None = None
        self.listed_path: str | None = None
        self._targets: dict[str, object] = {}
        self._lock = threading.Lock()
        self._generation = 0
        self._cursor_after: str | None = None

    @property
    def key(self) -> str:
        return f"{self.pod.namespace}/{self.pod.name}"

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="pod-header", classes="screen-header")
        yield Static(id="pod-gone", classes="banner-error")
        with Horizontal(id="pod-body"):
            with Vertical(id="containers-box") as box:
                box.border_title = "Containers"
                yield OptionList(*[Option(c, id=c) for c in self.pod.containers], id="containers")
            with Vertical(id="files-box") as box:
                box.border_title = "Files"
                yield Static(id="files-path")
                yield VirtualTable([Column(" ", width=1), Column("NAME", max_width=60), Column("TYPE"),
                                    Column("SIZE", justify="right", width=10)],
                                   empty_text="listing…", id="files")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#pod-gone").display = False
        options = self.query_one("#containers", OptionList)
        if self.container in self.pod.containers:
            options.highlighted = self.pod.containers.index(self.container)
        self._show_header()
        self.files.focus()
        self.list_path(self.path)
        if self.refresh_interval and self.refresh_interval > 0:
            self.set_interval(self.refresh_interval, self._check_pod)

    def on_unmount(self) -> None:
        targets = list(self._targets.values())
        self._targets.clear()
        if targets:
            threading.Thread(target=lambda: [t.close() for t in targets], daemon=True).start()

    @property
    def files(self) -> VirtualTable:
        return self.query_one("#files", VirtualTable)

    def _show_header(self) -> None:
        p = self.pod
        parts = [f"[b]Pod[/b] {p.namespace}/{p.name}", f"[b]Status[/b] {p.status}", f"[b]Ready[/b] {p.ready}",
                 f"[b]Restarts[/b] {p.restarts}"]
        if p.node:
            parts.append(f"[b]Node[/b] {p.node}")
        self.query_one("#pod-header", Static).update("   ".join(parts))
        marked = f"   [b]{len(self.marked)} marked[/b] (b backs them up)" if self.marked else ""
        self.query_one("#files-path", Static).update(f"[b]{self.container}[/b]:{self.path}{marked}")

    # -- listing --------------------------------------------------------------------------------

    def list_path(self, path: str, *, cursor: str | None = None) -> None:
        if self.gone:
            return
        self._generation += 1
        self._cursor_after = cursor
        self.path = path
        self._show_header()
        self.files.set_empty_text("listing…")
        self._list(self._generation, self.container, path)

    def _target(self, container: str):
        with self._lock:
            target = self._targets.get(container)
        if target is None:
            target = self.services.pod_target(self.pod.name, self.pod.namespace, container,
                                              context=self.context_name)
            with self._lock:
                self._targets[container] = target
        return target

    @work(thread=True, group="pod-list")
    def _list(self, generation: int, container: str, path: str) -> None:
        from cli_recover.kube.errors import UnknownPod

        gone = False
        try:
            entries, error = browse.list_dir(self._target(container), path), None
        except UnknownPod as exc:
            entries, error, gone = [], str(exc), True
        except Exception as exc:  # noqa: BLE001 - shown in the browser and as a notification
            entries, error = [], error_text(exc)
        self.post_message(self.Listed(generation, path, entries, error, gone))

    @dataclass
    class Listed(Message):
        """The list worker's entries of `path` for `generation` (`error`: why not; `gone`: the pod is)."""

        bubble: ClassVar[bool] = False
        generation: int
        path: str
        entries: list
        error: str | None
        gone: bool

    def on_pod_screen_listed(self, m: Listed) -> None:
        self._listed(m.generation, m.path, m.entries, m.error, m.gone)

    def _listed(self, generation: int, path: str, entries, error, gone: bool) -> None:
        if gone:
            self.pod_gone()
            return
        if generation != self._generation:
            return
        if error:
            if error != self.error:
                report(self, error, title=f"{self.pod.name}")
            self.error = error
            self.entries = []
            self.files.set_empty_text(error)
            self.files.set_rows([], [])
            return
        self.error = None
        self.listed_path = path
        self.entries = entries
        self._render_entries(cursor=self._cursor_after)

    def _render_entries(self, cursor: str | None = None) -> None:
        keys, rows = [], []
        if self.path != "/":
            keys.append(UP)
            rows.append(("", "../", "", ""))
        marked = set(self.marked)
        for e in self.entries:
            full = browse.join(self.path, e.name)
            name = e.name + ("/" if e.is_dir else "")
            style = "bold" if e.is_dir else None
            rows.append(("✓" if full in marked else "", (name, style) if style else name,
                         KIND_LABEL.get(e.kind, e.kind), "" if e.size is None else human_bytes(e.size)))
            keys.append(e.name)
        self.files.set_empty_text("empty folder")
        self.files.set_rows(keys, rows, cursor_key=cursor)
        self._show_header()

    def _entry(self, name: str | None) -> browse.Entry | None:
        return next((e for e in self.entries if e.name == name), None)

    # -- pod disappearing -----------------------------------------------------------------------

    @work(thread=True, group="pod-check", exclusive=True)
    def _check_pod(self) -> None:
        from cli_recover.kube.errors import NotFound

        if self.gone:
            return
        try:
            self.services.cluster(self.context_name).pod(self.pod.name, self.pod.namespace)
        except NotFound:
            self.post_message(self.Gone())
        except Exception:  # noqa: BLE001 - a failed check is not news; the next one may work
            pass

    class Gone(Message):
        """The pod check found the pod deleted."""

        bubble: ClassVar[bool] = False

    def on_pod_screen_gone(self, _m: Gone) -> None:
        self.pod_gone()

    def pod_gone(self) -> None:
        """The pod was deleted while shown: say so, stop listing and backing up."""
        if self.gone:
            return
        self.gone = True
        banner = self.query_one("#pod-gone", Static)
        banner.update(f"Pod {self.key} no longer exists: it was deleted while shown. Esc goes back to the pods.")
        banner.display = True
        self.entries = []
        self.files.set_empty_text("the pod is gone")
        self.files.set_rows([], [])
        self.notify(f"pod {self.key} was deleted", title="Pod gone", severity="warning", timeout=8)
        self.refresh_bindings()

    def check_action(self, action: str, parameters) -> bool | None:
        if self.gone and action in ("backup", "enter_dir", "parent_dir", "mark", "refresh", "next_container"):
            return False
        return True

    # -- actions --------------------------------------------------------------------------------

    def action_enter_dir(self) -> None:
        key = self.files.cursor_key
        if key is None:
            return
        if key == UP:
            self.action_parent_dir()
            return
        entry = self._entry(key)
        if entry is None:
            return
        if entry.is_dir:
            self.list_path(browse.join(self.path, entry.name))
        else:
            self.notify(f"{entry.name} is a file: Space marks it for a backup", timeout=4)

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        if event.table.id == "files":
            self.action_enter_dir()

    def action_parent_dir(self) -> None:
        if self.path == "/":
            return
        name = self.path.rstrip("/").rsplit("/", 1)[-1]
        self.list_path(browse.parent(self.path), cursor=name)

    def action_mark(self) -> None:
        key = self.files.cursor_key
        if key is None or key == UP:
            return
        full = browse.join(self.path, key)
        if full in self.marked:
            self.marked.remove(full)
        else:
            self.marked.append(full)
        self._render_entries()
        self.files.action_cursor_down()

    def action_refresh(self) -> None:
        self.list_path(self.path, cursor=self.files.cursor_key)

    def action_next_container(self) -> None:
        names = self.pod.containers
        if len(names) < 2:
            self.notify(f"{self.pod.name} has one container", timeout=3)
            return
        self.query_one("#containers", OptionList).highlighted = (names.index(self.container) + 1) % len(names)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        name = event.option.id
        if name and name != self.container:
            self.container = name
            self.error = None
            self.list_path(self.path)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.files.focus()

    def action_backup(self) -> None:
        from cli_recover.tui.screens.backup import BackupDialog

        paths = list(self.marked) or [self.path]
        dialog = BackupDialog(self.services, namespace=self.pod.namespace, pod=self.pod.name,
                              container=self.container, containers=self.pod.containers, paths=paths,
                              context=self.context_name)
        self.app.push_screen(dialog, self._backup_started)

    def _backup_started(self, result: dict | None) -> None:
        from cli_recover.tui.screens.backup import announce_started

        if announce_started(self.app, result):
            self.marked.clear()
            self._render_entries(cursor=self.files.cursor_key)
