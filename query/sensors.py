"""Several sensors worn at once as one query (a wrist and an ankle IMU, say).

Two ways, and each result says which it took (its `fusion` column):

- "attention": when the index's encoder has a fusion module (trained with `--fusion
  attention`) and the index holds its fused windows (body_part "all"), each sensor's clip is
  embedded by the shared IMU tower, the set is fused into one vector (encoders.fusion: any
  subset of sensors, each with its placement) and that vector searches the fused windows, or
  the `target` modality's windows when it is not "imu" (several IMUs find the mocap or video).
  The learned fusion can weigh a foot that tells two actions apart over a wrist that cannot.
- "late" (otherwise, and for one sensor): each sensor's clip searches only the index's windows
  of its own placement; a recording window (same recording, same start) matches when every
  sensor finds it among its `candidates` nearest, and scores the sum of the sensors'
  similarities. A moment where the wrist moves alike but the ankle does not therefore ranks
  below one where both do, and one no sensor agrees on is not returned at all.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from indexer import ImuStream
from indexer.bounds import MAX_K, check_range
from query.embedding import embed_clip
from query.searcher import Searcher

if TYPE_CHECKING:  # annotations only: the class brings torch
    from encoders import Encoder

KEY = ["recording_id", "_start"]
META = ["recording_id", "dataset", "subject", "label", "t_start", "t_end"]
COLUMNS = ["rank", "score", *META[:4], "modality", "body_part", "t_start", "t_end", "fusion"]
FUSED = "all"  # the body_part of fused windows (encoders.fusion.FUSED_PART)
FUSIONS = ("auto", "attention", "late")


def score_column(placement: str) -> str:
    return f"score_{placement}"


def search_sensors(searcher: Searcher, streams: list[ImuStream], target: str = "imu", k: int = 10,
                   where: str | None = None, encoder_id: str | None = None, candidates: int | None = None,
                   fusion: str = "auto") -> pl.DataFrame:
    """The k recording windows matching `streams` (one per placement) together, with COLUMNS
    (`fusion` says "attention" or "late", see the module doc). Late fusion adds one
    score_<placement> column per sensor; `score` is their sum and `body_part` the placements
    joined with "+". Attention fusion returns the fused windows found (body_part "all" for IMU)
    scored by cosine. `fusion`: "auto" (attention for several sensors when the encoder and the
    index have it, else late), "attention" (refused when unavailable) or "late"."""
    check_range("k", k, 1, MAX_K)
    if fusion not in FUSIONS:
        raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
    if not streams:
        raise ValueError("give at least one sensor stream")
    placements = [s.placement for s in streams]
    twice = sorted({p for p in placements if placements.count(p) > 1})
    if twice:
        raise ValueError(f"several sensors at {', '.join(twice)}: give each sensor its own placement")
    encoder = searcher.encoder(encoder_id, modality=target)
    why_not = _no_attention(searcher, encoder, target)
    if fusion == "attention" and why_not:
        raise LookupError(f"attention fusion unavailable: {why_not}")
    if fusion == "attention" or (fusion == "auto" and not why_not and len(streams) > 1):
        return _search_fused(searcher, encoder, streams, target, k, where)
    return _search_late(searcher, encoder, streams, placements, target, k, where, candidates)


def _no_attention(searcher: Searcher, encoder: Encoder, target: str) -> str | None:
    """Why attention fusion cannot answer here (None when it can)."""
    if not getattr(encoder, "has_fusion", False):
        return f"encoder {encoder.id} has no fusion module (train it with `python -m encoders train --fusion attention`)"
    if target == "imu" and not searcher.count("windows", encoder=encoder.id, modality="imu", body_part=FUSED):
        return f"the index holds no fused ({FUSED!r}) IMU windows of encoder {encoder.id}; rebuild it"
    return None


def _search_fused(searcher: Searcher, encoder: Encoder, streams: list[ImuStream], target: str, k: int,
                  where: str | None) -> pl.DataFrame:
    """Each sensor's clip vector (the shared tower), fused over the set, searches the fused windows."""
    vectors = np.stack([embed_clip(s, encoder) for s in streams])
    query = encoder.fuse([(vectors, [s.placement for s in streams])])
    hits = searcher.nearest(encoder.id, target, query, k, where, body_part=FUSED if target == "imu" else None,
                            search_params=searcher.search_params)
    out = hits.sort(["score", "recording_id", "t_start"], descending=[True, False, False]).head(k)
    out = out.with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("rank"),
                           pl.lit("attention").alias("fusion"))
    return out.select(COLUMNS)


def _search_late(searcher: Searcher, encoder: Encoder, streams: list[ImuStream], placements: list[str], target: str,
                 k: int, where: str | None, candidates: int | None) -> pl.DataFrame:
    missing = [p for p in placements if not searcher.count("windows", encoder=encoder.id, modality=target, body_part=p)]
    if missing:
        stored = searcher.windows(columns=["body_part"], encoder=encoder.id, modality=target)
        known = set(stored["body_part"].unique().to_list()) if stored.height else set()
        raise LookupError(f"the index has no {target} windows worn at {', '.join(missing)}; "
                          f"its {target} windows are at {', '.join(sorted(known)) or 'no placement'}")
    n = check_range("candidates", candidates, 1, MAX_K) if candidates else min(MAX_K, max(200, 20 * k))
    joined = None
    for stream, placement in zip(streams, placements):
        hits = searcher.nearest(encoder.id, target, embed_clip(stream, encoder), n, where, body_part=placement,
                                search_params=searcher.search_params)
        # Sensors of one recording share its window starts; rounding absorbs float noise.
        hits = hits.with_columns(pl.col("t_start").round(3).alias("_start"))
        if joined is None:
            joined = hits.select([*META, "_start", pl.col("score").alias(score_column(placement))])
        else:
            joined = joined.join(hits.select([*KEY, pl.col("score").alias(score_column(placement))]), on=KEY,
                                 how="inner")
    scores = [score_column(p) for p in placements]
    out = (joined.with_columns(pl.sum_horizontal(scores).alias("score"), pl.lit(target).alias("modality"),
                               pl.lit("+".join(placements)).alias("body_part"), pl.lit("late").alias("fusion"))
           .sort(["score", "recording_id", "t_start"], descending=[True, False, False]).head(k))
    out = out.with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("rank"))
    return out.select([*COLUMNS, *scores])
