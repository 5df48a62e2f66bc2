"""The checkpoint file format: a folder with `model.safetensors` (weights) and `config.json`.

The config names each tower's architecture, its input spec (modality, channels or joints,
rate, window length) and the joint space the towers map into. Weights are safetensors only:
checkpoints may come from elsewhere, and loading a pickle would run its code. Which model a
config builds, and loading a folder into it, is encoders.factory's job.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.bounds import EMBED_DIM_RANGE, MAX_WINDOW_SAMPLES, RATE_RANGE, WINDOW_RANGE
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
    """Write `model.config` (+ `extra`) as JSON and the weights as safetensors, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = dict(model.config)
    if extra:
        config.update(extra)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = folder / (WEIGHTS + ".tmp")
    optional("safetensors.torch", "", "checkpoint weights").save_file(tensors, str(tmp))
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


def checkpoint_config(folder: str | Path) -> dict:
    """The config of a checkpoint folder, read without its weights (and without torch): what a
    text search needs to know of an encoder (its text tower, config["text"])."""
    return read_config(checkpoint_paths(folder, "python -m encoders train")[1])


def read_config(config_path: Path) -> dict:
    try:
        return json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_path}: not valid JSON ({exc})") from None


MAX_PARAM = 1 << 16  # any whole-number constructor parameter of a tower (widths, layers, heads, ...)


def check_config(config: dict, config_path: str | Path) -> None:
    """ValueError in one line naming `config_path` when a number in an encoder config is outside
    what any model here uses (window length and hop, joint-space width, tower rates, the samples
    of one window, constructor sizes), before anything is allocated from it: a config may come
    from elsewhere, and `embed_dim` 10^12 or a window of 10^9 s would otherwise end in a
    MemoryError, or worse, a machine swapping."""

    def refuse(what: str, value, low, high) -> ValueError:
        return ValueError(f"{config_path}: {what} must be between {low:g} and {high:g}, got {value!r}")

    def number(value) -> float:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan

    if not isinstance(config, dict) or not isinstance(config.get("towers"), dict) or not config["towers"]:
        raise ValueError(f"{config_path}: not a motionsearch encoder config (no `towers`)")
    window = config.get("window") if isinstance(config.get("window"), dict) else {}
    length, hop = number(window.get("length")), number(window.get("hop"))
    if not WINDOW_RANGE[0] <= length <= WINDOW_RANGE[1]:
        raise refuse("window.length (seconds)", window.get("length"), *WINDOW_RANGE)
    if not 0.01 <= hop <= WINDOW_RANGE[1]:
        raise refuse("window.hop (seconds)", window.get("hop"), 0.01, WINDOW_RANGE[1])
    dim = config.get("embed_dim")
    if not (isinstance(dim, int) and not isinstance(dim, bool) and EMBED_DIM_RANGE[0] <= dim <= EMBED_DIM_RANGE[1]):
        raise refuse("embed_dim", dim, *EMBED_DIM_RANGE)
    for modality, spec in config["towers"].items():
        if not isinstance(spec, dict):
            raise ValueError(f"{config_path}: towers.{modality} must be an object")
        rate = number(spec.get("rate"))
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise refuse(f"towers.{modality}.rate (Hz)", spec.get("rate"), *RATE_RANGE)
        if length * rate > MAX_WINDOW_SAMPLES:
            raise ValueError(f"{config_path}: a {length:g} s window at towers.{modality}.rate {rate:g} Hz holds "
                             f"{length * rate:.3g} samples, more than the {MAX_WINDOW_SAMPLES} one window may hold")
        sizes = {"in_features": spec.get("in_features", 1), **(spec.get("params") or {})}
        for name, value in sizes.items():
            if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_PARAM:
                raise refuse(f"towers.{modality}.{'params.' if name != 'in_features' else ''}{name}", value, 0,
                             MAX_PARAM)


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
