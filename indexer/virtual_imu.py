"""Virtual IMUs: what an accelerometer and a gyroscope strapped to a body segment would read,
computed from a skeleton (UniMTS's recipe for pretraining on motion capture).

A sensor on a segment reads, in its own frame,
- specific force: the segment's linear acceleration minus gravity, f = R^T (a - g), so a sensor
  at rest reads +9.81 m/s^2 along whichever of its axes points up;
- angular velocity: from consecutive orientations, w = log(R_t^T R_{t+1}) / dt.
Segment orientations come from joint positions alone (the segment's axis and the plane it makes
with its parent), so any skeleton the engine reads (BVH, Kinect, a user's joint map) gives IMUs
at every placement with a chain (indexer.bodyparts.CHAINS). A mounting rotation turns the
sensor on its segment: the axes change, the magnitudes do not. Joint positions cannot say how a
segment turns about its own axis (a forearm's pronation and supination): `roll` adds such a
turn, angle by frame, where the caller has one.
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


LIMB_FRAMES = ("plane", "carried")  # how a segment's roll about its own axis is found (segment_frames)


def segment_frames(canonical: np.ndarray, placement: str, limb_frame: str = "plane") -> tuple[np.ndarray, np.ndarray]:
    """(T, 3) sensor positions and (T, 3, 3) segment orientations (columns: the segment's x, y,
    z axes in world coordinates; y runs along the segment) from (T, 16, 3) canonical joints.

    The roll about the segment comes from the plane it makes with its reference joint (the arm's
    plane for a forearm). A nearly straight limb has no such plane: its normal swings wildly as
    noise tips the joints, which a gyro reads as several rad/s of twist that no real arm makes
    (a composed circle drawn with a straight arm: 8.5 rad/s RMS about the forearm).
    `limb_frame` "plane" (what the shipped models were trained on) follows the plane anyway,
    carrying the last normal only through an exactly straight limb; "carried" trusts the plane
    less and less below PLANE_FULL degrees of bend and not at all below PLANE_NONE, where the
    frame is carried by the smallest turn that follows the segment (no twist of its own), from
    the bent frames on both sides of the straight stretch (docs/words.md, section 4)."""
    if limb_frame not in LIMB_FRAMES:
        raise ValueError(f"limb_frame must be one of {', '.join(LIMB_FRAMES)}, got {limb_frame!r}")
    a, b, c, _ = segment(placement)
    pa, pb, pc = (canonical[:, CANONICAL_JOINTS.index(j)].astype(np.float64) for j in (a, b, c))
    y = _unit(pb - pa)
    if limb_frame == "plane":
        z = _plane_normals(y, pc - pa)
    else:
        z = _carried_frame(y, pc - pa)
    x = np.cross(y, z)
    return sensor_position(canonical, placement), np.stack([x, y, z], axis=-1)


def _plane_normals(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(T, 3) normals of the plane of the segment and its reference joint; an exactly straight
    limb carries the last good normal."""
    z = np.cross(y, ref)
    good = np.linalg.norm(z, axis=-1) > 1e-3 * np.maximum(np.linalg.norm(ref, axis=-1), 1e-9)
    if good.any():
        idx = np.maximum.accumulate(np.where(good, np.arange(len(z)), 0))
        first = int(np.argmax(good))
        idx[:first] = first
        z = z[idx]
    else:
        z = np.cross(y, np.array([1.0, 0.0, 0.0]))
    return _square_to(z, y)


def _square_to(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(T, 3) unit vectors: `z` with its component along the unit axes `y` taken out."""
    return _unit(z - (z * y).sum(-1, keepdims=True) * y)


def _carried_frame(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(T, 3) normals that follow the plane where the limb is bent and turn without twist where
    it is nearly straight (`segment_frames`, "carried")."""
    normal = np.cross(y, ref)
    sine = np.linalg.norm(normal, axis=-1) / np.maximum(np.linalg.norm(ref, axis=-1), 1e-9)
    lo, hi = np.sin(np.deg2rad(PLANE_NONE)), np.sin(np.deg2rad(PLANE_FULL))
    trust = np.clip((sine - lo) / (hi - lo), 0.0, 1.0)
    plane = _unit(normal)
    # Carried forward from the last bent frame and backward from the next, blended across the
    # straight stretch, so the roll the plane asks for at its two ends is spread over it rather
    # than taken in one jump where the limb bends again.
    ahead = _carried_normals(y, plane, trust)
    back = _carried_normals(y[::-1], plane[::-1], trust[::-1])[::-1]
    share = _stretch_share(trust)[:, None]
    return _square_to((1 - share) * ahead + share * back, y)


PLANE_NONE, PLANE_FULL = 10.0, 25.0  # bend (degrees from straight) where the limb's plane is not / fully trusted


def _stretch_share(trust: np.ndarray) -> np.ndarray:
    """(T,) how far each frame lies through its stretch of untrusted frames (trust < 1): from 0
    at the last fully trusted frame before it to 1 at the next. Frames before the first trusted
    frame take 1 (carried back from it), frames after the last take 0 (carried forward), and
    with no trusted frame at all every frame takes 0."""
    n = len(trust)
    full = np.flatnonzero(trust >= 1.0)
    share = np.zeros(n)
    if len(full) == 0:
        return share
    t = np.arange(n)
    prev = np.searchsorted(full, t, side="right") - 1  # index into full of the last trusted frame <= t
    has_prev, has_next = prev >= 0, prev + 1 < len(full)
    last = np.where(has_prev, full[np.maximum(prev, 0)], 0)
    nxt = np.where(has_next, full[np.minimum(prev + 1, len(full) - 1)], n - 1)
    inside = has_prev & has_next & (trust < 1.0)
    share[inside] = (t[inside] - last[inside]) / np.maximum(nxt[inside] - last[inside], 1)
    share[~has_prev] = 1.0  # before the first trusted frame: carried back from it
    return share


def _carried_normals(y: np.ndarray, plane: np.ndarray, trust: np.ndarray) -> np.ndarray:
    """(T, 3) unit normals to the segment axes `y`: each frame's normal is the previous one
    projected square to the new axis (a turn without twist), pulled toward the plane's normal
    `plane` by `trust` (0..1). The first frame starts from the plane of the most trusted frame
    (or a horizontal normal when the limb is never bent)."""
    n = len(y)
    if n == 0:
        return np.zeros((0, 3))
    best = int(np.argmax(trust))
    if trust[best] > 0:
        start = plane[best]
    else:  # never bent: any normal works; a horizontal one, or x when the segment is vertical
        start = np.cross(y[0], [0.0, 1.0, 0.0])
        if np.linalg.norm(start) < 1e-6:
            start = np.array([1.0, 0.0, 0.0])
    out = plane.astype(np.float64, copy=True)  # fully trusted frames are their plane's normal
    zx, zy, zz = (float(v) for v in start)
    for t in np.flatnonzero(trust < 1.0).tolist():  # the recursion runs over the others only
        if t > 0:
            zx, zy, zz = out[t - 1].tolist()
        ax, ay, az = y[t].tolist()
        w = float(trust[t])
        if w > 0:
            px, py, pz = plane[t].tolist()
            zx, zy, zz = (1 - w) * zx + w * px, (1 - w) * zy + w * py, (1 - w) * zz + w * pz
        d = zx * ax + zy * ay + zz * az  # square to the axis, then unit length
        zx, zy, zz = zx - d * ax, zy - d * ay, zz - d * az
        norm = (zx * zx + zy * zy + zz * zz) ** 0.5
        if norm < 1e-9:  # the normal fell onto the axis: take any square to it
            zx, zy, zz = ay, -ax, 0.0
            norm = (zx * zx + zy * zy) ** 0.5
            if norm < 1e-9:
                zx, zy, zz, norm = 1.0, 0.0, 0.0, 1.0
        out[t] = (zx / norm, zy / norm, zz / norm)
    return out


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


def virtual_imu(canonical: np.ndarray, rate: float, placement: str, mount: np.ndarray | None = None,
                roll: np.ndarray | None = None, limb_frame: str = "plane") -> np.ndarray:
    """(T, 6) acc + gyro of a sensor worn at `placement`, from (T, 16, 3) y-up canonical joints
    in metres sampled at `rate`; `roll` (T,) radians turns the segment about its own axis, frame
    by frame (which joint positions cannot say); `limb_frame` as in `segment_frames`."""
    positions, rotations = segment_frames(canonical, placement, limb_frame)
    if roll is not None:
        roll = np.asarray(roll, dtype=np.float64)
        if roll.shape != (len(rotations),):
            raise ValueError(f"roll must have one angle per frame ({len(rotations)}), got shape {roll.shape}")
        rotations = rotations @ _about_y(roll)
    return imu_from_frames(positions, rotations, rate, mount)


def _about_y(angles: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations by `angles` about the y axis (a segment's long axis)."""
    return _scipy("spatial.transform").Rotation.from_rotvec(np.outer(angles, [0.0, 1.0, 0.0])).as_matrix()


def random_mount(rng: np.random.Generator, max_degrees: float = 180.0) -> np.ndarray:
    """A random fixed rotation of a sensor on its segment (rotation-invariant training)."""
    axis = _unit(rng.normal(size=3))
    angle = np.deg2rad(rng.uniform(-max_degrees, max_degrees))
    return _scipy("spatial.transform").Rotation.from_rotvec(axis * angle).as_matrix()
