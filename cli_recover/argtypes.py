"""argparse `type=` converters for numbers: nan, inf and absurd values are bad input, not a crash later."""

from __future__ import annotations

import argparse
import math

MAX_SECONDS = 1e9  # about 31 years; time.sleep() overflows long before float does


def number(text: str) -> float:
    """A finite float."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def seconds(text: str) -> float:
    """A finite duration in seconds, 0 to MAX_SECONDS."""
    value = number(text)
    if not 0 <= value <= MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{text!r} seconds is out of range (0 to {MAX_SECONDS:g})")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range (0 to 65535)")
    return value


def count(maximum: int | None = None):
    """A converter for a whole number, 0 to `maximum` (no bound when None)."""

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} is more than {maximum:,}")
        return value

    convert.__name__ = "count"
    return convert


EXEC_TIMEOUT_HELP = ("give up on a pod's exec stream after SECONDS without any answer from the API server "
                     "(it is pinged, so a quiet command is fine); default $CLI_RECOVER_EXEC_TIMEOUT, else 300; "
                     "0 = never")


def add_exec_timeout_argument(parser) -> None:
    """`--exec-timeout SECONDS` (backup, restore, preflight): see cli_recover.kube.stream."""
    parser.add_argument("--exec-timeout", type=seconds, metavar="SECONDS", help=EXEC_TIMEOUT_HELP)
