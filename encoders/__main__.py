"""python -m encoders train|eval: train IMU <-> pose encoders on an archive, evaluate them.

Examples:
  python -m encoders train ../shared/data/utd-mhad --out ckpt/utd-cnn-gru
  python -m encoders eval  ../shared/data/utd-mhad --checkpoint ckpt/utd-cnn-gru
  python -m encoders train-tokens ../shared/data/utd-mhad --concat --out ckpt/utd-tokens
  python -m encoders train ../shared/data/utd-mhad --text-tower minilm --video-encoder small_cnn --out ckpt/utd-text
  python -m encoders eval-text ../shared/data/utd-mhad --checkpoint ckpt/utd-text   (also eval-zeroshot, eval-video)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from encoders import checkpoint
from encoders.data import paired_windows
from encoders.evaluate import evaluate, format_report
from encoders.train import TrainSettings, train
from indexer.importers import detect_format, discover
from indexer.importers.utd_mhad import TEST_SUBJECTS, TRAIN_SUBJECTS


def _subjects(arg: str | None, fmt: str, split: str) -> set[str] | None:
    """Explicit --subjects, else the dataset's own split (UTD-MHAD: odd train, even test)."""
    if arg:
        return {s.strip() for s in arg.split(",") if s.strip()}
    if fmt == "utd-mhad":
        return set(TRAIN_SUBJECTS if split == "train" else TEST_SUBJECTS)
    return None


def _source(args) -> tuple[list, str]:
    if args.demo:
        return discover(None, "demo"), "demo"
    if not args.source:
        raise SystemExit("error: give a SOURCE archive or --demo")
    fmt = args.format or detect_format(args.source)
    return discover(args.source, fmt), fmt


def cmd_train(args) -> int:
    entries, fmt = _source(args)
    subjects = _subjects(args.subjects, fmt, "train")
    if args.text_tower:  # text-aligned training (IMU2CLIP / AURA-MFM): encoders.semantic_cli
        from encoders.semantic_cli import cmd_train_semantic

        return cmd_train_semantic(args, entries, fmt, subjects)
    config = checkpoint.default_config(args.arch, embed_dim=args.dim, window=args.window, hop=args.hop)
    rates = {m: spec["rate"] for m, spec in config["towers"].items()}
    from indexer.windows import WindowSpec

    data = paired_windows(entries, WindowSpec(args.window, args.hop), rates, subjects, progress=not args.quiet)
    for path, reason in data.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"training on {len(data)} paired windows from {len(set(data.recording_ids))} recordings "
          f"(subjects {sorted(set(data.subjects))})")
    settings = TrainSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    model, history = train(config, data, settings, progress=not args.quiet)
    extra = {"trained_on": {"source": str(args.source or "demo"), "format": fmt,
                            "subjects": sorted(set(data.subjects)), "windows": len(data),
                            "epochs": args.epochs, "seed": args.seed, "final_loss": round(history[-1], 4)}}
    out = checkpoint.save(model, args.out, extra)
    print(f"saved checkpoint to {out} (final loss {history[-1]:.3f})")
    return 0


def cmd_eval(args) -> int:
    entries, fmt = _source(args)
    encoder = checkpoint.load(args.checkpoint)
    subjects = _subjects(args.subjects, fmt, "test")
    trained = set(encoder.config.get("trained_on", {}).get("subjects", []))
    if subjects and trained & subjects:
        print(f"warning: evaluating on subjects {sorted(trained & subjects)} the checkpoint was trained on",
              file=sys.stderr)
    data = paired_windows(entries, encoder.window, encoder.rates, subjects, progress=not args.quiet)
    start = time.time()
    report = evaluate(encoder, data)
    report.update(encoder=encoder.id, subjects=sorted(set(data.subjects)), seconds=round(time.time() - start, 2))
    print(f"encoder {encoder.id} on subjects {report['subjects']}")
    print(format_report(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m encoders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("source", nargs="?", help="archive to read (UTD-MHAD folder, manifest folder, BVH folder)")
        p.add_argument("--demo", action="store_true", help="use the built-in synthetic demo archive")
        p.add_argument("--format", help="importer to use (default: detected from the source)")
        p.add_argument("--subjects", help="comma-separated subject ids (default for UTD-MHAD: "
                       "1,3,5,7 to train, 2,4,6,8 to evaluate; otherwise all)")
        p.add_argument("--quiet", action="store_true", help="no progress bars")

    t = sub.add_parser("train", help="train IMU and pose towers contrastively (symmetric InfoNCE)")
    common(t)
    t.add_argument("--out", required=True, help="checkpoint folder to write (safetensors + config.json)")
    t.add_argument("--arch", default="cnn_gru", choices=["cnn_gru", "patch_transformer"],
                   help="signal encoder architecture (default: IMU2CLIP's cnn_gru)")
    t.add_argument("--dim", type=int, default=256, help="joint-space dimension (default 256)")
    t.add_argument("--window", type=float, default=5.0, help="window length in seconds (default 5)")
    t.add_argument("--hop", type=float, default=1.0, help="hop between windows in seconds (default 1)")
    t.add_argument("--epochs", type=int, default=60, help="training epochs (default 60)")
    t.add_argument("--batch", type=int, default=64, help="batch size; each batch's other pairs are the negatives")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (one-cycle schedule)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=cmd_train)
    from encoders.semantic_cli import add_eval_commands, add_train_arguments

    add_train_arguments(t)

    e = sub.add_parser("eval", help="IMU<->pose retrieval metrics on held-out subjects")
    common(e)
    e.add_argument("--checkpoint", required=True, help="checkpoint folder")
    e.add_argument("--json", help="also write the report as JSON here")
    e.set_defaults(func=cmd_eval)

    from encoders.train_tokens import add_cli as add_train_tokens

    add_train_tokens(sub, common, _source, _subjects)
    add_eval_commands(sub, common, _source, _subjects)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:  # e.g. encoders.text.TextTowerUnavailable: weights not to be had here
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
