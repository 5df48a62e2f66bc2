"""Video files: probe and decode only the frames a window needs (PyAV).

The one list of video suffixes the engine reads lives here, so the importers, the query
layer and the web UI agree on what a video file is.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from indexer.errors import BadInput

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


@dataclass
class VideoInfo:
    duration: float  # seconds
    fps: float
    width: int
    height: int


def _open(path: str | Path):
    path = Path(path)
    if not path.exists():
        raise BadInput(str(path), "video file does not exist")
    if path.stat().st_size == 0:
        raise BadInput(str(path), "video file is empty")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise BadInput(str(path), f"not a readable video ({type(exc).__name__}: {exc})") from None
    if not container.streams.video:
        container.close()
        raise BadInput(str(path), "the file holds no video stream")
    return container, container.streams.video[0]


def probe_video(path: str | Path) -> VideoInfo:
    """Duration, frame rate and size from the container header (no decoding)."""
    container, stream = _open(path)
    with container:
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 25.0
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        elif stream.frames:
            duration = stream.frames / fps
        else:
            raise BadInput(str(path), "video duration is unknown (no duration in the container)")
        if duration <= 0:
            raise BadInput(str(path), "video has zero duration")
        return VideoInfo(duration, fps, stream.codec_context.width, stream.codec_context.height)


def letterbox(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre `img` (h, w, C) on a black (H, W, C) canvas; the caller already scaled it to fit."""
    H, W = size
    out = np.zeros((H, W, img.shape[2]), dtype=img.dtype)
    y, x = (H - img.shape[0]) // 2, (W - img.shape[1]) // 2
    out[y : y + img.shape[0], x : x + img.shape[1]] = img
    return out


def _fit(width: int, height: int, size: tuple[int, int]) -> tuple[int, int]:
    """The frame's size scaled to fit in `size` (H, W) with its aspect ratio kept, so a person at
    the edge of a wide frame is not cropped away."""
    H, W = size
    scale = min(W / width, H / height)
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def read_frames(path: str | Path, t_start: float, t_end: float, fps: float,
                size: int | tuple[int, int] | None = None) -> np.ndarray:
    """RGB frames (n, H, W, 3) uint8 sampled every 1/fps s from `t_start` (video time, s) up to
    `t_end` or the end of the video, whichever is first; each sample is the frame showing at
    that instant. The container is seeked to the keyframe before `t_start`, so only the frames
    the interval needs are decoded. `size` (H, W) letterboxes every frame to that size.

    Raises BadInput for a missing, corrupt or empty video, or one with no frame in the interval.
    """
    if fps <= 0 or t_end <= t_start:
        raise ValueError(f"need fps > 0 and t_end > t_start, got fps={fps}, [{t_start}, {t_end}]")
    size = (size, size) if isinstance(size, int) else size
    n_max = max(1, int(round((t_end - t_start) * fps)))
    wanted = t_start + np.arange(n_max) / fps
    container, stream = _open(path)
    picked: list = []
    with container:
        base = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        frame_dur = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
        try:
            if t_start > frame_dur:
                container.seek(int((t_start + base) / stream.time_base), stream=stream, backward=True)
            prev, prev_t, i = None, None, 0
            for n, frame in enumerate(container.decode(stream)):
                t = (float(frame.time) - base) if frame.time is not None else n * frame_dur
                # every wanted instant before this frame shows the previous one
                while i < n_max and prev is not None and wanted[i] < t - 1e-6:
                    picked.append(prev)
                    i += 1
                if prev is None:  # instants before the first decoded frame show that frame
                    while i < n_max and wanted[i] < t - 1e-6:
                        picked.append(frame)
                        i += 1
                prev, prev_t = frame, t
                if i >= n_max or t >= t_end:
                    break
            while i < n_max and prev is not None and wanted[i] < prev_t + frame_dur - 1e-6:
                picked.append(prev)  # the last frame shows until the video ends
                i += 1
            arrays = {}
            out = []
            for frame in picked:
                key = id(frame)
                if key not in arrays:
                    if size is None:
                        arrays[key] = frame.to_ndarray(format="rgb24")
                    else:
                        w, h = _fit(frame.width, frame.height, size)
                        arrays[key] = letterbox(frame.to_ndarray(format="rgb24", width=w, height=h), size)
                out.append(arrays[key])
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise BadInput(str(path), f"video cannot be decoded ({type(exc).__name__}: {exc})") from None
    if not out:
        raise BadInput(str(path), f"no decodable video frames between {t_start:.2f} s and {t_end:.2f} s")
    return np.stack(out)
