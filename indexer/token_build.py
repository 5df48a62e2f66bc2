"""Window rows and token rows of one recording, for a MoBind token encoder.

Unlike a clip encoder, a token encoder reads a skeleton part by part: each pose window becomes
one row per configured body part (right arm, left arm, ...), so that an IMU window can be
matched with the chain it moves with. Every window also yields its 0.2 s token vectors; of
overlapping windows, each token is kept from the one window that saw it with the most context
(`encoders.tokens.owned_tokens`), so every moment of a stream is stored once.
"""
from __future__ import annotations

import numpy as np

from encoders.tokens import TokenEncoder, owned_tokens, token_spans
from indexer.model import Recording
from indexer.windows import recording_windows


def embed_with_tokens(rec: Recording, encoder: TokenEncoder, next_window_id: int,
                      next_token_id: int) -> tuple[list[dict], list[dict]]:
    """(window rows, token rows) for `rec`; window ids start at `next_window_id`, token ids at
    `next_token_id`, and each token row names its window."""
    windows = encoder.part_windows(recording_windows(rec, encoder.window, encoder.rates))
    label = rec.label_text()
    rows: list[dict] = []
    tokens: list[dict] = []
    for modality in encoder.modalities:
        parts = sorted({w.body_part for w in windows if w.modality == modality})
        for part in parts:
            group = [w for w in windows if w.modality == modality and w.body_part == part]
            out = encoder.encode_full(group)
            n_valid = out["token_valid"].sum(axis=1).astype(int)
            keep = owned_tokens([w.t_start for w in group], [w.t_end for w in group], list(n_valid),
                                encoder.token_seconds)
            for w, vec, toks, n, mine in zip(group, out["window"], out["tokens"], n_valid, keep):
                window_id = next_window_id + len(rows)
                rows.append({
                    "id": window_id, "recording_id": rec.id, "dataset": rec.dataset, "subject": rec.subject,
                    "modality": modality, "body_part": part, "t_start": w.t_start, "t_end": w.t_end,
                    "label": label, "encoder_id": encoder.id, "vector": vec.tolist(),
                })
                starts, ends = token_spans(w.t_start, int(n), w.t_end, encoder.token_seconds)
                for j in np.flatnonzero(mine):
                    tokens.append({
                        "id": next_token_id + len(tokens), "window_id": window_id, "recording_id": rec.id,
                        "encoder_id": encoder.id, "modality": modality, "body_part": part,
                        "t_start": float(starts[j]), "t_end": float(ends[j]), "vector": toks[j].tolist(),
                    })
    return rows, tokens
