"""Label vectors against an archive's windows: the zero-shot read-out `Index.classify` and
bench/zeroshot.py share (numpy only, so a query that never loads a model never loads torch).

- `centred_cosines`: window-label cosines taken relative to the archive's mean window.
- `label_sums` and `refined_labels`: each label's text vector moved a little toward the mean of
  the archive's windows that lean to it, one step of the soft k-means that transductive
  zero-shot methods run, with the text vector keeping most of the weight.
"""
from __future__ import annotations

import numpy as np

# One step of refining label vectors by the archive's own windows (docs/words.md, "Label vectors
# refined by the archive"): each label vector moves REFINE_SHARE of the way toward the mean of
# the windows that lean to it, each window leaning by a softmax of its centred cosines at REFINE_TAU.
REFINE_SHARE = 0.15
REFINE_TAU = 0.01


def centred_cosines(vectors: np.ndarray, text: np.ndarray, center: np.ndarray | None = None) -> np.ndarray:
    """(N, L) cosines of unit `vectors` with unit `text` vectors, taken relative to `center`, the
    mean vector of the archive the windows come from (when given). Vectors of one archive share a
    common direction (its sensor placement, its recording setup) that says nothing about the
    action but pulls every window toward the few labels lying along it; centring removes it
    (docs/words.md, "Centring")."""
    v = np.asarray(vectors, np.float32)
    if center is not None:
        v = v - np.asarray(center, np.float32)[None, :]
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    return v @ np.asarray(text, np.float32).T


def label_sums(vectors: np.ndarray, text: np.ndarray, center: np.ndarray | None = None,
               tau: float = REFINE_TAU) -> np.ndarray:
    """(L, d) per label, the sum of the windows' centred unit vectors, each weighted by how much
    it leans to that label (a softmax over the labels of its `centred_cosines`). Sums of batches
    add up, so an index streams its windows through it (query.searcher.Searcher.label_sums)."""
    v = np.asarray(vectors, np.float32)
    if center is not None:
        v = v - np.asarray(center, np.float32)[None, :]
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    z = (v @ np.asarray(text, np.float32).T) / tau
    q = np.exp(z - z.max(axis=1, keepdims=True))
    q /= q.sum(axis=1, keepdims=True)
    return (q.T @ v).astype(np.float64)


def refined_labels(text: np.ndarray, sums: np.ndarray | None, share: float = REFINE_SHARE) -> np.ndarray:
    """Unit label vectors moved `share` of the way toward the mean window leaning to each
    (`label_sums` over the archive); `text` unchanged without sums or for a label no window leans to."""
    text = np.asarray(text, np.float64)
    if sums is None:
        return text.astype(np.float32)
    sums = np.asarray(sums, np.float64)
    norm = np.linalg.norm(sums, axis=1, keepdims=True)
    toward = np.where(norm > 1e-9, sums / np.maximum(norm, 1e-12), text)
    out = (1.0 - share) * text + share * toward
    return (out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)).astype(np.float32)
