"""User-facing errors. Every one carries a single readable line; the CLI prints it and exits non-zero."""

from __future__ import annotations


class RecoverError(Exception):
    """An error a user can act on. `str(err)` is one line, no traceback is shown."""

    exit_code = 1


class UsageError(RecoverError):
    """Bad input on the command line or in a file the user gave."""

    exit_code = 2


class IntegrityError(RecoverError):
    """An archive does not match its manifest, or a stream did not end as it must."""


class ProducerError(RecoverError):
    """The process that produced (or consumed) a stream failed."""


class Cancelled(RecoverError):
    """The job was interrupted by a signal; `exit_code` follows the shell convention 128+N."""

    def __init__(self, signum: int = 2, message: str | None = None):
        import signal

        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
        super().__init__(message or f"cancelled by {name}")
        self.signum = signum
        self.exit_code = 128 + signum
