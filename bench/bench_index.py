"""Benchmark the index layer on clustered synthetic embeddings, through the real IndexStore and query API.

Vectors resemble real embeddings: unit vectors scattered around a few hundred unit centres
(centre + Gaussian noise, renormalised). Queries are drawn the same way but never stored.
Each size runs in three spawned child processes (write, query, add), so peak_rss_write_mb,
peak_rss_query_mb and peak_rss_add_mb are each phase's own ru_maxrss (peak_rss_mb the largest). Per size, one JSON row:

  n_windows, index_type     what the build picks by default (exact Flat up to 50k, IVF
                            beyond; --index-type overrides), and the tuned search_params
  recall_at_10              the query API's top 10 against exact brute force (numpy, in chunks)
  recall_at_10_filtered     the same with --where (default `subject = 2`: 1 of 10 subjects, ~10 %)
  p50_ms, p95_ms            query.api search_vector, one query at a time (FAISS + metadata join)
  p50_ms_filtered, ...      the same with --where
  faiss_p50_ms              raw FAISS search of the same loaded index, same queries, same run
  p50_over_faiss_p50        p50_ms / faiss_p50_ms
  p50_cpu_ms, faiss_p50_...  the same as process CPU time (less sensitive to other jobs' load)
  faiss_p50_ms_filtered     raw FAISS with the filter's ids (FaissEntry.search, tuned widening)
  batch_ms_per_query        search_vectors with all queries in one call, per query
  load_s                    opening the FAISS file for the first query (streamed read + checks)
  add_s, add_faiss_s, ...   --add-recordings x --add-windows new windows: commit, write_faiss
                            (incremental: add_mode), optimize, as a build does
  build_s                   IndexStore.write_faiss (stream vectors from LanceDB, train, add, tune, write)
  optimize_s                IndexStore.optimize (compaction + scalar indexes, as a build ends)
  write_rows_per_s          rows per second of IndexStore.commit (LanceDB writes)
  peak_rss_mb, disk_mb

Row generation and the brute-force truth are outside every timed section. The JSON file holds
{"host": ..., "rows": [...]} and is rewritten after each size.

Example:
  python bench/bench_index.py --n-windows 100000 300000 1000000 --dim 384 --queries 200 --json out.json
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The checkout this file is in, ahead of any installed copy of motionsearch (children inherit sys.path).
REPO = str(Path(__file__).resolve().parent.parent)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

ENCODER = "bench@000000000000"
SUBJECTS = 10
WINDOWS_PER_RECORDING = 5
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ---- synthetic embeddings ---------------------------------------------------------------------
def centres(args) -> np.ndarray:
    rng = np.random.default_rng([args.seed, 0])
    c = rng.standard_normal((args.centres, args.dim)).astype(np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def clustered(n: int, cent: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors: a random centre each plus isotropic noise of norm ~`noise`, renormalised."""
    dim = cent.shape[1]
    v = cent[rng.integers(0, len(cent), n)]
    v = v + rng.standard_normal((n, dim), dtype=np.float32) * np.float32(noise / np.sqrt(dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def subject_of(ids: np.ndarray) -> np.ndarray:
    return (ids // WINDOWS_PER_RECORDING) % SUBJECTS + 1


def rows(first: int, vecs: np.ndarray) -> list[dict]:
    """Window rows shaped like a build's: 5 windows per recording, 10 subjects."""
    out = []
    for i, v in enumerate(vecs, start=first):
        rec = i // WINDOWS_PER_RECORDING
        out.append({
            "id": i, "recording_id": f"bench/r{rec}", "dataset": "bench", "subject": str(rec % SUBJECTS + 1),
            "modality": "imu", "body_part": "right_wrist", "t_start": float(i % 5), "t_end": float(i % 5) + 5.0,
            "label": f"action {rec % 27}", "encoder_id": ENCODER, "vector": v.tolist(),
        })
    return out


def recall(found: list[np.ndarray], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def percentile(seconds: list[float], p: float) -> float:
    return round(float(np.percentile(np.asarray(seconds) * 1000.0, p)), 3)


def folder_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


# ---- one size, in three child processes (write, query, add), each with its own peak RSS ------------
def peak_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_phase(n: int, args, folder: Path) -> dict:
    """Commit n window rows to LanceDB, write the FAISS index, optimize, as a build does; the
    exact top-k of the queries (with and without the filter) comes back for the query phase."""
    import faiss

    from indexer.store import IndexStore
    from indexer.vectors import ExactTopK

    faiss.omp_set_num_threads(args.threads)
    cent = centres(args)
    queries = clustered(args.queries, cent, args.noise, np.random.default_rng([args.seed, 1]))
    truth, truth_filtered = ExactTopK(queries, None, args.k), ExactTopK(queries, None, args.k)
    rng = np.random.default_rng([args.seed, 2, n])
    store = IndexStore(folder, create=True)

    write_s = 0.0
    for first in range(0, n, args.batch):
        vecs = clustered(min(args.batch, n - first), cent, args.noise, rng)
        ids = np.arange(first, first + len(vecs), dtype=np.int64)
        truth.add(vecs, ids)
        admitted = subject_of(ids) == args.subject
        truth_filtered.add(vecs[admitted], ids[admitted])
        batch = rows(first, vecs)  # made outside the clock: a build has them anyway
        done = [(r, ENCODER, WINDOWS_PER_RECORDING) for r in sorted({r["recording_id"] for r in batch})]
        del vecs
        t = time.perf_counter()
        store.commit(batch, [], done)
        write_s += time.perf_counter() - t
        del batch
    rss_before_faiss = peak_rss_mb()
    t = time.perf_counter()
    manifest = store.write_faiss(ENCODER, "imu", "bench", None if args.index_type == "auto" else args.index_type)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    store.optimize()  # as a build ends
    optimize_s = time.perf_counter() - t
    return {
        "n_windows": n, "dim": args.dim, "index_type": manifest["index_type"],
        "search_params": manifest.get("search_params") or {},
        "build_s": round(build_s, 2), "optimize_s": round(optimize_s, 2),
        "write_s": round(write_s, 2), "write_rows_per_s": round(n / write_s),
        "peak_rss_write_mb": peak_rss_mb(), "peak_rss_before_faiss_mb": rss_before_faiss,
        "_truth": truth.neighbours().tolist(), "_truth_filtered": truth_filtered.neighbours().tolist(),
    }


def query_phase(n: int, args, folder: Path, truth: np.ndarray, truth_filtered: np.ndarray) -> dict:
    """Open the index as a query process does and time the query API against raw FAISS."""
    import faiss

    from indexer import vectors
    from query.api import open_index

    faiss.omp_set_num_threads(args.threads)
    queries = clustered(args.queries, centres(args), args.noise, np.random.default_rng([args.seed, 1]))
    ix = open_index(folder)
    t = time.perf_counter()
    entry = ix.store.faiss(ENCODER, "imu")
    load_s = time.perf_counter() - t
    assert "rebuilt_in_memory" not in entry.manifest, "the FAISS file just written was not used"
    where = f"subject = {args.subject}"
    for q in queries[:3]:  # warm up: first calls load the metadata and compile LanceDB plans
        ix.search_vector(q, "imu", args.k, encoder_id=ENCODER)
        ix.search_vector(q, "imu", args.k, where=where, encoder_id=ENCODER)
    raw, raw_filtered, full, filtered = [], [], [], []
    raw_cpu, full_cpu = [], []
    found, found_filtered = [], []
    allowed = np.flatnonzero(subject_of(np.arange(n)) == args.subject)
    load = os.getloadavg()[0]
    for q in queries:
        t, c = time.perf_counter(), time.process_time()
        vectors.search(entry.index, q, args.k)
        raw.append(time.perf_counter() - t)
        raw_cpu.append(time.process_time() - c)
        t = time.perf_counter()
        entry.search(q, args.k, allowed)
        raw_filtered.append(time.perf_counter() - t)
        t, c = time.perf_counter(), time.process_time()
        df = ix.search_vector(q, "imu", args.k, encoder_id=ENCODER)
        full.append(time.perf_counter() - t)
        full_cpu.append(time.process_time() - c)
        t = time.perf_counter()
        dff = ix.search_vector(q, "imu", args.k, where=where, encoder_id=ENCODER)
        filtered.append(time.perf_counter() - t)
        found.append(df["window_id"].to_numpy())
        found_filtered.append(dff["window_id"].to_numpy())
        if not set(dff["subject"].to_list()) <= {str(args.subject)}:
            raise AssertionError(f"the filtered search returned subjects {set(dff['subject'].to_list())}")
    t = time.perf_counter()
    batch = ix.search_vectors(queries, "imu", args.k, encoder_id=ENCODER)
    batch_s = time.perf_counter() - t
    p50, faiss_p50 = percentile(full, 50), percentile(raw, 50)
    return {
        "recall_at_10": round(recall(found, truth), 4),
        "recall_at_10_filtered": round(recall(found_filtered, truth_filtered), 4),
        "filter": where, "filter_share": round(len(allowed) / n, 4),
        "p50_ms": p50, "p95_ms": percentile(full, 95),
        "p50_ms_filtered": percentile(filtered, 50), "p95_ms_filtered": percentile(filtered, 95),
        "faiss_p50_ms": faiss_p50, "faiss_p95_ms": percentile(raw, 95),
        "faiss_p50_ms_filtered": percentile(raw_filtered, 50),
        "p50_over_faiss_p50": round(p50 / faiss_p50, 2) if faiss_p50 > 0 else None,
        "p50_cpu_ms": percentile(full_cpu, 50), "faiss_p50_cpu_ms": percentile(raw_cpu, 50),
        "load_average_at_queries": round(load, 2),
        "batch_ms_per_query": round(batch_s * 1000 / len(queries), 3),
        "batch_matches_single": bool(np.array_equal(
            batch.filter(batch["query"] == 0)["window_id"].to_numpy(), found[0])),
        "load_s": round(load_s, 2), "peak_rss_query_mb": peak_rss_mb(),
    }


def add_phase(n: int, args, folder: Path) -> dict:
    """Add --add-recordings recordings of --add-windows windows each as a build does (commit,
    write_faiss, optimize) and time it."""
    import faiss

    from indexer.store import IndexStore

    faiss.omp_set_num_threads(args.threads)
    store = IndexStore(folder)
    count = args.add_recordings * args.add_windows
    vecs = clustered(count, centres(args), args.noise, np.random.default_rng([args.seed, 3, n]))
    first = store.next_window_id()
    batch = []
    for i, v in enumerate(vecs):
        rec = f"bench/new{i // args.add_windows}"
        batch.append({"id": first + i, "recording_id": rec, "dataset": "bench", "subject": "1", "modality": "imu",
                      "body_part": "right_wrist", "t_start": float(i % args.add_windows),
                      "t_end": float(i % args.add_windows) + 5.0, "label": "new", "encoder_id": ENCODER,
                      "vector": v.tolist()})
    done = [(f"bench/new{r}", ENCODER, args.add_windows) for r in range(args.add_recordings)]
    t0 = time.perf_counter()
    store.commit(batch, [], done)
    t1 = time.perf_counter()
    manifest = store.write_faiss(ENCODER, "imu", "bench", None if args.index_type == "auto" else args.index_type)
    t2 = time.perf_counter()
    store.optimize()
    t3 = time.perf_counter()
    assert manifest["count"] == n + count, manifest["count"]
    return {"add_windows": count, "add_recordings": args.add_recordings, "add_mode": manifest["mode"],
            "add_s": round(t3 - t0, 2), "add_commit_s": round(t1 - t0, 2), "add_faiss_s": round(t2 - t1, 2),
            "add_optimize_s": round(t3 - t2, 2), "peak_rss_add_mb": peak_rss_mb()}


def _child(phase: str, n: int, args, folder: str, extra, out) -> None:
    try:
        fn = {"write": write_phase, "query": query_phase, "add": add_phase}[phase]
        out.put(("ok", fn(n, args, Path(folder), *extra)))
    except BaseException as exc:  # reported by the parent, which goes on with the next size
        out.put(("error", f"{phase}: {type(exc).__name__}: {exc}"))


def bench_size(n: int, args, folder: Path, ctx) -> dict:
    """The three phases of one size, each in its own spawned child; one merged row."""
    row: dict = {}
    for phase in ("write", "query", "add"):
        if phase == "add" and args.add_recordings <= 0:
            continue
        extra = (np.array(row.pop("_truth")), np.array(row.pop("_truth_filtered"))) if phase == "query" else ()
        out = ctx.Queue()
        child = ctx.Process(target=_child, args=(phase, n, args, str(folder), extra, out))
        child.start()
        status, value = out.get()
        child.join()
        if status != "ok":
            raise RuntimeError(value)
        row.update(value)
    row["peak_rss_mb"] = max(v for key, v in row.items() if key.startswith("peak_rss_") and key.endswith("_mb"))
    row.update(disk_mb=folder_mb(folder), threads=args.threads, queries=args.queries, k=args.k)
    return row


def host_facts(args) -> dict:
    import faiss
    import lancedb

    return {
        "cores": os.cpu_count(), "cores_available": len(os.sched_getaffinity(0)),
        "threads": args.threads, "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(), "faiss": faiss.__version__, "lancedb": lancedb.__version__,
        "numpy": np.__version__, "machine": platform.machine(),
        "note": "FAISS and BLAS limited to `threads`; LanceDB's own Rust thread pools are not",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/bench_index.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-windows", type=int, nargs="+", default=[100_000, 300_000],
                        help="index sizes to measure (default: 100000 300000)")
    parser.add_argument("--dim", type=int, default=384, help="vector dimension (default 384)")
    parser.add_argument("--queries", type=int, default=200, help="queries timed per size (default 200)")
    parser.add_argument("-k", dest="k", type=int, default=10, help="results per query (default 10)")
    parser.add_argument("--centres", type=int, default=300, help="cluster centres (default 300)")
    parser.add_argument("--noise", type=float, default=1.0,
                        help="norm of the noise added to a centre before renormalising (default 1.0)")
    parser.add_argument("--batch", type=int, default=5000, help="rows per IndexStore.commit (default 5000)")
    parser.add_argument("--index-type", default="auto",
                        help="FAISS factory string (default: what a build picks: Flat up to 50k, IVF beyond)")
    parser.add_argument("--subject", type=int, default=2, help="filter `subject = N` (1 of 10 subjects; default 2)")
    parser.add_argument("--add-recordings", type=int, default=10,
                        help="recordings added to the built index to time an incremental build (default 10; 0: skip)")
    parser.add_argument("--add-windows", type=int, default=100, help="windows per added recording (default 100)")
    parser.add_argument("--threads", type=int, default=1, help="FAISS/BLAS threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="DIR", help="build the indexes under DIR and keep them (default: a temp dir)")
    parser.add_argument("--json", metavar="FILE", help="write {host, rows} as JSON to FILE (after each size)")
    args = parser.parse_args(argv)
    if any(n <= 0 for n in args.n_windows) or args.dim <= 0 or args.queries <= 0 or args.threads <= 0:
        parser.error("--n-windows, --dim, --queries and --threads must be positive")

    for var in THREAD_VARS:  # inherited by the spawned children before they import numpy / faiss
        os.environ[var] = str(args.threads)
    host = host_facts(args)
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="motionsearch-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    ctx = mp.get_context("spawn")
    results: list[dict] = []
    failed = False
    try:
        for n in args.n_windows:
            folder = root / f"index-{n}"
            if folder.exists():
                shutil.rmtree(folder)
            start = time.time()
            try:
                value = bench_size(n, args, folder, ctx)
            except RuntimeError as exc:
                print(f"{n} windows failed: {exc}", file=sys.stderr)
                failed = True
                continue
            value["wall_s"] = round(time.time() - start, 1)
            results.append(value)
            print(json.dumps(value), flush=True)
            if args.json:
                Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                Path(args.json).write_text(json.dumps({"host": host, "rows": results}, indent=2) + "\n")
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
