"""A synthetic demo archive, made on the fly, so the main job runs on a fresh machine.

Six actions are animated on the canonical skeleton (metres, y up) by a few joint-angle curves
each; a right-wrist IMU is derived from that motion (accelerometer = second derivative of the
wrist position plus gravity, gyroscope = angular velocity of the forearm), with sensor noise.
Subjects differ in body size, tempo and amplitude, so retrieval across subjects is not trivial.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from indexer.bodyparts import CANONICAL_JOINTS
from indexer.model import Entry, ImuStream, PoseStream, Recording, TextSpan
from indexer.units import IMU6_CHANNELS, STANDARD_GRAVITY

ACTIONS = {
    "walking": "a person walks forward swinging the arms",
    "waving": "a person waves the right hand above the head",
    "jumping jacks": "a person does jumping jacks",
    "squat": "a person squats down and stands up",
    "arm circles": "a person circles the right arm",
    "boxing": "a person throws punches",
}
SUBJECTS = ("1", "2", "3", "4")
TRIALS = ("1", "2")
POSE_RATE = 30.0
IMU_RATE = 50.0
DURATION = 8.0

# Rest pose, y up, the person faces +z, left is +x.
_REST = {
    "pelvis": (0, 1.0, 0), "chest": (0, 1.25, 0), "neck": (0, 1.5, 0), "head": (0, 1.65, 0),
    "left_shoulder": (0.2, 1.45, 0), "right_shoulder": (-0.2, 1.45, 0),
    "left_hip": (0.1, 0.95, 0), "right_hip": (-0.1, 0.95, 0),
}
UPPER_ARM, FOREARM, THIGH, SHIN = 0.29, 0.26, 0.43, 0.44


def detect(path: Path) -> bool:
    return False  # the demo is chosen explicitly (--demo), never detected from a path


def _rot_x(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    z, o = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _limb(abduction: np.ndarray, flexion: np.ndarray) -> np.ndarray:
    """Unit direction of a limb hanging down (0,-1,0), raised forward by `flexion` (about x)
    and sideways by `abduction` (about z)."""
    down = np.array([0.0, -1.0, 0.0])
    return _rot_z(abduction) @ _rot_x(-flexion) @ down


def _curves(action: str, t: np.ndarray, tempo: float, amp: float) -> dict[str, np.ndarray]:
    """Joint-angle curves (radians) and pelvis offset for one action."""
    w = 2 * np.pi * tempo
    z = np.zeros_like(t)
    c = dict(l_abd=z + 0.1, r_abd=z - 0.1, l_flex=z, r_flex=z, l_elbow=z + 0.2, r_elbow=z + 0.2,
             l_hip=z, r_hip=z, l_knee=z, r_knee=z, l_leg_abd=z, r_leg_abd=z,
             dx=z, dy=z, dz=z)
    if action == "walking":
        s = np.sin(w * 0.9 * t)
        c.update(l_hip=amp * 0.45 * s, r_hip=-amp * 0.45 * s,
                 l_knee=amp * 0.7 * np.clip(-s, 0, None), r_knee=amp * 0.7 * np.clip(s, 0, None),
                 l_flex=-amp * 0.4 * s, r_flex=amp * 0.4 * s, dz=0.6 * tempo * t,
                 dy=0.02 * np.cos(2 * w * 0.9 * t))
    elif action == "waving":
        c.update(r_abd=-(2.5 + 0.1 * amp) + z, r_elbow=0.4 + amp * 0.5 * np.sin(w * 2.0 * t))
    elif action == "jumping jacks":
        p = 0.5 * (1 - np.cos(w * 1.1 * t))
        c.update(l_abd=amp * 2.8 * p + 0.1, r_abd=-(amp * 2.8 * p + 0.1),
                 l_leg_abd=0.35 * amp * p, r_leg_abd=-0.35 * amp * p, dy=0.08 * np.abs(np.sin(w * 1.1 * t)))
    elif action == "squat":
        p = 0.5 * (1 - np.cos(w * 0.5 * t))
        c.update(l_hip=amp * 1.4 * p, r_hip=amp * 1.4 * p, l_knee=amp * 2.0 * p, r_knee=amp * 2.0 * p,
                 l_flex=1.4 * p, r_flex=1.4 * p, dy=-0.35 * amp * p)
    elif action == "arm circles":
        c.update(r_flex=np.pi / 2 + amp * 0.8 * np.sin(w * 1.2 * t),
                 r_abd=-(0.3 + amp * 0.8 * (1 + np.cos(w * 1.2 * t)) / 2), r_elbow=z + 0.05)
    elif action == "boxing":  # fists up by the chin, elbows low; each arm in turn straightens forward
        s = np.sin(w * 0.75 * t)
        right, left = np.clip(s, 0, None) ** 2, np.clip(-s, 0, None) ** 2
        reach = min(amp, 1.0)
        c.update(r_flex=0.5 + amp * right, l_flex=0.5 + amp * left,
                 r_elbow=2.3 - 2.2 * reach * right, l_elbow=2.3 - 2.2 * reach * left,
                 r_abd=z - 0.15, l_abd=z + 0.15)
    else:
        raise ValueError(f"unknown demo action {action!r}")
    return c


def animate(action: str, t: np.ndarray, scale: float, tempo: float, amp: float) -> np.ndarray:
    """(T, 16, 3) canonical joint positions for `action` at times `t`."""
    c = _curves(action, t, tempo, amp)
    offset = np.stack([c["dx"], c["dy"], c["dz"]], -1)
    pos = {name: scale * np.asarray(p, dtype=np.float64) + offset for name, p in _REST.items()}
    for side in ("left", "right"):
        k = side[0]
        upper = _limb(c[f"{k}_abd"], c[f"{k}_flex"])
        fore = _limb(c[f"{k}_abd"], c[f"{k}_flex"] + c[f"{k}_elbow"])
        pos[f"{side}_elbow"] = pos[f"{side}_shoulder"] + scale * UPPER_ARM * upper
        pos[f"{side}_wrist"] = pos[f"{side}_elbow"] + scale * FOREARM * fore
        thigh = _limb(c[f"{k}_leg_abd"], c[f"{k}_hip"])
        shin = _limb(c[f"{k}_leg_abd"], c[f"{k}_hip"] - c[f"{k}_knee"])
        pos[f"{side}_knee"] = pos[f"{side}_hip"] + scale * THIGH * thigh
        pos[f"{side}_ankle"] = pos[f"{side}_knee"] + scale * SHIN * shin
    return np.stack([pos[j] for j in CANONICAL_JOINTS], axis=1)


def wrist_imu(action: str, scale: float, tempo: float, amp: float, rng: np.random.Generator) -> np.ndarray:
    """A right-wrist IMU (T, 6) in m/s^2 and rad/s, derived from the animated motion."""
    dt = 1.0 / IMU_RATE
    t = np.arange(int(DURATION * IMU_RATE)) * dt
    joints = animate(action, t, scale, tempo, amp)
    wrist = joints[:, CANONICAL_JOINTS.index("right_wrist")]
    elbow = joints[:, CANONICAL_JOINTS.index("right_elbow")]
    acc = np.gradient(np.gradient(wrist, dt, axis=0), dt, axis=0) + np.array([0.0, STANDARD_GRAVITY, 0.0])
    u = wrist - elbow
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    gyr = np.cross(u, np.gradient(u, dt, axis=0))  # angular velocity of the forearm direction
    imu = np.concatenate([acc, gyr], axis=1)
    return imu + rng.normal(0, [0.15, 0.15, 0.15, 0.05, 0.05, 0.05], imu.shape)


def make_recording(action: str, subject: str, trial: str) -> Recording:
    rng = np.random.default_rng([list(ACTIONS).index(action), int(subject), int(trial)])
    scale = 0.85 + 0.1 * int(subject) / len(SUBJECTS) + rng.uniform(-0.03, 0.03)
    tempo = rng.uniform(0.8, 1.2)
    amp = rng.uniform(0.85, 1.15)
    t = np.arange(int(DURATION * POSE_RATE)) / POSE_RATE
    pose = animate(action, t, scale, tempo, amp) + rng.normal(0, 0.005, (len(t), len(CANONICAL_JOINTS), 3))
    rec_id = f"demo/{action.replace(' ', '-')}_s{subject}_t{trial}"
    return Recording(
        id=rec_id,
        dataset="demo",
        subject=subject,
        trial=trial,
        labels=[action],
        imu=[ImuStream(wrist_imu(action, scale, tempo, amp, rng), IMU_RATE, list(IMU6_CHANNELS),
                       "right_wrist", source=f"demo://{rec_id}/imu")],
        pose=PoseStream(pose, POSE_RATE, "canonical", list(CANONICAL_JOINTS), source=f"demo://{rec_id}/pose"),
        text=[TextSpan(0.0, DURATION, ACTIONS[action])],
        sources=[f"demo://{rec_id}"],
    )


def discover(path: Path | None = None) -> list[Entry]:
    entries = []
    for subject in SUBJECTS:
        for action in ACTIONS:
            for trial in TRIALS:
                rec_id = f"demo/{action.replace(' ', '-')}_s{subject}_t{trial}"
                entries.append(Entry(rec_id, [f"demo://{rec_id}"],
                                     partial(make_recording, action, subject, trial),
                                     subject=subject))
    return entries
