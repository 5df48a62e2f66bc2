"""Offset voting (MoBind): a similarity matrix between the dense windows of two streams ->
the offset most window pairs agree on.

Each pair that is among the k best of its row *and* of its column (a mutual top-k match) votes
for the offset between them. The offset with most votes wins; the diagonal similarity around
it places it between grid points. One repeated motion cannot outvote the rest: its matches
spread over many offsets, while true matches all agree on one.
"""
from __future__ import annotations

import numpy as np

from indexer import BadInput
from query.embedding import STRIDE


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
        m = round(off / stride) + ia[0] - ib[0]
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
