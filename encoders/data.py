"""Paired training/evaluation windows from an archive: the IMU window and the pose window of
the same recording over the same interval form a pair."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from encoders.features import featurize
from indexer.errors import BadInput
from indexer.model import Entry
from indexer.windows import WindowSpec, recording_windows

log = logging.getLogger(__name__)


@dataclass
class PairedSet:
    imu: np.ndarray  # (N, n_imu, C) tower inputs
    imu_valid: np.ndarray  # (N,)
    pose: np.ndarray  # (N, n_pose, F)
    pose_valid: np.ndarray
    labels: list[str]
    recording_ids: list[str]
    subjects: list[str]
    t_start: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


def paired_windows(entries: list[Entry], spec: WindowSpec, rates: dict[str, float],
                   subjects: set[str] | None = None, progress: bool = True) -> PairedSet:
    imu, imu_v, pose, pose_v, labels, recs, subs, starts = [], [], [], [], [], [], [], []
    skipped: list[tuple[str, str]] = []
    if subjects is not None:  # skip reading what the listing already rules out
        entries = [e for e in entries if e.subject is None or e.subject in subjects]
    for entry in tqdm(entries, desc="reading windows", unit="rec", disable=not progress):
        try:
            rec = entry.load()
        except BadInput as exc:
            skipped.append((exc.path, exc.reason))
            log.warning("skipped %s: %s", exc.path, exc.reason)
            continue
        if subjects is not None and rec.subject not in subjects:
            continue
        if not rec.imu or rec.pose is None:
            skipped.append((entry.id, "needs both an IMU and a pose stream for pairing"))
            continue
        windows = recording_windows(rec, spec, {"imu": rates["imu"], "pose": rates["pose"]})
        first_imu = rec.imu[0].placement
        by_start = {w.t_start: w for w in windows if w.modality == "pose"}
        for w in windows:
            if w.modality != "imu" or w.body_part != first_imu or w.t_start not in by_start:
                continue
            p = by_start[w.t_start]
            imu.append(featurize("imu", w.data, w.valid))
            imu_v.append(w.valid)
            pose.append(featurize("pose", p.data, p.valid))
            pose_v.append(p.valid)
            labels.append(rec.label_text())
            recs.append(rec.id)
            subs.append(rec.subject or "")
            starts.append(w.t_start)
    if not labels:
        raise ValueError("no paired IMU + pose windows found in the source")
    return PairedSet(np.stack(imu), np.array(imu_v), np.stack(pose), np.array(pose_v), labels, recs,
                     subs, np.array(starts), skipped)
