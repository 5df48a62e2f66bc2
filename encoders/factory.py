"""Models from configs, and checkpoint folders into the encoder that reads them (open_clip's
factory): a config with a "tokens" section is a MoBind token model (encoders.tokens), any other
a clip-style joint model (encoders.model). Importing this module imports every module that
registers a tower architecture (through encoders.model and encoders.tokens).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from encoders.checkpoint import SHIPPED, checkpoint_paths, load_weights, read_config
from encoders.config import TOKENS, EncoderConfig
from encoders.model import Encoder, JointModel
from encoders.tokens import TokenEncoder, TokenModel
from indexer.bounds import MAX_MODEL_BYTES


def _make(config: EncoderConfig) -> nn.Module:
    return TokenModel(config) if config.family == TOKENS else JointModel(config)


def model_bytes(config: EncoderConfig) -> int | None:
    """Bytes of the parameters and buffers the model of `config` would hold, measured by building
    it on torch's meta device (shapes only, nothing allocated); None for a config whose towers load
    outside weights (clip_frames: open_clip's own, of known size)."""
    if any(t.architecture == "clip_frames" for t in config.towers.values()):
        return None
    with torch.device("meta"):
        model = _make(config)
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def create_model(config: EncoderConfig | dict, seed: int | None = None, source: str = "the model config (see --tower-params)",
                 weights_bytes: int | None = None) -> nn.Module:
    """A fresh model for `config`; with `seed`, its initial weights are drawn from that seed. Its
    numbers are checked and its size estimated first (`source` names the config in the message),
    so a config asking for terabytes is refused instead of allocated; with `weights_bytes` (the
    size of the weights file it is to be filled from), so is a model far larger than its weights."""
    config = EncoderConfig.of(config, source)
    try:
        need = model_bytes(config)
    except (KeyError, TypeError, AttributeError) as exc:  # a constructor refusing a parameter: not a config of ours
        raise ValueError(f"{source}: not a motionsearch encoder config ({type(exc).__name__}: {exc})") from None
    if need is not None and need > MAX_MODEL_BYTES:
        raise ValueError(f"{source}: the model would take {need / 2**30:.1f} GiB, more than the "
                         f"{MAX_MODEL_BYTES / 2**30:.0f} GiB a checkpoint may hold (check embed_dim and the tower params)")
    if need is not None and weights_bytes is not None and need > 2 * weights_bytes + (1 << 20):
        raise ValueError(f"{source}: the model it describes would take {need / 2**20:.1f} MiB but the weights file "
                         f"holds {weights_bytes / 2**20:.1f} MiB: the config does not fit the weights")
    if seed is not None:
        torch.manual_seed(seed)
    return _make(config)


def resolve_checkpoint(folder: str | Path) -> Path:
    """A checkpoint argument as a folder: "builtin" (and "builtin-unrestricted") are the shipped models."""
    return SHIPPED.get(str(folder), Path(folder))


def load_checkpoint(folder: str | Path) -> Encoder | TokenEncoder:
    """A checkpoint folder (or "builtin") -> a loaded encoder (a TokenEncoder for MoBind token
    checkpoints). Weights are read from safetensors only, never a pickle."""
    folder = resolve_checkpoint(folder)
    weights, config_path = checkpoint_paths(folder, "python -m encoders train")
    config = EncoderConfig.from_dict(read_config(config_path), str(config_path))
    try:
        model = create_model(config, source=str(config_path), weights_bytes=weights.stat().st_size)
    except ValueError as exc:
        if str(exc).startswith(str(config_path)):  # check_config's own message: already one line naming the file
            raise
        raise ValueError(f"{config_path}: not a motionsearch encoder config ({type(exc).__name__}: {exc})") from None
    except (KeyError, TypeError, AttributeError) as exc:  # valid JSON, but not an encoder config
        raise ValueError(f"{config_path}: not a motionsearch encoder config ({type(exc).__name__}: {exc})") from None
    wrapper = TokenEncoder if isinstance(model, TokenModel) else Encoder
    return wrapper(model, config, load_weights(model, weights, config_path), str(folder))
