"""`?`: the keys of the screen the user is on, with the binding ids a keymap file can remap."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from cli_recover.tui.widgets.table import Column, VirtualTable


def describe_bindings(screen) -> list[tuple[str, str, str]]:
    """(key, description, binding id) for every active, described binding of `screen`."""
    rows = []
    seen = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description or binding.system or not binding.id:
            continue  # Textual's own scrolling/focus keys have no id and cannot be remapped
        shown = screen.app.get_key_display(binding)
        ident = binding.id or ""
        if (shown, ident) in seen:
            continue
        seen.add((shown, ident))
        rows.append((shown, binding.description, ident))
    return rows


class HelpScreen(ModalScreen[None]):
    """Lists (key, action, binding id); Esc, q or ? closes it."""

    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("q", "dismiss", "Close", show=False, id="help.close_q"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close_question"),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 84; height: auto; max-height: 90%; border: thick $accent; background: $surface;
                            padding: 0 1; }
    HelpScreen VirtualTable { height: auto; max-height: 26; }
    HelpScreen .help-hint { color: $text-muted; margin-top: 1; }
    """

    def __init__(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.rows = rows

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Keys: {self.title_text}"
            table = VirtualTable([Column("KEY", max_width=14), Column("ACTION", max_width=36),
                                  Column("BINDING ID", max_width=24)], id="help-table")
            table.set_rows([f"{k}|{i}" for k, _, i in self.rows], self.rows)
            yield table
            yield Static(
                "Commands (press :): pods, jobs, history, schedules, ns NAME, ns all, ctx NAME, quit.\n"
                "Tab moves between panes. Remap keys by binding id in $CLI_RECOVER_HOME/keymap.toml,\n"
                "e.g.  \\[keymap]  backup = \"ctrl+b\"",
                classes="help-hint",
            )

    def on_mount(self) -> None:
        self.query_one(VirtualTable).focus()
