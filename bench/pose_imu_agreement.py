"""How well an archive's pose agrees with its IMUs, before any sync: per IMU placement, the
zero-lag correlation of the IMU's |acc| and |gyr| with those of a virtual sensor at the same
placement on the recording's own pose (query.xcorr's signals), and at the mirrored side.

A placement whose pose signals barely correlate with its IMU even when the two are in sync
cannot be synced by physics (the physical baseline will lock on the wrong peak); a mirrored side
that correlates better than the named one points at swapped left/right in the skeleton or the
manifest. On UTD-MHAD the Kinect's leg joints agree far less with the thigh sensor than its arm
joints with the wrist sensor, which is why the physical sync of thigh clips fails (docs/temporal.md).

Usage (from the repository root):
  python bench/pose_imu_agreement.py ../shared/data/utd-mhad --subjects 1,3
  python bench/pose_imu_agreement.py my-archive --format archive --json runs/agreement.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from indexer import BadInput
from indexer.importers import discover, select
from query.xcorr import imu_signals, pose_signals


def mirrored(placement: str) -> str | None:
    side, _, part = placement.partition("_")
    return {"left": f"right_{part}", "right": f"left_{part}"}.get(side)


def zero_lag(a: dict, b: dict) -> dict[str, float]:
    out = {}
    for kind in ("acc", "gyr"):
        if kind in a and kind in b:
            n = min(len(a[kind]), len(b[kind]))
            if n > 10:
                out[kind] = float(np.corrcoef(a[kind][:n], b[kind][:n])[0, 1])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="an archive folder")
    p.add_argument("--format", help="its importer (default: detected)")
    p.add_argument("--subjects", help="comma-separated subjects to read (default: all)")
    p.add_argument("--limit", type=int, help="read at most this many recordings")
    p.add_argument("--json", help="write the table here")
    args = p.parse_args(argv)
    entries = discover(args.source, args.format)
    if args.subjects:
        entries = select(entries, {s.strip() for s in args.subjects.split(",")})
    entries = entries[: args.limit] if args.limit else entries
    scores: dict[tuple[str, str, str], list[float]] = {}
    skipped = 0
    for entry in entries:
        try:
            rec = entry.load()
            if rec.pose is None:
                continue
            for imu in rec.imu:
                a = imu_signals(imu)
                for where, part in (("same", imu.placement), ("mirrored", mirrored(imu.placement))):
                    if part is None:
                        continue
                    for kind, c in zero_lag(a, pose_signals(rec.pose, part)).items():
                        scores.setdefault((imu.placement, where, kind), []).append(c)
        except (BadInput, ValueError) as exc:
            skipped += 1
            print(f"skipped {entry.id}: {exc}", file=sys.stderr)
    rows = [{"placement": pl, "pose_side": where, "signal": kind, "clips": len(v),
             "median_r": round(float(np.median(v)), 3), "mean_r": round(float(np.mean(v)), 3)}
            for (pl, where, kind), v in sorted(scores.items())]
    print(f"{'placement':<16}{'pose side':<10}{'signal':<8}{'clips':>6}{'median r':>10}{'mean r':>8}")
    for r in rows:
        print(f"{r['placement']:<16}{r['pose_side']:<10}{r['signal']:<8}{r['clips']:>6}{r['median_r']:>10.3f}"
              f"{r['mean_r']:>8.3f}")
    if skipped:
        print(f"{skipped} recordings skipped", file=sys.stderr)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"source": args.source, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
