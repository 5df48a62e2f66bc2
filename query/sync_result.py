"""The answer to "how far apart are these two streams": shared by the dense-vote sync and the
cross-correlation baseline.

Sign convention, used everywhere: `offset` is how late the second stream is. Something that
happens at time t in the first stream happens at t + offset in the second, so a positive
offset means the second stream lags (started recording earlier) and you align them by
subtracting `offset` from the second stream's times.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

LOW_CONFIDENCE = 0.2  # below this share of votes near the winner, the offset is a guess


@dataclass
class SyncResult:
    """The estimated offset between two streams. See the module doc for the sign."""

    offset: float  # seconds; positive: the second stream lags the first
    confidence: float  # share of the match votes that agree with `offset` (within one grid step)
    candidate_offsets: np.ndarray  # the offset grid that was voted on (seconds)
    votes: np.ndarray  # vote weight per candidate offset (the vote curve)
    method: str
    matches: int = 0  # mutual top-k window matches that voted
    grid_offset: float = 0.0  # the winning grid point before sub-grid refinement
    notes: list[str] = field(default_factory=list)

    @property
    def reliable(self) -> bool:
        return self.matches > 0 and self.confidence >= LOW_CONFIDENCE

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame({"offset": [self.offset], "confidence": [self.confidence],
                             "matches": [self.matches], "method": [self.method],
                             "reliable": [self.reliable], "note": ["; ".join(self.notes)]})

    def __str__(self) -> str:
        lag = "lags" if self.offset >= 0 else "leads"
        text = (f"offset {self.offset:+.2f} s (the second stream {lag} the first by {abs(self.offset):.2f} s), "
                f"confidence {self.confidence:.2f} from {self.matches} mutual matches [{self.method}]")
        if not self.reliable:
            text += "\nlow confidence: the streams may not show the same motion, or may not overlap"
        return text
