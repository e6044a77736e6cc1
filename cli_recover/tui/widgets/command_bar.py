"""The one-line prompt docked at the bottom of a screen: `:` command mode and `/` filter as you type.

One bar per screen, created on first use and then hidden and shown again (removing a focused Input
from inside its own handlers deadlocks Textual's pilot and is not needed)."""

from __future__ import annotations

from collections.abc import Callable

from textual.binding import Binding
from textual.suggester import SuggestFromList
from textual.widgets import Input

COMMANDS = ["pods", "jobs", "history", "schedules", "ns ", "ns all", "ctx ", "help", "quit"]
PLACEHOLDERS = {
    "command": "pods, jobs, history, ns NAME|all, ctx NAME, help, quit",
    "filter": "filter as you type (Enter keeps it, Esc clears it)",
}


class CommandBar(Input):
    """mode "command": Enter calls on_submit(text). mode "filter": every change calls on_change(text);
    Enter keeps the filter, Escape clears it. Either way the bar then hides itself."""

    BINDINGS = [Binding("escape", "cancel", "Close", id="bar.cancel")]

    DEFAULT_CSS = """
    CommandBar { dock: bottom; height: 3; margin-bottom: 1; border: tall $accent; }
    """

    def __init__(self) -> None:
        super().__init__(select_on_focus=False, id="command-bar")
        self.mode = "command"
        self.is_open = False
        self._on_submit: Callable[[str], None] | None = None
        self._on_change: Callable[[str], None] | None = None
        self._return_focus = None
        self.display = False

    def open(self, mode: str, *, value: str = "", on_submit: Callable[[str], None] | None = None,
             on_change: Callable[[str], None] | None = None) -> None:
        self.mode = mode
        self._on_submit = on_submit
        self._on_change = None  # no callback for setting the initial value
        focused = self.screen.focused
        self._return_focus = focused if focused is not self else self._return_focus
        self.suggester = SuggestFromList(COMMANDS) if mode == "command" else None
        self.placeholder = PLACEHOLDERS[mode]
        self.border_title = ":" if mode == "command" else "/"
        self.value = value
        self.cursor_position = len(value)
        self.display = True
        self.is_open = True
        self._on_change = on_change
        self.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._on_change and self.is_open:
            self._on_change(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value
        callback = self._on_submit
        self.close()
        if callback:
            callback(value.strip() if self.mode == "command" else value)

    def action_cancel(self) -> None:
        on_change = self._on_change if self.mode == "filter" else None
        self.close()
        if on_change:
            on_change("")

    def on_blur(self) -> None:
        if self.is_open and self.mode == "command":
            self.close(restore_focus=False)

    def close(self, *, restore_focus: bool = True) -> None:
        if not self.is_open:
            return
        self.is_open = False
        self._on_change = None
        self._on_submit = None
        self.display = False
        target = self._return_focus
        self._return_focus = None
        if restore_focus and target is not None and target.is_attached:
            target.focus()
