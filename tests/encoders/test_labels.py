"""The zero-shot read-out's label vectors: centred cosines and the refinement by an archive's
windows (encoders.labels). The query side is in tests/query/test_zero_shot_archive.py."""
from __future__ import annotations

import numpy as np
import pytest

from encoders.labels import centred_cosines, label_sums, refined_labels


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.fixture()
def archive():
    rng = np.random.default_rng(0)
    text = _unit(rng.normal(size=(3, 16)))
    # windows near each label's direction, plus a common direction shared by all of them
    common = _unit(rng.normal(size=16))
    windows = _unit(np.repeat(text, 20, axis=0) + 0.8 * rng.normal(size=(60, 16)) / 4 + 2.0 * common)
    return text.astype(np.float32), windows.astype(np.float32)


def test_label_sums_add_up_over_batches(archive):
    """An index streams its windows in batches; the sums must not depend on how it cuts them."""
    text, windows = archive
    center = windows.mean(0)
    whole = label_sums(windows, text, center)
    parts = sum(label_sums(windows[i : i + 7], text, center) for i in range(0, len(windows), 7))
    np.testing.assert_allclose(parts, whole, rtol=1e-5, atol=1e-6)
    assert whole.shape == (3, 16)


def test_refinement_moves_each_label_toward_its_windows(archive):
    text, windows = archive
    center = windows.mean(0)
    sums = label_sums(windows, text, center)
    refined = refined_labels(text, sums)
    np.testing.assert_allclose(np.linalg.norm(refined, axis=1), 1.0, rtol=1e-5)
    centred = _unit(windows - center)
    for j in range(3):
        mine = _unit(centred[20 * j : 20 * (j + 1)].mean(0))
        assert refined[j] @ mine > text[j] @ mine  # closer to the windows that lean to it
        assert refined[j] @ text[j] > 0.9  # the words keep most of the weight
    # no sums, or a share of 0, leave the text vectors as they are
    np.testing.assert_allclose(refined_labels(text, None), text, rtol=1e-6)
    np.testing.assert_allclose(refined_labels(text, sums, share=0.0), text, rtol=1e-6)
    # a label no window leans to keeps its text vector
    zero = sums.copy()
    zero[1] = 0.0
    np.testing.assert_allclose(refined_labels(text, zero)[1], text[1], rtol=1e-6)


def test_centred_cosines_remove_the_archive_direction(archive):
    text, windows = archive
    plain = centred_cosines(windows, text).argmax(1)
    centred = centred_cosines(windows, text, windows.mean(0)).argmax(1)
    truth = np.repeat(np.arange(3), 20)
    assert (centred == truth).mean() >= (plain == truth).mean()
    assert (centred == truth).mean() > 0.9


def _clusters(rng, n=60, d=16):
    """Windows of two actions (two clusters of vectors) and per-window scores for them that are
    right on average but wrong for about a third of the windows, as a read-out from a few
    examples is near its decision boundary."""
    centres = _unit(rng.normal(size=(2, d)))
    truth = np.repeat([0, 1], n)
    vectors = _unit(centres[truth] + 0.15 * rng.normal(size=(2 * n, d))).astype(np.float32)
    scores = 0.05 * np.eye(2)[truth] + 0.1 * rng.normal(size=(2 * n, 2))
    return vectors, truth, scores


def test_spread_corrects_scores_that_disagree_with_their_neighbours():
    from encoders.labels import neighbour_graph, spread

    vectors, truth, scores = _clusters(np.random.default_rng(0))
    plain = (scores.argmax(1) == truth).mean()
    examples = {0: 0, 1: 0, 60: 1, 61: 1}
    scores[[0, 60]] = scores[[0, 60]][:, ::-1] + np.array([[-1.0, 1.0], [1.0, -1.0]])  # examples the scores get wrong
    out = spread(scores, neighbour_graph(vectors, vectors.mean(0)), examples)
    assert out.shape == scores.shape and np.allclose(out.sum(1), 1.0)
    assert all(out[row].argmax() == col for row, col in examples.items())  # taught examples keep their label
    assert plain < 0.7 and (out.argmax(1) == truth).mean() > 0.85


def test_neighbour_graph_is_symmetric_and_links_nearest_windows():
    from encoders.labels import neighbour_graph

    vectors, truth, _ = _clusters(np.random.default_rng(1), n=30)
    g = neighbour_graph(vectors, vectors.mean(0), k=4)
    assert g.shape == (60, 60) and abs(g - g.T).max() < 1e-9 and g.diagonal().max() == 0
    rows, cols = g.nonzero()
    assert (truth[rows] == truth[cols]).all()  # neighbours within an action, not across
    assert neighbour_graph(vectors[:1]).nnz == 0  # one window has no neighbour


def test_balanced_shares_undo_predictions_piled_onto_one_label():
    """Three equally common actions whose scores all lean to the first label (a direction the
    archive's windows share): the plain argmax piles most items onto it; balanced shares give
    each label a third and put most items back on their own."""
    from encoders.labels import balanced

    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 50)
    scores = 0.05 * np.eye(3)[truth] + 0.02 * rng.normal(size=(150, 3))
    scores[:, 0] += 0.06
    plain = scores.argmax(1)
    out = balanced(scores)
    assert out.shape == scores.shape and np.allclose(out.sum(1), 1.0)
    np.testing.assert_allclose(out.sum(0), 50.0, rtol=1e-3)
    assert (plain == 0).mean() > 0.7 and (plain == truth).mean() < 0.6
    assert (out.argmax(1) == truth).mean() > 0.85
    # log-shares at temperature 1 (how spread scores are balanced) give the same answer
    assert (balanced(np.log(balanced(scores)), tau=1.0).argmax(1) == out.argmax(1)).all()
    assert balanced(np.zeros((0, 3))).shape == (0, 3)
