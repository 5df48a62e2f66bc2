"""The page's metadata filters (dataset, subject, label, duration) as user filters (`where=`).

Windows carry dataset, subject and label themselves; duration is a property of the whole
recording, so it becomes the list of recordings whose duration is in range. The values are
made into a filter by `query.where_filter`, the one place that quotes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from query import where_filter

if TYPE_CHECKING:
    from query import Searcher


@dataclass
class Filters:
    datasets: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # a recording's one-line label text
    min_duration: float | None = None  # seconds
    max_duration: float | None = None

    @classmethod
    def from_inputs(cls, datasets, subjects, labels, min_duration, max_duration) -> Filters:
        def number(x, what):
            if x in (None, ""):
                return None
            x = float(x)
            if x < 0:
                raise ValueError(f"{what} duration must be 0 s or more, got {x:g}")
            return x

        # The page shows an empty number field as 0; a maximum of 0 s would exclude everything,
        # so it means "no limit".
        f = cls(list(datasets or []), [str(s) for s in subjects or []], list(labels or []),
                number(min_duration, "minimum") or None, number(max_duration, "maximum") or None)
        if f.min_duration is not None and f.max_duration is not None and f.min_duration > f.max_duration:
            raise ValueError(f"minimum duration {f.min_duration:g} s is above the maximum {f.max_duration:g} s")
        return f

    def _duration(self) -> dict:
        return {"at_least": {"duration": self.min_duration}, "at_most": {"duration": self.max_duration}}

    def recordings_where(self) -> str | None:
        """Filter over the `recordings` table (its label text is the `text` column)."""
        return where_filter(dataset=self.datasets, subject=self.subjects, text=self.labels, **self._duration())

    def windows_where(self, index: Searcher) -> str | None:
        """Filter over windows. Raises LookupError when no recording has a duration in range,
        since then nothing can match."""
        ids = None
        if self.min_duration is not None or self.max_duration is not None:
            ids = index.recordings(where_filter(**self._duration()))["id"].to_list()
            if not ids:
                raise LookupError("no recording in the index has a duration in the chosen range")
        return where_filter(dataset=self.datasets, subject=self.subjects, label=self.labels, recording_id=ids)
