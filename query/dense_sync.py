"""Temporal sync: how far an IMU stream and a pose stream (or a video, through 2-D pose; or
another IMU) are out of step.

Three ways, one answer type (`query.sync_result.SyncResult`):
- `sync`: the learned MoBind way. Both streams are embedded densely (a window every 0.2 s),
  every IMU window is compared with every window of the other stream within the allowed
  offsets, and mutual top-k matches vote on the offset (`query.offset_votes`). A clip shorter
  than a window is embedded as one zero-padded window and compared token by token (0.2 s),
  tokens of the padding left out.
- `query.xcorr.xcorr_sync`: the physical baseline (no model).
- `auto_sync`: both, combined, with a confidence calibrated on held-out synthetic data.
`piecewise_sync` runs any of them over segments of a long recording and fits a drift.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from indexer import BadInput, ImuStream, PoseStream
from query.embedding import STRIDE, dense_embed, describe, is_token_encoder, stream_tokens
from query.inputs import as_imu, as_motion
from query.offset_votes import diagonal_means, pick_offset, vote_offsets
from query.sync_result import SyncResult
from query.xcorr import xcorr_sync

if TYPE_CHECKING:
    from encoders import TokenEncoder

MAX_SYNC_WINDOWS = 6000  # per stream (20 min at 0.2 s): keeps the similarity matrix under ~150 MB
LONG_STREAM = MAX_SYNC_WINDOWS * STRIDE  # s: longer recordings are synchronised piecewise
SEGMENT = 120.0  # s: default segment length of a piecewise sync
AGREE = 0.2  # s: two methods agree when their offsets are this close
# When the methods disagree and neither is reliable, auto answers with the tokens only where the
# physical answer's calibrated P(within 0.2 s) is below this: evidence < 0.2 in 3-D (right at
# most 22 % of the time on the calibration takes), < 0.1 in 2-D. docs/temporal.md has the sweep.
TOKENS_OVER_PHYSICS = 0.25

# Calibration of the physical baseline's evidence (query.xcorr: margin x Fisher z of the peak x
# sqrt(overlap s)) into P(|error| <= 0.2 s), from
#   python bench/eval_temporal_mocap.py ../shared/data --split calib --calibrate --lengths 4,10,20,60
# on the calibration takes (crc32 split, disjoint from the evaluation takes): virtual-IMU excerpts
# of 4-60 s (random mounting, noise, bias, scale error; a third acc-only; 20 placements) against
# their pose shifted by up to +-7 s (+-3 s for 4 s clips), plus as many unrelated pairs (IMU of
# one scene, pose of another: never right). Each entry: (lowest evidence of a bin, share of its
# answers within 0.2 s). docs/temporal.md holds the table with counts.
EVIDENCE_CALIBRATION = ((0.0, 0.02), (0.05, 0.06), (0.1, 0.22), (0.2, 0.22), (0.3, 0.73), (0.5, 0.84),
                        (1.0, 0.99))
# "reliable" from this evidence on. On the calibration set (400 related + 400 unrelated pairs)
# the answers at or above 0.46 were right 97 % of the time taken together, but the bin 0.5-1.0
# alone only 84 %; from 1.0 on every bin is >= 99 % (235 answers), so the claim does not lean on
# a mix of bins that another archive may not share.
RELIABLE_EVIDENCE = 1.0
# The same for 2-D pose (the projected analogue: vertical image acceleration), from
#   python bench/eval_temporal_mocap.py ../shared/data --split calib --pose2d --calibrate --lengths 4,10,20,60 --trials 400
# the calibration takes seen through a random level pinhole camera 3-6 m away (3 px joint
# jitter). From evidence 1.0 on 98.8 % of the answers were right (84); the bins below it are
# kept separate, as for 3-D. Real video (a pose estimator's misses, a tilted camera) is harder
# than this: docs/temporal.md has the held-out figures, mediapipe on UTD-MHAD's videos included.
EVIDENCE_CALIBRATION_2D = ((0.0, 0.07), (0.05, 0.10), (0.1, 0.37), (0.2, 0.57), (0.3, 0.73), (0.5, 0.89),
                           (1.0, 0.99))


def sync(imu_stream_or_path, other_stream_or_path, encoder, max_offset: float = 10.0, k: int = 5,
         stride: float = STRIDE, part: str | None = None) -> SyncResult:
    """The offset between an IMU stream and a pose stream (or a video, through 2-D pose; or
    another IMU), by dense window embedding, mutual top-k matching and offset voting.

    `encoder` is a token checkpoint (its window vectors are used; a pose is read as the body
    part the IMU is worn on, or `part`) or a clip-level one. Positive offset: the second stream
    lags. Streams shorter than a window are compared token by token (token encoders); streams
    longer than LONG_STREAM go through `piecewise_sync`. Raises BadInput for NaNs.
    """
    a = as_imu(imu_stream_or_path)
    b = as_motion(other_stream_or_path)
    if is_token_encoder(encoder):
        part = part or encoder.part_of(a.placement)
    if max(a.duration, b.duration) > LONG_STREAM:
        return piecewise_sync(a, b, lambda x, y, m: sync(x, y, encoder, m, k, stride, part), max_offset=max_offset)
    window = encoder.window.length
    if min(a.duration, b.duration) + 1e-9 < window and is_token_encoder(encoder):
        return _token_sync(a, b, encoder, max_offset, k, part)
    starts_a, va = dense_embed(a, encoder, stride)
    starts_b, vb = dense_embed(b, encoder, stride, part)
    return _vote(va @ vb.T, starts_a, starts_b, max_offset, k, stride, encoder)


def _vote(sim, starts_a, starts_b, max_offset, k, stride, encoder, notes=None) -> SyncResult:
    grid, votes, matches = vote_offsets(sim, starts_a, starts_b, max_offset, k, stride)
    diag = diagonal_means(sim, starts_a, starts_b, grid, stride)
    offset, grid_offset, confidence = pick_offset(grid, votes, diag, matches, stride)
    notes = list(notes or []) + ([] if matches else ["no mutual matches: offset from the best diagonal similarity"])
    kind = "tokens" if is_token_encoder(encoder) else "clip"
    return SyncResult(offset, confidence, grid, votes, f"dense-vote/{kind}:{encoder.id}", matches, grid_offset, notes)


def _token_sync(a, b, encoder: TokenEncoder, max_offset, k, part) -> SyncResult:
    """A clip shorter than a window: one zero-padded window each, its 0.2 s tokens voting
    (the padding's tokens masked out)."""
    ts = encoder.token_seconds
    sides = []
    for stream, p in ((a, None), (b, part)):
        times, toks, _ = stream_tokens(stream, encoder, p)
        real = times + ts <= stream.duration + 1e-6
        sides.append((np.round(times[real], 6), toks[real]))
    (ta, xa), (tb, xb) = sides
    note = f"a stream is shorter than the encoder's {encoder.window.length:g} s window: compared by 0.2 s tokens"
    return _vote(xa @ xb.T, ta, tb, max_offset, k, ts, encoder, [note])


def calibrated_confidence(evidence: float, pose_dims: int = 3) -> float:
    """P(within 0.2 s) of a physical-baseline answer with this evidence, against 3-D pose or
    another IMU (EVIDENCE_CALIBRATION) or against 2-D pose (EVIDENCE_CALIBRATION_2D)."""
    p = 0.0
    for lowest, share in (EVIDENCE_CALIBRATION_2D if pose_dims == 2 else EVIDENCE_CALIBRATION):
        if evidence >= lowest:
            p = share
    return p


def auto_sync(imu_stream_or_path, other_stream_or_path, encoder: TokenEncoder | None = None,
              max_offset: float = 10.0, k: int = 5) -> SyncResult:
    """One offset from the physical baseline and, when a token encoder is given, the learned
    vote, with a calibrated confidence.

    The physical answer's confidence is its margin calibrated on held-out synthetic data
    (EVIDENCE_CALIBRATION); it is "reliable" from RELIABLE_EVIDENCE on (right within 0.2 s >= 95 %
    of the times it says so). When both methods run and agree within 0.2 s, the physical
    offset is kept (it is finer) and the answer is reliable if either is. When they disagree,
    a reliable physical answer wins; otherwise (not reliable) the physical answer, or the token
    answer where the physical one is calibrated as nearly always wrong (TOKENS_OVER_PHYSICS).
    2-D pose (video) has its own calibration (EVIDENCE_CALIBRATION_2D).
    """
    a = as_imu(imu_stream_or_path)
    b = as_motion(other_stream_or_path)
    if max(a.duration, b.duration) > LONG_STREAM:
        return piecewise_sync(a, b, lambda x, y, m: auto_sync(x, y, encoder, m, k), max_offset=max_offset)
    notes: list[str] = []
    phys = tok = None
    try:
        phys = xcorr_sync(a, b, max_offset)
    except BadInput as exc:
        notes.append(f"physical baseline not usable: {exc.reason}")
    if encoder is not None:
        try:
            tok = sync(a, b, encoder, max_offset, k)
        except BadInput as exc:
            notes.append(f"token sync not usable: {exc.reason}")
        except ValueError as exc:  # e.g. the encoder has no body part for this placement
            notes.append(f"token sync not usable: {exc}")
    if phys is None and tok is None:
        raise BadInput(describe(a), "; ".join(notes) or "nothing to compare")
    dims = b.data.shape[2] if isinstance(b, PoseStream) else 3
    p_conf = calibrated_confidence(phys.details["evidence"], dims) if phys is not None else 0.0
    p_reliable = phys is not None and phys.details["evidence"] >= RELIABLE_EVIDENCE
    if tok is not None and phys is not None:
        agree = abs(tok.offset - phys.offset) <= AGREE
        if agree:
            chosen, conf, reliable = phys, max(p_conf, tok.confidence), p_reliable or tok.reliable
            notes.append(f"tokens agree ({tok.offset:+.3f} s)")
        elif p_reliable:
            chosen, conf, reliable = phys, p_conf, True
            notes.append(f"tokens disagree ({tok.offset:+.3f} s); the physical answer is confident")
        else:
            # Neither is sure. The token vote's own "reliable" is not calibrated (a token model
            # trained on one set-up claims it on another while off by seconds), so it is not
            # asked; the physical answer is kept unless its calibrated confidence says it is
            # nearly always wrong (TOKENS_OVER_PHYSICS), where any token answer is the better bet.
            chosen = tok if p_conf < TOKENS_OVER_PHYSICS else phys
            conf, reliable = min(p_conf, tok.confidence), False
            notes.append(f"the methods disagree (physical {phys.offset:+.3f} s, tokens {tok.offset:+.3f} s); "
                         f"returning the {'token' if chosen is tok else 'physical'} answer, not reliable")
    elif phys is not None:
        chosen, conf, reliable = phys, p_conf, p_reliable
    else:
        chosen, conf, reliable = tok, tok.confidence, False
        notes.append("token vote alone: its confidence is not calibrated")
    return SyncResult(chosen.offset, float(conf), chosen.candidate_offsets, chosen.votes,
                      f"auto({chosen.method})", chosen.matches, chosen.grid_offset, chosen.notes + notes,
                      chosen.evidence, dict(chosen.details), claimed_reliable=bool(reliable))


def _crop(stream, start: float, end: float):
    """The stream between two of its own times (clipped to it), keeping `offset` as its start."""
    i0 = max(0, int(round(start * stream.rate)))
    i1 = min(len(stream.data), int(round(end * stream.rate)))
    return replace(stream, data=stream.data[i0:i1]), i0 / stream.rate


def piecewise_sync(a: ImuStream, b, sync_fn: Callable, segment: float = SEGMENT,
                   max_offset: float = 10.0) -> SyncResult:
    """Sync a long recording in segments: each `segment` seconds of the first stream is synced
    against the second stream's part around it (+-max_offset), giving the offset as a function
    of time; a line fitted through the segments' offsets (weighted by confidence, segments that
    stray more than 0.5 s from a first fit left out) gives the offset at the start and the end
    and the drift in s/hour. `sync_fn(a_part, b_part, max_offset) -> SyncResult`."""
    if segment <= 2 * 0.2:
        raise ValueError(f"segment must be longer than 0.4 s, got {segment}")
    rows, method = [], "piecewise"
    s = 0.0
    while s < a.duration - 1e-6:
        length = min(segment, a.duration - s)
        if length < min(segment, a.duration) / 2 and rows:  # a short tail joins no fit
            break
        a_part, a0 = _crop(a, s, s + length)
        b_part, b0 = _crop(b, a0 - max_offset, a0 + length + max_offset)
        try:
            r = sync_fn(a_part, b_part, max_offset)
        except BadInput:
            s += segment
            continue
        rows.append((a0 + length / 2, b0 + r.offset - a0, r.confidence, r.reliable))
        method = r.method
        s += segment
    if not rows:
        raise BadInput(describe(a), "no segment of the recording could be synchronised")
    t = np.array([r[0] for r in rows])
    o = np.array([r[1] for r in rows])
    w = np.array([max(r[2], 1e-3) for r in rows])
    use = np.array([r[3] for r in rows])
    if use.sum() < 2:
        use = np.ones(len(rows), dtype=bool)
    notes = []
    if len(rows) == 1 or use.sum() < 2:
        slope, start = 0.0, float(o[use][0] if use.any() else o[0])
        notes.append("one usable segment: no drift can be measured")
    else:
        slope, start = np.polyfit(t[use], o[use], 1, w=np.sqrt(w[use]))
        fit = start + slope * t
        keep = use & (np.abs(o - fit) <= 0.5)
        if 2 <= keep.sum() < use.sum():
            notes.append(f"{int(use.sum() - keep.sum())} segment(s) disagreeing with the fit left out")
            slope, start = np.polyfit(t[keep], o[keep], 1, w=np.sqrt(w[keep]))
            use = keep
    grid = np.array(sorted(set(np.round(o, 6))))
    conf = float(np.average([r[2] for r, u in zip(rows, use) if u]))
    reliable = bool(use.sum() >= 2 and all(r[3] for r, u in zip(rows, use) if u)) or (
        len(rows) == 1 and rows[0][3])
    return SyncResult(float(start), conf, grid, np.ones(len(grid)), f"{method} piecewise/{segment:g}s",
                      int(use.sum()), float(start), notes, "segments used",
                      claimed_reliable=reliable, segments=[(float(x), float(y), float(c)) for x, y, c, _ in rows],
                      offset_end=float(start + slope * a.duration), drift=float(slope * 3600.0))
