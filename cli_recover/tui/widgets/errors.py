"""How the app reports problems: one readable line per error, and one message that carries it.

Screens and their workers never show errors themselves: they call `report(node, error)`, which posts
an `ErrorReport` to the app (thread-safe, also from a `@work(thread=True)` worker), and the app's one
handler (`ReportsErrors.on_error_report`) shows it as a notification.
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


def report(node, error: BaseException | str, *, title: str = "", timeout: float = 8) -> None:
    """Send an error to the app's one handler, from the UI thread or a worker thread."""
    node.app.post_message(ErrorReport(error, title=title, timeout=timeout))


class ReportsErrors:
    """Mixed into the App: the one place errors reach the user, a notification with the error's
    line (never a traceback, never markup)."""

    def on_error_report(self, message: ErrorReport) -> None:
        message.stop()
        self.notify(message.text, title=message.title, severity="error", timeout=message.timeout, markup=False)

    def report(self, error: BaseException | str, *, title: str = "") -> None:
        """`app.report(...)`: the same, for callers that hold the app."""
        self.post_message(ErrorReport(error, title=title))


class PlainNotify:
    """Notifications show their text as is (paths and errors may hold `[...]`, which is not markup)."""

    def notify(self, message: str, *, markup: bool = False, **kw) -> None:
        super().notify(message, markup=markup, **kw)
