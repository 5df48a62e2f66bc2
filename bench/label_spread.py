"""How long `query label --spread` spends on its own work as an index grows: the graph of each
window's nearest windows (encoders.labels.neighbour_graph: exact FAISS inner products up to
--exact-up-to windows, an inverted-file search above) and the spreading of the label scores over
it (encoders.labels.spread).

Synthetic windows shaped like the built-in model's vectors: unit vectors of --dim (384, the
MiniLM space) around --clusters centres, scored against --labels label vectors. Per size:
graph_s, spread_s, their sum, graph_s per 1,000 windows, and how the neighbours were found
(`search`: exact or ivf). Where the search was approximate and the size is at most --compare-up-to,
the exact graph is made too: exact_graph_s, `neighbour_recall` (the share of each window's exact
10 nearest the approximate search found) and `same_label` (the share of windows whose spread
label is the same over both graphs). The JSON holds {"host": ..., "dim": ..., "labels": ...,
"exact_up_to": ..., "sizes": [{"n_windows", "search", "graph_s", "spread_s", "total_s",
"graph_s_per_1k", "edges", ...}, ...]}.

Example (about 4 minutes on one core; add 1000000 for about 10 more):
  OMP_NUM_THREADS=1 python bench/label_spread.py --sizes 10000 50000 100000 --json /tmp/label-spread.json
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def windows(n: int, dim: int, clusters: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors around `clusters` random unit centres."""
    centres = rng.normal(size=(clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    v = centres[rng.integers(0, clusters, n)] + noise * rng.normal(size=(n, dim)) / np.sqrt(dim)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def measure(n: int, args) -> dict:
    from encoders.labels import centred_cosines, neighbour_graph, spread

    rng = np.random.default_rng([args.seed, n])
    v = windows(n, args.dim, args.clusters, args.noise, rng)
    center = v.mean(axis=0)
    labels = windows(args.labels, args.dim, args.labels, 0.0, rng)
    t = time.perf_counter()
    graph = neighbour_graph(v, center, exact_up_to=args.exact_up_to)
    graph_s = time.perf_counter() - t
    scores = centred_cosines(v, labels, center)
    t = time.perf_counter()
    out = spread(scores, graph, {0: 0})
    spread_s = time.perf_counter() - t
    assert out.shape == (n, args.labels)
    row = {"n_windows": n, "search": "exact" if n <= args.exact_up_to else "ivf", "graph_s": round(graph_s, 3),
           "spread_s": round(spread_s, 3), "total_s": round(graph_s + spread_s, 3),
           "graph_s_per_1k": round(1000 * graph_s / n, 4), "edges": int(graph.nnz)}
    if n > args.exact_up_to and n <= args.compare_up_to:
        t = time.perf_counter()
        exact = neighbour_graph(v, center, exact_up_to=n)
        row["exact_graph_s"] = round(time.perf_counter() - t, 3)
        row["neighbour_recall"] = round(neighbour_recall(graph, exact), 4)
        row["same_label"] = round(float(np.mean(spread(scores, exact, {0: 0}).argmax(1) == out.argmax(1))), 4)
    return row


def neighbour_recall(approx, exact) -> float:
    """The share of the exact graph's edges the approximate graph has too."""
    a, e = approx.tocoo(), exact.tocoo()
    n = exact.shape[0]
    found = np.isin(e.row.astype(np.int64) * n + e.col, a.row.astype(np.int64) * n + a.col)
    return float(found.mean()) if len(found) else 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/label_spread.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 100_000], metavar="N",
                        help="numbers of windows to time (default 10000 50000 100000)")
    parser.add_argument("--dim", type=int, default=384, help="vector dimension (default 384)")
    parser.add_argument("--labels", type=int, default=20, help="label vectors scored and spread (default 20)")
    parser.add_argument("--clusters", type=int, default=200, help="clusters the windows gather in (default 200)")
    parser.add_argument("--noise", type=float, default=2.0, help="spread of a cluster (default 2.0)")
    parser.add_argument("--exact-up-to", type=int, default=None, metavar="N",
                        help="find the neighbours exactly up to N windows, by an inverted-file search above "
                             "(default: encoders.labels.EXACT_GRAPH_WINDOWS, what `query label --spread` does)")
    parser.add_argument("--compare-up-to", type=int, default=100_000, metavar="N",
                        help="where the search was approximate, also make the exact graph up to N windows and "
                             "report the neighbours and labels they share (default 100000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report here")
    args = parser.parse_args(argv)
    if args.exact_up_to is None:
        from encoders.labels import EXACT_GRAPH_WINDOWS

        args.exact_up_to = EXACT_GRAPH_WINDOWS
    if any(n < 2 for n in args.sizes) or args.dim < 2 or args.labels < 2:
        parser.error("--sizes, --dim and --labels must be at least 2")
    report = {"host": platform.node(), "processor": platform.processor() or platform.machine(), "dim": args.dim,
              "labels": args.labels, "exact_up_to": args.exact_up_to, "sizes": []}
    for n in sorted(set(args.sizes)):
        row = measure(n, args)
        report["sizes"].append(row)
        print(f"{n:>9,} windows: graph {row['graph_s']:8.2f} s ({row['search']})  spread {row['spread_s']:6.2f} s  "
              f"({row['graph_s_per_1k']:.3f} s of graph per 1,000 windows)"
              + (f"; exact graph {row['exact_graph_s']:.2f} s, {row['neighbour_recall']:.3f} of its edges found, "
                 f"{row['same_label']:.3f} of the labels the same" if "exact_graph_s" in row else ""), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
