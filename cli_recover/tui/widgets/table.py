"""VirtualTable: a read-only table that renders only the rows on screen (Textual's line API).

DataTable measures every cell as rows are added: 5,000 pods take about 2 s to show, and a filter that
rebuilds the table pays that again on each keystroke. Here rows are plain tuples of strings kept in a
list; `set_rows` swaps the list and repaints the visible lines, so filtering 5,000 rows costs a few
milliseconds. A cell is a `str` or a `(str, rich style)` pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | tuple[str, str]
GAP = 2  # spaces between columns


@dataclass(frozen=True)
class Column:
    label: str
    width: int | None = None  # fixed width; None: as wide as the widest cell (capped by max_width)
    max_width: int = 60
    justify: str = "left"  # or "right"


def cell_text(cell: Cell) -> str:
    return cell[0] if isinstance(cell, tuple) else cell


def column_widths(columns: Sequence[Column], rows: Sequence[Sequence[Cell]]) -> list[int]:
    """Widths fitting the header and every cell (fixed widths win)."""
    widths = []
    for i, col in enumerate(columns):
        if col.width is not None:
            widths.append(col.width)
            continue
        longest = max((len(cell_text(r[i])) for r in rows), default=0)
        widths.append(min(col.max_width, max(len(col.label), longest)))
    return widths


class VirtualTable(ScrollView, can_focus=True):
    """Rows with a fixed header and a cursor; posts Highlighted when the cursor moves and Selected on
    a click on the highlighted row. Enter is left to the screen (so its binding can be remapped)."""

    BINDINGS = [
        Binding("up", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down", "cursor_down", "Down", show=False, id="table.down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
        Binding("home", "first", "First", show=False, id="table.first"),
        Binding("end", "last", "Last", show=False, id="table.last"),
    ]

    COMPONENT_CLASSES = {"vtable--header", "vtable--cursor", "vtable--cursor-blurred", "vtable--empty"}

    DEFAULT_CSS = """
    VirtualTable { background: $surface; height: 1fr; }
    VirtualTable > .vtable--header { text-style: bold; background: $panel; color: $text; }
    VirtualTable > .vtable--cursor { background: $accent; color: $text; }
    VirtualTable > .vtable--cursor-blurred { background: $panel-lighten-1; }
    VirtualTable > .vtable--empty { color: $text-muted; text-style: italic; }
    """

    class Highlighted(Message):
        def __init__(self, table: VirtualTable, index: int, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.index = index
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class Selected(Highlighted):
        pass

    def __init__(self, columns: Sequence[Column] = (), *, empty_text: str = "", name: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.columns: list[Column] = list(columns)
        self.keys: list[str] = []
        self.rows: list[Sequence[Cell]] = []
        self.widths: list[int] = [len(c.label) for c in self.columns]
        self.cursor = 0
        self.empty_text = empty_text

    # -- data -------------------------------------------------------------------------------------

    def set_columns(self, columns: Sequence[Column]) -> None:
        """New columns; the rows are cleared (they had the old shape)."""
        self.columns = list(columns)
        self.keys, self.rows = [], []
        self.widths = column_widths(self.columns, [])
        self.cursor = 0
        self._resize()
        self.refresh()

    def set_rows(self, keys: Sequence[str], rows: Sequence[Sequence[Cell]], *,
                 widths: Sequence[int] | None = None, cursor_key: str | None = None) -> None:
        """Replace the rows; the cursor stays on `cursor_key` (default: the current row's key) if present."""
        wanted = cursor_key if cursor_key is not None else self.cursor_key
        self.keys = list(keys)
        self.rows = rows if isinstance(rows, list) else list(rows)
        self.widths = list(widths) if widths is not None else column_widths(self.columns, self.rows)
        index = 0
        if wanted is not None and self.keys:
            try:
                index = self.keys.index(wanted)
            except ValueError:
                index = min(self.cursor, len(self.keys) - 1)
        self._resize()
        self._move(index, force=True)
        self.refresh()

    def set_empty_text(self, text: str) -> None:
        self.empty_text = text
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def cursor_key(self) -> str | None:
        return self.keys[self.cursor] if 0 <= self.cursor < len(self.keys) else None

    @property
    def cursor_cells(self) -> Sequence[Cell] | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def move_to_key(self, key: str) -> bool:
        try:
            self._move(self.keys.index(key))
        except ValueError:
            return False
        return True

    def move_to(self, index: int) -> None:
        self._move(index)

    def refresh_row(self, index: int) -> None:
        self.refresh_line(index - round(self.scroll_y) + 1)

    def update_row(self, index: int, cells: Sequence[Cell]) -> None:
        self.rows[index] = cells
        self.refresh_row(index)

    # -- geometry and cursor ----------------------------------------------------------------------

    def _total_width(self) -> int:
        return sum(self.widths) + GAP * max(0, len(self.widths) - 1) + 2

    def _resize(self) -> None:
        self.virtual_size = Size(self._total_width(), len(self.rows) + 1)

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _move(self, index: int, *, force: bool = False) -> None:
        count = len(self.rows)
        index = max(0, min(index, count - 1)) if count else 0
        old = self.cursor
        if index == old and not force:
            return
        self.cursor = index
        top = round(self.scroll_y)
        if index < top:
            self.scroll_to(y=index, animate=False, immediate=True)
        elif index >= top + self._page:
            self.scroll_to(y=index - self._page + 1, animate=False, immediate=True)
        self.refresh_row(old)
        self.refresh_row(index)
        if count:
            self.post_message(self.Highlighted(self, index, self.cursor_key))

    def action_cursor_up(self) -> None:
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        self._move(self.cursor + 1)

    def action_page_up(self) -> None:
        self._move(self.cursor - self._page)

    def action_page_down(self) -> None:
        self._move(self.cursor + self._page)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self.rows) - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        index = round(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.rows):
            if index == self.cursor or event.chain > 1:
                self._move(index)
                self.post_message(self.Selected(self, index, self.keys[index]))
            else:
                self._move(index)

    def on_focus(self) -> None:
        self.refresh_row(self.cursor)

    def on_blur(self) -> None:
        self.refresh_row(self.cursor)

    def on_resize(self) -> None:
        self._move(self.cursor, force=True)

    # -- rendering --------------------------------------------------------------------------------

    def _line(self, cells: Sequence[Cell], base: Style, *, override: Style | None = None) -> list[Segment]:
        segments = [Segment(" ", base)]
        for i, (cell, width) in enumerate(zip(cells, self.widths, strict=False)):
            if i:
                segments.append(Segment(" " * GAP, base))
            text = cell_text(cell)
            if cell_len(text) > width:
                text = set_cell_size(text, max(0, width - 1)) + "…" if width else ""
            elif self.columns[i].justify == "right":
                text = " " * (width - cell_len(text)) + text
            else:
                text = text + " " * (width - cell_len(text))
            style = base
            if isinstance(cell, tuple) and override is None:
                style = base + Style.parse(cell[1])
            segments.append(Segment(text, style))
        segments.append(Segment(" ", base))
        return segments

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("vtable--header")
            strip = Strip(self._line([c.label for c in self.columns], style, override=style))
            return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, style)
        index = scroll_y + y - 1
        if not self.rows:
            if y == 1 and self.empty_text:
                style = base + self.get_component_rich_style("vtable--empty")
                return Strip([Segment(" " + self.empty_text, style)]).crop(0, width).extend_cell_length(width, base)
            return Strip.blank(width, base)
        if index >= len(self.rows):
            return Strip.blank(width, base)
        if index == self.cursor:
            name = "vtable--cursor" if self.has_focus else "vtable--cursor-blurred"
            style = base + self.get_component_rich_style(name)
            strip = Strip(self._line(self.rows[index], style, override=style))
            return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, style)
        strip = Strip(self._line(self.rows[index], base))
        return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, base)
