"""A small modal list to pick one value (a namespace, a context)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList
from textual.widgets.option_list import Option


class PickerDialog(ModalScreen[str | None]):
    """Dismisses with the chosen value, or None on Esc."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="picker.cancel")]

    DEFAULT_CSS = """
    PickerDialog { align: center middle; }
    PickerDialog > Vertical { width: 50; height: auto; max-height: 80%; border: thick $accent;
                              background: $surface; }
    PickerDialog OptionList { height: auto; max-height: 24; border: none; }
    """

    def __init__(self, title: str, choices: list[tuple[str, str]], current: str | None = None) -> None:
        """choices: (value, label) pairs."""
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield OptionList(*[Option(label, id=value) for value, label in self.choices])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        for i, (value, _) in enumerate(self.choices):
            if value == self.current:
                options.highlighted = i
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
