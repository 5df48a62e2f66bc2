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


# ---- streaming build, tuning without an exact copy, streamed (de)serialisation -------------------
def batches_of(x: np.ndarray, ids: np.ndarray, size: int):
    return lambda: ((ids[i : i + size], x[i : i + size]) for i in range(0, len(ids), size))


def test_a_streaming_build_equals_the_in_memory_one(data):
    x, ids, q = data
    streamed, tuned = vectors.build_streaming(batches_of(x, ids, 700), len(ids), x.shape[1], "Flat")
    assert tuned == {} and streamed.ntotal == len(ids)
    np.testing.assert_array_equal(vectors.held_ids(streamed), np.sort(ids))
    np.testing.assert_array_equal(vectors.search(streamed, q, 10)[1], exact_filtered(x, ids, q, 10, ids))


def test_ivf_is_trained_on_a_sample_and_tuned_for_plain_and_filtered_searches(data, monkeypatch):
    x, ids, _ = data
    q = clustered(6040)[-40:]  # queries like the indexed vectors (the same centres), not stored
    monkeypatch.setattr(vectors, "TRAIN_MIN", 1000)  # 64 lists x 40 = 2560 of the 6000 vectors
    trained_on = []
    real_train = vectors.faiss.IndexIVFFlat.train
    monkeypatch.setattr(vectors.faiss.IndexIVFFlat, "train", lambda self, v: (trained_on.append(len(v)),
                                                                               real_train(self, v))[1])
    index, tuned = vectors.build_streaming(batches_of(x, ids, 500), len(ids), x.shape[1], "IVF64,Flat")
    assert trained_on == [64 * vectors.TRAIN_PER_LIST]
    assert tuned["recall_at_10"] >= vectors.RECALL_TARGET
    assert [share for share, _ in tuned["filtered"]] == list(vectors.FILTER_SHARES)
    for share, setting in tuned["filtered"]:
        assert setting["nprobe"] >= tuned["nprobe"] and setting["recall_at_10"] >= vectors.RECALL_TARGET
        # the tuned setting gives that recall to a filtered search of that share
        allowed = ids[vectors.admitted_by_synthetic_filter(ids, share)]
        _, got = vectors.search(index, q, 10, allowed, filtered=tuned["filtered"])
        assert vectors.recall_at(got, exact_filtered(x, ids, q, 10, allowed)) >= 0.9


def test_exact_top_k_fed_in_batches_leaves_each_query_out_of_its_own_neighbours(data):
    x, ids, _ = data
    pick = [3, 100, 5000]
    truth = vectors.ExactTopK(x[pick], ids[pick], 5)
    for i in range(0, len(ids), 999):
        truth.add(x[i : i + 999], ids[i : i + 999])
    sims = x[pick] @ x.T
    sims[np.arange(3), pick] = -np.inf
    np.testing.assert_array_equal(truth.neighbours(), ids[np.argsort(-sims, axis=1, kind="stable")[:, :5]])


def test_filtered_widening_follows_the_tuned_table_and_defaults_to_one_over_share():
    table = [[0.1, {"nprobe": 8}], [0.01, {"nprobe": 40}]]
    assert vectors._widening("nprobe", 4, 0.5, None) == 2.0  # no table: 1 / share
    assert vectors._widening("nprobe", 4, 0.1, table) == pytest.approx(2.0)
    assert vectors._widening("nprobe", 4, 0.01, table) == pytest.approx(10.0)
    assert 2.0 < vectors._widening("nprobe", 4, 0.03, table) < 10.0
    assert vectors._widening("nprobe", 4, 0.001, table) == pytest.approx(100.0)  # 1 / share beyond the table
    assert vectors._widening("nprobe", 4, 1.0, table) == pytest.approx(1.0)


def test_bitmap_and_hashed_selectors_admit_the_same_ids(data, monkeypatch):
    x, ids, q = data
    index = vectors.build(x, ids, "IVF64,Flat")
    allowed = np.sort(ids[::13])
    a = vectors.search(index, q, 10, allowed, params={"nprobe": 64})
    monkeypatch.setattr(vectors, "BITMAP_MAX_BYTES", 0)
    b = vectors.search(index, q, 10, allowed.copy(), params={"nprobe": 64})  # a new array: no cached selector
    np.testing.assert_array_equal(a[1], b[1])
    assert isinstance(vectors.selector(allowed.copy()), vectors.faiss.IDSelectorBatch)


def test_indexes_are_written_and_read_in_chunks_with_their_checksum(data):
    import hashlib
    import io

    x, ids, q = data
    index = vectors.build(x, ids, "IVF16,Flat")
    buf = io.BytesIO()
    digest = vectors.write_index(index, buf.write)
    assert digest == hashlib.sha256(vectors.to_bytes(index)).hexdigest()
    buf.seek(0)
    again, read_digest = vectors.read_index(buf.read)
    assert read_digest == digest and vectors.holds(again, np.sort(ids), x.shape[1])
    np.testing.assert_array_equal(vectors.search(again, q, 5)[1], vectors.search(index, q, 5)[1])
    damaged, _ = vectors.read_index(io.BytesIO(b"not an index at all").read)
    assert damaged is None


def test_what_an_incremental_add_may_extend():
    auto_ivf = {"index_type": "IVF100,Flat", "auto_type": True, "trained_count": 300_000}
    assert vectors.extendable(auto_ivf, 300_000 + 1000)  # nlist is not re-chosen on every add
    assert not vectors.extendable(auto_ivf, int(300_000 * vectors.RETRAIN_GROWTH) + 1)  # outgrew its lists
    assert not vectors.extendable(auto_ivf, 350_000, "HNSW32")  # another type asked for
    flat = {"index_type": "Flat", "auto_type": True, "trained_count": None}
    assert vectors.extendable(flat, vectors.FLAT_MAX) and not vectors.extendable(flat, vectors.FLAT_MAX + 1)
    assert vectors.extendable({"index_type": "HNSW32", "auto_type": False}, 10**6, "HNSW32")
    assert not vectors.extendable({"index_type": "HNSW32", "auto_type": False}, 10**6)  # auto picks again


@pytest.mark.parametrize("factory", ["Flat", "IVF32,Flat"])
def test_sharded_search_equals_unsharded(data, factory):
    """IndexShards over id-mapped shards (one trained quantizer) answers what one index does,
    filtered or not, with the same tuned nprobe."""
    x, ids, q = data
    one, tuned = vectors.build_streaming(batches_of(x, ids, 1000), len(ids), x.shape[1], factory)
    three, tuned3 = vectors.build_streaming(batches_of(x, ids, 1000), len(ids), x.shape[1], factory, shards=3)
    assert len(vectors.shards_of(three)) == 3 and three.ntotal == len(ids) and tuned3 == tuned
    np.testing.assert_array_equal(vectors.held_ids(three), np.sort(ids))
    assert all(1800 < len(vectors.held_ids(s)) < 2200 for s in vectors.shards_of(three))  # even, by id hash
    for allowed in (None, ids[::11]):
        a = vectors.search(one, q, 10, allowed)
        b = vectors.search(three, q, 10, allowed)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_allclose(a[0], b[0], atol=1e-6)
