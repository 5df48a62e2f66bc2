"""Training/evaluation windows read from an archive: per window the IMU and pose inputs, the
video input when the recording has a video, and the caption (the label text) it is trained
against in the text-aligned space, or judged by in the IMU <-> pose one. The IMU window and the
pose window of the same recording over the same interval form a pair.

Video frames are decoded per window (PyAV seeks to each) and passed through the video tower's
fixed `prepare` step straight away, so only the small prepared form stays in memory.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from encoders.features import featurize
from indexer.errors import BadInput
from indexer.model import Entry
from indexer.windows import WindowSpec, recording_windows, video_windows

log = logging.getLogger(__name__)

Prepare = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class TextAlignedSet:
    imu: np.ndarray  # (N, n_imu, C)
    imu_valid: np.ndarray
    pose: np.ndarray  # (N, n_pose, F)
    pose_valid: np.ndarray
    captions: list[str]  # what each window is trained against / judged by (its label text)
    recording_ids: list[str]
    subjects: list[str]
    t_start: np.ndarray
    video: np.ndarray | None = None  # (N, ...) the video tower's prepared inputs; zeros where absent
    video_valid: np.ndarray | None = None  # (N,) frames; 0 where the recording has no usable video
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.captions)

    @property
    def labels(self) -> list[str]:
        """The label text of each window (what class-level metrics compare)."""
        return self.captions

    @property
    def has_video(self) -> np.ndarray:
        if self.video_valid is None:
            return np.zeros(len(self), bool)
        return self.video_valid > 0

    def subset(self, keep: np.ndarray) -> TextAlignedSet:
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        return TextAlignedSet(self.imu[idx], self.imu_valid[idx], self.pose[idx], self.pose_valid[idx],
                           pick(self.captions), pick(self.recording_ids), pick(self.subjects), self.t_start[idx],
                           None if self.video is None else self.video[idx],
                           None if self.video_valid is None else self.video_valid[idx], list(self.skipped))


def text_aligned_windows(entries: list[Entry], spec: WindowSpec, rates: dict[str, float],
                         subjects: set[str] | None = None, labels: set[str] | None = None,
                         video_prepare: Prepare | None = None, video_size: int | None = None,
                         progress: bool = True) -> TextAlignedSet:
    """Windows of recordings with IMU and pose (and `labels`, when given). With `video_prepare`
    and a "video" rate, each window's frames are decoded and prepared; a video that cannot be
    decoded is reported in `skipped` and its windows train without video."""
    imu, imu_v, pose, pose_v, caps, recs, subs, starts = [], [], [], [], [], [], [], []
    vids: list[np.ndarray | None] = []
    vid_v: list[int] = []
    skipped: list[tuple[str, str]] = []
    want_video = video_prepare is not None and "video" in rates
    if subjects is not None:
        entries = [e for e in entries if e.subject is None or e.subject in subjects]
    for entry in tqdm(entries, desc="reading windows", unit="rec", disable=not progress):
        try:
            rec = entry.load()
        except BadInput as exc:
            skipped.append((exc.path, exc.reason))
            continue
        if subjects is not None and rec.subject not in subjects:
            continue
        if labels is not None and not set(rec.labels) & labels:
            continue
        if not rec.imu or rec.pose is None:
            skipped.append((entry.id, "needs both an IMU and a pose stream"))
            continue
        windows = recording_windows(rec, spec, {"imu": rates["imu"], "pose": rates["pose"]})
        first_imu = rec.imu[0].placement
        by_start = {w.t_start: w for w in windows if w.modality == "pose"}
        pairs = [(w, by_start[w.t_start]) for w in windows
                 if w.modality == "imu" and w.body_part == first_imu and w.t_start in by_start]
        video_by_start = {}
        if want_video and rec.video is not None and pairs:
            try:
                vw = video_windows(rec, spec, rates["video"], [w.t_start for w, _ in pairs], video_size)
                video_by_start = {w.t_start: w for w in vw}
            except BadInput as exc:
                skipped.append((exc.path, f"video left out: {exc.reason}"))
        caption = rec.label_text()
        for w, p in pairs:
            imu.append(featurize("imu", w.data, w.valid))
            imu_v.append(w.valid)
            pose.append(featurize("pose", p.data, p.valid))
            pose_v.append(p.valid)
            caps.append(caption)
            recs.append(rec.id)
            subs.append(rec.subject or "")
            starts.append(w.t_start)
            v = video_by_start.get(w.t_start)
            if v is not None:
                prepared = video_prepare(torch.from_numpy(v.data[None]), torch.tensor([v.valid]))[0]
                vids.append(_compact(prepared))
                vid_v.append(v.valid)
            else:
                vids.append(None)
                vid_v.append(0)
    if not caps:
        raise ValueError("no windows with both IMU and pose found in the source"
                         + (f" for labels {sorted(labels)}" if labels else ""))
    video = video_valid = None
    if want_video:
        shape = next((v.shape for v in vids if v is not None), None)
        if shape is not None:
            dtype = next(v.dtype for v in vids if v is not None)
            video = np.stack([v if v is not None else np.zeros(shape, dtype) for v in vids])
            video_valid = np.array(vid_v)
    return TextAlignedSet(np.stack(imu), np.array(imu_v), np.stack(pose), np.array(pose_v), caps, recs, subs,
                       np.array(starts), video, video_valid, skipped)


def _compact(prepared: torch.Tensor) -> np.ndarray:
    """Prepared frames in [0, 1] are kept as uint8 (4x less memory); embeddings stay float."""
    x = prepared.numpy()
    if prepared.ndim >= 3:  # frames (F, C, H, W); other prepared forms are embeddings
        return np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    return x.astype(np.float32)


PairedSet = TextAlignedSet  # an IMU <-> pose set is the same set without video, judged by its labels


def paired_windows(entries: list[Entry], spec: WindowSpec, rates: dict[str, float],
                   subjects: set[str] | None = None, progress: bool = True) -> PairedSet:
    """IMU + pose window pairs (the first IMU of each recording) of the given subjects."""
    return text_aligned_windows(entries, spec, {"imu": rates["imu"], "pose": rates["pose"]}, subjects,
                                progress=progress)


def model_windows(entries: list[Entry], config: dict, model, subjects: set[str] | None = None,
                  labels: set[str] | None = None, progress: bool = True) -> TextAlignedSet:
    """The windows a checkpoint config reads (its window spec and tower rates), with the video
    prepared by `model`'s video tower when it has one."""
    rates = {m: float(s["rate"]) for m, s in config["towers"].items()}
    video = model.towers["video"] if "video" in model.towers else None
    return text_aligned_windows(entries, WindowSpec(**config["window"]), rates, subjects, labels,
                                video_prepare=video.prepare if video is not None else None,
                                video_size=config["towers"]["video"]["size"] if video is not None else None,
                                progress=progress)
