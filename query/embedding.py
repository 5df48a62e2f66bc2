"""The one way a query stream becomes vectors: it is put in a one-off Recording, conformed to
the encoder's IMU channels, cut into the encoder's windows and embedded.

Every query kind goes through here: a clip searched whole (one mean vector), dense windows
every 0.2 s for sync and locate, 0.2 s token vectors for locate and assign. Because the
windows come from `indexer.windows.recording_windows`, a query is cut and resampled exactly
as the archive was when it was indexed.
"""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from encoders import conform_imu
from indexer import (
    BadInput,
    ImuStream,
    PoseStream,
    Recording,
    VideoStream,
    Window,
    WindowSpec,
    recording_windows,
)
from indexer.windows import window_starts

if TYPE_CHECKING:  # annotations only: the classes bring torch, and a text search needs neither
    from encoders import Encoder, TokenEncoder

STRIDE = 0.2  # seconds between dense windows, MoBind's token length

Stream = ImuStream | PoseStream | VideoStream


def modality_of(stream: Stream) -> str:
    if isinstance(stream, ImuStream):
        return "imu"
    return "pose" if isinstance(stream, PoseStream) else "video"


def describe(stream: Stream) -> str:
    """How an error names a stream: its file, else its kind."""
    if isinstance(stream, VideoStream):
        return stream.path
    return stream.source or ("IMU stream" if isinstance(stream, ImuStream) else "pose stream")


def length(stream: Stream) -> float:
    """Seconds of the stream a query uses (a video read from `start` begins at offset -start)."""
    if isinstance(stream, VideoStream):
        return float(stream.duration) + stream.offset
    return stream.duration


def one_off(stream: Stream) -> Recording:
    """A recording holding nothing but the query stream."""
    kind = modality_of(stream)
    return Recording(id=describe(stream), dataset="query", imu=[stream] if kind == "imu" else [],
                     pose=stream if kind == "pose" else None, video=stream if kind == "video" else None)


def stream_windows(stream: Stream, encoder: Encoder | TokenEncoder, spec: WindowSpec | None = None,
                   starts: list[float] | None = None, part: str | None = None) -> list[Window]:
    """The stream's windows as the encoder reads them (its length and rate; `spec` overrides the
    hop, `starts` the start times). `part`: read pose windows as this body part, not the whole
    skeleton (token encoders)."""
    modality = modality_of(stream)
    spec = spec or encoder.window
    rec = conform_imu(one_off(stream), encoder.config)
    starts = window_starts(length(stream), spec) if starts is None else list(starts)
    size = encoder.video_size if modality == "video" else None
    windows = [w for w in recording_windows(rec, spec, {modality: encoder.rates[modality]}, starts, video_size=size)
               if w.modality == modality]
    if modality == "pose" and part is not None:
        windows = [replace(w, body_part=part) for w in windows]
    return windows


def is_token_encoder(encoder) -> bool:
    """Whether `encoder` is a MoBind token encoder (emits 0.2 s token vectors), asked of the
    object so that this module need not import the torch-backed classes."""
    return bool(getattr(encoder, "has_tokens", False))


def unit_mean(vectors: np.ndarray) -> np.ndarray:
    v = vectors.mean(axis=0)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def embed_clip(stream: Stream, encoder: Encoder | TokenEncoder) -> np.ndarray:
    """One unit vector for a query clip: the mean of its windows' vectors, so a query longer
    than a window still counts all of it."""
    modality = modality_of(stream)
    if modality not in encoder.modalities:
        raise LookupError(f"encoder {encoder.id} has no {modality} tower")
    windows = stream_windows(stream, encoder)
    if not windows:
        raise ValueError(f"the query has no {modality} data to embed")
    return unit_mean(encoder.encode(windows))


def token_part(encoder, part: str | None) -> str | None:
    """The body part a token encoder reads a pose as (`part`, else its first); None otherwise."""
    return (part or encoder.parts[0]) if is_token_encoder(encoder) else None


def dense_starts(duration: float, window: float, stride: float = STRIDE) -> np.ndarray:
    return np.round(np.arange(0.0, duration - window + 1e-9, stride), 6)


def dense_embed(stream: ImuStream | PoseStream, encoder, stride: float = STRIDE,
                part: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(window start times, unit vectors) of whole windows starting every `stride` seconds."""
    window = encoder.window.length
    if stream.duration + 1e-9 < window:
        raise BadInput(describe(stream), f"stream lasts {stream.duration:.2f} s, shorter than the encoder's "
                                         f"{window:g} s window")
    if isinstance(stream, PoseStream) and not is_token_encoder(encoder) and stream.data.shape[2] != 3:
        raise BadInput(describe(stream), "the clip-level encoder reads 3-D pose only; this stream is 2-D")
    starts = dense_starts(stream.duration, window, stride)
    windows = stream_windows(stream, encoder, WindowSpec(window, stride), list(starts), token_part(encoder, part))
    return np.array([w.t_start for w in windows]), encoder.encode(windows)


def snippet_windows(imu: ImuStream, encoder: TokenEncoder) -> tuple[np.ndarray, np.ndarray]:
    """(start times, window vectors) of a query snippet every token (0.2 s); a snippet shorter
    than a window is one zero-padded window."""
    if imu.duration + 1e-9 >= encoder.window.length:
        return dense_embed(imu, encoder, encoder.token_seconds)
    windows = stream_windows(imu, encoder)
    return np.array([w.t_start for w in windows]), encoder.encode(windows)


def stream_tokens(stream: ImuStream | PoseStream, encoder: TokenEncoder, part: str | None = None,
                  hop: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token start times, token vectors, window vectors) covering a stream once: windows every
    `hop` s (default the encoder's), each token from the window that sees it with most context.
    A stream shorter than a window becomes one zero-padded window."""
    if stream.duration < encoder.token_seconds - 1e-9:
        raise BadInput(describe(stream), f"stream lasts {stream.duration:.2f} s, shorter than one "
                                         f"{encoder.token_seconds:g} s token")
    spec = WindowSpec(encoder.window.length, hop or encoder.window.hop)
    windows = stream_windows(stream, encoder, spec, part=token_part(encoder, part))
    embedded = encoder.embed_windows([windows])[0]  # the build's own path: each token kept once
    tokens = [(t0, vec) for w in embedded for t0, _, vec in w.tokens]
    times = np.array([t for t, _ in tokens], dtype=np.float64)
    order = np.argsort(times, kind="stable")
    return times[order], np.stack([v for _, v in tokens])[order], np.stack([w.vector for w in embedded])
