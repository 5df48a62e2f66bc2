"""Retrieval metrics from a similarity matrix."""
from __future__ import annotations

import numpy as np


def first_relevant_ranks(sim: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """1-based rank of the best-ranked relevant gallery item for each query.

    sim: (Q, G) scores, higher is better; relevant: (Q, G) bool. Ties count against the query
    (a relevant item tied with an irrelevant one ranks after it), so constant scores cannot
    look good.
    """
    sim = np.asarray(sim, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if not relevant.any(axis=1).all():
        raise ValueError("every query needs at least one relevant gallery item")
    best = np.where(relevant, sim, -np.inf).max(axis=1)
    return 1 + (np.where(~relevant, sim, -np.inf) >= best[:, None]).sum(axis=1)


def ranking_metrics(sim: np.ndarray, relevant: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    ranks = first_relevant_ranks(sim, relevant)
    out = {f"R@{k}": float((ranks <= k).mean()) for k in ks}
    out["MRR"] = float((1.0 / ranks).mean())
    out["median_rank"] = float(np.median(ranks))
    out["queries"] = len(ranks)
    return out


def precision_at_k(sim: np.ndarray, relevant: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    """Share of relevant items among the top k, averaged over queries."""
    order = np.argsort(-np.asarray(sim), axis=1, kind="stable")
    hits = np.take_along_axis(np.asarray(relevant, bool), order, axis=1)
    return {f"P@{k}": float(hits[:, :k].mean()) for k in ks}


def mean_average_precision(sim: np.ndarray, relevant: np.ndarray) -> float:
    order = np.argsort(-np.asarray(sim), axis=1, kind="stable")
    hits = np.take_along_axis(np.asarray(relevant, bool), order, axis=1).astype(np.float64)
    cum = np.cumsum(hits, axis=1)
    prec = cum / np.arange(1, hits.shape[1] + 1)
    n_rel = hits.sum(axis=1)
    ap = (prec * hits).sum(axis=1) / np.maximum(n_rel, 1)
    return float(ap[n_rel > 0].mean())


def macro_f1(true: np.ndarray, pred: np.ndarray, classes) -> float:
    """The mean over `classes` of each class's F1 (0 for a class never predicted right)."""
    true, pred = np.asarray(true), np.asarray(pred)
    scores = []
    for c in classes:
        tp = np.sum((pred == c) & (true == c))
        fp = np.sum((pred == c) & (true != c))
        fn = np.sum((pred != c) & (true == c))
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))
