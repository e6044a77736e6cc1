"""The Backup dialog: provider, path(s), compression and level, excludes, output, now or in the background.

It shows the equivalent `cli-recover backup ...` command line, rebuilt on every change, and runs exactly
that command as a background job (`services.launch`), so closing the app does not stop it. Dismisses
with {"jobs": [job ids], "watch": bool} or None.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, RadioButton, RadioSet, Select, Static

from cli_recover.tui.services import Services
from cli_recover.tui.widgets.errors import error_text, report

CODECS = ("zstd", "lz4", "gzip", "none")


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def announce_started(app, result: dict | None) -> bool:
    """After the dialog: show the Jobs view ("now") or say the job ids ("in the background")."""
    if not result:
        return False
    jobs = result["jobs"]
    ids = ", ".join(jobs)
    if result.get("watch") and app.open_view("jobs", quiet=True):
        app.notify(f"backup job {ids} started", timeout=5)
    else:
        app.notify(f"backup job {ids} started in the background; follow it with `cli-recover status "
                   f"{jobs[0]}` or :jobs", title="Backup", timeout=10)
    return True


def backup_argvs(*, provider: str, pod: str, paths: list[str], namespace: str, container: str | None,
                 kube_args: list[str], compression: str, level: int | None, excludes: list[str],
                 exclude_vcs: bool, output: str, background: bool) -> list[list[str]]:
    """One `cli-recover backup` argv (without the program name) per path."""
    out = []
    for path in paths:
        argv = ["backup", provider, pod, path, "-n", namespace]
        if container:
            argv += ["-c", container]
        argv += kube_args
        argv += ["--compression", compression]
        if level is not None:
            argv += ["--level", str(level)]
        for pattern in excludes:
            argv += ["--exclude", pattern]
        if exclude_vcs:
            argv.append("--exclude-vcs")
        if output:
            argv += ["-o", output]
        if background:
            argv.append("--background")
        out.append(argv)
    return out


class BackupDialog(ModalScreen[dict | None]):
    help_title = "backup dialog"

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="backup.cancel"),
        Binding("ctrl+s", "run", "Run", id="backup.run"),
    ]

    def __init__(self, services: Services, *, namespace: str, pod: str, paths: list[str],
                 container: str | None = None, containers: list[str] | None = None,
                 context: str | None = None) -> None:
        super().__init__()
        self.services = services
        self.namespace = namespace
        self.pod = pod
        self.paths = paths
        self.container = container
        self.containers = containers or ([container] if container else [])
        if self.container not in self.containers:
            self.container = self.containers[0] if self.containers else None
        self.context_name = context
        self.problem: str | None = None
        self.argvs: list[list[str]] = []
        self.running = False

    def compose(self) -> ComposeResult:
        from cli_recover.providers import provider_names

        providers = provider_names() or ["filesystem"]
        with Vertical(id="backup-box") as box:
            box.border_title = f"Back up from {self.namespace}/{self.pod}"
            with Horizontal(classes="form-row"):
                yield Label("Provider", classes="form-label")
                yield Select([(p, p) for p in providers], value="filesystem" if "filesystem" in providers
                             else providers[0], allow_blank=False, id="provider")
                if self.containers:
                    yield Label("Container", classes="form-label-inline")
                    yield Select([(c, c) for c in self.containers], value=self.container, allow_blank=False,
                                 id="container")
            with Horizontal(classes="form-row"):
                yield Label("Path(s)", classes="form-label")
                yield Input(", ".join(self.paths), placeholder="/absolute/path, /another (one job each)",
                            id="paths")
            with Horizontal(classes="form-row"):
                yield Label("Compression", classes="form-label")
                yield Select([(c, c) for c in CODECS], value="zstd", allow_blank=False, id="compression")
                yield Label("Level", classes="form-label-inline")
                yield Input("", type="integer", id="level")
                yield Static("", id="level-hint", classes="form-hint")
            with Horizontal(classes="form-row", id="exclude-row"):
                yield Label("Exclude", classes="form-label")
                yield Input("", placeholder="tar patterns, comma-separated: *.log, tmp/*", id="excludes")
                yield Checkbox("skip .git/.svn", id="exclude-vcs")
            with Horizontal(classes="form-row"):
                yield Label("Output", classes="form-label")
                yield Input("", placeholder="default: $CLI_RECOVER_HOME/backups/<name>-<UTC time>.tar.<ext>",
                            id="output")
            with Horizontal(classes="form-row form-row-radio"):
                yield Label("Run", classes="form-label")
                with RadioSet(id="mode"):
                    yield RadioButton("now, then watch it in Jobs", value=True, id="mode-now")
                    yield RadioButton("in the background, stay here", id="mode-background")
            yield Label("Equivalent command", classes="form-section")
            yield Static("", id="command-preview")
            yield Static("", id="backup-problem")
            with Horizontal(id="backup-buttons"):
                yield Button("Run", variant="primary", id="run")
                yield Button("Cancel", id="cancel")
        yield Footer()

    def on_mount(self) -> None:
        self.update_preview()
        self.query_one("#paths", Input).focus()

    # -- the command line -------------------------------------------------------------------------

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def options(self) -> dict:
        """The dialog's choices; raises ValueError with a readable message when they do not make a command."""
        from cli_recover.archive.codecs import codec_info

        provider = str(self.query_one("#provider", Select).value)
        selects = self.query("#container")
        container = selects.first(Select).value if selects else None
        compression = str(self.query_one("#compression", Select).value)
        paths = split_list(self._value("#paths"))
        if not paths:
            raise ValueError("give at least one path")
        for path in paths:
            if not path.startswith("/"):
                raise ValueError(f"paths in the pod are absolute: {path}")
        info = codec_info(compression)
        level_text = self._value("#level")
        level = None
        if level_text:
            if info.levels is None:
                raise ValueError(f"{compression} takes no level")
            level = int(level_text)
            low, high = info.levels
            if not low <= level <= high:
                raise ValueError(f"the level for {compression} is {low}..{high}")
        output = self._value("#output")
        from cli_recover.archive.codecs import codec_for_output
        from cli_recover.errors import UsageError

        try:
            codec_for_output(output, compression)  # the CLI refuses a name that says another codec
        except UsageError as exc:
            raise ValueError(str(exc)) from None
        if output and len(paths) > 1:
            target = Path(output).expanduser()
            if not target.is_dir():
                raise ValueError("with several paths, Output must be an existing folder (one archive per path)")
        filesystem = provider == "filesystem"
        return {
            "provider": provider, "pod": self.pod, "paths": paths, "namespace": self.namespace,
            "container": str(container) if container and container is not Select.BLANK else None,
            "kube_args": self.services.kube_args(self.context_name),
            "compression": compression, "level": level,
            "excludes": split_list(self._value("#excludes")) if filesystem else [],
            "exclude_vcs": filesystem and self.query_one("#exclude-vcs", Checkbox).value,
            "output": output,
            "background": self.query_one("#mode-background", RadioButton).value,
        }

    def update_preview(self) -> None:
        from cli_recover.archive.codecs import codec_info

        info = codec_info(str(self.query_one("#compression", Select).value))
        hint = (f"{info.levels[0]}-{info.levels[1]}, default {info.default_level}" if info.levels
                else "no levels")
        self.query_one("#level-hint", Static).update(hint)
        self.query_one("#level", Input).disabled = info.levels is None
        self.query_one("#exclude-row").display = str(self.query_one("#provider", Select).value) == "filesystem"
        try:
            self.argvs = backup_argvs(**self.options())
            self.problem = None
        except ValueError as exc:
            self.argvs = []
            self.problem = str(exc)
        preview = "\n".join("$ " + shlex.join(["cli-recover", *argv]) for argv in self.argvs)
        self.query_one("#command-preview", Static).update(preview or "-")
        self.query_one("#backup-problem", Static).update(self.problem or "")
        self.query_one("#run", Button).disabled = bool(self.problem) or self.running

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "output":
            self.follow_output_name(event.value)
        self.update_preview()

    def follow_output_name(self, output: str) -> None:
        """An Output name that says its compression (`x.tar.gz`) sets Compression to it, as the CLI
        takes the codec from `-o NAME`; a name cli-recover cannot write is left to the preview's check."""
        from cli_recover.archive.codecs import codec_named_by
        from cli_recover.errors import UsageError

        try:
            named = codec_named_by(output.strip())
        except UsageError:
            return
        select = self.query_one("#compression", Select)
        if named is not None and select.value != named:
            select.value = named

    def on_select_changed(self, event: Select.Changed) -> None:
        self.update_preview()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.update_preview()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.update_preview()

    # -- running ----------------------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run":
            self.action_run()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        if not self.running:
            self.dismiss(None)

    def action_run(self) -> None:
        self.update_preview()
        if self.problem or self.running or not self.argvs:
            if self.problem:
                report(self, self.problem)
            return
        self.running = True
        self.query_one("#run", Button).disabled = True
        self.query_one("#backup-problem", Static).update("starting…")
        watch = not self.query_one("#mode-background", RadioButton).value
        argvs = [[a for a in argv if a != "--background"] for argv in self.argvs]
        self._launch(argvs, watch)

    @work(thread=True, group="backup-launch")
    def _launch(self, argvs: list[list[str]], watch: bool) -> None:
        ids: list[str] = []
        try:
            for argv in argvs:
                ids.append(self.services.launch(argv))
        except Exception as exc:  # noqa: BLE001 - shown in the dialog, never a traceback
            self.post_message(self.Launched(ids, watch, exc))
            return
        self.post_message(self.Launched(ids, watch))

    @dataclass
    class Launched(Message):
        """The launch worker is done: the jobs it started, and the error that stopped it (if any)."""

        bubble: ClassVar[bool] = False
        jobs: list[str]
        watch: bool
        error: BaseException | None = None

    def on_backup_dialog_launched(self, m: Launched) -> None:
        if m.error is None:
            self.dismiss({"jobs": m.jobs, "watch": m.watch})
        else:
            self._failed(m.error, m.jobs)

    def _failed(self, exc: BaseException, started: list[str]) -> None:
        self.running = False
        message = error_text(exc)
        if started:
            message += f" (already started: {', '.join(started)})"
        self.query_one("#backup-problem", Static).update(message)
        self.query_one("#run", Button).disabled = False
        report(self, message, title="Backup did not start")
