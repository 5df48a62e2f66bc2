"""Read a query file (an IMU clip, a pose clip) into the data model.

Formats: UTD-MHAD .mat (inertial or skeleton), .bvh, .npy, .csv and .parquet. Whatever the
file, the result is validated by the data model, so a bad query gets the same clear error
as a bad archive file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from indexer.bodyparts import CANONICAL_JOINTS, KINECT20_JOINTS, canonical_placement
from indexer.errors import BadInput
from indexer.importers.archive import read_npy
from indexer.model import ImuStream, PoseStream
from indexer.units import IMU6_CHANNELS, imu_channels_to_si

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
    import polars as pl

    try:
        df = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path)
    except Exception as exc:
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
        from indexer.importers.utd_mhad import IMU_RATE, _load_mat

        data = _load_mat(path, "d_iner")
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
    from indexer.importers.utd_mhad import IMU_RATE, _load_mat

    inertial = path.parent.parent / "inertial" / path.name.replace("_skeleton.mat", "_inertial.mat")
    if inertial != path and inertial.exists():
        try:
            return frames / (_load_mat(inertial, "d_iner").shape[0] / IMU_RATE)
        except BadInput:
            pass  # an unreadable neighbour says nothing about this file's timing
    return 20.0


def read_pose(path: str | Path, rate: float | None = None, skeleton: str | None = None) -> PoseStream:
    """A pose query clip: UTD-MHAD skeleton .mat, .bvh, or .npy (T, J, 2|3) with --rate."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".mat":
        from indexer.importers.utd_mhad import _load_mat

        skel = _load_mat(path, "d_skel")
        if skel.ndim != 3 or skel.shape[:2] != (20, 3):
            raise BadInput(str(path), f"expected d_skel of shape (20, 3, T), got {skel.shape}")
        frames = skel.transpose(2, 0, 1)
        return PoseStream(frames, rate or _utd_skeleton_rate(path, len(frames)), "kinect20",
                          list(KINECT20_JOINTS), source=str(path))
    if suffix == ".bvh":
        from indexer.importers.bvh import load_recording

        return load_recording(path, "query", None).pose
    if suffix == ".npy":
        data = read_npy(path)
        if rate is None:
            raise BadInput(str(path), "unknown rate: give the pose frame rate in Hz (--rate)")
        skeleton = skeleton or ("kinect20" if data.ndim == 3 and data.shape[1] == 20 else "canonical")
        joints = KINECT20_JOINTS if skeleton == "kinect20" else CANONICAL_JOINTS
        return PoseStream(data, float(rate), skeleton, list(joints), source=str(path))
    raise BadInput(str(path), f"unknown pose file type {suffix!r}; use .mat, .bvh or .npy")
