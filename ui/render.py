"""Pictures of motion for the web page: IMU plots, skeleton animations, video clips.

Figures are matplotlib `Figure`s made without pyplot, so no global figure registry grows
under a server answering many requests in threads. Animations are GIFs (Pillow) because a
browser plays them everywhere, headless included, with no player and no codec questions;
video clips are re-encoded to H.264 with PyAV so any browser can play the cut.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless server: never try to open a window

import av
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from PIL import Image

from query import CANONICAL_JOINTS, ImuStream, PoseStream, VideoStream

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
_SIDE_COLOUR = {"left": "#1f77b4", "right": "#d62728", "centre": "#333333"}
BONE_INDEX = np.array([[CANONICAL_JOINTS.index(a), CANONICAL_JOINTS.index(b)] for a, b in BONES])
BONE_COLOURS = [_SIDE_COLOUR["left" if "left" in b else "right" if "right" in b else "centre"] for _, b in BONES]
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


def imu_figure(streams: list[ImuStream], highlight: tuple[float, float] | None = None,
               title: str = "", view: tuple[float, float] | None = None, width: float = 6.4) -> Figure:
    """Every IMU channel over time (seconds from the recording start), one axis per sensor and
    unit; `highlight` shades the matched window; `view` limits the time axis to a range."""
    if not streams:
        raise ValueError("no IMU stream to plot")
    panels = [(s, name, cols) for s in streams for name, cols in channel_groups(s)]
    fig = Figure(figsize=(width, 0.6 + 1.35 * len(panels)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (stream, name, cols) in zip(axes, panels):
        t = np.arange(stream.data.shape[0]) / stream.rate
        keep = slice(None)
        if view is not None:
            i0 = max(0, int(np.floor(view[0] * stream.rate)))
            keep = slice(i0, max(i0 + 2, int(np.ceil(view[1] * stream.rate)) + 1))
        for c in cols:
            ax.plot(t[keep], stream.data[keep, c], lw=0.9, label=stream.channels[c])
        if highlight is not None:
            ax.axvspan(highlight[0], highlight[1], color=HIGHLIGHT, alpha=0.3, lw=0)
        ax.set_ylabel(f"{stream.placement}\n{name.split(' (')[0]}", fontsize=7)
        ax.set_title(name, fontsize=7, loc="right", pad=2)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="upper left", ncol=len(cols), frameon=False, handlelength=1)
        ax.margins(x=0)
    axes[-1].set_xlabel("time (s)", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    return fig


def _frame_times(t_start: float, t_end: float, duration: float, fps: float, max_frames: int) -> np.ndarray:
    t0, t1 = max(0.0, t_start), min(t_end, duration)
    if t1 <= t0:
        t0, t1 = 0.0, duration
    n = int(np.clip(round((t1 - t0) * fps), 1, max_frames))
    return t0 + np.arange(n) * ((t1 - t0) / n)


def skeleton_gif(pose: PoseStream, out: str | Path, t_start: float = 0.0, t_end: float | None = None,
                 fps: float = 10.0, max_frames: int = 80, size: tuple[float, float] = (3.6, 2.6)) -> Path:
    """An animated GIF of the canonical skeleton between `t_start` and `t_end` seconds: front
    and side views for 3-D poses (y is up), the image plane for 2-D ones. Long ranges are shown
    at a lower frame rate so the file stays small and the playback stays real-time."""
    joints = pose.canonical()
    times = _frame_times(t_start, pose.duration if t_end is None else t_end, pose.duration, fps, max_frames)
    idx = np.clip(np.round(times * pose.rate).astype(int), 0, joints.shape[0] - 1)
    frames = joints[idx]
    planar = frames.shape[2] == 2
    views = [(0, 1, "front")] if planar else [(0, 1, "front"), (2, 1, "side")]
    fig = Figure(figsize=size, dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(views), squeeze=False)[0]
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.88, wspace=0.05)
    collections = []
    for ax, (h, v, name) in zip(axes, views):
        lo = frames[..., [h, v]].reshape(-1, 2).min(axis=0)
        hi = frames[..., [h, v]].reshape(-1, 2).max(axis=0)
        half = 0.52 * float(max(hi - lo)) + 0.03
        mid = (lo + hi) / 2
        ax.set_xlim(mid[0] - half, mid[0] + half)
        ax.set_ylim(mid[1] - half, mid[1] + half)
        if planar:
            ax.invert_yaxis()  # image coordinates grow downwards
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=7, pad=2)
        lc = LineCollection([], colors=BONE_COLOURS, linewidths=2.2, capstyle="round")
        ax.add_collection(lc)
        collections.append((lc, h, v))
    clock = fig.text(0.5, 0.97, "", ha="center", va="top", fontsize=8)
    # Draw the axes once and only the moving parts per frame (blitting): ~5x faster.
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    images = []
    for t, frame in zip(times, frames):
        canvas.restore_region(background)
        for (lc, h, v), ax in zip(collections, axes):
            lc.set_segments(frame[BONE_INDEX][..., [h, v]])
            ax.draw_artist(lc)
        clock.set_text(f"t = {t:.1f} s")
        fig.draw_artist(clock)
        rgb = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
        images.append(rgb.quantize(colors=32, method=Image.Quantize.FASTOCTREE))
    out = Path(out)
    step_ms = round(1000 * (times[1] - times[0])) if len(times) > 1 else 100
    images[0].save(out, save_all=True, append_images=images[1:], duration=step_ms, loop=0)
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


def figure_png(fig: Figure, out: str | Path) -> Path:
    """Save a figure as PNG (for places that show an image file rather than a plot)."""
    fig.savefig(out, dpi=DPI)
    return Path(out)


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
