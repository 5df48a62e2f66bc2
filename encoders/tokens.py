"""MoBind token encoders: one vector per 0.2 s of motion, plus one per window.

A tower is a 1-D conv stack over the raw samples (local dynamics), a patching conv that cuts
the sequence into 0.2 s patches (one token each), and a small Transformer over the tokens
(context across the window). It emits unit-norm token vectors (B, n_tokens, d) and a window
vector (B, d) pooled from them. There is one tower for IMUs and one for pose parts (a chain's
joints relative to its root plus velocities, see `encoders.part_features`); both are shared
by all body parts, so the motion itself, not a part label, decides which part an IMU matches.
A small pooling head per modality turns the part vectors of one recording into a full-body
vector (a recording with several IMUs against the same parts of the skeleton).

MoBind's towers are d=256 with 4 Transformer layers; `default_token_config` keeps those as
defaults, and the CPU runs in docs/temporal.md use smaller ones (they say which).

A token checkpoint is an ordinary checkpoint folder (model.safetensors + config.json) whose
config has a "tokens" section; `encoders.factory.load_checkpoint` loads such folders into a
`TokenEncoder`, and `indexer build` then also writes the token vectors.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from encoders.checkpoint import CheckpointView
from encoders.config import EncoderConfig, TokenSettings, TowerConfig
from encoders.cutting import WindowCutter, split_pose_parts
from encoders.losses import LOGIT_SCALE_INIT
from encoders.nets import length_mask, masked_mean
from encoders.part_features import (
    DEFAULT_PARTS,
    part_for_placement,
    pose_part_feature_count,
    pose_part_features,
    project_2d,
)
from encoders.towers import build_tower, register
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.embedder import EmbeddedWindow
from indexer.errors import BadInput
from indexer.model import Modality, Recording
from indexer.units import IMU6_CHANNELS
from indexer.windows import Window, WindowSpec

TOKEN_SECONDS = 0.2


@register("token_transformer")
class TokenTower(nn.Module):
    """(B, T, F) samples -> token vectors (B, T // patch, d) and a window vector (B, d).

    `mask` (B, n_tokens) replaces the chosen patches by a learned mask token before the
    Transformer (masked token prediction); `recon` then predicts those patches' normalised
    input from their context.
    """

    def __init__(self, in_features: int, embed_dim: int, patch: int, groups: int = 2, dim: int = 256,
                 layers: int = 4, heads: int = 4, conv_width: int = 64, conv_layers: int = 3,
                 kernel: int = 5, max_tokens: int = 64, dropout: float = 0.1):
        super().__init__()
        self.patch = patch
        self.max_tokens = max_tokens
        self.norm = nn.GroupNorm(groups, in_features)
        chans = [in_features] + [conv_width] * conv_layers
        self.convs = nn.ModuleList(nn.Conv1d(chans[i], chans[i + 1], kernel, padding=kernel // 2)
                                   for i in range(conv_layers))
        self.patchify = nn.Conv1d(chans[-1], dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.randn(1, max_tokens, dim) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(dim)
        self.token_head = nn.Linear(dim, embed_dim)
        self.window_head = nn.Linear(dim, embed_dim)
        self.recon = nn.Linear(dim, patch * in_features)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
        b, t, f = x.shape
        n = t // self.patch
        if n < 1 or t != n * self.patch:
            raise ValueError(f"input of {t} samples is not a whole number of {self.patch}-sample tokens")
        if n > self.max_tokens:
            raise ValueError(f"{n} tokens exceed the tower's {self.max_tokens}; embed shorter windows")
        sample_mask = length_mask(valid, t)
        keep = sample_mask[:, None, :].to(x.dtype)
        normed = self._masked_group_norm(x.transpose(1, 2), keep)  # (B, F, T)
        h = normed
        for conv in self.convs:  # re-zero the padding so that it never leaks into real samples
            h = F.gelu(conv(h)) * keep
        h = self.patchify(h).transpose(1, 2)  # (B, n, dim)
        if mask is not None:
            h = torch.where(mask[..., None], self.mask_token.to(h.dtype), h)
        h = h + self.pos[:, :n]
        token_valid = length_mask(torch.div(valid + self.patch - 1, self.patch, rounding_mode="floor").clamp(1, n), n)
        h = self.out_norm(self.encoder(h, src_key_padding_mask=~token_valid))
        tokens = F.normalize(self.token_head(h), dim=-1)
        window = F.normalize(self.window_head(masked_mean(h, token_valid)), dim=-1)
        target = normed.transpose(1, 2).reshape(b, n, self.patch * f)
        return {"tokens": tokens, "window": window, "token_valid": token_valid, "hidden": h,
                "recon": self.recon(h), "recon_target": target}

    def _masked_group_norm(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """GroupNorm whose statistics ignore padded samples (a short clip padded to the window
        embeds like the clip itself); uses `self.norm`'s affine parameters."""
        b, f, t = x.shape
        g = self.norm.num_groups
        xg = x.reshape(b, g, f // g, t)
        m = keep[:, None]  # (B, 1, 1, T)
        count = (m.sum(-1, keepdim=True) * (f // g)).clamp_min(1.0)
        mean = (xg * m).sum((2, 3), keepdim=True) / count
        var = (((xg - mean) * m) ** 2).sum((2, 3), keepdim=True) / count
        out = ((xg - mean) / torch.sqrt(var + self.norm.eps)).reshape(b, f, t)
        return (out * self.norm.weight[None, :, None] + self.norm.bias[None, :, None]) * keep


class BodyPool(nn.Module):
    """Part window vectors of one recording -> one full-body vector. Each part vector gets its
    part's embedding, present parts are averaged, a small MLP maps the mean."""

    def __init__(self, n_parts: int, embed_dim: int):
        super().__init__()
        self.part_embed = nn.Embedding(n_parts, embed_dim)
        self.mlp = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.GELU(), nn.Linear(embed_dim, embed_dim))

    def forward(self, vecs: torch.Tensor, part_ids: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """vecs (B, P, d), part_ids (B, P) long, present (B, P) bool -> (B, d) unit-norm."""
        h = vecs + self.part_embed(part_ids)
        return F.normalize(self.mlp(masked_mean(h, present)), dim=-1)


def default_token_config(embed_dim: int = 256, dim: int = 256, layers: int = 4, heads: int = 4,
                         window: float = 2.0, hop: float = 0.2, imu_rate: float = 50.0,
                         pose_rate: float = 25.0, pose_dims: int = 3, parts: list[str] | None = None,
                         conv_width: int = 64, loss_weights: dict | None = None, mask_ratio: float = 0.15,
                         channel_dropout: float = 0.0, dropout: float = 0.1) -> EncoderConfig:
    """A MoBind IMU + pose-part token config. With `channel_dropout` > 0 the IMU tower is
    trained with whole sensor groups zeroed at random (encoders.channels), so it also reads
    accelerometer-only streams (gyroscope zero-filled)."""
    if not 0 <= channel_dropout < 1:
        raise ValueError(f"channel dropout is a probability in [0, 1), got {channel_dropout}")
    for name, rate in (("IMU", imu_rate), ("pose", pose_rate)):
        if abs(rate * TOKEN_SECONDS - round(rate * TOKEN_SECONDS)) > 1e-9:
            raise ValueError(f"{name} rate {rate} Hz does not give a whole number of samples per 0.2 s token")
    if abs(window / TOKEN_SECONDS - round(window / TOKEN_SECONDS)) > 1e-9:
        raise ValueError(f"window length {window} s is not a whole number of 0.2 s tokens")
    if pose_dims not in (2, 3):
        raise ValueError(f"pose_dims must be 2 or 3, got {pose_dims}")
    parts = list(parts or DEFAULT_PARTS)
    for p in parts:
        part_for_placement(p, parts)  # every part needs a chain
    n_tokens = int(round(window / TOKEN_SECONDS))
    params = {"dim": dim, "layers": layers, "heads": heads, "conv_width": conv_width,
              "max_tokens": max(64, 2 * n_tokens), "dropout": float(dropout)}
    imu = TowerConfig("token_transformer", imu_rate, len(IMU6_CHANNELS), {"groups": 2, **params},
                      channels=tuple(IMU6_CHANNELS), channel_dropout=float(channel_dropout))
    pose = TowerConfig("token_transformer", pose_rate, pose_part_feature_count(pose_dims), {"groups": 2, **params},
                       joints=tuple(CANONICAL_JOINTS), dims=pose_dims)
    tokens = TokenSettings(WindowSpec(window, hop), tuple(parts), TOKEN_SECONDS, mask_ratio,
                           dict(loss_weights or {"token": 1.0, "window": 1.0, "body": 0.5, "masked": 0.5}))
    return EncoderConfig(name=f"mobind-tokens-d{embed_dim}-{pose_dims}d", embed_dim=embed_dim,
                         window=WindowSpec(window, hop), towers={"imu": imu, "pose": pose}, space="imu-pose-parts",
                         logit_scale_init=LOGIT_SCALE_INIT, tokens=tokens)


class TokenModel(nn.Module):
    """The IMU tower, the pose-part tower, their full-body pooling heads and temperatures."""

    def __init__(self, config: EncoderConfig | dict):
        super().__init__()
        self.config = config = EncoderConfig.of(config)
        tok, e = config.tokens, config.embed_dim
        self.towers = nn.ModuleDict({  # a token is token_seconds of samples at the tower's rate
            m: build_tower(spec, e, patch=int(round(tok.token_seconds * spec.rate)))
            for m, spec in config.towers.items()
        })
        self.body = nn.ModuleDict({m: BodyPool(len(tok.parts), e) for m in config.towers})
        init = float(LOGIT_SCALE_INIT if config.logit_scale_init is None else config.logit_scale_init)
        self.logit_scales = nn.ParameterDict({k: nn.Parameter(torch.tensor(init)) for k in ("token", "window", "body")})

    def forward(self, modality: Modality, x: torch.Tensor, valid: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
        return self.towers[modality](x, valid, mask)


def token_spans(t_start: float, n_tokens: int, t_end: float | None = None,
                token_seconds: float = TOKEN_SECONDS) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) in seconds of a window's tokens: token j covers
    [t_start + j * 0.2, t_start + (j + 1) * 0.2), the last one cut at the window's true end."""
    starts = t_start + token_seconds * np.arange(n_tokens)
    ends = starts + token_seconds
    if t_end is not None:
        ends = np.minimum(ends, t_end)
    return np.round(starts, 6), np.round(ends, 6)


def owned_tokens(window_starts: list[float], window_ends: list[float], n_valid: list[int],
                 token_seconds: float = TOKEN_SECONDS) -> list[np.ndarray]:
    """For overlapping windows, which of each window's tokens to keep so that every moment is
    covered once: a token belongs to the window whose centre is nearest to it (the window that
    sees the most context around it). Returns one boolean array per window."""
    # Rounded so that the same moment seen from two windows compares equal: a tie must go to
    # exactly one of them.
    centres = np.round([(s + e) / 2 for s, e in zip(window_starts, window_ends)], 6)
    out = []
    for k, (s, n) in enumerate(zip(window_starts, n_valid)):
        mid = np.round(s + token_seconds * (np.arange(n) + 0.5), 6)
        nearest = np.argmin(np.abs(mid[:, None] - centres[None, :]), axis=1)  # ties: the earlier window
        out.append(nearest == k)
    return out


@dataclass
class TokenEncoder(CheckpointView):
    """A loaded token checkpoint. Quacks like `encoders.model.Encoder` (id, modalities,
    window, rates, encode) so builds and searches use it unchanged, and adds token output."""

    model: TokenModel
    config: EncoderConfig
    checksum: str
    source: str = ""
    has_tokens = True

    @property
    def token_seconds(self) -> float:
        return float(self.config.tokens.token_seconds)

    @property
    def parts(self) -> list[str]:
        return list(self.config.tokens.parts)

    @property
    def pose_dims(self) -> int:
        return self.config.pose_dims

    @property
    def imu_channels(self) -> list[str]:
        return list(self.config.imu.channels)

    def part_of(self, placement: str) -> str:
        return part_for_placement(placement, self.parts)

    # ---- windows -> tower inputs ------------------------------------------------------------
    def pose_input(self, canonical: np.ndarray, part: str, valid: int | None = None) -> np.ndarray:
        """(T, 16, D) canonical window -> the pose tower's features for `part`."""
        dims = canonical.shape[-1]
        if dims == 3 and self.pose_dims == 2:
            canonical = project_2d(canonical)  # a 2-D tower reads 3-D mocap as a front view
        elif dims != self.pose_dims:
            raise BadInput("pose stream", f"the encoder's pose tower reads {self.pose_dims}-D pose; this "
                                          f"stream is {dims}-D (train a {dims}-D one with "
                                          f"`python -m encoders train-tokens --pose-dims {dims}`)")
        return pose_part_features(canonical, part, self.rates["pose"], valid)

    def part_windows(self, windows: list[Window]) -> list[Window]:
        """Pose windows of the whole skeleton ("all") -> one window per configured body part, so
        an IMU window can be matched against the chain it moves with."""
        return split_pose_parts(windows, self.parts)

    def _inputs(self, windows: list[Window]) -> tuple[str, np.ndarray, np.ndarray]:
        modality = windows[0].modality
        if any(w.modality != modality for w in windows):
            raise ValueError("encode windows of one modality at a time")
        if modality == "imu":
            x = np.stack([np.asarray(w.data, np.float32) for w in windows])
        elif modality == "pose":
            x = np.stack([self.pose_input(w.data, w.body_part if w.body_part != "all" else self.parts[0], w.valid)
                          for w in windows])
        else:
            raise ValueError(f"the token encoder has no {modality!r} tower")
        return modality, x, np.array([max(1, w.valid) for w in windows], dtype=np.int64)

    @torch.no_grad()
    def encode_full(self, windows: list[Window], batch: int = 256) -> dict:
        """Window vectors (N, d), token vectors (N, n, d) and token validity (N, n) for windows
        of one modality. Pose windows are read as the part named in their `body_part`."""
        self.model.eval()
        if not windows:
            e = self.config.embed_dim
            return {"window": np.zeros((0, e), np.float32), "tokens": np.zeros((0, 0, e), np.float32),
                    "token_valid": np.zeros((0, 0), bool)}
        modality, x, valid = self._inputs(windows)
        tower = self.model.towers[modality]
        pad = (-x.shape[1]) % tower.patch  # a window cut at a rate that leaves a partial token
        if pad:
            x = np.concatenate([x, np.zeros((x.shape[0], pad) + x.shape[2:], np.float32)], axis=1)
        outs = [self.model(modality, torch.from_numpy(x[i : i + batch]), torch.from_numpy(valid[i : i + batch]))
                for i in range(0, len(x), batch)]
        return {k: torch.cat([o[k] for o in outs]).numpy() for k in ("window", "tokens", "token_valid")}

    def cut_windows(self, rec: Recording) -> list[Window]:
        """The build's Embedder protocol, step 1. Unlike a clip encoder a token encoder reads a
        skeleton part by part: each pose window becomes one window per configured body part
        (right arm, left arm, ...), so that an IMU window can be matched with the chain it moves
        with. IMU channels are put in the order the tower reads."""
        return self.window_cutter()(rec)

    def window_cutter(self) -> WindowCutter:
        """`cut_windows` without the model, for the build's worker processes."""
        return WindowCutter(self.config, tuple(self.parts))

    def embed_windows(self, per_recording: list[list[Window]]) -> list[list[EmbeddedWindow]]:
        """Step 2, batched across recordings. Every window also carries its 0.2 s token vectors;
        of a recording's overlapping windows, each token is kept from the one window that saw it
        with the most context (`owned_tokens`), so every moment of a stream is stored once."""
        out: list[list[EmbeddedWindow]] = [[] for _ in per_recording]
        for modality in self.modalities:
            parts = sorted({w.body_part for ws in per_recording for w in ws if w.modality == modality})
            for part in parts:
                groups = [[w for w in ws if w.modality == modality and w.body_part == part] for ws in per_recording]
                full = self.encode_full([w for g in groups for w in g])
                n_valid = full["token_valid"].sum(axis=1).astype(int)
                first = 0
                for rec_out, group in zip(out, groups):
                    mine = slice(first, first + len(group))
                    first += len(group)
                    keep = owned_tokens([w.t_start for w in group], [w.t_end for w in group], list(n_valid[mine]),
                                        self.token_seconds)
                    for w, vec, toks, n, own in zip(group, full["window"][mine], full["tokens"][mine], n_valid[mine], keep):
                        starts, ends = token_spans(w.t_start, int(n), w.t_end, self.token_seconds)
                        rec_out.append(EmbeddedWindow(modality, part, w.t_start, w.t_end, vec,
                                                      [(starts[j], ends[j], toks[j]) for j in np.flatnonzero(own)]))
        return out

    def encode(self, windows: list[Window]) -> np.ndarray:
        """Window vectors, as `Encoder.encode`. A whole-skeleton pose window ("all") gets the
        full-body vector pooled over all configured parts."""
        if not windows:
            return np.zeros((0, self.config.embed_dim), np.float32)
        if windows[0].modality == "pose" and any(w.body_part == "all" for w in windows):
            return self.encode_body(windows)
        return self.encode_full(windows)["window"]

    @torch.no_grad()
    def encode_body(self, windows: list[Window]) -> np.ndarray:
        """Full-body vectors of whole-skeleton pose windows: every part, pooled."""
        parts = self.parts
        per_part = self.encode_full([replace(w, body_part=p) for w in windows for p in parts])["window"]
        vecs = torch.from_numpy(per_part.reshape(len(windows), len(parts), -1))
        ids = torch.arange(len(parts)).expand(len(windows), -1)
        present = torch.ones(len(windows), len(parts), dtype=torch.bool)
        return self.model.body["pose"](vecs, ids, present).numpy()

