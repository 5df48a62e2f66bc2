"""Read a query file (an IMU clip, a pose clip, several people, a video) into the data model.

Formats: UTD-MHAD .mat (inertial or skeleton), .bvh, .npy, .csv and .parquet; videos by
suffix (indexer.video.VIDEO_SUFFIXES). Whatever the file, the result is validated by the data
model, so a bad query gets the same clear error as a bad archive file. Reading goes through
the importers' own public readers, so a query file means what the same file means in an archive.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import scipy.io

from indexer import BadInput, ImuStream, PoseStream, VideoStream, probe_video
from indexer.bodyparts import (
    CANONICAL_JOINTS,
    COCO17_JOINTS,
    KINECT20_JOINTS,
    SKELETONS,
    apply_joint_map,
    canonical_joint_positions,
    canonical_placement,
    orient_up,
)
from indexer.bounds import check_imu_values, check_stream_length
from indexer.clocks import DEFAULT_MAX_GAP, parse_times, regularise
from indexer.importers import bvh
from indexer.importers.archive import read_npy
from indexer.importers.utd_mhad import IMU_RATE, read_mat, read_skeleton_frames
from indexer.pose2d import video_pose
from indexer.units import IMU6_CHANNELS, IMU_CHANNELS, imu_channels_to_si, length_to_si
from indexer.video import VIDEO_SUFFIXES

log = logging.getLogger(__name__)

MAX_QUERY_BYTES = 200 * 1024 * 1024
# The keyword options of read_imu / read_pose: one list, so callers holding both kinds (the CLI,
# as_motion) hand each reader only its own.
IMU_READ_OPTIONS = ("rate", "placement", "acc_unit", "gyr_unit", "channels", "time_column", "time_unit", "max_gap")
POSE_READ_OPTIONS = ("rate", "skeleton", "joint_map", "joints", "units", "up")
# Columns a table may hold besides its channels, dropped unless named as the time column.
TIME_NAMES = ("t", "time", "timestamp")
# Joint names of the skeletons a nameless array (.npy) can be, by name and by joint count.
KNOWN_JOINTS = {"kinect20": KINECT20_JOINTS, "coco17": COCO17_JOINTS, "canonical": CANONICAL_JOINTS}
_BY_COUNT = {len(joints): name for name, joints in KNOWN_JOINTS.items()}


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
    if value is None:
        return None
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value)]
    return [n for n in names if n] or None


def parse_joint_map(value: str | dict | None) -> dict[str, str] | None:
    """A joint map from the file's joint names to canonical ones: a dict, a JSON object (inline or
    a .json file), or "a=b,c=d" pairs. ValueError in one line when it is none of these."""
    if value is None or isinstance(value, dict):
        mapping = value
    else:
        text = value.strip()
        if text.lower().endswith(".json") and Path(text).is_file():
            text = Path(text).read_text(encoding="utf-8")
        if text.startswith("{"):
            try:
                mapping = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"joint map is not valid JSON ({exc})") from None
        else:
            pairs = [p.strip() for p in text.split(",") if p.strip()]
            bad = [p for p in pairs if p.count("=") != 1 or not all(s.strip() for s in p.split("="))]
            if bad or not pairs:
                raise ValueError(f"joint map {value!r}: expected a JSON object or FILE_NAME=canonical_name pairs "
                                 f"separated by commas (e.g. PELVIS=pelvis,HEAD=head); cannot read {bad or [text]}")
            mapping = dict(tuple(s.strip() for s in p.split("=")) for p in pairs)
    if mapping is None:
        return None
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ValueError("joint map must map joint names (text) to canonical joint names (text)")
    return mapping


# ---- IMU -------------------------------------------------------------------------------------------
def _read_table(path: Path) -> pl.DataFrame:
    try:
        df = pl.read_parquet(path) if path.suffix.lower() == ".parquet" else pl.read_csv(path)
    except Exception as exc:  # noqa: BLE001  # polars raises many kinds for a file that is no table
        raise BadInput(str(path), f"not a readable table ({type(exc).__name__}: {exc})") from None
    if df.height == 0:
        raise BadInput(str(path), "table has no rows")
    return df


def _numbers(df: pl.DataFrame, columns: list[str], path: Path) -> np.ndarray:
    try:
        # Cast every column instead of keeping the numeric ones: a NaN or a stray word makes
        # polars read a column as text, and dropping it would silently shift the channels.
        return df.select(pl.col(c).cast(pl.Float64, strict=True) for c in columns).to_numpy()
    except pl.exceptions.PolarsError as exc:
        raise BadInput(str(path), f"non-numeric values ({str(exc).splitlines()[0]})") from None


def _table_imu(path: Path, channels: list[str] | None, time_column: str | None, time_unit: str):
    """(values, channel names, timestamps in s or None) of a .csv / .parquet IMU table."""
    df = _read_table(path)
    by_name = {c.strip().lower(): c for c in df.columns}
    times = None
    if time_column is not None:
        key = time_column.strip().lower()
        if key not in by_name:
            raise BadInput(str(path), f"no time column {time_column!r}; the columns are {list(df.columns)}")
        column = df[by_name.pop(key)]
        values = column.to_list() if time_unit.strip().lower() == "iso" or column.dtype == pl.Utf8 else column.to_numpy()
        times = parse_times(values, time_unit, str(path))
    else:
        for name in TIME_NAMES:
            by_name.pop(name, None)
    names = list(by_name)
    if channels is not None and set(channels) <= set(names):
        names = list(channels)  # named columns, any order; the others (a counter, say) are left out
    elif channels is not None:
        if len(channels) != len(names):
            raise BadInput(str(path), f"table has {len(names)} value columns ({', '.join(names)}) but "
                                      f"{len(channels)} channels are named {channels}")
        data = _numbers(df, [by_name[n] for n in names], path)
        return data, list(channels), times
    return _numbers(df, [by_name[n] for n in names], path), names, times


def _on_grid(path: Path, times: np.ndarray, data: np.ndarray, rate: float | None, max_gap: float):
    """Timestamped samples -> (data, rate) on a uniform grid. A clock gap longer than `max_gap`
    splits the stream; a query is one clip, so it uses the longest gap-free part and says so
    (refusing would make the user cut the file by hand to get the same answer)."""
    segments, notes = regularise([(times, data)], str(path), rate=rate, max_gap=max_gap)
    for note in notes:
        log.warning(note)
    seg = max(segments, key=lambda s: len(s.data))
    if len(segments) > 1:
        log.warning(f"{path}: the query uses the longest of its {len(segments)} gap-free parts, "
                    f"{len(seg.data) / seg.rate:.2f} s from t = {seg.offset:.2f} s")
    return seg.data, seg.rate


def imu_from_array(data: np.ndarray, rate: float, channels: list[str] | str | None = None,
                   placement: str = "right_wrist", acc_unit: str = "m/s^2", gyr_unit: str = "rad/s",
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


def read_imu(path: str | Path, rate: float | None = None, placement: str = "right_wrist",
             acc_unit: str = "m/s^2", gyr_unit: str = "rad/s", channels: list[str] | str | None = None,
             time_column: str | None = None, time_unit: str = "s", max_gap: float = DEFAULT_MAX_GAP) -> ImuStream:
    """An IMU query clip. UTD-MHAD inertial .mat files carry their own units (g, deg/s) and rate
    (50 Hz); other formats are in `acc_unit` / `gyr_unit` and need `rate`, or, for a table,
    `time_column` (in `time_unit`: s, ms, us, ns or iso): the samples are then put on a uniform
    grid at `rate` (default: the clock's median rate), and where the clock stops for more than
    `max_gap` s the longest gap-free part is used (a warning says so). A table's columns are
    channels by name (acc_x ... gyr_z, mag_*, quat_*; any subset, e.g. acc only); `channels`
    names the columns of a .npy or renames a table's in order."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    channels = parse_names(channels)
    times = None
    if time_column is not None and suffix not in (".csv", ".parquet"):
        raise BadInput(str(path), "a time column can only be read from a .csv or .parquet table")
    if suffix == ".mat":
        data = read_mat(path, "d_iner")
        channels, acc_unit, gyr_unit, rate = list(IMU6_CHANNELS), "g", "deg/s", rate or IMU_RATE
    elif suffix == ".npy":
        data = read_npy(path)
    elif suffix in (".csv", ".parquet"):
        data, channels, times = _table_imu(path, channels, time_column, time_unit)
    else:
        raise BadInput(str(path), f"unknown IMU file type {suffix!r}; use .mat, .npy, .csv or .parquet")
    if times is not None:
        data, rate = _on_grid(path, times, data, rate, max_gap)
    if rate is None:
        hint = ""
        if suffix in (".csv", ".parquet"):
            hint = ", or the column holding timestamps (--time-column NAME, with --time-unit)"
        raise BadInput(str(path), f"unknown rate: give the IMU sample rate in Hz (--rate){hint}")
    return imu_from_array(data, float(rate), channels, placement, acc_unit, gyr_unit, source=str(path))


# ---- pose ------------------------------------------------------------------------------------------
def _utd_skeleton_rate(path: Path, frames: int) -> float:
    """UTD-MHAD's Kinect dropped frames, so a skeleton is timed by its inertial clip (the frames
    spread evenly over it, as the importer does) when that file sits in the dataset's layout;
    a lone skeleton file gets the nominal 20 fps."""
    inertial = path.parent.parent / "inertial" / path.name.replace("_skeleton.mat", "_inertial.mat")
    if inertial != path and inertial.exists():
        try:
            return frames / (read_mat(inertial, "d_iner").shape[0] / IMU_RATE)
        except BadInput:
            pass  # an unreadable neighbour says nothing about this file's timing
    return 20.0


def _guess_skeleton(data: np.ndarray, joints: list[str], where: str) -> str:
    """The known skeleton whose joint names these are (enough of them to map every canonical joint)."""
    for name in SKELETONS:
        try:
            canonical_joint_positions(data[:1], name, joints)
            return name
        except BadInput:
            continue
    raise BadInput(where, f"joints {joints} are not a skeleton this reader knows ({', '.join(SKELETONS)}); "
                          "map them onto canonical joints with --joint-map")


def pose_from_array(data: np.ndarray, rate: float, skeleton: str | None = None, joints: list[str] | str | None = None,
                    joint_map: dict | str | None = None, units: str | None = None, up: str | None = None,
                    source: str = "array") -> PoseStream:
    """An in-memory pose clip (T, J, 2|3) as a stream.

    `joints`: the array's joint names in column order (default: the Kinect-20, COCO-17 or
    canonical-16 names by joint count, or `skeleton`'s). `joint_map`: {file joint: canonical
    joint} for a skeleton the engine does not know; the mapped joints become skeleton
    "canonical" and the others are dropped. `units`: length unit of 3-D positions (m, cm, mm;
    default m). `up`: the axis pointing up (y, -y, z, -z; default y)."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 3 or data.shape[2] not in (2, 3):
        raise BadInput(source, f"pose data must be (frames, joints, 2|3), got shape {data.shape}")
    try:
        joint_map = parse_joint_map(joint_map)
        if data.shape[2] == 3:  # 2-D keypoints are image coordinates: no metric unit to convert
            data = length_to_si(data, units or "m")
        data = orient_up(data, up or "y")
    except ValueError as exc:
        raise BadInput(source, str(exc)) from None
    joints = parse_names(joints)
    if joints is None:
        name = skeleton if skeleton in KNOWN_JOINTS else _BY_COUNT.get(data.shape[1])
        if name is None or (skeleton is not None and skeleton != name) or joint_map is not None:
            why = "a joint map names the file's joints" if joint_map is not None else \
                f"{data.shape[1]} joints are not a skeleton this reader knows (20 Kinect, 17 COCO, 16 canonical)"
            raise BadInput(source, f"{why}: give the joint names in column order (--joints a,b,c,...)")
        skeleton, joints = skeleton or name, list(KNOWN_JOINTS[name])
    if len(joints) != data.shape[1]:
        raise BadInput(source, f"{len(joints)} joint names for {data.shape[1]} joints")
    if joint_map is not None:
        try:
            keep, joints, _ = apply_joint_map(joints, joint_map)
        except ValueError as exc:
            raise BadInput(source, str(exc)) from None
        data, skeleton = data[:, keep], "canonical"
    skeleton = skeleton or _guess_skeleton(data, joints, source)
    try:
        # Fail here, naming the file, rather than later in a pose encoder.
        canonical_joint_positions(data[:1], skeleton, joints)
    except BadInput as exc:
        hint = "; map them too (--joint-map)" if joint_map is not None else "; map them with --joint-map"
        raise BadInput(source, exc.reason + hint) from None
    return PoseStream(data, float(rate), skeleton, list(joints), source=source)


def read_pose(path: str | Path, rate: float | None = None, skeleton: str | None = None,
              joint_map: dict | str | None = None, joints: list[str] | str | None = None,
              units: str | None = None, up: str | None = None) -> PoseStream:
    """A pose query clip: UTD-MHAD skeleton .mat, .bvh, or .npy (T, J, 2|3) with `rate`.
    `joint_map`, `joints`, `units` and `up` as in `pose_from_array`; a .bvh's own units are
    measured from its rest pose unless `units` is given."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        frames = read_skeleton_frames(path)
        data, rate = frames, rate or _utd_skeleton_rate(path, len(frames))
        skeleton, joints = skeleton or "kinect20", joints or list(KINECT20_JOINTS)
    elif suffix == ".bvh":
        try:
            pose = bvh.load_recording(path, "query", None, **({"units": units} if units else {})).pose
        except ValueError as exc:
            raise BadInput(str(path), str(exc)) from None
        if joint_map is None and joints is None and up is None:
            return pose
        data, rate, units = pose.data, rate or pose.rate, None
        skeleton = None if joint_map is not None else skeleton or pose.skeleton
        joints = joints or pose.joints
    elif suffix == ".npy":
        data = read_npy(path)
        if rate is None:
            raise BadInput(str(path), "unknown rate: give the pose frame rate in Hz (--rate)")
    else:
        raise BadInput(str(path), f"unknown pose file type {suffix!r}; use .mat, .bvh or .npy")
    return pose_from_array(data, float(rate), skeleton, joints, joint_map, units, up, source=str(path))


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


def reader_options(read_kw: dict, modality: str) -> dict:
    """The options of `read_kw` that the reader of `modality` ("imu" or "pose") takes, unset ones
    left out (so each reader's defaults apply)."""
    names = IMU_READ_OPTIONS if modality == "imu" else POSE_READ_OPTIONS
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
