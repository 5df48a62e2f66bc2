"""Paired training/evaluation windows from an archive: the IMU window and the pose window of
the same recording over the same interval form a pair.

The reading itself lives in encoders.semantic_data (which adds video and label filters); a
paired set is that set without video, judged by its labels.
"""
from __future__ import annotations

from encoders.semantic_data import SemanticSet, semantic_windows
from indexer.model import Entry
from indexer.windows import WindowSpec

PairedSet = SemanticSet


def paired_windows(entries: list[Entry], spec: WindowSpec, rates: dict[str, float],
                   subjects: set[str] | None = None, progress: bool = True) -> PairedSet:
    """IMU + pose window pairs (the first IMU of each recording) of the given subjects."""
    return semantic_windows(entries, spec, {"imu": rates["imu"], "pose": rates["pose"]}, subjects,
                            progress=progress)
