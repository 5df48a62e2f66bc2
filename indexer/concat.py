"""Long streams made by concatenating short clips, for fine-grained time work.

UTD-MHAD clips last about 3 s each: too short to ask "how far out of sync are these two
streams" or "where in this recording does that snippet happen". Concatenating one subject's
clips in their natural order (action, then trial) gives minutes-long streams with real motion
and known ground-truth timing. Every stream is put on the IMU's time base (the pose is
resampled to the IMU rate clip by clip), so clip boundaries line up exactly in both
modalities and no rounding drift builds up over a hundred clips.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from indexer.errors import BadInput
from indexer.model import Entry, ImuStream, PoseStream, Recording, TextSpan
from indexer.windows import resample


def concat_recordings(recs: list[Recording], rec_id: str, dataset: str | None = None) -> Recording:
    """One recording holding `recs` back to back: one IMU (all clips must share the sensor's
    placement, channels and rate), the pose resampled onto the IMU clock, and one text span
    per clip naming its label and the clip it came from."""
    if not recs:
        raise ValueError("nothing to concatenate")
    first = recs[0]
    for r in recs:
        if len(r.imu) != 1 or r.pose is None:
            raise BadInput(r.id, "concatenation needs exactly one IMU and a pose stream per clip")
        imu = r.imu[0]
        if (imu.placement, imu.channels, imu.rate) != (first.imu[0].placement, first.imu[0].channels, first.imu[0].rate):
            raise BadInput(r.id, f"IMU ({imu.placement}, {imu.rate} Hz) differs from the first clip's "
                                 f"({first.imu[0].placement}, {first.imu[0].rate} Hz)")
        if (r.pose.skeleton, r.pose.joints) != (first.pose.skeleton, first.pose.joints):
            raise BadInput(r.id, "skeleton differs from the first clip's")
    rate = first.imu[0].rate
    imu_parts, pose_parts, spans = [], [], []
    t = 0.0
    shift = None
    root = 0  # first joint of the skeleton: only used to keep the body from teleporting
    for r in recs:
        imu = r.imu[0]
        n = imu.data.shape[0]
        flat = r.pose.data.reshape(r.pose.data.shape[0], -1)
        pose = resample(flat, r.pose.rate, rate)[:n].reshape(-1, *r.pose.data.shape[1:])
        if pose.shape[0] < n:  # a clip whose pose ends early: hold its last frame
            pose = np.concatenate([pose, np.repeat(pose[-1:], n - pose.shape[0], axis=0)])
        # Clips were filmed with the subject standing in slightly different spots; moving each
        # clip so it starts where the previous one ended removes jumps no real body makes.
        if shift is not None:
            pose = pose - pose[:1, root : root + 1] + shift
        shift = pose[-1:, root : root + 1]
        imu_parts.append(imu.data)
        pose_parts.append(pose)
        spans.append(TextSpan(t, t + n / rate, f"{r.label_text()} [{r.id}]"))
        t += n / rate
    imu0 = first.imu[0]
    return Recording(
        id=rec_id,
        dataset=dataset or first.dataset,
        subject=first.subject,
        labels=[],
        imu=[ImuStream(np.concatenate(imu_parts), rate, list(imu0.channels), imu0.placement, source=rec_id)],
        pose=PoseStream(np.concatenate(pose_parts), rate, first.pose.skeleton, list(first.pose.joints), source=rec_id),
        text=spans,
        sources=[s for r in recs for s in r.sources],
    )


def subject_streams(entries: list[Entry], subjects: set[str] | None = None,
                    skipped: list[tuple[str, str]] | None = None) -> list[Recording]:
    """One long recording per (subject, sensor placement): the subject's clips in listing
    order (UTD-MHAD: action, then trial). Clips that fail to load are reported in `skipped`
    and left out, the way a build would."""
    groups: dict[tuple[str, str], list[Recording]] = defaultdict(list)
    for entry in entries:
        if subjects is not None and entry.subject is not None and entry.subject not in subjects:
            continue
        try:
            rec = entry.load()
        except BadInput as exc:
            if skipped is not None:
                skipped.append((exc.path, exc.reason))
            continue
        if subjects is not None and rec.subject not in subjects:
            continue
        if len(rec.imu) != 1 or rec.pose is None:
            if skipped is not None:
                skipped.append((entry.id, "needs one IMU and a pose stream to join a concatenated stream"))
            continue
        groups[(rec.subject or "", rec.imu[0].placement)].append(rec)
    out = []
    for (subject, placement), recs in sorted(groups.items()):
        dataset = recs[0].dataset
        out.append(concat_recordings(recs, f"{dataset}/s{subject}-{placement}-concat", dataset))
    return out
