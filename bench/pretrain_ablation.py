"""Which IMU tower to pretrain: the choices of `python -m encoders pretrain`, measured against
each other on the held-out selection takes (encoders.pretrain.heldout_split: a tenth of the mocap
and composed takes, never trained on) and on the demo archive, never on UTD-MHAD.

Every variant trains on the same windows (built once), for the same epochs and seed; only the
IMU tower differs:

    sensor-blind        CNN-GRU on the raw sensor axes (random mounting in training), placement unknown
    gravity-blind       CNN-GRU on the gravity frame (encoders.conditioning), placement unknown
    gravity-placement   CNN-GRU on the gravity frame, told where the sensor sits
    heading-placement   CNN-GRU on the heading frame (the gravity frame + signed horizontal components),
                        told where the sensor sits
    sensor-placement    CNN-GRU on the raw axes, told where the sensor sits
    transformer         the patch Transformer on the gravity frame, told where the sensor sits

Figures: zero-shot IMU classification among the held-out set's own labels (each take's content
label: "walk", not a style paraphrase; a composed take's first caption) (accuracy, macro-F1)
and among the demo's six action sentences, plus text->IMU P@1. Small by default (a few minutes a
variant on one core); `--epochs` / `--copies` / `--composed` scale it up.

    python bench/pretrain_ablation.py --json runs/pretrain_ablation.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from encoders.data import text_aligned_windows
from encoders.evaluation.text_aligned import evaluate_text
from encoders.model import Encoder
from encoders.pretrain import DEFAULT_FOLDERS, Augment, content_labelled, pretrain_config, pretraining_set
from encoders.train import TrainSettings, train_text_aligned
from indexer.importers import demo
from indexer.model import Entry
from indexer.windows import WindowSpec

VARIANTS = {
    "sensor-blind": ("cnn_gru", "sensor", False),
    "gravity-blind": ("cnn_gru", "gravity", False),
    "gravity-placement": ("cnn_gru", "gravity", True),
    "heading-placement": ("cnn_gru", "heading", True),
    "sensor-placement": ("cnn_gru", "sensor", True),
    "transformer": ("patch_transformer", "gravity", True),
}
TRANSFORMER_PARAMS = {"dim": 128, "layers": 4, "heads": 4, "patch": 10}  # small enough for CPU pretraining


def demo_set(config: dict):
    """The demo archive's windows, captioned by its action sentences (what a user would type)."""
    entries = []
    for e in demo.discover(None):
        rec = e.load()
        rec.labels = [demo.ACTIONS[rec.labels[0]]] if rec.labels and rec.labels[0] in demo.ACTIONS else rec.labels
        rec.text = []
        entries.append(Entry(id=rec.id, sources=rec.sources, load=lambda r=rec: r, subject=rec.subject))
    return text_aligned_windows(entries, config.window, config.rates, progress=False)


def scores(report: dict) -> dict:
    c, r = report.get("imu classification", {}), report.get("text->imu", {})
    return {"accuracy": round(c.get("accuracy", float("nan")), 4), "macro_f1": round(c.get("macro_f1", float("nan")), 4),
            "text_imu_p1": round(r.get("P@1", float("nan")), 4), "labels": report.get("labels")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="folder holding the mocap sets (default ../shared/data)")
    p.add_argument("--folders", nargs="+", default=list(DEFAULT_FOLDERS), help="mocap folders under --data")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--copies", type=int, default=2, help="virtual-IMU copies per take (default 2)")
    p.add_argument("--composed", type=int, default=6, help="composed takes per primitive (default 6)")
    p.add_argument("--described", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--active", type=float, default=0.0, metavar="SHARE",
                   help="share of the training sensors placed by how much each placement moves "
                        "(encoders.pretrain.moving_placement; default 0: all at random). The held-out set "
                        "stays at random placements, so figures compare across runs")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    folders = [Path(args.data) / f for f in args.folders]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        print(f"mocap folder(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    augment = Augment(copies=args.copies, active=args.active)
    t0 = time.time()
    train = pretraining_set(folders, args.seed, augment, args.composed, args.described, "train")
    held = pretraining_set(folders, args.seed + 1, Augment(copies=args.copies), args.composed, 0, "heldout")
    held.data = text_aligned_windows(content_labelled(held.entries, held.every_caption), WindowSpec(5.0, 1.0),
                                     {"imu": 50.0, "pose": 25.0}, progress=False)
    print(f"{len(train.data)} training windows, {len(held.data)} held-out windows ({time.time() - t0:.0f} s)",
          file=sys.stderr)
    out = {"settings": vars(args), "train": train.record() | {"labels": len(train.record()["labels"])},
           "heldout_windows": len(held.data), "variants": {}}
    for name in args.variants:
        arch, frame, placement = VARIANTS[name]
        params = TRANSFORMER_PARAMS if arch == "patch_transformer" else None
        config = pretrain_config(arch, params, augment=augment, frame=frame, placement=placement)
        start = time.time()
        model, history = train_text_aligned(config, train.data, TrainSettings(epochs=args.epochs, batch=128,
                                                                              seed=args.seed, threads=1, crop=0.3),
                                            progress=True)
        seconds = time.time() - start
        enc = Encoder(model, model.config, "", "")
        row = {"train_seconds": round(seconds, 1), "final_loss": round(history[-1], 4),
               "heldout": scores(evaluate_text(enc, held.data)), "demo": scores(evaluate_text(enc, demo_set(config)))}
        out["variants"][name] = row
        print(name, json.dumps(row), file=sys.stderr, flush=True)
    print(f"{'variant':20} {'held-out acc':>12} {'macro-F1':>9} {'P@1':>6} {'demo acc':>9} {'demo P@1':>9} {'train s':>8}")
    for name, row in out["variants"].items():
        h, d = row["heldout"], row["demo"]
        print(f"{name:20} {h['accuracy']:12.3f} {h['macro_f1']:9.3f} {h['text_imu_p1']:6.3f} {d['accuracy']:9.3f} "
              f"{d['text_imu_p1']:9.3f} {row['train_seconds']:8.0f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1, default=float))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
