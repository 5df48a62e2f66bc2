"""Label vectors against an archive's windows: the read-outs `Index.classify`, `Index.label_recordings`,
a text search and bench/zeroshot.py share (numpy, scipy and FAISS only, so a query that never
loads a model never loads torch).

- `centred_cosines`: window-label cosines taken relative to the archive's mean window.
- `label_sums` and `refined_labels`: each label's text vector moved a little toward the mean of
  the archive's windows that lean to it, one step of the soft k-means that transductive
  zero-shot methods run, with the text vector keeping most of the weight.
- `expanded_query`: a text prompt's vector joined by the mean of its first hits (pseudo-relevance
  feedback), what a text search searches with.
- `neighbour_graph` and `spread`: scores of many windows smoothed over the archive's graph of
  nearest windows, with the taught examples held to their own label (label propagation, "learning
  with local and global consistency"): the read-out of `query label --spread` and of
  bench/zeroshot.py's `few_shot_spread` figures.
- `balanced`: many items' label scores made to share the labels equally (Sinkhorn's scaling),
  for labelling an archive whose activities are about equally common (`query label --balance`).
"""
from __future__ import annotations

import faiss
import numpy as np
import scipy.sparse as sp
from scipy.special import logsumexp

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


# A text search's second pass (docs/words.md, "Text search joined by its first hits"), chosen on
# the selection sets: the prompt's vector plus EXPAND_WEIGHT x the unit mean of its EXPAND_HITS best hits.
EXPAND_HITS = 5
EXPAND_WEIGHT = 0.25


def expanded_query(query: np.ndarray, hits: np.ndarray, weight: float = EXPAND_WEIGHT) -> np.ndarray:
    """The unit vector of `query` plus `weight` times the unit mean of its first `hits`' unit
    vectors: the prompt keeps the lead, and the archive's own windows that the words found first
    pull the search toward what those windows look like (pseudo-relevance feedback). `query`
    unchanged without hits."""
    q = np.asarray(query, np.float64)
    h = np.atleast_2d(np.asarray(hits, np.float64))
    if not h.size:
        return q.astype(np.float32)
    h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    mean = h.mean(axis=0)
    out = q / max(float(np.linalg.norm(q)), 1e-12) + weight * mean / max(float(np.linalg.norm(mean)), 1e-12)
    return (out / max(float(np.linalg.norm(out)), 1e-12)).astype(np.float32)


# Label propagation over the archive's nearest-window graph (docs/words.md, "Few-shot labels spread
# over the archive"), chosen on the few-shot selection splits: each window linked to its
# SPREAD_NEIGHBOURS nearest (centred cosines), weighted exp((cos - 1) / SPREAD_SIGMA); start scores a
# softmax of the read-out at SPREAD_TAU; each step keeps SPREAD_ALPHA of the neighbours' scores.
SPREAD_NEIGHBOURS = 10
SPREAD_SIGMA = 0.05
SPREAD_ALPHA = 0.9
SPREAD_TAU = 0.1
SPREAD_STEPS = 60
# The neighbours are found exactly up to EXACT_GRAPH_WINDOWS windows (quadratic: 48 s for 100,000
# on one core); above, by an inverted-file search (FAISS IVF: 4 sqrt(N) lists, GRAPH_PROBE of them
# searched per window), which found 99.6 % of the exact graph's edges at 100,000 windows in a
# quarter of the time, and takes 9 min for 1,000,000 (bench/label_spread.py).
EXACT_GRAPH_WINDOWS = 50_000
GRAPH_PROBE = 8
MAX_SPREAD_WINDOWS = 1_000_000  # the windows' vectors are held in memory: 1.5 GB at 384 dimensions


def _centred_units(vectors: np.ndarray, center: np.ndarray | None) -> np.ndarray:
    v = np.asarray(vectors, np.float32)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    if center is not None:
        v = v - np.asarray(center, np.float32)[None, :]
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    return np.ascontiguousarray(v, np.float32)


def nearest_windows(u: np.ndarray, k: int, exact_up_to: int = EXACT_GRAPH_WINDOWS) -> tuple[np.ndarray, np.ndarray]:
    """(cosines, ids), each (N, k + 1), of the k + 1 nearest of the unit vectors `u` to each of them
    (itself among them): exact up to `exact_up_to` windows, else by an inverted-file search (ids
    -1 where a window's probed lists held fewer)."""
    n, dim = u.shape
    if n <= exact_up_to:
        index = faiss.IndexFlatIP(dim)
    else:
        lists = int(4 * np.sqrt(n))
        quantizer = faiss.IndexFlatIP(dim)  # kept referenced while the index lives
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, min(n, 40 * lists), replace=False)
        index.train(u[np.sort(sample)])
        index.nprobe = GRAPH_PROBE
    index.add(u)
    return index.search(u, k + 1)


def neighbour_graph(vectors: np.ndarray, center: np.ndarray | None = None, k: int = SPREAD_NEIGHBOURS,
                    sigma: float = SPREAD_SIGMA, exact_up_to: int = EXACT_GRAPH_WINDOWS) -> sp.csr_matrix:
    """(N, N) symmetric, degree-normalised affinities D^-1/2 W D^-1/2 of the windows: each window
    linked to its `k` nearest others by cosine relative to `center` (the archive's mean window),
    weighted exp((cos - 1) / sigma). The neighbours are exact up to `exact_up_to` windows and
    found by an inverted-file search above (`nearest_windows`); callers bound N (MAX_SPREAD_WINDOWS)."""
    u = _centred_units(vectors, center)
    n = len(u)
    k = min(k, n - 1)
    if k < 1:
        return sp.csr_matrix((n, n), dtype=np.float64)
    cos, ids = nearest_windows(u, k, exact_up_to)
    rows = np.repeat(np.arange(n), k + 1)
    keep = (ids.ravel() >= 0) & (ids.ravel() != rows)  # a window is not its own neighbour
    rows, cols, cos = rows[keep], ids.ravel()[keep], cos.ravel()[keep]
    w = sp.csr_matrix((np.exp((np.minimum(cos.astype(np.float64), 1.0) - 1.0) / sigma), (rows, cols)), shape=(n, n))
    w = (w + w.T).tocsr()
    degree = np.asarray(w.sum(axis=1)).ravel()
    scale = sp.diags(1.0 / np.sqrt(np.maximum(degree, 1e-12)))
    return (scale @ w @ scale).tocsr()


def spread(scores: np.ndarray, graph: sp.spmatrix, examples: dict[int, int] | None = None,
           alpha: float = SPREAD_ALPHA, tau: float = SPREAD_TAU, steps: int = SPREAD_STEPS) -> np.ndarray:
    """(N, L) label scores of N windows spread over their `graph` (`neighbour_graph`): each row
    starts as a softmax of its read-out `scores` at `tau`, the taught examples (`examples`: window
    row -> label column) as their own label alone, and F = (1 - alpha) * sum_t (alpha * graph)^t Y
    is summed for `steps` steps (the fixed point of F = alpha * graph @ F + (1 - alpha) * Y).
    Rows are returned summing to 1."""
    s = np.asarray(scores, np.float64)
    y = np.exp((s - s.max(axis=1, keepdims=True)) / tau)
    y /= y.sum(axis=1, keepdims=True)
    for row, col in (examples or {}).items():
        y[row] = 0.0
        y[row, col] = 1.0
    f = y.copy()
    for _ in range(steps):
        f = alpha * (graph @ f) + y
    f *= 1.0 - alpha
    return f / np.maximum(f.sum(axis=1, keepdims=True), 1e-12)


# Balanced label shares (docs/words.md, "Balanced label shares"), chosen on the selection sets:
# cosines are read at BALANCE_TAU; after 20 of the BALANCE_STEPS scalings every label's share was
# already within 1e-7 of equal on the five archives of bench/zeroshot.py (per recording).
BALANCE_TAU = 0.05
BALANCE_STEPS = 100


def balanced(scores: np.ndarray, tau: float = BALANCE_TAU, steps: int = BALANCE_STEPS) -> np.ndarray:
    """(N, L) label shares of N items (recordings, windows) made to spread over the labels: each
    row starts as a softmax of its `scores` at `tau` (give log-probabilities with tau 1), then rows
    and columns are scaled in turn (Sinkhorn-Knopp, in the log domain) until every row sums to 1
    and every label's column to N / L. An item keeps the label it leans to most once no label may
    take more than its share, so predictions that collapse onto the few labels lying along the
    archive's common direction spread out again. It assumes the labels are about equally common
    among the items; where they are not, it moves items off the common labels wrongly."""
    z = np.asarray(scores, np.float64) / tau
    n, labels = z.shape
    if not n or labels < 2:
        return np.exp(z - logsumexp(z, axis=1, keepdims=True)) if n else z
    log_share = np.log(n / labels)
    for _ in range(steps):
        z = z - logsumexp(z, axis=1, keepdims=True)  # rows sum to 1
        z = z + (log_share - logsumexp(z, axis=0, keepdims=True))  # columns to n / labels
    z = z - logsumexp(z, axis=1, keepdims=True)  # end on rows: each a distribution over the labels
    return np.exp(z)
