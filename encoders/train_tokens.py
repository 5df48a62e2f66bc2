"""Training the MoBind token towers on paired IMU / pose-part windows."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from encoders.mobind import mobind_loss
from encoders.train import augment_imu
from encoders.token_data import TokenPairs
from encoders.tokens import TokenModel


@dataclass
class TokenTrainSettings:
    steps: int = 1500
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0
    imu_noise: float = 0.05  # relative noise on IMU inputs
    scale_jitter: float = 0.1  # per-window amplitude scaling of IMU inputs
    yaw_range: float = 0.6  # radians of camera turn when a 2-D tower learns from 3-D mocap
    token_shift: float = 1.0  # seconds: largest offset between the IMU and pose windows of the token loss
    log_every: int = 50  # steps per history entry
    threads: int = 1  # on a shared 2-core machine one thread is several times faster than two


def train_tokens(config: dict, data: TokenPairs, settings: TokenTrainSettings,
                 progress: bool = True) -> tuple[TokenModel, list[dict]]:
    """Train a fresh TokenModel; returns it and the mean of each loss term per `log_every` steps."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, settings.threads))
    try:
        return _train(config, data, settings, progress)
    finally:
        torch.set_num_threads(threads)


def _train(config: dict, data: TokenPairs, settings: TokenTrainSettings, progress: bool) -> tuple[TokenModel, list[dict]]:
    torch.manual_seed(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    model = TokenModel(config)
    tok = config["tokens"]
    weights = tok["loss_weights"]
    dims = int(config["towers"]["pose"].get("dims", 3))
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=settings.steps,
                                                pct_start=min(0.3, max(0.1, 2.0 / settings.steps)))
    history: list[dict] = []
    running: dict[str, list[float]] = {}
    start = time.time()
    bar = tqdm(range(settings.steps), desc="training tokens", unit="step", disable=not progress)
    model.train()
    for step in bar:
        batch = data.sample(settings.batch, rng, dims, settings.yaw_range, settings.token_shift,
                            float(tok["token_seconds"]))
        batch["imu"] = augment_imu(batch["imu"], settings, gen)
        terms = mobind_loss(model, batch, float(tok.get("mask_ratio", 0.0)), weights, gen)
        opt.zero_grad()
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        for k, v in terms.items():
            running.setdefault(k, []).append(float(v.detach()))
        if (step + 1) % settings.log_every == 0 or step + 1 == settings.steps:
            history.append({"step": step + 1, **{k: round(float(np.mean(v)), 4) for k, v in running.items()}})
            running.clear()
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", token=f"{history[-1]['token']:.3f}")
    model.eval()
    model.config = dict(model.config, train_seconds=round(time.time() - start, 1))
    return model, history


# ---- command line: `python -m encoders train-tokens` -------------------------------------------
def add_cli(sub, common, source, subjects) -> None:
    """Register `train-tokens` on the `python -m encoders` subparsers. `common`, `source` and
    `subjects` are that CLI's shared helpers (SOURCE/--demo/--format/--subjects handling)."""
    from encoders.part_features import DEFAULT_PARTS

    t = sub.add_parser("train-tokens", help="train MoBind token towers (IMU <-> pose body parts, 0.2 s tokens)",
                       description="Train MoBind token encoders: an IMU tower and a pose body-part tower "
                       "emitting one vector per 0.2 s, with token-, window-, full-body-level InfoNCE and "
                       "masked token prediction. Example: python -m encoders train-tokens "
                       "../shared/data/utd-mhad --concat --out ckpt/utd-tokens")
    common(t)
    t.add_argument("--out", required=True, help="checkpoint folder to write (safetensors + config.json)")
    t.add_argument("--concat", action="store_true",
                   help="join each subject's clips into one long stream per sensor placement first "
                        "(UTD-MHAD's 3 s clips; matches the temporal evaluation)")
    t.add_argument("--dim", type=int, default=256, help="token / window vector dimension (default 256, MoBind's)")
    t.add_argument("--width", type=int, default=256, help="Transformer width (default 256)")
    t.add_argument("--layers", type=int, default=4, help="Transformer layers (default 4)")
    t.add_argument("--heads", type=int, default=4, help="attention heads (default 4)")
    t.add_argument("--window", type=float, default=2.0, help="window length in seconds, a multiple of 0.2 (default 2)")
    t.add_argument("--hop", type=float, default=0.2,
                   help="seconds between the windows an index stores (default 0.2, one per token step, "
                        "which `query locate` needs to place a snippet well; 1 makes a 5x smaller index)")
    t.add_argument("--pose-dims", type=int, default=3, choices=[2, 3],
                   help="3 for skeletons/mocap; 2 for 2-D pose from video (trained on 3-D mocap seen "
                        "from randomly turned cameras)")
    t.add_argument("--parts", default=",".join(DEFAULT_PARTS),
                   help=f"body parts the skeleton is decomposed into (default {','.join(DEFAULT_PARTS)})")
    t.add_argument("--weights", default="token=1,window=1,body=0.5,masked=0.5",
                   help="loss weights (default token=1,window=1,body=0.5,masked=0.5)")
    t.add_argument("--mask-ratio", type=float, default=0.15, help="share of tokens masked for prediction (default 0.15)")
    t.add_argument("--token-shift", type=float, default=1.0,
                   help="largest offset, seconds, between the IMU and pose windows the token loss compares "
                        "(default 1; 0 lets tokens match by their position in the window)")
    t.add_argument("--steps", type=int, default=1500, help="optimiser steps (default 1500)")
    t.add_argument("--batch", type=int, default=64, help="windows per batch (default 64)")
    t.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (one-cycle schedule)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: on a busy machine more threads wait on each other)")

    def run(args) -> int:
        import sys

        from encoders import tokens
        from encoders.token_data import token_pairs

        entries, fmt = source(args)
        weights = {}
        for item in args.weights.split(","):
            key, _, value = item.partition("=")
            if key.strip() not in ("token", "window", "body", "masked") or not value:
                raise ValueError(f"--weights: expected token=,window=,body=,masked= entries, got {item!r}")
            weights[key.strip()] = float(value)
        config = tokens.default_token_config(
            embed_dim=args.dim, dim=args.width, layers=args.layers, heads=args.heads, window=args.window,
            hop=args.hop, pose_dims=args.pose_dims, parts=[p.strip() for p in args.parts.split(",") if p.strip()],
            loss_weights=weights, mask_ratio=args.mask_ratio)
        data = token_pairs(entries, config, subjects(args.subjects, fmt, "train"), args.concat,
                           progress=not args.quiet)
        for path, reason in data.skipped:
            print(f"skipped {path}: {reason}", file=sys.stderr)
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
        out = tokens.save(model, args.out, extra)
        print(f"saved token checkpoint to {out} (final loss {history[-1]['loss']:.3f}, "
              f"token term {history[-1]['token']:.3f})")
        return 0

    t.set_defaults(func=run)
