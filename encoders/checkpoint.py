"""Encoder checkpoints: a folder with `model.safetensors` (weights) and `config.json`.

The config names each tower's architecture, its input spec (modality, channels or joints,
rate, window length) and the joint space the towers map into. Weights are safetensors only:
checkpoints may come from elsewhere, and loading a pickle would run its code.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from encoders.channels import conform_imu
from encoders.features import featurize, pose_feature_count
from encoders.nets import build_tower
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.embedder import EmbeddedWindow
from indexer.model import Recording
from indexer.units import IMU6_CHANNELS
from indexer.windows import Window, WindowSpec, recording_windows

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def default_config(architecture: str = "cnn_gru", embed_dim: int = 256, window: float = 5.0,
                   hop: float = 1.0, imu_rate: float = 50.0, pose_rate: float = 25.0,
                   params: dict | None = None) -> dict:
    """An IMU + pose config; `params` go to both towers' constructors."""
    params = dict(params or {})
    return {
        "format": "motionsearch-encoder/1",
        "name": f"imu-pose-{architecture}",
        "embed_dim": embed_dim,
        "space": "imu-pose",
        "window": {"length": window, "hop": hop},
        "logit_scale_init": math.log(1 / 0.07),
        "towers": {
            "imu": {"architecture": architecture, "rate": imu_rate, "channels": list(IMU6_CHANNELS),
                    "in_features": len(IMU6_CHANNELS), "params": {"groups": 2, **params}},
            "pose": {"architecture": architecture, "rate": pose_rate, "joints": list(CANONICAL_JOINTS),
                     "dims": 3, "in_features": pose_feature_count(3), "params": {"groups": 1, **params}},
        },
    }


class JointModel(nn.Module):
    """One tower per modality, all mapping into one joint space, and the learnable temperature."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        self.towers = nn.ModuleDict(
            {m: build_tower(spec, config["embed_dim"]) for m, spec in config["towers"].items()}
        )
        self.logit_scale = nn.Parameter(torch.tensor(float(config.get("logit_scale_init", math.log(1 / 0.07)))))

    def forward(self, modality: str, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.towers[modality](x, valid)


def save(model: nn.Module, folder: str | Path, extra: dict | None = None) -> Path:
    """Write `model.config` (+ `extra`) as JSON and the weights as safetensors, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(model.config)
    if extra:
        config.update(extra)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(folder / WEIGHTS)
    (folder / CONFIG).write_text(json.dumps(config, indent=2))
    return folder


class CheckpointView:
    """What every loaded checkpoint tells from its config and weights checksum; builds and
    searches rely on these alone, whatever the model behind them."""

    config: dict
    checksum: str  # sha256 of the weights file
    source: str  # the checkpoint folder it was loaded from
    has_tokens = False  # token encoders (encoders.tokens) also emit 0.2 s token vectors

    @property
    def id(self) -> str:
        return f"{self.config['name']}@{self.checksum[:12]}"

    @property
    def modalities(self) -> list[str]:
        return list(self.config["towers"])

    @property
    def window(self) -> WindowSpec:
        return WindowSpec(**self.config["window"])

    @property
    def rates(self) -> dict[str, float]:
        return {m: float(spec["rate"]) for m, spec in self.config["towers"].items()}

    def checkpoint_files(self) -> dict[str, bytes]:
        """{file name: bytes} of this checkpoint, as an index keeps it (indexer.embedder)."""
        return {WEIGHTS: Path(self.source, WEIGHTS).read_bytes(),
                CONFIG: json.dumps(self.config, indent=2).encode()}


@dataclass
class Encoder(CheckpointView):
    """A loaded checkpoint, ready to embed windows."""

    model: JointModel
    config: dict
    checksum: str  # sha256 of the weights file
    source: str = ""  # the checkpoint folder it was loaded from

    @torch.no_grad()
    def encode_arrays(self, modality: str, arrays: list[np.ndarray], valid: list[int],
                      batch: int = 128) -> np.ndarray:
        """Unit-norm vectors (N, d) for raw windows of one modality."""
        self.model.eval()
        feats = np.stack([featurize(modality, a, v) for a, v in zip(arrays, valid)])
        out = []
        for i in range(0, len(feats), batch):
            x = torch.from_numpy(feats[i : i + batch])
            n = torch.tensor(valid[i : i + batch], dtype=torch.long)
            out.append(self.model(modality, x, n).numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.config["embed_dim"]), np.float32)

    def embed_recording(self, rec: Recording) -> list[EmbeddedWindow]:
        """Every window of `rec` in every modality the encoder covers, embedded (the build's
        Embedder protocol)."""
        rec = conform_imu(rec, self.config)
        windows = recording_windows(rec, self.window, self.rates, video_size=self.video_size)
        out = []
        for modality in self.modalities:
            group = [w for w in windows if w.modality == modality]
            if group:
                out.extend(EmbeddedWindow(modality, w.body_part, w.t_start, w.t_end, v)
                           for w, v in zip(group, self.encode(group)))
        return out

    def encode(self, windows: list[Window]) -> np.ndarray:
        """Vectors for windows that all share one modality."""
        if not windows:
            return np.zeros((0, self.config["embed_dim"]), np.float32)
        modality = windows[0].modality
        return self.encode_arrays(modality, [w.data for w in windows], [w.valid for w in windows])

    # ---- text-aligned checkpoints (config["text"] names the frozen text tower; see encoders.text)
    @property
    def video_size(self) -> int | None:
        """Side in pixels of the frames the video tower reads, or None without a video tower."""
        spec = self.config["towers"].get("video")
        return int(spec["size"]) if spec else None

    @property
    def text_aligned(self) -> bool:
        return bool(self.config.get("text"))

    def text_tower(self):
        if not self.text_aligned:
            raise ValueError(f"encoder {self.id} is not text-aligned (its space is {self.config.get('space')!r}); "
                             "train one with `python -m encoders train --text-tower minilm`")
        from encoders.text import load_text_tower

        return load_text_tower(self.config["text"])

    def encode_text(self, texts: list[str], templates: bool = True) -> np.ndarray:
        """Unit vectors (N, d) for text in this encoder's joint space. With `templates` each text
        is embedded through the prompt templates the towers were trained against, averaged."""
        tower = self.text_tower()
        return tower.encode_prompts(list(texts)) if templates else tower.encode(list(texts))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def checkpoint_paths(folder: str | Path, how_to_make: str) -> tuple[Path, Path]:
    """(weights, config) paths of a checkpoint folder; FileNotFoundError naming what is missing."""
    folder = Path(folder)
    weights, config_path = folder / WEIGHTS, folder / CONFIG
    for p in (weights, config_path):
        if not p.exists():
            raise FileNotFoundError(f"{p}: missing; a checkpoint folder holds {WEIGHTS} and {CONFIG} "
                                    f"(make one with `{how_to_make}`)")
    return weights, config_path


def read_config(config_path: Path) -> dict:
    try:
        return json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_path}: not valid JSON ({exc})") from None


def load_weights(model: nn.Module, weights: Path, config_path: Path) -> str:
    """Fill `model` from a safetensors file (never a pickle: checkpoints may come from
    elsewhere); returns the file's sha256. ValueError when the file or its fit is wrong."""
    try:
        state = load_file(str(weights))
    except Exception as exc:
        raise ValueError(f"{weights}: not a readable safetensors file ({exc})") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes: torch reports a size mismatch
        raise ValueError(f"{weights}: weights do not match {config_path} ({str(exc).splitlines()[-1].strip()})") from None
    if missing or unexpected:
        raise ValueError(f"{weights}: weights do not match {config_path} "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.eval()
    return sha256_file(weights)


def load(folder: str | Path) -> Encoder:
    """A checkpoint folder -> a loaded encoder (a TokenEncoder for MoBind token checkpoints)."""
    weights, config_path = checkpoint_paths(folder, "python -m encoders train")
    config = read_config(config_path)
    if "tokens" in config:  # a MoBind token checkpoint: same folder layout, other model
        from encoders import tokens

        return tokens.load(folder, config)
    try:
        model = JointModel(config)
    except (KeyError, TypeError, ValueError) as exc:  # valid JSON, but not an encoder config
        raise ValueError(f"{config_path}: not a motionsearch encoder config ({type(exc).__name__}: {exc})") from None
    return Encoder(model, config, load_weights(model, weights, config_path), str(folder))
load_checkpoint = load  # the public name (encoders.load_checkpoint)
