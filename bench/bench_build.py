"""Benchmark an end-to-end build (indexer.build.build) against its encoder's batched forward alone.

  windows_per_s            windows written / seconds of indexer.build.build on the archive
                           (read, window, embed, LanceDB commits, FAISS write, optimize)
  encoder_windows_per_s    the same windows, read and windowed beforehand (outside the clock),
                           through the encoder alone in batches (Encoder.encode: features +
                           forward), in the same run
  build_over_encoder       windows_per_s / encoder_windows_per_s

The encoder is a freshly initialised one (encoders.factory.create_model(default_config(...),
seed=0)) saved with encoders.checkpoint.save and loaded with encoders.load_checkpoint, unless
--checkpoint names a trained one; its speed does not depend on its weights. OMP and torch
threads are set to --threads (default 1) before torch is imported.

Example:
  python bench/bench_build.py ../shared/data/utd-mhad --json out.json
  python bench/bench_build.py ../shared/data/utd-mhad --limit 200
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

# The checkout this file is in, ahead of any installed copy of motionsearch.
REPO = str(Path(__file__).resolve().parent.parent)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/bench_build.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a motion archive (e.g. ../shared/data/utd-mhad)")
    parser.add_argument("--format", help="importer (default: detected)")
    parser.add_argument("--limit", type=int, help="use only the first N recordings")
    parser.add_argument("--checkpoint", help="a trained checkpoint folder (default: a random encoder)")
    parser.add_argument("--architecture", default="cnn_gru", help="random encoder's architecture (default cnn_gru)")
    parser.add_argument("--embed-dim", type=int, default=256, help="random encoder's width (default 256)")
    parser.add_argument("--batch", type=int, default=128, help="windows per forward when timing the encoder alone")
    parser.add_argument("--threads", type=int, default=1, help="OMP / torch threads (default 1)")
    parser.add_argument("--workers", type=int,
                        help="processes that read and window during the build (default: the build's, "
                             "indexer.reading.default_workers; 0: all in the building process)")
    parser.add_argument("--keep", metavar="DIR", help="build the index in DIR and keep it (default: a temp dir)")
    parser.add_argument("--json", metavar="FILE", help="write the result as JSON to FILE")
    args = parser.parse_args(argv)
    if args.threads <= 0 or (args.limit is not None and args.limit <= 0):
        parser.error("--threads and --limit must be positive")
    if args.workers is not None and args.workers < 0:
        parser.error("--workers must be 0 or more")

    for var in THREAD_VARS:
        os.environ[var] = str(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)

    from encoders import load_checkpoint
    from encoders.channels import conform_imu
    from encoders.checkpoint import save
    from encoders.factory import create_model
    from encoders.model import default_config
    from indexer.build import build
    from indexer.errors import BadInput
    from indexer.importers import detect_format, discover
    from indexer.reading import default_workers
    from indexer.store import IndexStore
    from indexer.windows import recording_windows

    work = Path(tempfile.mkdtemp(prefix="motionsearch-bench-build-"))
    out_dir = Path(args.keep) if args.keep else work / "index"
    if out_dir.exists():
        shutil.rmtree(out_dir)
    try:
        if args.checkpoint:
            encoder = load_checkpoint(args.checkpoint)
        else:
            config = default_config(args.architecture, embed_dim=args.embed_dim)
            encoder = load_checkpoint(save(create_model(config, seed=0), work / "encoder"))
        entries = discover(args.source, args.format or detect_format(args.source))
        if args.limit:
            entries = entries[: args.limit]

        # The windows, read and cut outside every clock, for the encoder-alone timing.
        groups: dict[str, list] = {m: [] for m in encoder.modalities}
        t = time.perf_counter()
        for entry in entries:
            try:
                rec = conform_imu(entry.load(), encoder.config)
            except BadInput:
                continue  # the build skips it too
            for w in recording_windows(rec, encoder.window, encoder.rates, video_size=encoder.video_size):
                if w.modality in groups:
                    groups[w.modality].append(w)
        read_window_s = time.perf_counter() - t
        for group in groups.values():  # warm-up: the first forward of each tower pays one-off costs
            if group:
                encoder.encode(group[: min(8, len(group))])

        t = time.perf_counter()
        summary = build(entries, IndexStore(out_dir, create=True), encoder, progress=False, workers=args.workers)
        build_s = time.perf_counter() - t

        n_windows = sum(len(g) for g in groups.values())
        t = time.perf_counter()
        for group in groups.values():
            for i in range(0, len(group), args.batch):
                encoder.encode(group[i : i + args.batch])
        encoder_s = time.perf_counter() - t

        windows_per_s = summary.windows_written / build_s
        encoder_windows_per_s = n_windows / encoder_s
        row = {
            "source": str(args.source), "recordings": len(entries), "recordings_read": summary.read,
            "skipped": len(summary.skipped), "encoder": encoder.id, "modalities": list(encoder.modalities),
            "windows_written": summary.windows_written, "windows_encoded_alone": n_windows,
            "windows_by_modality": {m: len(g) for m, g in groups.items()},
            "build_s": round(build_s, 2), "windows_per_s": round(windows_per_s, 1),
            "encoder_s": round(encoder_s, 2), "encoder_windows_per_s": round(encoder_windows_per_s, 1),
            "build_over_encoder": round(windows_per_s / encoder_windows_per_s, 3),
            "read_and_window_s": round(read_window_s, 2), "encoder_batch": args.batch,
            "workers": default_workers() if args.workers is None else args.workers,
            "faiss": [{"modality": m["modality"], "count": m["count"], "index_type": m["index_type"]}
                      for m in summary.faiss],
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "host": {"cores": os.cpu_count(), "cores_available": len(os.sched_getaffinity(0)),
                     "threads": args.threads, "torch_threads": torch.get_num_threads(),
                     "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                     "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__},
        }
        if n_windows != summary.windows_written:
            row["note"] = "the build wrote a different number of windows than were encoded alone"
        print(json.dumps(row), flush=True)
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(row, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
