"""Virtual IMUs: what an accelerometer and a gyroscope strapped to a body segment would read,
computed from a skeleton (UniMTS's recipe for pretraining on motion capture).

A sensor on a segment reads, in its own frame,
- specific force: the segment's linear acceleration minus gravity, f = R^T (a - g), so a sensor
  at rest reads +9.81 m/s^2 along whichever of its axes points up;
- angular velocity: from consecutive orientations, w = log(R_t^T R_{t+1}) / dt.
Segment orientations come from joint positions alone (the segment's axis and the plane it makes
with its parent), so any skeleton the engine reads (BVH, Kinect, a user's joint map) gives IMUs
at every placement with a chain (indexer.bodyparts.CHAINS). A mounting rotation turns the
sensor on its segment: the axes change, the magnitudes do not.
"""
from __future__ import annotations

import numpy as np

from indexer.bodyparts import CANONICAL_JOINTS, CHAINS
from indexer.imports import optional

GRAVITY = np.array([0.0, -9.80665, 0.0])  # canonical poses are y-up
SMOOTH_SECONDS = 0.1  # Savitzky-Golay window for differentiating mocap positions

# Placement -> (proximal joint, distal joint, reference joint) of the segment the sensor sits
# on, and where along it (0 proximal .. 1 distal). The reference joint fixes the roll.
_LIMB = {"upper_arm": ("shoulder", "elbow", "wrist", 0.5), "shoulder": ("shoulder", "elbow", "wrist", 0.1),
         "elbow": ("shoulder", "elbow", "wrist", 0.95), "forearm": ("elbow", "wrist", "shoulder", 0.5),
         "wrist": ("elbow", "wrist", "shoulder", 0.9), "hand": ("elbow", "wrist", "shoulder", 1.0),
         "hip": ("hip", "knee", "ankle", 0.1), "thigh": ("hip", "knee", "ankle", 0.5),
         "knee": ("hip", "knee", "ankle", 0.95), "shin": ("knee", "ankle", "hip", 0.5),
         "ankle": ("knee", "ankle", "hip", 0.9), "foot": ("knee", "ankle", "hip", 1.0)}
_TRUNK = {"pelvis": ("pelvis", "chest", "left_hip", 0.0), "chest": ("pelvis", "chest", "left_shoulder", 1.0),
          "neck": ("chest", "neck", "left_shoulder", 1.0), "head": ("neck", "head", "left_shoulder", 1.0)}


def _scipy(part: str):
    """scipy.signal / scipy.spatial.transform, imported when a virtual sensor is first made: a
    command that only searches stored windows never needs them (about 0.4 s)."""
    return optional(f"scipy.{part}", "")


def segment(placement: str) -> tuple[str, str, str, float]:
    """(proximal, distal, reference joint, position along the segment) of a placement."""
    if placement in _TRUNK:
        return _TRUNK[placement]
    side, _, part = placement.partition("_")
    if part not in _LIMB or side not in ("left", "right"):
        raise ValueError(f"no virtual IMU for placement {placement!r}; placements: {', '.join(PLACEMENTS)}")
    a, b, c, along = _LIMB[part]
    return f"{side}_{a}", f"{side}_{b}", f"{side}_{c}", along


PLACEMENTS = [p for p in CHAINS if p in _TRUNK or p.partition("_")[2] in _LIMB]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def sensor_position(canonical: np.ndarray, placement: str) -> np.ndarray:
    """(T, D) path of a sensor at `placement`: its point on the segment, from (T, 16, D)
    canonical joints (3-D, or 2-D image coordinates)."""
    a, b, _, along = segment(placement)
    pa, pb = (canonical[:, CANONICAL_JOINTS.index(j)].astype(np.float64) for j in (a, b))
    return pa + along * (pb - pa)


def segment_frames(canonical: np.ndarray, placement: str) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3) sensor positions and (T, 3, 3) segment orientations (columns: the segment's x, y,
    z axes in world coordinates; y runs along the segment) from (T, 16, 3) canonical joints."""
    a, b, c, _ = segment(placement)
    pa, pb, pc = (canonical[:, CANONICAL_JOINTS.index(j)].astype(np.float64) for j in (a, b, c))
    y = _unit(pb - pa)
    z = np.cross(y, pc - pa)
    # A straight limb has no plane: carry the last good normal through it.
    good = np.linalg.norm(z, axis=-1) > 1e-3 * np.maximum(np.linalg.norm(pc - pa, axis=-1), 1e-9)
    if good.any():
        idx = np.maximum.accumulate(np.where(good, np.arange(len(z)), 0))
        first = int(np.argmax(good))
        idx[:first] = first
        z = z[idx]
    else:
        z = np.cross(y, np.array([1.0, 0.0, 0.0]))
    z = _unit(z - (z * y).sum(-1, keepdims=True) * y)
    x = np.cross(y, z)
    return sensor_position(canonical, placement), np.stack([x, y, z], axis=-1)


def _smooth(x: np.ndarray, rate: float) -> np.ndarray:
    n = int(round(SMOOTH_SECONDS * rate)) | 1
    if n < 5 or len(x) <= n:
        return x
    return _scipy("signal").savgol_filter(x, n, 2, axis=0)


def imu_from_frames(positions: np.ndarray, rotations: np.ndarray, rate: float,
                    mount: np.ndarray | None = None) -> np.ndarray:
    """(T, 6) acc (m/s^2, specific force) and gyro (rad/s) in the sensor frame of a sensor at
    `positions` (T, 3) with orientation `rotations` (T, 3, 3, sensor -> world), turned by the
    fixed `mount` rotation (sensor -> segment) when given."""
    dt = 1.0 / rate
    r = rotations if mount is None else rotations @ mount
    accel = np.gradient(np.gradient(_smooth(positions, rate), dt, axis=0), dt, axis=0)
    acc = np.einsum("tji,tj->ti", r, accel - GRAVITY)
    rot = _scipy("spatial.transform").Rotation.from_matrix(r)
    step = (rot[:-1].inv() * rot[1:]).as_rotvec() / dt  # body-frame rate between frames
    gyr = np.empty_like(acc)
    if len(step):
        gyr[1:-1] = 0.5 * (step[:-1] + step[1:])
        gyr[0], gyr[-1] = step[0], step[-1]
    else:
        gyr[:] = 0.0
    return np.concatenate([acc, gyr], axis=1).astype(np.float32)


def virtual_imu(canonical: np.ndarray, rate: float, placement: str, mount: np.ndarray | None = None) -> np.ndarray:
    """(T, 6) acc + gyro of a sensor worn at `placement`, from (T, 16, 3) y-up canonical joints
    in metres sampled at `rate`."""
    positions, rotations = segment_frames(canonical, placement)
    return imu_from_frames(positions, rotations, rate, mount)


def random_mount(rng: np.random.Generator, max_degrees: float = 180.0) -> np.ndarray:
    """A random fixed rotation of a sensor on its segment (rotation-invariant training)."""
    axis = _unit(rng.normal(size=3))
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    return _scipy("spatial.transform").Rotation.from_rotvec(axis * angle).as_matrix()
