"""A tiny example archive to copy from: two recordings, both manifest forms.

`write_example(folder)` writes a manifest.toml (or, with form="csv", a manifest.csv) and its
stream files: a wrist IMU in g and deg/s at 100 Hz, a canonical pose in metres, text spans.
The docs, the tests and a newcomer's first build start from it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from indexer.bodyparts import CANONICAL_JOINTS


def _example_pose(frames: int, fps: float, phase: float) -> np.ndarray:
    """(frames, 16, 3) canonical joints in metres: a person walking forward along +z."""
    rest = {
        "pelvis": (0, 1.0, 0), "chest": (0, 1.3, 0), "neck": (0, 1.5, 0), "head": (0, 1.65, 0),
        "left_shoulder": (0.18, 1.45, 0), "left_elbow": (0.2, 1.17, 0), "left_wrist": (0.22, 0.92, 0),
        "right_shoulder": (-0.18, 1.45, 0), "right_elbow": (-0.2, 1.17, 0), "right_wrist": (-0.22, 0.92, 0),
        "left_hip": (0.1, 0.95, 0), "left_knee": (0.1, 0.52, 0), "left_ankle": (0.1, 0.08, 0),
        "right_hip": (-0.1, 0.95, 0), "right_knee": (-0.1, 0.52, 0), "right_ankle": (-0.1, 0.08, 0),
    }
    t = np.arange(frames) / fps
    pose = np.tile(np.array([rest[j] for j in CANONICAL_JOINTS], dtype=np.float64), (frames, 1, 1))
    swing = 0.15 * np.sin(2 * np.pi * 1.0 * t + phase)
    for joint, sign, gain in (("wrist", 1, 1.0), ("elbow", 1, 0.5), ("ankle", -1, 1.0), ("knee", -1, 0.5)):
        pose[:, CANONICAL_JOINTS.index(f"left_{joint}"), 2] += sign * gain * swing
        pose[:, CANONICAL_JOINTS.index(f"right_{joint}"), 2] -= sign * gain * swing
    pose[:, :, 2] += 1.2 * t[:, None]  # walking forward at 1.2 m/s
    return pose


def _example_imu(samples: int, rate: float, phase: float) -> np.ndarray:
    """(samples, 6): acc in g (gravity on z) and gyro in deg/s of a swinging wrist."""
    t = np.arange(samples) / rate
    swing = np.sin(2 * np.pi * 1.0 * t + phase)
    acc = np.stack([0.3 * swing, 0.1 * np.cos(2 * np.pi * t), 1.0 + 0.05 * swing], axis=1)
    gyr = np.stack([90.0 * np.cos(2 * np.pi * t + phase), 10.0 * swing, np.zeros_like(t)], axis=1)
    return np.concatenate([acc, gyr], axis=1)


_EXAMPLE_TOML = """\
# A tiny example archive (see docs/archive-format.md).
dataset = "example"

[[recording]]
id = "walk_01"
subject = "s1"
split = "train"
labels = ["walk", "outdoor"]

[[recording.imu]]
file = "imu/walk_01.csv"
rate = 100
placement = "right_wrist"
acc_unit = "g"
gyr_unit = "deg/s"

[recording.pose]
file = "pose/walk_01.npy"
fps = 30
skeleton = "canonical"

[recording.text]
file = "text/walk_01.csv"

[[recording]]
id = "wave_01"
subject = "s2"
split = "test"
labels = "wave;greeting"

[[recording.imu]]
file = "imu/wave_01.csv"
rate = 100
placement = "left wrist"
acc_unit = "g"
gyr_unit = "deg/s"

[recording.pose]
file = "pose/wave_01.npy"
fps = 30

[recording.text]
file = "text/wave_01.jsonl"
"""

_EXAMPLE_CSV = """\
id,dataset,subject,split,labels,imu_file,imu_rate,imu_placement,imu_acc_unit,imu_gyr_unit,pose_file,pose_fps,pose_skeleton,text_file
walk_01,example,s1,train,walk;outdoor,imu/walk_01.csv,100,right_wrist,g,deg/s,pose/walk_01.npy,30,canonical,text/walk_01.csv
wave_01,example,s2,test,wave;greeting,imu/wave_01.csv,100,left wrist,g,deg/s,pose/wave_01.npy,30,,text/wave_01.jsonl
"""


def write_example(folder: Path, form: str = "toml") -> Path:
    """Write a tiny valid archive (two recordings) into `folder`; returns the manifest path.

    `form` is "toml" or "csv" (the same recordings either way: subjects s1 and s2, splits
    "train" and "test", a wrist IMU in g and deg/s at 100 Hz, a canonical pose, text spans).
    """
    if form not in ("toml", "csv"):
        raise ValueError(f"form must be 'toml' or 'csv', not {form!r}")
    folder = Path(folder)
    for sub in ("imu", "pose", "text"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    header = "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"
    for name, phase in (("walk_01", 0.0), ("wave_01", 1.0)):
        np.savetxt(folder / "imu" / f"{name}.csv", _example_imu(300, 100.0, phase),
                   delimiter=",", header=header, comments="", fmt="%.6f")
        np.save(folder / "pose" / f"{name}.npy", _example_pose(90, 30.0, phase).astype(np.float32))
    (folder / "text" / "walk_01.csv").write_text(
        'start,end,text\n0.0,1.5,"walks forward, arms swinging"\n1.5,3.0,keeps walking\n'
    )
    (folder / "text" / "wave_01.jsonl").write_text(
        json.dumps({"start": 0.0, "end": 2.0, "text": "waves with the left hand"}) + "\n"
        + json.dumps({"start": 2.0, "end": 3.0, "text": "lowers the arm"}) + "\n"
    )
    manifest = folder / f"manifest.{form}"
    manifest.write_text(_EXAMPLE_TOML if form == "toml" else _EXAMPLE_CSV)
    return manifest
