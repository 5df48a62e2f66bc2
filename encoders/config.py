"""Encoder configs as types (open_clip's CLIPVisionCfg idea): what a checkpoint's `config.json`
says, read once, checked once, and then asked by attribute.

`EncoderConfig` is the whole document: the joint space (`embed_dim`, `space`), the window, one
`TowerConfig` per modality, the model family (`tokens`: a MoBind `TokenSettings` section, or
None for a clip-style joint model), the text tower, fusion and loss weights, and the provenance
record (`Provenance`, `trained_on`). `from_dict` / `to_dict` round-trip the JSON a checkpoint
holds, keys in the order they are written, so the shipped checkpoints load unchanged.

Every number is checked on construction against what any model here uses (window length and
hop, joint-space width, tower rates, the samples of one window, constructor sizes): a config may
come from elsewhere, and `embed_dim` 10^12 or a window of 10^9 s would otherwise end in a
MemoryError, or a machine swapping. `override` is the one place that says which options a
config to fine-tune keeps and which it may change; a contradiction raises `ConfigError`.

For readers that hold the JSON document (an index keeps it; query, ui and scripts read it), a
config also reads as a read-only mapping of that document: `config["embed_dim"]`.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from indexer.bodyparts import BODY_PARTS
from indexer.bounds import EMBED_DIM_RANGE, MAX_WINDOW_SAMPLES, RATE_RANGE, WINDOW_RANGE
from indexer.model import Modality
from indexer.windows import WindowSpec

FORMAT = "motionsearch-encoder/1"
MAX_PARAM = 1 << 16  # any whole-number constructor parameter of a tower (widths, layers, heads, ...)
FUSIONS = ("attention",)
CLIP, TOKENS = "clip", "tokens"  # the model families: a joint model (encoders.model), MoBind tokens (encoders.tokens)


class ConfigError(ValueError):
    """A config that cannot be, or an option that contradicts one; the message is one line."""


def _number(value) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _between(what: str, value, low, high) -> ConfigError:
    return ConfigError(f"{what} must be between {low:g} and {high:g}, got {value!r}")


def _window(raw, where: str = "window") -> WindowSpec:
    raw = raw if isinstance(raw, Mapping) else {}
    length, hop = _number(raw.get("length")), _number(raw.get("hop"))
    if not WINDOW_RANGE[0] <= length <= WINDOW_RANGE[1]:
        raise _between(f"{where}.length (seconds)", raw.get("length"), *WINDOW_RANGE)
    if not 0.01 <= hop <= WINDOW_RANGE[1]:
        raise _between(f"{where}.hop (seconds)", raw.get("hop"), 0.01, WINDOW_RANGE[1])
    return WindowSpec(raw["length"], raw["hop"])


def _window_dict(spec: WindowSpec) -> dict:
    return {"length": spec.length, "hop": spec.hop}


@dataclass(frozen=True)
class TowerConfig:
    """One modality's tower: its registered architecture (encoders.towers), input rate and
    features, constructor `params`, and what its input holds: IMU `channels` (and the share of
    sensor groups dropped in training), pose `joints` and `dims`, video frame `size`."""

    architecture: str
    rate: float
    in_features: int = 1
    params: dict = field(default_factory=dict)
    channels: tuple[str, ...] | None = None
    joints: tuple[str, ...] | None = None
    dims: int | None = None
    size: int | None = None
    channel_dropout: float | None = None
    extra: dict = field(default_factory=dict)  # keys this version does not read, written back as they came

    # the order the keys are written in (the shipped checkpoints' order)
    _ORDER = ("architecture", "rate", "channels", "joints", "dims", "size", "in_features", "channel_dropout", "params")

    @classmethod
    def from_dict(cls, raw, modality: Modality) -> TowerConfig:
        if not isinstance(raw, Mapping):
            raise ConfigError(f"towers.{modality} must be an object")
        if not isinstance(raw.get("architecture"), str):
            raise ConfigError(f"not a motionsearch encoder config (towers.{modality} names no architecture)")
        known = {k: raw[k] for k in cls._ORDER if k in raw}
        for key in ("channels", "joints"):
            if key in known:
                known[key] = tuple(known[key])
        if "params" in known and not isinstance(known["params"], Mapping):
            raise ConfigError(f"towers.{modality}.params must be an object")
        known["params"] = dict(known.get("params") or {})
        return cls(**known, extra={k: v for k, v in raw.items() if k not in cls._ORDER})

    def to_dict(self) -> dict:
        out = {}
        for key in self._ORDER:
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if key in ("channels", "joints") else dict(value) if key == "params" else value
        return {**out, **self.extra}

    def check(self, modality: Modality, window: WindowSpec) -> None:
        rate = _number(self.rate)
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise _between(f"towers.{modality}.rate (Hz)", self.rate, *RATE_RANGE)
        if window.length * rate > MAX_WINDOW_SAMPLES:
            raise ConfigError(f"a {window.length:g} s window at towers.{modality}.rate {rate:g} Hz holds "
                              f"{window.length * rate:.3g} samples, more than the {MAX_WINDOW_SAMPLES} one window "
                              "may hold")
        if self.channel_dropout is not None and not 0 <= _number(self.channel_dropout) < 1:
            raise ConfigError(f"towers.{modality}.channel_dropout: a probability in [0, 1), got {self.channel_dropout!r}")
        for name, value in {"in_features": self.in_features, **self.params}.items():
            if _whole(value) and not 0 <= value <= MAX_PARAM:
                where = name if name == "in_features" else f"params.{name}"
                raise _between(f"towers.{modality}.{where}", value, 0, MAX_PARAM)

    @property
    def groups(self) -> list[str]:
        """The IMU sensor groups the tower reads ("acc", "gyr", ...), in its order."""
        return list(dict.fromkeys(c.split("_")[0] for c in self.channels or ()))

    @property
    def group_columns(self) -> list[list[int]]:
        """Column indices of each sensor group the IMU tower reads."""
        return channel_groups(list(self.channels or ()))

    @property
    def dropout(self) -> float:
        """The share of sensor groups dropped per window in training (0 for towers trained without)."""
        return float(self.channel_dropout or 0.0)


@dataclass(frozen=True)
class TokenSettings:
    """The `tokens` section of a MoBind token model: token length, the body parts the skeleton
    is decomposed into, the masked share and the weights of its loss terms."""

    window: WindowSpec
    parts: tuple[str, ...]
    token_seconds: float = 0.2
    mask_ratio: float = 0.15
    loss_weights: dict = field(default_factory=dict)
    architecture: str = "mobind"

    @classmethod
    def from_dict(cls, raw) -> TokenSettings:
        if not isinstance(raw, Mapping) or not raw.get("parts"):
            raise ConfigError("tokens must be an object naming its body parts")
        return cls(_window(raw.get("window"), "tokens.window"), tuple(raw["parts"]), raw.get("token_seconds", 0.2),
                   raw.get("mask_ratio", 0.15), dict(raw.get("loss_weights") or {}), raw.get("architecture", "mobind"))

    def to_dict(self) -> dict:
        return {"architecture": self.architecture, "token_seconds": self.token_seconds,
                "window": _window_dict(self.window), "parts": list(self.parts), "mask_ratio": self.mask_ratio,
                "loss_weights": dict(self.loss_weights)}


@dataclass(frozen=True)
class Provenance:
    """What a checkpoint was trained on (`trained_on`): the data (`source` and its facts: folders
    or archive, selection, windows, labels, ...), then the run (init, schedule, seed, final loss),
    in the order written."""

    facts: dict = field(default_factory=dict)

    @classmethod
    def of(cls, data: Mapping, run: Mapping | None = None) -> Provenance:
        return cls({**data, **(run or {})})

    def to_dict(self) -> dict:
        return dict(self.facts)

    @property
    def subjects(self) -> set[str]:
        return {s for s in self.facts.get("subjects", []) if s}

    @property
    def labels(self) -> set[str]:
        return set(self.facts.get("labels", []))

    @property
    def init(self) -> str | None:
        return self.facts.get("init")


@dataclass(frozen=True, eq=True)
class EncoderConfig(Mapping):
    """A checkpoint's config (see the module doc). `family` says which model it builds."""

    name: str
    embed_dim: int
    window: WindowSpec
    towers: dict[str, TowerConfig]
    space: str = "imu-pose"
    logit_scale_init: float | None = None
    text: dict | None = None  # the frozen text tower's spec (encoders.text), for text-aligned models
    fusion: dict | None = None  # the sensor-fusion section (encoders.fusion)
    loss_weights: dict | None = None  # text-aligned training's loss weights (encoders.tasks)
    tokens: TokenSettings | None = None  # MoBind token models only
    train_seconds: float | None = None
    trained_on: Provenance | None = None
    format: str = FORMAT
    extra: dict = field(default_factory=dict)  # top-level keys this version does not read, kept

    def __post_init__(self):
        dim = self.embed_dim
        if not (_whole(dim) and EMBED_DIM_RANGE[0] <= dim <= EMBED_DIM_RANGE[1]):
            raise _between("embed_dim", dim, *EMBED_DIM_RANGE)
        if not self.towers:
            raise ConfigError("not a motionsearch encoder config (no `towers`)")
        _window(_window_dict(self.window))
        for modality, tower in self.towers.items():
            tower.check(modality, self.window)

    # ---- JSON ------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw, source: str = "") -> EncoderConfig:
        """The config of a JSON document; ConfigError in one line naming `source` when it is not one."""
        try:
            return cls._from_dict(raw)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None

    @classmethod
    def _from_dict(cls, raw) -> EncoderConfig:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("towers"), Mapping) or not raw["towers"]:
            raise ConfigError("not a motionsearch encoder config (no `towers`)")
        window = _window(raw.get("window"))
        dim = raw.get("embed_dim")
        if not (_whole(dim) and EMBED_DIM_RANGE[0] <= dim <= EMBED_DIM_RANGE[1]):
            raise _between("embed_dim", dim, *EMBED_DIM_RANGE)
        towers = {m: TowerConfig.from_dict(t, m) for m, t in raw["towers"].items()}
        for modality, tower in towers.items():
            tower.check(modality, window)
        tokens = TokenSettings.from_dict(raw["tokens"]) if raw.get("tokens") is not None else None
        trained = Provenance(dict(raw["trained_on"])) if isinstance(raw.get("trained_on"), Mapping) else None
        known = {"name", "embed_dim", "window", "towers", "space", "logit_scale_init", "text", "fusion",
                 "loss_weights", "tokens", "train_seconds", "trained_on", "format"}
        return cls(name=raw.get("name", ""), embed_dim=dim, window=window, towers=towers,
                   space=raw.get("space", "imu-pose"), logit_scale_init=raw.get("logit_scale_init"),
                   text=_copy(raw.get("text")), fusion=_copy(raw.get("fusion")),
                   loss_weights=_copy(raw.get("loss_weights")), tokens=tokens,
                   train_seconds=raw.get("train_seconds"), trained_on=trained, format=raw.get("format", FORMAT),
                   extra={k: v for k, v in raw.items() if k not in known})

    def to_dict(self) -> dict:
        """The JSON document, keys in the order checkpoints are written."""
        out: dict[str, Any] = {"format": self.format, "name": self.name, "embed_dim": self.embed_dim,
                               "space": self.space, "window": _window_dict(self.window)}
        if self.logit_scale_init is not None:
            out["logit_scale_init"] = self.logit_scale_init
        out["towers"] = {m: t.to_dict() for m, t in self.towers.items()}
        for key in ("fusion", "text", "loss_weights"):
            if getattr(self, key) is not None:
                out[key] = _copy(getattr(self, key))
        if self.tokens is not None:
            out["tokens"] = self.tokens.to_dict()
        if self.train_seconds is not None:
            out["train_seconds"] = self.train_seconds
        if self.trained_on is not None:
            out["trained_on"] = self.trained_on.to_dict()
        return {**out, **_copy(self.extra)}

    @classmethod
    def of(cls, config: EncoderConfig | Mapping, source: str = "") -> EncoderConfig:
        """`config` as an EncoderConfig (a JSON document is read with `from_dict`)."""
        return config if isinstance(config, EncoderConfig) else cls.from_dict(config, source)

    # ---- the JSON document as a read-only mapping ------------------------------------------
    @cached_property
    def _document(self) -> dict:
        return self.to_dict()

    def __getitem__(self, key: str):
        return self._document[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._document)

    def __len__(self) -> int:
        return len(self._document)

    __hash__ = None  # its sections are dicts

    # ---- what the code asks -----------------------------------------------------------------
    @property
    def family(self) -> str:
        """CLIP (one vector per window, encoders.model) or TOKENS (MoBind, encoders.tokens)."""
        return CLIP if self.tokens is None else TOKENS

    @property
    def is_tokens(self) -> bool:
        return self.tokens is not None

    @property
    def modalities(self) -> list[str]:
        return list(self.towers)

    def embeds(self, query: str | None) -> bool:
        """Whether this encoder embeds a query of this kind: "text" (it has a text tower),
        "tokens" (a MoBind token model), a modality (it has that tower), or None (any)."""
        if query is None:
            return True
        if query == "text":
            return bool(self.text)
        if query == "tokens":
            return self.is_tokens
        return query in self.towers

    @property
    def rates(self) -> dict[str, float]:
        return {m: float(t.rate) for m, t in self.towers.items()}

    @property
    def imu(self) -> TowerConfig | None:
        return self.towers.get("imu")

    @property
    def pose(self) -> TowerConfig | None:
        return self.towers.get("pose")

    @property
    def video(self) -> TowerConfig | None:
        return self.towers.get("video")

    @property
    def channel_dropout(self) -> float:
        return self.imu.dropout if self.imu is not None else 0.0

    @property
    def pose_dims(self) -> int:
        return int(self.pose.dims or 3) if self.pose is not None else 3

    @property
    def text_architecture(self) -> str | None:
        return self.text.get("architecture") if self.text else None

    @property
    def subjects(self) -> set[str]:
        """The subjects it was trained on (none recorded: empty)."""
        return self.trained_on.subjects if self.trained_on else set()

    def replace(self, **changes) -> EncoderConfig:
        return replace(self, **changes)

    def with_tower(self, modality: Modality, **changes) -> EncoderConfig:
        return replace(self, towers={**self.towers, modality: replace(self.towers[modality], **changes)})

    def without_tower(self, modality: Modality) -> EncoderConfig:
        """This config reading no `modality` windows (a bench scoring the IMU alone)."""
        return replace(self, towers={m: t for m, t in self.towers.items() if m != modality})

    def for_training(self) -> EncoderConfig:
        """This config without what its last training recorded (the start of a fine-tuning)."""
        return replace(self, trained_on=None, train_seconds=None)

    def expect(self, family: str, origin: str) -> EncoderConfig:
        """This config, or ConfigError when it builds the other `family` of model."""
        if self.family != family:
            kind = "a MoBind token checkpoint" if self.is_tokens else "a clip-level checkpoint"
            other = "train-tokens" if self.is_tokens else "train"
            raise ConfigError(f"{origin}: {kind}; fine-tune it with `python -m encoders {other} --init`")
        return self

    # ---- fine-tuning: what a config keeps, what it may change -------------------------------
    def override(self, origin: str = "", **options) -> EncoderConfig:
        """A new config with `options` (the training options, by their CLI names: arch, dim,
        window, hop, imu_channels, text_tower, video_encoder, tower_params, channel_dropout,
        loss_weights, fusion; for token models width, layers, heads, pose_dims, parts, weights,
        mask_ratio) applied. An option left None keeps the config's value; one naming what the
        config fixes (its architecture, sizes, window, channels, text tower) must agree with
        it, else ConfigError says which (`origin` names the config in the message)."""
        origin = origin or f"config {self.name}"
        given = {k: v for k, v in options.items() if v is not None}
        unknown = set(given) - (_TOKEN_OPTIONS if self.is_tokens else _CLIP_OPTIONS)
        if unknown:
            raise ConfigError(f"{', '.join('--' + k.replace('_', '-') for k in sorted(unknown))}: not an option "
                              f"of a {self.family} config")
        for option, (kept, what) in self._fixed().items():
            if option in given and _shown(given[option]) != _shown(kept):
                flag = "--" + option.replace("_", "-")
                raise ConfigError(f"{flag} {_shown(given[option])} contradicts {origin}, whose {what} is "
                                  f"{_shown(kept)}; drop {flag}")
        if "tower_params" in given:
            raise ConfigError(f"--tower-params contradicts {origin}: the towers come from the checkpoint")
        video = given.get("video_encoder")
        if video not in (None, "none") and video != (self.video.architecture if self.video else None):
            raise ConfigError(f"--video-encoder {video} contradicts {origin}, which has "
                              f"{self.video.architecture if self.video else 'no video tower'}")
        out = self
        if "channel_dropout" in given:
            dropout = float(given["channel_dropout"])
            if not 0 <= dropout < 1:
                raise ConfigError(f"--channel-dropout: a probability in [0, 1), got {dropout}")
            out = out.with_tower("imu", channel_dropout=dropout)
        if self.is_tokens:
            tok = replace(self.tokens, loss_weights={**self.tokens.loss_weights, **given.get("weights", {})},
                          mask_ratio=given.get("mask_ratio", self.tokens.mask_ratio))
            return replace(out, tokens=tok)
        if "loss_weights" in given:
            out = replace(out, loss_weights={**(self.loss_weights or {}), **given["loss_weights"]})
        if given.get("fusion") not in (None, "none") and self.fusion is None:
            out = replace(out, fusion=fusion_spec(given["fusion"]))
        return out

    def _fixed(self) -> dict[str, tuple[Any, str]]:
        """Per option, what the config fixes and what to call it."""
        if self.is_tokens:
            params = self.imu.params
            return {"dim": (self.embed_dim, "vector dimension"), "width": (params.get("dim"), "Transformer width"),
                    "layers": (params.get("layers"), "layer count"), "heads": (params.get("heads"), "head count"),
                    "window": (self.tokens.window.length, "window length"), "hop": (self.tokens.window.hop, "hop"),
                    "pose_dims": (self.pose_dims, "pose dimension"), "parts": (list(self.tokens.parts), "body-part list")}
        fixed = {"text_tower": (self.text_architecture, "text tower"), "arch": (self.imu.architecture, "architecture"),
                 "window": (self.window.length, "window length"), "hop": (self.window.hop, "hop"),
                 "imu_channels": (self.imu.groups, "IMU channel list")}
        if not self.text:  # a text-aligned space takes the text tower's width
            fixed["dim"] = (self.embed_dim, "joint-space dimension")
        return fixed


_CLIP_OPTIONS = {"arch", "dim", "window", "hop", "imu_channels", "text_tower", "video_encoder", "tower_params",
                 "channel_dropout", "loss_weights", "fusion"}
_TOKEN_OPTIONS = {"dim", "width", "layers", "heads", "window", "hop", "pose_dims", "parts", "weights", "mask_ratio",
                  "channel_dropout"}


def channel_groups(channels: list[str]) -> list[list[int]]:
    """Column indices of `channels` per sensor group (acc_x, acc_y, acc_z -> one group), in order."""
    out: dict[str, list[int]] = {}
    for i, c in enumerate(channels):
        out.setdefault(c.split("_")[0], []).append(i)
    return list(out.values())


def _shown(value) -> Any:
    """An option's value as a message shows it (lists comma-joined, whole floats as given)."""
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return value


def _copy(value):
    """A deep copy of a JSON value (sections are shared with no caller)."""
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def fusion_spec(architecture: str = "attention", hidden: int = 128, weight: float = 1.0) -> dict:
    """The `fusion` section of a config (encoders.fusion). `weight` multiplies the IMU loss
    weights for the fused terms (fused-text, fused-pose, fused-video)."""
    if architecture not in FUSIONS:
        raise ConfigError(f"unknown fusion {architecture!r}; known: {', '.join(FUSIONS)}")
    return {"architecture": architecture, "parts": list(BODY_PARTS), "hidden": int(hidden), "weight": float(weight)}
