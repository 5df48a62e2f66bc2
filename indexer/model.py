"""The one data model every importer produces and everything downstream consumes.

Units are fixed here so nothing downstream has to guess: time in seconds from the start of
the recording, rates in Hz, acceleration in m/s^2, angular velocity in rad/s, positions in
metres. Importers convert; see `indexer.units`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from indexer.bodyparts import BODY_PARTS, canonical_joint_positions
from indexer.bounds import MAX_DURATION, RATE_RANGE
from indexer.errors import BadInput

# What a window holds: the streams a recording can have, each with its own tower.
Modality = Literal["imu", "pose", "video"]
MODALITIES: tuple[str, ...] = get_args(Modality)


def _check_timing(where: str, what: str, rate: float, samples: int) -> None:
    """A rate far outside what sensors record is a unit or typing mistake (1e-6 Hz once turned a
    300-row file into a 14 GB build); so is a recording longer than MAX_DURATION."""
    low, high = RATE_RANGE
    if not low <= rate <= high:
        raise BadInput(where, f"{what} {rate:g} Hz is outside {low:g}-{high:g} Hz")
    if samples / rate > MAX_DURATION:
        raise BadInput(where, f"{samples} samples at {rate:g} Hz last {samples / rate / 3600:.0f} h, "
                              f"more than the {MAX_DURATION / 3600:.0f} h one recording may hold")


def _check_offset(where: str, offset: float) -> None:
    if not np.isfinite(offset) or abs(offset) > MAX_DURATION:
        raise BadInput(where, f"stream offset {offset!r} s is not a time within a recording")


@dataclass
class ImuStream:
    """One inertial sensor: samples (T x C) with named channels, worn at one body part."""

    data: np.ndarray  # (T, C) float32, acc_* in m/s^2, gyr_* in rad/s
    rate: float
    channels: list[str]
    placement: str  # canonical body part, e.g. "right_wrist"
    source: str = ""
    offset: float = 0.0  # recording time (s) of the first sample: a stream cropped later, or a segment after a gap

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        where = self.source or "IMU stream"
        if self.data.ndim != 2:
            raise BadInput(where, f"IMU data must be 2-D (samples x channels), got shape {self.data.shape}")
        if self.data.shape[0] == 0:
            raise BadInput(where, "IMU stream is empty (0 samples)")
        if self.data.shape[1] != len(self.channels):
            raise BadInput(
                where,
                f"IMU has {self.data.shape[1]} columns but {len(self.channels)} channel names {self.channels}",
            )
        if not np.isfinite(self.rate) or self.rate <= 0:
            raise BadInput(where, f"unknown or invalid IMU rate {self.rate!r} Hz")
        _check_timing(where, "IMU sample rate", self.rate, self.data.shape[0])
        if not np.isfinite(self.data).all():
            bad = int((~np.isfinite(self.data)).sum())
            raise BadInput(where, f"IMU data holds {bad} NaN/inf values")
        if self.placement not in BODY_PARTS:
            raise BadInput(where, f"unknown sensor placement {self.placement!r}; known: {', '.join(BODY_PARTS)}")
        _check_offset(where, self.offset)

    @property
    def duration(self) -> float:
        return self.data.shape[0] / self.rate

    @property
    def end(self) -> float:
        """Recording time (s) just after the last sample."""
        return self.offset + self.duration


@dataclass
class PoseStream:
    """A pose / mocap sequence: T frames of J joints in 2-D or 3-D (metres for 3-D)."""

    data: np.ndarray  # (T, J, D) float32, D in {2, 3}
    rate: float
    skeleton: str  # "kinect20", "cmu-bvh", "coco17", ... (see indexer.bodyparts.SKELETONS)
    joints: list[str]  # the skeleton's own joint names, in column order
    source: str = ""
    offset: float = 0.0  # recording time (s) of the first frame

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        where = self.source or "pose stream"
        if self.data.ndim != 3 or self.data.shape[2] not in (2, 3):
            raise BadInput(where, f"pose data must be (frames, joints, 2|3), got shape {self.data.shape}")
        if self.data.shape[0] == 0:
            raise BadInput(where, "pose stream is empty (0 frames)")
        if self.data.shape[1] != len(self.joints):
            raise BadInput(where, f"pose has {self.data.shape[1]} joints but {len(self.joints)} joint names")
        if not np.isfinite(self.rate) or self.rate <= 0:
            raise BadInput(where, f"unknown or invalid pose frame rate {self.rate!r} Hz")
        _check_timing(where, "pose frame rate", self.rate, self.data.shape[0])
        if not np.isfinite(self.data).all():
            bad = int((~np.isfinite(self.data)).sum())
            raise BadInput(where, f"pose data holds {bad} NaN/inf values")
        _check_offset(where, self.offset)

    @property
    def duration(self) -> float:
        return self.data.shape[0] / self.rate

    @property
    def end(self) -> float:
        """Recording time (s) just after the last frame."""
        return self.offset + self.duration

    def canonical(self) -> np.ndarray:
        """(T, 16, D) positions on the canonical joint set, whatever the source skeleton."""
        return canonical_joint_positions(self.data, self.skeleton, self.joints)


@dataclass
class VideoStream:
    """A video file, decoded lazily (only the frames a window needs)."""

    path: str
    duration: float | None = None  # seconds; None = read from the container when needed
    offset: float = 0.0  # recording time of the video's first frame


@dataclass
class TextSpan:
    start: float
    end: float
    text: str


# A recording with neither IMU nor pose (video or text alone) has no sample period to go by: one
# frame of 25 fps video.
FRAME_PERIOD_WITHOUT_STREAMS = 0.04


@dataclass
class Recording:
    id: str
    dataset: str
    subject: str | None = None
    labels: list[str] = field(default_factory=list)
    imu: list[ImuStream] = field(default_factory=list)
    pose: PoseStream | None = None
    video: VideoStream | None = None
    text: list[TextSpan] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    trial: str | None = None

    @property
    def duration(self) -> float:
        lengths = [s.end for s in self.imu]
        if self.pose is not None:
            lengths.append(self.pose.end)
        if self.video is not None and self.video.duration:
            lengths.append(self.video.offset + self.video.duration)
        if not lengths and self.text:
            lengths.append(max(t.end for t in self.text))
        return float(max(lengths)) if lengths else 0.0

    def modalities(self) -> list[str]:
        out = []
        if self.imu:
            out.append("imu")
        if self.pose is not None:
            out.append("pose")
        if self.video is not None:
            out.append("video")
        if self.text:
            out.append("text")
        return out

    def label_text(self) -> str:
        """A one-line description: the labels, else the text annotations."""
        if self.labels:
            return "; ".join(self.labels)
        return "; ".join(t.text for t in self.text)

    def placements(self) -> list[str]:
        """The body parts the recording's IMUs are worn on, each once, in stream order."""
        return list(dict.fromkeys(s.placement for s in self.imu))

    def frame_period(self) -> float:
        """The time one sample or frame lasts in the recording's coarsest stream (its timing
        resolution); FRAME_PERIOD_WITHOUT_STREAMS for a recording of video or text alone."""
        rates = [s.rate for s in self.imu] + ([self.pose.rate] if self.pose is not None else [])
        return 1.0 / min(rates) if rates else FRAME_PERIOD_WITHOUT_STREAMS

    def covers_whole(self, span: TextSpan) -> bool:
        """Whether `span` lasts the whole recording to within one frame at either end: annotation
        files round their times (to the millisecond, to a frame), and a description whose end is
        rounded down is still the recording's description, not a moment of it."""
        slack = self.frame_period() + 1e-9
        return span.start <= slack and span.end >= self.duration - slack

    def window_label(self, t_start: float, t_end: float) -> str:
        """The label of the window [t_start, t_end]: the text of the span covering most of it;
        the recording's labels when no span covers it or two spans cover it equally.

        A span lasting the whole recording describes it as its labels already do ("a person
        waves their right hand" for "waving"), so when there are labels it is not used: filters
        on `label` keep finding "waving", and only moments label windows differently."""
        best, best_cover, tied = None, 0.0, False
        for span in self.text:
            if self.labels and self.covers_whole(span):
                continue
            cover = min(span.end, t_end) - max(span.start, t_start)
            if cover <= 1e-9:
                continue
            if cover > best_cover + 1e-9:
                best, best_cover, tied = span.text, cover, False
            elif abs(cover - best_cover) <= 1e-9 and span.text != best:
                tied = True
        if best is not None and not tied:
            return best
        return "; ".join(self.labels) if self.labels else (best or "")


@dataclass
class Entry:
    """A recording an importer has found but not yet read.

    Building checks `id` against the index before calling `load`, so a rebuild reads nothing
    it has already indexed.
    """

    id: str
    sources: list[str]
    load: Callable[[], Recording]
    subject: str | None = None  # when the listing already tells (file names), for cheap filtering
    split: str | None = None  # a manifest's `split` column ("train", "test", ...), when it has one

