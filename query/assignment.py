"""Assign: which person, and which body part, wears each IMU of a scene.

Every IMU is scored against every person's every body part (the physical baseline: zero-lag
correlation with a virtual sensor on that part; or mean token similarity over the shared time
plus window similarity) and the best one-to-one assignment is taken with the Hungarian
algorithm (scipy.optimize.linear_sum_assignment).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from indexer import BadInput
from indexer.imports import optional
from query.embedding import embed_clip, is_token_encoder, stream_tokens
from query.inputs import as_imu, as_motion, crop_stream
from query.xcorr import zero_lag_score

XCORR_PARTS = ["right_wrist", "left_wrist", "right_thigh", "left_thigh"]
FORBIDDEN = -1e6  # score of a (person, part) an IMU cannot take: linear_sum_assignment needs finite costs
COLUMNS = {"imu": pl.Utf8, "person": pl.Int64, "body_part": pl.Utf8, "score": pl.Float64, "margin": pl.Float64,
           "note": pl.Utf8}


def assign(imu_streams, pose_stream, encoder, parts: list[str] | None = None,
           placement_known: bool = True) -> pl.DataFrame:
    """Which person, and which body part, wears each IMU: (imu, person, body_part, score,
    margin, note), one row per IMU in the order given.

    `pose_stream`: one PoseStream per person (a list) or a single person. The streams are
    compared over their shared time from their starts (synchronise first if they are not).
    `encoder`: a token checkpoint (parts: `parts` or its configured ones), a clip-level one
    (whole body; body_part is "all"), or "xcorr" (the physical baseline at zero lag: the IMU's
    |acc| and |gyr| against a virtual sensor's on each part; no model). With `placement_known`
    an IMU only goes to its own placement on some person; otherwise to any of `parts` (default:
    the IMUs' placements, else XCORR_PARTS for xcorr). Every IMU gets a place of its own
    (Hungarian algorithm, scipy.optimize.linear_sum_assignment over the scores); an IMU that
    cannot be placed (its part is not on the skeleton, or more IMUs than places) is reported in
    `note`, not an error. `margin` is how much better the chosen person scored than the best
    other person for that IMU.
    """
    imus = [as_imu(x) for x in (imu_streams if isinstance(imu_streams, (list, tuple)) else [imu_streams])]
    people = [as_motion(p) for p in (pose_stream if isinstance(pose_stream, (list, tuple)) else [pose_stream])]
    if not imus or not people:
        raise ValueError("assign needs at least one IMU and one person")
    duration = min([s.duration for s in imus] + [p.duration for p in people])
    notes = [""] * len(imus)
    if isinstance(encoder, str) and encoder == "xcorr":
        parts = parts or sorted({s.placement for s in imus}) or XCORR_PARTS
        slots = [(p, q) for p in range(len(people)) for q in parts]
        score = np.full((len(imus), len(slots)), np.nan)
        for j, (p, q) in enumerate(slots):
            for i, imu in enumerate(imus):
                try:
                    score[i, j] = zero_lag_score(imu, people[p], q, duration)
                except (BadInput, ValueError):
                    pass  # this person's skeleton has no such part: the slot stays empty
    elif is_token_encoder(encoder):
        parts = parts or encoder.parts
        slots = [(p, q) for p in range(len(people)) for q in parts]
        imu_side = [stream_tokens(crop_stream(s, 0.0, duration), encoder) for s in imus]
        pose_side = {(p, q): stream_tokens(crop_stream(people[p], 0.0, duration), encoder, q) for p, q in slots}
        score = np.array([[_profile_score(a, pose_side[slot]) for slot in slots] for a in imu_side])
    else:
        placement_known = False
        slots = [(p, "all") for p in range(len(people))]
        imu_vecs = [embed_clip(crop_stream(s, 0.0, duration), encoder) for s in imus]
        pose_vecs = [embed_clip(crop_stream(p, 0.0, duration), encoder) for p in people]
        score = np.array([[float(a @ pose_vecs[p]) for p, _ in slots] for a in imu_vecs])
    if placement_known:
        for i, imu in enumerate(imus):
            own = [j for j, (_, q) in enumerate(slots) if q == imu.placement]
            if own and np.isfinite(score[i, own]).any():
                score[i, [j for j in range(len(slots)) if j not in own]] = np.nan
            else:
                notes[i] = f"placement {imu.placement} is not among the parts compared: any part allowed"
    usable = np.isfinite(score)
    for i in range(len(imus)):
        if not usable[i].any():
            notes[i] = f"no body part of the pose can carry an IMU at {imus[i].placement}"
    # scipy.optimize takes 0.2-0.5 s to import: only an assignment pays for it
    rows, cols = optional("scipy.optimize", "").linear_sum_assignment(-np.where(usable, score, FORBIDDEN))
    chosen = {int(i): int(c) for i, c in zip(rows, cols) if usable[i, c]}
    out = []
    for i, imu in enumerate(imus):
        name = imu.source or f"imu{i}"
        if i not in chosen:
            out.append({"imu": name, "person": None, "body_part": None, "score": None, "margin": None,
                        "note": notes[i] or "no (person, body part) left for this IMU"})
            continue
        c = chosen[i]
        p, q = slots[c]
        others = [score[i, j] for j, (pp, _) in enumerate(slots) if pp != p and usable[i, j]]
        out.append({"imu": name, "person": int(p), "body_part": q, "score": float(score[i, c]),
                    "margin": float(score[i, c] - max(others)) if others else float("nan"), "note": notes[i]})
    return pl.DataFrame(out, schema=COLUMNS)


def _profile_score(a, b) -> float:
    """Half mean token similarity at equal times, half mean window similarity."""
    ta, xa, wa = a
    tb, xb, wb = b
    n = min(len(ta), len(tb))
    token = float(np.einsum("ij,ij->i", xa[:n], xb[:n]).mean())
    m = min(len(wa), len(wb))
    window = float(np.einsum("ij,ij->i", wa[:m], wb[:m]).mean())
    return 0.5 * (token + window)
