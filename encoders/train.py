"""Contrastive training of the IMU and pose towers into one joint space."""
from __future__ import annotations

import time
from dataclasses import dataclass

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


def _augment_imu(x: torch.Tensor, s: TrainSettings, gen: torch.Generator) -> torch.Tensor:
    scale = 1 + s.scale_jitter * (2 * torch.rand(x.shape[0], 1, x.shape[2], generator=gen) - 1)
    noise = s.imu_noise * x.std(dim=(0, 1), keepdim=True) * torch.randn(x.shape, generator=gen)
    return x * scale + noise


def train(config: dict, data: PairedSet, settings: TrainSettings, progress: bool = True) -> tuple[JointModel, list[float]]:
    """Train a fresh JointModel on `data`; returns it and the mean loss of each epoch."""
    torch.manual_seed(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    model = JointModel(config)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps = settings.epochs * max(1, int(np.ceil(len(data) / settings.batch)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=steps, pct_start=0.1)
    imu, imu_v = torch.from_numpy(data.imu), torch.from_numpy(data.imu_valid)
    pose, pose_v = torch.from_numpy(data.pose), torch.from_numpy(data.pose_valid)
    history = []
    bar = tqdm(range(settings.epochs), desc="training", unit="epoch", disable=not progress)
    start = time.time()
    for _ in bar:
        model.train()
        order = torch.randperm(len(data), generator=gen)
        losses = []
        for i in range(0, len(order), settings.batch):
            idx = order[i : i + settings.batch]
            if len(idx) < 2:  # InfoNCE needs a negative
                continue
            a = model("imu", _augment_imu(imu[idx], settings, gen), imu_v[idx])
            b = model("pose", pose[idx], pose_v[idx])
            loss = info_nce(a, b, model.logit_scale)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
        bar.set_postfix(loss=f"{history[-1]:.3f}", temp=f"{1 / model.logit_scale.exp().item():.3f}")
    model.eval()
    model.config = dict(model.config, train_seconds=round(time.time() - start, 1))
    return model, history
