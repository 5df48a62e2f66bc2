"""Contrastive training of the IMU and pose towers into one joint space."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from encoders.checkpoint import JointModel
from encoders.data import PairedSet
from encoders.losses import info_nce


@dataclass
class TrainSettings:
    epochs: int = 60
    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0
    imu_noise: float = 0.05  # relative noise on IMU inputs (augmentation)
    scale_jitter: float = 0.1  # per-window amplitude scaling of IMU inputs


def augment_imu(x: torch.Tensor, s, gen: torch.Generator) -> torch.Tensor:
    """Per-window amplitude jitter and sensor noise (`s` has scale_jitter and imu_noise)."""
    scale = 1 + s.scale_jitter * (2 * torch.rand(x.shape[0], 1, x.shape[2], generator=gen) - 1)
    noise = s.imu_noise * x.std(dim=(0, 1), keepdim=True) * torch.randn(x.shape, generator=gen)
    return x * scale + noise


def fit(model: torch.nn.Module, n: int, settings: TrainSettings,
        batch_loss: Callable[[torch.Tensor, torch.Generator], torch.Tensor],
        params: list[torch.nn.Parameter] | None = None, clip_norm: float | None = None,
        progress: bool = True) -> list[float]:
    """The epoch loop every window-level trainer shares: AdamW with a one-cycle schedule over
    shuffled batches of `n` windows; `batch_loss(indices, generator)` gives each batch's loss.
    Returns the mean loss of each epoch and records the training time in `model.config`."""
    gen = torch.Generator().manual_seed(settings.seed)
    params = list(model.parameters()) if params is None else params
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * max(1, int(np.ceil(n / settings.batch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=steps, pct_start=0.1)
    history = []
    bar = tqdm(range(settings.epochs), desc="training", unit="epoch", disable=not progress)
    start = time.time()
    for _ in bar:
        model.train()
        order = torch.randperm(n, generator=gen)
        losses = []
        for i in range(0, n, settings.batch):
            idx = order[i : i + settings.batch]
            if len(idx) < 2:  # contrastive terms need a negative
                continue
            loss = batch_loss(idx, gen)
            opt.zero_grad()
            loss.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, clip_norm)
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
        bar.set_postfix(loss=f"{history[-1]:.3f}", temp=f"{1 / model.logit_scale.exp().item():.3f}")
    model.eval()
    model.config = dict(model.config, train_seconds=round(time.time() - start, 1))
    return history


def train(config: dict, data: PairedSet, settings: TrainSettings, progress: bool = True) -> tuple[JointModel, list[float]]:
    """Train a fresh JointModel on `data` (symmetric InfoNCE between the IMU and pose windows of
    each pair); returns it and the mean loss of each epoch."""
    torch.manual_seed(settings.seed)
    model = JointModel(config)
    imu, imu_v = torch.from_numpy(data.imu), torch.from_numpy(data.imu_valid)
    pose, pose_v = torch.from_numpy(data.pose), torch.from_numpy(data.pose_valid)

    def batch_loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        a = model("imu", augment_imu(imu[idx], settings, gen), imu_v[idx])
        b = model("pose", pose[idx], pose_v[idx])
        return info_nce(a, b, model.logit_scale)

    return model, fit(model, len(data), settings, batch_loss, progress=progress)
