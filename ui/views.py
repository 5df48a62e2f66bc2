"""What each part of the page shows, computed from the query API, with no Gradio in it.

`Context` is made once per server: one open Index (its encoders load once and are shared by
every request), the app's media folder, and what the index can do. The functions below are
the handlers' bodies; `ui.app` only lays out widgets and wires them to these.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from query import DEFAULT_PLACEMENT, VIDEO_SUFFIXES, BadInput, Index, Recording, read_imu, read_pose
from query.concepts import MAX_EXAMPLES
from query.http_guard import DEFAULT_MAX_PROMPT_CHARS
from query.match_score import FAIR, STRONG
from query.searcher import with_joined
from ui import grid, render, scene
from ui.errors import UserError
from ui.features import Features, targets_for
from ui.filters import Filters
from ui.media import MediaDir

MAX_K = 500  # results a page search may ask for; they are shown PAGE_SIZE at a time
PAGE_SIZE = 40
# With one hit per recording, this many times k windows are fetched, then the best of each
# recording kept, so k recordings are usually found.
PER_RECORDING_FETCH = 5
MAX_PROMPT_CHARS = DEFAULT_MAX_PROMPT_CHARS  # the operator's --max-prompt-chars replaces it (Context)
UPLOAD_TYPES = {
    "imu": (".mat", ".csv", ".parquet", ".npy"),
    "pose": (".bvh", ".mat", ".npy"),
    "video": VIDEO_SUFFIXES,  # the suffixes the library decodes: one list for reading and uploading
}
PLACEMENTS = ["right_wrist", "left_wrist", "right_thigh", "left_thigh", "right_ankle", "left_ankle",
              "chest", "pelvis", "head", "right_hand", "left_hand", "right_knee", "left_knee"]
KIND_NOUNS = {"imu": "an IMU file", "pose": "a pose file", "video": "a video"}
KIND_NAMES = {"text": "Text prompt", "imu": "IMU file", "pose": "Pose / BVH file", "video": "Video file"}
RESULT_TABLE = ["rank", "score", "match", "label", "recording_id", "subject", "dataset", "modality", "body_part",
                "t_start", "t_end", "window_id"]
HIT_JSON = ["rank", "score", "match", "recording_id", "label", "t_start", "t_end", "body_part", "modality", "window_id",
            "dataset", "subject"]
BROWSE_TABLE = ["id", "dataset", "subject", "trial", "label", "duration", "modalities"]
# A text query's direction check compares the top this-many windows (fewer when fewer are asked for).
WORDING_K = 10
# The whole-recording view transcodes at most this much video, so one click cannot tie up a worker.
MAX_VIDEO_SECONDS = 120.0


@dataclass
class Context:
    index: Index
    media: MediaDir
    features: Features
    max_upload_bytes: int
    max_prompt_chars: int = MAX_PROMPT_CHARS

    def __post_init__(self) -> None:
        # Re-reading a recording is cheap but not free (a BVH take is parsed again); the cards
        # of one search often share recordings.
        self.recording = functools.lru_cache(maxsize=64)(self.index.load_recording)
        df = self.index.recordings()
        self.durations = dict(zip(df["id"].to_list(), df["duration"].to_list())) if df.height else {}
        self.pictures: dict[tuple, str] = {}  # card pictures (SVG) by (recording, window)
        self.window_lengths: dict[str, float] | None = None  # see window_lengths()


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


@dataclass
class Query:
    """One search request of the page: what to search with, what to find, how many."""
    kind: str  # "text", "imu", "pose", "video", or "window" (a window already in the index)
    target: str
    k: int = 40
    prompt: str = ""
    upload: str | None = None
    rate: float | None = None
    start: float | None = None
    end: float | None = None
    placement: str | None = None
    filters: Filters = field(default_factory=Filters)
    window_id: int | None = None
    one_per_recording: bool = True


@dataclass
class Found:
    query: Query
    hits: pl.DataFrame  # the hits shown, ranked 1..n, with their match probability (query.match_score)
    others: dict[str, int]  # with one hit per recording: further matching windows per recording
    wording: dict | None = None  # a text query's direction check (query.wording), when it fired


def checked(ctx: Context, q: Query) -> Query:
    if q.kind != "window" and q.kind not in ctx.features.query_kinds:
        raise UserError(ctx.features.unavailable.get(q.kind, f"unknown search kind {q.kind!r}"))
    if q.target not in targets_for(q.kind, ctx.features):
        if q.target in with_joined(ctx.features.targets):
            raise UserError(f"{q.target} finds moments by words only; choose one of {', '.join(ctx.features.targets)}")
        raise UserError(f"this index has no {q.target!r} windows; it has {', '.join(ctx.features.targets)}")
    q.k = int(q.k or PAGE_SIZE)
    if not 1 <= q.k <= MAX_K:
        raise UserError(f"the number of results must be between 1 and {MAX_K}")
    if q.kind == "text":
        q.prompt = (q.prompt or "").strip()
        if not q.prompt:
            raise UserError("type a description of the motion to search for")
        if len(q.prompt) > ctx.max_prompt_chars:
            raise UserError(f"the prompt is {len(q.prompt):,} characters; keep it to {ctx.max_prompt_chars:,}")
    elif q.kind in UPLOAD_TYPES:
        q.upload = str(check_upload(q.upload, q.kind, ctx.max_upload_bytes))
        q.start, q.end = _optional_seconds(q.start, "start"), _optional_seconds(q.end, "end") or None
        if q.start is not None and q.end is not None and q.end <= q.start:
            raise UserError(f"end ({q.end:g} s) must be after start ({q.start:g} s)")
        q.rate = None if q.rate in (None, "", 0) else float(q.rate)
        if q.rate is not None and q.rate <= 0:
            raise UserError(f"sample rate must be positive, got {q.rate:g} Hz")
    elif q.window_id is None:
        raise UserError("no window to search with")
    return q


def runner(ctx: Context, q: Query):
    """search(k, where) -> hits, for this query (the query API call its kind needs)."""
    index = ctx.index
    if q.kind == "text":
        return lambda k, where: index.search_text(q.prompt, target=q.target, k=k, where=where)
    if q.kind == "window":
        return lambda k, where: index.search_window(int(q.window_id), q.target, k, where)
    extra = {"placement": q.placement} if q.kind == "imu" and q.placement else {}
    return lambda k, where: index.search_file(q.upload, q.kind, q.target, k, where, rate=q.rate, start=q.start,
                                              end=q.end, **extra)


def search(ctx: Context, q: Query) -> Found:
    """The hits (query API columns, `match` included) for one search request."""
    q = checked(ctx, q)
    run = runner(ctx, q)
    fetch = q.k * PER_RECORDING_FETCH if q.one_per_recording else q.k
    where = q.filters.windows_where(ctx.index)
    hits = run(fetch, where)
    wording = ctx.index.check_wording(q.prompt, q.target, min(q.k, WORDING_K), where) if q.kind == "text" else None
    others: dict[str, int] = {}
    if q.one_per_recording and hits.height:
        counts = hits.group_by("recording_id").len()
        others = {r: n - 1 for r, n in zip(counts["recording_id"], counts["len"]) if n > 1}
        hits = hits.unique("recording_id", keep="first", maintain_order=True).head(q.k)
        hits = hits.with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("rank"))
    return Found(q, hits, others, wording)


def score_cue(match: float | None) -> tuple[str, str]:
    """(word, detail) for a hit's match probability: "strong match" from query.match_score.STRONG
    (where the precision measured on archives the calibration never saw was >= 0.90), "fair
    match" from FAIR, else "weak match"; ("", "") when the hit has no probability."""
    if match is None or not np.isfinite(match):
        return "", ""
    word = "strong match" if match >= STRONG else "fair match" if match >= FAIR else "weak match"
    return word, f"{_percent(match)} likely relevant"


def _percent(p: float) -> str:
    return ">99%" if 0.99 < p < 1.0 else "<1%" if 0.0 < p < 0.01 else f"{100 * p:.0f}%"


def empty_hits() -> pl.DataFrame:
    floats = ("score", "match", "t_start", "t_end")
    return pl.DataFrame(schema={c: pl.Float64 if c in floats else pl.Utf8 for c in RESULT_TABLE})


def results_table(hits: pl.DataFrame) -> pl.DataFrame:
    cols = [c for c in RESULT_TABLE if c in hits.columns]
    return hits.select(cols).with_columns(
        pl.col(c).round(3) for c in ("score", "match", "t_start", "t_end") if c in cols)


def hit_unit(target: str) -> str:
    """What one hit of a search of `target` is: a window, or for several modalities ("imu+pose")
    a moment (one hit per time span, scored by all of them)."""
    return "moment" if "+" in target else "window"


def summary(found: Found) -> str:
    q, hits = found.query, found.hits
    if hits.height == 0:
        return "No results: nothing in the index matches these filters."
    best = hits.row(0, named=True)
    word, detail = score_cue(best.get("match"))
    unit = hit_unit(q.target)
    what = f"recordings (best {q.target} {unit} of each)" if q.one_per_recording else f"{q.target} {unit}s"
    by = "a window of the index" if q.kind == "window" else KIND_NAMES[q.kind].lower()
    text = (f"**{hits.height} {what}** found for the {by}; best: *{best['label']}* "
            f"(score {best['score']:.3f}{f', {word}: {detail}' if word else ''}).")
    if word == "weak match":
        text += (f"\n\n**The best hit is unlikely to be what you are looking for** (about {_percent(best['match'])} "
                 "likely relevant, judged on labelled archives); the index may hold nothing like it, or the words "
                 "may not fit this archive. If some hits do show it, teach it by example: select hits and press "
                 "Teach as.")
    if q.kind == "text" and found.wording:
        text += "\n\n" + wording_line(found.wording)
    return text


def wording_line(check: dict) -> str:
    """A text query's direction check (query.wording) as a plain sentence."""
    mine, other = grid.esc(check["prompt"]), grid.esc(check["opposite"])
    return (f"**The words barely tell \"{mine}\" from \"{other}\" here**: \"{other}\" finds {check['shared']} of "
            f"the same {check['of']} windows. To find one of them, select the hits that show it and press Teach as.")


# ----------------------------------------------------------------------------- cards


def _span_key(rec_id: str, t0: float, t1: float, what: str) -> str:
    return f"{what}|{rec_id}|{t0:.3f}|{t1:.3f}"


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


# ----------------------------------------------------------------------------- whole recording


@dataclass
class RecordingView:
    recording_id: str
    header: str  # Markdown
    figure: object | None  # plotly Figure: 3-D skeleton, IMU channels, one playhead
    video: Path | None  # MP4
    note: str = ""
    player: str = ""  # HTML: the play / pause / loop bar (scene.player_html)


def offered_span(highlight: tuple[float, float] | None) -> tuple[float | None, float | None]:
    """The span the Recording tab offers for teaching: the matched window, to the millisecond (a
    window found at 0.94 s ends at 5.94 s, not 5.9399999999999995)."""
    return (round(float(highlight[0]), 3), round(float(highlight[1]), 3)) if highlight else (None, None)


def recording_view(ctx: Context, recording_id: str, highlight: tuple[float, float] | None = None) -> RecordingView:
    row = ctx.index.recording(recording_id)
    rec = ctx.recording(recording_id)
    files = ", ".join(f"`{Path(s).name}`" for s in row.get("sources") or [])
    window = f" · matched window **{highlight[0]:.1f}–{highlight[1]:.1f} s** (shaded)" if highlight else ""
    header = (f"### {recording_id}\n"
              f"**{rec.label_text() or '(no label)'}** · dataset {rec.dataset} · subject {rec.subject or '?'} · "
              f"{f'trial {rec.trial} · ' if rec.trial else ''}{rec.duration:.1f} s · {', '.join(rec.modalities())}{window}\n\n"
              f"sources: {files}")
    notes: list[str] = []
    figure = _draw("plot", notes, lambda: scene.recording_figure(rec, highlight))
    video = None
    if rec.video is not None:
        end = min(rec.duration or MAX_VIDEO_SECONDS, MAX_VIDEO_SECONDS)
        if rec.duration > MAX_VIDEO_SECONDS:
            notes.append(f"video shows the first {MAX_VIDEO_SECONDS:.0f} s")
        video = _draw("video", notes, lambda: _video(ctx, rec, 0.0, end))
    window = (highlight[0], min(highlight[1], rec.duration)) if highlight else None
    return RecordingView(rec.id, header, figure, video, "; ".join(notes), scene.player_html(rec.duration, window))


def recording_json(ctx: Context, recording_id: str) -> dict:
    """One recording's metadata and what it holds (streams, rates, channels), for the API."""
    row = ctx.index.recording(recording_id)
    rec = ctx.recording(recording_id)
    windows = ctx.index.windows(columns=["id", "modality", "body_part", "t_start", "t_end"], recording=recording_id)
    return {
        "id": rec.id, "dataset": rec.dataset, "subject": rec.subject, "trial": rec.trial, "label": rec.label_text(),
        "duration": rec.duration, "modalities": rec.modalities(),
        "sources": [Path(s).name for s in row.get("sources") or []],
        "imu": [{"placement": s.placement, "rate": s.rate, "channels": list(s.channels), "samples": len(s.data)}
                for s in rec.imu],
        "pose": None if rec.pose is None else {"rate": rec.pose.rate, "frames": int(rec.pose.canonical().shape[0]),
                                               "dims": int(rec.pose.canonical().shape[2])},
        "video": rec.video is not None,
        "windows": windows.rename({"id": "window_id"}).sort("t_start").to_dicts(),
    }


# ----------------------------------------------------------------------------- browsing


def natural_key(value: str) -> tuple:
    """Sort key that reads digit runs as numbers: a1 < a2 < a10, s2_t1 < s10_t1."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.lower())
                 for part in re.split(r"(\d+)", str(value)) if part)


def browse(ctx: Context, filters: Filters, contains: str = "") -> pl.DataFrame:
    """The recordings the filters admit, in natural id order; `contains`: a piece of the id or
    label (case-insensitive)."""
    df = ctx.index.recordings(filters.recordings_where())
    if contains and contains.strip():
        needle = contains.strip().lower()
        df = df.filter(pl.col("id").str.to_lowercase().str.contains(needle, literal=True)
                       | pl.col("text").fill_null("").str.to_lowercase().str.contains(needle, literal=True))
    if df.height == 0:
        return pl.DataFrame(schema={c: pl.Utf8 for c in BROWSE_TABLE})
    order = sorted(range(df.height), key=lambda i: natural_key(df["id"][i]))
    return df[order].select(
        "id", "dataset", "subject", "trial",
        pl.col("text").alias("label"),
        pl.col("duration").round(2),
        pl.col("modalities").list.join(", "),
    )


def choices(ctx: Context) -> dict[str, list[str]]:
    """Values for the filter pickers, from the recordings table."""
    df = ctx.index.recordings()
    def distinct(col):
        return sorted({v for v in df[col].to_list() if v not in (None, "")}, key=natural_key) if df.height else []
    return {"dataset": distinct("dataset"), "subject": distinct("subject"), "label": distinct("text"),
            "recording": sorted(df["id"].to_list(), key=natural_key) if df.height else []}


def example_prompts(ctx: Context, n: int = 8) -> list[str]:
    """Prompts a new user can click: the index's own labels, the most common first, each said in
    the archive's own words where it has them (`_described`: the demo's "a person walks forward
    swinging the arms" for "walking"), else as a person would type it (`as_prompt`)."""
    df = ctx.index.recordings(columns=["id", "text"])
    if df.height == 0:
        return []
    counts = (df.filter(pl.col("text").fill_null("") != "").group_by("text")
              .agg(pl.len(), pl.col("id").sort().first()).sort(["len", "text"], descending=[True, False]))
    return [_described(ctx, rid) or as_prompt(t) for t, rid in counts.select("text", "id").head(n).iter_rows()]


def as_prompt(label: str) -> str:
    """A short label said as a prompt a person would type: a verb ("walking", "walking fast",
    "walking upstairs") -> "a person walking"; a noun ("squat", "jumping jacks", "arm circles")
    -> "a person doing squat"; a label of three words or more is left as the archive says it
    ("right arm swipe to the left")."""
    words = label.lower().split()
    if len(words) > 2:
        return label
    noun = len(words) == 2 and words[1].endswith("s") and words[1] not in ADVERBS_IN_S  # "jumping jacks"
    verb = bool(words) and words[0].endswith("ing") and not noun
    return f"a person {label}" if verb else f"a person doing {label}"


# words ending in "s" that follow a verb without being its object ("walking downstairs")
ADVERBS_IN_S = {"upstairs", "downstairs", "backwards", "forwards", "sideways", "outdoors", "indoors", "towards"}


def _described(ctx: Context, recording_id: str) -> str | None:
    """The sentence a recording's archive describes it with as a whole (a text span lasting the
    whole recording, which the index does not keep beside the labels), read from its sources;
    None when it has none or cannot be read."""
    try:
        rec = ctx.recording(recording_id)
    except (BadInput, OSError, ValueError, LookupError):
        return None
    said = [span.text.strip() for span in rec.text if rec.covers_whole(span) and span.text.strip()]
    return said[0] if said and len(said[0].split()) >= 3 else None


# ----------------------------------------------------------------------------- the grid


def _picture(ctx: Context, recording_id: str, t0: float, t1: float) -> str:
    key = (recording_id, round(t0, 3), round(t1, 3))
    if key not in ctx.pictures:
        rec = ctx.recording(recording_id)
        ctx.pictures[key] = grid.window_picture(rec.pose, rec.imu, t0, t1, rec.duration)
        if len(ctx.pictures) > 4096:
            ctx.pictures.pop(next(iter(ctx.pictures)))
    return ctx.pictures[key]


def window_lengths(ctx: Context) -> dict[str, float]:
    """The longest window (s) any encoder of the index cuts, per modality: a clip shorter than
    that is one padded window, and its card says so."""
    if ctx.window_lengths is None:
        lengths: dict[str, float] = {}
        for encoder_id in ctx.index.encoder_ids():
            try:  # from the config alone: drawing cards needs no encoder weights
                config = ctx.index.encoder_config(encoder_id)
                length = float(config.window.length)
            except Exception:  # noqa: BLE001  # a damaged checkpoint: its windows are drawn without it
                continue
            for modality in config.modalities:
                lengths[modality] = max(lengths.get(modality, 0.0), length)
        ctx.window_lengths = lengths
    return ctx.window_lengths


def cards(ctx: Context, found: Found, n: int) -> list[str]:
    """HTML of the first `n` hits' cards; a recording that cannot be read gets a card that says so."""
    out = []
    lengths = window_lengths(ctx)
    for hit in found.hits.head(n).iter_rows(named=True):
        t0, t1 = float(hit["t_start"]), float(hit["t_end"])
        picture, note = "", ""
        try:
            picture = _picture(ctx, hit["recording_id"], t0, t1)
        except (BadInput, ValueError, OSError, LookupError) as exc:
            note = f"picture not shown: {exc}"
        duration = ctx.durations.get(hit["recording_id"]) or t1
        out.append(grid.card_html(hit, picture, duration, score_cue(hit.get("match")),
                                  found.others.get(hit["recording_id"], 0), note, lengths.get(hit["modality"])))
    return out


def query_panel(ctx: Context, q: Query) -> str:
    """The query drawn beside its results: the prompt, the uploaded clip, or the window used."""
    if q.kind == "text":
        return grid.query_html(f"“{grid.esc(q.prompt)}” → {q.target} {hit_unit(q.target)}s")
    if q.kind == "window":
        row = ctx.index.windows(columns=["id", "recording_id", "t_start", "t_end"], ids=int(q.window_id))
        rid, t0, t1 = row["recording_id"][0], float(row["t_start"][0]), float(row["t_end"][0])
        return grid.query_html(f"window {q.window_id} of <code>{grid.esc(rid)}</code> ({t0:.1f}–{t1:.1f} s) → "
                               f"{q.target} windows", _picture(ctx, rid, t0, t1))
    title = f"{grid.file_name(q.upload)} ({KIND_NAMES[q.kind]}) → {q.target} windows"
    span = ((q.start or 0.0), q.end) if (q.start or q.end) else None
    try:
        if q.kind == "imu":
            s = read_imu(q.upload, q.rate, placement=q.placement or DEFAULT_PLACEMENT)
            t = np.arange(len(s.data)) / s.rate
            shade = (span[0], span[1] or t[-1]) if span else None
            return grid.query_html(title, grid.sparkline_svg(t, [s.data[:, i] for i in range(min(6, s.data.shape[1]))],
                                                             shade), f"{s.placement}, {s.rate:g} Hz, {s.duration:.1f} s; "
                                   f"channels {', '.join(s.channels)}")
        if q.kind == "pose":
            p = read_pose(q.upload, q.rate)
            lo, hi = (span[0], span[1] or p.duration) if span else (0.0, p.duration)
            idx = np.clip(np.round(np.linspace(lo, hi, 5) * p.rate).astype(int), 0, len(p.canonical()) - 1)
            return grid.query_html(title, grid.skeleton_svg(p.canonical()[idx], width=420),
                                   f"{p.duration:.1f} s at {p.rate:g} Hz; five poses from {lo:.1f} to {hi:.1f} s")
    except (BadInput, ValueError, OSError) as exc:
        return grid.query_html(title, caption=grid.esc(f"not drawn: {exc}"))
    caption = f"{span[0]:.1f}–{span[1] or 'end'} s" if span else "whole clip"
    return grid.query_html(title, caption=grid.esc(caption))


# ----------------------------------------------------------------------------- JSON answers


def hits_json(hits: pl.DataFrame) -> dict:
    """{"hits": [{rank, score, recording_id, label, t_start, t_end, body_part, ...}, ...]}."""
    cols = [c for c in HIT_JSON if c in hits.columns]
    return {"hits": hits.select(cols).to_dicts()}


# ----------------------------------------------------------------------------- concepts taught by example


def concept_names(ctx: Context) -> list[str]:
    """The concepts taught to the index, by name (clickable beside the example prompts)."""
    return ctx.index.concepts()["name"].to_list()


def picked_windows(value) -> list[int]:
    """The window ids the page's selection sent (a JSON list, as `grid.PICKED_JS` writes it)."""
    if value in (None, ""):
        return []
    try:
        ids = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        raise UserError("the selection did not arrive whole; select the cards again") from None
    if not isinstance(ids, list):
        raise UserError("the selection did not arrive whole; select the cards again")
    if len(ids) > MAX_EXAMPLES:
        raise UserError(f"{len(ids)} windows are selected; a concept takes at most {MAX_EXAMPLES}")
    return [int(i) for i in ids if str(i).strip().isdigit()]


def span_windows(ctx: Context, recording_id: str | None, start, end) -> list[int]:
    """The windows of one recording inside [start, end] s (every modality and sensor), or, for a
    span shorter than a window, the window(s) overlapping it most."""
    if not recording_id:
        raise UserError("open a recording first, then give the span to teach")
    start = _optional_seconds(start, "the span's start") or 0.0
    end = _optional_seconds(end, "the span's end")
    if not end or end <= start:
        raise UserError("give the span to teach: its end (s) after its start")
    ctx.index.recording(recording_id)  # LookupError: no such recording
    w = ctx.index.windows(columns=["id", "t_start", "t_end"], recording=recording_id)
    if w.height == 0:
        raise UserError(f"{recording_id} has no windows in this index")
    eps = 1e-6
    inside = w.filter((pl.col("t_start") >= start - eps) & (pl.col("t_end") <= end + eps))
    if inside.height:
        return sorted(inside["id"].to_list())
    overlap = w.with_columns((pl.min_horizontal("t_end", pl.lit(end)) - pl.max_horizontal("t_start", pl.lit(start)))
                             .alias("overlap"))
    best = overlap["overlap"].max()
    if best is None or best <= 0:
        raise UserError(f"no window of {recording_id} overlaps {start:g}-{end:g} s")
    return sorted(overlap.filter(pl.col("overlap") >= best - eps)["id"].to_list())


def teach(ctx: Context, name: str, window_ids: list[int]) -> str:
    """Teach concept `name` from index windows (Index.teach); the page's one-line answer."""
    if not (name or "").strip():
        raise UserError("type a name for the concept (the phrase the selected windows show), then teach")
    if not window_ids:
        raise UserError("select the windows that show it first: press Select on result cards")
    concept = ctx.index.teach(name, window_ids=window_ids)
    n = len(concept["windows"])
    labels = ", ".join(list(concept["labels"])[:3])
    shown = f" (labelled {grid.esc(labels)})" if labels else ""
    return (f"Taught **{grid.esc(concept['name'])}** from {n} window{'s' if n != 1 else ''}{shown}. "
            f"Search for it by its name, or click it under *Concepts*.")


def mark_not(ctx: Context, name: str, window_ids: list[int]) -> str:
    """Mark index windows as counter-examples of the concept `name` (Index.teach with not_windows);
    the page's one-line answer."""
    if not (name or "").strip():
        raise UserError("type the name of the concept these windows do not show, then press Not this")
    if not window_ids:
        raise UserError("select the windows that do not show it first: press Select on result cards")
    concept = ctx.index.teach(name, not_windows=window_ids)
    n, total = len(window_ids), len(concept["not_windows"])
    return (f"Marked {n} window{'s' if n != 1 else ''} as not **{grid.esc(concept['name'])}** ({total} in all): "
            "its search leans away from them and leaves them out.")


def forget(ctx: Context, name: str) -> str:
    if not (name or "").strip():
        raise UserError("type the name of the concept to forget")
    gone = ctx.index.forget(name)
    return f"Forgot **{grid.esc(gone['name'])}**; its name is searched as words again."


def concept_line(ctx: Context, hits: pl.DataFrame) -> str:
    """How a search used a concept, in plain words ("" when it did not)."""
    if "concept" not in hits.columns or hits.height == 0:
        return ""
    name = hits["concept"][0]
    concept = ctx.index.concept(name) or {}
    n = len(concept.get("windows", [])) + len(concept.get("files", []))
    examples = f"{n} example{'s' if n != 1 else ''}" if n else "the examples"
    return (f"Searched with the concept **{grid.esc(name)}**, taught from {examples}: the results are the windows "
            f"nearest those examples, not a match for the words.")
