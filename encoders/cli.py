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
  ensemble       one checkpoint from several of one recipe trained apart (other seeds): a window's
                 vector is the renormalised mean of theirs
  graft          one checkpoint's towers with one modality's tower taken from another run into the
                 same text space (a sensor tower from one pretraining, a skeleton tower from another)

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
"""
# Only argparse runs before the arguments are parsed: each command handler imports torch and the
# models itself, so `--help` and a mistyped command answer at once.
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
from pathlib import Path

from encoders import options
from encoders.channels import DEFAULT_GROUPS, parse_groups
from encoders.config import TOKENS
from encoders.part_features import DEFAULT_PARTS, PRETRAIN_PARTS
from indexer.commands import command_parser


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


def _report_skipped(data) -> None:
    for path, reason in data.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def _check_overlap(encoder, subjects, allow: bool, warn: bool = True) -> None:
    """Refuse (ValueError) to score on subjects the checkpoint trained on, unless `allow`
    (then warn on stderr)."""
    both = encoder.config.subjects & {s for s in (subjects or ()) if s}
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
    return set(parse_groups(args.drop_channels, "--drop-channels")) if args.drop_channels else None


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


# ---- command handlers --------------------------------------------------------------------------------
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


def _new_token_config(args, parts: list[str]):
    from encoders.tokens import default_token_config

    return default_token_config(
        embed_dim=args.dim or 256, dim=args.width or 256, layers=args.layers or 4, heads=args.heads or 4,
        window=args.window or 2.0, hop=args.hop or 0.2, pose_dims=args.pose_dims or 3,
        parts=args.parts or list(parts),
        loss_weights={"token": 1.0, "window": 1.0, "body": 0.5, "masked": 0.5, **(args.weights or {})},
        mask_ratio=0.15 if args.mask_ratio is None else args.mask_ratio, channel_dropout=args.channel_dropout,
        dropout=args.tower_dropout)


# ---- training: one handler for train, train-tokens and their pretraining aliases -------------------
def _init(args):
    """The loaded checkpoint of --init, or None."""
    from encoders.factory import load_checkpoint

    return load_checkpoint(args.init) if getattr(args, "init", None) else None


def _options(args) -> dict:
    """The options a fine-tuned config checks against its own (EncoderConfig.override)."""
    common = {"dim": args.dim, "window": args.window, "hop": args.hop, "channel_dropout": args.channel_dropout}
    if args.family == TOKENS:
        return {**common, "width": args.width, "layers": args.layers, "heads": args.heads, "pose_dims": args.pose_dims,
                "parts": args.parts, "weights": args.weights, "mask_ratio": args.mask_ratio}
    return {**common, "arch": args.arch, "text_tower": args.text_tower, "video_encoder": args.video_encoder,
            "imu_channels": parse_groups(args.imu_channels) if args.imu_channels else None,
            "tower_params": _json(args.tower_params), "loss_weights": _json(args.loss_weights), "fusion": args.fusion}


def _json(text: str | None):
    return json.loads(text) if text else None


def _config(args, init):
    """The config to train: --init's, with the options it allows, else a new one."""
    from encoders.model import default_config, text_aligned_config
    from encoders.pretrain import pretrain_config, pretrain_init_config, pretrain_tokens_config
    from encoders.text import text_spec
    from encoders.video import video_tower_for

    if init is not None and args.command == "pretrain":
        return pretrain_init_config(init.config, args.text_head_for, f"--init {args.init}")
    if init is not None:
        origin = f"--init {args.init}"
        return init.config.for_training().expect(args.family, origin).override(origin, **_options(args))
    if args.family == TOKENS:
        if args.command == "pretrain-tokens":
            return pretrain_tokens_config(_new_token_config(args, PRETRAIN_PARTS), _augment(args))
        return _new_token_config(args, DEFAULT_PARTS)
    if args.command == "pretrain":
        return pretrain_config(args.arch, _json(args.tower_params), augment=_augment(args), frame=args.frame,
                               placement=not args.no_placement, pose_frame=args.pose_frame, text_head=args.text_head,
                               loss_weights=_json(args.loss_weights), text_head_for=args.text_head_for)
    groups = parse_groups(args.imu_channels) if args.imu_channels else list(DEFAULT_GROUPS)
    shape = {"window": args.window or 5.0, "hop": args.hop or 1.0, "imu_groups": groups,
             "channel_dropout": args.channel_dropout, "fusion": None if args.fusion in (None, "none") else args.fusion}
    if not args.text_tower:
        return default_config(args.arch or "cnn_gru", embed_dim=args.dim or 256, params=_json(args.tower_params), **shape)
    text = text_spec(args.text_tower, args.clip_weights, args.clip_model)
    video = video_tower_for(args.video_encoder, text, args.video_fps, args.clip_weights, args.clip_model)
    return text_aligned_config(args.arch or "cnn_gru", text, video, _json(args.tower_params),
                               loss_weights=_json(args.loss_weights), **shape)


def _augment(args):
    from encoders.pretrain import Augment

    if args.family == TOKENS:
        extra = {"yaw_degrees": args.yaw_degrees}
    else:
        extra = {"active": args.active_placement, "roll_degrees": args.forearm_roll, "limb_frame": args.limb_frame,
                 "yaw_degrees": args.yaw_degrees}
    return Augment(copies=args.copies, mount_degrees=args.mount_degrees, channel_dropout=args.channel_dropout, **extra)


def _training_source(args):
    """The archive of the train commands, or the motion capture of the pretrain ones."""
    from encoders.pretrain import DEFAULT_FOLDERS, VirtualImuSource
    from encoders.sources import ArchiveSource

    if args.command.startswith("pretrain"):
        folders = [Path(f) for f in args.data] if args.data else [Path(args.shared) / f for f in DEFAULT_FOLDERS]
        missing = [str(f) for f in folders if not f.is_dir()]
        if missing:
            raise FileNotFoundError(f"mocap folder(s) not found: {', '.join(missing)} (give BVH folders with --data)")
        split = getattr(args, "takes", None) or args.split
        print(f"pretraining on the mocap in {', '.join(map(str, folders))} ({split} takes, "
              f"{args.copies} virtual-IMU copies per take)")
        return VirtualImuSource(folders, _augment(args), None if split == "all" else split,
                                getattr(args, "composed", 0), getattr(args, "described", 0), args.seed, not args.quiet)
    entries, fmt = _source(args)
    entries, subjects, exclude = _select(args, entries, fmt, "train")
    labels = parse_actions(args.actions, args.source, fmt) if getattr(args, "actions", None) else None
    return ArchiveSource(entries, str(args.source or "demo"), fmt, subjects, exclude, args.split, labels,
                         bool(getattr(args, "concat", False)), not args.quiet)


def _settings(args):
    from encoders.train import TokenTrainSettings, TrainSettings

    if args.family == TOKENS:
        return TokenTrainSettings(steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed, threads=args.threads,
                                  token_shift=args.token_shift)
    return TrainSettings(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                         threads=getattr(args, "threads", None), crop=getattr(args, "crop", 0.0),
                         paraphrase=getattr(args, "paraphrase", None), gain=getattr(args, "gain", 1.0))


def _announce(init, config, data) -> None:
    """What the training reads, before it starts."""
    _report_skipped(data)
    tuning = f", fine-tuning {init.id}" if init is not None else ""
    if config.is_tokens:
        print(f"training token towers on {data.seconds:.0f} s of paired motion from {len(data.recordings)} recordings "
              f"(subjects {sorted({r.subject for r in data.recordings})}){tuning}")
        return
    print(f"training {config.name} into {config.space} on {len(data)} windows from {len(set(data.recording_ids))} "
          f"recordings ({len(set(c for c in data.captions if c))} labels, placements "
          f"{sorted(p for p in set(data.placements) if p)}; subjects {sorted(set(data.subjects))}){tuning}")
    if config.text:
        weights = config.loss_weights or {}
        print("pairs per loss term: " + ", ".join(f"{k} {v}" for k, v in data.pair_counts().items() if weights.get(k)))


def cmd_train(args) -> int:
    """train, train-tokens, pretrain and pretrain-tokens: a source, a config, one training."""
    from encoders.train import train

    source = _training_source(args)
    init = _init(args)
    config = _config(args, init)
    out, history, _ = train(config, source, _settings(args), args.out, init, progress=not args.quiet,
                            announce=lambda config, data: _announce(init, config, data))
    for path, reason in getattr(source, "skipped", []):
        print(f"skipped {path}: {reason}", file=sys.stderr)
    final = history[-1]
    loss = f"final loss {final['loss']:.3f}, token term {final['token']:.3f}" if config.is_tokens else f"final loss {final:.3f}"
    print(f"saved {'token ' if config.is_tokens else ''}checkpoint to {out} ({loss})")
    return 0


def cmd_eval_text_aligned(args) -> int:
    """eval-text, eval-zeroshot and eval-video (TEXT_ALIGNED_KINDS says which)."""
    from encoders.data import model_windows
    from encoders.evaluation import text_aligned as ev
    from encoders.factory import load_checkpoint

    kind = TEXT_ALIGNED_KINDS[args.command]
    encoder = load_checkpoint(args.checkpoint)
    if encoder.config.is_tokens:
        raise ValueError(f"{args.checkpoint}: a MoBind token checkpoint; eval-text/-zeroshot/-video score "
                         "clip-level text-aligned checkpoints")
    entries, fmt, subjects, exclude = _eval_entries(args, encoder)
    if kind != "video":
        encoder.text_tower("imu")  # fail early, with the clear message, if the text tower is unavailable
    data = model_windows(entries, encoder.config, encoder.model, subjects, progress=not args.quiet,
                         exclude=exclude, drop=_drop(args))
    _report_skipped(data)
    _check_overlap(encoder, set(data.subjects), args.allow_train_subjects)
    start = time.time()
    if kind == "text":
        report = ev.evaluate_text(encoder, data)
    elif kind == "zeroshot":
        seen = encoder.config.trained_on.labels if encoder.config.trained_on else set()
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
    print(f"encoder {encoder.id} ({encoder.config.space}) on subjects {report['subjects']}")
    if kind == "zeroshot":
        print(f"unseen labels ({len(report['unseen_labels'])}): {', '.join(report['unseen_labels'])}")
        if report["left_out_labels"]:
            print(f"left out, seen in training ({len(report['left_out_labels'])}): {', '.join(report['left_out_labels'])}")
    print(ev.format_text_aligned(report))
    _write_json(args.json, report)
    return 0


def cmd_ensemble(args) -> int:
    from encoders.ensemble import combine

    out = combine(args.checkpoints, args.out)
    print(f"saved an ensemble of {len(args.checkpoints)} checkpoints to {out}")
    return 0


def cmd_graft(args) -> int:
    from encoders.ensemble import graft

    out = graft(args.base, args.donor, args.modality, args.out)
    print(f"saved {args.base} with the {args.modality} tower of {args.donor} to {out}")
    return 0


# name -> (help, add its options, run it), as in every package's command line. Pretraining is
# training over a virtual-IMU source; its commands stay for the scripts that use them.
COMMANDS = {
    "train": ("train IMU and pose towers contrastively (symmetric InfoNCE)", options.train_options, cmd_train),
    "eval": ("IMU<->pose retrieval metrics on held-out subjects", options.eval_options, cmd_eval),
    "train-tokens": ("train MoBind token towers (IMU <-> pose body parts, 0.2 s tokens)", options.train_tokens_options,
                     cmd_train),
    "pretrain": ("pretrain IMU and pose towers on motion capture alone (virtual IMUs, MiniLM text)",
                 options.pretrain_options, cmd_train),
    "pretrain-tokens": ("pretrain MoBind token towers on motion capture alone (virtual IMUs)",
                        options.pretrain_tokens_options, cmd_train),
    "ensemble": ("join checkpoints of one recipe trained apart into one model (their vectors averaged)",
                 options.ensemble_options, cmd_ensemble),
    "graft": ("one checkpoint's towers with one modality's tower taken from another checkpoint of the same text space",
              options.graft_options, cmd_graft),
    "eval-text": ("text->IMU / text->pose retrieval and label classification on held-out subjects",
                  options.text_evaluation_options, cmd_eval_text_aligned),
    "eval-zeroshot": ("zero-shot recognition and retrieval of the labels the checkpoint never trained on",
                      options.text_evaluation_options, cmd_eval_text_aligned),
    "eval-video": ("video<->IMU retrieval (instance and class level) on held-out subjects",
                   options.text_evaluation_options, cmd_eval_text_aligned),
}
TEXT_ALIGNED_KINDS = {"eval-text": "text", "eval-zeroshot": "zeroshot", "eval-video": "video"}


def build_parser() -> argparse.ArgumentParser:
    return command_parser("python -m encoders", __doc__, COMMANDS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return COMMANDS[args.command][2](args)
    except (FileNotFoundError, ValueError) as exc:
        for path, reason in getattr(exc, "skipped", []):  # what was left out, before saying nothing is left
            print(f"skipped {path}: {reason}", file=sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:  # e.g. encoders.text.TextTowerUnavailable, MissingExtra: not to be had here
        print(f"error: {exc}", file=sys.stderr)
        return 2
