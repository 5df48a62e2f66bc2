"""Bounds on the numbers a user or a file can give, so that a typo is refused in one line naming
the allowed range instead of ending in a silent surprise or a memory bomb."""
from __future__ import annotations

import argparse

MAX_K = 10_000  # results per query
RATE_RANGE = (0.1, 100_000.0)  # Hz, sample rate of an IMU or frame rate of a pose stream
MAX_DURATION = 7 * 24 * 3600.0  # seconds in one recording (a week of continuous wear)


def check_range(name: str, value: float, low: float, high: float) -> float:
    """`value` if low <= value <= high, else ValueError naming `name` and the range."""
    if not (low <= value <= high):  # also refuses NaN
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return value


def positive_int(text: str, low: int = 1) -> int:
    """argparse type: an integer >= 1 (>= `low`)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def count(text: str) -> int:
    """argparse type: an integer >= 0."""
    return positive_int(text, low=0)
