"""UTD-MHAD: inertial (.mat, g and deg/s, 50 Hz) + Kinect skeleton (.mat) + depth video (.mp4).

File names are `a{action}_s{subject}_t{trial}_{modality}`; the action name and the sensor
placement come from the folder's `actions.csv`.
"""
from __future__ import annotations

import csv
import re
from functools import partial
from pathlib import Path

import numpy as np

from indexer.bodyparts import KINECT20_JOINTS
from indexer.bounds import check_imu_values, check_stream_length
from indexer.errors import BadInput
from indexer.model import Entry, ImuStream, PoseStream, Recording, VideoStream
from indexer.units import IMU6_CHANNELS, imu_channels_to_si

IMU_RATE = 50.0
NAME = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_inertial\.mat$")
TRAIN_SUBJECTS = ("1", "3", "5", "7")
TEST_SUBJECTS = ("2", "4", "6", "8")


def detect(path: Path) -> bool:
    return path.is_dir() and (path / "inertial").is_dir() and (path / "skeleton").is_dir()


def read_actions(root: Path) -> dict[int, tuple[str, str]]:
    """action id -> (name, placement) from actions.csv."""
    table = root / "actions.csv"
    if not table.exists():
        raise BadInput(str(table), "missing actions.csv (action names and sensor placements)")
    with open(table, newline="") as f:
        return {int(r["action_id"]): (r["name"], r["sensor_placement"]) for r in csv.DictReader(f)}


def read_mat(path: Path, key: str) -> np.ndarray:
    """Variable `key` of a UTD-MHAD MATLAB file as float64 ("d_iner": (N, 6) in g and deg/s;
    "d_skel": (20, 3, T) Kinect joints); a missing, empty or unreadable file is a BadInput."""
    import scipy.io

    if not path.exists():
        raise BadInput(str(path), "file is missing")
    if path.stat().st_size == 0:
        raise BadInput(str(path), "file is empty")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises many kinds for corrupt/truncated files
        raise BadInput(str(path), f"not a readable MATLAB file ({type(exc).__name__}: {exc})") from None
    if key not in mat:
        raise BadInput(str(path), f"MATLAB file has no {key!r} variable")
    return np.asarray(mat[key], dtype=np.float64)


def read_skeleton_frames(path: Path) -> np.ndarray:
    """The Kinect joints of a skeleton file as (T, 20, 3) frames (KINECT20_JOINTS order)."""
    skel = read_mat(path, "d_skel")
    if skel.ndim != 3 or skel.shape[:2] != (20, 3):
        raise BadInput(str(path), f"expected d_skel of shape (20, 3, T), got {skel.shape}")
    return skel.transpose(2, 0, 1)


def load_recording(root: Path, action: int, subject: str, trial: str, actions: dict) -> Recording:
    stem = f"a{action}_s{subject}_t{trial}"
    iner_path = root / "inertial" / f"{stem}_inertial.mat"
    skel_path = root / "skeleton" / f"{stem}_skeleton.mat"
    video_path = root / "depth-video" / f"{stem}_depth.mp4"
    if action not in actions:
        raise BadInput(str(iner_path), f"action {action} is not in actions.csv (no name or sensor placement)")
    name, placement = actions[action]

    iner = read_mat(iner_path, "d_iner")
    if iner.ndim != 2 or iner.shape[1] != 6:
        raise BadInput(str(iner_path), f"expected d_iner of shape (N, 6), got {iner.shape}")
    imu = ImuStream(
        data=imu_channels_to_si(iner, IMU6_CHANNELS, "g", "deg/s"),
        rate=IMU_RATE,
        channels=list(IMU6_CHANNELS),
        placement=placement,
        source=str(iner_path),
    )
    check_stream_length(imu.source, len(imu.data), imu.rate)
    check_imu_values(imu.source, imu.data, imu.channels)

    frames = read_skeleton_frames(skel_path)
    # Kinect dropped frames: the README says to spread them evenly over the inertial duration.
    pose = PoseStream(
        data=frames,
        rate=frames.shape[0] / imu.duration,
        skeleton="kinect20",
        joints=list(KINECT20_JOINTS),
        source=str(skel_path),
    )
    video = VideoStream(path=str(video_path), duration=imu.duration) if video_path.exists() else None
    return Recording(
        id=f"utd-mhad/{stem}",
        dataset="utd-mhad",
        subject=subject,
        trial=trial,
        labels=[name],
        imu=[imu],
        pose=pose,
        video=video,
        sources=[str(p) for p in (iner_path, skel_path, video_path if video else None) if p],
    )


def discover(root: Path, subjects: tuple[str, ...] | None = None) -> list[Entry]:
    actions = read_actions(root)
    entries = []
    for path in sorted((root / "inertial").glob("*.mat")):
        m = NAME.match(path.name)
        if not m:
            continue
        action, subject, trial = int(m.group(1)), m.group(2), m.group(3)
        if subjects is not None and subject not in subjects:
            continue
        # An action missing from actions.csv is listed anyway: its load names the file, so the
        # build reports it instead of silently leaving the clip out.
        entries.append(
            Entry(
                id=f"utd-mhad/a{action}_s{subject}_t{trial}",
                sources=[str(path)],
                load=partial(load_recording, root, action, subject, trial, actions),
                subject=subject,
            )
        )
    entries.sort(key=lambda e: _sort_key(e.id))
    return entries


def _sort_key(rec_id: str) -> tuple[int, int, int]:
    a, s, t = re.findall(r"\d+", rec_id.split("/")[-1])[:3]
    return int(s), int(a), int(t)
