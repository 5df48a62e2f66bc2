"""Signal encoder architectures (IMU and pose windows), registered in encoders.towers. Each maps
(batch, time, features) plus valid lengths to a unit-norm vector. Also the masking helpers every
tower shares.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from encoders.towers import register


def length_mask(valid: torch.Tensor, steps: int) -> torch.Tensor:
    """(batch, steps) True where a step holds real (not padded) data."""
    return torch.arange(steps, device=valid.device)[None, :] < valid[:, None]


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
                 hidden: int = 128, kernel: int = 5, dropout: float = 0.1):
        super().__init__()
        self.norm = nn.GroupNorm(groups, in_features)
        chans = [in_features, width, width * 2, width * 2]
        self.convs = nn.ModuleList(
            nn.Conv1d(chans[i], chans[i + 1], kernel, padding=kernel // 2) for i in range(3)
        )
        self.gru = nn.GRU(chans[-1], hidden, batch_first=True, bidirectional=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, embed_dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        h = self.norm(x.transpose(1, 2))  # (B, C, T)
        for conv in self.convs:
            h = F.max_pool1d(F.relu(conv(h)), 2, ceil_mode=True)
            valid = torch.div(valid + 1, 2, rounding_mode="floor")
        h, _ = self.gru(h.transpose(1, 2))
        pooled = masked_mean(h, length_mask(valid.clamp_min(1), h.shape[1]))
        return F.normalize(self.head(self.drop(pooled)), dim=-1)


@register("patch_transformer")
class PatchTransformer(nn.Module):
    """AURA-MFM's signal encoder: Conv1d patch embedding, a CLS token, a Transformer encoder.
    Padded patches are masked out of attention."""

    def __init__(self, in_features: int, embed_dim: int, groups: int = 1, dim: int = 192,
                 layers: int = 6, heads: int = 6, patch: int = 10, max_patches: int = 256,
                 dropout: float = 0.1):
        super().__init__()
        self.patch = patch
        self.norm = nn.GroupNorm(groups, in_features)
        self.embed = nn.Conv1d(in_features, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, max_patches + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, embed_dim)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        h = self.embed(self.norm(x.transpose(1, 2))).transpose(1, 2)  # (B, P, dim)
        n = h.shape[1]
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], 1) + self.pos[:, : n + 1]
        patches_valid = torch.div(valid + self.patch - 1, self.patch, rounding_mode="floor").clamp(1, n)
        pad = ~length_mask(patches_valid, n)
        pad = torch.cat([torch.zeros_like(pad[:, :1]), pad], 1)  # the CLS token is never padding
        h = self.encoder(h, src_key_padding_mask=pad)
        return F.normalize(self.head(self.out_norm(h[:, 0])), dim=-1)

