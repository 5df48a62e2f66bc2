"""Fine-grained time: how far two streams are out of sync, where a snippet happens, who wears
which IMU.

sync: both streams are embedded densely (a window every 0.2 s), every IMU window is compared
with every window of the other stream within the allowed offsets, and each pair that is
among the k best of its row *and* of its column (a mutual top-k match) votes for the offset
between them. The offset with most votes wins; the diagonal similarity around it places it
between grid points. One repeated motion cannot outvote the rest: its matches spread over many
offsets, while true matches all agree on one.

locate: the snippet's windows (one every 0.2 s) are searched among the index's windows; each
hit votes for where the snippet would start in its recording; the best-voted places are then
scored window by window and token by token at 0.2 s steps around their voted start.

assign: every IMU is scored against every person's every body part (mean token similarity
over the shared time plus window similarity) and the best one-to-one assignment is taken.

Sign convention, used everywhere here: `offset` is how late the second stream is. Something
that happens at time t in the first stream happens at t + offset in the second, so a positive
offset means the second stream lags (started recording earlier) and you align them by
subtracting `offset` from the second stream's times.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import polars as pl
import scipy.optimize

from encoders.tokens import TokenEncoder, owned_tokens, token_spans
from indexer.errors import BadInput
from indexer.model import ImuStream, PoseStream, Recording
from indexer.video import VIDEO_SUFFIXES
from indexer.windows import WindowSpec, recording_windows
from query import inputs

STRIDE = 0.2  # seconds between dense windows, MoBind's token length
LOW_CONFIDENCE = 0.2  # below this share of votes near the winner, the offset is a guess
MAX_SYNC_WINDOWS = 6000  # per stream (20 min at 0.2 s): keeps the similarity matrix under ~150 MB


@dataclass
class SyncResult:
    """The estimated offset between two streams. See the module doc for the sign."""

    offset: float  # seconds; positive: the second stream lags the first
    confidence: float  # share of the match votes that agree with `offset` (within one grid step)
    candidate_offsets: np.ndarray  # the offset grid that was voted on (seconds)
    votes: np.ndarray  # vote weight per candidate offset (the vote curve)
    method: str
    matches: int = 0  # mutual top-k window matches that voted
    grid_offset: float = 0.0  # the winning grid point before sub-grid refinement
    notes: list[str] = field(default_factory=list)

    @property
    def reliable(self) -> bool:
        return self.matches > 0 and self.confidence >= LOW_CONFIDENCE

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame({"offset": [self.offset], "confidence": [self.confidence],
                             "matches": [self.matches], "method": [self.method],
                             "reliable": [self.reliable], "note": ["; ".join(self.notes)]})

    def __str__(self) -> str:
        lag = "lags" if self.offset >= 0 else "leads"
        text = (f"offset {self.offset:+.2f} s (the second stream {lag} the first by {abs(self.offset):.2f} s), "
                f"confidence {self.confidence:.2f} from {self.matches} mutual matches [{self.method}]")
        if not self.reliable:
            text += "\nlow confidence: the streams may not show the same motion, or may not overlap"
        return text


# ---- reading inputs ------------------------------------------------------------------------------
def as_imu(x: ImuStream | str | Path, **read_kw) -> ImuStream:
    if isinstance(x, ImuStream):
        return x
    return inputs.read_imu(x, **read_kw)


def as_motion(x: ImuStream | PoseStream | str | Path, **read_kw) -> ImuStream | PoseStream:
    """A pose stream (skeleton file, or 2-D pose from a video) or another IMU."""
    if isinstance(x, (ImuStream, PoseStream)):
        return x
    path = Path(x)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        from indexer.pose2d import video_pose

        return video_pose(path)
    if path.suffix.lower() == ".mat" and path.exists() and _mat_has(path, "d_iner"):
        return inputs.read_imu(path, **read_kw)  # a UTD-MHAD inertial file: IMU <-> IMU sync
    return inputs.read_pose(path, **read_kw)


def _mat_has(path: Path, key: str) -> bool:
    import scipy.io

    try:
        return any(name == key for name, _, _ in scipy.io.whosmat(str(path)))
    except Exception:  # unreadable: let the pose reader name the problem
        return False


def _where(stream: ImuStream | PoseStream) -> str:
    return stream.source or ("IMU stream" if isinstance(stream, ImuStream) else "pose stream")


def _imu_for(encoder, imu: ImuStream) -> ImuStream:
    """The stream with the channels the encoder reads, in its order."""
    wanted = list(encoder.config["towers"]["imu"]["channels"])
    missing = [c for c in wanted if c not in imu.channels]
    if missing:
        raise BadInput(_where(imu), f"IMU lacks channels {missing} the encoder reads (it has {imu.channels})")
    cols = [imu.channels.index(c) for c in wanted]
    return replace(imu, data=imu.data[:, cols], channels=wanted)


# ---- dense embedding -----------------------------------------------------------------------------
def dense_starts(duration: float, length: float, stride: float = STRIDE) -> np.ndarray:
    return np.round(np.arange(0.0, duration - length + 1e-9, stride), 6)


def dense_windows(stream: ImuStream | PoseStream, encoder, stride: float = STRIDE, part: str | None = None):
    """Windows of the encoder's length starting every `stride` s (only whole windows)."""
    length = encoder.window.length
    if stream.duration + 1e-9 < length:
        raise BadInput(_where(stream), f"stream lasts {stream.duration:.2f} s, shorter than the encoder's "
                                       f"{length:g} s window")
    if isinstance(stream, ImuStream):
        stream = _imu_for(encoder, stream)
        rec, modality = Recording(id="stream", dataset="query", imu=[stream]), "imu"
    else:
        if not isinstance(encoder, TokenEncoder) and stream.data.shape[2] != 3:
            raise BadInput(_where(stream), "the clip-level encoder reads 3-D pose only; this stream is 2-D")
        rec, modality = Recording(id="stream", dataset="query", pose=stream), "pose"
    starts = dense_starts(stream.duration, length, stride)
    windows = [w for w in recording_windows(rec, WindowSpec(length, stride), {modality: encoder.rates[modality]},
                                            list(starts)) if w.modality == modality]
    if modality == "pose" and isinstance(encoder, TokenEncoder):
        windows = [replace(w, body_part=part or encoder.parts[0]) for w in windows]
    return np.array([w.t_start for w in windows]), windows


def dense_embed(stream, encoder, stride: float = STRIDE, part: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(window start times, unit vectors) every `stride` seconds."""
    starts, windows = dense_windows(stream, encoder, stride, part)
    return starts, encoder.encode(windows)


def stream_tokens(stream, encoder: TokenEncoder, part: str | None = None, hop: float | None = None):
    """(token start times, token vectors) covering a stream once: windows every `hop` s (default
    the encoder's), each token from the window that sees it with most context. A stream shorter
    than a window becomes one zero-padded window."""
    if isinstance(stream, ImuStream):
        stream = _imu_for(encoder, stream)
        rec, modality = Recording(id="stream", dataset="query", imu=[stream]), "imu"
    else:
        rec, modality = Recording(id="stream", dataset="query", pose=stream), "pose"
    if stream.duration < encoder.token_seconds - 1e-9:
        raise BadInput(_where(stream), f"stream lasts {stream.duration:.2f} s, shorter than one "
                                       f"{encoder.token_seconds:g} s token")
    spec = WindowSpec(encoder.window.length, hop or encoder.window.hop)
    windows = [w for w in recording_windows(rec, spec, {modality: encoder.rates[modality]}) if w.modality == modality]
    if modality == "pose":
        windows = [replace(w, body_part=part or encoder.parts[0]) for w in windows]
    out = encoder.encode_full(windows)
    n_valid = out["token_valid"].sum(axis=1).astype(int)
    keep = owned_tokens([w.t_start for w in windows], [w.t_end for w in windows], list(n_valid), encoder.token_seconds)
    times, vecs = [], []
    for w, toks, n, mine in zip(windows, out["tokens"], n_valid, keep):
        starts, _ = token_spans(w.t_start, int(n), w.t_end, encoder.token_seconds)
        times.append(starts[mine])
        vecs.append(toks[: len(mine)][mine])
    times = np.concatenate(times)
    order = np.argsort(times, kind="stable")
    return times[order], np.concatenate(vecs)[order], out["window"]


# ---- offset voting -------------------------------------------------------------------------------
def vote_offsets(sim: np.ndarray, starts_a: np.ndarray, starts_b: np.ndarray, max_offset: float,
                 k: int = 5, stride: float = STRIDE) -> tuple[np.ndarray, np.ndarray, int]:
    """Mutual top-k matches of a similarity matrix vote on the offset between two streams.

    sim[i, j] compares window i of the first stream (starting at starts_a[i]) with window j of
    the second (starts_b[j]); a pair within `max_offset` that is among the k best of row i and
    of column j votes for starts_b[j] - starts_a[i]. Returns (offset grid, votes, matches).
    """
    if max_offset < 0:
        raise ValueError(f"max_offset must be >= 0, got {max_offset}")
    steps = int(np.floor(max_offset / stride + 1e-9))
    grid = np.round(np.arange(-steps, steps + 1) * stride, 6)
    offsets = starts_b[None, :] - starts_a[:, None]
    allowed = np.abs(offsets) <= max_offset + 1e-6
    if not allowed.any():
        raise BadInput("streams", f"no window of the two streams can be paired within ±{max_offset:g} s")
    s = np.where(allowed, sim, -np.inf)
    k_row, k_col = min(k, s.shape[1]), min(k, s.shape[0])
    top_row = np.zeros_like(allowed)
    np.put_along_axis(top_row, np.argsort(-s, axis=1, kind="stable")[:, :k_row], True, axis=1)
    top_col = np.zeros_like(allowed)
    np.put_along_axis(top_col, np.argsort(-s, axis=0, kind="stable")[:k_col, :], True, axis=0)
    mutual = top_row & top_col & allowed
    bins = np.round(offsets[mutual] / stride).astype(int) + steps
    ok = (bins >= 0) & (bins < len(grid))
    votes = np.bincount(bins[ok], minlength=len(grid)).astype(np.float64)
    return grid, votes, int(ok.sum())


def diagonal_means(sim: np.ndarray, starts_a: np.ndarray, starts_b: np.ndarray, grid: np.ndarray,
                   stride: float = STRIDE) -> np.ndarray:
    """Mean similarity of the window pairs each candidate offset lines up (NaN where none do)."""
    out = np.full(len(grid), np.nan)
    ia = np.round(starts_a / stride).astype(int)
    ib = np.round(starts_b / stride).astype(int)
    # Both streams are on the same stride grid, so offset m pairs window i with window i + m
    # (shifted by the grids' first indices).
    for g, off in enumerate(grid):
        m = int(round(off / stride)) + ia[0] - ib[0]
        d = np.diagonal(sim, offset=m) if -sim.shape[0] < m < sim.shape[1] else np.zeros(0)
        if d.size:
            out[g] = float(d.mean())
    return out


def pick_offset(grid: np.ndarray, votes: np.ndarray, diag: np.ndarray, matches: int,
                stride: float = STRIDE) -> tuple[float, float, float]:
    """(offset, grid offset, confidence) from the vote curve; the diagonal similarity around the
    winner places it between grid points (a parabola through three points)."""
    if matches == 0 or votes.sum() == 0:
        best = int(np.nanargmax(diag))
        return float(grid[best]), float(grid[best]), 0.0
    smooth = np.convolve(votes, [0.25, 0.5, 0.25], mode="same")
    best = int(np.argmax(smooth))
    near = votes[max(0, best - 1) : best + 2].sum()
    confidence = float(near / votes.sum())
    offset = float(grid[best])
    if 0 < best < len(grid) - 1 and np.isfinite(diag[best - 1 : best + 2]).all():
        y0, y1, y2 = diag[best - 1 : best + 2]
        curve = y0 - 2 * y1 + y2
        if curve < 0:  # a peak: its vertex lies within half a step of the middle point
            offset += float(np.clip(0.5 * (y0 - y2) / curve, -0.5, 0.5)) * stride
    return offset, float(grid[best]), confidence


def sync(imu_stream_or_path, other_stream_or_path, encoder, max_offset: float = 10.0, k: int = 5,
         stride: float = STRIDE, part: str | None = None) -> SyncResult:
    """The offset between an IMU stream and a pose stream (or a video, through 2-D pose; or
    another IMU), by dense window embedding, mutual top-k matching and offset voting.

    `encoder` is a token checkpoint (its window vectors are used; a pose is read as the body
    part the IMU is worn on, or `part`) or a clip-level one. Positive offset: the second stream
    lags. Raises BadInput for streams shorter than a window or holding NaNs.
    """
    a = as_imu(imu_stream_or_path)
    b = as_motion(other_stream_or_path)
    if isinstance(encoder, TokenEncoder):
        part = part or encoder.part_of(a.placement)
    for stream in (a, b):  # the similarity matrix is windows(a) x windows(b)
        if stream.duration / stride > MAX_SYNC_WINDOWS:
            raise BadInput(_where(stream), f"stream lasts {stream.duration:.0f} s: dense sync compares every "
                                           f"{stride:g} s window of both streams, so cut streams to at most "
                                           f"{MAX_SYNC_WINDOWS * stride:.0f} s around the part to align")
    starts_a, va = dense_embed(a, encoder, stride)
    starts_b, vb = dense_embed(b, encoder, stride, part)
    sim = va @ vb.T
    grid, votes, matches = vote_offsets(sim, starts_a, starts_b, max_offset, k, stride)
    diag = diagonal_means(sim, starts_a, starts_b, grid, stride)
    offset, grid_offset, confidence = pick_offset(grid, votes, diag, matches, stride)
    notes = [] if matches else ["no mutual matches: offset from the best diagonal similarity"]
    kind = "tokens" if isinstance(encoder, TokenEncoder) else "clip"
    return SyncResult(offset, confidence, grid, votes, f"dense-vote/{kind}:{encoder.id}", matches, grid_offset, notes)


# ---- locate ---------------------------------------------------------------------------------------
LOCATE_COLUMNS = ["rank", "score", "recording_id", "t_start", "t_end", "label"]


def locate(index, imu_path_or_stream, k: int = 10, recording: str | None = None, target: str = "pose",
           encoder_id: str | None = None, candidates: int = 100, refine: bool = True, **read_kw) -> pl.DataFrame:
    """Where in the archive the snippet's motion happens: (rank, score, recording_id, t_start,
    t_end, label), best first. `target` is the archive modality searched (pose: the chain the
    IMU is worn on; imu: other IMU recordings).

    The snippet is embedded as windows every 0.2 s; each one's `candidates` nearest stored
    windows (FAISS) vote for where the snippet would start. Window vectors tell motions apart
    across the whole archive; token vectors were only taught to tell moments of one window
    apart, so they come second: around each voted start, +-0.4 s in 0.2 s steps, the start
    whose windows and tokens both agree best wins (`refine=False` keeps the voted start and the
    window score alone: an ablation of what the tokens add).
    """
    from indexer import vectors
    from indexer.store import sql_str

    imu = as_imu(imu_path_or_stream, **read_kw)
    encoder = index.token_encoder(encoder_id)
    ts = encoder.token_seconds
    q_times, q_tokens, _ = stream_tokens(imu, encoder)
    q_times = q_times - q_times[0]
    span = float(q_times[-1] + ts)
    q_starts, q_vecs = _query_windows(imu, encoder)
    scope = index.store.encoder_filter(encoder.id, target)
    if target == "pose":
        scope += f" AND body_part = {sql_str(encoder.part_of(imu.placement))}"
    if recording is not None:
        if index.store.count("recordings", f"id = {sql_str(recording)}") == 0:
            raise LookupError(f"no recording {recording!r} in {index.store.uri}")
        scope += f" AND recording_id = {sql_str(recording)}"
    allowed = index.store.windows(scope, ["id"])["id"].to_numpy()
    if len(allowed) == 0:
        return _located([])
    entry = index.store.faiss(encoder.id, target)
    scores, ids = vectors.search(entry.index, q_vecs, min(candidates, len(allowed)), allowed)
    hits = pl.DataFrame({"id": ids.ravel(), "score": scores.ravel().astype(np.float64),
                         "q": np.repeat(q_starts, ids.shape[1])}).filter(pl.col("id") >= 0)
    if hits.height == 0:
        return _located([])
    meta = index.store.windows_by_id(hits["id"].unique().to_list(), ["id", "recording_id", "t_start"])
    hits = hits.join(meta, on="id", how="inner").with_columns(
        ((pl.col("t_start") - pl.col("q")) / ts).round(0).cast(pl.Int64).alias("slot"))
    # Each query window votes once per place (its best hit there), weighted by similarity.
    votes = (hits.group_by(["recording_id", "slot", "q"]).agg(pl.col("score").max())
             .group_by(["recording_id", "slot"]).agg(pl.col("score").clip(0.0).sum().alias("votes"))
             .sort(["votes", "recording_id", "slot"], descending=[True, False, False]).head(max(3 * k, 10)))
    stored: dict[str, dict] = {}

    def recording_vectors(rec_id: str) -> dict:
        if rec_id not in stored:
            where = f"{scope} AND recording_id = {sql_str(rec_id)}"
            w = index.store.windows(where, ["t_start", "vector"]).sort("t_start")
            t = index.store.table("tokens", where, ["t_start", "vector"]).sort("t_start")
            stored[rec_id] = {"w_times": w["t_start"].to_numpy(), "w_vecs": np.stack(w["vector"].to_numpy()),
                              "t_times": t["t_start"].to_numpy(),
                              "t_vecs": np.stack(t["vector"].to_numpy()) if t.height else np.zeros((0, 1))}
        return stored[rec_id]

    results = []
    for rec_id, slot in votes.select("recording_id", "slot").iter_rows():
        v = recording_vectors(rec_id)
        best = None
        for shift in ((-2, -1, 0, 1, 2) if refine else (0,)):
            s0 = (slot + shift) * ts
            w = _alignment_score(q_starts, q_vecs, s0, v["w_times"], v["w_vecs"], ts, need=1)
            if w is None:
                continue
            score = w
            if refine:
                t = _alignment_score(q_times, q_tokens, s0, v["t_times"], v["t_vecs"], ts)
                score = 0.5 * (w + t) if t is not None else w
            if best is None or score > best[0]:
                best = (score, s0)
        if best is not None:
            results.append((best[0], rec_id, best[1]))
    results.sort(key=lambda r: -r[0])
    kept: list[tuple[float, str, float]] = []
    for score, rec_id, s0 in results:  # one answer per place: drop overlapping worse ones
        if all(r != rec_id or abs(s - s0) >= span / 2 for _, r, s in kept):
            kept.append((score, rec_id, s0))
        if len(kept) == k:
            break
    return _located(kept, span, _labels(index, [r for _, r, _ in kept]))


def _query_windows(imu: ImuStream, encoder: TokenEncoder) -> tuple[np.ndarray, np.ndarray]:
    """Window vectors of a query snippet every 0.2 s (one zero-padded window if it is shorter
    than a window)."""
    if imu.duration + 1e-9 >= encoder.window.length:
        return dense_embed(imu, encoder, encoder.token_seconds)
    stream = _imu_for(encoder, imu)
    rec = Recording(id="query", dataset="query", imu=[stream])
    windows = [w for w in recording_windows(rec, encoder.window, {"imu": encoder.rates["imu"]}) if w.modality == "imu"]
    return np.array([w.t_start for w in windows]), encoder.encode(windows)


def _alignment_score(q_times, q_vecs, s0, times, vecs, ts, need: int | None = None) -> float | None:
    """Mean similarity of each query vector with the stored one at s0 + its time (within half a
    token); None when fewer than `need` (default: half) of them land on stored ones."""
    if len(times) == 0:
        return None
    want = s0 + q_times
    idx = np.clip(np.searchsorted(times, want - ts / 2), 0, len(times) - 1)
    hit = np.abs(times[idx] - want) <= ts / 2 + 1e-6
    if hit.sum() < (max(1, len(q_times) // 2) if need is None else need):
        return None
    return float(np.einsum("ij,ij->i", q_vecs[hit], vecs[idx[hit]]).mean())


def _located(kept: list[tuple[float, str, float]], span: float = 0.0, labels: dict | None = None) -> pl.DataFrame:
    labels = labels or {}
    return pl.DataFrame({
        "rank": list(range(1, len(kept) + 1)),
        "score": [float(s) for s, _, _ in kept],
        "recording_id": [r for _, r, _ in kept],
        "t_start": [round(float(s0), 6) for _, _, s0 in kept],
        "t_end": [round(float(s0 + span), 6) for _, _, s0 in kept],
        "label": [labels.get(r, "") for _, r, _ in kept],
    }, schema={"rank": pl.Int64, "score": pl.Float64, "recording_id": pl.Utf8, "t_start": pl.Float64,
               "t_end": pl.Float64, "label": pl.Utf8})


def _labels(index, rec_ids: list[str]) -> dict[str, str]:
    from indexer.store import sql_in

    if not rec_ids:
        return {}
    df = index.store.table("recordings", sql_in("id", sorted(set(rec_ids))), ["id", "text"])
    return dict(zip(df["id"].to_list(), df["text"].to_list()))


# ---- assign ---------------------------------------------------------------------------------------
def assign(imu_streams, pose_stream, encoder, parts: list[str] | None = None) -> pl.DataFrame:
    """Which person, and which body part, wears each IMU: (imu, person, body_part, score, margin).

    `pose_stream`: one PoseStream per person (a list) or a single person. The streams are
    compared over their shared time from their starts (synchronise first if they are not).
    `encoder`: a token checkpoint (parts: `parts` or its configured ones), a clip-level one
    (whole body; body_part is "all"), or "xcorr" (acceleration-magnitude correlation of each
    part's end joint; no model). `margin` is how much better the chosen person scored than the
    best other person for that IMU.
    """
    imus = [as_imu(x) for x in (imu_streams if isinstance(imu_streams, (list, tuple)) else [imu_streams])]
    people = [as_motion(p) for p in (pose_stream if isinstance(pose_stream, (list, tuple)) else [pose_stream])]
    if not imus or not people:
        raise ValueError("assign needs at least one IMU and one person")
    duration = min([s.duration for s in imus] + [p.duration for p in people])
    if isinstance(encoder, str) and encoder == "xcorr":
        from query.xcorr import zero_lag_score

        parts = parts or ["right_wrist", "left_wrist", "right_thigh", "left_thigh"]
        slots = [(p, q) for p in range(len(people)) for q in parts]
        score = np.array([[zero_lag_score(imu, people[p], q, duration) for p, q in slots] for imu in imus])
    elif isinstance(encoder, TokenEncoder):
        parts = parts or encoder.parts
        slots = [(p, q) for p in range(len(people)) for q in parts]
        imu_side = [_token_profile(_crop(s, duration), encoder) for s in imus]
        pose_side = {(p, q): _token_profile(_crop(people[p], duration), encoder, q) for p, q in slots}
        score = np.array([[_profile_score(a, pose_side[slot]) for slot in slots] for a in imu_side])
    else:
        slots = [(p, "all") for p in range(len(people))]
        imu_vecs = [_clip_vector(_crop(s, duration), encoder) for s in imus]
        pose_vecs = [_clip_vector(_crop(p, duration), encoder) for p in people]
        score = np.array([[float(a @ pose_vecs[p]) for p, _ in slots] for a in imu_vecs])
    if len(imus) > len(slots):
        raise ValueError(f"{len(imus)} IMUs but only {len(slots)} (person, body part) places to put them")
    rows, cols = scipy.optimize.linear_sum_assignment(-score)
    out = []
    for i, c in sorted(zip(rows, cols)):
        p, q = slots[c]
        others = [score[i, j] for j, (pp, _) in enumerate(slots) if pp != p]
        out.append({"imu": imus[i].source or f"imu{i}", "person": int(p), "body_part": q,
                    "score": float(score[i, c]), "margin": float(score[i, c] - max(others)) if others else float("nan")})
    return pl.DataFrame(out, schema={"imu": pl.Utf8, "person": pl.Int64, "body_part": pl.Utf8,
                                     "score": pl.Float64, "margin": pl.Float64})


def _crop(stream, duration: float):
    n = int(round(duration * stream.rate))
    return replace(stream, data=stream.data[: max(n, 1)])


def _token_profile(stream, encoder: TokenEncoder, part: str | None = None):
    times, toks, windows = stream_tokens(stream, encoder, part)
    return times, toks, windows


def _profile_score(a, b) -> float:
    """Half mean token similarity at equal times, half mean window similarity."""
    ta, xa, wa = a
    tb, xb, wb = b
    n = min(len(ta), len(tb))
    token = float(np.einsum("ij,ij->i", xa[:n], xb[:n]).mean())
    m = min(len(wa), len(wb))
    window = float(np.einsum("ij,ij->i", wa[:m], wb[:m]).mean())
    return 0.5 * (token + window)


def _clip_vector(stream, encoder) -> np.ndarray:
    if isinstance(stream, ImuStream):
        stream = _imu_for(encoder, stream)
        rec, modality = Recording(id="stream", dataset="query", imu=[stream]), "imu"
    else:
        rec, modality = Recording(id="stream", dataset="query", pose=stream), "pose"
    windows = [w for w in recording_windows(rec, encoder.window, {modality: encoder.rates[modality]})
               if w.modality == modality]
    v = encoder.encode(windows).mean(axis=0)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def read_people(path: str | Path, rate: float | None = None, skeleton: str | None = None) -> list[PoseStream]:
    """Several people's poses from one file: a .npy of shape (people, frames, joints, 2|3)
    (needs `rate`), or any single-person pose file `inputs.read_pose` reads."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:
            raise BadInput(str(path), f"not a readable .npy array ({exc})") from None
        if data.ndim == 4:
            if rate is None:
                raise BadInput(str(path), "unknown rate: give the pose frame rate in Hz (--rate)")
            from indexer.bodyparts import CANONICAL_JOINTS, COCO17_JOINTS, KINECT20_JOINTS

            known = {20: ("kinect20", KINECT20_JOINTS), 17: ("coco17", COCO17_JOINTS),
                     16: ("canonical", CANONICAL_JOINTS)}
            if skeleton is None and data.shape[2] not in known:
                raise BadInput(str(path), f"{data.shape[2]} joints per person: not a skeleton this "
                                          "reader knows (20 Kinect, 17 COCO, 16 canonical)")
            name, joints = known[data.shape[2]] if skeleton is None else (skeleton, None)
            if joints is None:
                raise BadInput(str(path), f"give a .npy with a known joint count for skeleton {skeleton!r}")
            return [PoseStream(person, float(rate), name, list(joints), source=f"{path}[person {i}]")
                    for i, person in enumerate(data)]
    return [as_motion(path)]
