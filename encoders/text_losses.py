"""Contrastive loss against frozen text embeddings when many windows share one caption.

Plain InfoNCE treats row i of the batch as the only positive for row i; with 27 action labels a
batch of 64 holds many windows of the same label, and InfoNCE would push apart windows whose
captions are identical. So the text side is not a row of the batch but the batch's set of
distinct captions: each window classifies its caption among them (cross-entropy), and each
caption scores all windows, with every window of that caption a positive (a supervised
contrastive target, uniform over the positives).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def caption_info_nce(x: torch.Tensor, caption_idx: torch.Tensor, text: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    """x: (B, d) unit-norm window embeddings; text: (L, d) unit-norm embeddings of the batch's
    distinct captions; caption_idx: (B,) row of `text` each window belongs to."""
    scale = logit_scale.clamp(max=4.6052).exp()  # 1/temperature <= 100, as in CLIP
    logits = scale * x @ text.t()  # (B, L)
    window_to_text = F.cross_entropy(logits, caption_idx)
    positives = (caption_idx[None, :] == torch.arange(text.shape[0], device=x.device)[:, None]).to(x.dtype)
    target = positives / positives.sum(1, keepdim=True).clamp_min(1.0)
    text_to_window = -(target * F.log_softmax(logits.t(), dim=1)).sum(1)
    has_pos = positives.sum(1) > 0
    return 0.5 * (window_to_text + text_to_window[has_pos].mean())
