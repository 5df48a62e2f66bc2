"""Filtered nearest-window search: FAISS finds the vectors, LanceDB says what they are.

A filter (`where`, or a fixed scope such as one recording, by keyword) is exact: the window ids it admits
are handed to FAISS as a selector, so the k results are the k best among the admitted windows,
not the admitted few among the k best.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from indexer import IndexStore

META_COLUMNS = ["recording_id", "dataset", "subject", "label", "modality", "body_part", "t_start", "t_end"]
HIT_COLUMNS = ["query", "window_id", "score"]
_DTYPES = {"query": pl.Int64, "rank": pl.Int64, "window_id": pl.Int64, "score": pl.Float64, "t_start": pl.Float64,
           "t_end": pl.Float64}


def column_dtype(column: str):
    return _DTYPES.get(column, pl.Utf8)


def nearest_windows(store: IndexStore, encoder_id: str, target: str, queries: np.ndarray, k: int,
                    where: str | None = None, *, columns: list[str] = META_COLUMNS, search_params: dict | None = None,
                    ranked: bool = False, **scope) -> pl.DataFrame:
    """The `k` stored `target` windows of encoder `encoder_id` nearest each query vector, among
    those the user filter `where` and the caller's own `scope` admit (body_part=, recording=,
    exclude_recording=; None: any; see IndexStore.windows): one row per hit
    (query = row of `queries`, window_id, score, then `columns` of the window), ordered by
    query, each query's hits best first. `search_params` (nprobe, efSearch) override the index's
    tuned ones. `ranked`: a `rank` column (1 = best of its query), and the columns in the query
    API's order (query, rank, score, window_id, then `columns`)."""
    scope = {key: value for key, value in scope.items() if value is not None}
    allowed = None
    if scope or where:
        allowed = store.admitted_ids(where, encoder=encoder_id, modality=target, **scope)
        if len(allowed) == 0:
            head = ["query", "rank", "score", "window_id"] if ranked else HIT_COLUMNS
            return pl.DataFrame(schema={c: column_dtype(c) for c in head + columns})
        k = min(k, len(allowed))
    queries = np.atleast_2d(np.asarray(queries, np.float32))
    scores, ids = store.faiss_files.get(encoder_id, target).search(queries, k, allowed, **(search_params or {}))
    found = ids >= 0  # FAISS leaves -1 where fewer than k qualify; each row is best first
    window_ids = ids[found]
    hits = [pl.Series("query", np.nonzero(found)[0].astype(np.int64)),
            pl.Series("window_id", window_ids), pl.Series("score", scores[found].astype(np.float64))]
    if ranked:  # the query API's order: query, rank, score, window_id
        hits = [hits[0], pl.Series("rank", np.cumsum(found, axis=1)[found].astype(np.int64)), hits[2], hits[1]]
    return pl.DataFrame([*hits, *store.windows_at(window_ids, columns).get_columns()])
