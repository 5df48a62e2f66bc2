"""Locate: where in the archive an IMU snippet's motion happens, to one token (0.2 s).

The snippet's windows (one every 0.2 s) are searched among the index's windows; each hit votes
for where the snippet would start in its recording; the best-voted places are then scored
window by window and token by token at 0.2 s steps around their voted start.

Without token vectors (or with `method="xcorr"`) the physical baseline answers instead: the
snippet's |acc| / |gyr| cross-correlated with a virtual sensor on each pose recording
(`query.xcorr.locate_in`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from indexer import ImuStream
from indexer.errors import BadInput
from query.embedding import snippet_windows, stream_tokens
from query.inputs import as_imu
from query.searcher import Searcher
from query.xcorr import locate_in

if TYPE_CHECKING:  # annotations only: the class brings torch
    from encoders import TokenEncoder

LOCATE_COLUMNS = ["rank", "score", "recording_id", "t_start", "t_end", "label", "ties"]
TIE_MARGIN = 0.01  # places scoring within this of an answer are near-repeats it cannot be told from
REFINE_SHIFTS = (-2, -1, 0, 1, 2)  # tokens around a voted start that refinement tries
METHODS = ("auto", "tokens", "xcorr")
MAX_PHYSICAL_RECORDINGS = 2000  # the physical baseline re-reads every recording it searches

log = logging.getLogger(__name__)


@dataclass
class Snippet:
    """An IMU snippet as locate searches it: its token vectors (times from 0) and its windows
    (one every 0.2 s, `starts` from 0), with the token length `ts` and its `span` in seconds."""
    times: np.ndarray
    tokens: np.ndarray
    starts: np.ndarray
    vecs: np.ndarray
    ts: float
    span: float

    @classmethod
    def embed(cls, imu: ImuStream, encoder: TokenEncoder) -> Snippet:
        ts = encoder.token_seconds
        times, tokens, _ = stream_tokens(imu, encoder)
        times = times - times[0]
        starts, vecs = snippet_windows(imu, encoder)
        return cls(times, tokens, starts, vecs, ts, float(times[-1] + ts))


def locate(searcher: Searcher, imu_path_or_stream: ImuStream | str | Path, k: int = 10, recording: str | None = None,
           target: str = "pose", encoder_id: str | None = None, candidates: int = 100, refine: bool = True,
           where: str | None = None, method: str = "auto", **read_kw) -> pl.DataFrame:
    """Where in the archive the snippet's motion happens: (rank, score, recording_id, t_start,
    t_end, label, ties), best first; `ties` counts the other places scoring within TIE_MARGIN
    (near-repeats of the motion the answer cannot be told from). `target` is the archive modality searched (pose: the chain the
    IMU is worn on; imu: other IMU recordings); `where` an SQL filter over window columns (only
    the windows it admits, and their tokens, are searched); `recording` one recording's id.
    A place never reaches outside its recording: [t_start, t_end] lies within [0, duration].

    `method`: "tokens" (the learned search below), "xcorr" (the physical baseline: the
    snippet cross-correlated with a virtual sensor at its placement on every admitted pose
    recording, re-read from its sources; no model, but it reads every recording) or "auto"
    (tokens when the index has token vectors, else xcorr).

    The snippet is embedded as windows every 0.2 s; each one's `candidates` nearest stored
    windows (FAISS) vote for where the snippet would start. Window vectors tell motions apart
    across the whole archive; token vectors were only taught to tell moments of one window
    apart, so they come second: around each voted start, +-0.4 s in 0.2 s steps, the start
    whose windows and tokens both agree best wins (`refine=False` keeps the voted start and the
    window score alone: an ablation of what the tokens add).
    """
    if method not in METHODS:
        raise ValueError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    imu = as_imu(imu_path_or_stream, **read_kw)
    if method == "xcorr" or (method == "auto" and target == "pose" and not searcher.has_tokens(encoder_id)):
        if target != "pose":
            raise ValueError("--method xcorr locates an IMU snippet in pose recordings: use --target pose")
        return locate_physical(searcher, imu, k, recording, where)
    encoder = searcher.encoder(encoder_id, query="tokens")
    snippet = Snippet.embed(imu, encoder)
    scope = {"body_part": encoder.part_of(imu.placement) if target == "pose" else None}
    if recording is not None:
        _check_recording(searcher, recording)
        scope["recording"] = recording
    votes = _votes(searcher, encoder.id, target, snippet, candidates, where, scope, k)
    if votes.height == 0:
        return _located([])
    info = _recording_info(searcher, votes["recording_id"].unique().to_list())
    stored: dict[str, dict] = {}
    results = []
    for rec_id, slot in votes.select("recording_id", "slot").iter_rows():
        if rec_id not in stored:
            stored[rec_id] = _recording_vectors(searcher, encoder.id, target, where, {**scope, "recording": rec_id})
        best = _best_start(snippet, stored[rec_id], slot, max(0.0, info[rec_id][1] - snippet.span), refine)
        if best is not None:
            results.append((best[0], rec_id, best[1]))
    places = _distinct_places(results, snippet.span)
    # A repeated motion (steps, reps) matches several places almost equally: say how many.
    ties = [sum(1 for other, _, _ in places if other is not None and abs(other - score) <= TIE_MARGIN) - 1
            for score, _, _ in places[:k]]
    return _located(places[:k], snippet.span, info, ties)


def _votes(searcher: Searcher, encoder_id: str, target: str, snippet: Snippet, candidates: int, where: str | None,
           scope: dict, k: int) -> pl.DataFrame:
    """The best-voted places (recording_id, slot: the snippet's start in tokens, votes): each
    snippet window's `candidates` nearest stored windows vote for where the snippet would start,
    once per place (their best hit there), weighted by similarity."""
    hits = searcher.nearest(encoder_id, target, snippet.vecs, candidates, where, columns=["recording_id", "t_start"],
                            **scope)
    if hits.height == 0:
        return pl.DataFrame(schema={"recording_id": pl.Utf8, "slot": pl.Int64, "votes": pl.Float64})
    hits = hits.with_columns(q=pl.Series(snippet.starts[hits["query"].to_numpy()], dtype=pl.Float64))
    hits = hits.with_columns(((pl.col("t_start") - pl.col("q")) / snippet.ts).round(0).cast(pl.Int64).alias("slot"))
    return (hits.group_by(["recording_id", "slot", "q"]).agg(pl.col("score").max())
            .group_by(["recording_id", "slot"]).agg(pl.col("score").clip(0.0).sum().alias("votes"))
            .sort(["votes", "recording_id", "slot"], descending=[True, False, False]).head(max(3 * k, 10)))


def _recording_vectors(searcher: Searcher, encoder_id: str, target: str, where: str | None, scope: dict) -> dict:
    """The stored window and token vectors of one recording (`scope` names it) that `where`
    admits, each with its start times, in time order."""
    w = searcher.windows(where, ["id", "t_start", "vector"], encoder=encoder_id, modality=target, **scope).sort("t_start")
    # Tokens have no metadata columns of their own: a token is searched when its window is.
    t = (searcher.tokens(["window_id", "t_start", "vector"], encoder=encoder_id, modality=target,
                         recording=scope["recording"])
         .filter(pl.col("window_id").is_in(w["id"].to_list())).sort("t_start"))
    return {"w_times": w["t_start"].to_numpy(), "w_vecs": np.stack(w["vector"].to_numpy()),
            "t_times": t["t_start"].to_numpy(),
            "t_vecs": np.stack(t["vector"].to_numpy()) if t.height else np.zeros((0, 1))}


def _best_start(snippet: Snippet, v: dict, slot: int, last_start: float, refine: bool) -> tuple[float, float] | None:
    """(score, start) of the best start around a voted `slot` in one recording's vectors `v`
    (REFINE_SHIFTS tokens each way when `refine`), kept inside [0, last_start]; None when the
    snippet's windows land on none of the recording's."""
    best = None
    ts = snippet.ts
    for shift in (REFINE_SHIFTS if refine else (0,)):
        s0 = float(np.clip((slot + shift) * ts, 0.0, last_start))  # a place inside the recording
        w = _alignment_score(snippet.starts, snippet.vecs, s0, v["w_times"], v["w_vecs"], ts, need=1)
        if w is None:
            continue
        score = w
        if refine:
            t = _alignment_score(snippet.times, snippet.tokens, s0, v["t_times"], v["t_vecs"], ts)
            score = 0.5 * (w + t) if t is not None else w
        if best is None or score > best[0]:
            best = (score, s0)
    return best


def _distinct_places(results: list[tuple[float, str, float]], span: float) -> list[tuple[float, str, float]]:
    """(score, recording_id, start) best first, one per place: a worse one overlapping a better
    one by more than half the snippet is dropped."""
    places: list[tuple[float, str, float]] = []
    for score, rec_id, s0 in sorted(results, key=lambda r: -r[0]):
        if all(r != rec_id or abs(s - s0) >= span / 2 for _, r, s in places):
            places.append((score, rec_id, s0))
    return places


def locate_physical(searcher: Searcher, imu: ImuStream, k: int, recording: str | None, where: str | None) -> pl.DataFrame:
    """locate's physical baseline (`query.xcorr.locate_in`) over the pose recordings that have
    windows `where` admits (or the one `recording`), read again from their stored sources."""
    if recording is not None:
        _check_recording(searcher, recording)
    rec_ids = sorted(set(searcher.windows(where, ["recording_id"], modality="pose", recording=recording)["recording_id"]))
    if len(rec_ids) > MAX_PHYSICAL_RECORDINGS:
        raise ValueError(f"--method xcorr would read {len(rec_ids)} recordings (at most {MAX_PHYSICAL_RECORDINGS}); "
                         "narrow it with --recording or --where, or use token vectors (--method tokens)")
    poses, unreadable = {}, 0
    for rec_id in rec_ids:
        try:
            rec = searcher.load_recording(rec_id)
        except (BadInput, OSError) as exc:  # a source moved or damaged since the build: go on without it
            unreadable += 1
            log.warning("locate: left out %s: %s", rec_id, getattr(exc, "reason", exc))
            continue
        if rec.pose is not None:
            poses[rec_id] = rec.pose
    if unreadable:
        log.warning("locate: %d of %d recordings could not be read again and were not searched",
                    unreadable, len(rec_ids))
    span = imu.duration
    places = locate_in(imu, poses, k=max(3 * k, 10))
    info = _recording_info(searcher, [r for _, r, _ in places])
    places = [(score, r, min(s0, max(0.0, info[r][1] - span))) for score, r, s0 in places][:k]
    ties = [sum(1 for other, _, _ in places if abs(other - score) <= TIE_MARGIN) - 1 for score, _, _ in places]
    return _located(places, span, info, ties)


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


def _located(kept: list[tuple[float, str, float]], span: float = 0.0,
             info: dict[str, tuple[str, float]] | None = None, ties: list[int] | None = None) -> pl.DataFrame:
    info = info or {}
    ties = ties if ties is not None else [0] * len(kept)
    ends = [min(s0 + span, info[r][1]) if r in info else s0 + span for _, r, s0 in kept]
    return pl.DataFrame({
        "rank": list(range(1, len(kept) + 1)),
        "score": [float(s) for s, _, _ in kept],
        "recording_id": [r for _, r, _ in kept],
        "t_start": [round(float(s0), 6) for _, _, s0 in kept],
        "t_end": [round(float(e), 6) for e in ends],
        "label": [info[r][0] if r in info else "" for _, r, _ in kept],
        "ties": [int(t) for t in ties],
    }, schema={"rank": pl.Int64, "score": pl.Float64, "recording_id": pl.Utf8, "t_start": pl.Float64,
               "t_end": pl.Float64, "label": pl.Utf8, "ties": pl.Int64})


def _check_recording(searcher: Searcher, recording: str) -> None:
    if searcher.count("recordings", recording=recording) == 0:
        raise LookupError(f"no recording {recording!r} in {searcher.uri}")


def _recording_info(searcher: Searcher, rec_ids: list[str]) -> dict[str, tuple[str, float]]:
    """recording id -> (label text, duration in seconds)."""
    if not rec_ids:
        return {}
    df = searcher.recordings(None, ["id", "text", "duration"], recording=sorted(set(rec_ids)))
    return {r: (text, float(d)) for r, text, d in df.select("id", "text", "duration").iter_rows()}
