"""The Restore dialog: pick the target pod (same as the source or another, any namespace), the target
path, and the files or folders to restore from the archive's manifest (space chooses in the tree);
shows the equivalent `cli-recover restore ...` command line, kept in sync, and starts it as a
background job through `Services.launch`. Dismisses with the job id (None when cancelled).
"""

from __future__ import annotations

import os
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static, Tree
from textual.widgets.tree import TreeNode

from cli_recover.tui.widgets.errors import PlainNotify, report
from cli_recover.units import human_bytes

ROOT = ""  # the archive's root folder (its `.` member)


# --- the archive's members as a tree with a selection ---------------------------------------------


def parent_of(path: str) -> str | None:
    if path == ROOT:
        return None
    return posixpath.dirname(path)


class MemberSelection:
    """The members of a manifest as folders and files, and which of them to restore.

    `selected` holds the fewest paths that cover the choice: choosing a folder covers everything
    in it, choosing every entry of a folder becomes the folder, un-choosing one file of a chosen
    folder chooses its siblings instead. `includes()` is the `--include` list ([] = everything).
    """

    def __init__(self, members: list[dict]):
        self.info: dict[str, dict] = {ROOT: {"type": "dir", "size": 0}}
        children: dict[str, set[str]] = {ROOT: set()}
        for m in members:
            path = str(m.get("path") or "").strip("/")
            if path in (".", ""):
                self.info[ROOT] = m
                continue
            self.info[path] = m
            child, parent = path, parent_of(path)
            while parent is not None:
                kids = children.setdefault(parent, set())
                linked = child in kids
                kids.add(child)
                self.info.setdefault(parent, {"type": "dir", "size": 0})  # implied by a deeper member
                if linked:
                    break  # the ancestors are linked already
                child, parent = parent, parent_of(parent)
        self.children: dict[str, list[str]] = {p: list(c) for p, c in children.items()}
        for c in self.children.values():
            c.sort(key=lambda x: (not self.is_dir(x), x))  # folders first
        self.selected: set[str] = set()

    def is_dir(self, path: str) -> bool:
        return self.info.get(path, {}).get("type") == "dir" or bool(self.children.get(path))

    def kids(self, path: str) -> list[str]:
        return self.children.get(path, [])

    def total_size(self, path: str) -> int:
        if path == ROOT:
            return sum(int(m.get("size") or 0) for p, m in self.info.items() if p != ROOT)
        prefix = path + "/"
        return sum(int(m.get("size") or 0) for p, m in self.info.items() if p == path or p.startswith(prefix))

    def _covering(self, path: str) -> str | None:
        p: str | None = path
        while p is not None:
            if p in self.selected:
                return p
            p = parent_of(p)
        return None

    def state(self, path: str) -> str:
        """'all', 'some' or 'none' of path is chosen."""
        if self._covering(path) is not None:
            return "all"
        if path == ROOT:
            return "some" if self.selected else "none"
        prefix = path + "/"
        return "some" if any(s.startswith(prefix) for s in self.selected) else "none"

    def toggle(self, path: str) -> None:
        cover = self._covering(path)
        if cover is not None:
            self.selected.discard(cover)
            cur = cover
            while cur != path:  # keep the rest of the covering folder chosen
                nxt = path if parent_of(path) == cur else next(
                    c for c in self.kids(cur) if path.startswith(c + "/"))
                self.selected.update(c for c in self.kids(cur) if c != nxt)
                cur = nxt
            return
        if path == ROOT:
            self.selected = {ROOT}
            return
        prefix = path + "/"
        self.selected = {s for s in self.selected if not s.startswith(prefix)}
        self.selected.add(path)
        parent = parent_of(path)
        while parent is not None and self.kids(parent) and all(c in self.selected for c in self.kids(parent)):
            self.selected.difference_update(self.kids(parent))
            self.selected.add(parent)
            parent = parent_of(parent)

    def clear(self) -> None:
        self.selected.clear()

    def includes(self) -> list[str]:
        if not self.selected or ROOT in self.selected:
            return []
        return sorted(self.selected)

    def count(self) -> tuple[int, int]:
        """(members chosen, bytes chosen); everything when nothing is chosen."""
        inc = self.includes()
        if not inc:
            return len(self.info), self.total_size(ROOT)
        members = [p for p in self.info if p != ROOT and self._covering(p) is not None]
        return len(members), sum(int(self.info[p].get("size") or 0) for p in members)


MARKS = {"all": ("[x]", "bold green"), "some": ("[-]", "yellow"), "none": ("[ ]", "dim")}


class ArchiveTree(Tree[str]):
    """The archive's folders and files, loaded as folders open; space chooses what to restore."""

    BINDINGS = [
        Binding("space", "choose", "Choose", id="restore.choose", tooltip="Choose or un-choose this file or folder"),
    ]

    def __init__(self, selection: MemberSelection, root_label: str, **kw) -> None:
        super().__init__(root_label, data=ROOT, **kw)
        self.selection = selection
        self.show_root = True
        self.guide_depth = 3
        self._loaded: set[str] = set()
        self._root_label = root_label

    def on_mount(self) -> None:
        self._load(self.root)
        self.root.expand()
        self.relabel()

    def label_for(self, path: str) -> Text:
        mark, style = MARKS[self.selection.state(path)]
        text = Text(mark + " ", style=style)
        if path == ROOT:
            text.append(self._root_label, style="bold")
            return text
        name = posixpath.basename(path)
        info = self.selection.info.get(path, {})
        if self.selection.is_dir(path):
            text.append(name + "/", style="bold")
        else:
            text.append(name)
            kind = info.get("type")
            if kind in ("symlink", "hardlink"):
                text.append(f" -> {info.get('link')}", style="dim")
            elif kind == "file":
                text.append(f"  {human_bytes(info.get('size') or 0)}", style="dim")
        return text

    def _load(self, node: TreeNode[str]) -> None:
        path = node.data
        if path in self._loaded:
            return
        self._loaded.add(path)
        for child in self.selection.kids(path):
            if self.selection.is_dir(child):
                node.add(self.label_for(child), data=child, allow_expand=bool(self.selection.kids(child)))
            else:
                node.add_leaf(self.label_for(child), data=child)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        self._load(event.node)

    def relabel(self) -> None:
        stack = [self.root]
        while stack:
            node = stack.pop()
            node.set_label(self.label_for(node.data))
            stack.extend(node.children)

    def action_choose(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        self.selection.toggle(node.data)
        self.relabel()
        self.post_message(self.SelectionChanged())

    class SelectionChanged(Message):
        """The chosen files changed."""


# --- the dialog ----------------------------------------------------------------------------------


def shell_path(path: str) -> str:
    """The archive path as a user would type it: `$CLI_RECOVER_HOME/...` or `~/...` when it lives there."""
    from cli_recover.config import ENV_HOME, data_home

    p = Path(path)
    try:
        rel = p.relative_to(data_home())
        prefix = f"${ENV_HOME}" if os.environ.get(ENV_HOME) else "~/.cli-recover"
        return f"{prefix}/{shlex.quote(str(rel))}"
    except ValueError:
        pass
    return shlex.quote(path)


def restore_argv(*, provider: str, pod: str, archive: str, namespace: str | None, container: str | None,
                 target_path: str | None, includes: list[str], force: bool) -> list[str]:
    argv = ["restore", provider, pod, archive]
    if namespace:
        argv += ["-n", namespace]
    if container:
        argv += ["-c", container]
    if target_path:
        argv += ["--target-path", target_path]
    for inc in includes:
        argv += ["--include", inc]
    if force:
        argv.append("--force")
    return argv


def command_line(argv: list[str], archive: str) -> str:
    return "cli-recover " + " ".join(shell_path(a) if a == archive else shlex.quote(a) for a in argv)


class RestoreDialog(PlainNotify, ModalScreen[str | None]):
    """Restore an archive (or chosen files of it) into a pod; returns the started job's id."""

    DEFAULT_CSS = """
    RestoreDialog { align: center middle; }
    RestoreDialog #restore-box {
        width: 114; height: 37; border: thick $primary; background: $surface; padding: 0 1;
    }
    RestoreDialog #restore-title { text-style: bold; height: 1; }
    RestoreDialog #restore-source { color: $text-muted; height: 1; }
    RestoreDialog .row { height: 3; }
    RestoreDialog .row Label { padding: 1 1 0 0; width: auto; }
    RestoreDialog #restore-ns { width: 26; }
    RestoreDialog #restore-pod { width: 36; }
    RestoreDialog #restore-container { width: 1fr; }
    RestoreDialog #restore-path { width: 1fr; }
    RestoreDialog #restore-force { width: auto; }
    RestoreDialog #restore-tree { height: 1fr; border: round $primary-darken-2; }
    RestoreDialog #restore-choice { height: 1; }
    RestoreDialog #restore-command { height: auto; max-height: 4; background: $boost; padding: 0 1; }
    RestoreDialog #restore-buttons { height: 3; align-horizontal: right; }
    RestoreDialog #restore-buttons Button { margin-left: 2; }
    RestoreDialog #restore-status { width: 1fr; padding: 1 0 0 0; color: $text-muted; }
    """

    BINDINGS = [
        Binding("ctrl+r", "run", "Restore", id="restore.run", tooltip="Start the restore as a background job"),
        Binding("ctrl+f", "toggle_force", "Force", id="restore.force", tooltip="Overwrite existing files"),
        Binding("ctrl+x", "clear_choice", "Choose nothing", id="restore.clear",
                tooltip="Restore everything (clear the chosen files)"),
        Binding("escape", "close", "Cancel", id="restore.cancel"),
    ]

    def __init__(self, services, archive: str, manifest: dict) -> None:
        super().__init__()
        self.services = services
        self.archive = str(archive)
        self.manifest = manifest
        self.provider = manifest.get("provider") or "filesystem"
        src = manifest.get("source") or {}
        self.source_path = src.get("path") or "/"
        parts = str(src.get("target") or "").rsplit("/", 3) if src.get("kind") == "pod" else []
        if len(parts) == 3:
            parts = ["", *parts]
        self.source_ns, self.source_pod, self.source_container = (parts[1], parts[2], parts[3]) if parts else (
            None, None, None)
        self.selection = MemberSelection(manifest.get("members") or [])
        self._pods: dict[str, object] = {}  # name -> PodInfo of the chosen namespace
        self._starting = False

    # --- layout -------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        name = Path(self.archive).name
        m = self.manifest
        src = m.get("source") or {}
        with Vertical(id="restore-box"):
            yield Static(Text(f"Restore {name}"), id="restore-title")
            yield Static(Text(f"from {src.get('target') or '-'}:{self.source_path}  ·  {m.get('members_count', '?')} "
                              f"members  ·  {human_bytes((m.get('bytes') or {}).get('content'))}  ·  created "
                              f"{m.get('created') or '-'}"), id="restore-source")
            with Horizontal(classes="row"):
                yield Label("Namespace")
                yield Select([], prompt="namespace", id="restore-ns")
                yield Label("Pod")
                yield Select([], prompt="loading pods…", id="restore-pod")
                yield Label("Container")
                yield Select([], prompt="default", id="restore-container")
            with Horizontal(classes="row"):
                yield Label("Target path")
                yield Input(self.source_path, placeholder="/absolute/path/in/the/pod", id="restore-path")
                yield Checkbox("--force (overwrite existing files)", False, id="restore-force")
            yield ArchiveTree(self.selection, f"{name}  ({self.source_path})", id="restore-tree")
            yield Static("", id="restore-choice")
            yield Static("", id="restore-command")
            with Horizontal(id="restore-buttons"):
                yield Static("", id="restore-status")
                yield Button("Cancel", id="restore-cancel-button")
                yield Button("Restore (ctrl+r)", id="restore-run-button", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        tree = self.query_one(ArchiveTree)
        tree.border_title = "contents: space chooses, enter opens a folder (nothing chosen = everything)"
        tree.focus()
        self._sync()
        self._load_namespaces()

    # --- cluster lookups (workers) ------------------------------------------------------------

    @work(thread=True, group="restore-ns", exclusive=True)
    def _load_namespaces(self) -> None:
        try:
            names = self.services.cluster().namespaces()
            problem = None
        except Exception as exc:  # noqa: BLE001 - e.g. not allowed to list namespaces
            names, problem = [], str(exc)
        self.post_message(self.NamespacesLoaded(names, problem))

    @dataclass
    class NamespacesLoaded(Message):
        """The namespaces worker's result (`problem`: why they could not be listed)."""

        bubble: ClassVar[bool] = False
        names: list[str]
        problem: str | None

    def on_restore_dialog_namespaces_loaded(self, m: NamespacesLoaded) -> None:
        self._set_namespaces(m.names, m.problem)

    def _set_namespaces(self, names: list[str], problem: str | None) -> None:
        if problem:
            self.notify(f"cannot list namespaces: {problem}", severity="warning", title="Restore")
        default = self.source_ns or getattr(self.services, "namespace", None) or "default"
        if default not in names:
            names = sorted({*names, default})
        select = self.query_one("#restore-ns", Select)
        select.set_options([(n, n) for n in names])
        select.value = default  # Select.Changed loads its pods

    @on(Select.Changed, "#restore-ns")
    def _ns_changed(self, event: Select.Changed) -> None:
        if event.value != Select.NULL:
            pods = self.query_one("#restore-pod", Select)
            pods.set_options([])
            pods.prompt = "loading pods…"
            self._load_pods(str(event.value))
        self._sync()

    @work(thread=True, group="restore-pods", exclusive=True)
    def _load_pods(self, namespace: str) -> None:
        try:
            pods = self.services.cluster().pods(namespace)
            problem = None
        except Exception as exc:  # noqa: BLE001
            pods, problem = [], str(exc)
        self.post_message(self.PodsLoaded(namespace, pods, problem))

    @dataclass
    class PodsLoaded(Message):
        """The pods worker's result for namespace `ns` (`problem`: why they could not be listed)."""

        bubble: ClassVar[bool] = False
        ns: str  # (`namespace` is taken by Message)
        pods: list
        problem: str | None

    def on_restore_dialog_pods_loaded(self, m: PodsLoaded) -> None:
        self._set_pods(m.ns, m.pods, m.problem)

    def _set_pods(self, namespace: str, pods: list, problem: str | None) -> None:
        if self._value("#restore-ns") != namespace:
            return  # the user moved on to another namespace
        select = self.query_one("#restore-pod", Select)
        self._pods = {p.name: p for p in pods}
        if problem:
            report(self, f"cannot list pods in {namespace}: {problem}", title="Restore")
        select.set_options([(p.name if p.phase == "Running" else f"{p.name} ({p.status})", p.name) for p in pods])
        select.prompt = "choose a pod" if pods else "no pods in this namespace"
        if namespace == self.source_ns and self.source_pod in self._pods:
            select.value = self.source_pod
        self._set_containers()
        self._sync()

    @on(Select.Changed, "#restore-pod")
    def _pod_changed(self, event: Select.Changed) -> None:
        self._set_containers()
        self._sync()

    def _set_containers(self) -> None:
        select = self.query_one("#restore-container", Select)
        pod = self._pods.get(self._value("#restore-pod") or "")
        if pod is None:
            select.set_options([])
            return
        select.set_options([(c + (" (default)" if c == pod.default_container else ""), c) for c in pod.containers])
        same = pod.name == self.source_pod and self._value("#restore-ns") == self.source_ns
        wanted = self.source_container if same and self.source_container in pod.containers else pod.default_container
        if wanted in pod.containers:
            select.value = wanted

    @on(Select.Changed, "#restore-container")
    @on(Input.Changed, "#restore-path")
    @on(Checkbox.Changed, "#restore-force")
    @on(ArchiveTree.SelectionChanged)
    def _changed(self, event=None) -> None:
        self._sync()

    # --- the command line ---------------------------------------------------------------------

    def _value(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return None if value == Select.NULL else str(value)

    def current_argv(self) -> list[str]:
        """The command the dialog would run (without the cluster flags)."""
        pod_name = self._value("#restore-pod")
        container = self._value("#restore-container")
        pod = self._pods.get(pod_name or "")
        if pod is not None and container == pod.default_container:
            container = None  # the pod's default: no -c needed
        path = self.query_one("#restore-path", Input).value.strip()
        return restore_argv(provider=self.provider, pod=pod_name or "POD", archive=self.archive,
                            namespace=self._value("#restore-ns"), container=container,
                            target_path=path or None, includes=self.selection.includes(),
                            force=self.query_one("#restore-force", Checkbox).value)

    def _sync(self) -> None:
        argv = self.current_argv() + self.services.kube_args()
        self.query_one("#restore-command", Static).update(Text("$ " + command_line(argv, self.archive)))
        members, size = self.selection.count()
        inc = self.selection.includes()
        choice = Text("restoring: ", style="bold")
        if inc:
            shown = ", ".join(inc[:4]) + (f" and {len(inc) - 4} more" if len(inc) > 4 else "")
            choice.append(f"{shown}  ({members} members, {human_bytes(size)})")
        else:
            choice.append(f"everything ({members} members, {human_bytes(size)})")
        self.query_one("#restore-choice", Static).update(choice)

    # --- actions ------------------------------------------------------------------------------

    def action_toggle_force(self) -> None:
        box = self.query_one("#restore-force", Checkbox)
        box.value = not box.value

    def action_clear_choice(self) -> None:
        self.selection.clear()
        self.query_one(ArchiveTree).relabel()
        self._sync()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#restore-cancel-button")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#restore-run-button")
    def _run_pressed(self) -> None:
        self.action_run()

    def problem(self) -> str | None:
        """Why the restore cannot start yet (None when it can)."""
        if not self._value("#restore-ns"):
            return "choose a namespace"
        if not self._value("#restore-pod"):
            return "choose the pod to restore into"
        path = self.query_one("#restore-path", Input).value.strip()
        if not path.startswith("/"):
            return "the target path must be absolute (start with /)"
        return None

    def action_run(self) -> None:
        if self._starting:
            return
        why = self.problem()
        if why:
            self.notify(why, severity="warning", title="Restore")
            return
        self._starting = True
        self.query_one("#restore-run-button", Button).disabled = True
        self.query_one("#restore-status", Static).update("starting the restore job…")
        self._launch(self.current_argv() + self.services.kube_args())

    @work(thread=True, group="restore-launch")
    def _launch(self, argv: list[str]) -> None:
        try:
            job_id = self.services.launch(argv)
        except Exception as exc:  # noqa: BLE001 - RecoverErrors carry the CLI's one-line message
            self.post_message(self.Launched(None, exc))
            return
        self.post_message(self.Launched(job_id))

    @dataclass
    class Launched(Message):
        """The launch worker is done: the job's id, or the error that kept it from starting."""

        bubble: ClassVar[bool] = False
        job_id: str | None
        error: BaseException | None = None

    def on_restore_dialog_launched(self, m: Launched) -> None:
        if m.error is None:
            self.dismiss(m.job_id)
        else:
            self._failed(m.error)

    def _failed(self, error: BaseException | str) -> None:
        self._starting = False
        self.query_one("#restore-run-button", Button).disabled = False
        self.query_one("#restore-status", Static).update("")
        report(self, error, title="Restore did not start", timeout=10)
