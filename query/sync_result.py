"""The answer to "how far apart are these two streams": shared by the dense-vote sync, the
physical cross-correlation and their combination (`--method auto`).

Sign convention, used everywhere: `offset` is how late the second stream is. Something that
happens at time t in the first stream happens at t + offset in the second, so a positive
offset means the second stream lags (started recording earlier) and you align them by
subtracting `offset` from the second stream's times.

A long recording is synchronised piecewise: `segments` then holds (time in the first stream,
offset there, confidence) per segment, and `offset` / `offset_end` / `drift` are a line fitted
through them (clocks that run at slightly different rates drift apart linearly).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

LOW_CONFIDENCE = 0.2  # token vote: below this share of votes near the winner, the offset is a guess


@dataclass
class SyncResult:
    """The estimated offset between two streams. See the module doc for the sign."""

    offset: float  # seconds; positive: the second stream lags the first (at the start, when drifting)
    confidence: float  # token vote: share of votes near `offset`; xcorr: peak correlation; auto: calibrated
    candidate_offsets: np.ndarray  # the offset grid that was voted on / the lags tried (seconds)
    votes: np.ndarray  # vote weight (or correlation) per candidate offset
    method: str
    matches: int = 0  # how much evidence: mutual top-k matches that voted, or lags tried (see `evidence`)
    grid_offset: float = 0.0  # the winning grid point before sub-grid refinement
    notes: list[str] = field(default_factory=list)
    evidence: str = "mutual matches"  # what `matches` counts
    details: dict = field(default_factory=dict)  # method-specific numbers (xcorr: peak, margin)
    claimed_reliable: bool | None = None  # set by calibrated methods (auto); else the vote rule below
    segments: list[tuple[float, float, float]] = field(default_factory=list)  # piecewise: (t, offset, confidence)
    offset_end: float | None = None  # piecewise: offset at the end of the first stream
    drift: float | None = None  # piecewise: seconds per hour the second stream falls further behind

    @property
    def reliable(self) -> bool:
        if self.claimed_reliable is not None:
            return self.claimed_reliable
        return self.matches > 0 and self.confidence >= LOW_CONFIDENCE

    def offset_at(self, t: float) -> float:
        """The offset at time t of the first stream (constant unless there is drift)."""
        return self.offset + (self.drift or 0.0) * t / 3600.0

    def to_frame(self) -> pl.DataFrame:
        row = {"offset": [self.offset], "confidence": [self.confidence], "reliable": [self.reliable],
               "method": [self.method], "evidence": [f"{self.matches} {self.evidence}"],
               "offset_end": [self.offset_end], "drift_s_per_hour": [self.drift],
               "segments": [len(self.segments)], "note": ["; ".join(self.notes)]}
        return pl.DataFrame(row, schema_overrides={"offset_end": pl.Float64, "drift_s_per_hour": pl.Float64})

    def segments_frame(self) -> pl.DataFrame:
        t, o, c = (list(x) for x in zip(*self.segments)) if self.segments else ([], [], [])
        return pl.DataFrame({"t": t, "offset": o, "confidence": c},
                            schema={"t": pl.Float64, "offset": pl.Float64, "confidence": pl.Float64})

    def __str__(self) -> str:
        lag = "lags" if self.offset >= 0 else "leads"
        text = (f"offset {self.offset:+.3f} s (the second stream {lag} the first by {abs(self.offset):.3f} s), "
                f"confidence {self.confidence:.2f} from {self.matches} {self.evidence} [{self.method}]")
        if self.drift is not None:
            text += (f"\ndrift {self.drift:+.3f} s/hour: offset {self.offset:+.3f} s at the start, "
                     f"{self.offset_end:+.3f} s at the end ({len(self.segments)} segments)")
        for note in self.notes:
            text += f"\nnote: {note}"
        if not self.reliable:
            text += "\nlow confidence: the streams may not show the same motion, or may not overlap"
        return text
