"""Pictures for the web page: the skeleton's bones and the IMU's channel groups (shared by the
grid's SVGs and the recording view's plotly figure), video cuts, the Sync tab's plots.

Figures are matplotlib `Figure`s made without pyplot, so no global figure registry grows
under a server answering many requests in threads; video clips are re-encoded to H.264 with
PyAV so any browser can play the cut.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless server: never try to open a window

import av
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from query import CANONICAL_JOINTS, ImuStream, VideoStream

HIGHLIGHT = "#f4a261"
DPI = 80
# Bones of the canonical skeleton, coloured by side so left and right are told apart at a glance.
BONES = [
    ("pelvis", "chest"), ("chest", "neck"), ("neck", "head"),
    ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("neck", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
    ("pelvis", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
    ("pelvis", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
]
SIDE_COLOURS = {"left": "#1f77b4", "right": "#d62728", "centre": "#333333"}
BONE_INDEX = np.array([[CANONICAL_JOINTS.index(a), CANONICAL_JOINTS.index(b)] for a, b in BONES])
BONE_COLOURS = [SIDE_COLOURS["left" if "left" in b else "right" if "right" in b else "centre"] for _, b in BONES]
_GROUPS = (("acc", "acceleration (m/s²)"), ("gyr", "angular velocity (rad/s)"))


def channel_groups(stream: ImuStream) -> list[tuple[str, list[int]]]:
    """(axis title, channel columns): accelerometer and gyroscope apart, since their units differ."""
    out, used = [], set()
    for prefix, title in _GROUPS:
        cols = [i for i, c in enumerate(stream.channels) if c.lower().startswith(prefix)]
        if cols:
            out.append((title, cols))
            used.update(cols)
    rest = [i for i in range(len(stream.channels)) if i not in used]
    if rest:
        out.append(("other channels", rest))
    return out


def video_clip(video: VideoStream, out: str | Path, t_start: float = 0.0, t_end: float | None = None,
               max_side: int = 480) -> Path:
    """The part of a video between `t_start` and `t_end` (recording time), re-encoded to an
    H.264 MP4 every browser plays. Raises ValueError when the range holds no frame."""
    out = Path(out)
    src_start = max(0.0, t_start - video.offset)
    src_end = None if t_end is None else t_end - video.offset
    with av.open(video.path) as src:
        stream = src.streams.video[0]
        rate = stream.average_rate or Fraction(25)
        scale = min(1.0, max_side / max(stream.width, stream.height))
        # libx264 with yuv420p needs even dimensions.
        width, height = int(stream.width * scale) // 2 * 2, int(stream.height * scale) // 2 * 2
        if src_start > 0:
            src.seek(int(src_start / stream.time_base), stream=stream, backward=True)
        with av.open(str(out), "w") as dst:
            enc = dst.add_stream("libx264", rate=rate)
            enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
            enc.codec_context.time_base = Fraction(1) / rate
            enc.options = {"crf": "28", "preset": "veryfast"}
            written = 0
            for frame in src.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else written / float(rate)
                if t + 1e-6 < src_start:
                    continue
                if src_end is not None and t >= src_end:
                    break
                frame = frame.reformat(width=width, height=height, format="yuv420p")
                # Renumber from zero at the source frame rate, so the clip starts at its first frame.
                frame.pts, frame.time_base = written, enc.codec_context.time_base
                for packet in enc.encode(frame):
                    dst.mux(packet)
                written += 1
            for packet in enc.encode():
                dst.mux(packet)
    if written == 0:
        out.unlink(missing_ok=True)
        raise ValueError(f"{video.path}: no video frame between {t_start:.2f} and {t_end} s")
    return out


def vote_figure(candidates: np.ndarray, votes: np.ndarray, offset: float, width: float = 6.4) -> Figure:
    """The sync vote curve: votes per candidate offset, the chosen offset marked."""
    fig = Figure(figsize=(width, 2.4), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    step = float(np.min(np.diff(candidates))) if len(candidates) > 1 else 0.2
    ax.bar(candidates, votes, width=0.9 * step, color="#8ab6d6")
    ax.axvline(offset, color="#d62728", lw=1.5, label=f"offset {offset:+.2f} s")
    ax.set_xlabel("offset of the second stream (s)", fontsize=8)
    ax.set_ylabel("votes", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, frameon=False)
    return fig


def overlay_figure(first: np.ndarray, second: np.ndarray, rate: float, offset: float,
                   names: tuple[str, str] = ("IMU", "other"), width: float = 6.4) -> Figure:
    """Two activity signals sampled at `rate`, before and after moving the second one back by
    `offset` seconds (positive offset: the second stream lags)."""
    fig = Figure(figsize=(width, 3.4), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    before, after = fig.subplots(2, 1, sharex=True)
    ta = np.arange(len(first)) / rate
    tb = np.arange(len(second)) / rate
    panels = ((before, 0.0, "as recorded"), (after, offset, f"aligned (second moved by {-offset:+.2f} s)"))
    for ax, shift, title in panels:
        ax.plot(ta, first, lw=0.9, label=names[0])
        ax.plot(tb - shift, second, lw=0.9, alpha=0.8, label=names[1])
        ax.set_title(title, fontsize=8, loc="left", pad=2)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])
    before.legend(fontsize=7, frameon=False, ncol=2, loc="upper right")
    after.set_xlabel("time in the first stream (s)", fontsize=8)
    return fig
