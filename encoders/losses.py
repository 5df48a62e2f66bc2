"""Every training objective, and the learnable CLIP temperature they share.

- `info_nce`: symmetric InfoNCE (CLIP, IMU2CLIP): row i of one batch pairs with row i of the other.
- `caption_info_nce`: against frozen text embeddings when many windows share one caption.
- `token_info_nce`, `per_part_info_nce`, `masked_prediction`, `mobind_loss`: MoBind's four terms.

Every contrastive term multiplies its cosine similarities by exp(logit_scale), a learnable
log(1/temperature) that starts at `LOGIT_SCALE_INIT` and is clamped by `clamp_logit_scale`.

Text alignment with shared captions (`caption_info_nce`): plain InfoNCE treats row i of the
batch as the only positive for row i; with 27 action labels a batch of 64 holds many windows of
the same label, and InfoNCE would push apart windows whose captions are identical. So the text
side is not a row of the batch but the batch's set of distinct captions: each window classifies
its caption among them (cross-entropy), and each caption scores all windows, with every window
of that caption a positive (a supervised contrastive target, uniform over the positives).

MoBind's terms (`mobind_loss`, weighted by the config's `tokens.loss_weights`):
- token: InfoNCE between the IMU tokens and the pose-part tokens of the same window, where the
  negatives are the other time slots of that window. Only timing can tell them apart, which is
  what makes the tokens useful for synchronisation and localisation. The pose window of this
  term is cut a random whole number of tokens earlier or later than the IMU window: were the
  two aligned, "the same position in the window" would solve it, and the tokens would learn
  their slot number instead of their motion (useless for finding a snippet at another phase).
- window: the usual batch InfoNCE between window vectors, computed within each body part (a
  wrist IMU is told apart from other wrist windows, not from easy thigh ones).
- body: InfoNCE between full-body vectors pooled over the parts a recording has IMUs for.
- masked: masked token prediction; masked patches are predicted from their context
  (mean squared error on the normalised input), an auxiliary term that makes tokens carry
  their neighbours' information.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOGIT_SCALE_INIT = math.log(1 / 0.07)  # CLIP's initial temperature 0.07
MAX_LOGIT_SCALE = 4.6052  # 1/temperature <= 100, as in CLIP, so the temperature cannot collapse


def clamp_logit_scale(logit_scale: torch.Tensor) -> torch.Tensor:
    """The factor the similarities are multiplied by: exp(logit_scale), at most 100."""
    return logit_scale.clamp(max=MAX_LOGIT_SCALE).exp()


def info_nce(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): row i of `a` and row i of `b` are a pair, every other row of
    the batch is a negative. `a`, `b` are unit-norm (B, d); `logit_scale` is log(1/temperature),
    learnable."""
    logits = clamp_logit_scale(logit_scale) * a @ b.t()
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))


def caption_info_nce(x: torch.Tensor, caption_idx: torch.Tensor, text: torch.Tensor,
                     logit_scale: torch.Tensor, paraphrase: float | None = None) -> torch.Tensor:
    """x: (B, d) unit-norm window embeddings; text: (L, d) unit-norm embeddings of the batch's
    distinct captions; caption_idx: (B,) row of `text` each window belongs to.

    `paraphrase`: a text cosine at and above which two distinct captions count as saying the same
    motion ("a person walks forward", "walking"), so neither is a negative of the other's windows:
    those logits are left out of both softmaxes (TMR's negative filtering, Petrovich et al.
    2023). None: every other caption is a negative."""
    logits = clamp_logit_scale(logit_scale) * x @ text.t()  # (B, L)
    positives = (caption_idx[None, :] == torch.arange(text.shape[0], device=x.device)[:, None]).to(x.dtype)  # (L, B)
    if paraphrase is not None:
        same = (text @ text.t()) >= paraphrase  # (L, L), the diagonal included
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same[caption_idx], float("-inf"))  # a window's caption's paraphrases
    window_to_text = F.cross_entropy(logits, caption_idx)
    target = positives / positives.sum(1, keepdim=True).clamp_min(1.0)
    text_to_window = -(target * F.log_softmax(logits.t(), dim=1).masked_fill(positives == 0, 0.0)).sum(1)
    has_pos = positives.sum(1) > 0
    return 0.5 * (window_to_text + text_to_window[has_pos].mean())


def token_info_nce(a: torch.Tensor, b: torch.Tensor, valid: torch.Tensor, logit_scale: torch.Tensor,
                   valid_b: torch.Tensor | None = None, shift: torch.Tensor | None = None) -> torch.Tensor:
    """a, b: (B, n, d) unit-norm tokens of paired windows; valid (B, n): real (unpadded) slots
    of `a` (and of `b` unless `valid_b` is given). `shift` (B,): window b starts that many
    tokens after window a, so token i of `a` is simultaneous with token i - shift of `b`.
    Each token must pick its simultaneous partner among the other window's valid slots, both
    ways; tokens without a partner inside the other window sit out."""
    valid_b = valid if valid_b is None else valid_b
    bsz, n = a.shape[0], a.shape[1]
    shift = torch.zeros(bsz, dtype=torch.long, device=a.device) if shift is None else shift.to(a.device)
    logits = clamp_logit_scale(logit_scale) * torch.einsum("bid,bjd->bij", a, b)
    slots = torch.arange(n, device=a.device)[None, :]

    def one_way(lg, va, vb, target):
        """Rows of `lg` are tokens with validity va; columns have validity vb."""
        inside = (target >= 0) & (target < n)
        partner_ok = vb.gather(1, target.clamp(0, n - 1))
        rows = va & inside & partner_ok & (vb.sum(1, keepdim=True) > 1)  # a lone column teaches nothing
        if not rows.any():
            return None
        lg = lg.masked_fill(~vb[:, None, :], -1e4)
        return F.cross_entropy(lg[rows], target[rows])

    fwd = one_way(logits, valid, valid_b, slots - shift[:, None])
    bwd = one_way(logits.transpose(1, 2), valid_b, valid, slots + shift[:, None])
    terms = [t for t in (fwd, bwd) if t is not None]
    return sum(terms) / len(terms) if terms else a.sum() * 0.0


def per_part_info_nce(a: torch.Tensor, b: torch.Tensor, part_ids: torch.Tensor,
                      logit_scale: torch.Tensor) -> torch.Tensor:
    """Window-level InfoNCE inside each body part's share of the batch, weighted by its size."""
    total, count = a.sum() * 0.0, 0
    for part in torch.unique(part_ids):
        sel = part_ids == part
        m = int(sel.sum())
        if m < 2:  # InfoNCE needs a negative
            continue
        total = total + m * info_nce(a[sel], b[sel], logit_scale)
        count += m
    return total / max(count, 1)


def masked_prediction(out: dict, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the predicted normalised input over masked, valid patches."""
    sel = mask & out["token_valid"]
    if not sel.any():
        return out["recon"].sum() * 0.0
    return F.mse_loss(out["recon"][sel], out["recon_target"][sel])


def mobind_loss(model, batch: dict, mask_ratio: float, weights: dict, generator: torch.Generator | None = None) -> dict:
    """All four terms for one batch of paired part windows.

    batch: imu (M, T_imu, C), imu_valid (M,), pose (M, T_pose, F), pose_valid (M,), part (M,)
    part ids, sample (M,) which recording window each pair belongs to (pairs of one sample are
    its several IMUs and their chains); optionally pose_shifted / pose_shifted_valid /
    token_shift (M,) for the token term (see the module doc). Returns the weighted total under
    "loss" and each term.
    """
    masks = {}
    outs = {}
    for modality in ("imu", "pose"):
        x, v = batch[modality], batch[f"{modality}_valid"]
        n = x.shape[1] // model.towers[modality].patch
        mask = None
        if mask_ratio > 0 and model.training:
            mask = torch.rand(x.shape[0], n, generator=generator) < mask_ratio
        masks[modality] = mask
        outs[modality] = model(modality, x, v, mask)
    a, b = outs["imu"], outs["pose"]
    scales = model.logit_scales
    if "pose_shifted" in batch:  # the token term's pose window, cut `token_shift` tokens later
        shifted = model("pose", batch["pose_shifted"], batch["pose_shifted_valid"])
        shift = batch["token_shift"]
    else:
        shifted, shift = b, None
    n = min(a["tokens"].shape[1], shifted["tokens"].shape[1])
    terms = {
        "token": token_info_nce(a["tokens"][:, :n], shifted["tokens"][:, :n], a["token_valid"][:, :n],
                                scales["token"], shifted["token_valid"][:, :n], shift),
        "window": per_part_info_nce(a["window"], b["window"], batch["part"], scales["window"]),
    }
    # Full body: each sample's part vectors pooled per modality, then InfoNCE across samples.
    sample = batch["sample"]
    samples, inverse = torch.unique(sample, return_inverse=True)
    if len(samples) >= 2:
        p_max = int(torch.bincount(inverse).max())
        slot = torch.zeros_like(inverse)
        seen: dict[int, int] = {}
        for i, s in enumerate(inverse.tolist()):
            slot[i] = seen.get(s, 0)
            seen[s] = int(slot[i]) + 1
        def pooled(vecs, modality):
            grid = vecs.new_zeros(len(samples), p_max, vecs.shape[1])
            ids = torch.zeros(len(samples), p_max, dtype=torch.long)
            present = torch.zeros(len(samples), p_max, dtype=torch.bool)
            grid[inverse, slot] = vecs
            ids[inverse, slot] = batch["part"]
            present[inverse, slot] = True
            return model.body[modality](grid, ids, present)
        terms["body"] = info_nce(pooled(a["window"], "imu"), pooled(b["window"], "pose"), scales["body"])
    else:
        terms["body"] = a["window"].sum() * 0.0
    masked = [masked_prediction(outs[m], masks[m]) for m in ("imu", "pose") if masks[m] is not None]
    terms["masked"] = sum(masked) / len(masked) if masked else a["window"].sum() * 0.0
    terms["loss"] = sum(float(weights.get(k, 0.0)) * terms[k] for k in ("token", "window", "body", "masked"))
    return terms
