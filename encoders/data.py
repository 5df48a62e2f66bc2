"""Training/evaluation windows read from an archive: per window the IMU and pose inputs, the
video input when the recording has a video, and the caption (the label of the text span
covering the window, else the recording's labels) it is trained against in the text-aligned
space, or judged by in the IMU <-> pose one. Every IMU sensor of a recording gives windows; each
pairs with the recording's pose window over the same interval. Rows record which modalities
they hold, so recordings with different streams (IMU + text, mocap + text, IMU + pose) mix.

Video frames are decoded per window (PyAV seeks to each) and passed through the video tower's
fixed `prepare` step straight away, so only the small prepared form stays in memory.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm import tqdm

from encoders.channels import DEFAULT_GROUPS, conform_stream, drop_groups, group_channels
from encoders.config import EncoderConfig, TowerConfig
from encoders.features import featurize
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.errors import BadInput
from indexer.importers import keeps, select
from indexer.model import Entry
from indexer.reading import NotePrinter, importer_notes
from indexer.windows import WindowSpec, recording_windows, video_windows, window_starts

log = logging.getLogger(__name__)

Prepare = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class NoWindows(ValueError):
    """Nothing left to train or evaluate on; `skipped` says what was left out and why."""

    def __init__(self, message: str, skipped: list[tuple[str, str]]):
        if skipped:
            shown = "; ".join(f"{p}: {r}" for p, r in skipped[:5])
            message += f" ({len(skipped)} skipped: {shown}{'; ...' if len(skipped) > 5 else ''})"
        super().__init__(message)
        self.skipped = list(skipped)


@dataclass
class TextAlignedSet:
    """One row per IMU window of every sensor (its placement in `placements`), with the pose
    window and video window of the recording at the same start when there are; a start with no
    IMU window gives one row of whatever else there is (mocap with text, video with text). The
    `has_*` masks say what each row holds; absent parts are zeros."""

    imu: np.ndarray  # (N, n_imu, C) in the tower's channel order; zeros where absent
    imu_valid: np.ndarray  # (N,) samples; 0 where the row has no IMU window
    pose: np.ndarray  # (N, n_pose, F)
    pose_valid: np.ndarray  # (N,) frames; 0 where the row has no pose window
    captions: list[str]  # what each window is trained against / judged by (its label text); "" if none
    recording_ids: list[str]
    subjects: list[str]
    t_start: np.ndarray
    video: np.ndarray | None = None  # (N, ...) the video tower's prepared inputs; zeros where absent
    video_valid: np.ndarray | None = None  # (N,) frames; 0 where the recording has no usable video
    skipped: list[tuple[str, str]] = field(default_factory=list)
    placements: list[str] | None = None  # the IMU's body part per row ("" without IMU)
    imu_present: np.ndarray | None = None  # (N, C) bool: channels the stream really has (others zero-filled)
    # Per row, sentences it may be trained against instead of its caption, one drawn at random
    # each time the row is used (pretraining's computed captions, encoders.describe); None: the caption.
    caption_pool: list[list[str]] | None = None

    def __post_init__(self):
        if self.placements is None:
            self.placements = ["" for _ in self.captions]
        if self.imu_present is None:
            self.imu_present = np.repeat((self.imu_valid > 0)[:, None], self.imu.shape[-1], axis=1)

    def __len__(self) -> int:
        return len(self.captions)

    @property
    def labels(self) -> list[str]:
        """The label text of each window (what class-level metrics compare)."""
        return self.captions

    @property
    def has_imu(self) -> np.ndarray:
        return self.imu_valid > 0

    @property
    def has_pose(self) -> np.ndarray:
        return self.pose_valid > 0

    @property
    def has_video(self) -> np.ndarray:
        if self.video_valid is None:
            return np.zeros(len(self), bool)
        return self.video_valid > 0

    @property
    def has_text(self) -> np.ndarray:
        pools = self.caption_pool or [()] * len(self.captions)
        return np.array([bool(c) or bool(p) for c, p in zip(self.captions, pools)], bool)

    def pair_counts(self) -> dict[str, int]:
        """Rows per pair of modalities the set can train (what each loss term sees)."""
        has = {"imu": self.has_imu, "pose": self.has_pose, "video": self.has_video, "text": self.has_text}
        terms = ("imu-text", "pose-text", "imu-pose", "imu-video", "video-text")
        return {t: int((has[t.split("-")[0]] & has[t.split("-")[1]]).sum()) for t in terms}

    def pair_keys(self) -> list[tuple[str, float]]:
        """(recording, start) of each row: rows with one key show the same moment (several sensors)."""
        return list(zip(self.recording_ids, self.t_start.tolist()))

    def moments(self) -> list[np.ndarray]:
        """The IMU rows grouped by (recording, start), in order of first appearance: the sensors
        worn at one moment, which a fusion module (encoders.fusion) fuses into one vector."""
        groups: dict[tuple[str, float], list[int]] = {}
        for i in np.flatnonzero(self.has_imu):
            groups.setdefault((self.recording_ids[i], round(float(self.t_start[i]), 6)), []).append(int(i))
        return [np.array(g, dtype=np.int64) for g in groups.values()]

    def subset(self, keep: np.ndarray) -> TextAlignedSet:
        keep = np.asarray(keep)
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep
        pick = lambda xs: [xs[i] for i in idx]  # noqa: E731
        return TextAlignedSet(self.imu[idx], self.imu_valid[idx], self.pose[idx], self.pose_valid[idx],
                              pick(self.captions), pick(self.recording_ids), pick(self.subjects), self.t_start[idx],
                              None if self.video is None else self.video[idx],
                              None if self.video_valid is None else self.video_valid[idx], list(self.skipped),
                              pick(self.placements), self.imu_present[idx],
                              None if self.caption_pool is None else pick(self.caption_pool))


# The IMU tower read when no config is given: acc + gyr, trained without channel dropout.
DEFAULT_IMU = TowerConfig("any", 50.0, channels=tuple(group_channels(DEFAULT_GROUPS)))


def _imu_streams(rec, imu: TowerConfig, skipped: list) -> tuple[list, dict[str, np.ndarray]]:
    """The recording's IMU streams the encoder reads (conformed) and, per placement, the channels
    every stream there really has. A stream the encoder cannot read is reported and left out;
    the recording keeps its other sensors."""
    streams, present = [], {}
    for s in rec.imu:
        try:
            conformed, has = conform_stream(s, imu, rec.id)
        except BadInput as exc:
            skipped.append((exc.path, f"IMU at {s.placement} left out: {exc.reason}"))
            continue
        streams.append(conformed)
        present[s.placement] = present.get(s.placement, has) & has
    return streams, present


@dataclass
class WindowRow:
    """One row of a TextAlignedSet: an IMU window (or none) with the pose and video windows of
    the same start and the caption it is trained against."""

    imu: np.ndarray
    imu_valid: int
    imu_present: np.ndarray
    placement: str
    pose: np.ndarray
    pose_valid: int
    caption: str
    recording_id: str
    subject: str
    t_start: float
    video: np.ndarray | None
    video_valid: int


def collate(rows: list[WindowRow], want_video: bool, skipped: list[tuple[str, str]]) -> TextAlignedSet:
    """The set of `rows`, in their order; a video column only when `want_video` and some row has one."""
    video = video_valid = None
    if want_video:
        first = next((r.video for r in rows if r.video is not None), None)
        if first is not None:
            video = np.stack([r.video if r.video is not None else np.zeros(first.shape, first.dtype) for r in rows])
            video_valid = np.array([r.video_valid for r in rows])
    return TextAlignedSet(np.stack([r.imu for r in rows]), np.array([r.imu_valid for r in rows]),
                          np.stack([r.pose for r in rows]), np.array([r.pose_valid for r in rows]),
                          [r.caption for r in rows], [r.recording_id for r in rows], [r.subject for r in rows],
                          np.array([r.t_start for r in rows], dtype=np.float64), video, video_valid, skipped,
                          [r.placement for r in rows], np.stack([r.imu_present for r in rows]))


@dataclass
class _Reading:
    """What reading windows of one archive takes: the window spec, the rates per modality, the
    IMU tower's channels, the label filter and the video tower's prepare step."""

    spec: WindowSpec
    rates: dict[str, float]
    imu: TowerConfig
    labels: set[str] | None
    video_prepare: Prepare | None
    video_size: int | None

    def __post_init__(self):
        self.want_video = self.video_prepare is not None and "video" in self.rates
        n_imu = int(round(self.spec.length * self.rates["imu"])) if "imu" in self.rates else 0
        n_pose = int(round(self.spec.length * self.rates["pose"])) if "pose" in self.rates else 0
        self.channels = len(self.imu.channels)
        self.zero_imu = np.zeros((n_imu, self.channels), np.float32)
        self.zero_pose = featurize("pose", np.zeros((n_pose, len(CANONICAL_JOINTS), 3), np.float32), 0)

    def rows(self, rec, entry_id: str, skipped: list) -> list[WindowRow]:
        """The rows of one recording (see `text_aligned_windows`)."""
        rec_labels, present = set(rec.labels), {}
        if rec.imu and "imu" in self.rates:
            streams, present = _imu_streams(rec, self.imu, skipped)
            rec = replace(rec, imu=streams)
        has_video = self.want_video and rec.video is not None
        if not (rec.imu and "imu" in self.rates) and not (rec.pose is not None and "pose" in self.rates) and not has_video:
            skipped.append((entry_id, "no IMU, pose or video stream the encoder reads"))
            return []
        imu_at, pose_at, grid = self._by_start(rec)
        video_at = self._video_at(rec, grid, skipped) if has_video else {}
        out = []
        for t in grid:
            p, v = pose_at.get(t), video_at.get(t)
            prepared = None
            if v is not None:
                prepared = _compact(self.video_prepare(torch.from_numpy(v.data[None]), torch.tensor([v.valid]))[0])
            for w in imu_at.get(t) or [None]:
                if w is None and p is None and v is None:
                    continue
                caption = rec.window_label(t, next(x.t_end for x in (w, p, v) if x is not None))
                if self.labels is not None and caption not in self.labels and not rec_labels & self.labels:
                    continue
                out.append(WindowRow(
                    self.zero_imu if w is None else featurize("imu", w.data, w.valid), 0 if w is None else w.valid,
                    np.zeros(self.channels, bool) if w is None else present[w.body_part],
                    "" if w is None else w.body_part, self.zero_pose if p is None else featurize("pose", p.data, p.valid),
                    0 if p is None else p.valid, caption, rec.id, rec.subject or "", t, prepared,
                    0 if v is None else v.valid))
        return out

    def _by_start(self, rec) -> tuple[dict[float, list], dict, list[float]]:
        """The recording's IMU windows (several sensors) and pose window per start, and the starts."""
        windows = recording_windows(rec, self.spec, {m: self.rates[m] for m in ("imu", "pose") if m in self.rates})
        imu_at: dict[float, list] = {}
        pose_at = {}
        for w in windows:
            if w.modality == "imu":
                imu_at.setdefault(w.t_start, []).append(w)
            else:
                pose_at[w.t_start] = w
        grid = sorted(set(imu_at) | set(pose_at)) if windows else window_starts(rec.duration, self.spec)
        return imu_at, pose_at, grid

    def _video_at(self, rec, grid: list[float], skipped: list) -> dict:
        try:
            return {v.t_start: v for v in video_windows(rec, self.spec, self.rates["video"], grid, self.video_size)}
        except BadInput as exc:
            skipped.append((exc.path, f"video left out: {exc.reason}"))
            return {}


def text_aligned_windows(entries: list[Entry], spec: WindowSpec, rates: dict[str, float],
                         subjects: set[str] | None = None, labels: set[str] | None = None,
                         video_prepare: Prepare | None = None, video_size: int | None = None,
                         progress: bool = True, exclude: set[str] | None = None, config: EncoderConfig | None = None,
                         drop: set[str] | None = None) -> TextAlignedSet:
    """Windows of every recording of the selected subjects (`subjects`, minus `exclude`) with any
    stream the rates name: every IMU sensor's windows, each with the pose (and video) window of
    the same start and its caption (`Recording.window_label`). `labels` keeps the windows whose
    caption or recording labels are among them. IMU columns follow `config`'s IMU tower
    (encoders.channels; acc+gyr by default); `drop` removes sensor groups ("gyr") first. With
    `video_prepare` and a "video" rate, each window's frames are decoded and prepared; a video
    that cannot be decoded is reported in `skipped` and its windows train without video."""
    reading = _Reading(spec, rates, config.imu if config is not None else DEFAULT_IMU, labels, video_prepare,
                       video_size)
    rows: list[WindowRow] = []
    skipped: list[tuple[str, str]] = []
    with importer_notes() as notes:  # a few of each kind said, the rest counted (indexer.reading.NotePrinter)
        for entry in tqdm(select(entries, subjects, exclude), desc="reading windows", unit="rec", disable=not progress):
            try:
                rec = drop_groups(entry.load(), drop)
            except BadInput as exc:
                skipped.append((exc.path, exc.reason))
                continue
            if keeps(rec.subject, subjects, exclude):
                rows.extend(reading.rows(rec, entry.id, skipped))
    printer = NotePrinter([], log.warning)
    printer.add(notes)
    for line in printer.more():
        log.warning(line)
    if not rows:
        raise NoWindows("no windows found in the source" + (f" for labels {sorted(labels)}" if labels else ""),
                        skipped)
    return collate(rows, reading.want_video, skipped)


def _compact(prepared: torch.Tensor) -> np.ndarray:
    """Prepared frames in [0, 1] are kept as uint8 (4x less memory); embeddings stay float."""
    x = prepared.numpy()
    if prepared.ndim >= 3:  # frames (F, C, H, W); other prepared forms are embeddings
        return np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    return x.astype(np.float32)


PairedSet = TextAlignedSet  # an IMU <-> pose set is the same set without video, judged by its labels


def paired_windows(entries: list[Entry], spec: WindowSpec, rates: dict[str, float],
                   subjects: set[str] | None = None, progress: bool = True, exclude: set[str] | None = None,
                   config: EncoderConfig | None = None, drop: set[str] | None = None) -> PairedSet:
    """IMU + pose window pairs (every IMU sensor of each recording with the pose window of the
    same start) of the selected subjects. Recordings without both are reported in `skipped`,
    saying which stream they lack."""
    data = text_aligned_windows(entries, spec, {"imu": rates["imu"], "pose": rates["pose"]}, subjects,
                                progress=progress, exclude=exclude, config=config, drop=drop)
    both = data.has_imu & data.has_pose
    skipped = list(data.skipped)
    for rec_id in dict.fromkeys(data.recording_ids):
        rows = np.array([r == rec_id for r in data.recording_ids])
        if both[rows].any():
            continue
        has_i, has_p = data.has_imu[rows].any(), data.has_pose[rows].any()
        what = ("has IMU but no pose" if has_i and not has_p else "has pose but no IMU" if has_p and not has_i
                else "has IMU and pose that never overlap in a window" if has_i else "has neither IMU nor pose")
        skipped.append((rec_id, f"{what}: IMU<->pose training and evaluation need both "
                                "(text-aligned training, --text-tower, also uses recordings with text)"))
    if not both.any():
        raise NoWindows("no windows with both IMU and pose found in the source", skipped)
    out = data.subset(both)
    out.skipped = skipped
    return out


def model_windows(entries: list[Entry], config: EncoderConfig, model, subjects: set[str] | None = None,
                  labels: set[str] | None = None, progress: bool = True, exclude: set[str] | None = None,
                  drop: set[str] | None = None) -> TextAlignedSet:
    """The windows a checkpoint config reads (its window spec, tower rates and IMU channels), with
    the video prepared by `model`'s video tower when it has one."""
    video = model.towers["video"] if config.video is not None and "video" in model.towers else None
    return text_aligned_windows(entries, config.window, config.rates, subjects, labels,
                                video_prepare=video.prepare if video is not None else None,
                                video_size=config.video.size if video is not None else None,
                                progress=progress, exclude=exclude, config=config, drop=drop)
