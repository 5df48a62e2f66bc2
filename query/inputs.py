"""Read a query file (an IMU clip, a pose clip, several people, a video) into the data model.

Formats: UTD-MHAD .mat (inertial or skeleton), .bvh, .npy, .csv and .parquet; videos by
suffix (indexer.video.VIDEO_SUFFIXES). Whatever the file, the result is validated by the data
model, so a bad query gets the same clear error as a bad archive file. Reading goes through
the importers' own public readers, so a query file means what the same file means in an archive.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.io

from indexer import BadInput, ImuStream, PoseStream, VideoStream, probe_video
from indexer.bodyparts import DEFAULT_PLACEMENT, canonical_placement
from indexer.bounds import check_imu_values, check_stream_length
from indexer.importers import readers
from indexer.importers.readers import read_npy
from indexer.model import Modality
from indexer.pose2d import video_pose
from indexer.units import IMU6_CHANNELS, IMU_CHANNELS, imu_channels_to_si
from indexer.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 200 * 1024 * 1024
# The keyword options of read_imu / read_pose (the fields of indexer.importers.readers' file
# specs): callers holding both kinds (the CLI, as_motion) hand each reader only its own.
IMU_READ_OPTIONS = readers.read_options("imu")
POSE_READ_OPTIONS = readers.read_options("pose")
# How a reading error names an option: the way a query caller gives it.
_OPTION_NAMES = {"fps": "--rate", "time_columns": "--time-column"}


def _say(key: str) -> str:
    return _OPTION_NAMES.get(key, "--" + key.replace("_", "-"))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise BadInput(str(path), "file does not exist")
    size = path.stat().st_size
    if size == 0:
        raise BadInput(str(path), "file is empty")
    if size > MAX_QUERY_BYTES:
        raise BadInput(str(path), f"file is {size / 1e6:.0f} MB; queries are limited to {MAX_QUERY_BYTES / 1e6:.0f} MB")


# ---- option values ---------------------------------------------------------------------------------
def parse_names(value: str | list[str] | None) -> list[str] | None:
    """"a, b,c" (or a list) -> ["a", "b", "c"]; None stays None."""
    return readers.names(value, ",")


parse_joint_map = readers.parse_joint_map


# ---- IMU -------------------------------------------------------------------------------------------
def imu_from_array(data: np.ndarray, rate: float, channels: list[str] | str | None = None,
                   placement: str = DEFAULT_PLACEMENT, acc_unit: str = "m/s^2", gyr_unit: str = "rad/s",
                   source: str = "array") -> ImuStream:
    """An in-memory IMU clip (T x C) as a stream. `channels` name its columns (any subset of
    acc/gyr/mag/quat, indexer.units.IMU_CHANNEL_GROUPS); default: acc_x.. then gyr_x.., as
    many as there are columns."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2:
        raise BadInput(source, f"IMU data must be 2-D (samples x channels), got shape {data.shape}")
    channels = parse_names(channels) or list(IMU6_CHANNELS)[: data.shape[1]]
    unknown = [c for c in channels if c not in IMU_CHANNELS]
    if unknown:
        raise BadInput(source, f"{unknown} are not IMU channel names; known: {', '.join(IMU_CHANNELS)} "
                               "(rename the columns, or name them in order with --channels)")
    if len(set(channels)) != len(channels):
        raise BadInput(source, f"repeated channel names {channels}")
    if data.shape[1] != len(channels):
        raise BadInput(source, f"IMU has {data.shape[1]} columns but {len(channels)} channel names {channels}")
    # A unit only converts acc_*/gyr_* columns; with none of them it would silently do nothing.
    for prefix, unit, si in (("acc", acc_unit, "m/s^2"), ("gyr", gyr_unit, "rad/s")):
        if unit.strip().lower() != si and not any(c.startswith(prefix) for c in channels):
            raise BadInput(source, f"{prefix} unit {unit!r} given but the IMU has no {prefix}_* channel ({channels})")
    try:
        data = imu_channels_to_si(data, channels, acc_unit, gyr_unit)
        where = canonical_placement(placement)
    except ValueError as exc:
        raise BadInput(source, str(exc)) from None
    stream = ImuStream(data, float(rate), list(channels), where, source=source)
    # The same physical bounds as an archive's files (indexer.bounds): a query of garbage or in
    # the wrong unit would otherwise come back with confident, meaningless hits.
    check_stream_length(source, len(stream.data), stream.rate)
    check_imu_values(source, stream.data, stream.channels)
    return stream


def _default_channels(path: Path) -> list[str] | None:
    """acc_x.. then gyr_x.., as many as a 2-D .npy has columns (None when its header cannot say:
    the reader then names what is wrong with the file)."""
    try:
        shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    except Exception:  # noqa: BLE001  # numpy raises many kinds for a file that is no array
        return None
    return list(IMU6_CHANNELS)[: shape[1]] if len(shape) == 2 else None


def read_imu(path: str | Path, rate: float | None = None, placement: str | None = None,
             acc_unit: str | None = None, gyr_unit: str | None = None, channels: list[str] | str | None = None,
             time_column: str | None = None, time_unit: str | None = None,
             max_gap: float | None = None) -> ImuStream:
    """An IMU query clip, read as the same file in an archive is (indexer.importers.readers).
    UTD-MHAD inertial .mat files carry their own units (g, deg/s) and rate (50 Hz); other
    formats are in `acc_unit` / `gyr_unit` (default m/s^2, rad/s) and need `rate`, or, for a
    table, `time_column` (in `time_unit`: s, ms, us, ns or iso): the samples are then put on a
    uniform grid at `rate` (default: the clock's median rate), and where the clock stops for
    more than `max_gap` s (default 1) the longest gap-free part is used (a warning says so). A
    table's columns are channels by name (acc_x ... gyr_z, mag_*, quat_*; any subset, e.g. acc
    only; columns named t, time or timestamp are left out); `channels` names the columns of a
    .npy (default acc_x.. then gyr_x..) or renames a table's in order."""
    path = Path(path)
    _check_file(path)
    channels = parse_names(channels)
    if channels is None and path.suffix.lower() == ".npy":  # a nameless array: acc_x.. then gyr_x..
        channels = _default_channels(path)
    values = {"rate": rate, "placement": placement, "acc_unit": acc_unit, "gyr_unit": gyr_unit,
              "channels": channels, "time_column": time_column, "time_unit": time_unit, "max_gap": max_gap}
    if path.suffix.lower() not in readers.IMU_SUFFIXES:
        raise BadInput(str(path), f"unknown IMU file type {path.suffix.lower()!r}; use .mat, .npy, .csv or .parquet")
    try:
        spec = readers.imu_file_spec(values, [path], say=_say)
    except ValueError as exc:
        raise BadInput(str(path), str(exc)) from None
    streams = readers.read_imu(spec, notes_to=log)
    longest = max(streams, key=lambda s: len(s.data))
    if len(streams) > 1:  # a query is one clip: refusing would make the user cut the file by hand
        log.warning(f"{path}: the query uses the longest of its {len(streams)} gap-free parts, "
                    f"{longest.duration:.2f} s from t = {longest.offset:.2f} s")
    return replace(longest, offset=0.0)


# ---- pose ------------------------------------------------------------------------------------------
def pose_from_array(data: np.ndarray, rate: float, skeleton: str | None = None, joints: list[str] | str | None = None,
                    joint_map: dict | str | None = None, units: str | None = None, up: str | None = None,
                    source: str = "array") -> PoseStream:
    """An in-memory pose clip (T, J, 2|3) as a stream.

    `joints`: the array's joint names in column order (default: the Kinect-20, COCO-17 or
    canonical-16 names by joint count, or `skeleton`'s). `joint_map`: {file joint: canonical
    joint} for a skeleton the engine does not know; the mapped joints become skeleton
    "canonical" and the others are dropped. `units`: length unit of 3-D positions (m, cm, mm;
    default m). `up`: the axis pointing up (y, -y, z, -z; default y)."""
    try:
        joint_map = parse_joint_map(joint_map)
    except ValueError as exc:
        raise BadInput(source, str(exc)) from None
    return readers.pose_stream(data, rate, skeleton, parse_names(joints), joint_map, units, up or "y", source,
                               notes_to=log)


def read_pose(path: str | Path, rate: float | None = None, skeleton: str | None = None,
              joint_map: dict | str | None = None, joints: list[str] | str | None = None,
              units: str | None = None, up: str | None = None) -> PoseStream:
    """A pose query clip, read as the same file in an archive is: UTD-MHAD skeleton .mat, .bvh,
    or .npy (T, J, 2|3) with `rate`. `joint_map`, `joints`, `units` and `up` as in
    `pose_from_array`; a .bvh's own units are measured from its rest pose unless `units` is
    given."""
    path = Path(path)
    _check_file(path)
    if path.suffix.lower() not in readers.POSE_SUFFIXES:
        raise BadInput(str(path), f"unknown pose file type {path.suffix.lower()!r}; use .mat, .bvh or .npy")
    values = {"fps": rate, "skeleton": skeleton, "joint_map": joint_map, "joints": parse_names(joints),
              "units": units, "up": up}
    try:
        spec = readers.pose_file_spec(values, path, say=_say)
    except ValueError as exc:
        raise BadInput(str(path), str(exc)) from None
    return readers.read_pose(spec, notes_to=log)


def read_people(path: str | Path, rate: float | None = None, skeleton: str | None = None, **pose_kw) -> list[PoseStream]:
    """Several people's poses from one file: a .npy of shape (people, frames, joints, 2|3)
    (needs `rate`), or any single-person file `as_motion` reads. `pose_kw`: read_pose's
    joint_map, joints, units, up."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        _check_file(path)
        data = read_npy(path)
        if data.ndim == 4:
            if rate is None:
                raise BadInput(str(path), "unknown rate: give the pose frame rate in Hz (--rate)")
            return [pose_from_array(person, float(rate), skeleton, source=f"{path}[person {i}]", **pose_kw)
                    for i, person in enumerate(data)]
    if path.suffix.lower() in VIDEO_SUFFIXES or (path.suffix.lower() == ".mat" and _mat_has(path, "d_iner")):
        return [as_motion(path)]  # `rate` is a pose frame rate: it does not time a video or an IMU
    return [read_pose(path, rate, skeleton, **pose_kw)]


def guess_modality(path: str | Path) -> str:
    """The modality of a query file, from its name: a video by suffix, .bvh or *_skeleton pose, else IMU."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix == ".bvh" or Path(path).stem.endswith("_skeleton"):
        return "pose"
    return "imu"


def reader_options(read_kw: dict, modality: Modality) -> dict:
    """The options of `read_kw` that the reader of `modality` ("imu" or "pose") takes, unset ones
    left out (so each reader's defaults apply)."""
    names = readers.read_options(modality)
    return {k: v for k, v in read_kw.items() if k in names and v is not None}


def as_imu(x: ImuStream | str | Path, **read_kw) -> ImuStream:
    """An IMU stream as it is, or read from a file (read_kw: read_imu's options; others, such as
    pose options, are ignored)."""
    if isinstance(x, ImuStream):
        return x
    return read_imu(x, **reader_options(read_kw, "imu"))


def as_motion(x: ImuStream | PoseStream | str | Path, **read_kw) -> ImuStream | PoseStream:
    """The stream to compare an IMU with: a pose (skeleton file, or 2-D pose from a video) or
    another IMU (a UTD-MHAD inertial file). read_kw: read_imu's and read_pose's options; each
    reader gets its own."""
    if isinstance(x, (ImuStream, PoseStream)):
        return x
    path = Path(x)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return video_pose(path)
    if path.suffix.lower() == ".mat" and path.exists() and _mat_has(path, "d_iner"):
        return read_imu(path, **reader_options(read_kw, "imu"))
    return read_pose(path, **reader_options(read_kw, "pose"))


def _mat_has(path: Path, key: str) -> bool:
    try:
        return any(name == key for name, _, _ in scipy.io.whosmat(str(path)))
    except Exception:  # noqa: BLE001  # unreadable: let the pose reader name the problem
        return False


def read_video(path: str | Path, start: float | None = None, end: float | None = None) -> VideoStream:
    """The [start, end] part of a video file as a stream whose time 0 is `start` (decoded later,
    only the frames its windows need)."""
    info = probe_video(path)
    s = float(start or 0.0)
    e = min(float(end), info.duration) if end is not None else info.duration
    if s < 0 or e - s <= 0:
        raise BadInput(str(path), f"empty interval [{s}, {e}] s of a {info.duration:.2f} s video")
    return VideoStream(str(path), duration=e, offset=-s)


def crop_stream(stream: ImuStream | PoseStream, start: float, end: float | None):
    """The part of a stream between `start` and `end` seconds (validated like any stream, so
    a range that leaves nothing is a BadInput naming the stream)."""
    i0 = round(start * stream.rate)
    i1 = None if end is None else round(end * stream.rate)
    return replace(stream, data=stream.data[i0:i1])
