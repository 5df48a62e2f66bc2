"""Bounds on the numbers a user or a file can give, so that a typo is refused in one line naming
the allowed range instead of ending in a silent surprise or a memory bomb."""
from __future__ import annotations

import argparse
import math

MAX_K = 10_000  # results per query
RATE_RANGE = (0.1, 100_000.0)  # Hz, sample rate of an IMU or frame rate of a pose stream
MAX_DURATION = 7 * 24 * 3600.0  # seconds in one recording (a week of continuous wear)
# A model's window: from one token step to an hour; the samples of one window at the tower's rate
# are what every batch of an index build holds, so they are bounded too.
WINDOW_RANGE = (0.2, 3600.0)  # seconds
MAX_WINDOW_SAMPLES = 1 << 20  # samples (frames) of one window at a tower's rate
EMBED_DIM_RANGE = (1, 16_384)  # joint-space width
MAX_MODEL_BYTES = 8 << 30  # float32 parameters of one checkpoint's model (ViT-L/14 CLIP is ~1.7 GB)
PORT_RANGE = (1, 65_535)
# One stream resampled to a tower's rate is held in memory whole (float64) while it is cut into
# windows: a sparse stream stretched over a long time (a week at 0.1 Hz, resampled to 25 Hz) is
# refused before that allocation.
MAX_STREAM_BYTES = 4 << 30


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


def bounded(low: float, high: float, kind: type = float):
    """argparse type: a number of `kind` (float or int) with low <= value <= high; anything else
    (a word, NaN, inf, out of range) is refused with the range in the message."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {text}")
        return value

    parse.__name__ = f"{kind.__name__} in [{low:g}, {high:g}]"  # what argparse names in its messages
    return parse


# argparse types of the numbers many commands take
rate = bounded(*RATE_RANGE)
seconds = bounded(0.0, MAX_DURATION)
share = bounded(0.0, 1.0)
