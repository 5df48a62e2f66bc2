"""The checkpoint file format: a folder with `model.safetensors` (weights) and `config.json`.

The config names each tower's architecture, its input spec (modality, channels or joints,
rate, window length) and the joint space the towers map into. Weights are safetensors only:
checkpoints may come from elsewhere, and loading a pickle would run its code. Which model a
config builds, and loading a folder into it, is encoders.factory's job.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from encoders.config import EncoderConfig
from indexer.imports import optional
from indexer.windows import WindowSpec

# The pretrained motion-text model shipped inside the package (`--checkpoint builtin`), trained
# by `python -m encoders pretrain` on public motion capture only; see encoders/builtin/README.md.
BUILTIN = "builtin"
BUILTIN_FOLDER = Path(__file__).parent / "builtin"
# The same recipe without the Bandai Namco data (CMU mocap and composed motion only), whose
# weights carry no non-commercial licence: `--checkpoint builtin-unrestricted`.
SHIPPED = {BUILTIN: BUILTIN_FOLDER, "builtin-unrestricted": Path(__file__).parent / "builtin_unrestricted"}

if TYPE_CHECKING:
    from torch import nn

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save(model: nn.Module, folder: str | Path, extra: dict | None = None) -> Path:
    """Write `model.config` (with the top-level keys of `extra`, such as `trained_on`) as JSON
    and the weights as safetensors, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = model.config.to_dict()
    if extra:
        config = EncoderConfig.from_dict({**config, **extra}).to_dict()
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS + ".tmp")
    optional("safetensors.torch", "", "checkpoint weights").save_file(tensors, str(tmp))
    tmp.replace(folder / WEIGHTS)
    (folder / CONFIG).write_text(json.dumps(config, indent=2))
    return folder


class CheckpointView:
    """What every loaded checkpoint tells from its config and weights checksum; builds and
    searches rely on these alone, whatever the model behind them."""

    config: EncoderConfig
    checksum: str  # sha256 of the weights file
    source: str  # the checkpoint folder it was loaded from
    has_tokens = False  # token encoders (encoders.tokens) also emit 0.2 s token vectors

    @property
    def id(self) -> str:
        return f"{self.config.name}@{self.checksum[:12]}"

    @property
    def modalities(self) -> list[str]:
        return self.config.modalities

    @property
    def window(self) -> WindowSpec:
        return self.config.window

    @property
    def rates(self) -> dict[str, float]:
        return self.config.rates

    def checkpoint_files(self) -> dict[str, bytes]:
        """{file name: bytes} of this checkpoint, as an index keeps it (indexer.embedder)."""
        return {WEIGHTS: Path(self.source, WEIGHTS).read_bytes(),
                CONFIG: json.dumps(self.config.to_dict(), indent=2).encode()}


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


def checkpoint_config(folder: str | Path) -> EncoderConfig:
    """The config of a checkpoint folder, read without its weights (and without torch): what a
    text search needs to know of an encoder (its text tower, `text`)."""
    path = checkpoint_paths(folder, "python -m encoders train")[1]
    return EncoderConfig.from_dict(read_config(path), str(path))


def read_config(config_path: Path) -> dict:
    try:
        return json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_path}: not valid JSON ({exc})") from None


def load_weights(model: nn.Module, weights: Path, config_path: Path) -> str:
    """Fill `model` from a safetensors file (never a pickle: checkpoints may come from
    elsewhere); returns the file's sha256. ValueError when the file or its fit is wrong."""
    try:
        state = optional("safetensors.torch", "", "checkpoint weights").load_file(str(weights))
    except Exception as exc:
        raise ValueError(f"{weights}: not a readable safetensors file ({exc})") from None
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # same names, other shapes: torch reports a size mismatch
        reason = str(exc).splitlines()[-1].strip()
        raise ValueError(f"{weights}: weights do not match {config_path} ({reason})") from None
    if missing or unexpected:
        raise ValueError(f"{weights}: weights do not match {config_path} "
                         f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.eval()
    return sha256_file(weights)
