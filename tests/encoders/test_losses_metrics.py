"""InfoNCE and the retrieval metrics, against values worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from encoders.evaluation.metrics import first_relevant_ranks, mean_average_precision, precision_at_k, ranking_metrics
from encoders.losses import info_nce


def _ce(logits_row: list[float], target: int) -> float:
    """Cross-entropy of one row, by hand."""
    return -math.log(math.exp(logits_row[target]) / sum(math.exp(v) for v in logits_row))


# ----------------------------------------------------------------------------- InfoNCE


def test_info_nce_identity_pairs_at_temperature_one():
    a = torch.eye(2)
    loss = info_nce(a, a.clone(), torch.tensor(0.0))  # log(1/T) = 0: T = 1
    # logits = I: each row's own pair scores 1, the other 0; both directions equal.
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-6)


def test_info_nce_asymmetric_case_averages_both_directions():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    scale = 2.0
    # logits = 2 * a @ b.T = [[2, 1.2], [0, 1.6]]
    rows = [[2.0, 1.2], [0.0, 1.6]]
    cols = [[2.0, 0.0], [1.2, 1.6]]
    a_to_b = (_ce(rows[0], 0) + _ce(rows[1], 1)) / 2
    b_to_a = (_ce(cols[0], 0) + _ce(cols[1], 1)) / 2
    expected = (a_to_b + b_to_a) / 2
    loss = info_nce(a, b, torch.tensor(math.log(scale)))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert a_to_b != pytest.approx(b_to_a)  # the case really is asymmetric per direction
    assert info_nce(b, a, torch.tensor(math.log(scale))).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_temperature_is_clamped_at_one_hundredth():
    # Two unit vectors with cosine 0.99: logits = s * [[1, .99], [.99, 1]], so the loss is
    # log(1 + exp(-0.01 s)). Asking for s = e^10 must give s = 100, not ~22026.
    c = 0.99
    a = torch.tensor([[1.0, 0.0], [c, math.sqrt(1 - c * c)]], dtype=torch.float64)
    scale = torch.tensor(10.0, dtype=torch.float64, requires_grad=True)
    loss = info_nce(a, a.clone(), scale)
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-100 * (1 - c))), rel=1e-4)
    loss.backward()
    assert scale.grad.item() == 0.0  # past the clamp the temperature stops learning


def test_info_nce_prefers_aligned_pairs_and_has_gradients():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    swapped = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    good, bad = info_nce(a, a.detach(), scale), info_nce(a, swapped, scale)
    assert good.item() < 0.01 < bad.item()
    bad.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0 and scale.grad is not None


# ----------------------------------------------------------------------------- ranks


def test_first_relevant_rank_counts_better_irrelevant_items():
    sim = np.array([[0.9, 0.5, 0.1, 0.7],
                    [0.2, 0.3, 0.8, 0.1]])
    relevant = np.array([[False, True, False, False],
                         [False, False, True, True]])
    # Query 0: 0.9 and 0.7 beat the relevant 0.5 -> rank 3. Query 1: its best relevant (0.8) is first.
    np.testing.assert_array_equal(first_relevant_ranks(sim, relevant), [3, 1])


def test_ties_count_against_the_query():
    sim = np.array([[0.5, 0.5, 0.5],
                    [0.4, 0.5, 0.5]])
    relevant = np.array([[True, False, False],
                         [False, True, False]])
    # Constant scores must not look like a perfect retrieval: the relevant item ranks after its ties.
    np.testing.assert_array_equal(first_relevant_ranks(sim, relevant), [3, 2])


def test_a_query_with_no_relevant_item_is_an_error():
    with pytest.raises(ValueError, match="at least one relevant"):
        first_relevant_ranks(np.ones((2, 2)), np.array([[True, False], [False, False]]))


def test_ranking_metrics_on_a_hand_case():
    # Four queries whose relevant item sits at ranks 1, 3, 6 and 12 of a 12-item gallery.
    ranks = [1, 3, 6, 12]
    sim = np.tile(-np.arange(12, dtype=float), (4, 1))  # item j ranks j+1 for every query
    relevant = np.zeros((4, 12), bool)
    for q, r in enumerate(ranks):
        relevant[q, r - 1] = True
    m = ranking_metrics(sim, relevant)
    assert m["R@1"] == 0.25 and m["R@5"] == 0.5 and m["R@10"] == 0.75
    assert m["MRR"] == pytest.approx((1 + 1 / 3 + 1 / 6 + 1 / 12) / 4)
    assert m["median_rank"] == 4.5 and m["queries"] == 4


def test_precision_at_k_on_a_hand_case():
    sim = np.array([[0.9, 0.8, 0.7, 0.6, 0.5],
                    [0.1, 0.2, 0.3, 0.4, 0.5]])
    relevant = np.array([[True, False, True, True, False],
                         [True, True, False, False, False]])
    # Query 0 ranks items 0,1,2,3,4: hits T F T T F. Query 1 ranks 4,3,2,1,0: hits F F F T T.
    p = precision_at_k(sim, relevant, ks=(1, 3, 5))
    assert p["P@1"] == pytest.approx((1 + 0) / 2)
    assert p["P@3"] == pytest.approx((2 / 3 + 0) / 2)
    assert p["P@5"] == pytest.approx((3 / 5 + 2 / 5) / 2)


def test_mean_average_precision_on_a_hand_case():
    sim = np.array([[0.9, 0.8, 0.7, 0.6],
                    [0.9, 0.8, 0.7, 0.6],
                    [0.9, 0.8, 0.7, 0.6]])
    relevant = np.array([[True, False, True, False],  # AP = (1/1 + 2/3) / 2
                         [False, True, False, False],  # AP = 1/2
                         [False, False, False, False]])  # no relevant item: not averaged in
    assert mean_average_precision(sim, relevant) == pytest.approx(((1 + 2 / 3) / 2 + 0.5) / 2)
