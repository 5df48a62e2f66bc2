"""Timestamps to uniform streams: irregular or bursty clocks, gaps, and one sensor split over
several files with their own clocks.

Encoders read samples on a uniform grid. A stream that comes with timestamps instead of a rate
is put on one here: samples are sorted (a note says how many were out of order or repeated),
the grid rate is the given one or the median sampling rate, and values are interpolated
linearly onto the grid. Where the clock stops for longer than `max_gap` the stream is split
into segments instead of interpolated across; each segment keeps its offset in recording time.
Several parts of one sensor (acc in one file, gyro in another) are merged on their common span.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexer.errors import BadInput

# Seconds per unit of a time column; "iso" is ISO 8601 text ("2024-05-01T10:00:00.120").
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9, "iso": None}
DEFAULT_MAX_GAP = 1.0  # seconds without a sample after which a stream is split
MIN_SEGMENT_SAMPLES = 2


@dataclass
class Segment:
    """A stretch of a stream on a uniform grid: `data[i]` is at `offset + i / rate`."""

    offset: float
    rate: float
    data: np.ndarray  # (T, C) float64


def parse_times(values, unit: str, where: str, epoch: bool = False) -> np.ndarray:
    """A time column (numbers in `unit`, or ISO 8601 text when unit is "iso") -> float64 seconds.

    ISO times count from the column's first instant, or from 1970 with `epoch` (so that files
    of one recording with separate clocks stay aligned)."""
    unit = unit.strip().lower()
    if unit not in TIME_UNITS:
        raise BadInput(where, f"unknown time_unit {unit!r}; known: {', '.join(TIME_UNITS)}")
    if unit == "iso":
        try:
            stamps = np.array([np.datetime64(str(v).strip().rstrip("Z"), "ns") for v in values])
        except ValueError as exc:
            raise BadInput(where, f"time column is not ISO 8601 time ({exc})") from None
        if not len(stamps):
            return np.zeros(0)
        zero = np.datetime64("1970-01-01T00:00:00", "ns") if epoch else stamps.min()
        return (stamps - zero).astype("int64") / 1e9
    try:
        seconds = np.asarray(values, dtype=np.float64) * TIME_UNITS[unit]
    except (TypeError, ValueError):
        raise BadInput(where, "time column holds values that are not numbers") from None
    if not np.isfinite(seconds).all():
        raise BadInput(where, "time column holds NaN or infinite values")
    return seconds


def _clean(times: np.ndarray, data: np.ndarray, where: str, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, strictly increasing timestamps; repeated ones keep their first sample."""
    if len(times) != len(data):
        raise BadInput(where, f"{len(times)} timestamps for {len(data)} samples")
    backwards = int((np.diff(times) < 0).sum())
    if backwards:
        order = np.argsort(times, kind="stable")
        times, data = times[order], data[order]
        notes.append(f"{where}: {backwards} timestamp(s) went backwards; samples sorted by time")
    keep = np.concatenate([[True], np.diff(times) > 0])
    if not keep.all():
        notes.append(f"{where}: {int((~keep).sum())} repeated timestamp(s); kept the first sample of each")
        times, data = times[keep], data[keep]
    return times, data


def median_rate(times: np.ndarray) -> float:
    """The typical sampling rate of a clock (robust to bursts and gaps)."""
    steps = np.diff(times)
    steps = steps[steps > 0]
    if not len(steps):
        return float("nan")
    return float(1.0 / np.median(steps))


def nominal_rate(rate: float, tolerance: float = 1e-3) -> float:
    """A measured rate within `tolerance` (relative) of a whole number of Hz -> that number.

    Epoch clocks in float seconds carry ~1e-7 s of rounding, and device clocks drift by tens of
    ppm, so a 50 Hz logger measures 50.00005 Hz; on that grid every later resampling to 50 Hz
    would low-pass and interpolate instead of copying. The samples are interpolated by their
    timestamps either way, so the rounder grid loses nothing."""
    whole = round(rate) if np.isfinite(rate) else 0
    return float(whole) if whole > 0 and abs(rate - whole) <= tolerance * rate else rate


def regularise(parts: list[tuple[np.ndarray, np.ndarray]], where: str, rate: float | None = None,
               max_gap: float = DEFAULT_MAX_GAP, origin: float | None = None,
               part_names: list[str] | None = None) -> tuple[list[Segment], list[str]]:
    """Put the parts of one sensor, each (times in s, data (T, C_i)), on one uniform grid.

    Returns the segments (columns of all parts side by side, in part order) and notes on what
    was repaired (naming a part by `part_names`, e.g. its file, when given). Time is measured
    from `origin` (default: the earliest timestamp of any part).
    With several parts, the grid covers only their common span, and a gap in any part splits it.
    """
    notes: list[str] = []
    cleaned = []
    for n, (times, data) in enumerate(parts):
        if part_names is not None:
            label = part_names[n]
        else:
            label = where if len(parts) == 1 else f"{where} (part {n + 1})"
        data = np.asarray(data, dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        times, data = _clean(np.asarray(times, dtype=np.float64), data, label, notes)
        if len(times) < MIN_SEGMENT_SAMPLES:
            raise BadInput(where, f"{len(times)} distinct timestamp(s); a stream needs at least {MIN_SEGMENT_SAMPLES}")
        cleaned.append((times, data))
    if max_gap <= 0:
        raise BadInput(where, f"max_gap must be positive, got {max_gap}")
    if rate is None:
        rate = nominal_rate(min(median_rate(t) for t, _ in cleaned))
    if not np.isfinite(rate) or rate <= 0:
        raise BadInput(where, f"cannot tell the sampling rate from the timestamps (got {rate!r} Hz)")
    origin = min(t[0] for t, _ in cleaned) if origin is None else origin
    start, stop = max(t[0] for t, _ in cleaned), min(t[-1] for t, _ in cleaned)
    if stop <= start:
        raise BadInput(where, "the files of this sensor share no common time span")
    # A ten-thousandth of a sample of slack: epoch clocks in float seconds carry ~1e-7 s of rounding.
    grid = start + np.arange(int(np.floor((stop - start) * rate + 1e-4)) + 1) / rate
    ok = np.ones(len(grid), bool)
    columns = []
    for times, data in cleaned:
        # A grid point is usable when the samples either side of it are at most max_gap apart.
        right = np.clip(np.searchsorted(times, grid, side="right"), 1, len(times) - 1)
        ok &= (times[right] - times[right - 1]) <= max_gap + 1e-9
        columns.append(np.stack([np.interp(grid, times, data[:, c]) for c in range(data.shape[1])], axis=1))
    values = np.concatenate(columns, axis=1)
    segments = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], ok.astype(np.int8), [0]])))
    for lo, hi in zip(edges[::2], edges[1::2]):
        if hi - lo >= MIN_SEGMENT_SAMPLES:
            segments.append(Segment(float(grid[lo] - origin), float(rate), values[lo:hi]))
    if len(segments) > 1:
        notes.append(f"{where}: clock gaps longer than {max_gap:g} s split the stream into {len(segments)} segments")
    if not segments:
        raise BadInput(where, f"no stretch of the stream is free of gaps longer than {max_gap:g} s")
    return segments, notes
