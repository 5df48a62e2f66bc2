"""FAISS mechanics: build an id-mapped inner-product index, (de)serialise it, search it.

Vectors are unit-norm, so inner product is cosine similarity. Indexes are built on the CPU and
copied to every GPU when faiss sees one; results are the same either way for the exact
("Flat") index, which is the default.
"""
from __future__ import annotations

import faiss
import numpy as np

DEFAULT_INDEX = "Flat"


def choose_factory(count: int, requested: str | None = None) -> str:
    """The FAISS factory string: exact search unless asked otherwise or the set is huge."""
    if requested and requested != "auto":
        return requested
    if count < 200_000:
        return DEFAULT_INDEX
    nlist = int(4 * np.sqrt(count))
    return f"IVF{nlist},Flat"


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


def gpu_count() -> int:
    get = getattr(faiss, "get_num_gpus", None)
    return int(get()) if get else 0


def on_best_device(index: faiss.Index) -> faiss.Index:
    """The index moved to all GPUs when there are any; the CPU index otherwise."""
    if gpu_count() > 0:
        try:
            return faiss.index_cpu_to_all_gpus(index)
        except Exception:  # some index types have no GPU version; the CPU one answers the same
            return index
    return index


def search(index: faiss.Index, queries: np.ndarray, k: int, allowed: np.ndarray | None = None):
    """(scores, ids), each (n_queries, k); ids are -1 where fewer than k vectors qualify."""
    queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
    k = max(1, min(k, index.ntotal)) if index.ntotal else 1
    if allowed is None:
        return index.search(queries, k)
    selector = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
    params = faiss.SearchParameters(sel=selector)
    return index.search(queries, k, params=params)
