"""Assign: which person, and which body part, wears each IMU of a scene.

Every IMU is scored against every person's every body part (mean token similarity over the
shared time plus window similarity) and the best one-to-one assignment is taken
(scipy.optimize.linear_sum_assignment).
"""
from __future__ import annotations

import numpy as np
import polars as pl
import scipy.optimize

from encoders import TokenEncoder
from query.embedding import embed_clip, stream_tokens
from query.inputs import as_imu, as_motion, crop_stream
from query.xcorr import zero_lag_score

XCORR_PARTS = ["right_wrist", "left_wrist", "right_thigh", "left_thigh"]


def assign(imu_streams, pose_stream, encoder, parts: list[str] | None = None) -> pl.DataFrame:
    """Which person, and which body part, wears each IMU: (imu, person, body_part, score, margin).

    `pose_stream`: one PoseStream per person (a list) or a single person. The streams are
    compared over their shared time from their starts (synchronise first if they are not).
    `encoder`: a token checkpoint (parts: `parts` or its configured ones), a clip-level one
    (whole body; body_part is "all"), or "xcorr" (acceleration-magnitude correlation of each
    part's end joint; no model). `margin` is how much better the chosen person scored than the
    best other person for that IMU.
    """
    imus = [as_imu(x) for x in (imu_streams if isinstance(imu_streams, (list, tuple)) else [imu_streams])]
    people = [as_motion(p) for p in (pose_stream if isinstance(pose_stream, (list, tuple)) else [pose_stream])]
    if not imus or not people:
        raise ValueError("assign needs at least one IMU and one person")
    duration = min([s.duration for s in imus] + [p.duration for p in people])
    if isinstance(encoder, str) and encoder == "xcorr":
        parts = parts or XCORR_PARTS
        slots = [(p, q) for p in range(len(people)) for q in parts]
        score = np.array([[zero_lag_score(imu, people[p], q, duration) for p, q in slots] for imu in imus])
    elif isinstance(encoder, TokenEncoder):
        parts = parts or encoder.parts
        slots = [(p, q) for p in range(len(people)) for q in parts]
        imu_side = [stream_tokens(crop_stream(s, 0.0, duration), encoder) for s in imus]
        pose_side = {(p, q): stream_tokens(crop_stream(people[p], 0.0, duration), encoder, q) for p, q in slots}
        score = np.array([[_profile_score(a, pose_side[slot]) for slot in slots] for a in imu_side])
    else:
        slots = [(p, "all") for p in range(len(people))]
        imu_vecs = [embed_clip(crop_stream(s, 0.0, duration), encoder) for s in imus]
        pose_vecs = [embed_clip(crop_stream(p, 0.0, duration), encoder) for p in people]
        score = np.array([[float(a @ pose_vecs[p]) for p, _ in slots] for a in imu_vecs])
    if len(imus) > len(slots):
        raise ValueError(f"{len(imus)} IMUs but only {len(slots)} (person, body part) places to put them")
    rows, cols = scipy.optimize.linear_sum_assignment(-score)
    out = []
    for i, c in sorted(zip(rows, cols)):
        p, q = slots[c]
        others = [score[i, j] for j, (pp, _) in enumerate(slots) if pp != p]
        out.append({"imu": imus[i].source or f"imu{i}", "person": int(p), "body_part": q,
                    "score": float(score[i, c]), "margin": float(score[i, c] - max(others)) if others else float("nan")})
    return pl.DataFrame(out, schema={"imu": pl.Utf8, "person": pl.Int64, "body_part": pl.Utf8,
                                     "score": pl.Float64, "margin": pl.Float64})


def _profile_score(a, b) -> float:
    """Half mean token similarity at equal times, half mean window similarity."""
    ta, xa, wa = a
    tb, xb, wb = b
    n = min(len(ta), len(tb))
    token = float(np.einsum("ij,ij->i", xa[:n], xb[:n]).mean())
    m = min(len(wa), len(wb))
    window = float(np.einsum("ij,ij->i", wa[:m], wb[:m]).mean())
    return 0.5 * (token + window)
