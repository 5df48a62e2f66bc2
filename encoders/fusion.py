"""Sensor fusion: one vector for a recording window over any subset of its sensors.

A multi-sensor recording (wrist + foot, six accelerometers, a 13-IMU suit) is embedded twice:
one vector per sensor by the shared IMU tower (so a one-sensor query finds its placement), and
one fused vector over the sensors present at that window, made here:

    h_s   = v_s + P[placement_s]                 v_s: the tower's unit vector of sensor s
    a_s   = w . tanh(W h_s)                      attention score, absent sensors masked out
    pool  = sum_s softmax(a)_s h_s
    fused = normalize(pool + head(pool))         in the same joint space as every tower

The fusion reads the towers' unit vectors, not their pre-normalisation outputs, so a fused
vector is a function of exactly the per-sensor vectors an index stores: a query fuses the
vectors it already embedded, and any subset of sensors is one masked call. `P`, `w` and
`head` start at zero, so an untrained fusion is the normalised mean of its sensors' vectors
(and one sensor's fused vector is its own vector); training moves away from that only where
the captions ask for it (a foot that tells two actions apart when the wrist cannot).

A config names it in its `fusion` section ({"architecture": "attention", ...}); a config
without one builds no fusion module, so older checkpoints load unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from encoders.config import FUSIONS
from indexer.bodyparts import BODY_PARTS

FUSED_PART = "all"  # the body_part of a fused window, as of a whole-skeleton pose window


class SensorFusion(nn.Module):
    """Placement embedding, attention pooling over the present sensors, a residual linear head."""

    def __init__(self, embed_dim: int, parts: list[str], hidden: int = 128, **_):
        super().__init__()
        self.parts = list(parts)
        self.index = {p: i for i, p in enumerate(self.parts)}
        self.placement = nn.Embedding(len(self.parts) + 1, embed_dim)  # the last row: a placement not listed
        self.score = nn.Sequential(nn.Linear(embed_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        self.head = nn.Linear(embed_dim, embed_dim)
        for p in (self.placement.weight, self.score[2].weight, self.score[2].bias, self.head.weight, self.head.bias):
            nn.init.zeros_(p)

    def part_ids(self, placements: list[str]) -> list[int]:
        return [self.index.get(p, len(self.parts)) for p in placements]

    def forward(self, vectors: torch.Tensor, part_ids: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """vectors (B, S, d) unit per-sensor vectors, part_ids (B, S), present (B, S) bool with at
        least one sensor per row -> (B, d) unit fused vectors."""
        h = vectors + self.placement(part_ids)
        logits = self.score(h).squeeze(-1).masked_fill(~present, float("-inf"))
        pooled = (torch.softmax(logits, dim=1).unsqueeze(-1) * h).sum(1)
        return F.normalize(pooled + self.head(pooled), dim=-1)

    def pack(self, sets: list[tuple[torch.Tensor, list[str]]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sensor sets [(vectors (S_i, d), placements)] -> padded (vectors, part_ids, present)."""
        width = max(len(p) for _, p in sets)
        d = sets[0][0].shape[-1]
        vectors = sets[0][0].new_zeros(len(sets), width, d)
        ids = torch.full((len(sets), width), len(self.parts), dtype=torch.long)
        present = torch.zeros(len(sets), width, dtype=torch.bool)
        for i, (v, places) in enumerate(sets):
            vectors[i, : len(places)] = v
            ids[i, : len(places)] = torch.tensor(self.part_ids(places), dtype=torch.long)
            present[i, : len(places)] = True
        return vectors, ids, present

    def fuse_sets(self, sets: list[tuple[torch.Tensor, list[str]]]) -> torch.Tensor:
        return self(*self.pack(sets))


def build_fusion(spec: dict, embed_dim: int) -> SensorFusion:
    if spec.get("architecture", "attention") not in FUSIONS:
        raise ValueError(f"unknown fusion {spec.get('architecture')!r}; known: {', '.join(FUSIONS)}")
    return SensorFusion(embed_dim, spec.get("parts") or list(BODY_PARTS), int(spec.get("hidden", 128)))


def random_subset(n: int, gen: torch.Generator) -> list[int]:
    """A random non-empty subset of n sensors: its size uniform in 1..n, then its members, so a
    two-sensor window trains as one sensor half the time and as both the other half."""
    size = int(torch.randint(1, n + 1, (1,), generator=gen))
    return sorted(torch.randperm(n, generator=gen)[:size].tolist())
