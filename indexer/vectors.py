"""FAISS mechanics: build an id-mapped inner-product index, tune it, (de)serialise it, search it.

Vectors are unit-norm, so inner product is cosine similarity. Indexes are built on the CPU;
when faiss sees a GPU a copy goes there. Filtered search is exact for every index type and on
either device:

- CPU: the admitted ids go to FAISS as an IDSelector inside the search parameters of the index
  type (SearchParametersIVF / SearchParametersHNSW carry nprobe / efSearch with it);
- GPU: FAISS GPU indexes ignore an IDSelector, so the search post-filters with a widening k,
  and the few queries still short when k reaches the GPU's limit are answered by the CPU index
  with the selector. Results equal the CPU's. `POST_FILTER = True` (or the environment variable
  MOTIONSEARCH_POST_FILTER=1) forces this path on a CPU, which is how the tests cover it.

An approximate index (IVF, HNSW) never comes back short because of its approximation: a row
with fewer hits than the filter admits is searched again with nprobe / efSearch widened.
"""
from __future__ import annotations

import os

import faiss
import numpy as np

DEFAULT_INDEX = "Flat"
FLAT_MAX = 200_000  # exact search up to this many vectors (see bench/bench_index.py)
RECALL_TARGET = 0.95  # R@10 an approximate index is tuned to reach at build time
GPU_MAX_K = 2048  # the largest k FAISS GPU indexes accept
POST_FILTER = os.environ.get("MOTIONSEARCH_POST_FILTER", "") not in ("", "0")


def choose_factory(count: int, requested: str | None = None) -> str:
    """The FAISS factory string: exact search unless asked otherwise or the set is huge."""
    if requested and requested != "auto":
        return requested
    if count <= FLAT_MAX:
        return DEFAULT_INDEX
    nlist = int(4 * np.sqrt(count))
    return f"IVF{nlist},Flat"


def check_factory(factory: str | None, dim: int) -> None:
    """ValueError in one line when `factory` is not an index FAISS can make for `dim` dimensions
    (checked before a build writes anything)."""
    if not factory or factory == "auto":
        return
    try:
        faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        reason = str(exc).strip().rsplit(": ", 1)[-1] or "not understood"  # FAISS's own words, not its source path
        raise ValueError(f"--index-type {factory!r} is not a FAISS index for {dim}-dimensional vectors "
                         f"({reason}); e.g. Flat, HNSW32, IVF1024,Flat, IVF4096,SQ8") from None


def build(vectors: np.ndarray, ids: np.ndarray, factory: str = DEFAULT_INDEX) -> faiss.Index:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    dim = vectors.shape[1]
    inner = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    if not inner.is_trained:
        inner.train(vectors)
    index = faiss.IndexIDMap2(inner)
    if len(ids):
        index.add_with_ids(vectors, ids)
    return index


def to_bytes(index: faiss.Index) -> bytes:
    return faiss.serialize_index(index).tobytes()


def from_bytes(blob: bytes) -> faiss.Index:
    return faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))


def loaded_with_ids(blob: bytes, ids: np.ndarray, dimension: int | None) -> faiss.Index | None:
    """The index serialised in `blob` if it loads, has `dimension` and holds exactly the sorted
    `ids`; None otherwise (a damaged or foreign file: the caller rebuilds it)."""
    try:
        index = from_bytes(blob)  # kept as it is: a downcast wrapper would not own the index
    except RuntimeError:
        return None
    if not isinstance(index, faiss.IndexIDMap2) or (dimension is not None and index.d != dimension):
        return None
    held = np.sort(faiss.vector_to_array(index.id_map).astype(np.int64))
    return index if np.array_equal(held, ids) else None


def gpu_count() -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get else 0


def on_best_device(index: faiss.Index) -> faiss.Index:
    """The index copied to all GPUs when there are any; the CPU index itself otherwise."""
    if gpu_count() > 0:
        try:
            return faiss.index_cpu_to_all_gpus(index)
        except Exception:  # some index types have no GPU version; the CPU one answers the same
            return index
    return index


# ---- search parameters (nprobe for IVF, efSearch for HNSW) ---------------------------------------
def _inner(index: faiss.Index) -> faiss.Index:
    """The index an IDMap wraps (the one whose type decides the search parameters)."""
    index = faiss.downcast_index(index)
    return faiss.downcast_index(index.index) if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)) else index


def _ivf(index: faiss.Index):
    try:
        return faiss.extract_index_ivf(index)
    except RuntimeError:  # not an IVF index
        return None


def search_params(index: faiss.Index) -> dict:
    """The tunable search parameters of `index` and their current values ({} for exact indexes)."""
    ivf = _ivf(index)
    if ivf is not None:
        return {"nprobe": int(ivf.nprobe), "nlist": int(ivf.nlist)}
    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW):
        return {"efSearch": int(inner.hnsw.efSearch)}
    return {}


def apply_params(index: faiss.Index, params: dict | None) -> None:
    """Set nprobe / efSearch on `index` itself (the defaults of every later search)."""
    params = params or {}
    ivf = _ivf(index)
    if ivf is not None and params.get("nprobe"):
        ivf.nprobe = int(min(params["nprobe"], ivf.nlist))
    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW) and params.get("efSearch"):
        inner.hnsw.efSearch = int(params["efSearch"])


def _parameters(index: faiss.Index, params: dict, selector=None):
    """FAISS search parameters of the right class for the index type: an IVF index rejects plain
    SearchParameters ("IndexIVF params have incorrect type")."""
    ivf, inner = _ivf(index), _inner(index)
    if ivf is not None:
        out = faiss.SearchParametersIVF()
        out.nprobe = int(params.get("nprobe") or ivf.nprobe)
    elif isinstance(inner, faiss.IndexHNSW):
        out = faiss.SearchParametersHNSW()
        out.efSearch = int(params.get("efSearch") or inner.hnsw.efSearch)
    else:
        out = faiss.SearchParameters()
    if selector is not None:
        out.sel = selector
    return out


def _widened(index: faiss.Index, params: dict) -> dict | None:
    """The next, wider setting of nprobe / efSearch, or None when there is nothing to widen."""
    ivf = _ivf(index)
    if ivf is not None:
        nprobe = int(params.get("nprobe") or ivf.nprobe)
        return {**params, "nprobe": min(ivf.nlist, nprobe * 4)} if nprobe < ivf.nlist else None
    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW):
        ef = int(params.get("efSearch") or inner.hnsw.efSearch)
        return {**params, "efSearch": ef * 4} if ef < index.ntotal else None
    return None


def _for_filter(index: faiss.Index, params: dict, share: float) -> dict:
    """nprobe / efSearch scaled by 1 / (share of the index a filter admits): the k nearest admitted
    vectors lie about that much further out, so an approximate search must look that much wider
    to keep its recall."""
    if share >= 1:
        return params
    current = {n: v for n, v in search_params(index).items() if n != "nlist"}
    scaled = {n: int(np.ceil(int(params.get(n) or v) / max(share, 1e-9))) for n, v in current.items()}
    ivf = _ivf(index)
    if ivf is not None:
        scaled["nprobe"] = min(ivf.nlist, scaled["nprobe"])
    return {**params, **scaled}


def tune(index: faiss.Index, vectors: np.ndarray, ids: np.ndarray, target: float = RECALL_TARGET,
         k: int = 10, queries: int = 200, seed: int = 0) -> dict:
    """The smallest nprobe / efSearch whose R@k reaches `target` on held-out queries: a sample of
    the index's own vectors, each searched with itself excluded, against exact search. Applies
    the setting to `index` and returns it with the recall reached ({} for exact indexes)."""
    if not search_params(index) or len(ids) <= k + 1:
        return {}
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(ids), size=min(queries, len(ids)), replace=False)
    q = np.ascontiguousarray(vectors[pick], dtype=np.float32)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(np.ascontiguousarray(vectors, dtype=np.float32))
    _, truth = exact.search(q, k + 1)
    truth = [set(ids[row[row >= 0]].tolist()) - {int(ids[i])} for row, i in zip(truth, pick)]
    names = [name for name in search_params(index) if name != "nlist"]
    params = {name: 1 if name == "nprobe" else 16 for name in names}
    while True:
        _, got = index.search(q, k + 1, params=_parameters(index, params))
        recall = float(np.mean([len(set(row.tolist()) & t) / max(1, len(t)) for row, t in zip(got, truth)]))
        wider = _widened(index, params)
        if recall >= target or wider is None:
            break
        params = wider
    apply_params(index, params)
    return {**params, f"recall_at_{k}": round(recall, 4)}


# ---- search ---------------------------------------------------------------------------------------
def on_gpu(index: faiss.Index) -> bool:
    """Whether `index` (or what it wraps) lives on a GPU, where IDSelectors are ignored."""
    names = {type(faiss.downcast_index(index)).__name__, type(_inner(index)).__name__}
    return any(n.startswith("Gpu") or n in ("IndexReplicas", "IndexShards") for n in names)


def search(index: faiss.Index, queries: np.ndarray, k: int, allowed: np.ndarray | None = None,
           params: dict | None = None, cpu_index: faiss.Index | None = None,
           post_filter: bool | None = None):
    """(scores, ids), each (n_queries, k); ids are -1 where fewer than k vectors qualify.

    `allowed`: the ids a filter admits (exact filtering). `params`: nprobe / efSearch for this
    search only. `cpu_index`: the CPU original of a GPU `index`, used for the rows a GPU
    post-filter leaves short. `post_filter`: force (True) or forbid (False) post-filtering;
    default: on a GPU, or when POST_FILTER is set."""
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    params = dict(params or {})
    if allowed is None:
        return index.search(queries, k, params=_parameters(index, params))
    allowed = np.unique(np.asarray(allowed, dtype=np.int64))
    want = min(k, len(allowed))  # a row with this many hits is complete
    params = _for_filter(index, params, len(allowed) / max(1, index.ntotal))
    if post_filter if post_filter is not None else (POST_FILTER or on_gpu(index)):
        return _post_filtered(index, queries, k, allowed, want, params, cpu_index or index)
    return _selected(index, queries, k, allowed, want, params)


def _selected(index, queries, k, allowed, want, params):
    """Search with an IDSelector; rows an approximate index leaves short are searched again with
    nprobe / efSearch widened."""
    selector = faiss.IDSelectorBatch(allowed)
    scores, ids = index.search(queries, k, params=_parameters(index, params, selector))
    short = (ids >= 0).sum(axis=1) < want
    while short.any():
        params = _widened(index, params)
        if params is None:
            break
        s, i = index.search(queries[short], k, params=_parameters(index, params, selector))
        scores[short], ids[short] = s, i
        short[short] = (i >= 0).sum(axis=1) < want
    return scores, ids


def _post_filtered(index, queries, k, allowed, want, params, cpu_index):
    """Unfiltered search with a growing k, keeping admitted ids in rank order; rows still short at
    the largest k go to the CPU index with a selector."""
    n = len(queries)
    scores = np.full((n, k), -np.inf, dtype=np.float32)
    ids = np.full((n, k), -1, dtype=np.int64)
    todo = np.arange(n)
    limit = min(index.ntotal, GPU_MAX_K) if on_gpu(index) else index.ntotal
    depth = min(limit, max(4 * k, 64))
    while len(todo):
        s, i = index.search(queries[todo], depth, params=_parameters(index, params))
        admitted = np.isin(i, allowed) & (i >= 0)
        complete = admitted.sum(axis=1) >= want
        for row, q in enumerate(todo):
            if complete[row] or depth >= limit:
                keep = np.flatnonzero(admitted[row])[:k]
                scores[q, : len(keep)], ids[q, : len(keep)] = s[row, keep], i[row, keep]
        if depth >= limit:
            short = todo[~complete]
            if len(short) and limit < index.ntotal:  # the GPU's k limit: the CPU answers these
                s2, i2 = _selected(cpu_index, queries[short], k, allowed, want, params)
                scores[short], ids[short] = s2, i2
            elif len(short) and (wider := _widened(index, params)) is not None:
                rest = _post_filtered(index, queries[short], k, allowed, want, wider, cpu_index)
                scores[short], ids[short] = rest
            break
        todo = todo[~complete]
        depth = min(limit, depth * 4)
    return scores, ids
