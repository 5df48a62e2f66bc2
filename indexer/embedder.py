"""What a build needs of a model, as a protocol: the indexer never imports a concrete encoder.

`encoders` implements it (its clip and token encoders); `indexer.cli` hands one to the build.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from indexer.model import Modality, Recording
from indexer.windows import Window


@dataclass
class EmbeddedWindow:
    """One window of a recording as an embedder returns it: where it is and its vector, plus,
    for token embedders, the 0.2 s token vectors this window owns as (t_start, t_end, vector)."""

    modality: Modality
    body_part: str
    t_start: float
    t_end: float
    vector: np.ndarray
    tokens: list[tuple[float, float, np.ndarray]] = field(default_factory=list)


class Embedder(Protocol):
    """What a build needs of a model. `encoders` implements it; the build never imports it."""

    id: str  # names the model in every row and in the commit log (name@weights checksum)
    checksum: str
    modalities: list[str]
    has_tokens: bool  # also writes the `tokens` table (MoBind token encoders)

    def cut_windows(self, rec: Recording) -> list[Window]:
        """The windows the model reads of one recording (BadInput when it cannot read them)."""
        ...

    def window_cutter(self) -> Callable[[Recording], list[Window]]:
        """`cut_windows` as a picklable callable that holds no model (and imports no torch):
        what the build's worker processes and Ray tasks cut windows with."""
        ...

    def embed_windows(self, per_recording: list[list[Window]]) -> list[list[EmbeddedWindow]]:
        """The windows of several recordings embedded together (large batches run at the
        model's speed), handed back per recording."""
        ...

    def checkpoint_files(self) -> dict[str, bytes]:
        """The files that reproduce the model, kept with the index so queries use the same weights."""
        ...
