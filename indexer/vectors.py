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

import hashlib
import os
import weakref

import faiss
import numpy as np

DEFAULT_INDEX = "Flat"
FLAT_MAX = 50_000  # exact search up to this many vectors; beyond, IVF (the measured trade-off: docs/bench.md)
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
    """An id-mapped index of `factory` holding `vectors` under `ids` (all in memory; a store
    streams its vectors through `build_streaming` instead)."""
    index, _ = build_streaming(lambda: iter([(ids, vectors)]), len(ids), np.asarray(vectors).shape[1],
                               factory, tune_target=None)
    return index


RETRAIN_GROWTH = 2.0  # an IVF index takes new vectors as they come until it holds this many times
# the vectors its lists were trained on; past that it is retrained (its lists no longer fit)


def is_ivf(index: faiss.Index) -> bool:
    return _ivf(index) is not None


def extendable(manifest: dict, count: int, requested: str | None = None) -> bool:
    """Whether the index a manifest describes may just take the new vectors (incremental add)
    to hold `count`, or must be rebuilt: the type asked for (or, when none is, the one a build
    picks by itself) must be the index's own type, and an IVF index must not have grown past
    RETRAIN_GROWTH times the count it was trained at. A build that picked the type by itself
    keeps it while the index grows (nlist is not re-chosen on every add)."""
    kind = manifest.get("index_type")
    if requested and requested != "auto":
        if kind != requested:
            return False
    elif not manifest.get("auto_type") or (choose_factory(count) == DEFAULT_INDEX) != (kind == DEFAULT_INDEX):
        return False
    trained = manifest.get("trained_count")
    return trained is None or count <= RETRAIN_GROWTH * trained


# ---- streaming build: bounded memory, whatever the size --------------------------------------------
TRAIN_PER_LIST = 40  # IVF training points per list (FAISS warns below 39; 256 is its cap)
TRAIN_MIN = 10_000  # training points for other trained codecs (SQ, PQ) and small IVFs
TUNE_QUERIES = 200  # held-out index vectors the tuning searches with
FILTER_SHARES = (0.1, 0.01)  # shares of synthetic filters the filtered nprobe / efSearch is tuned for


def _vectors(v) -> np.ndarray:
    return np.ascontiguousarray(v, dtype=np.float32)


def training_size(index: faiss.Index) -> int:
    """How many vectors `index` (untrained) is trained on: TRAIN_PER_LIST per IVF list, or
    TRAIN_MIN (also the floor for an IVF with few lists); 0 for indexes that need none."""
    if index.is_trained:
        return 0
    ivf = _ivf(index)
    return max(TRAIN_MIN, TRAIN_PER_LIST * int(ivf.nlist)) if ivf is not None else TRAIN_MIN


def _id_hash(ids: np.ndarray) -> np.ndarray:
    """24 well-mixed bits of each id (Fibonacci hashing), so ids with a common stride spread out."""
    return (np.asarray(ids, dtype=np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)


def shard_of(ids: np.ndarray, shards: int) -> np.ndarray:
    """The shard (0 .. shards - 1) each id goes to: a hash of the id, so shards stay even."""
    return (_id_hash(ids) % np.uint64(shards)).astype(np.int64)


def admitted_by_synthetic_filter(ids: np.ndarray, share: float) -> np.ndarray:
    """A filter unrelated to the vectors that admits about `share` of the ids (a hash of the id):
    what build-time tuning of filtered searches uses."""
    return _id_hash(ids) < np.uint64(int(share * (1 << 24)))


class ExactTopK:
    """Exact top-k inner-product neighbours of fixed queries, fed the indexed vectors batch by
    batch (no full copy of them). A query's own id is left out of its neighbours (queries are
    held-out vectors of the index). `shares`: also keep the top-k among the ids each synthetic
    filter admits (admitted_by_synthetic_filter)."""

    def __init__(self, queries: np.ndarray, query_ids: np.ndarray | None, k: int, shares=()):
        self.q, self.k = _vectors(queries), k
        self.qids = None if query_ids is None else np.asarray(query_ids, np.int64)
        self.keys = [None, *shares]
        self.scores = {s: np.full((len(self.q), 0), -np.inf, np.float32) for s in self.keys}
        self.ids = {s: np.zeros((len(self.q), 0), np.int64) for s in self.keys}

    def add(self, vecs: np.ndarray, ids: np.ndarray) -> None:
        if len(ids) == 0:
            return
        ids = np.asarray(ids, np.int64)
        sims = self.q @ _vectors(vecs).T
        if self.qids is not None:
            sims[self.qids[:, None] == ids[None, :]] = -np.inf
        for share in self.keys:
            cols = slice(None) if share is None else np.flatnonzero(admitted_by_synthetic_filter(ids, share))
            s = np.concatenate([self.scores[share], sims[:, cols]], axis=1)
            i = np.concatenate([self.ids[share], np.broadcast_to(ids[cols], (len(self.q), len(ids[cols])))], axis=1)
            keep = np.argsort(-s, axis=1, kind="stable")[:, : self.k]
            self.scores[share], self.ids[share] = np.take_along_axis(s, keep, 1), np.take_along_axis(i, keep, 1)

    def neighbours(self, share: float | None = None) -> np.ndarray:
        """(n_queries, k) ids, -1 where fewer than k qualify."""
        return np.where(np.isfinite(self.scores[share]), self.ids[share], -1)


def recall_at(got: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's true neighbours (ids >= 0) found in the same row of `got`."""
    out = [len(set(g[g >= 0].tolist()) & set(t[t >= 0].tolist())) / max(1, int((t >= 0).sum()))
           for g, t in zip(got, truth)]
    return float(np.mean(out)) if out else 1.0


def build_streaming(batches, count: int, dim: int, factory: str = DEFAULT_INDEX,
                    tune_target: float | None = RECALL_TARGET, k: int = 10, seed: int = 0, shards: int = 1,
                    on_trained=None):
    """Build an id-mapped index from `batches()`, a callable returning an iterator of (ids,
    vectors) batches, in bounded memory: a first pass keeps a random training sample
    (training_size) and the held-out tuning queries, the index is trained on the sample, a
    second pass adds every batch while an ExactTopK gathers the queries' true neighbours, and
    `tune_with` picks nprobe / efSearch. Only one pass when the index needs neither training nor
    tuning. `shards` > 1: an IndexShards of that many id-mapped shards sharing the trained
    quantizer (see `sharded`). `on_trained(inner)` is called with the trained, still empty
    index before anything is added (a store keeps a copy of it for later additions). Returns
    (index, tuned); tuned is {} for exact indexes (or `tune_target` None)."""
    inner = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    n_train = min(count, training_size(inner))
    n_queries = min(TUNE_QUERIES, count) if tune_target and search_params(inner) and count > k + 1 else 0
    train_rows = np.sort(rng.choice(count, size=n_train, replace=False)) if n_train else np.zeros(0, np.int64)
    query_rows = np.sort(rng.choice(count, size=n_queries, replace=False)) if n_queries else np.zeros(0, np.int64)
    sample, queries, query_ids = [], [], []
    if n_train or n_queries:  # pass 1: the sample and the queries, picked by position in the stream
        seen = 0
        for ids, vecs in batches():
            lo, hi = seen, seen + len(ids)
            for rows, out in ((train_rows, sample), (query_rows, queries)):
                pick = rows[(rows >= lo) & (rows < hi)] - lo
                if len(pick):
                    out.append(_vectors(np.asarray(vecs)[pick]))
                    if out is queries:
                        query_ids.append(np.asarray(ids, np.int64)[pick])
            seen = hi
        if n_train:
            inner.train(np.concatenate(sample))
        del sample
    if on_trained is not None:
        on_trained(inner)
    index = sharded([faiss.IndexIDMap2(faiss.clone_index(inner)) for _ in range(shards)]) if shards > 1 \
        else faiss.IndexIDMap2(inner)
    truth = None
    if n_queries:
        truth = ExactTopK(np.concatenate(queries), np.concatenate(query_ids), k,
                          FILTER_SHARES if _ivf(index) is not None or isinstance(_inner(index), faiss.IndexHNSW) else ())
    for ids, vecs in batches():  # pass 2: add
        vecs, ids = _vectors(vecs), np.ascontiguousarray(ids, dtype=np.int64)
        if len(ids):
            _add(index, vecs, ids)
            if truth is not None:
                truth.add(vecs, ids)
    tuned = tune_with(index, truth, tune_target, k) if truth is not None else {}
    return index, tuned


def empty_copy(inner: faiss.Index) -> faiss.Index:
    """An empty id-mapped copy of a trained, still empty index (same quantizer and codec)."""
    return faiss.IndexIDMap2(faiss.clone_index(inner))


def add_batches(index: faiss.Index, batches) -> int:
    """Add the (ids, vectors) batches of the iterator to an existing, trained index; how many."""
    added = 0
    for ids, vecs in batches:
        if len(ids):
            _add(index, _vectors(vecs), np.ascontiguousarray(ids, dtype=np.int64))
            added += len(ids)
    return added


def _add(index: faiss.Index, vecs: np.ndarray, ids: np.ndarray) -> None:
    """add_with_ids; on an IndexShards each vector goes to the shard `shard_of` its id."""
    parts = shards_of(index)
    if len(parts) == 1:
        index.add_with_ids(vecs, ids)
        return
    which = shard_of(ids, len(parts))
    for n, shard in enumerate(parts):
        mine = which == n
        if mine.any():
            shard.add_with_ids(np.ascontiguousarray(vecs[mine]), np.ascontiguousarray(ids[mine]))
    faiss.downcast_index(index).syncWithSubIndexes()


def sharded(shards: list[faiss.Index]) -> faiss.IndexShards:
    """One index over id-mapped shards holding disjoint ids: a search asks every shard and
    merges their top k (FAISS IndexShards; nprobe / efSearch and IDSelectors reach each shard),
    so it answers what one index holding all the vectors would. For a set that does not fit one
    process's memory, each shard can be built, kept and searched on its own (with the same
    trained quantizer, build_streaming(shards=...) shares it), and their top k merged the same way."""
    out = faiss.IndexShards(shards[0].d, False, False)  # not threaded; ids are the shards' own
    for shard in shards:
        out.add_shard(shard)  # faiss keeps a reference to each shard
    return out


# ---- (de)serialisation: streamed, so a large index is never copied into one bytes object -------
def to_bytes(index: faiss.Index) -> bytes:
    return faiss.serialize_index(index).tobytes()


def from_bytes(blob: bytes) -> faiss.Index:
    return faiss.deserialize_index(np.frombuffer(blob, dtype=np.uint8))


def write_index(index: faiss.Index, write) -> str:
    """Serialise `index` chunk by chunk into `write(bytes)`; returns the sha256 of what it wrote."""
    digest = hashlib.sha256()

    def chunk(b: bytes) -> None:
        digest.update(b)
        write(b)

    writer = faiss.PyCallbackIOWriter(chunk)
    faiss.write_index(index, writer)
    del writer  # flushes
    return digest.hexdigest()


def read_index(read) -> tuple[faiss.Index | None, str]:
    """(index, sha256 of the bytes) from `read(n) -> bytes`, chunk by chunk; index None when
    the bytes are not a FAISS index (damaged or foreign: the caller rebuilds it)."""
    digest = hashlib.sha256()

    def chunk(n: int) -> bytes:
        b = read(n)
        digest.update(b)
        return b

    reader = faiss.PyCallbackIOReader(chunk)
    try:
        index = faiss.read_index(reader)  # kept as it is: a downcast wrapper would not own the index
    except RuntimeError:
        index = None
    del reader
    while rest := read(1 << 20):  # the hash covers the whole file, also bytes FAISS did not read
        digest.update(rest)
    return index, digest.hexdigest()


def held_ids(index: faiss.Index) -> np.ndarray:
    """Sorted ids an IndexIDMap2 (or the IndexIDMap2 shards of an IndexShards) holds."""
    maps = [faiss.vector_to_array(shard.id_map) for shard in shards_of(index)]
    return np.sort(np.concatenate(maps).astype(np.int64))


def holds(index: faiss.Index | None, ids: np.ndarray, dimension: int | None) -> bool:
    """Whether a loaded index is an IndexIDMap2 (or shards of them) of `dimension` holding
    exactly the sorted `ids`."""
    if index is None or not all(isinstance(s, faiss.IndexIDMap2) for s in shards_of(index)):
        return False
    if dimension is not None and index.d != dimension:
        return False
    return bool(np.array_equal(held_ids(index), ids))


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
def shards_of(index: faiss.Index) -> list[faiss.Index]:
    """The shards of an IndexShards (see `sharded`); [index] for any other index."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexShards):
        return [faiss.downcast_index(index.at(i)) for i in range(index.count())]
    return [index]


def _inner(index: faiss.Index) -> faiss.Index:
    """The index an IDMap wraps (the one whose type decides the search parameters); for an
    IndexShards, that of its first shard (all shards are of one type)."""
    index = shards_of(index)[0]
    return faiss.downcast_index(index.index) if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)) else index


def _ivf(index: faiss.Index):
    try:
        return faiss.extract_index_ivf(shards_of(index)[0])
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
    """Set nprobe / efSearch on `index` itself (on each of its shards), the defaults of every
    later search."""
    params = params or {}
    for shard in shards_of(index):
        ivf = _ivf(shard)
        if ivf is not None and params.get("nprobe"):
            ivf.nprobe = int(min(params["nprobe"], ivf.nlist))
        inner = _inner(shard)
        if isinstance(inner, faiss.IndexHNSW) and params.get("efSearch"):
            inner.hnsw.efSearch = int(params["efSearch"])


# (its IVF part, its inner index) per loaded index, forgotten with the index
_kinds: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _kind(index: faiss.Index) -> tuple:
    """(_ivf(index), _inner(index)), worked out once per loaded index: a search asks for every
    query, and on an index that is not IVF the answer is an exception FAISS raises (0.1 ms)."""
    got = _kinds.get(index)
    if got is None:
        got = _kinds[index] = (_ivf(index), _inner(index))
    return got


def _parameters(index: faiss.Index, params: dict, selector=None):
    """FAISS search parameters of the right class for the index type: an IVF index rejects plain
    SearchParameters ("IndexIVF params have incorrect type")."""
    ivf, inner = _kind(index)
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


def _widened(index: faiss.Index, params: dict, factor: int = 4) -> dict | None:
    """The next, wider setting of nprobe / efSearch, or None when there is nothing to widen."""
    ivf = _ivf(index)
    if ivf is not None:
        nprobe = int(params.get("nprobe") or ivf.nprobe)
        return {**params, "nprobe": min(ivf.nlist, nprobe * factor)} if nprobe < ivf.nlist else None
    inner = _inner(index)
    if isinstance(inner, faiss.IndexHNSW):
        ef = int(params.get("efSearch") or inner.hnsw.efSearch)
        return {**params, "efSearch": ef * factor} if ef < index.ntotal else None
    return None


def _for_filter(index: faiss.Index, params: dict, share: float, filtered: list | None = None) -> dict:
    """nprobe / efSearch for a search among the `share` of the index a filter admits: the k
    nearest admitted vectors lie further out, so an approximate search must look wider to keep
    its recall. `filtered`: [[share, {name: value}], ...] as `tune_with` measured them at build
    time (the widening factor is interpolated in log-log between those shares and 1, and
    continues as 1 / share below the smallest); without it, the factor is 1 / share."""
    if share >= 1:
        return params
    current = {n: v for n, v in search_params(index).items() if n != "nlist"}
    out = {}
    for name, value in current.items():
        base = int(params.get(name) or value)
        out[name] = int(np.ceil(base * _widening(name, value, share, filtered)))
    ivf = _ivf(index)
    if ivf is not None and "nprobe" in out:
        out["nprobe"] = max(1, min(ivf.nlist, out["nprobe"]))
    return {**params, **out}


def _widening(name: str, tuned: int, share: float, filtered: list | None) -> float:
    """How many times wider than its unfiltered setting `name` must be for a filter of `share`."""
    points = sorted(((float(s), max(1.0, float(p[name]) / max(1, tuned))) for s, p in (filtered or [])
                     if name in p), reverse=True)
    if not points:
        return 1.0 / max(share, 1e-9)
    shares, factors = [1.0] + [s for s, _ in points], [1.0] + [f for _, f in points]
    factors = np.maximum.accumulate(factors).tolist()  # a narrower filter never needs less
    if share <= shares[-1]:
        return factors[-1] * shares[-1] / max(share, 1e-9)
    return float(np.exp(np.interp(-np.log(share), [-np.log(x) for x in shares], np.log(factors))))


def tune(index: faiss.Index, vectors: np.ndarray, ids: np.ndarray, target: float = RECALL_TARGET,
         k: int = 10, queries: int = TUNE_QUERIES, seed: int = 0) -> dict:
    """The smallest nprobe / efSearch whose R@k reaches `target` on held-out queries: a sample of
    the index's own vectors, each searched with itself excluded, against exact search (over the
    in-memory `vectors`; a store tunes in its streaming build instead). Applies the setting to
    `index` and returns it ({} for exact indexes)."""
    if not search_params(index) or len(ids) <= k + 1:
        return {}
    pick = np.random.default_rng(seed).choice(len(ids), size=min(queries, len(ids)), replace=False)
    truth = ExactTopK(np.asarray(vectors)[pick], np.asarray(ids)[pick], k, FILTER_SHARES)
    truth.add(vectors, ids)
    return tune_with(index, truth, target, k)


def tune_with(index: faiss.Index, truth: ExactTopK, target: float = RECALL_TARGET, k: int = 10) -> dict:
    """The smallest nprobe / efSearch (doubling from 1 / 16) whose R@k on `truth`'s queries
    reaches `target`, applied to `index`; and, under "filtered", the setting each synthetic
    filter of truth's shares needs for the same recall (searched with its IDSelector, as a
    filtered query is). {} for exact indexes."""
    names = [name for name in search_params(index) if name != "nlist"]
    if not names:
        return {}

    def reach(params: dict, share: float | None) -> tuple[dict, float]:
        sel = None
        if share is not None:
            allowed = held_ids(index)
            allowed = allowed[admitted_by_synthetic_filter(allowed, share)]
            sel = selector(allowed)
        want = truth.neighbours(share)
        while True:
            _, got = index.search(truth.q, k + 1, params=_parameters(index, params, sel))
            recall = recall_at(np.array([row[row != q][:k] for row, q in zip(got, truth.qids)]), want)
            wider = _widened(index, params, 2)
            if recall >= target or wider is None:
                return params, recall
            params = wider

    params, recall = reach({name: 1 if name == "nprobe" else 16 for name in names}, None)
    out = {**params, f"recall_at_{k}": round(recall, 4)}
    filtered = []
    for share in truth.keys[1:]:
        found, r = reach(dict(params), share)
        filtered.append([share, {**found, f"recall_at_{k}": round(r, 4)}])
    if filtered:
        out["filtered"] = filtered
    apply_params(index, params)
    return out


# ---- search ---------------------------------------------------------------------------------------
def on_gpu(index: faiss.Index) -> bool:
    """Whether `index` (or what it wraps) lives on a GPU, where IDSelectors are ignored."""
    names = {type(faiss.downcast_index(index)).__name__, type(shards_of(index)[0]).__name__,
             type(_inner(index)).__name__}
    return any(n.startswith("Gpu") or n == "IndexReplicas" for n in names)


def search(index: faiss.Index, queries: np.ndarray, k: int, allowed: np.ndarray | None = None,
           params: dict | None = None, cpu_index: faiss.Index | None = None,
           post_filter: bool | None = None, filtered: list | None = None):
    """(scores, ids), each (n_queries, k); ids are -1 where fewer than k vectors qualify.

    `allowed`: the ids a filter admits (exact filtering). `params`: nprobe / efSearch for this
    search only. `cpu_index`: the CPU original of a GPU `index`, used for the rows a GPU
    post-filter leaves short. `post_filter`: force (True) or forbid (False) post-filtering;
    default: on a GPU, or when POST_FILTER is set. `filtered`: the build's filtered tuning
    (the manifest's search_params["filtered"]), which says how much wider a filtered search
    looks (see _for_filter)."""
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    params = dict(params or {})
    if allowed is None:
        return index.search(queries, k, params=_parameters(index, params))
    allowed = np.asarray(allowed, dtype=np.int64)
    if len(allowed) > 1 and not (allowed[1:] > allowed[:-1]).all():  # a store's admitted ids already are
        allowed = np.unique(allowed)
    want = min(k, len(allowed))  # a row with this many hits is complete
    params = _for_filter(index, params, len(allowed) / max(1, index.ntotal), filtered)
    if post_filter if post_filter is not None else (POST_FILTER or on_gpu(index)):
        return _post_filtered(index, queries, k, allowed, want, params, cpu_index or index)
    return _selected(index, queries, k, allowed, want, params)


SELECTOR_CACHE = 8  # selectors kept for the admitted-id arrays most recently searched with
BITMAP_MAX_BYTES = 64 << 20  # a bitmap selector up to this size (ids below 512M); a hash set above
_selectors: dict[int, tuple] = {}


def selector(allowed: np.ndarray):
    """An IDSelector admitting the sorted ids `allowed`: a bitmap over the ids (one bit test per
    scanned vector) when the largest id allows it, else FAISS's hashed IDSelectorBatch. Kept for
    the last SELECTOR_CACHE arrays, so a filter repeated across queries (a store caches its
    admitted ids) does not rebuild it on every search."""
    key = id(allowed)
    hit = _selectors.get(key)
    if hit is not None and hit[0] is allowed:
        return hit[1]
    top = int(allowed[-1]) + 1 if len(allowed) else 0
    if len(allowed) and int(allowed[0]) >= 0 and top // 8 + 1 <= BITMAP_MAX_BYTES:
        mask = np.zeros(top, dtype=bool)
        mask[allowed] = True
        bits = np.packbits(mask, bitorder="little")
        sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
    else:
        bits, sel = None, faiss.IDSelectorBatch(allowed)
    if len(_selectors) >= SELECTOR_CACHE:
        _selectors.pop(next(iter(_selectors)))
    _selectors[key] = (allowed, sel, bits)  # the array and bitmap stay alive with the selector
    return sel


def _selected(index, queries, k, allowed, want, params):
    """Search with an IDSelector; rows an approximate index leaves short are searched again with
    nprobe / efSearch widened."""
    sel = selector(allowed)
    scores, ids = index.search(queries, k, params=_parameters(index, params, sel))
    short = (ids >= 0).sum(axis=1) < want
    while short.any():
        params = _widened(index, params)
        if params is None:
            break
        s, i = index.search(queries[short], k, params=_parameters(index, params, sel))
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
