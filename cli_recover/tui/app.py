"""RecoverApp: the full-screen app, k9s keys over the same engine as the headless commands.

Keys everywhere: `?` help, `esc` back, `/` filter (screens with `apply_filter(text)` and `filter_text`),
`:` command mode (`:pods`, `:jobs`, `:history`, `:schedules`, `:ns NAME|all`, `:ctx NAME`, `:quit`),
`ctrl+p` the command palette (the current screen's actions), `q` quit. Views opened by name are
registered in `VIEWS` (module, class); a view's screen class takes the `Services` as its only argument
and is imported when first opened, so a view whose module is missing says so instead of crashing.

Every Binding has an id; `$CLI_RECOVER_HOME/keymap.toml` (see `cli_recover.tui.keymap`) remaps them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import Screen

from cli_recover.errors import RecoverError
from cli_recover.tui.services import Services
from cli_recover.tui.widgets.command_bar import CommandBar
from cli_recover.tui.widgets.errors import ErrorReport, ReportsErrors, error_text

# name -> (module, class). Later screens plug in here (or through RecoverApp.register_view).
VIEWS: dict[str, tuple[str, str]] = {
    "pods": ("cli_recover.tui.screens.pods", "PodsScreen"),
    "jobs": ("cli_recover.tui.screens.jobs", "JobsScreen"),
    "history": ("cli_recover.tui.screens.history", "HistoryScreen"),
    "schedules": ("cli_recover.tui.screens.schedules", "SchedulesScreen"),
}
ALIASES = {"po": "pods", "pod": "pods", "job": "jobs", "hist": "history", "h": "history",
           "schedule": "schedules", "sched": "schedules", "cj": "schedules"}


class ScreenActions(Provider):
    """Command palette: the actions of the current screen (with their keys) and the named views."""

    def _commands(self) -> Iterable[tuple[str, str, object]]:
        screen = self.screen
        app = self.app
        seen = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if (not binding.description or binding.system or not active.enabled
                    or binding.action in ("command_palette", "app.command_palette")):
                continue
            title = binding.description
            if (title, binding.action) in seen:
                continue
            seen.add((title, binding.action))
            yield title, f"key {app.get_key_display(binding)}", partial(app.run_action, binding.action, active.node)
        for name in VIEWS:
            yield f"Go to {name}", f":{name}", partial(app.run_command, name)
        yield "All namespaces", ":ns all", partial(app.run_command, "ns all")

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


class RecoverApp(ReportsErrors, App):
    CSS_PATH = "app.tcss"
    TITLE = "cli-recover"
    COMMANDS = App.COMMANDS | {ScreenActions}

    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help"),
        Binding("colon", "command_mode", "Command", id="command"),
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("escape", "back", "Back", id="back"),
        Binding("q", "quit", "Quit", id="quit"),
        Binding("ctrl+p", "command_palette", "Palette", show=False, id="palette"),
    ]

    def __init__(self, services: Services, *, keymap_path: str | Path | None = None, all_namespaces: bool = False,
                 refresh_interval: float = 5.0, blink: bool = True, watch_css: bool = False) -> None:
        # blink=False is only honoured by screens.schedules (old callers); tests get steady cursors from
        # tests/conftest.py.
        super().__init__(watch_css=watch_css)
        self.services = services
        self.all_namespaces = all_namespaces
        self.refresh_interval = refresh_interval
        self.blink = blink
        self.keymap_path = keymap_path
        self._keymap_problem: str | None = None
        self._load_keymap()

    # -- keymap ---------------------------------------------------------------------------------

    def _load_keymap(self) -> None:
        from cli_recover.tui.keymap import default_keymap_path, load_keymap

        path = Path(self.keymap_path) if self.keymap_path else default_keymap_path()
        if path is None:
            return
        try:
            self.set_keymap(load_keymap(path))
        except RecoverError as exc:
            self._keymap_problem = f"{exc}; using the default keys"

    def known_binding_ids(self) -> set[str]:
        """Ids of every binding of the app's screens and widgets (view modules are imported for this)."""
        import pkgutil

        from textual.dom import DOMNode

        import cli_recover.tui.screens as screens_pkg

        for info in pkgutil.iter_modules(screens_pkg.__path__):
            try:
                importlib.import_module(f"{screens_pkg.__name__}.{info.name}")
            except Exception:  # noqa: BLE001 - a broken view is reported when opened
                pass
        ids: set[str] = set()
        stack = [DOMNode]
        while stack:
            cls = stack.pop()
            stack.extend(cls.__subclasses__())
            for binding in getattr(cls, "BINDINGS", []) or []:
                if isinstance(binding, Binding) and binding.id:
                    ids.add(binding.id)
        return ids

    def _check_keymap(self) -> None:
        if self._keymap_problem:
            self.post_message(ErrorReport(self._keymap_problem, title="Keymap", timeout=10))
            return
        if not self._keymap:
            return
        unknown = sorted(set(self._keymap) - self.known_binding_ids())
        if unknown:
            self.notify(f"unknown binding ids ignored: {', '.join(unknown)} (press ? to see the ids)",
                        title="Keymap", severity="warning", timeout=10)

    # -- screens --------------------------------------------------------------------------------

    def get_default_screen(self) -> Screen:
        from cli_recover.tui.screens.pods import PodsScreen

        screen = PodsScreen(self.services, all_namespaces=self.all_namespaces,
                            refresh_interval=self.refresh_interval)
        screen.view_name = "pods"
        return screen

    def on_mount(self) -> None:
        self._check_keymap()

    @property
    def pods_screen(self):
        return self.screen_stack[0]

    @classmethod
    def register_view(cls, name: str, module: str, class_name: str) -> None:
        VIEWS[name] = (module, class_name)

    def open_view(self, name: str, *, quiet: bool = False) -> bool:
        """Show the named view: back to it if it is open, else push a new one. False if unavailable
        (said in a notification unless quiet)."""
        name = ALIASES.get(name, name)
        for index, screen in enumerate(self.screen_stack):
            if getattr(screen, "view_name", None) == name:
                while len(self.screen_stack) > index + 1:
                    self.pop_screen()
                return True
        if name not in VIEWS:
            self.report(f"unknown view {name!r}; views: {', '.join(VIEWS)}")
            return False
        module_name, class_name = VIEWS[name]
        try:
            module = importlib.import_module(module_name)
            screen_class = getattr(module, class_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                self.report(f"the {name} view cannot load: {error_text(exc)}")
            elif not quiet:
                self.notify(f"the {name} view is not installed ({module_name} is missing)",
                            title=f":{name}", severity="warning")
            return False
        except Exception as exc:  # noqa: BLE001 - a broken view must not crash the app
            self.report(f"the {name} view cannot load: {error_text(exc)}")
            return False
        try:
            screen = screen_class(self.services)
        except Exception as exc:  # noqa: BLE001
            self.report(f"the {name} view cannot open: {error_text(exc)}")
            return False
        screen.view_name = name
        self.push_screen(screen)
        return True

    # -- command mode -----------------------------------------------------------------------------

    def run_command(self, text: str) -> None:
        """Run one `:` command (without the colon)."""
        words = text.strip().lstrip(":").split()
        if not words:
            return
        verb, args = words[0].lower(), words[1:]
        pods = self.pods_screen
        if verb in ("q", "q!", "quit", "exit"):
            self.exit()
        elif verb in ("help", "?"):
            self.action_help()
        elif verb in ("ns", "namespace", "namespaces"):
            if not args:
                pods.pick_namespace()
            else:
                self.open_view("pods")
                pods.set_namespace(args[0])
        elif verb in ("ctx", "context", "contexts"):
            if not args:
                pods.pick_context()
            else:
                self.open_view("pods")
                pods.set_context(args[0])
        elif verb in VIEWS or verb in ALIASES:
            self.open_view(verb)
        else:
            self.report(f"unknown command :{text.strip()}  (try :pods, :jobs, :history, :ns NAME, :ctx NAME, "
                        ":quit)")

    # -- actions ----------------------------------------------------------------------------------

    def action_help(self) -> None:
        from cli_recover.tui.widgets.help import HelpScreen, describe_bindings

        screen = self.screen
        title = getattr(screen, "view_name", None) or getattr(screen, "help_title", None) or type(screen).__name__
        self.push_screen(HelpScreen(str(title), describe_bindings(screen)))

    def _bar(self) -> CommandBar:
        screen = self.screen
        bars = screen.query(CommandBar)
        if bars:
            return bars.first()
        bar = CommandBar()
        screen.mount(bar)
        return bar

    def action_command_mode(self) -> None:
        self._bar().open("command", on_submit=self.run_command)

    def action_filter(self) -> None:
        screen = self.screen
        if not hasattr(screen, "apply_filter"):
            self.notify("this view has no filter", severity="warning")
            return
        done = getattr(screen, "filter_done", None)
        self._bar().open("filter", value=getattr(screen, "filter_text", ""), on_change=screen.apply_filter,
                         on_submit=lambda _value: done() if done else None)

    def action_back(self) -> None:
        screen = self.screen
        open_bars = [bar for bar in screen.query(CommandBar) if bar.is_open]
        if open_bars:
            for bar in open_bars:
                bar.close()
            return
        if getattr(screen, "filter_text", "") and hasattr(screen, "apply_filter"):
            screen.apply_filter("")
            return
        if len(self.screen_stack) > 1:
            self.pop_screen()
