"""Does pretraining transfer? Fine-tuning a pretrained checkpoint (`train --init builtin`)
against training the same architecture from scratch, with the same epochs, batch, seed and
examples, on labelled archives the checkpoint never saw.

Each archive of bench/zeroshot.py that names example and test subjects (UTD-MHAD: trains on
1,3,5,7, tests on 2,4,6,8; seglearn-watch: odd / even subjects; BasicMotions: TRAIN / TEST
cases) is read through the importers; both runs train text-aligned on the example subjects'
windows and are scored on the test subjects': IMU classification among the archive's labels
(accuracy, macro-F1) and text->IMU P@1 / mAP. "From scratch" is the checkpoint's own config with
fresh weights, so only the pretraining differs.

    python bench/finetune_init.py --checkpoint builtin --archives utd-mhad seglearn-watch --json runs/finetune.json

`--recordings-per-label K` keeps K example recordings of each label (drawn with the seed) and
drops the rest of the training windows: where pretraining should matter most, a user who has
labelled only a few recordings. The test subjects stay whole.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from zeroshot import ARCHIVES, DEFAULT_DATA, Skip  # noqa: E402

from encoders.data import model_windows  # noqa: E402
from encoders.evaluation.text_aligned import evaluate_text  # noqa: E402
from encoders.factory import create_model, load_checkpoint  # noqa: E402
from encoders.model import Encoder  # noqa: E402
from encoders.train import TrainSettings, train_text_aligned  # noqa: E402


def scores(report: dict) -> dict:
    c, r = report["imu classification"], report["text->imu"]
    return {"accuracy": round(c["accuracy"], 4), "macro_f1": round(c["macro_f1"], 4), "text_imu_p1": round(r["P@1"], 4),
            "text_imu_map": round(r["mAP"], 4), "labels": report["labels"]}


def few_recordings(data, per_label: int, seed: int):
    """The windows of `per_label` recordings of each label, drawn at random with `seed`."""
    rng = np.random.default_rng(seed)
    recordings, captions = np.asarray(data.recording_ids), np.asarray(data.captions)
    keep = np.zeros(len(recordings), bool)
    for label in sorted(set(captions) - {""}):
        have = sorted(set(recordings[captions == label]))
        pick = rng.choice(have, size=min(per_label, len(have)), replace=False)
        keep |= np.isin(recordings, pick) & (captions == label)
    return data.subset(keep)


def compare(checkpoint: str, archive, epochs: int, seed: int, per_label: int | None = None) -> dict:
    pretrained = load_checkpoint(checkpoint)
    config = pretrained.config
    train = model_windows(archive.entries, config, pretrained.model, subjects=archive.examples, progress=False)
    if per_label:
        train = few_recordings(train, per_label, seed)
    test = model_windows(archive.entries, config, pretrained.model, subjects=archive.tests, progress=False)
    out = {"train_windows": len(train), "train_recordings": len(set(train.recording_ids)),
           "recordings_per_label": per_label, "test_windows": len(test), "epochs": epochs,
           "zero_shot": scores(evaluate_text(pretrained, test))}
    settings = TrainSettings(epochs=epochs, batch=64, seed=seed, threads=1)
    for name, start in (("scratch", None), ("init", pretrained.model)):
        model = start if start is not None else create_model(config.for_training(), seed)
        t0 = time.time()
        model, _ = train_text_aligned(model.config, train, settings, model=model, progress=False)
        out[name] = scores(evaluate_text(Encoder(model, model.config, "", ""), test)) | {
            "train_seconds": round(time.time() - t0, 1)}
        print(f"  {archive.name} {name}: {json.dumps(out[name])}", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default="builtin", help="the pretrained checkpoint (default builtin)")
    p.add_argument("--archives", nargs="+", default=["utd-mhad", "seglearn-watch", "basicmotions"],
                   choices=[a for a in ARCHIVES if a not in ("demo", "mocap-heldout")])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--epochs", type=int, default=30, help="epochs of both runs (default 30)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--recordings-per-label", type=int, metavar="K",
                   help="train on K example recordings of each label only (default: every example recording)")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    report = {"checkpoint": args.checkpoint, "recordings_per_label": args.recordings_per_label, "archives": {},
              "skipped": {}}
    with tempfile.TemporaryDirectory() as work:
        for name in args.archives:
            try:
                archive = ARCHIVES[name](args.data, Path(work))
            except Skip as exc:
                report["skipped"][name] = str(exc)
                print(f"skipped {name}: {exc}", file=sys.stderr)
                continue
            report["archives"][name] = compare(args.checkpoint, archive, args.epochs, args.seed,
                                               args.recordings_per_label)
    print(f"{'archive':16} {'run':8} {'acc':>6} {'mF1':>6} {'P@1':>6} {'mAP':>6}")
    for name, r in report["archives"].items():
        for run in ("zero_shot", "scratch", "init"):
            s = r[run]
            print(f"{name:16} {run:8} {s['accuracy']:6.3f} {s['macro_f1']:6.3f} {s['text_imu_p1']:6.3f} "
                  f"{s['text_imu_map']:6.3f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
