"""Temporal sync by dense embedding: how far an IMU stream and a pose stream (or a video,
through 2-D pose; or another IMU) are out of step.

Both streams are embedded densely (a window every 0.2 s), every IMU window is compared with
every window of the other stream within the allowed offsets, and mutual top-k matches vote on
the offset (`query.offset_votes`). See `query.sync_result` for the sign of the offset.
"""
from __future__ import annotations

from encoders import TokenEncoder
from indexer import BadInput
from query.embedding import STRIDE, dense_embed, describe
from query.inputs import as_imu, as_motion
from query.offset_votes import diagonal_means, pick_offset, vote_offsets
from query.sync_result import SyncResult

MAX_SYNC_WINDOWS = 6000  # per stream (20 min at 0.2 s): keeps the similarity matrix under ~150 MB


def sync(imu_stream_or_path, other_stream_or_path, encoder, max_offset: float = 10.0, k: int = 5,
         stride: float = STRIDE, part: str | None = None) -> SyncResult:
    """The offset between an IMU stream and a pose stream (or a video, through 2-D pose; or
    another IMU), by dense window embedding, mutual top-k matching and offset voting.

    `encoder` is a token checkpoint (its window vectors are used; a pose is read as the body
    part the IMU is worn on, or `part`) or a clip-level one. Positive offset: the second stream
    lags. Raises BadInput for streams shorter than a window or holding NaNs.
    """
    a = as_imu(imu_stream_or_path)
    b = as_motion(other_stream_or_path)
    if isinstance(encoder, TokenEncoder):
        part = part or encoder.part_of(a.placement)
    for stream in (a, b):  # the similarity matrix is windows(a) x windows(b)
        if stream.duration / stride > MAX_SYNC_WINDOWS:
            raise BadInput(describe(stream), f"stream lasts {stream.duration:.0f} s: dense sync compares every "
                                           f"{stride:g} s window of both streams, so cut streams to at most "
                                           f"{MAX_SYNC_WINDOWS * stride:.0f} s around the part to align")
    starts_a, va = dense_embed(a, encoder, stride)
    starts_b, vb = dense_embed(b, encoder, stride, part)
    sim = va @ vb.T
    grid, votes, matches = vote_offsets(sim, starts_a, starts_b, max_offset, k, stride)
    diag = diagonal_means(sim, starts_a, starts_b, grid, stride)
    offset, grid_offset, confidence = pick_offset(grid, votes, diag, matches, stride)
    notes = [] if matches else ["no mutual matches: offset from the best diagonal similarity"]
    kind = "tokens" if isinstance(encoder, TokenEncoder) else "clip"
    return SyncResult(offset, confidence, grid, votes, f"dense-vote/{kind}:{encoder.id}", matches, grid_offset, notes)
