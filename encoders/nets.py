"""Signal encoder architectures (IMU and pose windows), registered in encoders.towers. Each maps
(batch, time, features) plus valid lengths to a unit-norm vector. Also the masking helpers every
tower shares, and `Ensemble`: several towers of one architecture read as one (encoders.ensemble).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from encoders.conditioning import FRAMES, PlacementFilm, facing_frame, gravity_frame, heading_frame, uniform_bones
from encoders.features import pose_feature_count
from encoders.towers import TOWERS, register


def length_mask(valid: torch.Tensor, steps: int) -> torch.Tensor:
    """(batch, steps) True where a step holds real (not padded) data."""
    return torch.arange(steps, device=valid.device)[None, :] < valid[:, None]


class SensorGroupNorm(nn.Module):
    """GroupNorm over sensor groups of unequal size (a quaternion has 4 channels, the others 3):
    each group of channels normalised on its own, then a per-channel affine map. Same
    parameter names as nn.GroupNorm, which it equals when the sizes agree."""

    def __init__(self, sizes: list[int], eps: float = 1e-5):
        super().__init__()
        self.sizes = list(sizes)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(sum(sizes)))
        self.bias = nn.Parameter(torch.zeros(sum(sizes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        parts = [F.group_norm(p, 1, eps=self.eps) for p in torch.split(x, self.sizes, dim=1)]
        return torch.cat(parts, 1) * self.weight[None, :, None] + self.bias[None, :, None]


def sensor_norm(in_features: int, groups: int, group_sizes: list[int] | None = None) -> nn.Module:
    """GroupNorm with one group per sensor type (IMU2CLIP); `group_sizes` when they differ."""
    if group_sizes and len(set(group_sizes)) > 1:
        if sum(group_sizes) != in_features:
            raise ValueError(f"group sizes {group_sizes} do not add up to {in_features} features")
        return SensorGroupNorm(group_sizes)
    return nn.GroupNorm(groups, in_features)


POSE_ONLY = ("facing", "body")  # the frames of a pose tower (encoders.conditioning)


class ImuInput(nn.Module):
    """The input end every signal tower shares: optionally the mounting-free gravity frame
    (encoders.conditioning) in place of the raw sensor axes, or for a pose tower the facing
    frame (the skeleton turned to face one way) or the body frame (that, on one body), then
    GroupNorm per sensor group. Holds no weights of its own: the norm stays the tower's `norm`,
    as in checkpoints written before the gravity frame existed."""

    def __init__(self, in_features: int, frame: str, rate: float | None):
        super().__init__()
        if frame not in FRAMES and frame not in POSE_ONLY:
            raise ValueError(f"tower param frame must be one of {', '.join(map(repr, [*FRAMES, *POSE_ONLY]))}, "
                             f"got {frame!r}")
        if frame not in ("sensor", *POSE_ONLY) and (in_features != 6 or not rate):
            raise ValueError(f"frame {frame!r} reads acc + gyr (6 channels) and needs the tower's rate")
        if frame in POSE_ONLY and in_features != pose_feature_count(3):
            raise ValueError(f"frame {frame!r} reads 3-D canonical joints ({pose_feature_count(3)} features), "
                             f"got {in_features}")
        self.frame, self.rate = frame, rate
        self.features = FRAMES.get(frame) or in_features

    def norm(self, in_features: int, groups: int, group_sizes: list[int] | None) -> nn.Module:
        # the gravity features are scaled to order 1 already: a per-window norm would erase their amplitude
        return nn.Identity() if self.frame not in ("sensor", *POSE_ONLY) else sensor_norm(in_features, groups, group_sizes)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, norm: nn.Module) -> torch.Tensor:  # (B, T, C) -> (B, C', T)
        if self.frame == "gravity":
            x = gravity_frame(x, valid, self.rate)
        elif self.frame == "heading":
            x = heading_frame(x, valid, self.rate)
        elif self.frame in POSE_ONLY:
            x = facing_frame(x, valid)
            if self.frame == "body":
                x = uniform_bones(x, valid)
        return norm(x.transpose(1, 2))


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over time (dim 1) of (batch, time, d), ignoring padded steps."""
    w = mask.to(x.dtype).unsqueeze(-1)
    return (x * w).sum(1) / w.sum(1).clamp_min(1.0)


@register("cnn_gru")
class CnnGru(nn.Module):
    """IMU2CLIP's signal encoder: GroupNorm over sensor groups, three Conv1d + max-pool
    stages, a GRU over the pooled sequence, a linear head onto the joint space.

    Padded steps are excluded from the temporal pooling, so a short clip padded to the window
    length embeds like the clip itself.
    """

    def __init__(self, in_features: int, embed_dim: int, groups: int = 1, width: int = 64,
                 hidden: int = 128, kernel: int = 5, dropout: float = 0.1, group_sizes: list[int] | None = None,
                 frame: str = "sensor", rate: float | None = None, placement: bool = False):
        super().__init__()
        self.input = ImuInput(in_features, frame, rate)
        self.norm = self.input.norm(in_features, groups, group_sizes)
        chans = [self.input.features, width, width * 2, width * 2]
        self.convs = nn.ModuleList(
            nn.Conv1d(chans[i], chans[i + 1], kernel, padding=kernel // 2) for i in range(3)
        )
        self.gru = nn.GRU(chans[-1], hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, embed_dim)
        self.placement = PlacementFilm(width, 2 * hidden) if placement else None

    def forward(self, x: torch.Tensor, valid: torch.Tensor, place: torch.Tensor | None = None) -> torch.Tensor:
        h = self.input(x, valid, self.norm)  # (B, C, T)
        for i, conv in enumerate(self.convs):
            h = conv(h)
            if i == 0 and self.placement is not None and place is not None:
                h = self.placement.modulate(h, place)
            h = F.max_pool1d(F.relu(h), 2, ceil_mode=True)
            valid = torch.div(valid + 1, 2, rounding_mode="floor")
        h, _ = self.gru(h.transpose(1, 2))
        pooled = masked_mean(h, length_mask(valid.clamp_min(1), h.shape[1]))
        if self.placement is not None and place is not None:
            pooled = self.placement.shift(pooled, place)
        return F.normalize(self.head(self.drop(pooled)), dim=-1)


@register("patch_transformer")
class PatchTransformer(nn.Module):
    """AURA-MFM's signal encoder: Conv1d patch embedding, a CLS token, a Transformer encoder.
    Padded patches are masked out of attention."""

    def __init__(self, in_features: int, embed_dim: int, groups: int = 1, dim: int = 192,
                 layers: int = 6, heads: int = 6, patch: int = 10, max_patches: int = 256,
                 dropout: float = 0.1, group_sizes: list[int] | None = None, frame: str = "sensor",
                 rate: float | None = None, placement: bool = False):
        super().__init__()
        self.patch = patch
        self.input = ImuInput(in_features, frame, rate)
        self.norm = self.input.norm(in_features, groups, group_sizes)
        self.embed = nn.Conv1d(self.input.features, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, max_patches + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, embed_dim)
        self.placement = PlacementFilm(dim, dim) if placement else None

    def forward(self, x: torch.Tensor, valid: torch.Tensor, place: torch.Tensor | None = None) -> torch.Tensor:
        h = self.embed(self.input(x, valid, self.norm))  # (B, dim, P)
        cls = self.cls.expand(h.shape[0], -1, -1)
        if self.placement is not None and place is not None:
            h = self.placement.modulate(h, place)
            cls = cls + self.placement.offset(place)[:, None, :]  # the CLS token starts from the placement
        h = h.transpose(1, 2)
        n = h.shape[1]
        h = torch.cat([cls, h], 1) + self.pos[:, : n + 1]
        patches_valid = torch.div(valid + self.patch - 1, self.patch, rounding_mode="floor").clamp(1, n)
        pad = ~length_mask(patches_valid, n)
        pad = torch.cat([torch.zeros_like(pad[:, :1]), pad], 1)  # the CLS token is never padding
        h = self.encoder(h, src_key_padding_mask=pad)
        return F.normalize(self.head(self.out_norm(h[:, 0])), dim=-1)


ENSEMBLE = "ensemble"


@register(ENSEMBLE)
class Ensemble(nn.Module):
    """`count` towers of the registered architecture `member`, built alike from `params`; a
    window's vector is the renormalised mean of theirs."""

    def __init__(self, in_features: int, embed_dim: int, member: str = "cnn_gru", count: int = 2, **params):
        super().__init__()
        if member == ENSEMBLE or member not in TOWERS:
            raise ValueError(f"an ensemble's members are towers of one registered architecture, not {member!r}")
        if int(count) < 2:
            raise ValueError(f"an ensemble has at least two members, not {count}")
        self.members = nn.ModuleList(TOWERS[member](in_features, embed_dim, **params) for _ in range(int(count)))

    @property
    def placement(self) -> nn.Module | None:
        """The first member's placement embedding: the ensemble reads placements if its members do."""
        return getattr(self.members[0], "placement", None)

    def forward(self, x: torch.Tensor, valid: torch.Tensor, place: torch.Tensor | None = None) -> torch.Tensor:
        outs = [m(x, valid) if place is None else m(x, valid, place) for m in self.members]
        return F.normalize(torch.stack([F.normalize(o, dim=-1) for o in outs]).mean(0), dim=-1)


class TextHead(nn.Module):
    """A trained reading of a frozen MiniLM's token vectors (encoders.text.TextHead is its numpy
    twin, which searches use): `queries` learned queries attend over a text's tokens in their
    order, and a linear map of what they pool is added to the tokens' mean. The map starts at
    zero, so an untrained head gives MiniLM's own sentence vector; training moves it only where
    the words' order says something the mean loses (a direction: "swipe to the left" / "to the
    right", docs/words.md section 16)."""

    def __init__(self, dim: int, queries: int = 2):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(int(queries), dim) * 0.02)
        self.proj = nn.Linear(int(queries) * dim, dim)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # (U, L, d), (U, L) -> (U, d)
        m = mask.unsqueeze(-1).to(states.dtype)
        mean = (states * m).sum(1) / m.sum(1).clamp_min(1.0)
        z = (states @ self.queries.t()) / states.shape[-1] ** 0.5  # (U, L, K)
        w = torch.softmax(z.masked_fill(~mask.unsqueeze(-1), float("-inf")), dim=1)
        pooled = torch.einsum("ulk,uld->ukd", w, states).reshape(len(states), -1)
        return F.normalize(mean + self.proj(pooled), dim=-1)


def padded_states(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts' (tokens, d) token vectors as one float32 (N, longest, d) batch and its (N, longest)
    mask of real tokens, what `TextHead` reads."""
    longest = max(len(h) for h in states)
    x = torch.zeros(len(states), longest, states[0].shape[1])
    mask = torch.zeros(len(states), longest, dtype=torch.bool)
    for i, h in enumerate(states):
        x[i, : len(h)], mask[i, : len(h)] = h.float(), True
    return x, mask


@torch.no_grad()
def head_vectors(head: TextHead, states: list[np.ndarray]) -> np.ndarray:
    """(N, d) unit vectors of texts given as their MiniLM token vectors (encoders.text.MiniLM.token_states)."""
    return head.eval()(*padded_states([torch.from_numpy(np.asarray(h, np.float32)) for h in states])).numpy()
