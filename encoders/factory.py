"""Models from configs, and checkpoint folders into the encoder that reads them (open_clip's
factory): a config with a "tokens" section is a MoBind token model (encoders.tokens), any other
a clip-style joint model (encoders.model). Importing this module imports every module that
registers a tower architecture (through encoders.model and encoders.tokens).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from encoders.checkpoint import checkpoint_paths, load_weights, read_config
from encoders.model import Encoder, JointModel
from encoders.tokens import TokenEncoder, TokenModel


def create_model(config: dict, seed: int | None = None) -> nn.Module:
    """A fresh model for `config`; with `seed`, its initial weights are drawn from that seed."""
    if seed is not None:
        torch.manual_seed(seed)
    return TokenModel(config) if "tokens" in config else JointModel(config)


# The pretrained motion-text model shipped inside the package (`--checkpoint builtin`), trained
# by `python -m encoders pretrain` on public motion capture only; see encoders/builtin/README.md.
BUILTIN = "builtin"
BUILTIN_FOLDER = Path(__file__).parent / "builtin"


def resolve_checkpoint(folder: str | Path) -> Path:
    """A checkpoint argument as a folder: "builtin" is the shipped model."""
    return BUILTIN_FOLDER if str(folder) == BUILTIN else Path(folder)


def load_checkpoint(folder: str | Path) -> Encoder | TokenEncoder:
    """A checkpoint folder (or "builtin") -> a loaded encoder (a TokenEncoder for MoBind token
    checkpoints). Weights are read from safetensors only, never a pickle."""
    folder = resolve_checkpoint(folder)
    weights, config_path = checkpoint_paths(folder, "python -m encoders train")
    config = read_config(config_path)
    try:
        model = create_model(config)
    except (KeyError, TypeError, ValueError) as exc:  # valid JSON, but not an encoder config
        raise ValueError(f"{config_path}: not a motionsearch encoder config ({type(exc).__name__}: {exc})") from None
    wrapper = TokenEncoder if isinstance(model, TokenModel) else Encoder
    return wrapper(model, config, load_weights(model, weights, config_path), str(folder))
