"""What each part of the page shows, computed from the query API, with no Gradio in it.

`Context` is made once per server: one open Index (its encoders load once and are shared by
every request), the app's media folder, and what the index can do. The functions below are
the handlers' bodies; `ui.app` only lays out widgets and wires them to these.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from query import VIDEO_SUFFIXES, BadInput, Index, Recording
from ui import render
from ui.errors import UserError
from ui.features import Features
from ui.filters import Filters
from ui.media import MediaDir

MAX_K = 10
MAX_PROMPT_CHARS = 500
UPLOAD_TYPES = {
    "imu": (".mat", ".csv", ".parquet", ".npy"),
    "pose": (".bvh", ".mat", ".npy"),
    "video": VIDEO_SUFFIXES,  # the suffixes the library decodes: one list for reading and uploading
}
PLACEMENTS = ["right_wrist", "left_wrist", "right_thigh", "left_thigh", "right_ankle", "left_ankle",
              "chest", "pelvis", "head", "right_hand", "left_hand", "right_knee", "left_knee"]
KIND_NOUNS = {"imu": "an IMU file", "pose": "a pose file", "video": "a video"}
KIND_NAMES = {"text": "Text prompt", "imu": "IMU file", "pose": "Pose / BVH file", "video": "Video file"}
RESULT_TABLE = ["rank", "score", "label", "recording_id", "subject", "dataset", "modality", "body_part",
                "t_start", "t_end", "window_id"]
BROWSE_TABLE = ["id", "dataset", "subject", "trial", "label", "duration", "modalities"]
# A hit's IMU plot shows the matched window with this much recording on either side.
CONTEXT_SECONDS = 3.0
# The whole-recording view transcodes at most this much video, so one click cannot tie up a worker.
MAX_VIDEO_SECONDS = 120.0


@dataclass
class Context:
    index: Index
    media: MediaDir
    features: Features
    max_upload_bytes: int

    def __post_init__(self) -> None:
        # Re-reading a recording is cheap but not free (a BVH take is parsed again); the cards
        # of one search often share recordings.
        self.recording = functools.lru_cache(maxsize=64)(self.index.load_recording)


@dataclass
class Card:
    recording_id: str
    header: str  # Markdown
    imu: object | None  # matplotlib Figure
    skeleton: Path | None  # GIF
    video: Path | None  # MP4
    note: str = ""  # what could not be drawn, and why


# ----------------------------------------------------------------------------- searching


def check_upload(path: str | None, kind: str, max_bytes: int) -> Path:
    if not path:
        raise UserError(f"upload {KIND_NOUNS[kind]} first")
    p = Path(path)
    if not p.is_file():
        raise BadInput(path, "the upload did not arrive; try again")
    size = p.stat().st_size
    if size == 0:
        raise BadInput(path, "file is empty")
    if size > max_bytes:
        raise BadInput(path, f"file is {size / 1e6:.1f} MB; uploads are limited to {max_bytes / 1e6:.0f} MB")
    if p.suffix.lower() not in UPLOAD_TYPES[kind]:
        raise BadInput(path, f"{p.suffix or 'a file without extension'} cannot be read as {KIND_NOUNS[kind]}; "
                             f"use {', '.join(UPLOAD_TYPES[kind])}")
    return p


def _optional_seconds(value, what: str) -> float | None:
    if value in (None, ""):
        return None
    value = float(value)
    if value < 0:
        raise UserError(f"{what} must be 0 s or later, got {value:g}")
    return value


def search(ctx: Context, kind: str, prompt: str | None, upload: str | None, rate, start, end,
           placement: str | None, target: str, k, filters: Filters) -> pl.DataFrame:
    """The hits (query API columns) for one search request."""
    if kind not in ctx.features.query_kinds:
        raise UserError(ctx.features.unavailable.get(kind, f"unknown search kind {kind!r}"))
    if target not in ctx.features.targets:
        raise UserError(f"this index has no {target!r} windows; it has {', '.join(ctx.features.targets)}")
    k = int(k or 5)
    if not 1 <= k <= MAX_K:
        raise UserError(f"top-k must be between 1 and {MAX_K}")
    where = filters.windows_where(ctx.index)
    if kind == "text":
        prompt = (prompt or "").strip()
        if not prompt:
            raise UserError("type a description of the motion to search for")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserError(f"the prompt is {len(prompt)} characters; keep it under {MAX_PROMPT_CHARS}")
        return ctx.index.search_text(prompt, target=target, k=k, where=where)
    path = check_upload(upload, kind, ctx.max_upload_bytes)
    t0, t1 = _optional_seconds(start, "start"), _optional_seconds(end, "end")
    t1 = t1 or None  # the page shows an empty field as 0: no end
    if t0 is not None and t1 is not None and t1 <= t0:
        raise UserError(f"end ({t1:g} s) must be after start ({t0:g} s)")
    rate = None if rate in (None, "", 0) else float(rate)
    if rate is not None and rate <= 0:
        raise UserError(f"sample rate must be positive, got {rate:g} Hz")
    extra = {"placement": placement} if kind == "imu" and placement else {}
    return ctx.index.search_file(str(path), kind, target, k, where, rate=rate, start=t0, end=t1, **extra)


def empty_hits() -> pl.DataFrame:
    floats = ("score", "t_start", "t_end")
    return pl.DataFrame(schema={c: pl.Float64 if c in floats else pl.Utf8 for c in RESULT_TABLE})


def results_table(hits: pl.DataFrame) -> pl.DataFrame:
    cols = [c for c in RESULT_TABLE if c in hits.columns]
    return hits.select(cols).with_columns(
        pl.col(c).round(3) for c in ("score", "t_start", "t_end") if c in cols)


def summary(hits: pl.DataFrame, kind: str, target: str) -> str:
    if hits.height == 0:
        return "No results: nothing in the index matches these filters."
    best = hits.row(0, named=True)
    return (f"**{hits.height} {target} windows** found for the {KIND_NAMES[kind].lower()}; "
            f"best: *{best['label']}* (score {best['score']:.3f}).")


# ----------------------------------------------------------------------------- cards


def _span_key(rec_id: str, t0: float, t1: float, what: str) -> str:
    return f"{what}|{rec_id}|{t0:.3f}|{t1:.3f}"


def _skeleton(ctx: Context, rec: Recording, t0: float, t1: float, max_frames: int) -> Path | None:
    if rec.pose is None:
        return None
    fps = 10.0 if max_frames <= 80 else 8.0
    return ctx.media.render(_span_key(rec.id, t0, t1, f"skeleton{max_frames}"), ".gif",
                            lambda out: render.skeleton_gif(rec.pose, out, t0, t1, fps=fps, max_frames=max_frames))


def _video(ctx: Context, rec: Recording, t0: float, t1: float) -> Path | None:
    if rec.video is None:
        return None
    return ctx.media.render(_span_key(rec.id, t0, t1, "video"), ".mp4",
                            lambda out: render.video_clip(rec.video, out, t0, t1))


def _draw(what: str, notes: list[str], fn):
    """Draw one picture; a picture that fails leaves a note on the card, not a broken page."""
    try:
        return fn()
    except (BadInput, ValueError, OSError) as exc:
        notes.append(f"{what} not shown: {exc}")
        return None


def hit_card(ctx: Context, hit: dict) -> Card:
    rec = ctx.recording(hit["recording_id"])
    t0, t1 = float(hit["t_start"]), float(hit["t_end"])
    header = (f"### {hit['rank']}. {hit['label'] or '(no label)'}\n"
              f"**score {hit['score']:.3f}** · `{hit['recording_id']}` · window {hit['window_id']} · "
              f"{hit['modality']} ({hit['body_part']}) · **{t0:.1f}–{t1:.1f} s** of {rec.duration:.1f} s · "
              f"subject {hit['subject'] or '?'} · {hit['dataset']}")
    notes: list[str] = []
    imu = None
    if rec.imu:
        lo, hi = max(0.0, t0 - CONTEXT_SECONDS), min(rec.duration, t1 + CONTEXT_SECONDS)
        imu = _draw("IMU plot", notes,
                    lambda: render.imu_figure(rec.imu, (t0, t1), "matched window shaded", view=(lo, hi)))
    skeleton = _draw("skeleton", notes, lambda: _skeleton(ctx, rec, t0, t1, 80))
    video = _draw("video", notes, lambda: _video(ctx, rec, t0, t1))
    return Card(rec.id, header, imu, skeleton, video, "; ".join(notes))


# ----------------------------------------------------------------------------- whole recording


def recording_view(ctx: Context, recording_id: str, highlight: tuple[float, float] | None = None) -> Card:
    row = ctx.index.recording(recording_id)
    rec = ctx.recording(recording_id)
    files = ", ".join(f"`{Path(s).name}`" for s in row.get("sources") or [])
    header = (f"### {recording_id}\n"
              f"**{rec.label_text() or '(no label)'}** · dataset {rec.dataset} · subject {rec.subject or '?'} · "
              f"trial {rec.trial or '?'} · {rec.duration:.1f} s · {', '.join(rec.modalities())}\n\n"
              f"sources: {files}")
    notes: list[str] = []
    imu = _draw("IMU plot", notes, lambda: render.imu_figure(rec.imu, highlight, "all channels")) if rec.imu else None
    skeleton = _draw("skeleton", notes, lambda: _skeleton(ctx, rec, 0.0, rec.duration, 240))
    video = None
    if rec.video is not None:
        end = min(rec.duration or MAX_VIDEO_SECONDS, MAX_VIDEO_SECONDS)
        if rec.duration > MAX_VIDEO_SECONDS:
            notes.append(f"video shows the first {MAX_VIDEO_SECONDS:.0f} s")
        video = _draw("video", notes, lambda: _video(ctx, rec, 0.0, end))
    return Card(rec.id, header, imu, skeleton, video, "; ".join(notes))


# ----------------------------------------------------------------------------- browsing


def browse(ctx: Context, filters: Filters) -> pl.DataFrame:
    df = ctx.index.recordings(filters.recordings_where())
    if df.height == 0:
        return pl.DataFrame(schema={c: pl.Utf8 for c in BROWSE_TABLE})
    return df.sort("id").select(
        "id", "dataset", "subject", "trial",
        pl.col("text").alias("label"),
        pl.col("duration").round(2),
        pl.col("modalities").list.join(", "),
    )


def choices(ctx: Context) -> dict[str, list[str]]:
    """Values for the filter pickers, from the recordings table."""
    df = ctx.index.recordings()
    def distinct(col):
        return sorted({v for v in df[col].to_list() if v not in (None, "")}, key=_natural) if df.height else []
    return {"dataset": distinct("dataset"), "subject": distinct("subject"), "label": distinct("text"),
            "recording": sorted(df["id"].to_list()) if df.height else []}


def _natural(value: str):
    return (0, int(value), "") if str(value).isdigit() else (1, 0, str(value))
