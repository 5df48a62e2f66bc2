"""How long teaching a concept and the next query take on a large index, through Python and HTTP.

Builds (or reuses, --keep) a synthetic index shaped like bench/bench_index.py's: clustered unit
vectors, 5 windows per recording, 10 subjects, written through the real IndexStore with its FAISS
file (exact Flat up to 50k windows, IVF beyond). Then, --rounds times, a concept is taught from
--examples windows of one recording group and searched by its name at once:

  python   Index.teach(name, window_ids) then Index.search_text(name, "imu", k=10), in process,
           on an Index opened once (as `query serve` and the web page hold it); the first round
           also opens the FAISS file, so it is reported apart (cold_*).
  http     POST /teach then POST /search/text to `python -m query serve` started on the index
           (a real uvicorn server on a local port, urllib as the client), after one warm-up search.

Per path: teach_p50_ms, search_p50_ms, total_p50_ms / total_p95_ms / total_max_ms (teach plus
the next query), and within_1s (the share of rounds whose total is under 1 s). The JSON holds
{"host": ..., "n_windows": ..., "python": {...}, "http": {...}}.

Example (about 2 minutes for the 100k index on one core, most of it writing the index):
  OMP_NUM_THREADS=1 python bench/teach_latency.py --n-windows 100000 --json /tmp/teach-latency.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
for folder in (str(REPO), str(BENCH)):
    if folder not in sys.path:
        sys.path.insert(0, folder)

import bench_index  # noqa: E402  # the synthetic windows of the index benchmark


def build(folder: Path, n: int, args) -> dict:
    """Write the synthetic index (commit, FAISS, optimize) as bench_index's write phase does."""
    from indexer.store import IndexStore

    cent = bench_index.centres(args)
    rng = np.random.default_rng([args.seed, 2, n])
    store = IndexStore(folder, create=True)
    t = time.perf_counter()
    for first in range(0, n, args.batch):
        batch = bench_index.rows(first, bench_index.clustered(min(args.batch, n - first), cent, args.noise, rng))
        done = [(r, bench_index.ENCODER, bench_index.WINDOWS_PER_RECORDING)
                for r in sorted({r["recording_id"] for r in batch})]
        store.commit(batch, [], done)
    manifest = store.write_faiss(bench_index.ENCODER, "imu", "bench", None)
    store.optimize()
    return {"index_type": manifest["index_type"], "build_s": round(time.perf_counter() - t, 1)}


def examples(n: int, round_no: int, count: int) -> list[int]:
    """`count` window ids of one label spread over recordings (a user's selection of cards)."""
    per = bench_index.WINDOWS_PER_RECORDING
    recordings = n // per
    rng = np.random.default_rng([7, round_no])
    label = int(rng.integers(0, 27))
    recs = rng.choice(np.arange(label, recordings, 27), size=count, replace=False)
    return sorted(int(r * per + rng.integers(0, per)) for r in recs)


def summary(rounds: list[dict]) -> dict:
    total = np.array([r["teach_ms"] + r["search_ms"] for r in rounds])
    return {"rounds": len(rounds),
            "teach_p50_ms": round(float(np.median([r["teach_ms"] for r in rounds])), 1),
            "search_p50_ms": round(float(np.median([r["search_ms"] for r in rounds])), 1),
            "total_p50_ms": round(float(np.median(total)), 1), "total_p95_ms": round(float(np.percentile(total, 95)), 1),
            "total_max_ms": round(float(total.max()), 1), "within_1s": round(float(np.mean(total < 1000.0)), 3)}


def python_path(folder: Path, n: int, args) -> dict:
    from query import open_index

    ix = open_index(folder)
    rounds = []
    for i in range(args.rounds + 1):
        name = f"concept {i}"
        ids = examples(n, i, args.examples)
        t0 = time.perf_counter()
        ix.teach(name, window_ids=ids)
        t1 = time.perf_counter()
        hits = ix.search_text(name, "imu", k=10)
        t2 = time.perf_counter()
        assert hits["concept"][0] == name and hits.height == 10
        rounds.append({"teach_ms": (t1 - t0) * 1e3, "search_ms": (t2 - t1) * 1e3})
        ix.forget(name)
    cold = rounds.pop(0)
    return {**summary(rounds), "cold_teach_ms": round(cold["teach_ms"], 1), "cold_search_ms": round(cold["search_ms"], 1)}


def _post(url: str, body: dict) -> object:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def _delete(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=60).read()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_path(folder: Path, n: int, args) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, "-m", "query", "serve", "--index", str(folder), "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=5).read()
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"query serve did not start: {server.stderr.read().decode()[-500:]}") from None
                time.sleep(0.2)
        # one untimed round first: it opens the FAISS file, as the first query of a server does
        _post(f"{base}/teach", {"name": "warm-up", "window_ids": examples(n, 999, args.examples)})
        _post(f"{base}/search/text", {"prompt": "warm-up", "target": "imu", "k": 10})
        _delete(f"{base}/concepts/warm-up")
        rounds = []
        for i in range(args.rounds):
            name = f"http concept {i}"
            t0 = time.perf_counter()
            _post(f"{base}/teach", {"name": name, "window_ids": examples(n, 1000 + i, args.examples)})
            t1 = time.perf_counter()
            hits = _post(f"{base}/search/text", {"prompt": name, "target": "imu", "k": 10})
            t2 = time.perf_counter()
            assert hits[0]["concept"] == name and len(hits) == 10
            rounds.append({"teach_ms": (t1 - t0) * 1e3, "search_ms": (t2 - t1) * 1e3})
            _delete(f"{base}/concepts/{urllib.request.quote(name)}")
        return summary(rounds)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/teach_latency.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-windows", type=int, default=100_000, help="windows in the index (default 100000)")
    parser.add_argument("--dim", type=int, default=384, help="vector dimension (default 384)")
    parser.add_argument("--examples", type=int, default=5, help="windows each concept is taught from (default 5)")
    parser.add_argument("--rounds", type=int, default=20, help="teach + query rounds timed per path (default 20)")
    parser.add_argument("--centres", type=int, default=300, help="cluster centres (default 300)")
    parser.add_argument("--noise", type=float, default=1.0, help="noise around each centre (default 1.0)")
    parser.add_argument("--batch", type=int, default=5000, help="rows per IndexStore.commit (default 5000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", metavar="DIR", type=Path,
                        help="build the index in DIR and keep it; an index already there is reused")
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the figures as JSON to FILE")
    args = parser.parse_args(argv)
    if not 1 <= args.examples <= 1000 or args.rounds < 1 or args.n_windows < 27 * 5 * args.examples:
        parser.error("need 1-1000 examples, at least 1 round, and an index of 135 x examples windows or more")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="teach-latency-"))
    try:
        report = {"host": {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
                           "omp_threads": os.environ.get("OMP_NUM_THREADS")},
                  "n_windows": args.n_windows, "dim": args.dim, "examples": args.examples}
        if args.keep and (folder / "windows.lance").exists():
            report["index"] = {"reused": True}
        else:
            report["index"] = build(folder, args.n_windows, args)
        print(f"index: {report['index']}", file=sys.stderr)
        report["python"] = python_path(folder, args.n_windows, args)
        print(f"python: {report['python']}", file=sys.stderr)
        report["http"] = http_path(folder, args.n_windows, args)
        print(f"http: {report['http']}", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    text = json.dumps(report, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
