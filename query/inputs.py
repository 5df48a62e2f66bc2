"""Read a query file (an IMU clip, a pose clip, several people, a video) into the data model.

Formats: UTD-MHAD .mat (inertial or skeleton), .bvh, .npy, .csv and .parquet; videos by
suffix (indexer.video.VIDEO_SUFFIXES). Whatever the file, the result is validated by the data
model, so a bad query gets the same clear error as a bad archive file. Reading goes through
the importers' own public readers, so a query file means what the same file means in an archive.
"""
from __future__ import annotations

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
    canonical_placement,
)
from indexer.importers import bvh
from indexer.importers.archive import read_npy
from indexer.importers.utd_mhad import IMU_RATE, read_mat, read_skeleton_frames
from indexer.pose2d import video_pose
from indexer.units import IMU6_CHANNELS, imu_channels_to_si
from indexer.video import VIDEO_SUFFIXES

MAX_QUERY_BYTES = 200 * 1024 * 1024


def _check_file(path: Path) -> None:
    if not path.exists():
        raise BadInput(str(path), "file does not exist")
    size = path.stat().st_size
    if size == 0:
        raise BadInput(str(path), "file is empty")
    if size > MAX_QUERY_BYTES:
        raise BadInput(str(path), f"file is {size / 1e6:.0f} MB; queries are limited to {MAX_QUERY_BYTES / 1e6:.0f} MB")


def _table(path: Path) -> tuple[np.ndarray, list[str]]:
    try:
        df = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    except Exception as exc:  # noqa: BLE001  # polars raises many kinds for a file that is no table
        raise BadInput(str(path), f"not a readable table ({type(exc).__name__}: {exc})") from None
    if df.height == 0:
        raise BadInput(str(path), "table has no rows")
    columns = [c for c in df.columns if c.strip().lower() not in ("t", "time", "timestamp")]
    try:
        # Cast every column instead of keeping the numeric ones: a NaN or a stray word makes
        # polars read a column as text, and dropping it would silently shift the channels.
        values = df.select(pl.col(c).cast(pl.Float64, strict=True) for c in columns).to_numpy()
    except pl.exceptions.PolarsError as exc:
        raise BadInput(str(path), f"non-numeric values ({str(exc).splitlines()[0]})") from None
    return values, [c.strip().lower() for c in columns]


def read_imu(path: str | Path, rate: float | None = None, placement: str = "right_wrist",
             acc_unit: str = "m/s^2", gyr_unit: str = "rad/s", channels: list[str] | None = None) -> ImuStream:
    """An IMU query clip. UTD-MHAD inertial .mat files carry their own units (g, deg/s) and rate
    (50 Hz); other formats need `rate` and are taken to be in `acc_unit` / `gyr_unit`."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        data = read_mat(path, "d_iner")
        channels, acc_unit, gyr_unit, rate = list(IMU6_CHANNELS), "g", "deg/s", rate or IMU_RATE
    elif suffix == ".npy":
        data = read_npy(path)
        channels = channels or list(IMU6_CHANNELS)[: data.shape[-1] if data.ndim == 2 else 6]
    elif suffix in (".csv", ".parquet"):
        data, names = _table(path)
        channels = channels or names
    else:
        raise BadInput(str(path), f"unknown IMU file type {suffix!r}; use .mat, .npy, .csv or .parquet")
    if rate is None:
        raise BadInput(str(path), "unknown rate: give the IMU sample rate in Hz (--rate)")
    if data.ndim == 2 and data.shape[1] == len(channels):
        data = imu_channels_to_si(data, channels, acc_unit, gyr_unit)
    return ImuStream(data, float(rate), list(channels), canonical_placement(placement), source=str(path))


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


def read_pose(path: str | Path, rate: float | None = None, skeleton: str | None = None) -> PoseStream:
    """A pose query clip: UTD-MHAD skeleton .mat, .bvh, or .npy (T, J, 2|3) with --rate."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        frames = read_skeleton_frames(path)
        return PoseStream(frames, rate or _utd_skeleton_rate(path, len(frames)), "kinect20",
                          list(KINECT20_JOINTS), source=str(path))
    if suffix == ".bvh":
        return bvh.load_recording(path, "query", None).pose
    if suffix == ".npy":
        data = read_npy(path)
        if rate is None:
            raise BadInput(str(path), "unknown rate: give the pose frame rate in Hz (--rate)")
        skeleton = skeleton or ("kinect20" if data.ndim == 3 and data.shape[1] == 20 else "canonical")
        joints = KINECT20_JOINTS if skeleton == "kinect20" else CANONICAL_JOINTS
        return PoseStream(data, float(rate), skeleton, list(joints), source=str(path))
    raise BadInput(str(path), f"unknown pose file type {suffix!r}; use .mat, .bvh or .npy")


def read_people(path: str | Path, rate: float | None = None, skeleton: str | None = None) -> list[PoseStream]:
    """Several people's poses from one file: a .npy of shape (people, frames, joints, 2|3)
    (needs `rate`), or any single-person file `as_motion` reads."""
    path = Path(path)
    if path.suffix.lower() == ".npy":
        data = read_npy(path)
        if data.ndim == 4:
            if rate is None:
                raise BadInput(str(path), "unknown rate: give the pose frame rate in Hz (--rate)")
            known = {20: ("kinect20", KINECT20_JOINTS), 17: ("coco17", COCO17_JOINTS),
                     16: ("canonical", CANONICAL_JOINTS)}
            if skeleton is None and data.shape[2] not in known:
                raise BadInput(str(path), f"{data.shape[2]} joints per person: not a skeleton this "
                                          "reader knows (20 Kinect, 17 COCO, 16 canonical)")
            name, joints = known[data.shape[2]] if skeleton is None else (skeleton, None)
            if joints is None:
                raise BadInput(str(path), f"give a .npy with a known joint count for skeleton {skeleton!r}")
            return [PoseStream(person, float(rate), name, list(joints), source=f"{path}[person {i}]")
                    for i, person in enumerate(data)]
    return [as_motion(path)]


def as_imu(x: ImuStream | str | Path, **read_kw) -> ImuStream:
    """An IMU stream as it is, or read from a file (read_kw: read_imu's options)."""
    if isinstance(x, ImuStream):
        return x
    return read_imu(x, **read_kw)


def as_motion(x: ImuStream | PoseStream | str | Path, **read_kw) -> ImuStream | PoseStream:
    """The stream to compare an IMU with: a pose (skeleton file, or 2-D pose from a video) or
    another IMU (a UTD-MHAD inertial file)."""
    if isinstance(x, (ImuStream, PoseStream)):
        return x
    path = Path(x)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return video_pose(path)
    if path.suffix.lower() == ".mat" and path.exists() and _mat_has(path, "d_iner"):
        return read_imu(path, **read_kw)
    return read_pose(path, **read_kw)


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
