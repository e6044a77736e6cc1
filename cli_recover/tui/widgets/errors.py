"""How the app reports problems: one readable line per error, and one message that carries it.

Screens and their workers never show errors themselves: they post `ErrorReport` (thread-safe, also
from a `@work(thread=True)` worker) and the app's single handler shows it as a notification.
"""

from __future__ import annotations

from textual.message import Message

from cli_recover.errors import RecoverError


def error_text(exc: BaseException | str) -> str:
    """One readable line for any exception (RecoverErrors are already written for users)."""
    if isinstance(exc, str):
        return exc
    if isinstance(exc, RecoverError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class ErrorReport(Message):
    """A problem to show the user: `error` is an exception or a ready line; `title` says where."""

    def __init__(self, error: BaseException | str, *, title: str = "", timeout: float = 8) -> None:
        super().__init__()
        self.error = error
        self.title = title
        self.timeout = timeout

    @property
    def text(self) -> str:
        return error_text(self.error)


class PlainNotify:
    """Notifications show their text as is (paths and errors may hold `[...]`, which is not markup)."""

    def notify(self, message: str, *, markup: bool = False, **kw) -> None:
        super().notify(message, markup=markup, **kw)
