"""Filtered nearest-window search: FAISS finds the vectors, LanceDB says what they are.

A filter (`where`, or a fixed `scope` such as one recording) is exact: the window ids it admits
are handed to FAISS as a selector, so the k results are the k best among the admitted windows,
not the admitted few among the k best.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from indexer import IndexStore

META_COLUMNS = ["recording_id", "dataset", "subject", "label", "modality", "body_part", "t_start", "t_end"]
HIT_COLUMNS = ["query", "window_id", "score"]
_DTYPES = {"query": pl.Int64, "window_id": pl.Int64, "score": pl.Float64, "t_start": pl.Float64,
           "t_end": pl.Float64}


def column_dtype(column: str):
    return _DTYPES.get(column, pl.Utf8)


def nearest_windows(store: IndexStore, encoder_id: str, target: str, queries: np.ndarray, k: int,
                    where: str | None = None, scope: str | None = None,
                    columns: list[str] = META_COLUMNS, search_params: dict | None = None) -> pl.DataFrame:
    """The `k` stored `target` windows of encoder `encoder_id` nearest each query vector, among
    those the user filter `where` and the caller's own predicate `scope` admit: one row per hit
    (query = row of `queries`, window_id, score, then `columns` of the window), each query's hits
    best first. `search_params` (nprobe, efSearch) override the index's tuned ones."""
    trusted = store.encoder_filter(encoder_id, target) + (f" AND ({scope})" if scope else "")
    allowed = None
    if scope or where:
        allowed = store.admitted_ids(where, trusted)
        if len(allowed) == 0:
            return pl.DataFrame(schema={c: column_dtype(c) for c in HIT_COLUMNS + columns})
        k = min(k, len(allowed))
    queries = np.atleast_2d(np.asarray(queries, np.float32))
    scores, ids = store.faiss(encoder_id, target).search(queries, k, allowed, **(search_params or {}))
    hits = pl.DataFrame({"query": np.repeat(np.arange(len(queries)), ids.shape[1]), "window_id": ids.ravel(),
                         "score": scores.ravel().astype(np.float64)}).filter(pl.col("window_id") >= 0)
    meta = store.windows_by_id(hits["window_id"].unique().to_list(), ["id", *columns])
    return hits.join(meta.rename({"id": "window_id"}), on="window_id", how="left", maintain_order="left")
