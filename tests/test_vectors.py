"""FAISS search: filtered search is exact for every index type and on the GPU path (forced on the
CPU here), approximate indexes are tuned to their recall target and never come back short."""
from __future__ import annotations

import numpy as np
import pytest

from indexer import vectors


def clustered(n: int, dim: int = 32, clusters: int = 40, seed: int = 0) -> np.ndarray:
    """Unit vectors around a few centres, like real embeddings (not uniform noise)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_filtered(x: np.ndarray, ids: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray) -> np.ndarray:
    keep = np.isin(ids, allowed)
    scores = q @ x[keep].T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids[keep][order]


@pytest.fixture(scope="module")
def data():
    x = clustered(6000)
    ids = np.arange(6000, dtype=np.int64) * 3 + 7  # ids are not row numbers
    q = clustered(20, seed=1)
    return x, ids, q


@pytest.mark.parametrize("factory", ["Flat", "IVF64,Flat", "HNSW16", "IVF64,SQ8"])
@pytest.mark.parametrize("post_filter", [False, True])
def test_filtered_search_is_exact_and_never_short(data, factory, post_filter):
    x, ids, q = data
    index = vectors.build(x, ids, factory)
    vectors.tune(index, x, ids)
    rng = np.random.default_rng(2)
    for share in (0.1, 0.003):  # a filter admitting 10 %, and one admitting 18 windows
        allowed = rng.choice(ids, size=int(share * len(ids)), replace=False)
        scores, got = vectors.search(index, q, 10, allowed, post_filter=post_filter)
        assert np.isin(got, allowed).all(), "a hit outside the filter"
        assert (got >= 0).all(), "came back short although the filter admits enough windows"
        assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
        want = exact_filtered(x, ids, q, 10, allowed)
        recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want)])
        if factory == "Flat":
            np.testing.assert_array_equal(got, want)
        else:
            assert recall >= 0.9, (factory, share, recall)


def test_post_filter_equals_the_selector_path(data):
    """The GPU path (post-filter with a widening k) answers exactly what the CPU's selector does."""
    x, ids, q = data
    for factory in ("Flat", "IVF64,Flat"):
        index = vectors.build(x, ids, factory)
        vectors.tune(index, x, ids)
        allowed = ids[::17]
        a = vectors.search(index, q, 10, allowed, post_filter=False)
        b = vectors.search(index, q, 10, allowed, post_filter=True)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)


def test_fewer_admitted_than_k_returns_just_those(data):
    x, ids, q = data
    index = vectors.build(x, ids, "IVF64,Flat")
    for post_filter in (False, True):
        _, got = vectors.search(index, q[:3], 10, ids[:4], post_filter=post_filter)
        assert [sorted(r[r >= 0].tolist()) for r in got] == [sorted(ids[:4].tolist())] * 3


def test_tuning_reaches_the_recall_target_and_is_applied(data):
    x, ids, _ = data
    index = vectors.build(x, ids, "IVF64,Flat")
    tuned = vectors.tune(index, x, ids)
    assert tuned["recall_at_10"] >= vectors.RECALL_TARGET
    assert 1 <= tuned["nprobe"] <= 64 and vectors.search_params(index)["nprobe"] == tuned["nprobe"]
    again = vectors.from_bytes(vectors.to_bytes(index))
    vectors.apply_params(again, {"nprobe": tuned["nprobe"]})
    assert vectors.search_params(again)["nprobe"] == tuned["nprobe"]
    assert vectors.tune(vectors.build(x, ids, "Flat"), x, ids) == {}  # exact: nothing to tune


def test_per_search_parameters_override_the_tuned_ones(data):
    x, ids, q = data
    index = vectors.build(x, ids, "IVF64,Flat")
    vectors.apply_params(index, {"nprobe": 1})
    _, narrow = vectors.search(index, q, 10)
    _, wide = vectors.search(index, q, 10, params={"nprobe": 64})
    want = exact_filtered(x, ids, q, 10, ids)
    hits = lambda got: np.mean([len(set(a) & set(b)) for a, b in zip(got, want)])
    assert hits(wide) == 10 and hits(narrow) < 10
    assert vectors.search_params(index)["nprobe"] == 1  # the override did not stick


def test_store_keeps_the_tuned_parameters_in_the_manifest(tmp_path, data):
    from indexer.store import IndexStore

    x, _, q = data
    store = IndexStore(tmp_path / "ix", create=True)
    rows = [{"id": i, "recording_id": f"r/{i // 50}", "dataset": "d", "subject": str(i % 4), "modality": "imu",
             "body_part": "right_wrist", "t_start": 0.0, "t_end": 1.0, "label": "x", "encoder_id": "enc",
             "vector": v.tolist()} for i, v in enumerate(x[:3000])]
    store.commit(rows, [], [(f"r/{i}", "enc", 50) for i in range(60)])
    manifest = store.write_faiss("enc", "imu", "sum", "IVF32,Flat")
    assert manifest["search_params"]["recall_at_10"] >= vectors.RECALL_TARGET
    entry = IndexStore(tmp_path / "ix").faiss("enc", "imu")
    assert vectors.search_params(entry.index)["nprobe"] == manifest["search_params"]["nprobe"]
    allowed = np.arange(0, 3000, 7)
    scores, got = entry.search(q, 5, allowed, nprobe=32)
    assert np.isin(got, allowed).all() and (got >= 0).all()
