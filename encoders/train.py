"""Training: one loop for every encoder (open_clip's split: the model and its loss apart from
the loop). A task (encoders.tasks) gives the batches and each batch's loss terms; `fit` runs
AdamW with a one-cycle schedule over them and keeps the history. `train_paired`,
`train_text_aligned` and `train_tokens` build the task for their objective; `train` is the one
entry point that reads a source's windows, picks the objective from the config, records what
the checkpoint was trained on (`trained_on`) and saves it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from encoders import checkpoint
from encoders.checkpoint import CheckpointView
from encoders.config import EncoderConfig, Provenance
from encoders.data import PairedSet, TextAlignedSet
from encoders.factory import create_model
from encoders.model import JointModel
from encoders.tasks import PairedTask, TextAlignedTask, TokenTask
from encoders.token_data import TokenPairs
from encoders.tokens import TokenModel


@dataclass
class Settings:
    """What every training run takes; TrainSettings and TokenTrainSettings add how long it runs."""

    batch: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0
    imu_noise: float = 0.05  # relative noise on IMU inputs (augmentation)
    scale_jitter: float = 0.1  # per-window amplitude scaling of IMU inputs
    threads: int | None = None  # torch CPU threads while training; None leaves torch's own setting
    crop: float = 0.0  # share of IMU windows cut short at random in training (encoders.tasks.PairedTask.cropped)
    # text cosine at and above which two captions are not each other's negatives (losses.caption_info_nce)
    paraphrase: float | None = None
    gain: float = 1.0  # IMU windows scaled in vigour by up to this factor either way (encoders.tasks.vigour); 1: off

    def record(self) -> dict:
        """What a checkpoint's `trained_on` says of the run."""
        return {"batch": self.batch, "lr": self.lr, "seed": self.seed,
                **({"paraphrase": self.paraphrase} if self.paraphrase is not None else {}),
                **({"gain": self.gain} if self.gain != 1.0 else {})}


@dataclass
class TrainSettings(Settings):
    """Window-level training (IMU <-> pose, text-aligned): epochs over the whole set."""

    epochs: int = 60

    def record(self) -> dict:
        return {"epochs": self.epochs, **super().record()}


@dataclass
class TokenTrainSettings(Settings):
    """MoBind token training: steps over freshly sampled windows."""

    steps: int = 1500
    yaw_range: float = 0.6  # radians of camera turn when a 2-D tower learns from 3-D mocap
    token_shift: float = 1.0  # seconds: largest offset between the IMU and pose windows of the token loss
    log_every: int = 50  # steps per history entry
    threads: int | None = 1  # on a shared 2-core machine one thread is several times faster than two

    def record(self) -> dict:
        return {"steps": self.steps, **super().record(), "token_shift": self.token_shift}


def fit(task, settings: Settings, progress: bool = True) -> list[dict]:
    """Train `task.model`; returns one {"step", "loss", other terms...} entry (means over the
    period) per period of `task.periods` (an epoch, or `log_every` steps), and records the
    training time in `model.config`."""
    threads = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(max(1, settings.threads))
    try:
        return _fit(task, settings, progress)
    finally:
        torch.set_num_threads(threads)


def _fit(task, settings: Settings, progress: bool) -> list[dict]:
    model = task.model
    gen = torch.Generator().manual_seed(settings.seed)
    params = task.params()
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    steps, warmup = task.schedule()
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=settings.lr, total_steps=steps, pct_start=warmup)
    history: list[dict] = []
    step = 0
    start = time.time()
    bar = tqdm(total=steps, desc=task.description, unit="step", disable=not progress)
    for period in task.periods(gen):
        model.train()
        running: dict[str, list[float]] = {}
        for batch in period:
            terms = task.loss(batch, gen)
            opt.zero_grad()
            terms["loss"].backward()
            if task.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, task.clip_norm)
            opt.step()
            sched.step()
            step += 1
            bar.update()
            for k, v in terms.items():
                running.setdefault(k, []).append(float(v.detach()))
        means = {k: float(np.mean(v)) for k, v in running.items()}
        means.setdefault("loss", float("nan"))  # a period too small for one batch
        history.append({"step": step, **means})
        bar.set_postfix(task.postfix(history[-1]))
    bar.close()
    model.eval()
    model.config = model.config.replace(train_seconds=round(time.time() - start, 1))
    return history


def train_paired(config: EncoderConfig, data: PairedSet, settings: TrainSettings, progress: bool = True,
                 model: JointModel | None = None) -> tuple[JointModel, list[float]]:
    """Train `model` (a fresh JointModel from `config` if None; pass one to fine-tune) on `data`
    (symmetric InfoNCE between the IMU and pose windows of each pair); returns it and the mean
    loss of each epoch."""
    model = model if model is not None else create_model(config, settings.seed)
    history = fit(PairedTask(model, data, settings), settings, progress)
    return model, [h["loss"] for h in history]


def train_text_aligned(config: EncoderConfig, data: TextAlignedSet, settings: TrainSettings, model: JointModel | None = None,
                       progress: bool = True) -> tuple[JointModel, list[float]]:
    """Train `model` (a fresh one from `config` if None) into the frozen text tower's space;
    returns it and the mean loss of each epoch. Pass the model whose video tower prepared
    `data.video`."""
    model = model if model is not None else create_model(config, settings.seed)
    history = fit(TextAlignedTask(model, data, settings), settings, progress)
    return model, [h["loss"] for h in history]


def train_tokens(config: EncoderConfig, data: TokenPairs, settings: TokenTrainSettings, progress: bool = True,
                 model: TokenModel | None = None) -> tuple[TokenModel, list[dict]]:
    """Train `model` (a fresh TokenModel from `config` if None; pass one to fine-tune); returns it
    and the mean of each loss term per `log_every` steps."""
    model = model if model is not None else create_model(config, settings.seed)
    history = fit(TokenTask(model, data, settings), settings, progress)
    return model, [{k: v if k == "step" else round(v, 4) for k, v in h.items()} for h in history]


class Source(Protocol):
    """Where training windows come from (encoders.sources.ArchiveSource: an archive's recordings;
    encoders.pretrain.VirtualImuSource: virtual IMUs on motion capture)."""

    def read(self, config: EncoderConfig, model: nn.Module) -> TextAlignedSet | TokenPairs:
        """The training set of `config`'s family (video prepared by `model`'s video tower)."""

    def record(self, config: EncoderConfig, data) -> dict:
        """What `trained_on` says of the data (the source first), in the order written."""


def train(config: EncoderConfig, source: Source, settings: Settings, out: str | Path, init: CheckpointView | None = None,
          progress: bool = True, announce: Callable[[EncoderConfig, object], None] | None = None
          ) -> tuple[Path, list, TextAlignedSet | TokenPairs]:
    """The one training entry point: read `source`'s windows for `config`, train (fine-tune the
    model of `init` when given), record what it was trained on (`trained_on`: the source's record,
    the init, the run's settings, the final loss) and save the checkpoint to `out`. `announce`
    sees the set before training starts. Returns the folder, the loss history and the set."""
    model = _start(config, init, settings.seed)
    data = source.read(config, model)
    if announce is not None:
        announce(config, data)
    if config.is_tokens:
        model, history = train_tokens(config, data, settings, progress=progress, model=model)
        final = {"final": history[-1]}
    else:
        fitting = train_text_aligned if config.text else train_paired
        model, history = fitting(config, data, settings, progress=progress, model=model)
        final = {"final_loss": round(history[-1], 4)}
    run = {"init": init.id if init is not None else None, **settings.record(), **final}
    model.config = model.config.replace(trained_on=Provenance.of(source.record(config, data), run))
    return checkpoint.save(model, out), history, data


def _start(config: EncoderConfig, init: CheckpointView | None, seed: int) -> nn.Module:
    """The model training starts from: `init`'s, reading `config` (with a fresh fusion module
    when the config adds one), else a fresh one drawn from `seed`."""
    if init is None:
        return create_model(config, seed)
    model = init.model
    model.config = config
    if config.fusion and getattr(model, "fusion", None) is None:
        model.add_fusion(config.fusion["architecture"])
    model.train()
    return model
