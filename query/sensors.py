"""Several sensors worn at once as one query (a wrist and an ankle IMU, say).

Each sensor's clip searches only the index's windows of its own placement; a recording window
(same recording, same start) matches when every sensor finds it among its `candidates`
nearest, and scores the sum of the sensors' similarities. A moment where the wrist moves alike
but the ankle does not therefore ranks below one where both do, and one no sensor agrees on
is not returned at all.
"""
from __future__ import annotations

import polars as pl

from indexer import ImuStream
from indexer.bounds import MAX_K, check_range
from indexer.store import sql_str
from query.embedding import embed_clip
from query.search import nearest_windows

KEY = ["recording_id", "_start"]
META = ["recording_id", "dataset", "subject", "label", "t_start", "t_end"]
COLUMNS = ["rank", "score", *META[:4], "modality", "body_part", "t_start", "t_end"]


def score_column(placement: str) -> str:
    return f"score_{placement}"


def search_sensors(index, streams: list[ImuStream], target: str = "imu", k: int = 10, where: str | None = None,
                   encoder_id: str | None = None, candidates: int | None = None) -> pl.DataFrame:
    """The k recording windows where every one of `streams` (one per placement) matches the
    stored `target` windows of the same placement: COLUMNS, then one score_<placement> column
    per sensor; `score` is their sum, `body_part` the placements joined with "+"."""
    check_range("k", k, 1, MAX_K)
    if not streams:
        raise ValueError("give at least one sensor stream")
    placements = [s.placement for s in streams]
    twice = sorted({p for p in placements if placements.count(p) > 1})
    if twice:
        raise ValueError(f"several sensors at {', '.join(twice)}: give each sensor its own placement")
    encoder = index.encoder(encoder_id, modality=target)
    scope = index.store.encoder_filter(encoder.id, target)
    missing = [p for p in placements if not index.store.count("windows", f"{scope} AND body_part = {sql_str(p)}")]
    if missing:
        stored = index.store.windows(columns=["body_part"], scope=scope)
        known = set(stored["body_part"].unique().to_list()) if stored.height else set()
        raise LookupError(f"the index has no {target} windows worn at {', '.join(missing)}; "
                          f"its {target} windows are at {', '.join(sorted(known)) or 'no placement'}")
    n = check_range("candidates", candidates, 1, MAX_K) if candidates else min(MAX_K, max(200, 20 * k))
    joined = None
    for stream, placement in zip(streams, placements):
        hits = nearest_windows(index.store, encoder.id, target, embed_clip(stream, encoder), n, where,
                               scope=f"body_part = {sql_str(placement)}", search_params=index.search_params)
        # Sensors of one recording share its window starts; rounding absorbs float noise.
        hits = hits.with_columns(pl.col("t_start").round(3).alias("_start"))
        if joined is None:
            joined = hits.select([*META, "_start", pl.col("score").alias(score_column(placement))])
        else:
            joined = joined.join(hits.select([*KEY, pl.col("score").alias(score_column(placement))]), on=KEY,
                                 how="inner")
    scores = [score_column(p) for p in placements]
    out = (joined.with_columns(pl.sum_horizontal(scores).alias("score"), pl.lit(target).alias("modality"),
                               pl.lit("+".join(placements)).alias("body_part"))
           .sort(["score", "recording_id", "t_start"], descending=[True, False, False]).head(k))
    out = out.with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("rank"))
    return out.select([*COLUMNS, *scores])
