"""bench/concept_base_rate.py: the label-free share estimate follows the archive's share, the
prior shift moves a probability the way the share says, and the verdict refuses a variant that
makes wrong hits read higher."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import concept_base_rate as cbr  # noqa: E402

from query import match_score  # noqa: E402


def _query(share: float, rng: np.random.Generator, same: bool = True) -> dict:
    """One simulated concept search: a background of 1000 cosines, `share` of them from the
    concept (around the examples' leave-one-out cosine 0.8), the rest around 0.1; 20 hits."""
    n_rel = int(round(share * 1000))
    rel, other = rng.normal(0.85, 0.04, n_rel), rng.normal(0.1, 0.1, 1000 - n_rel)
    bg = np.concatenate([rel, other])
    scores = np.sort(np.concatenate([rel[:10] + 0.02, other.max() + rng.uniform(0, 0.05, 10)]))[::-1]
    y = rng.random(20) < np.where(np.arange(20) < 10, 0.7, 0.3)  # higher hits are relevant more often
    return {"same": same, "X": match_score.features(scores, bg), "y": y, "bg": bg, "loo": 0.8, "labels": share}


def test_the_examples_estimate_rises_with_the_archives_share():
    rng = np.random.default_rng(0)
    queries = [_query(s, rng) for s in (0.01, 0.05, 0.2)]
    cbr.estimate(queries)
    est = [q["pi"]["examples"] for q in queries]
    assert est[0] < est[1] < est[2]
    assert all(abs(e - q["labels"]) < 0.6 * q["labels"] for e, q in zip(est, queries))
    # one figure per archive: the median over the queries searching their examples' modality
    assert len({q["pi"]["archive"] for q in queries}) == 1 and queries[0]["pi"]["archive"] == pytest.approx(est[1])


def test_the_shift_raises_a_query_whose_archive_has_more_relevant_windows():
    rng = np.random.default_rng(1)
    train = [_query(s, rng) for s in (0.01, 0.05, 0.1) * 10]
    cbr.estimate(train)
    predict, fitted = cbr.fit_variant(train, "labels", "shift 1", seed=0)
    X = train[0]["X"]
    low, high = (predict(X, np.full(len(X), cbr.logit(pi))) for pi in (0.01, 0.3))
    assert np.all(high >= low) and np.any(high > low)
    # a prototype searching another modality (no estimate: NaN) keeps the fitted probability
    today, _ = cbr.fit_variant(train, None, None, seed=0)
    assert np.allclose(predict(X, np.full(len(X), np.nan)), today(X, None))
    assert fitted["neutral_logit_pi"] == round(float(np.mean([cbr.logit(q["labels"]) for q in train])), 3)


def test_the_verdict_refuses_wrong_hits_read_higher():
    y = np.array([1, 1, 0, 0])
    today = {k: cbr.scores(np.array([0.95, 0.6, 0.2, 0.1]), y) for k in ("fit+utd-mhad", "fit+seglearn-watch")}
    same = cbr.verdict(today, today)
    higher = cbr.verdict({**today, "fit+seglearn-watch": cbr.scores(np.array([0.95, 0.6, 0.4, 0.1]), y)}, today)
    assert same["passes"] and not higher["passes"]
    assert higher["wrong_hits_higher_on"] == ["fit+seglearn-watch"]
