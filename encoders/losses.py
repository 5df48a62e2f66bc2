"""Contrastive losses."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): row i of `a` and row i of `b` are a pair, every other row of
    the batch is a negative. `a`, `b` are unit-norm (B, d); `logit_scale` is log(1/temperature),
    learnable, clamped as in CLIP so the temperature cannot collapse."""
    scale = logit_scale.clamp(max=4.6052).exp()  # 1/temperature <= 100
    logits = scale * a @ b.t()
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
