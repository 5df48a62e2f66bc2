"""Bounds on the numbers a user or a file can give, so that a typo is refused in one line naming
the allowed range instead of ending in a silent surprise or a memory bomb."""
from __future__ import annotations

import argparse
import math

import numpy as np

from indexer.errors import BadInput
from indexer.units import IMU_CHANNEL_GROUPS, STANDARD_GRAVITY

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
# What a body wearing an IMU can produce. Beyond these a file holds a unit mistake (mg or deg/s
# read as m/s^2 or rad/s) or garbage (1e30), not motion, and its windows would only pollute the
# index. Everyday IMUs saturate at 16 g and 2,000 deg/s (35 rad/s); high-g impact sensors reach
# 200-400 g, and a file of theirs is refused naming this bound.
MAX_ACCELERATION = 100 * STANDARD_GRAVITY  # m/s^2 on any axis: 100 g
MAX_ANGULAR_RATE = 100.0  # rad/s on any axis (5,730 deg/s; a baseball pitch peaks near 130 at the arm)
# The shortest stream that is a motion at all: one sample has no motion and a few have no shape
# (0.1 s is half of one 0.2 s token, the finest time step anything here reads).
MIN_STREAM_SAMPLES = 2
MIN_STREAM_SECONDS = 0.1
SENSOR_NAMES = {"acc": "accelerometer", "gyr": "gyroscope", "mag": "magnetometer", "quat": "orientation quaternion"}


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


def check_imu_values(where: str, data: np.ndarray, channels: list[str]) -> None:
    """Refuse (BadInput naming `where`) IMU samples in SI units that no worn sensor records:
    an incomplete sensor group (one or two gyroscope axes), an acceleration beyond
    MAX_ACCELERATION or an angular rate beyond MAX_ANGULAR_RATE on any axis."""
    for group, names in IMU_CHANNEL_GROUPS.items():
        have = [c for c in names if c in channels]
        if have and len(have) < len(names):
            # One axis of a gyroscope is not a rotation an encoder can read; guessing the others
            # as zero would index a different motion without a word.
            lack = [c for c in names if c not in have]
            raise BadInput(where, f"incomplete {SENSOR_NAMES[group]}: {', '.join(have)} without the other "
                                  f"axes; the columns lack {lack} (a sensor is read with all its axes or not at all)")
    data = np.asarray(data)
    for prefix, bound, unit, option in (("acc", MAX_ACCELERATION, "m/s^2", "acc_unit"),
                                        ("gyr", MAX_ANGULAR_RATE, "rad/s", "gyr_unit")):
        columns = [i for i, c in enumerate(channels) if c.startswith(prefix)]
        if not columns or not len(data):
            continue
        peak = np.abs(data[:, columns]).max(axis=0)
        worst = int(np.argmax(peak))
        if peak[worst] > bound:
            what = "acceleration" if prefix == "acc" else "angular rate"
            limit = f"{bound / STANDARD_GRAVITY:.0f} g" if prefix == "acc" else f"{bound:g} rad/s"
            raise BadInput(where, f"{what} of {peak[worst]:.3g} {unit} in {channels[columns[worst]]}, beyond the "
                                  f"{limit} a worn sensor records: a wrong {option} or corrupt values")


def check_stream_length(where: str, samples: int, rate: float) -> None:
    """Refuse a stream too short to be a motion (MIN_STREAM_SAMPLES, MIN_STREAM_SECONDS)."""
    if samples < MIN_STREAM_SAMPLES or samples / rate < MIN_STREAM_SECONDS:
        raise BadInput(where, f"{samples} sample(s) at {rate:g} Hz last {samples / rate:.3g} s; a stream needs at "
                              f"least {MIN_STREAM_SAMPLES} samples and {MIN_STREAM_SECONDS:g} s")
