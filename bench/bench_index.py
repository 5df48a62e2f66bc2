"""Benchmark the index layer with synthetic unit vectors, through the real IndexStore.

For each size it measures:
  - LanceDB write throughput: window rows (ids, metadata, vector) committed with
    IndexStore.commit in batches, as a build does;
  - FAISS build: IndexStore.write_faiss (read the vectors back from LanceDB, build, serialise,
    write atomically) and, inside it, vectors.build alone;
  - query latency, one query at a time (p50/p95 ms): raw FAISS search, and the whole
    query.api search_vector path (FAISS + LanceDB metadata join -> polars frame), with and
    without a --where filter.

Example:
  python bench/bench_index.py --n-windows 10000 100000 --dim 256 --queries 200
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from indexer import vectors
from indexer.store import IndexStore

ENCODER = "bench@000000000000"
SUBJECTS = 8


def unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal((n, dim), dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def rows(first: int, vecs: np.ndarray) -> list[dict]:
    """Window rows shaped like a build's: 5 windows per recording, 8 subjects."""
    out = []
    for i, v in enumerate(vecs, start=first):
        rec = i // 5
        out.append({
            "id": i, "recording_id": f"bench/r{rec}", "dataset": "bench", "subject": str(rec % SUBJECTS + 1),
            "modality": "imu", "body_part": "right_wrist", "t_start": float(i % 5), "t_end": float(i % 5) + 5.0,
            "label": f"action {rec % 27}", "encoder_id": ENCODER, "vector": v.tolist(),
        })
    return out


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000.0
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def bench_size(n: int, args, folder: Path) -> dict:
    rng = np.random.default_rng(args.seed)
    store = IndexStore(folder, create=True)

    # LanceDB writes. Row dicts are made outside the clock: a build has them anyway.
    write_s = 0.0
    for first in range(0, n, args.batch):
        batch = rows(first, unit_vectors(min(args.batch, n - first), args.dim, rng))
        recs = sorted({r["recording_id"] for r in batch})
        done = [(r, ENCODER, 5) for r in recs]
        t = time.perf_counter()
        store.commit(batch, [], done)
        write_s += time.perf_counter() - t

    t = time.perf_counter()
    manifest = store.write_faiss(ENCODER, "imu", "bench", args.index_type)
    write_faiss_s = time.perf_counter() - t
    ids, vecs = store.vectors(ENCODER, "imu")
    t = time.perf_counter()
    vectors.build(vecs, ids, manifest["index_type"])
    build_only_s = time.perf_counter() - t

    from query.api import open_index

    ix = open_index(folder)
    entry = ix.store.faiss(ENCODER, "imu")
    assert "rebuilt_in_memory" not in entry.manifest, "the FAISS file just written was not used"
    queries = unit_vectors(args.queries, args.dim, rng)
    # Warm up (first calls load the index and compile LanceDB plans), then time.
    for q in queries[:3]:
        ix.search_vector(q, "imu", args.k, encoder_id=ENCODER)
    raw, full, filtered = [], [], []
    for q in queries:
        t = time.perf_counter()
        scores, found = vectors.search(entry.index, q, args.k)
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        df = ix.search_vector(q, "imu", args.k, encoder_id=ENCODER)
        full.append(time.perf_counter() - t)
        if df["window_id"][0] != found[0][0]:
            raise AssertionError("search_vector and raw FAISS disagree on the best hit")
        t = time.perf_counter()
        ix.search_vector(q, "imu", args.k, where=args.where, encoder_id=ENCODER)
        filtered.append(time.perf_counter() - t)
    size_mb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6
    return {
        "n": n, "index": manifest["index_type"],
        "write_rows_s": n / write_s, "write_s": write_s,
        "faiss_build_s": build_only_s, "write_faiss_s": write_faiss_s,
        "raw": percentiles(raw), "full": percentiles(full), "filtered": percentiles(filtered),
        "disk_mb": size_mb,
    }


def format_table(results: list[dict], args) -> str:
    head = (f"{'windows':>9} {'index':>6} {'LanceDB write':>15} {'FAISS build':>12} {'write_faiss':>12} "
            f"{'FAISS p50/p95':>15} {'search p50/p95':>16} {'+where p50/p95':>16} {'disk':>8}")
    lines = [f"dim {args.dim}, k {args.k}, {args.queries} queries one at a time, "
             f"where = {args.where!r}, threads {args.threads}", head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r['n']:>9} {r['index']:>6} {r['write_rows_s']:>9.0f} row/s {r['faiss_build_s']:>10.3f} s "
            f"{r['write_faiss_s']:>10.3f} s {r['raw'][0]:>6.2f}/{r['raw'][1]:<5.2f} ms "
            f"{r['full'][0]:>6.1f}/{r['full'][1]:<6.1f} ms {r['filtered'][0]:>6.1f}/{r['filtered'][1]:<6.1f} ms "
            f"{r['disk_mb']:>5.0f} MB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/bench_index.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-windows", type=int, nargs="+", default=[10_000, 100_000],
                        help="index sizes to measure (default: 10000 100000)")
    parser.add_argument("--dim", type=int, default=256, help="vector dimension (default 256, the encoders' default)")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per size (default 200)")
    parser.add_argument("-k", dest="k", type=int, default=10, help="results per query (default 10)")
    parser.add_argument("--batch", type=int, default=5000, help="rows per IndexStore.commit (default 5000)")
    parser.add_argument("--index-type", default="auto",
                        help="FAISS factory string (default: what a build picks, exact Flat below 200k)")
    parser.add_argument("--where", default="subject = 2", help="filter for the filtered search (default: 1 of 8 subjects)")
    parser.add_argument("--threads", type=int, default=1, help="FAISS/BLAS threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="DIR", help="build the indexes under DIR and keep them (default: a temp dir)")
    args = parser.parse_args(argv)
    if any(n <= 0 for n in args.n_windows) or args.dim <= 0 or args.queries <= 0:
        parser.error("--n-windows, --dim and --queries must be positive")

    import faiss

    faiss.omp_set_num_threads(args.threads)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="motionsearch-bench-"))
    results = []
    try:
        for n in args.n_windows:
            folder = root / f"index-{n}"
            if folder.exists():
                shutil.rmtree(folder)
            results.append(bench_size(n, args, folder))
            print(f"done {n} windows", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(format_table(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
