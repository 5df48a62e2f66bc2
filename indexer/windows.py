"""Resampling and cutting streams into fixed-length windows.

All modalities of a recording are cut at the same start times, so the i-th IMU window and the
i-th pose window of a recording cover the same interval: that is what pairs them for training
and evaluation. A recording shorter than a window becomes one zero-padded window whose true
end (`t_end`) and number of valid samples (`valid`) are kept.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from indexer.bounds import MAX_STREAM_BYTES
from indexer.errors import BadInput
from indexer.imports import optional
from indexer.model import Modality, Recording
from indexer.video import probe_video, read_frames


def _scipy(part: str):
    """scipy.signal / scipy.interpolate, imported on the first resampling (about 0.5 s): a
    command that only searches stored windows (a text query) never needs them."""
    return optional(f"scipy.{part}", "")


@dataclass(frozen=True)
class WindowSpec:
    length: float = 5.0  # seconds
    hop: float = 1.0  # seconds between window starts

    def __post_init__(self) -> None:
        if not (0 < self.length < float("inf") and 0 < self.hop < float("inf")):  # NaN fails too
            raise ValueError(f"window length and hop must be positive, got {self.length}, {self.hop}")


@dataclass
class Window:
    recording_id: str
    modality: Modality  # "imu" | "pose" | "video"
    body_part: str  # an IMU's placement, or "all" for the whole skeleton
    t_start: float
    t_end: float  # true end: less than t_start + length for a padded window
    data: np.ndarray  # (n, ...) at the encoder's rate, zero-padded after `valid` samples
    valid: int


def resample(data: np.ndarray, rate: float, target: float) -> np.ndarray:
    """Resample along axis 0 from `rate` to `target` Hz.

    Rational ratios with small terms go through scipy's polyphase filter (anti-aliased);
    awkward ratios (UTD-MHAD's skeleton runs at T/duration Hz) are low-passed when
    downsampling and then interpolated on the target time grid.
    """
    data = np.asarray(data, dtype=np.float64)
    if abs(rate - target) < 1e-9:
        return data.copy()
    n_out = max(1, int(round(data.shape[0] * target / rate)))
    ratio = Fraction(target / rate).limit_denominator(64)
    if abs(float(ratio) - target / rate) < 1e-9 and data.shape[0] > 8:
        up, down = ratio.numerator, ratio.denominator
        out = _scipy("signal").resample_poly(data, up, down, axis=0, window=_antialias(up, down), padtype="line")
        return out[:n_out]
    if data.shape[0] < 2:
        return np.repeat(data, n_out, axis=0)
    if target < rate and data.shape[0] > 15:
        b, a = _scipy("signal").butter(4, 0.9 * target / rate)
        data = _scipy("signal").filtfilt(b, a, data, axis=0)
    t_in = np.arange(data.shape[0]) / rate
    t_out = np.arange(n_out) / target
    f = _scipy("interpolate").interp1d(t_in, data, axis=0, kind="linear", bounds_error=False,
                                   fill_value=(data[0], data[-1]))
    return f(t_out)


@lru_cache(maxsize=64)
def _antialias(up: int, down: int) -> np.ndarray:
    """resample_poly's own default filter (Kaiser, beta 5) for a reduced ratio up/down, designed
    once: a build resamples thousands of streams at the same few ratios, and designing the
    filter cost more than applying it. resample_poly copies it before scaling."""
    rate = max(up, down)
    return _scipy("signal").firwin(2 * 10 * rate + 1, 1.0 / rate, window=("kaiser", 5.0))


def window_starts(duration: float, spec: WindowSpec) -> list[float]:
    """Start times covering [0, duration]: every `hop`, plus one aligned to the end if the
    regular grid leaves a tail uncovered; a single start at 0 for a short recording."""
    if duration <= spec.length + 1e-9:
        return [0.0]
    last = duration - spec.length
    starts = list(np.arange(0.0, last + 1e-9, spec.hop))
    if last - starts[-1] > 1e-6:
        starts.append(last)
    return [float(round(s, 6)) for s in starts]


def cut(data: np.ndarray, rate: float, t_start: float, length: float) -> tuple[np.ndarray, int]:
    """The `length`-second slice of a stream sampled at `rate` starting at `t_start`,
    zero-padded to full length; returns (slice, number of real samples)."""
    n = int(round(length * rate))
    i0 = int(round(t_start * rate))
    part = data[i0 : i0 + n]
    out = np.zeros((n,) + data.shape[1:], dtype=np.float32)
    out[: len(part)] = part
    return out, len(part)


DEFAULT_VIDEO_SIZE = 224  # frame side (pixels) when the caller names none: open_clip's input size


def video_windows(rec: Recording, spec: WindowSpec, fps: float, starts: list[float],
                  size: int | None = None) -> list[Window]:
    """Video windows: frames (n, size, size, 3) uint8 sampled at `fps`, zero-padded after `valid`.
    Each window decodes only its own interval (PyAV seeks to it), so nothing holds a whole video;
    a corrupt video raises BadInput naming the file."""
    video = rec.video
    length = video.duration if video.duration else probe_video(video.path).duration
    stream_end = video.offset + length  # recording time at which the video stops
    n = int(round(spec.length * fps))
    size = size or DEFAULT_VIDEO_SIZE
    out = []
    for s in starts:
        t0 = max(s, video.offset)
        if t0 >= stream_end - 1e-9:
            continue
        t1 = min(s + spec.length, stream_end)
        frames = read_frames(video.path, t0 - video.offset, t1 - video.offset, fps, size)[:n]
        piece = np.zeros((n, size, size, 3), dtype=np.uint8)
        piece[: len(frames)] = frames
        out.append(Window(rec.id, "video", "all", s, t1, piece, len(frames)))
    return out


def _check_resampled_size(stream, target: float) -> None:
    """BadInput naming the stream's file when resampling it to `target` Hz would take more than
    MAX_STREAM_BYTES (estimated before anything is allocated)."""
    values = stream.data.size // max(1, stream.data.shape[0])
    need = stream.data.shape[0] * target / stream.rate * values * 8
    if need > MAX_STREAM_BYTES:
        raise BadInput(stream.source or "stream", f"{stream.data.shape[0]} samples at {stream.rate:g} Hz resampled to "
                       f"{target:g} Hz would take {need / 2**30:.1f} GiB, more than the {MAX_STREAM_BYTES / 2**30:.0f} "
                       "GiB one stream may (check the rate)")


def recording_windows(rec: Recording, spec: WindowSpec, rates: dict[str, float],
                      starts: list[float] | None = None, video_size: int | None = None) -> list[Window]:
    """Windows of every modality in `rates` ({"imu": 50, "pose": 25, "video": 5}) the recording
    has; video frames are `video_size` pixels square.

    Every stream is cut on the recording's one grid of start times, so windows of different
    streams pair up by `t_start`. A stream that starts late (its `offset`, or a segment after a
    gap in an IMU clock) contributes the windows that start inside it; each IMU sensor gives its
    own windows (`body_part` = its placement).
    """
    starts = window_starts(rec.duration, spec) if starts is None else starts
    # (modality, body part, samples at the tower rate, rate, recording time of the first sample)
    streams: list[tuple[str, str, np.ndarray, float, float]] = []
    for modality, stream in [("imu", s) for s in rec.imu] + [("pose", rec.pose)]:
        if stream is not None and modality in rates:
            _check_resampled_size(stream, rates[modality])
    if "imu" in rates:
        for imu in rec.imu:
            streams.append(("imu", imu.placement, resample(imu.data, imu.rate, rates["imu"]), rates["imu"],
                            imu.offset))
    if "pose" in rates and rec.pose is not None:
        pose = rec.pose.canonical()
        flat = pose.reshape(pose.shape[0], -1)
        res = resample(flat, rec.pose.rate, rates["pose"]).reshape(-1, *pose.shape[1:])
        streams.append(("pose", "all", res, rates["pose"], rec.pose.offset))
    out = []
    for modality, part, data, rate, offset in streams:
        stream_end = offset + data.shape[0] / rate
        for s in starts:
            if s < offset - 1e-6 or s >= stream_end - 1e-9:
                continue
            piece, valid = cut(data, rate, max(0.0, s - offset), spec.length)
            out.append(Window(rec.id, modality, part, s, min(s + spec.length, stream_end), piece, valid))
    if "video" in rates and rec.video is not None:
        out.extend(video_windows(rec, spec, rates["video"], starts, video_size))
    return out
