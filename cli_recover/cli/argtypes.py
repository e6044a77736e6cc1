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
