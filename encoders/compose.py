"""A parametric motion composer: canonical-skeleton motion for everyday movement primitives
("sits down on a chair", "falls backward", "drinks from a cup") that the public mocap the
built-in model is pretrained on never shows. Virtual IMUs (indexer.virtual_imu) computed from
the composed motion, with the primitive's own captions, extend pretraining to them.

How a take is made:
- A `Body` holds segment lengths and the trunk's joint offsets, measured from a real skeleton
  (`body_from_pose`) or the default (the mean of the shared data's skeletons), scaled at random.
- A primitive lays out key poses on a timeline: pelvis path and orientation, spine and head
  rotations, and hand / ankle targets in the frame that makes them easy to say (the shoulder's
  for a reach, the head's for "hand to mouth", the world's for a foot planted on the floor or a
  hand put on it). Keys are joined by minimum-jerk easing (or an accelerating easing for falls,
  ballistic arcs for jumps), so joint accelerations stay physical.
- The trunk follows by forward kinematics (rigid offsets, so bone lengths never change), arms
  and legs by analytic two-link inverse kinematics with an elbow / knee direction hint.
- Whatever the primitive does not drive (the legs and trunk under an arm gesture, the idle arm)
  comes from a real mocap clip when one is given (`rest=`): its pelvis path, trunk and head
  rotations, foot positions and arm directions, re-targeted to this body; otherwise from a
  synthetic idle stance (sway, breathing, hanging arms). A gesture starts from and returns to
  that pose (the "rest" frame of a key).
- Tempo, amplitude, repetitions, handedness and timing vary at random; hands carry a small
  tremor; the take is turned to a random heading and moved to a random start position.

Handed primitives are authored for the right side; a left-handed take is the mirror image
(the rest clip is mirrored going in and the result mirrored coming out), so "left" and "right"
are exact mirrors. Conventions are the canonical ones: metres, y up, the person faces +z at
heading 0, left is +x, the floor at y = 0 (ankles at the body's ankle height when standing).
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.interpolate
import scipy.ndimage
import scipy.special

from indexer.bodyparts import CANONICAL_JOINTS
from indexer.errors import BadInput
from indexer.importers import bvh
from indexer.model import PoseStream, Recording, TextSpan
from indexer.windows import resample

J = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
SIDES = ("left", "right")
GROUPS = frozenset({"root", "spine", "legs", "left_arm", "right_arm"})
G = 9.80665
# The skeleton's bones: (parent, child). Every composed take keeps their lengths constant.
BONES = [("pelvis", "chest"), ("chest", "neck"), ("neck", "head"),
         *[(a.format(s=s), b.format(s=s)) for s in SIDES for a, b in (
             ("chest", "{s}_shoulder"), ("{s}_shoulder", "{s}_elbow"), ("{s}_elbow", "{s}_wrist"),
             ("pelvis", "{s}_hip"), ("{s}_hip", "{s}_knee"), ("{s}_knee", "{s}_ankle"))]]
STAND = 0.997  # hip-to-ankle distance of a standing leg, share of its length (knees ~9 degrees)


# ---------------------------------------------------------------------------------------------
# small maths


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _apply(R: np.ndarray, v) -> np.ndarray:
    """(n, 3, 3) rotations applied to (n, 3) or (3,) vectors."""
    return np.einsum("nij,nj->ni", R, np.broadcast_to(np.asarray(v, dtype=np.float64), (R.shape[0], 3)))


def _euler(pitch, roll, yaw, n: int) -> np.ndarray:
    """(n, 3, 3): turn by `yaw` (left +) about y, lean forward by `pitch` about x, lean toward
    the left by `roll`; each a scalar or (n,) in radians."""
    p, r, y = (np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)) for a in (pitch, roll, yaw))
    cp, sp, cr, sr, cy, sy = np.cos(p), np.sin(p), np.cos(-r), np.sin(-r), np.cos(y), np.sin(y)
    z, o = np.zeros(n), np.ones(n)
    rx = np.stack([np.stack([o, z, z], -1), np.stack([z, cp, -sp], -1), np.stack([z, sp, cp], -1)], -2)
    ry = np.stack([np.stack([cy, z, sy], -1), np.stack([z, o, z], -1), np.stack([-sy, z, cy], -1)], -2)
    rz = np.stack([np.stack([cr, -sr, z], -1), np.stack([sr, cr, z], -1), np.stack([z, z, o], -1)], -2)
    return ry @ rx @ rz


def _frame(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Rotations (columns x, y, z) whose y axis is along `y` and x axis toward `x`."""
    y = _unit(y)
    x = _unit(x - (x * y).sum(-1, keepdims=True) * y)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def _align(R: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """R turned by the smallest rotation that takes its y axis onto `direction`."""
    a, b = R[:, :, 1], _unit(direction)
    k = np.cross(a, b)
    s, c = np.linalg.norm(k, axis=-1), (a * b).sum(-1)
    k = k / np.maximum(s, 1e-9)[:, None]
    K = np.zeros((len(a), 3, 3))
    K[:, 0, 1], K[:, 0, 2], K[:, 1, 0], K[:, 1, 2], K[:, 2, 0], K[:, 2, 1] = -k[:, 2], k[:, 1], k[:, 2], -k[:, 0], -k[:, 1], k[:, 0]
    turn = np.eye(3) + s[:, None, None] * K + (1 - c)[:, None, None] * (K @ K)
    return turn @ R


def _turn_y(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    out = points.copy()
    out[..., 0] = c * points[..., 0] + s * points[..., 2]
    out[..., 2] = -s * points[..., 0] + c * points[..., 2]
    return out


def minjerk(u: np.ndarray) -> np.ndarray:
    """Minimum-jerk easing 0 -> 1: zero velocity and acceleration at both ends."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10 - 15 * u + 6 * u * u)


def beta_ease(a: float, b: float) -> Callable[[np.ndarray], np.ndarray]:
    """Easing whose velocity goes as u^a (1-u)^b: a > b accelerates slowly and stops late and
    fast (a fall); a = b = 2 is minimum jerk."""
    return lambda u: scipy.special.betainc(a + 1, b + 1, np.clip(u, 0.0, 1.0))


FALL = beta_ease(2.2, 1.3)


def _curve(t: np.ndarray, keys: list, ease: Callable = minjerk) -> np.ndarray:
    """(n, D) values at times `t` through keys [(time, value) or (time, value, ease)], eased
    between consecutive keys (each ease belongs to the segment ending at its key), held
    before the first and after the last."""
    keys = sorted(keys, key=lambda k: k[0])
    vals = np.array([np.atleast_1d(np.asarray(k[1], dtype=np.float64)) for k in keys])
    out = np.empty((len(t), vals.shape[1]))
    out[:] = vals[0]
    for i in range(1, len(keys)):
        t0, t1 = keys[i - 1][0], keys[i][0]
        here = t >= t0
        if t1 <= t0:
            out[t >= t1] = vals[i]
            continue
        e = keys[i][2] if len(keys[i]) > 2 else ease
        out[here] = vals[i - 1] + e((t[here] - t0) / (t1 - t0))[:, None] * (vals[i] - vals[i - 1])
    return out


def _curve1(t: np.ndarray, keys: list, ease: Callable = minjerk) -> np.ndarray:
    return _curve(t, keys, ease)[:, 0]


def _slerp(a: np.ndarray, b: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Unit vectors a -> b (n, 3) along the great circle, share u (n,) of the way."""
    cos = np.clip((a * b).sum(-1), -1.0, 1.0)
    k = np.cross(a, b)
    theta = np.arctan2(np.linalg.norm(k, axis=-1), cos)
    k = _unit(k)
    return a * np.cos(u * theta)[:, None] + np.cross(k, a) * np.sin(u * theta)[:, None]


def _arc(a: np.ndarray, b: np.ndarray, u: np.ndarray, ahead: np.ndarray) -> np.ndarray:
    """Like _slerp, but through a waypoint pulled toward `ahead` as a and b come to point
    opposite ways (hanging -> overhead goes up in front, never through the body), continuous
    in a, b and u."""
    cos = (a * b).sum(-1)
    pull = 2.0 * np.clip((-0.5 - cos) / 0.5, 0, 1) ** 2
    mid = _unit(a + b + pull[:, None] * np.broadcast_to(ahead, a.shape))
    first = u < 0.5
    return np.where(first[:, None], _slerp(a, mid, np.clip(2 * u, 0, 1)), _slerp(mid, b, np.clip(2 * u - 1, 0, 1)))


def _sphere_curve(t: np.ndarray, keys: list, ease: Callable = minjerk) -> np.ndarray:
    """Like _curve for points around a joint (a hand from its shoulder): distance eased
    linearly, direction along an arc (in front, +z, where two keys point opposite ways), so the
    path swings around the joint instead of cutting through it."""
    keys = sorted(keys, key=lambda k: k[0])
    length = _curve1(t, [(k[0], np.linalg.norm(k[1])) for k in keys], ease)
    dirs = [_unit(np.asarray(k[1], dtype=np.float64)) for k in keys]
    out = np.tile(dirs[0], (len(t), 1))
    ahead = np.array([0.0, 0.0, 1.0])
    for i in range(1, len(keys)):
        t0, t1 = keys[i - 1][0], keys[i][0]
        here = t >= t0
        if t1 <= t0 or not here.any():
            out[t >= t1] = dirs[i]
            continue
        u = ease((t[here] - t0) / (t1 - t0))
        m = int(here.sum())
        out[here] = _arc(np.tile(dirs[i - 1], (m, 1)), np.tile(dirs[i], (m, 1)), u, ahead)
    return length[:, None] * out


def _via(t: np.ndarray, keys: list) -> np.ndarray:
    """(n, D) through keys [(time, value)] without stopping at inner keys (monotone cubic),
    held outside them."""
    times = np.array([k[0] for k in keys])
    vals = np.array([np.atleast_1d(np.asarray(k[1], dtype=np.float64)) for k in keys])
    f = scipy.interpolate.PchipInterpolator(times, vals, axis=0)
    return f(np.clip(t, times[0], times[-1]))


def _noise(rng: np.random.Generator, n: int, rate: float, sigma, hz: float, dims: int = 3) -> np.ndarray:
    """(n, dims) smooth random signal: white noise low-passed near `hz`, standard deviation `sigma`."""
    s = max(rate / (2 * np.pi * hz), 0.5)
    w = scipy.ndimage.gaussian_filter1d(rng.normal(size=(n, dims)), s, axis=0, mode="reflect")
    return w * np.sqrt(2 * np.sqrt(np.pi) * s) * np.asarray(sigma)


def _envelope(t: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """0 -> 1 over [start, start + ramp], 1 -> 0 over [end - ramp, end]."""
    return minjerk((t - start) / ramp) * (1 - minjerk((t - end + ramp) / ramp))


def _soft_max(x: np.ndarray, x0: float, xm: float) -> np.ndarray:
    """x below x0, approaching xm smoothly above it (C2 at x0)."""
    return np.where(x > x0, x0 + (xm - x0) * np.tanh((x - x0) / (xm - x0)), x)


def two_link(root: np.ndarray, target: np.ndarray, a: float, b: float, hint: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Analytic two-link IK: (middle, end) joints of a chain root -a- middle -b- end reaching for
    `target`, the middle joint bent toward `hint` (a direction, (n, 3)). Out-of-reach targets
    (and ones too close) are approached smoothly, so a limb never snaps straight."""
    v = target - root
    d = np.linalg.norm(v, axis=-1)
    n = v / np.maximum(d, 1e-9)[:, None]
    length = a + b
    x = _soft_max(d / length, STAND, 0.9999)
    low = abs(a - b) / length + 0.06
    x = -_soft_max(-x, -(low + 0.04), -low)
    d = x * length
    cos = np.clip((a * a + d * d - b * b) / (2 * a * d), -1.0, 1.0)
    u = hint - (hint * n).sum(-1, keepdims=True) * n
    weak = np.linalg.norm(u, axis=-1) < 1e-3 * np.maximum(np.linalg.norm(hint, axis=-1), 1e-9)
    if weak.any():
        alt = np.cross(n[weak], np.array([1.0, 0.0, 0.0]))
        u[weak] = alt + 1e-3 * np.cross(n[weak], np.array([0.0, 0.0, 1.0]))
    u = _unit(u)
    middle = root + a * (cos[:, None] * n + np.sqrt(1 - cos * cos)[:, None] * u)
    return middle, root + d[:, None] * n


# ---------------------------------------------------------------------------------------------
# the body


@dataclass(frozen=True)
class Body:
    """Segment lengths (m) and the trunk's joint offsets of one person. `shoulder` is the left
    shoulder's offset from the chest joint in the chest frame, `hip` the left hip's from the
    pelvis in the pelvis frame (x left, y up the spine, z forward); the right ones mirror them."""

    spine: float = 0.27  # pelvis -> chest
    upper_spine: float = 0.19  # chest -> neck
    neck: float = 0.078  # neck -> head
    shoulder: tuple[float, float, float] = (0.145, 0.144, -0.018)
    hip: tuple[float, float, float] = (0.084, -0.029, 0.01)
    upper_arm: float = 0.268
    forearm: float = 0.232
    thigh: float = 0.409
    shin: float = 0.45
    ankle_height: float = 0.089

    @property
    def leg(self) -> float:
        return self.thigh + self.shin

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm

    @property
    def stand_height(self) -> float:
        """Pelvis height when standing upright on the floor."""
        return self.ankle_height + STAND * self.leg - self.hip[1]

    def shoulder_at(self, side: str) -> np.ndarray:
        x, y, z = self.shoulder
        return np.array([x if side == "left" else -x, y, z])

    def hip_at(self, side: str) -> np.ndarray:
        x, y, z = self.hip
        return np.array([x if side == "left" else -x, y, z])

    def scaled(self, s: float) -> Body:
        return Body(self.spine * s, self.upper_spine * s, self.neck * s, tuple(s * v for v in self.shoulder),
                    tuple(s * v for v in self.hip), self.upper_arm * s, self.forearm * s, self.thigh * s, self.shin * s,
                    self.ankle_height * s)


DEFAULT_BODY = Body()  # the mean of the four skeletons in ../shared/data (CMU BVH and ASF, Bandai-Namco, iClone)


def _trunk_frames(pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis and chest frames of (T, 16, 3) canonical joints (the same frames the composer
    builds the trunk in)."""
    g = lambda j: pose[:, J[j]]  # noqa: E731
    rp = _frame(g("chest") - g("pelvis"), g("left_hip") - g("right_hip"))
    rc = _frame(g("neck") - g("chest"), g("left_shoulder") - g("right_shoulder"))
    return rp, rc


def body_from_pose(canonical: np.ndarray) -> Body:
    """The body of a real skeleton: median bone lengths and trunk offsets of (T, 16, 3)
    canonical joints (metres, y up), left and right averaged; the ankle height is where the
    lower ankle rests on the floor (y = 0)."""
    p = np.asarray(canonical, dtype=np.float64)
    g = lambda j: p[:, J[j]]  # noqa: E731
    length = lambda a, b: float(np.median(np.linalg.norm(g(a) - g(b), axis=-1)))  # noqa: E731
    both = lambda a, b: 0.5 * (length(f"left_{a}", f"left_{b}") + length(f"right_{a}", f"right_{b}"))  # noqa: E731
    rp, rc = _trunk_frames(p)
    flip = np.array([-1.0, 1.0, 1.0])

    def offset(R, origin, joint):
        left = np.median(np.einsum("nji,nj->ni", R, g(f"left_{joint}") - g(origin)), axis=0)
        right = np.median(np.einsum("nji,nj->ni", R, g(f"right_{joint}") - g(origin)), axis=0)
        return tuple(float(v) for v in 0.5 * (left + flip * right))

    lowest = np.minimum(g("left_ankle")[:, 1], g("right_ankle")[:, 1])
    return Body(spine=length("pelvis", "chest"), upper_spine=length("chest", "neck"), neck=length("neck", "head"),
                shoulder=offset(rc, "chest", "shoulder"), hip=offset(rp, "pelvis", "hip"),
                upper_arm=both("shoulder", "elbow"), forearm=both("elbow", "wrist"),
                thigh=both("hip", "knee"), shin=both("knee", "ankle"),
                ankle_height=float(np.clip(np.percentile(lowest, 2), 0.05, 0.14)))


def _trunk(body: Body, pelvis: np.ndarray, rp: np.ndarray, rc: np.ndarray, rh: np.ndarray) -> dict[str, np.ndarray]:
    out = {"pelvis": pelvis, "chest": pelvis + rp[:, :, 1] * body.spine}
    out["neck"] = out["chest"] + rc[:, :, 1] * body.upper_spine
    out["head"] = out["neck"] + rh[:, :, 1] * body.neck
    for side in SIDES:
        out[f"{side}_shoulder"] = out["chest"] + _apply(rc, body.shoulder_at(side))
        out[f"{side}_hip"] = pelvis + _apply(rp, body.hip_at(side))
    return out


# ---------------------------------------------------------------------------------------------
# a real clip for the joints a primitive does not drive


def mirror(pose: np.ndarray) -> np.ndarray:
    """(T, 16, 3) joints seen in a mirror: x negated, left and right swapped."""
    swap = [J[j.replace("left", "#").replace("right", "left").replace("#", "right")] for j in CANONICAL_JOINTS]
    out = pose[:, swap].copy()
    out[..., 0] = -out[..., 0]
    return out


def _fit_length(clip: np.ndarray, n: int, rng: np.random.Generator, rate: float) -> np.ndarray:
    """`n` frames of `clip`: a random stretch of a longer one; a shorter one played forth and
    back (smoothed where it turns)."""
    if len(clip) >= n:
        start = int(rng.integers(0, len(clip) - n + 1))
        return clip[start:start + n]
    parts, forward = [clip], False
    while sum(len(p) for p in parts) < n + len(clip):
        parts.append((clip if forward else clip[::-1])[1:])
        forward = not forward
    long = scipy.ndimage.gaussian_filter1d(np.concatenate(parts), 0.1 * rate, axis=0, mode="nearest")
    start = int(rng.integers(0, len(long) - n + 1))
    return long[start:start + n]


@dataclass
class _Rest:
    """A real clip re-targeted to a body: what the rig takes for the groups a primitive leaves."""

    pelvis: np.ndarray
    rp: np.ndarray
    spine: np.ndarray  # chest relative to pelvis
    head: np.ndarray  # head relative to chest
    ankles: dict[str, np.ndarray]
    knee_hints: dict[str, np.ndarray]
    upper: dict[str, np.ndarray]  # unit upper-arm direction in the chest frame
    fore: dict[str, np.ndarray]


def _rest_motion(clip: np.ndarray, body: Body) -> _Rest:
    p = np.asarray(clip, dtype=np.float64)
    rp0, _ = _trunk_frames(p[:1])
    facing = rp0[0, :, 2]
    p = _turn_y(p, -np.arctan2(facing[0], facing[2]))  # face +z at the first frame
    p[..., [0, 2]] -= p[:1, J["pelvis"], [0, 2]][:, None, :]
    g = lambda j: p[:, J[j]]  # noqa: E731
    rp, rc = _trunk_frames(p)
    rh = _align(rc, g("head") - g("neck"))
    leg = np.median(np.linalg.norm(g("left_hip") - g("left_knee"), axis=-1)
                    + np.linalg.norm(g("left_knee") - g("left_ankle"), axis=-1))
    s = body.leg / max(leg, 1e-3)
    floor = np.percentile(np.minimum(g("left_ankle")[:, 1], g("right_ankle")[:, 1]), 2)
    pelvis = s * g("pelvis")
    pelvis[:, 1] = body.ankle_height + 0.985 * body.leg - body.hip[1] + s * (g("pelvis")[:, 1] - np.median(g("pelvis")[:, 1]))
    ankles, knees, upper, fore = {}, {}, {}, {}
    for side in SIDES:
        a = pelvis + s * (g(f"{side}_ankle") - g("pelvis"))
        a[:, 1] = body.ankle_height + s * (g(f"{side}_ankle")[:, 1] - floor)
        ankles[side] = a
        knees[side] = g(f"{side}_knee") - 0.5 * (g(f"{side}_hip") + g(f"{side}_ankle"))
        upper[side] = np.einsum("nji,nj->ni", rc, _unit(g(f"{side}_elbow") - g(f"{side}_shoulder")))
        fore[side] = np.einsum("nji,nj->ni", rc, _unit(g(f"{side}_wrist") - g(f"{side}_elbow")))
    return _Rest(pelvis, rp, np.einsum("nji,njk->nik", rp, rc), np.einsum("nji,njk->nik", rc, rh), ankles, knees,
                 upper, fore)


# ---------------------------------------------------------------------------------------------
# the rig


HANG = (0.1, -0.95, 0.08)  # a relaxed hanging hand, from the shoulder, in arm lengths (x outward)
ARM_HINT = (0.35, -0.25, -1.0)  # elbows point back, a little down and out (x outward)
KNEE_SPLAY = 0.12  # knees point a little outward


def _above(points: np.ndarray, floor: float, width: float = 0.01) -> np.ndarray:
    """Points kept above `floor` by a smooth (softplus) limit: a hand or foot target never goes
    through the floor, and one well above it moves by well under a millimetre."""
    out = np.array(points, dtype=np.float64)
    out[..., 1] = floor + width * np.logaddexp(0.0, (out[..., 1] - floor) / width)
    return out


def _knee_hint(rp: np.ndarray, hip: np.ndarray, ankle: np.ndarray, side: str) -> np.ndarray:
    """Where a knee points: forward of the hip-ankle line, turned with the hip's flexion in the
    pelvis's sagittal plane (forward when the leg hangs, up when it points forward as in
    sitting), a little outward. A fixed pelvis-frame hint fails once the pelvis pitches far."""
    n = np.einsum("nji,nj->ni", rp, _unit(ankle - hip))
    local = np.stack([np.full(len(n), KNEE_SPLAY if side == "left" else -KNEE_SPLAY), n[:, 2], -n[:, 1]], -1)
    return _apply(rp, local)


def _out(side: str, v) -> np.ndarray:
    """A vector given with x meaning "outward" for `side` (left is +x)."""
    v = np.asarray(v, dtype=np.float64).copy()
    v[..., 0] *= 1.0 if side == "left" else -1.0
    return v


class Rig:
    """One take being built: trunk channels (pelvis path and rotation, spine and head rotation),
    then legs and arms solved by IK against targets. Channels a primitive does not set keep
    their defaults (a real clip's when one was given, else an idle stance)."""

    def __init__(self, body: Body, n: int, rate: float, rng: np.random.Generator, rest: _Rest | None, drives: frozenset):
        self.body, self.n, self.rate, self.rng, self.rest, self.drives = body, n, rate, rng, rest, drives
        self.t = np.arange(n) / rate
        eye = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
        self.pelvis = np.tile([0.0, body.stand_height, 0.0], (n, 1))
        self.rp, self.spine, self.head = eye, eye.copy(), eye.copy()
        if rest is not None and "root" not in drives and "legs" not in drives:
            self.pelvis, self.rp = rest.pelvis.copy(), rest.rp.copy()
        else:
            sway = _noise(rng, n, rate, [0.005, 0.0015, 0.004], 0.3)
            self.pelvis = self.pelvis + sway
            self.rp = _euler(*_noise(rng, n, rate, [0.01, 0.01, 0.015], 0.3).T, n)
        if rest is not None and "spine" not in drives:
            self.spine, self.head = rest.spine.copy(), rest.head.copy()
        else:
            breath = 0.012 * np.sin(2 * np.pi * rng.uniform(0.2, 0.3) * self.t + rng.uniform(0, 6.3))
            wob = _noise(rng, n, rate, [0.01, 0.008, 0.012], 0.4)
            self.spine = _euler(breath + wob[:, 0], wob[:, 1], wob[:, 2], n)
            look = _noise(rng, n, rate, [0.04, 0.02, 0.08], 0.25)
            self.head = _euler(*look.T, n)
        self.arms: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.legs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._trunk: dict[str, np.ndarray] | None = None
        self._defaults: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    # -- trunk ------------------------------------------------------------------------------
    def set_root(self, pelvis: np.ndarray | None = None, angles=None, sway: float = 1.0) -> None:
        """Pelvis path (n, 3) and/or its (pitch, roll, yaw) angles (each scalar or (n,)); a small
        postural sway (times `sway`) goes on top of the path."""
        if pelvis is not None:
            self.pelvis = np.asarray(pelvis, dtype=np.float64).reshape(self.n, 3).copy()
            self.pelvis += sway * _noise(self.rng, self.n, self.rate, [0.003, 0.001, 0.003], 0.3)
        if angles is not None:
            self.rp = _euler(*angles, self.n)
        self._trunk = None
        self._defaults.clear()

    def set_spine(self, pitch=0.0, roll=0.0, yaw=0.0, keep_noise: bool = True) -> None:
        """Chest rotation relative to the pelvis; a small wobble stays on top when `keep_noise`."""
        wob = _noise(self.rng, self.n, self.rate, [0.008, 0.006, 0.01], 0.4) if keep_noise else np.zeros((self.n, 3))
        self.spine = _euler(np.asarray(pitch) + wob[:, 0], np.asarray(roll) + wob[:, 1], np.asarray(yaw) + wob[:, 2], self.n)
        self._trunk = None
        self._defaults.clear()

    def set_head(self, pitch=0.0, roll=0.0, yaw=0.0, keep_noise: bool = True) -> None:
        """Head rotation relative to the chest (pitch + nods down)."""
        look = _noise(self.rng, self.n, self.rate, [0.02, 0.01, 0.04], 0.3) if keep_noise else np.zeros((self.n, 3))
        self.head = _euler(np.asarray(pitch) + look[:, 0], np.asarray(roll) + look[:, 1], np.asarray(yaw) + look[:, 2], self.n)
        self._trunk = None
        self._defaults.clear()

    def add_spine(self, pitch=0.0, roll=0.0, yaw=0.0) -> None:
        """Lean / twist the chest on top of what it does already (the rest clip's or idle)."""
        self.spine = self.spine @ _euler(pitch, roll, yaw, self.n)
        self._trunk = None
        self._defaults.clear()

    def add_head(self, pitch=0.0, roll=0.0, yaw=0.0) -> None:
        self.head = self.head @ _euler(pitch, roll, yaw, self.n)
        self._trunk = None
        self._defaults.clear()

    def curve(self, keys: list, ease: Callable = minjerk) -> np.ndarray:
        """A scalar channel through keys [(time, value)] on this take's clock."""
        return _curve1(self.t, keys, ease)

    def curve3(self, keys: list, ease: Callable = minjerk) -> np.ndarray:
        """A vector channel (n, 3), e.g. an elbow hint that changes over the take."""
        return _curve(self.t, keys, ease)

    def trunk(self) -> dict[str, np.ndarray]:
        if self._trunk is None:
            rc = self.rp @ self.spine
            rh = rc @ self.head
            self._trunk = _trunk(self.body, self.pelvis, self.rp, rc, rh)
            self._trunk.update(rp=self.rp, rc=rc, rh=rh)
        return self._trunk

    def at(self, joint: str, time: float) -> np.ndarray:
        """A joint's position at `time`: trunk joints, then limbs solved so far (else their defaults)."""
        i = self.index(time)
        if joint in self.trunk():
            return self.trunk()[joint][i].copy()
        side, _, part = joint.partition("_")
        if part in ("elbow", "wrist"):
            mid, end = self.arms[side] if side in self.arms else self.default("arm", side)
        else:
            mid, end = self.knee_or_ankle(side)
        return (mid if part in ("elbow", "knee") else end)[i].copy()

    def index(self, time: float) -> int:
        return int(np.clip(round(time * self.rate), 0, self.n - 1))

    # -- frames for targets -----------------------------------------------------------------
    def frame(self, name: str, limb: str, side: str) -> tuple[np.ndarray, np.ndarray]:
        """(origin (n, 3), rotation (n, 3, 3)) of a frame targets are given in: "world",
        "chest", "shoulder" / "hip" (the limb's own), "head", "pelvis", or "rest" (where the
        default pose puts the limb's end: a key there has no value)."""
        tr = self.trunk()
        eye = np.broadcast_to(np.eye(3), (self.n, 3, 3))
        if name == "world":
            return np.zeros((self.n, 3)), eye
        if name == "rest":
            return self.default(limb, side)[1], eye
        origin = {"chest": "chest", "head": "head", "pelvis": "pelvis", "shoulder": f"{side}_shoulder", "hip": f"{side}_hip"}[name]
        rot = {"chest": "rc", "shoulder": "rc", "head": "rh", "pelvis": "rp", "hip": "rp"}[name]
        return tr[origin], tr[rot]

    def track(self, limb: str, side: str, keys: list) -> tuple[np.ndarray, np.ndarray]:
        """World targets (n, 3) through keys [(time, frame, xyz)], and the weight (n,) of the
        "rest" frame. Within a frame the point is eased between that frame's own keys, so a hand
        keyed twice in the world stays put while the body moves and one keyed in the head frame
        follows the head; each frame's share is eased between keys, and shares mix around the
        shoulder (hip) rather than through it."""
        keys = sorted(keys, key=lambda k: k[0])
        frames = sorted({f for _, f, _ in keys})
        tr = self.trunk()
        root = tr[f"{side}_shoulder" if limb == "arm" else f"{side}_hip"]
        ahead = tr["rc" if limb == "arm" else "rp"][:, :, 2]
        length, direction, total, w_rest = np.zeros(self.n), None, np.zeros(self.n), np.zeros(self.n)
        for name in frames:
            origin, rot = self.frame(name, limb, side)
            local = [(time, np.zeros(3) if xyz is None else xyz) for time, f, xyz in keys if f == name]
            weight = _curve1(self.t, [(time, 1.0 if f == name else 0.0) for time, f, _ in keys])
            path = _sphere_curve(self.t, local) if name in ("shoulder", "hip") else _curve(self.t, local)
            rel = origin + _apply(rot, path) - root
            length += weight * np.linalg.norm(rel, axis=-1)
            # Blending frames' points goes around the shoulder (hip), not through it: distances
            # mix linearly, directions along arcs, passing in front where they are opposite.
            total += weight
            direction = _unit(rel) if direction is None else \
                _arc(direction, _unit(rel), np.where(total > 1e-9, weight / np.maximum(total, 1e-9), 0.0), ahead)
            if name == "rest":
                w_rest = weight
        return root + length[:, None] * direction, w_rest

    # -- limbs ------------------------------------------------------------------------------
    def default(self, limb: str, side: str) -> tuple[np.ndarray, np.ndarray]:
        """(middle, end) joints of a limb the primitive leaves: the real clip's, else idle."""
        key = (limb, side)
        if key not in self._defaults:
            tr, b, rest = self.trunk(), self.body, self.rest
            if limb == "arm":
                sh = tr[f"{side}_shoulder"]
                if rest is not None:
                    elbow = sh + _apply(tr["rc"], rest.upper[side]) * b.upper_arm
                    self._defaults[key] = (elbow, elbow + _apply(tr["rc"], rest.fore[side]) * b.forearm)
                else:
                    sway = _noise(self.rng, self.n, self.rate, [0.01, 0.004, 0.015], 0.35)
                    target = sh + _apply(tr["rc"], _out(side, HANG) * b.arm + sway)
                    self._defaults[key] = two_link(sh, target, b.upper_arm, b.forearm, _apply(tr["rc"], _out(side, ARM_HINT)))
            else:
                hip = tr[f"{side}_hip"]
                if rest is not None and "root" not in self.drives and "legs" not in self.drives:
                    target, hint = rest.ankles[side], rest.knee_hints[side]
                else:
                    stance = tr[f"{side}_hip"][0] + _out(side, [0.025, 0.0, 0.02])
                    target = np.tile([stance[0], b.ankle_height, stance[2]], (self.n, 1))
                    hint = _knee_hint(tr["rp"], hip, target, side)
                self._defaults[key] = two_link(hip, target, b.thigh, b.shin, hint)
        return self._defaults[key]

    def set_arm(self, side: str, target: np.ndarray, hint=ARM_HINT, w_rest: np.ndarray | None = None,
                hint_world: np.ndarray | None = None, tremor: float = 1.0) -> None:
        """Solve an arm for wrist `target` (n, 3); `hint` (x outward, chest frame) or `hint_world`
        says where the elbow points; `w_rest` blends toward the default pose's elbow direction."""
        tr, b = self.trunk(), self.body
        sh = tr[f"{side}_shoulder"]
        h = _unit(hint_world if hint_world is not None else _apply(tr["rc"], _out(side, hint)))
        if w_rest is not None and w_rest.any():
            elbow, wrist = self.default("arm", side)
            line = _unit(wrist - sh)
            swivel = elbow - sh - ((elbow - sh) * line).sum(-1, keepdims=True) * line  # where the default elbow bends
            h = _unit((1 - w_rest)[:, None] * h + w_rest[:, None] * _unit(swivel))
        shake = _noise(self.rng, self.n, self.rate, 0.0004, 8.0) + _noise(self.rng, self.n, self.rate, 0.003, 0.5)
        if w_rest is not None:
            shake *= (1 - w_rest)[:, None]
        self.arms[side] = two_link(sh, _above(target + tremor * shake, 0.03), b.upper_arm, b.forearm, h)

    def arm_keys(self, side: str, keys: list, hint=ARM_HINT, **kw) -> None:
        target, w = self.track("arm", side, keys)
        self.set_arm(side, target, hint, w_rest=w, **kw)

    def set_leg(self, side: str, target: np.ndarray, hint=None, hint_world: np.ndarray | None = None) -> None:
        """Solve a leg for ankle `target` (n, 3); the knee follows the hip's flexion unless
        `hint` (x outward, pelvis frame) or `hint_world` says otherwise."""
        tr, b = self.trunk(), self.body
        target = _above(target, 0.7 * b.ankle_height)
        hip = tr[f"{side}_hip"]
        if hint_world is not None:
            h = hint_world
        elif hint is not None:
            h = _apply(tr["rp"], _out(side, hint))
        else:
            h = _knee_hint(tr["rp"], hip, target, side)
        self.legs[side] = two_link(hip, target, b.thigh, b.shin, h)

    def leg_keys(self, side: str, keys: list, hint=None) -> None:
        self.set_leg(side, self.track("leg", side, keys)[0], hint)

    def with_rest(self, side: str, target: np.ndarray, w: np.ndarray, limb: str = "arm") -> np.ndarray:
        """`target` blended toward the default pose's end by weight `w` (n,)."""
        return (1 - w)[:, None] * target + w[:, None] * self.default(limb, side)[1]

    def plant(self, side: str, width: float = 0.025, forward: float = 0.02) -> np.ndarray:
        """Keep a foot on the floor where it stands at the start; its position."""
        spot = self.stance(side, width, forward)
        self.set_leg(side, np.tile(spot, (self.n, 1)))
        return spot

    def stance(self, side: str, width: float = 0.025, forward: float = 0.02, time: float = 0.0) -> np.ndarray:
        """Where a foot stands under the hip at `time` (world, on the floor)."""
        hip = self.at(f"{side}_hip", time)
        return np.array([hip[0] + (width if side == "left" else -width), self.body.ankle_height, hip[2] + forward])

    def knee_or_ankle(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        return self.legs[side] if side in self.legs else self.default("leg", side)

    def positions(self) -> np.ndarray:
        tr = self.trunk()
        out = np.zeros((self.n, len(CANONICAL_JOINTS), 3))
        for name in ("pelvis", "chest", "neck", "head"):
            out[:, J[name]] = tr[name]
        for side in SIDES:
            out[:, J[f"{side}_shoulder"]] = tr[f"{side}_shoulder"]
            out[:, J[f"{side}_hip"]] = tr[f"{side}_hip"]
            elbow, wrist = self.arms[side] if side in self.arms else self.default("arm", side)
            knee, ankle = self.knee_or_ankle(side)
            out[:, J[f"{side}_elbow"]], out[:, J[f"{side}_wrist"]] = elbow, wrist
            out[:, J[f"{side}_knee"]], out[:, J[f"{side}_ankle"]] = knee, ankle
        return out


# ---------------------------------------------------------------------------------------------
# primitives


class Ctx:
    """What a primitive is made with: random draws (tempo, amplitude, pauses), the body, and
    `start`, which opens the rig once the primitive knows its duration."""

    def __init__(self, rng: np.random.Generator, body: Body, rate: float, mirrored: bool,
                 rest_clip: np.ndarray | None, drives: frozenset):
        self.rng, self.body, self.rate, self.mirrored, self.drives = rng, body, rate, mirrored, drives
        self._rest_clip = rest_clip
        self.tempo = rng.uniform(0.8, 1.25)
        self.amp = rng.uniform(0.8, 1.2)
        self.pre = rng.uniform(0.5, 1.3)  # stillness before the movement
        self.post = rng.uniform(0.6, 1.5)  # and after it

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def d(self, seconds: float) -> float:
        """A duration at this take's tempo, jittered."""
        return seconds / self.tempo * self.u(0.9, 1.1)

    def reps(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    @property
    def left(self) -> float:
        """+1 if the authored +x is the performer's left in the finished take (not mirrored)."""
        return -1.0 if self.mirrored else 1.0

    def start(self, duration: float) -> Rig:
        n = max(int(round(duration * self.rate)) + 1, 2)
        rest = None
        if self._rest_clip is not None:
            rest = _rest_motion(_fit_length(self._rest_clip, n, self.rng, self.rate), self.body)
        return Rig(self.body, n, self.rate, self.rng, rest, self.drives)


@dataclass(frozen=True)
class Primitive:
    name: str
    make: Callable[[Ctx], Rig]
    captions: tuple[str, ...]  # "{side}" is the side for handed primitives
    handed: bool = False  # authored right-sided; "left" takes are mirror images
    drives: frozenset[str] = GROUPS  # groups the primitive moves; the rest come from the rest clip
    reverse: bool = False  # the made motion played backward (standing up = sitting down reversed)


PRIMITIVES: dict[str, Primitive] = {}


def _register(name: str, make: Callable[[Ctx], Rig], captions: tuple[str, ...], handed: bool = False,
              drives=GROUPS, reverse: bool = False) -> None:
    PRIMITIVES[name] = Primitive(name, make, tuple(captions), handed, frozenset(drives), reverse)


def primitive(name: str, *captions: str, handed: bool = False, drives=GROUPS):
    def deco(fn: Callable[[Ctx], Rig]) -> Callable[[Ctx], Rig]:
        _register(name, fn, captions, handed, drives)
        return fn
    return deco


R, L_ = "right", "left"  # the authored active side and the other one
UPPER = {"right_arm"}  # a one-arm gesture over whatever the rest of the body does
ARMS = {"left_arm", "right_arm"}


class _Clock:
    """A running time for laying out keys: clock(dt) advances and returns the new time."""

    def __init__(self, t: float):
        self.t = t

    def __call__(self, dt: float = 0.0) -> float:
        self.t += dt
        return self.t


def _A(c: Ctx, x: float, y: float, z: float, reach: float | None = None) -> np.ndarray:
    """A hand position from the shoulder in arm lengths (x outward for the right arm: the
    authored side), optionally rescaled to `reach` arm lengths."""
    v = np.array([-x, y, z])
    if reach is not None:
        v = v / np.linalg.norm(v) * reach
    return v * c.body.arm


def _Al(c: Ctx, x: float, y: float, z: float, reach: float | None = None) -> np.ndarray:
    """The same for the left arm."""
    v = _A(c, x, y, z, reach)
    v[0] = -v[0]
    return v


def _hand(side: str) -> Callable:
    return _A if side == R else _Al


# -- locomotion -------------------------------------------------------------------------------


def _locomotion(c: Ctx, *, step: float, cadence: float, steps: int, duty: float, lift: float, heel: float,
                lean: float, arm_amp: float, arm_bent: float, lane: float, rise: float = 0.0,
                crouch: float = 0.0, bounce: float = 0.0, skew: float = 1.0, ramp: bool = True) -> Rig:
    """Straight-line gait toward +z: a footstep plan (feet alternate; each lands `step` past the
    other, the last one beside it; on stairs each lands one tread higher by `rise`), swing feet
    on eased arcs with heel-off before lift-off, the pelvis over the smoothed support and as
    high as the planted legs reach (less `crouch`, plus `bounce` for running), arms swinging
    against the legs."""
    period = 1.0 / cadence
    base = -rise * (steps - 1) if rise < 0 else 0.0  # a descent starts up the flight and ends on the floor
    plan = _footstep_plan(c, step, period, steps, duty, lane, rise, base, ramp)
    duration = plan[-1][2] + c.post
    rig = c.start(duration)
    ank, planted, mids = _swing_feet(c.body, rig, plan, period, duration, lift, heel, lane, rise, base, skew)
    pelvis, env, yaw = _pelvis_path(c.body, rig, ank, planted, mids, period, step, lean, crouch, bounce)
    rig.set_root(pelvis, (lean * 0.5 * env, 0.0, yaw))
    rig.set_spine(lean * 0.5 * env, 0.0, -1.5 * yaw)
    rig.set_head(-0.5 * lean * env, 0.0, 0.5 * yaw)
    for side in SIDES:
        rig.set_leg(side, ank[side])
    _swing_arms(c.body, rig, ank, env, step, arm_amp, arm_bent)
    return rig


def _footstep_plan(c: Ctx, step: float, period: float, steps: int, duty: float, lane: float, rise: float,
                   base: float, ramp: bool) -> list[tuple[str, float, float, np.ndarray]]:
    """(foot, lift time, land time, landing point) of each step, the first foot drawn at random."""
    b = c.body
    first = str(c.rng.choice(SIDES))
    other = {L_: R, R: L_}
    plan = []
    t, z_prev, level = c.pre, 0.0, 0
    for k in range(steps):
        foot = first if k % 2 == 0 else other[first]
        r = min(1.0, 0.55 + 0.25 * k, 0.55 + 0.25 * (steps - 1 - k)) if ramp else 1.0
        last = k == steps - 1
        z = z_prev if last else z_prev + step * r
        level = level if last else level + 1
        slow = 1.0 / (0.6 + 0.4 * r)
        x = (b.hip[0] + lane) * (1 if foot == L_ else -1)
        plan.append((foot, t, t + 2 * (1 - duty) * period * slow, np.array([x, b.ankle_height + base + level * rise, z])))
        z_prev = z
        t += period * slow
    return plan


def _swing_feet(b: Body, rig: Rig, plan: list, period: float, duration: float, lift: float, heel: float, lane: float,
                rise: float, base: float, skew: float) -> tuple[dict, dict, list[float]]:
    """Ankle paths per side (heel-off, then an eased arc to each landing point), when each foot
    is planted, and the middle of each stance (the gait's phase marks)."""
    tt, n = rig.t, rig.n
    ank = {s: np.tile([(b.hip[0] + lane) * (1 if s == L_ else -1), b.ankle_height + base, 0.0], (n, 1)) for s in SIDES}
    planted = {s: np.ones(n, bool) for s in SIDES}
    mids = []
    for foot, t0, t1, p1 in plan:
        p0 = ank[foot][rig.index(t0 - 0.3 * period)].copy()
        hw = 0.3 * period
        off = np.array([0.0, heel, 0.03])
        w = minjerk((tt - (t0 - hw)) / hw)
        win = tt >= t0 - hw
        ank[foot][win] = p0 + w[win, None] * off
        u = np.clip((tt - t0) / (t1 - t0), 0, 1)
        s = tt >= t0
        start = p0 + off
        h = minjerk(u)
        if rise > 0:
            v = minjerk(u / 0.65)
        elif rise < 0:
            v = minjerk((u - 0.35) / 0.65)
        else:
            v = h
        path = np.stack([start[0] + h * (p1[0] - start[0]), start[1] + v * (p1[1] - start[1])
                         + lift * np.sin(np.pi * u ** skew) ** 2, start[2] + h * (p1[2] - start[2])], -1)
        ank[foot][s] = path[s]
        planted[foot][(tt > t0) & (tt < t1)] = False
        nxt = [q[1] for q in plan if q[0] == foot and q[1] > t1]
        mids.append(0.5 * (t1 + (nxt[0] if nxt else duration)))
    return ank, planted, mids


def _pelvis_path(b: Body, rig: Rig, ank: dict, planted: dict, mids: list[float], period: float, step: float, lean: float,
                 crouch: float, bounce: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pelvis over the smoothed support, as high as the planted legs allow; with the gait's
    speed envelope (0 standing, 1 at full pace) and the pelvis yaw."""
    tt, n, rate = rig.t, rig.n, rig.rate
    count = planted[L_].astype(float) + planted[R]
    support = (ank[L_] * planted[L_][:, None] + ank[R] * planted[R][:, None]) / np.maximum(count, 1)[:, None]
    none = count == 0
    if none.any():
        for d in range(3):
            support[none, d] = np.interp(tt[none], tt[~none], support[~none, d])
    support = scipy.ndimage.gaussian_filter1d(support, 0.3 * period * rate, axis=0, mode="nearest")
    x0 = support[0, 0]
    speed = np.gradient(support[:, 2], tt)
    env = np.clip(speed / max(speed.max(), 1e-6), 0, 1)
    env = scipy.ndimage.gaussian_filter1d(env, 0.2 * rate, mode="nearest")
    phase = np.interp(tt, sorted(mids), np.arange(len(mids)))
    yaw = -0.12 * np.clip((ank[L_][:, 2] - ank[R][:, 2]) / max(step, 1e-3), -1.5, 1.5)
    rp = _euler(lean * 0.5 * env, 0.0, yaw, n)
    profile = b.stand_height + support[:, 1] - b.ankle_height - env * crouch + env * bounce * np.sin(np.pi * phase) ** 2
    pelvis = np.stack([x0 + 0.3 * (support[:, 0] - x0), profile, support[:, 2]], -1)
    reach = 0.99 * b.leg
    cap = np.full(n, np.inf)
    for side in SIDES:
        hip = pelvis + _apply(rp, b.hip_at(side))
        dh = np.linalg.norm((ank[side] - hip)[:, [0, 2]], axis=-1)
        high = ank[side][:, 1] + np.sqrt(np.maximum(reach ** 2 - dh ** 2, 0.0)) - (hip[:, 1] - pelvis[:, 1])
        cap = np.where(planted[side], np.minimum(cap, high), cap)
    y = np.minimum(profile, cap)
    y = scipy.ndimage.minimum_filter1d(y, max(int(0.12 * rate), 1) | 1, mode="nearest")
    pelvis[:, 1] = scipy.ndimage.gaussian_filter1d(y, 0.04 * rate, mode="nearest")
    return pelvis, env, yaw


def _swing_arms(b: Body, rig: Rig, ank: dict, env: np.ndarray, step: float, arm_amp: float, arm_bent: float) -> None:
    """Arms bent with the pace and swinging against the opposite leg."""
    other = {L_: R, R: L_}
    n = rig.n
    tr = rig.trunk()
    for side in SIDES:
        rel = np.clip((ank[other[side]][:, 2] - tr["pelvis"][:, 2]) / max(step, 1e-3), -1, 1) * env
        hang = _out(side, HANG)
        bent = np.array([_out(side, [0.12, -0.93 + 0.45 * arm_bent, 0.06 + 0.25 * arm_bent])[0],
                         -0.93 + 0.45 * arm_bent, 0.06 + 0.25 * arm_bent])
        pose = hang + env[:, None] * (bent - hang)
        pose = pose + np.stack([np.zeros(n), 0.08 * np.maximum(rel, 0), arm_amp * rel], -1)
        pose = pose / np.maximum(np.linalg.norm(pose, axis=-1, keepdims=True) / 0.96, 1.0)
        rig.set_arm(side, tr[f"{side}_shoulder"] + _apply(tr["rc"], pose * b.arm))


@primitive("walk", "a person walks forward", "someone walks a few steps", "walking at a normal pace",
           "a person takes a short walk and stops")
def walk(c: Ctx) -> Rig:
    L = c.body.leg
    return _locomotion(c, step=L * c.u(0.62, 0.82) * c.amp ** 0.3, cadence=c.u(1.55, 2.0), steps=c.reps(5, 12),
                       duty=0.6, lift=c.u(0.06, 0.1), heel=c.u(0.04, 0.07), lean=c.u(0.0, 0.08),
                       arm_amp=c.u(0.12, 0.3), arm_bent=c.u(0.0, 0.2), lane=c.u(0.0, 0.03))


@primitive("jog", "a person jogs", "someone jogs forward at an easy pace", "jogging", "a person starts jogging and slows to a stop")
def jog(c: Ctx) -> Rig:
    L = c.body.leg
    return _locomotion(c, step=L * c.u(0.85, 1.15), cadence=c.u(2.4, 2.8), steps=c.reps(6, 14), duty=0.4,
                       lift=c.u(0.14, 0.22), heel=0.02, lean=c.u(0.08, 0.18), arm_amp=c.u(0.15, 0.3),
                       arm_bent=c.u(0.7, 1.0), lane=c.u(-0.03, 0.0), crouch=0.05 * L, bounce=c.u(0.03, 0.05), skew=0.8)


@primitive("run", "a person runs", "someone sprints forward", "running fast", "a person breaks into a run")
def run(c: Ctx) -> Rig:
    L = c.body.leg
    return _locomotion(c, step=L * c.u(1.2, 1.5), cadence=c.u(2.7, 3.1), steps=c.reps(6, 14), duty=0.34,
                       lift=c.u(0.22, 0.32), heel=0.02, lean=c.u(0.12, 0.25), arm_amp=c.u(0.25, 0.4),
                       arm_bent=c.u(0.8, 1.0), lane=c.u(-0.05, -0.02), crouch=0.07 * L, bounce=c.u(0.04, 0.06), skew=0.7)


def _stairs(c: Ctx, up: bool) -> Rig:
    rise = c.u(0.15, 0.19) * (1 if up else -1)
    rig = _locomotion(c, step=c.u(0.26, 0.32), cadence=c.u(1.3, 1.8), steps=c.reps(5, 11), duty=0.62,
                       lift=c.u(0.04, 0.07), heel=0.0 if up else 0.02, lean=c.u(0.1, 0.25) if up else c.u(0.0, 0.08),
                       arm_amp=c.u(0.05, 0.15), arm_bent=c.u(0.0, 0.2), lane=c.u(0.0, 0.03), rise=rise, ramp=False)
    return rig


_register("stairs_up", lambda c: _stairs(c, True),
          ("a person walks up the stairs", "someone climbs a flight of stairs", "going upstairs step by step",
           "a person ascends a staircase"))
_register("stairs_down", lambda c: _stairs(c, False),
          ("a person walks down the stairs", "someone descends a flight of stairs", "going downstairs",
           "a person steps down a staircase"))


@primitive("stand_still", "a person stands still", "someone stands in place", "standing idle, doing nothing",
           "a person waits, standing", drives=())
def stand_still(c: Ctx) -> Rig:
    return c.start(c.u(3.0, 8.0))


# -- sitting, lying, getting up ---------------------------------------------------------------


def _thigh_point(rig: Rig, side: str, time: float, along: float = 0.6) -> np.ndarray:
    """Where a hand rests on the thigh at `time`."""
    hip, knee = rig.at(f"{side}_hip", time), rig.at(f"{side}_knee", time)
    return hip + along * (knee - hip) + np.array([0.0, 0.07, 0.0])


def sit_down_chair(c: Ctx) -> Rig:
    b = c.body
    t0, D, settle = c.pre, c.d(1.7), c.d(0.6)
    hip_y = b.ankle_height + b.shin * c.u(0.92, 1.05)
    hip_z = -b.thigh * c.u(0.85, 1.0)
    lean = c.u(0.45, 0.8)
    rig = c.start(t0 + D + settle + c.post + c.u(0.5, 2.0))
    z = rig.curve([(t0 + 0.05 * D, 0.0), (t0 + 0.85 * D, hip_z - b.hip[2])])
    y = rig.curve([(t0 + 0.2 * D, b.stand_height), (t0 + D, hip_y - b.hip[1])])
    pitch = rig.curve([(t0, 0.0), (t0 + 0.5 * D, lean), (t0 + D + settle, c.u(-0.12, 0.05))])
    rig.set_root(np.stack([np.zeros(rig.n), y, z], -1), (0.6 * pitch, 0.0, 0.0))
    rig.set_spine(0.4 * pitch)
    rig.set_head(-0.3 * pitch)
    for side in SIDES:
        rig.plant(side)
    for side in SIDES:
        rig.arm_keys(side, [(t0, "rest", None), (t0 + 0.5 * D, "shoulder", _hand(side)(c, 0.1, -0.55, 0.55)),
                            (t0 + D + settle, "world", _thigh_point(rig, side, t0 + D + settle))])
    return rig


_register("sit_down_chair", sit_down_chair,
          ("a person sits down on a chair", "someone takes a seat", "sitting down on a chair from standing",
           "a person lowers themselves onto a chair"))
_register("stand_up_chair", sit_down_chair,
          ("a person stands up from a chair", "someone gets up out of a seat", "rising from a chair to standing",
           "a seated person stands up"), reverse=True)


def _floor_sit(c: Ctx, lie: bool) -> Rig:
    """Standing -> squat -> a hand back on the floor -> sitting on the floor (-> lying on the back)."""
    b = c.body
    L = b.leg
    t0 = c.pre
    t1 = t0 + c.d(1.1)  # squat
    t2 = t1 + c.d(1.0)  # on the floor
    extend = lie or c.chance(0.6)
    t3 = t2 + (c.d(0.9) if extend else 0.3)  # legs out
    t4 = t3 + (c.d(1.6) if lie else 0.0)  # lying back
    rig = c.start(t4 + c.post + c.u(0.5, 2.0))
    squat_y, squat_z = b.ankle_height + c.u(0.38, 0.48) * L, -c.u(0.18, 0.28) * L
    floor_y, floor_z = c.u(0.09, 0.12), -c.u(0.45, 0.58) * L
    hy = b.hip[1]
    ys = [(t0, b.stand_height), (t1, squat_y - hy), (t2, floor_y - hy)]
    zs = [(t0, 0.0), (t1, squat_z), (t2, floor_z)]
    pitch = [(t0, 0.0), (t1, c.u(0.45, 0.7)), (t2, c.u(0.0, 0.15)), (t3, c.u(-0.2, 0.0))]
    spine = [(t0, 0.0), (t1, c.u(0.15, 0.3)), (t2, c.u(0.1, 0.3)), (t3, c.u(0.05, 0.25))]
    if lie:
        ys += [(t4, c.u(0.09, 0.12))]
        zs += [(t4, floor_z - 0.05)]
        pitch += [(t4, -np.pi / 2 + c.u(-0.03, 0.08))]
        spine += [(t3 + 0.5 * (t4 - t3), c.u(0.25, 0.4)), (t4, c.u(-0.05, 0.05))]
    y, z = _via(rig.t, ys)[:, 0], _via(rig.t, zs)[:, 0]
    p = rig.curve(pitch)
    rig.set_root(np.stack([np.zeros(rig.n), y, z], -1), (p, 0.0, 0.0))
    rig.set_spine(rig.curve(spine))
    rig.set_head(rig.curve([(t0, 0.0), (t1, -0.3), (t2, 0.0)] + ([(t4, c.u(0.0, 0.2))] if lie else [])))
    for side in SIDES:
        spot = rig.stance(side)
        keys = [(t0, "world", spot), (t2, "world", spot)]
        if extend:
            keys.append((t3, "world", [spot[0] * 1.1, b.ankle_height, floor_z + b.hip[2] + c.u(0.82, 0.92) * L]))
        if lie:
            keys.append((t4, "world", [spot[0] * 1.1, b.ankle_height, rig.at(f"{side}_hip", t4)[2] + c.u(0.97, 0.99) * L]))
        rig.leg_keys(side, keys)
    behind = lambda side, dz: [(b.hip[0] + c.u(0.12, 0.2)) * (1 if side == L_ else -1), 0.05, floor_z - dz]  # noqa: E731
    support = str(c.rng.choice(SIDES))
    for side in SIDES:
        keys = [(t0, "rest", None)]
        if side == support:
            keys += [(t1 - 0.15, "world", behind(side, 0.15)), (t2 + 0.3, "world", behind(side, 0.15))]
        else:
            keys += [(t1, "shoulder", _hand(side)(c, 0.1, -0.4, 0.75))]
        if lie:
            keys += [(t3 + 0.3 * (t4 - t3), "world", behind(side, 0.1)), (t4, "shoulder", _hand(side)(c, *HANG))]
        elif extend:
            keys += [(t3, "world", _thigh_point(rig, side, t3, c.u(0.5, 0.9)) if c.chance(0.5) else behind(side, 0.2))]
        else:
            keys += [(t3 + 0.3, "world", rig.at(f"{side}_knee", t3) + np.array([0.0, 0.06, 0.04]))]
        rig.arm_keys(side, keys)
    return rig


_register("sit_down_floor", lambda c: _floor_sit(c, False),
          ("a person sits down on the floor", "someone lowers themselves to sit on the ground",
           "sitting down on the floor from standing", "a person gets down and sits on the ground"))
_register("get_up_floor", lambda c: _floor_sit(c, False),
          ("a person gets up from the floor", "someone stands up from sitting on the ground",
           "getting up off the floor", "a person rises from the ground to standing"), reverse=True)
_register("lie_down", lambda c: _floor_sit(c, True),
          ("a person lies down on the floor", "someone gets down and lies on their back", "lying down on the ground",
           "a person sits down and then lies back flat"))
_register("get_up_lying", lambda c: _floor_sit(c, True),
          ("a person gets up from lying on the floor", "someone lying on their back sits up and stands",
           "getting up from lying down", "a person rises from the ground after lying down"), reverse=True)


# -- falls ------------------------------------------------------------------------------------


def _fall_start(c: Ctx) -> tuple[float, float]:
    """When a fall starts and how long it takes (falls keep their physics whatever the tempo)."""
    return c.pre + c.u(0.0, 0.5), c.u(0.8, 1.2)


@primitive("fall_forward", "a person falls forward", "someone trips and falls flat on their face",
           "falling forward onto the ground", "a person topples forward and lands on their hands")
def fall_forward(c: Ctx) -> Rig:
    b = c.body
    t0, D = _fall_start(c)
    rig = c.start(t0 + D + c.post + c.u(0.5, 2.0))
    t = rig.t
    pivot = np.array([0.0, b.ankle_height, 0.02])
    r0 = b.stand_height - b.ankle_height
    r1 = 0.995 * b.leg - b.hip[1]
    theta_end = np.arccos(np.clip((c.u(0.11, 0.15) - b.ankle_height) / r1, -1, 1))
    s = FALL((t - t0) / D)
    r = r0 + (r1 - r0) * s - c.u(0.06, 0.15) * b.leg * np.sin(np.pi * s) * (1 - s)  # knees give early, straight at impact
    theta = theta_end * s
    pelvis = pivot + r[:, None] * np.stack([np.zeros_like(t), np.cos(theta), np.sin(theta)], -1)
    rig.set_root(pelvis, (theta + 0.05 * s, 0.0, 0.0), sway=0.3)
    rig.set_spine(rig.curve([(t0, 0.0), (t0 + 0.6 * D, c.u(0.15, 0.35)), (t0 + D, c.u(-0.25, -0.05))]))
    rig.set_head(rig.curve([(t0, 0.0), (t0 + D, c.u(-0.5, -0.25))]))
    for side in SIDES:  # the feet are the pivot the body turns about
        rig.set_leg(side, np.tile([(b.hip[0] + 0.025) * (1 if side == L_ else -1), b.ankle_height, pivot[2]], (rig.n, 1)))
    end = t0 + D
    for side in SIDES:
        sh = rig.at(f"{side}_shoulder", end)
        floor = sh + _out(side, [c.u(0.05, 0.15), 0.0, c.u(0.1, 0.25)])
        floor[1] = 0.05
        rig.arm_keys(side, [(t0, "rest", None), (t0 + 0.55 * D, "shoulder", _hand(side)(c, 0.15, 0.1, 0.9, 0.9)),
                            (end, "world", floor)], hint=(0.6, 0.0, -1.0))
    return rig


@primitive("fall_backward", "a person falls backward", "someone slips and falls on their back",
           "falling backward onto the floor", "a person loses balance and falls over backward")
def fall_backward(c: Ctx) -> Rig:
    b = c.body
    L = b.leg
    t0, D = _fall_start(c)
    D1, D2 = 0.6 * D, c.u(0.35, 0.6)
    t1, t2 = t0 + D1, t0 + D1 + D2
    rig = c.start(t2 + c.post + c.u(0.5, 2.0))
    sit_y, sit_z = c.u(0.1, 0.13) - b.hip[1], -c.u(0.35, 0.5) * L
    y = rig.curve([(t0, b.stand_height), (t1, sit_y, FALL), (t2, c.u(0.09, 0.12))])
    z = rig.curve([(t0, 0.0), (t1, sit_z), (t2, sit_z - 0.05)])
    pitch = rig.curve([(t0, 0.0), (t1, -c.u(0.35, 0.6), FALL), (t2, -np.pi / 2 + c.u(0.0, 0.08), FALL)])
    rig.set_root(np.stack([np.zeros(rig.n), y, z], -1), (pitch, 0.0, 0.0), sway=0.3)
    rig.set_spine(rig.curve([(t0, 0.0), (t1, c.u(0.2, 0.4)), (t2, c.u(0.0, 0.1))]))
    rig.set_head(rig.curve([(t0, 0.0), (t1, c.u(0.3, 0.5)), (t2, c.u(0.1, 0.3))]))
    for side in SIDES:
        spot = rig.stance(side)
        rig.leg_keys(side, [(t0, "world", spot), (t0 + 0.7 * D1, "world", spot),
                            (t2, "world", [spot[0] * 1.3, b.ankle_height, sit_z + c.u(0.55, 0.85) * L])])
    for side in SIDES:
        sgn = 1 if side == L_ else -1
        rig.arm_keys(side, [(t0, "rest", None), (t0 + 0.5 * D1, "shoulder", _hand(side)(c, 0.35, -0.6, -0.5, 0.9)),
                            (t1, "world", [sgn * (b.hip[0] + c.u(0.12, 0.2)), 0.05, sit_z - 0.2]),
                            (t2 + 0.2, "world", [sgn * c.u(0.4, 0.6), 0.05, sit_z - c.u(0.25, 0.45)])],
                     hint=rig.curve3([(t0, ARM_HINT), (t1, (1.0, 0.0, 0.5)), (t2, (1.0, 0.0, 0.8))]))
    return rig


def _topple(rig: Rig, c: Ctx, t0: float, D: float, seated: bool) -> None:
    """Arms for a fall onto the right side: the right hand out to the floor, the left in front."""
    b, end = c.body, t0 + D
    sh = rig.at("right_shoulder", end)
    floor = sh + np.array([0.0, 0.0, c.u(0.15, 0.35)])
    floor[1] = 0.05
    chest = rig.at("chest", end)
    front = chest + np.array([0.0, 0.0, c.u(0.25, 0.4)])
    front[1] = 0.05 + b.shoulder[0]
    start = (lambda s: ("world", _thigh_point(rig, s, t0))) if seated else (lambda s: ("rest", None))
    rig.arm_keys(R, [(t0, *start(R)), (t0 + 0.5 * D, "shoulder", _A(c, 0.9, -0.35, 0.15, 0.9)), (end, "world", floor)],
                 hint=rig.curve3([(t0, ARM_HINT), (t0 + 0.5 * D, (0.3, -1.0, -0.3)), (end, (-0.4, -0.3, 1.0))]))
    rig.arm_keys(L_, [(t0, *start(L_)), (t0 + 0.5 * D, "shoulder", _Al(c, 0.2, 0.0, 0.8, 0.85)), (end, "world", front)])


@primitive("fall_sideways", "a person falls over to the {side}", "someone loses balance and falls sideways to the {side}",
           "falling sideways onto the floor", "a person topples over onto their {side} side", handed=True)
def fall_sideways(c: Ctx) -> Rig:
    b = c.body
    t0, D = _fall_start(c)
    rig = c.start(t0 + D + c.post + c.u(0.5, 2.0))
    t = rig.t
    pivot = np.array([-(b.hip[0] + 0.025), b.ankle_height, 0.02])
    v0 = np.array([b.hip[0] + 0.025, b.stand_height - b.ankle_height, -0.02])
    side_y = b.hip[0] + c.u(0.1, 0.14)
    grid = np.linspace(1.0, 1.7, 141)
    phi_end = grid[np.argmin(np.abs(b.ankle_height + v0[0] * np.sin(grid) + 0.97 * v0[1] * np.cos(grid) - side_y))]
    s = FALL((t - t0) / D)
    phi = phi_end * s
    k = 1 - (0.03 + c.u(0.0, 0.08) * np.sin(np.pi * s))
    rel = np.stack([v0[0] * np.cos(phi) - v0[1] * k * np.sin(phi), v0[0] * np.sin(phi) + v0[1] * k * np.cos(phi),
                    np.full_like(t, v0[2])], -1)
    rig.set_root(pivot + rel, (0.0, -phi, 0.0), sway=0.3)
    rig.set_spine(rig.curve([(t0, 0.0), (t0 + 0.6 * D, c.u(-0.15, 0.0)), (t0 + D, c.u(0.05, 0.2))]),
                  rig.curve([(t0, 0.0), (t0 + D, c.u(0.1, 0.25))]))
    rig.set_head(0.0, rig.curve([(t0, 0.0), (t0 + D, c.u(0.15, 0.4))]))
    rig.plant(R)
    spot = rig.stance(L_)
    rig.leg_keys(L_, [(t0, "world", spot), (t0 + 0.5 * D, "hip", [0.02, -0.95 * b.leg, 0.08]),
                      (t0 + D, "hip", [0.0, -0.96 * b.leg, c.u(0.05, 0.2)])])
    _topple(rig, c, t0, D, seated=False)
    return rig


@primitive("fall_from_sitting", "a person falls off a chair", "someone sitting slumps sideways and falls to the floor",
           "falling from a seated position onto the ground", "a seated person topples over to the {side} onto the floor",
           handed=True)
def fall_from_sitting(c: Ctx) -> Rig:
    b = c.body
    L = b.leg
    t0, D = c.pre + c.u(0.5, 2.0), c.u(0.7, 1.1)
    rig = c.start(t0 + D + c.post + c.u(0.5, 2.0))
    seat_y = b.ankle_height + b.shin * c.u(0.92, 1.05) - b.hip[1]
    seat_z = -b.thigh * c.u(0.85, 1.0) - b.hip[2]
    x = rig.curve([(t0, 0.0), (t0 + D, -c.u(0.35, 0.55))])
    y = rig.curve([(t0 + 0.1 * D, seat_y), (t0 + D, b.hip[0] + c.u(0.1, 0.14), FALL)])
    z = rig.curve([(t0, seat_z), (t0 + D, seat_z + 0.05)])
    roll = rig.curve([(t0, 0.0), (t0 + D, -(np.pi / 2 - c.u(0.0, 0.15)), FALL)])
    rig.set_root(np.stack([x, y, z], -1), (rig.curve([(t0, c.u(-0.1, 0.05)), (t0 + D, 0.1)]), roll, 0.0), sway=0.5)
    rig.set_spine(rig.curve([(t0, c.u(0.05, 0.25)), (t0 + D, 0.1)]), rig.curve([(t0, 0.0), (t0 + D, c.u(0.1, 0.25))]))
    rig.set_head(0.0, rig.curve([(t0, 0.0), (t0 + D, c.u(0.15, 0.4))]))
    for side in SIDES:
        spot = np.array([(b.hip[0] + 0.025) * (1 if side == L_ else -1), b.ankle_height, 0.02])
        rig.leg_keys(side, [(t0, "world", spot), (t0 + 0.4 * D, "world", spot + [-0.1, 0.0, 0.05]),
                            (t0 + D, "hip", [0.0, -c.u(0.45, 0.6) * L, c.u(0.5, 0.65) * L])])
    _topple(rig, c, t0, D, seated=True)
    return rig


@primitive("pick_up", "a person bends down to pick something up", "someone picks an object up off the floor",
           "bending over to pick up something with the {side} hand", "a person reaches down to the ground and lifts something",
           handed=True)
def pick_up(c: Ctx) -> Rig:
    b = c.body
    t0 = c.pre
    t1 = t0 + c.d(1.3)
    t2 = t1 + c.u(0.3, 0.8)
    t3 = t2 + c.d(1.3)
    rig = c.start(t3 + c.post + c.u(0.3, 1.2))
    obj = np.array([-c.u(0.05, 0.22), c.u(0.12, 0.3), c.u(0.25, 0.45)])  # the wrist a hand's length above the floor
    prefer = c.u(0.6, 1.9)  # trunk bend: a squat near 0.6, a stoop near 1.9
    bends, ys = np.meshgrid(np.linspace(0.4, 2.0, 33), np.linspace(b.ankle_height + 0.3 * b.leg, b.stand_height, 40))
    bends, ys = bends.ravel(), ys.ravel()
    n = len(ys)
    pel = np.stack([np.zeros(n), ys, -0.05 - 0.1 * bends], -1)
    rp = _euler(0.6 * bends, 0.0, 0.0, n)
    sh = _trunk(b, pel, rp, rp @ _euler(0.4 * bends, 0.0, 0.0, n), rp)["right_shoulder"]
    score = ys - 0.3 * np.abs(bends - prefer) - 10.0 * (np.linalg.norm(sh - obj, axis=-1) > 0.92 * b.arm)
    best = int(np.argmax(score))
    low, bend = ys[best], bends[best]
    pp, ps, back = 0.6 * bend, 0.4 * bend, -0.05 - 0.1 * bend
    keys = lambda v0, v1: [(t0, v0), (t1, v1), (t2, v1), (t3, v0)]  # noqa: E731
    y, z, p = rig.curve(keys(b.stand_height, low)), rig.curve(keys(0.0, back)), rig.curve(keys(0.0, 1.0))
    rig.set_root(np.stack([np.zeros(rig.n), y, z], -1), (pp * p, 0.0, 0.0))
    rig.set_spine(ps * p)
    rig.set_head(0.35 * p)
    for side in SIDES:
        rig.plant(side)
    rig.arm_keys(R, [(t0, "rest", None), (t1, "world", obj), (t2, "world", obj + [0.0, 0.02, 0.0]),
                     (t3, "shoulder", _A(c, 0.05, -0.65, 0.4))])
    knee = _thigh_point(rig, L_, t1, 0.85)
    if low < b.ankle_height + 0.6 * b.leg and np.linalg.norm(knee - rig.at("left_shoulder", t1)) > 0.45 * b.arm:
        rig.arm_keys(L_, [(t0, "rest", None), (t1, "world", _thigh_point(rig, L_, t1, 0.85)),
                          (t2, "world", _thigh_point(rig, L_, t2, 0.85)), (t3, "rest", None)])
    return rig


# -- reaching, pushing, throwing --------------------------------------------------------------


def _reach(c: Ctx, target: Callable[[], np.ndarray], lean: Callable[[], tuple[float, float]]) -> Rig:
    keys, leans = [], []
    k = _Clock(c.pre)
    keys.append((k(), "rest", None))
    leans.append((k(), 0.0, 0.0))
    for _ in range(c.reps(1, 2)):
        goal, (pitch, roll) = target(), lean()
        keys.append((k(c.d(0.9)), "shoulder", goal))
        leans.append((k(), pitch, roll))
        hold = c.u(0.4, 1.5)
        keys.append((k(hold), "shoulder", goal * 0.97))
        leans.append((k(), pitch, roll))
        keys.append((k(c.d(0.9)), "rest", None))
        leans.append((k(), 0.0, 0.0))
        k(c.u(0.3, 1.0))
    rig = c.start(k() + c.post)
    rig.add_spine(rig.curve([(t, p) for t, p, _ in leans]), rig.curve([(t, r) for t, _, r in leans]))
    rig.arm_keys(R, keys)
    return rig


@primitive("reach_forward", "a person reaches forward with the {side} hand", "someone stretches the {side} arm out in front",
           "reaching for something in front with the {side} arm", "a person extends the {side} hand forward to grab something",
           handed=True, drives=UPPER)
def reach_forward(c: Ctx) -> Rig:
    return _reach(c, lambda: _A(c, c.u(-0.15, 0.15), c.u(-0.15, 0.25), 1.0, c.u(0.9, 0.96)),
                  lambda: (c.u(0.05, 0.3), 0.0))


@primitive("reach_up", "a person reaches up with the {side} hand", "someone reaches for a high shelf with the {side} arm",
           "reaching overhead with the {side} hand", "a person stretches the {side} arm up to grab something above",
           handed=True, drives=UPPER)
def reach_up(c: Ctx) -> Rig:
    return _reach(c, lambda: _A(c, c.u(0.0, 0.25), 1.0, c.u(0.0, 0.3), c.u(0.92, 0.97)),
                  lambda: (c.u(-0.12, 0.0), c.u(0.0, 0.1)))


@primitive("reach_side", "a person reaches out to the {side} side", "someone stretches the {side} arm out sideways",
           "reaching to the side with the {side} hand", "a person leans and reaches for something on their {side}",
           handed=True, drives=UPPER)
def reach_side(c: Ctx) -> Rig:
    return _reach(c, lambda: _A(c, 1.0, c.u(-0.15, 0.2), c.u(0.0, 0.3), c.u(0.9, 0.96)),
                  lambda: (0.0, -c.u(0.05, 0.25)))


def _push_pull(c: Ctx, push: bool) -> Rig:
    near = lambda f: f(c, -0.05, -0.35, 0.3)  # noqa: E731
    far = lambda f: f(c, -0.03, c.u(-0.2, 0.05), 1.0, c.u(0.88, 0.94))  # noqa: E731
    k = _Clock(c.pre)
    keys = {R: [(k(), "rest", None)], L_: [(k(), "rest", None)]}
    lean = [(k(), 0.0)]
    start, end = (near, far) if push else (far, near)
    lean_to = c.u(0.1, 0.25) if push else -c.u(0.08, 0.2)
    k(c.d(0.7))
    for side in SIDES:
        keys[side].append((k(), "shoulder", start(_hand(side))))
    lean.append((k(), 0.0))
    for _ in range(c.reps(1, 3) if push else c.reps(2, 3)):
        k(c.d(0.8) if push else c.d(0.6))
        for side in SIDES:
            keys[side].append((k(), "shoulder", end(_hand(side))))
        lean.append((k(), lean_to))
        k(c.u(0.2, 0.9))
        for side in SIDES:
            keys[side].append((k(), "shoulder", end(_hand(side))))
        lean.append((k(), lean_to))
        k(c.d(0.8))
        for side in SIDES:
            keys[side].append((k(), "shoulder", start(_hand(side))))
        lean.append((k(), 0.0))
    k(c.d(0.8))
    for side in SIDES:
        keys[side].append((k(), "rest", None))
    rig = c.start(k() + c.post)
    rig.add_spine(rig.curve(lean))
    for side in SIDES:
        rig.arm_keys(side, keys[side], hint=(0.6, -1.0, -0.3))
    return rig


_register("push", lambda c: _push_pull(c, True),
          ("a person pushes something with both hands", "someone pushes a heavy door open", "pushing forward with both arms",
           "a person leans in and shoves something away"), drives=ARMS)
_register("pull", lambda c: _push_pull(c, False),
          ("a person pulls something toward themselves", "someone pulls a rope with both hands",
           "pulling with both arms", "a person tugs on something, leaning back"), drives=ARMS)


@primitive("throw", "a person throws a ball overhand with the {side} hand", "someone throws something with the {side} arm",
           "an overhand throw with the {side} arm", "a person winds up and throws a ball", handed=True, drives=ARMS)
def throw(c: Ctx) -> Rig:
    k = _Clock(c.pre)
    spans = []
    for _ in range(c.reps(1, 2)):
        start = k()
        cocked = k(c.d(0.8))
        hold = k(c.u(0.1, 0.4))
        release = k(c.u(0.24, 0.32))
        follow = k(c.u(0.28, 0.38))
        back = k(c.d(0.9))
        spans.append((start, cocked, hold, release, follow, back))
        k(c.u(0.5, 1.5))
    rig = c.start(k() + c.post)
    t = rig.t
    cock = _A(c, c.u(0.2, 0.35), c.u(0.3, 0.5), -c.u(0.35, 0.55), 0.8)
    rel = _A(c, c.u(0.0, 0.15), c.u(0.35, 0.55), 0.8, 0.9)
    fol = _A(c, -c.u(0.2, 0.4), -c.u(0.5, 0.7), 0.6, 0.85)
    w = np.ones(rig.n)
    local = np.tile(cock, (rig.n, 1))
    yaw, pitch = np.zeros(rig.n), np.zeros(rig.n)
    for start, cocked, hold, release, follow, back in spans:
        w = np.minimum(w, rig.curve([(start, 1.0), (cocked, 0.0), (follow, 0.0), (back, 1.0)]))
        here = (t >= start) & (t <= back)
        path = _via(t, [(hold, cock), (release, rel), (follow, fol)])
        path = np.where((t < hold)[:, None], cock, path)
        local[here] = path[here]
        yaw += rig.curve([(start, 0.0), (cocked, -0.45), (hold, -0.45), (follow, 0.35), (back, 0.0)])
        pitch += rig.curve([(start, 0.0), (cocked, -0.1), (hold, -0.1), (follow, 0.3), (back, 0.0)])
    rig.add_spine(pitch, 0.0, yaw)
    tr = rig.trunk()
    target = rig.with_rest(R, tr["right_shoulder"] + _apply(tr["rc"], local), w)
    rig.set_arm(R, target, hint=(0.8, -0.4, -0.6), w_rest=w)
    keys = [(0.0, "rest", None)]
    for start, cocked, _hold, _release, follow, back in spans:
        keys += [(start, "rest", None), (cocked, "shoulder", _Al(c, 0.1, 0.15, 1.0, 0.9)),
                 (follow, "shoulder", _Al(c, 0.3, -0.7, 0.1, 0.9)), (back, "rest", None)]
    rig.arm_keys(L_, keys)
    return rig


# -- hands together, hands to the face ---------------------------------------------------------


@primitive("clap", "a person claps their hands", "someone applauds", "clapping hands several times",
           "a person claps in front of their chest", drives=ARMS)
def clap(c: Ctx) -> Rig:
    t0 = c.pre
    t1 = t0 + c.d(0.6)
    f = c.u(1.5, 3.0)
    t2 = t1 + c.reps(4, 12) / f
    t3 = t2 + c.d(0.7)
    rig = c.start(t3 + c.post)
    amp, gap = c.u(0.08, 0.17) * c.amp, 0.04
    centre = np.array([0.0, c.u(0.0, 0.22), c.u(0.28, 0.4)])
    phase = 2 * np.pi * f * np.clip(rig.t - t1, 0, t2 - t1)
    open_x = gap + amp * (1 + np.cos(phase)) / 2
    tr = rig.trunk()
    for side in SIDES:
        sgn = 1 if side == L_ else -1
        spot = centre + [sgn * (gap + amp), 0.0, 0.0]
        target, w = rig.track("arm", side, [(t0, "rest", None), (t1, "chest", spot), (t2, "chest", spot), (t3, "rest", None)])
        target = target + _apply(tr["rc"], np.stack([sgn * (open_x - gap - amp), np.zeros(rig.n), np.zeros(rig.n)], -1))
        rig.set_arm(side, target, hint=(0.7, -1.0, -0.2), w_rest=w)
    return rig


def _to_head(c: Ctx, spot: np.ndarray, visits: int, dwell: tuple[float, float], away: np.ndarray | None,
             tilt: float = 0.0, roll: float = 0.0) -> tuple[Rig, list]:
    """The right hand to `spot` (head frame) `visits` times, resting at `away` (shoulder frame)
    or the rest pose between; the head tilts by `tilt` / `roll` while the hand is there.
    Returns the rig (right arm not yet solved) and the keys."""
    k = _Clock(c.pre)
    keys, head = [(k(), "rest", None)], [(k(), 0.0)]
    if away is not None:
        keys.append((k(c.d(0.8)), "shoulder", away))
        head.append((k(), 0.0))
    for _ in range(visits):
        keys.append((k(c.d(0.7)), "head", spot))
        head.append((k(), 0.0))
        head.append((k(0.3), 1.0))
        keys.append((k(c.u(*dwell)), "head", spot + c.rng.normal(0, 0.005, 3)))
        head.append((k(), 1.0))
        keys.append((k(c.d(0.7)), "shoulder", away) if away is not None else (k(c.d(0.8)), "rest", None))
        head.append((k(), 0.0))
        if away is not None:
            keys.append((k(c.u(0.4, 1.5)), "shoulder", away))
            head.append((k(), 0.0))
    if away is not None:
        keys.append((k(c.d(0.8)), "rest", None))
    rig = c.start(k() + c.post)
    h = rig.curve(head)
    rig.add_head(tilt * h, roll * h)
    return rig, keys


@primitive("drink", "drinking from a cup with the {side} hand", "a person takes a drink",
           "someone lifts a glass to their mouth and drinks",
           "a person sips from a bottle held in the {side} hand", handed=True, drives=UPPER)
def drink(c: Ctx) -> Rig:
    spot = np.array([-c.u(0.02, 0.06), -c.u(0.08, 0.12), c.u(0.14, 0.18)])
    rig, keys = _to_head(c, spot, c.reps(1, 2), (0.8, 2.5), _A(c, 0.05, -0.6, 0.45), tilt=-c.u(0.2, 0.45))
    rig.arm_keys(R, keys, hint=(0.6, -1.0, -0.2))
    return rig


@primitive("eat", "a person eats with the {side} hand", "someone brings food to their mouth", "eating a meal with a spoon",
           "a person takes bites of food with the {side} hand", handed=True, drives=ARMS)
def eat(c: Ctx) -> Rig:
    spot = np.array([-c.u(0.02, 0.06), -c.u(0.08, 0.12), c.u(0.17, 0.21)])
    plate = _A(c, -0.05, -0.55, 0.55)
    rig, keys = _to_head(c, spot, c.reps(2, 3), (0.3, 0.6), plate, tilt=c.u(0.1, 0.25))
    rig.arm_keys(R, keys, hint=(0.6, -1.0, -0.2))
    end = keys[-1][0]
    rig.arm_keys(L_, [(c.pre, "rest", None), (c.pre + 0.8, "shoulder", _Al(c, -0.05, -0.6, 0.5)),
                      (end - 0.8, "shoulder", _Al(c, -0.05, -0.6, 0.5)), (end, "rest", None)])
    return rig


@primitive("phone", "a person talks on the phone held in the {side} hand", "someone holds a phone to their {side} ear",
           "answering a phone call", "a person lifts a phone to their ear and listens", handed=True, drives=UPPER)
def phone(c: Ctx) -> Rig:
    spot = np.array([-c.u(0.06, 0.09), -c.u(0.12, 0.16), c.u(0.09, 0.14)])  # the wrist; the hand holds the phone to the ear
    rig, keys = _to_head(c, spot, 1, (3.0, 7.0), None, tilt=c.u(-0.1, 0.15), roll=-c.u(0.0, 0.2))
    rig.arm_keys(R, keys, hint=(0.5, -1.0, 0.3))
    return rig


@primitive("brush_teeth", "a person brushes their teeth", "someone brushes their teeth with the {side} hand",
           "brushing teeth with a toothbrush", "a person scrubs their teeth back and forth", handed=True, drives=UPPER)
def brush_teeth(c: Ctx) -> Rig:
    spot = np.array([-c.u(0.03, 0.06), -c.u(0.06, 0.1), c.u(0.16, 0.2)])
    rig, keys = _to_head(c, spot, 1, (3.0, 7.0), None, tilt=c.u(-0.1, 0.15))
    target, w = rig.track("arm", R, keys)
    at = rig.curve([(keys[1][0], 0.0), (keys[1][0] + 0.3, 1.0), (keys[2][0] - 0.3, 1.0), (keys[2][0], 0.0)])
    f = c.u(3.0, 5.0)
    scrub = c.u(0.015, 0.035) * np.sin(2 * np.pi * f * rig.t)
    drift = _noise(c.rng, rig.n, rig.rate, [0.025, 0.012, 0.005], 0.3)
    local = np.stack([scrub, 0.3 * scrub * np.sin(2 * np.pi * 0.2 * rig.t), np.zeros(rig.n)], -1) + drift
    rig.set_arm(R, target + at[:, None] * _apply(rig.trunk()["rh"], local), hint=(0.6, -1.0, -0.2), w_rest=w)
    return rig


@primitive("comb_hair", "a person combs their hair", "someone brushes their hair with the {side} hand",
           "combing hair from front to back", "a person runs a comb through their hair", handed=True, drives=UPPER)
def comb_hair(c: Ctx) -> Rig:
    k = _Clock(c.pre)
    keys = [(k(), "rest", None)]
    front = np.array([-c.u(0.06, 0.12), c.u(0.13, 0.18), c.u(0.06, 0.12)])
    back = np.array([-c.u(0.1, 0.14), c.u(0.06, 0.1), -c.u(0.08, 0.14)])
    lifted = np.array([-c.u(0.14, 0.18), c.u(0.18, 0.24), 0.0])
    keys.append((k(c.d(0.8)), "head", front))
    for _ in range(c.reps(2, 5)):
        keys.append((k(c.d(0.6)), "head", back + c.rng.normal(0, 0.01, 3)))
        keys.append((k(c.d(0.4)), "head", lifted))
        keys.append((k(c.d(0.4)), "head", front + c.rng.normal(0, 0.01, 3)))
    keys.append((k(c.d(0.8)), "rest", None))
    rig = c.start(k() + c.post)
    rig.add_head(c.u(-0.1, 0.15), -c.u(0.0, 0.15))
    rig.arm_keys(R, keys, hint=(1.0, -0.3, 0.0))
    return rig


# -- gestures in the air ------------------------------------------------------------------------


def _swipe(c: Ctx, to_left: bool) -> Rig:
    sgn = c.left * (1 if to_left else -1)  # authored x of the performer's swipe direction
    y, z = c.u(0.0, 0.25), c.u(0.35, 0.5)
    a, b = np.array([-sgn * c.u(0.2, 0.3) - 0.05, y, z]), np.array([sgn * c.u(0.2, 0.3) - 0.05, y - 0.03, z + 0.03])
    k = _Clock(c.pre)
    keys = [(k(), "rest", None), (k(c.d(0.7)), "chest", a)]
    for i in range(c.reps(1, 4)):
        if i:
            keys.append((k(c.d(0.5)), "chest", (a + b) / 2 + [0.0, -0.06, -0.12]))
            keys.append((k(c.d(0.35)), "chest", a))
            k(c.u(0.05, 0.3))
            keys.append((k(), "chest", a))
        keys.append((k(c.u(0.22, 0.4)), "chest", b))
        keys.append((k(c.u(0.15, 0.4)), "chest", b))
    keys.append((k(c.d(0.8)), "rest", None))
    rig = c.start(k() + c.post)
    rig.arm_keys(R, keys)
    return rig


for _d in ("left", "right"):
    _register(f"swipe_{_d}", lambda c, d=_d: _swipe(c, d == "left"),
              (f"a person swipes to the {_d} with the {{side}} hand", f"someone waves the {{side}} hand across to the {_d}",
               f"a swipe gesture to the {_d}", f"swiping {_d} in the air with the {{side}} hand"), handed=True, drives=UPPER)


def _loop(c: Ctx, path: Callable[[np.ndarray], np.ndarray], cycles: int, hz: float, start_local: np.ndarray,
          frame: str = "chest", hint=ARM_HINT, side: str = R, rig: Rig | None = None, t1: float | None = None) -> Rig:
    """The hand goes to `start_local` (in `frame`), runs `cycles` of the periodic `path(phase)`
    (offsets from start_local, zero at phase 0) with speed ramped in and out, and goes back."""
    if rig is None:
        t1 = c.pre + c.d(0.7)
        ramp = min(0.4, 0.5 / hz)
        t2 = t1 + cycles / hz + ramp
        rig = c.start(t2 + c.d(0.8) + c.post)
    else:
        ramp = min(0.4, 0.5 / hz)
        t2 = t1 + cycles / hz + ramp
    env = _envelope(rig.t, t1, t2, ramp)
    phase = np.cumsum(env) / rig.rate
    phase *= 2 * np.pi * cycles / max(phase[-1], 1e-9)
    target, w = rig.track("arm", side, [(c.pre, "rest", None), (t1, frame, start_local), (t2, frame, start_local),
                                        (t2 + c.d(0.8), "rest", None)])
    _, rot = rig.frame(frame, "arm", side)
    rig.set_arm(side, target + _apply(rot, path(phase)), hint=hint, w_rest=w)
    return rig


def _circle(c: Ctx, clockwise: bool) -> Rig:
    r = c.u(0.1, 0.22) * c.amp
    centre = np.array([-c.u(0.0, 0.15), c.u(0.05, 0.3), c.u(0.38, 0.5)])
    sgn = -c.left if clockwise else c.left  # x = sgn * sin(phase) runs clockwise as the performer sees it
    path = lambda ph: r * np.stack([sgn * np.sin(ph), np.cos(ph) - 1, np.zeros_like(ph)], -1)  # noqa: E731
    return _loop(c, path, c.reps(2, 4), c.u(0.6, 1.1), centre + [0.0, r, 0.0])


_register("circle_clockwise", lambda c: _circle(c, True),
          ("a person draws a clockwise circle in the air with the {side} hand",
           "someone traces a circle clockwise with their {side} hand",
           "drawing circles in the air, clockwise", "a person makes clockwise circular motions with the {side} arm"),
          handed=True, drives=UPPER)
_register("circle_counterclockwise", lambda c: _circle(c, False),
          ("a person draws a counterclockwise circle in the air with the {side} hand",
           "someone traces a circle anticlockwise with their {side} hand", "drawing circles in the air, counterclockwise",
           "a person makes counterclockwise circular motions with the {side} arm"), handed=True, drives=UPPER)


def _shape(c: Ctx, corners: list[list[tuple[float, float]]]) -> Rig:
    """Strokes through corners (units of the shape's size, in the frontal plane); the hand pulls
    back between strokes."""
    size = c.u(0.1, 0.2) * c.amp
    centre = np.array([-c.u(0.0, 0.15), c.u(0.05, 0.28), c.u(0.38, 0.5)])
    spot = lambda xy, back=0.0: centre + [size * xy[0], size * xy[1], -back]  # noqa: E731
    k = _Clock(c.pre)
    keys = [(k(), "rest", None)]
    for rep in range(c.reps(1, 2)):
        for i, stroke in enumerate(corners):
            if rep or i:
                keys.append((k(c.d(0.35)), "chest", spot(stroke[0], 0.08)))
            keys.append((k(c.d(0.35) if (rep or i) else c.d(0.8)), "chest", spot(stroke[0])))
            for xy in stroke[1:]:
                keys.append((k(c.d(0.45)), "chest", spot(xy)))
                keys.append((k(c.u(0.03, 0.15)), "chest", spot(xy)))
    keys.append((k(c.d(0.8)), "rest", None))
    rig = c.start(k() + c.post)
    rig.arm_keys(R, keys)
    return rig


_register("draw_triangle", lambda c: _shape(c, [[(0, 1), (-0.87, -0.5), (0.87, -0.5), (0, 1)]]),
          ("a person draws a triangle in the air with the {side} hand", "someone traces a triangle shape with their finger",
           "drawing a triangle in the air", "a person outlines a triangle in front of them"), handed=True, drives=UPPER)
_register("draw_x", lambda c: _shape(c, [[(1, 1), (-1, -1)], [(-1, 1), (1, -1)]]),
          ("a person draws an X in the air with the {side} hand", "someone makes a cross shape in the air",
           "drawing an X with two diagonal strokes", "a person traces the letter X in front of them"), handed=True, drives=UPPER)
_register("draw_square", lambda c: _shape(c, [[(1, 1), (-1, 1), (-1, -1), (1, -1), (1, 1)]]),
          ("a person draws a square in the air with the {side} hand", "someone traces a square shape with their finger",
           "drawing a rectangle in the air", "a person outlines a box shape in front of them"), handed=True, drives=UPPER)


@primitive("wave", "a person waves the {side} hand", "someone waves hello with the {side} hand", "waving goodbye",
           "a person raises the {side} hand and waves", handed=True, drives=UPPER)
def wave(c: Ctx) -> Rig:
    high = c.u(0.0, 1.0)
    start = _A(c, 0.3 + 0.05 * high, 0.2 + 0.4 * high, 0.45 - 0.25 * high, 0.85)
    amp = c.u(0.06, 0.13) * c.amp
    path = lambda ph: np.stack([amp * np.sin(ph), -0.15 * amp * (1 - np.cos(2 * ph)), np.zeros_like(ph)], -1)  # noqa: E731
    return _loop(c, path, c.reps(3, 8), c.u(1.5, 3.0), start, frame="shoulder", hint=(1.0, -0.7, 0.0))


@primitive("arm_circles", "a person does arm circles", "someone circles both arms held out to the sides",
           "arm circles with the arms stretched out sideways", "a person rotates both outstretched arms in small circles",
           drives=ARMS)
def arm_circles(c: Ctx) -> Rig:
    a = c.body.arm
    r = c.u(0.08, 0.25) * a / 0.5
    x = np.sqrt((0.95 * a) ** 2 - r ** 2)
    direction = 1.0 if c.chance(0.5) else -1.0
    cycles, hz = c.reps(4, 8), c.u(0.9, 1.6)
    rig = None
    t1 = c.pre + c.d(0.9)
    for side in SIDES:
        sgn = 1 if side == L_ else -1
        start = np.array([sgn * x, r, 0.0])
        path = lambda ph: np.stack([np.zeros_like(ph), r * (np.cos(ph) - 1), direction * r * np.sin(ph)], -1)  # noqa: E731
        if rig is None:
            ramp = min(0.4, 0.5 / hz)
            rig = c.start(t1 + cycles / hz + ramp + c.d(0.8) + c.post)
        _loop(c, path, cycles, hz, start, frame="shoulder", hint=(0.0, -0.3, -1.0), side=side, rig=rig, t1=t1)
    return rig


@primitive("arm_circle", "a person swings the {side} arm in big circles", "someone circles the {side} arm",
           "windmilling the {side} arm", "a person rotates the {side} arm in full circles at the shoulder",
           handed=True, drives=UPPER)
def arm_circle(c: Ctx) -> Rig:
    a = c.body.arm
    out = c.u(0.15, 0.35)
    rad = np.sqrt(0.95 ** 2 - out ** 2) * a
    direction = 1.0 if c.chance(0.5) else -1.0
    start = np.array([-out * a, -rad, 0.0])
    path = lambda ph: rad * np.stack([np.zeros_like(ph), 1 - np.cos(ph), direction * np.sin(ph)], -1)  # noqa: E731
    return _loop(c, path, c.reps(2, 5), c.u(0.6, 1.0), start, frame="shoulder", hint=(1.0, 0.0, 0.0))


@primitive("punch", "a person punches with the {side} fist", "someone throws punches with the {side} hand",
           "punching forward", "a person boxes, jabbing with the {side} hand", handed=True, drives=ARMS)
def punch(c: Ctx) -> Rig:
    guard_r, guard_l = _A(c, -0.1, -0.1, 0.4), _Al(c, -0.1, -0.05, 0.45)
    k = _Clock(c.pre)
    keys, twist = [(k(), "rest", None)], [(k(), 0.0)]
    keys.append((k(c.d(0.6)), "shoulder", guard_r))
    twist.append((k(), 0.0))
    for _ in range(c.reps(2, 6)):
        keys.append((k(c.u(0.22, 0.3)), "shoulder", _A(c, -0.12, c.u(-0.05, 0.12), 1.0, c.u(0.88, 0.94))))
        twist.append((k(), c.u(0.15, 0.35)))
        keys.append((k(c.u(0.25, 0.35)), "shoulder", guard_r))
        twist.append((k(), 0.0))
        keys.append((k(c.u(0.15, 0.7)), "shoulder", guard_r))
        twist.append((k(), 0.0))
    end = k(c.d(0.7))
    keys.append((end, "rest", None))
    rig = c.start(end + c.post)
    rig.add_spine(0.05, 0.0, rig.curve(twist))
    rig.arm_keys(R, keys, hint=(0.6, -1.0, 0.0))
    rig.arm_keys(L_, [(c.pre, "rest", None), (c.pre + 0.6, "shoulder", guard_l), (end - 0.7, "shoulder", guard_l),
                      (end, "rest", None)], hint=(0.6, -1.0, 0.0))
    return rig


@primitive("knock", "a person knocks on a door with the {side} hand", "someone knocks on the door",
           "knocking on a door several times", "a person raps on a door with their knuckles", handed=True, drives=UPPER)
def knock(c: Ctx) -> Rig:
    door = _A(c, 0.0, c.u(0.0, 0.3), 1.0, c.u(0.75, 0.85))
    k = _Clock(c.pre)
    t1 = k(c.d(0.8))
    bouts = []
    for _ in range(c.reps(1, 3)):
        k(c.u(0.3, 1.5))
        hz, count = c.u(3.0, 5.0), c.reps(2, 5)
        bouts.append((k(), hz, count))
        k(count / hz)
    t2 = k(c.u(0.3, 0.8))
    rig = c.start(k(c.d(0.8)) + c.post)
    depth = np.zeros(rig.n)
    for start, hz, count in bouts:
        tau = np.clip(rig.t - start, 0, count / hz)
        depth += c.u(0.03, 0.07) * (1 - np.cos(2 * np.pi * hz * tau)) / 2
    target, w = rig.track("arm", R, [(c.pre, "rest", None), (t1, "shoulder", door), (t2, "shoulder", door),
                                     (t2 + c.d(0.8), "rest", None)])
    rig.set_arm(R, target - depth[:, None] * rig.trunk()["rc"][:, :, 2], w_rest=w)
    return rig


@primitive("arm_curl", "a person does bicep curls with the {side} arm", "someone lifts a dumbbell by bending the {side} elbow",
           "curling a weight with the {side} hand", "a person flexes the {side} arm up and down", handed=True, drives=UPPER)
def arm_curl(c: Ctx) -> Rig:
    b = c.body
    elbow = _unit(np.array([-c.u(0.05, 0.15), -1.0, c.u(0.0, 0.15)])) * b.upper_arm
    k = _Clock(c.pre)
    t1 = k(c.d(0.7))
    low, high = c.u(0.1, 0.35), c.u(2.0, 2.4)
    angle = [(t1, low)]
    for _ in range(c.reps(2, 4)):
        angle += [(k(c.d(0.9)), high), (k(c.u(0.0, 0.3)), high), (k(c.d(1.1)), low), (k(c.u(0.0, 0.4)), low)]
    rig = c.start(k(c.d(0.7)) + c.post)
    alpha = rig.curve(angle)
    fore = np.stack([np.full(rig.n, 0.1), -np.cos(alpha), np.sin(alpha)], -1)
    local = elbow + b.forearm * _unit(fore)
    tr = rig.trunk()
    w = rig.curve([(c.pre, 1.0), (t1, 0.0), (angle[-1][0], 0.0), (k(), 1.0)])
    target = rig.with_rest(R, tr["right_shoulder"] + _apply(tr["rc"], local), w)
    rig.set_arm(R, target, hint_world=_apply(tr["rc"], elbow), w_rest=w)
    return rig


@primitive("stretch_up", "a person stretches both arms up over the head", "someone stretches, reaching both hands to the ceiling",
           "stretching upward with the arms raised", "a person raises both arms overhead and stretches", drives=ARMS)
def stretch_up(c: Ctx) -> Rig:
    k = _Clock(c.pre)
    t1 = k(c.d(1.0))
    t2 = k(c.u(1.5, 3.5))
    t3 = k(c.d(1.0))
    rig = c.start(t3 + c.post)
    up = rig.curve([(c.pre, 0.0), (t1, 1.0), (t2, 1.0), (t3, 0.0)])
    sway = c.u(0.0, 0.15) * np.sin(2 * np.pi * c.u(0.2, 0.4) * (rig.t - t1)) * up
    rig.add_spine(-c.u(0.03, 0.12) * up, sway)
    rig.add_head(-c.u(0.1, 0.3) * up)
    inward = c.u(0.05, 0.3)
    for side in SIDES:
        rig.arm_keys(side, [(c.pre, "rest", None), (t1, "shoulder", _hand(side)(c, -inward, 1.0, 0.1, 0.96)),
                            (t2, "shoulder", _hand(side)(c, -inward, 1.0, 0.05, 0.97)), (t3, "rest", None)],
                     hint=(1.0, 0.0, -0.3))
    return rig


# -- exercises and kicks ------------------------------------------------------------------------


def _soft_relu(x: np.ndarray, w: float) -> np.ndarray:
    """0 below 0, x - w/2 above w, a parabola between (C1)."""
    return np.where(x <= 0, 0.0, np.where(x >= w, x - w / 2, x * x / (2 * w)))


def _standing_height(b: Body, half_width: float) -> float:
    """Pelvis height standing with the ankles `half_width` from the middle."""
    dx = max(half_width - b.hip[0], 0.0)
    return b.ankle_height + np.sqrt((STAND * b.leg) ** 2 - dx ** 2) - b.hip[1]


@primitive("kick", "a person kicks forward with the {side} leg", "someone does a front kick with the {side} foot",
           "kicking the {side} leg out in front", "a person kicks a ball with the {side} foot", handed=True)
def kick(c: Ctx) -> Rig:
    b = c.body
    L = b.leg
    k = _Clock(c.pre)
    t_shift = k(c.d(0.6))
    kicks = []
    for _ in range(c.reps(1, 3)):
        lift = k(c.d(0.35))
        out = k(c.u(0.18, 0.28))
        back = k(c.u(0.22, 0.3))
        down = k(c.d(0.4))
        kicks.append((lift - c.d(0.35), lift, out, back, down))
        k(c.u(0.2, 0.8))
    t_end = k(c.d(0.5))
    rig = c.start(t_end + c.post)
    over = (b.hip[0] + 0.025) * c.u(0.6, 0.9)
    x = rig.curve([(c.pre, 0.0), (t_shift, over), (kicks[-1][4], over), (t_end, 0.0)])
    lean = np.zeros(rig.n)
    for start, lift, out, back, down in kicks:
        lean += rig.curve([(start, 0.0), (lift, -0.05), (out, -c.u(0.1, 0.25)), (back, -0.05), (down, 0.0)])
    dip = rig.curve([(c.pre, 0.0), (t_shift, 0.02), (kicks[-1][4], 0.02), (t_end, 0.0)])
    rig.set_root(np.stack([x, b.stand_height - dip, np.zeros(rig.n)], -1), (lean, 0.0, 0.0))
    rig.set_spine(0.5 * lean)
    rig.plant(L_)
    spot = rig.stance(R)
    keys = [(c.pre, "world", spot)]
    for start, lift, out, back, down in kicks:
        height = c.u(0.15, 0.45)
        keys += [(start, "world", spot), (lift, "hip", [0.0, -0.55 * L, 0.4 * L]),
                 (out, "hip", _unit(np.array([0.0, -(1 - height), 0.9])) * 0.96 * L),
                 (back, "hip", [0.0, -0.55 * L, 0.4 * L]), (down, "world", spot)]
    rig.leg_keys(R, keys)
    for side in SIDES:
        rig.arm_keys(side, [(c.pre, "rest", None), (t_shift, "shoulder", _hand(side)(c, 0.4, -0.75, 0.2, 0.9)),
                            (kicks[-1][4], "shoulder", _hand(side)(c, 0.4, -0.75, 0.2, 0.9)), (t_end, "rest", None)])
    return rig


@primitive("squat", "a person does squats", "someone squats down and stands back up", "squatting several times",
           "a person bends the knees into a deep squat and rises")
def squat(c: Ctx) -> Rig:
    b = c.body
    L = b.leg
    half = b.hip[0] + c.u(0.05, 0.15)
    top = _standing_height(b, half)
    bottom = b.ankle_height + c.u(0.35, 0.55) * L - b.hip[1]
    back, lean = -c.u(0.1, 0.22), c.u(0.3, 0.7)
    k = _Clock(c.pre)
    depth = [(k(), 0.0)]
    for _ in range(c.reps(2, 4)):
        depth += [(k(c.d(1.1)), 1.0), (k(c.u(0.0, 0.4)), 1.0), (k(c.d(1.0)), 0.0), (k(c.u(0.2, 0.8)), 0.0)]
    rig = c.start(k() + c.post)
    s = rig.curve(depth)
    rig.set_root(np.stack([np.zeros(rig.n), top + (bottom - top) * s, back * s], -1), (0.7 * lean * s, 0.0, 0.0))
    rig.set_spine(0.3 * lean * s)
    rig.set_head(-0.4 * lean * s)
    for side in SIDES:
        rig.plant(side, width=half - b.hip[0], forward=0.03)
    style = c.reps(0, 2)
    end = depth[-1][0]
    for side in SIDES:
        f = _hand(side)
        if style == 0:  # arms forward as the body goes down
            target, w = rig.track("arm", side, [(c.pre, "rest", None), (c.pre + 0.6, "shoulder", f(c, 0.05, -0.9, 0.3)),
                                                (end, "shoulder", f(c, 0.05, -0.9, 0.3)), (end + 0.6, "rest", None)])
            tr = rig.trunk()
            fwd = tr[f"{side}_shoulder"] + _apply(tr["rc"], f(c, 0.05, -0.1, 1.0, 0.93))
            target = target + s[:, None] * (fwd - target)
            rig.set_arm(side, target, w_rest=w)
        else:
            spot = f(c, -0.1, -0.35, 0.35) if style == 1 else f(c, 0.45, -0.55, -0.05)  # hands at the chest / on the hips
            rig.arm_keys(side, [(c.pre, "rest", None), (c.pre + 0.7, "shoulder", spot), (end, "shoulder", spot),
                                (end + 0.7, "rest", None)], hint=(0.8, -0.5, -0.5))
    return rig


@primitive("lunge", "a person does lunges", "someone steps forward with the {side} leg into a lunge",
           "lunging forward and stepping back", "a person lunges with the {side} foot forward, dropping the back knee",
           handed=True)
def lunge(c: Ctx) -> Rig:
    b = c.body
    L = b.leg
    stride = c.u(0.6, 0.8) * L
    bottom = b.ankle_height + c.u(0.42, 0.55) * L - b.hip[1]
    k = _Clock(c.pre)
    reps = []
    for _ in range(c.reps(1, 3)):
        step = k()
        land = k(c.d(0.6))
        low = k(c.d(0.9))
        hold = k(c.u(0.1, 0.7))
        up = k(c.d(0.9))
        back = k(c.d(0.6))
        reps.append((step, land, low, hold, up, back))
        k(c.u(0.3, 1.0))
    rig = c.start(k() + c.post)
    t = rig.t
    zs, ys, front = [(c.pre, 0.0)], [(c.pre, b.stand_height)], np.zeros(rig.n)
    heel = np.zeros(rig.n)
    for step, land, low, hold, up, back in reps:
        zs += [(step, 0.0), (land, 0.25 * stride), (low, 0.45 * stride), (hold, 0.45 * stride), (up, 0.3 * stride), (back, 0.0)]
        ys += [(land, b.stand_height - 0.03), (low, bottom), (hold, bottom), (up, b.stand_height - 0.03), (back, b.stand_height)]
        u_out, u_back = (t - step) / (land - step), (t - up) / (back - up)
        front += np.where((t >= step) & (t <= land), minjerk(u_out), 0.0) + np.where((t > land) & (t < up), 1.0, 0.0) \
            + np.where((t >= up) & (t <= back), 1 - minjerk(u_back), 0.0)
        heel += rig.curve([(land, 0.0), (low, 1.0), (hold, 1.0), (up, 0.0)])
    rig.set_root(np.stack([np.zeros(rig.n), rig.curve(ys), rig.curve(zs)], -1), (0.05 * heel, 0.0, 0.0))
    rig.set_spine(rig.curve([(c.pre, 0.0), (c.pre + 0.5, c.u(-0.05, 0.15))]))
    spot_r, spot_l = rig.stance(R), rig.stance(L_)
    swing = np.sin(np.pi * np.clip(front, 0, 1)) ** 2 * (np.abs(np.gradient(front)) > 1e-6)
    right = spot_r + front[:, None] * [0.0, 0.0, stride] + (0.06 * swing)[:, None] * [0.0, 1.0, 0.0]
    rig.set_leg(R, right)
    rig.set_leg(L_, spot_l + heel[:, None] * [0.0, c.u(0.05, 0.09), 0.04], hint=(0.1, -0.3, 1.0))
    if c.chance(0.5):  # hands on the hips
        for side in SIDES:
            spot = _hand(side)(c, 0.45, -0.55, -0.05)
            rig.arm_keys(side, [(c.pre, "rest", None), (c.pre + 0.6, "shoulder", spot), (reps[-1][-1], "shoulder", spot),
                                (reps[-1][-1] + 0.6, "rest", None)], hint=(1.0, -0.3, -0.6))
    return rig


def _ballistic(t: np.ndarray, knots: list[tuple[float, float, float]], flights: list[tuple[float, float, float]]) -> np.ndarray:
    """Pelvis heights: cubic Hermite through ground knots (time, height, velocity), free fall
    (height y0 at take-off, velocity v0) over each flight (start, end, ...)."""
    times = np.array([k[0] for k in knots])
    y = scipy.interpolate.CubicHermiteSpline(times, [k[1] for k in knots], [k[2] for k in knots])(np.clip(t, times[0], times[-1]))
    for start, end, (y0, v0) in flights:
        here = (t >= start) & (t <= end)
        tau = t[here] - start
        y[here] = y0 + v0 * tau - 0.5 * G * tau ** 2
    return y


@primitive("jumping_jacks", "a person does jumping jacks", "someone jumps, spreading the legs and clapping hands overhead",
           "doing star jumps", "a person does jumping jacks, arms and legs going out and in")
def jumping_jacks(c: Ctx) -> Rig:
    b = c.body
    cycles, hz = c.reps(3, 8), c.u(0.8, 1.2)
    hop = 0.5 / hz
    air = c.u(0.15, 0.22)
    narrow, wide = b.hip[0] + 0.02, b.hip[0] + c.u(0.2, 0.32)
    t1 = c.pre + 0.5
    rig = c.start(t1 + 2 * cycles * hop + 0.6 + c.post)
    t = rig.t
    hops = [t1 + i * hop for i in range(2 * cycles)]
    widths = [wide if i % 2 == 0 else narrow for i in range(2 * cycles)]
    half = np.full(rig.n, narrow)
    for i, h in enumerate(hops):
        before = narrow if i % 2 == 0 else wide
        half = np.where(t >= h, before + (widths[i] - before) * minjerk((t - h) / air), half)
    top = {w: _standing_height(b, w) + 0.02 for w in (narrow, wide)}
    knots, flights = [(0.0, b.stand_height, 0.0), (t1 - 0.35, b.stand_height, 0.0)], []
    dip = c.u(0.04, 0.08)
    y_from = top[narrow]
    for i, h in enumerate(hops):
        y_to = top[widths[i]]
        v0 = (y_to - y_from) / air + 0.5 * G * air
        if i:
            knots.append((0.5 * (hops[i - 1] + air + h), min(y_from, y_to) - dip, 0.0))
        else:
            knots.append((t1 - 0.18, y_from - dip, 0.0))
        knots.append((h, y_from, v0))
        knots.append((h + air, y_to, v0 - G * air))
        flights.append((h, h + air, (y_from, v0)))
        y_from = y_to
    knots += [(hops[-1] + air + 0.3, b.stand_height - 0.02, 0.0), (t[-1], b.stand_height, 0.0)]
    y = _ballistic(t, knots, flights)
    rig.set_root(np.stack([np.zeros(rig.n), y, np.zeros(rig.n)], -1), (0.03, 0.0, 0.0), sway=0.3)
    tr = rig.trunk()
    for side in SIDES:
        sgn = 1 if side == L_ else -1
        hip = tr[f"{side}_hip"]
        x = sgn * half
        dx = np.abs(x - hip[:, 0])
        reach = hip[:, 1] - b.ankle_height - np.sqrt(np.maximum((STAND * b.leg) ** 2 - dx ** 2 - (hip[:, 2] - 0.02) ** 2, 0))
        ankle = np.stack([x, b.ankle_height + _soft_relu(reach, 0.02), np.full(rig.n, 0.02)], -1)
        rig.set_leg(side, ankle)
    up = np.zeros(rig.n)
    for i, h in enumerate(hops):
        rising = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - h + 0.1) / hop, 0, 1))
        up = np.where(t >= h - 0.1, rising if i % 2 == 0 else 1 - rising, up)
    for side in SIDES:
        f = _hand(side)
        low, high = f(c, 0.25, -0.95, 0.0, 0.95), f(c, 0.2, 0.95, 0.05, 0.95)
        angle_low, angle_high = np.arctan2(low[1], abs(low[0])), np.arctan2(high[1], abs(high[0]))
        ang = angle_low + up * (angle_high - angle_low)
        local = 0.95 * b.arm * np.stack([np.sign(low[0]) * np.cos(ang), np.sin(ang), np.full(rig.n, 0.05)], -1)
        target = tr[f"{side}_shoulder"] + _apply(tr["rc"], local)
        rig.set_arm(side, target, hint=(0.0, 0.0, -1.0))
    return rig


@primitive("jump", "a person jumps in place", "someone jumps straight up", "jumping up and down on the spot",
           "a person crouches and jumps as high as they can")
def jump(c: Ctx) -> Rig:
    b = c.body
    top = b.stand_height + 0.03
    k = _Clock(c.pre)
    knots, flights, arms = [(0.0, b.stand_height, 0.0)], [], []
    for _ in range(c.reps(1, 3)):
        dip, air = c.u(0.15, 0.3), c.u(0.3, 0.45)
        v0 = 0.5 * G * air
        start = k()
        low = k(c.d(0.75))
        off = k(c.u(0.26, 0.36))
        land = k(air)
        absorb = k(c.u(0.28, 0.38))
        stand = k(c.d(0.6))
        knots += [(start, b.stand_height, 0.0), (low, b.stand_height - dip, 0.0), (off, top, v0), (land, top, -v0),
                  (absorb, b.stand_height - c.u(0.1, 0.2), 0.0), (stand, b.stand_height, 0.0)]
        flights.append((off, land, (top, v0)))
        arms.append((start, low, off, land, absorb, stand))
        k(c.u(0.5, 1.5))
    rig = c.start(k() + c.post)
    t = rig.t
    y = _ballistic(t, knots + [(t[-1], b.stand_height, 0.0)], flights)
    crouch = np.clip((b.stand_height - y) / 0.3, 0, 1)
    rig.set_root(np.stack([np.zeros(rig.n), y, -0.1 * crouch], -1), (0.45 * crouch, 0.0, 0.0), sway=0.3)
    rig.set_spine(0.2 * crouch)
    rig.set_head(-0.4 * crouch)
    tr = rig.trunk()
    for side in SIDES:
        hip = tr[f"{side}_hip"]
        spot = rig.stance(side)
        reach = hip[:, 1] - spot[1] - np.sqrt(np.maximum((STAND * b.leg) ** 2 - (hip[:, 0] - spot[0]) ** 2
                                                          - (hip[:, 2] - spot[2]) ** 2, 0))
        rig.set_leg(side, spot + _soft_relu(reach, 0.02)[:, None] * [0.0, 1.0, 0.0])
    for side in SIDES:
        f = _hand(side)
        keys = [(c.pre, "rest", None)]
        for start, low, off, _land, absorb, stand in arms:
            keys += [(start, "rest", None), (low, "shoulder", f(c, 0.15, -0.85, -0.35, 0.93)),
                     (0.5 * (off + land), "shoulder", f(c, 0.15, 0.35, 0.9, 0.93)),
                     (absorb, "shoulder", f(c, 0.15, -0.3, 0.8, 0.9)), (stand, "rest", None)]
        rig.arm_keys(side, keys)
    return rig


# ---------------------------------------------------------------------------------------------
# the public API


@dataclass
class ComposedTake:
    name: str  # primitive name, e.g. "sit_down_chair"
    pose: np.ndarray  # (T, 16, 3) float32 canonical joints
    rate: float  # Hz
    captions: list[str]  # the primitive's own phrasings with the side filled in
    side: str | None  # "left"/"right" for handed primitives


def compose(name: str, rng: np.random.Generator, body: Body | None = None, rate: float = 30.0,
            rest: np.ndarray | None = None, side: str | None = None) -> ComposedTake:
    """One take of primitive `name`. `rest` is a real (T, 16, 3) canonical clip at `rate` whose
    motion fills the joints the primitive does not drive (a stretch of it is taken, or it is
    looped when short); `side` forces the side of a handed primitive (else drawn at random)."""
    prim = PRIMITIVES[name]
    body = body or DEFAULT_BODY
    if prim.handed:
        side = side or str(rng.choice(SIDES))
        if side not in SIDES:
            raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    else:
        side = None
    mirrored = side == L_
    clip = None
    if rest is not None:
        clip = np.asarray(rest, dtype=np.float64)
        if clip.ndim != 3 or clip.shape[1:] != (len(CANONICAL_JOINTS), 3):
            raise ValueError(f"rest must be (T, {len(CANONICAL_JOINTS)}, 3) canonical joints, got {clip.shape}")
        clip = mirror(clip) if mirrored else clip
    rig = prim.make(Ctx(rng, body, rate, mirrored, clip, prim.drives))
    pose = rig.positions()
    if prim.reverse:
        pose = pose[::-1].copy()
    if mirrored:
        pose = mirror(pose)
    pose = _turn_y(pose, rng.uniform(0, 2 * np.pi))
    pose[..., [0, 2]] += rng.uniform(-2.0, 2.0, size=2)
    captions = [t.replace("{side}", side) if side else t for t in prim.captions]
    return ComposedTake(name, pose.astype(np.float32), float(rate), captions, side)


def composed_takes(n_per_primitive: int, seed: int = 0, bodies: list[Body] | None = None,
                   rests: list[np.ndarray] | None = None, rate: float = 30.0) -> Iterator[ComposedTake]:
    """`n_per_primitive` takes of every primitive, each on a body drawn from `bodies` (default:
    DEFAULT_BODY) scaled by 0.85-1.15, three in four over a clip drawn from `rests` when given.
    Deterministic in `seed`; a primitive's takes do not change when others are added."""
    for name in PRIMITIVES:
        for i in range(n_per_primitive):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), i])
            base = bodies[int(rng.integers(len(bodies)))] if bodies else DEFAULT_BODY
            body = base.scaled(rng.uniform(0.85, 1.15))
            rest = rests[int(rng.integers(len(rests)))] if rests and rng.random() < 0.75 else None
            yield compose(name, rng, body, rate, rest)


REST_TAKES_PER_FOLDER = 40  # takes read from each BVH folder for bodies and rest clips
QUIET_SECONDS = 2.0  # the shortest quiet stretch kept as a rest clip (shorter takes are looped)


def quiet_stretches(canonical: np.ndarray, rate: float, seconds: float = QUIET_SECONDS,
                    longest: float = 15.0) -> list[np.ndarray]:
    """Stretches of a real take where the person stands quietly: feet and trunk still, trunk
    upright, hands not gesturing. What a primitive is laid over must not contradict its caption
    ("waves" over a bow, "stands still" over a dance)."""
    p = np.asarray(canonical, dtype=np.float64)
    if len(p) < 3:
        return []
    smooth = scipy.ndimage.gaussian_filter1d(p, 0.1 * rate, axis=0, mode="nearest")
    v = np.linalg.norm(np.gradient(smooth, 1.0 / rate, axis=0), axis=-1)
    hands = [J[f"{s}_{j}"] for s in SIDES for j in ("elbow", "wrist")]
    body = [i for i in range(len(CANONICAL_JOINTS)) if i not in hands]
    spine = _unit(p[:, J["neck"]] - p[:, J["pelvis"]])
    g = lambda j: p[:, J[j]]  # noqa: E731
    chest_y = g("chest")[:, 1]
    axis = g("neck") - g("pelvis")
    off = lambda j: np.linalg.norm(np.cross(g(j) - g("pelvis"), _unit(axis)), axis=-1)  # noqa: E731
    hands_low = (np.maximum(g("left_wrist")[:, 1], g("right_wrist")[:, 1]) < chest_y) \
        & (np.maximum(off("left_wrist"), off("right_wrist")) < 0.35)
    seg = lambda a, b: np.linalg.norm(g(a) - g(b), axis=-1)  # noqa: E731
    reach = [seg(f"{s}_hip", f"{s}_ankle") / np.median(seg(f"{s}_hip", f"{s}_knee") + seg(f"{s}_knee", f"{s}_ankle"))
             for s in SIDES]
    standing = np.minimum(*reach) > 0.93
    still = (v[:, body].max(axis=1) < 0.2) & (v[:, hands].max(axis=1) < 0.4) & (spine[:, 1] > np.cos(np.radians(20))) \
        & hands_low & standing
    out, start = [], None
    for i, s in enumerate([*still, False]):
        if s and start is None:
            start = i
        elif not s and start is not None:
            if i - start >= seconds * rate:
                for a in range(start, i, int(longest * rate)):
                    if i - a >= seconds * rate:
                        out.append(p[a:min(i, a + int(longest * rate))].astype(np.float32))
            start = None
    return out


def bodies_and_rests(bvh_folders: list[Path], rate: float = 30.0, seed: int = 0,
                     per_folder: int = REST_TAKES_PER_FOLDER) -> tuple[list[Body], list[np.ndarray]]:
    """Bodies (one per skeleton read) and quiet rest clips (at `rate`) from up to `per_folder`
    takes of each BVH folder; takes that do not read are passed over."""
    bodies, rests = {}, []
    for folder in bvh_folders:
        takes = bvh.discover(Path(folder))
        pick = np.random.default_rng([seed, zlib.crc32(str(folder).encode())]).permutation(len(takes))[:per_folder]
        for i in sorted(pick):
            try:
                rec = takes[i].load()
            except BadInput:
                continue
            if rec.pose is None or rec.pose.data.shape[-1] != 3:
                continue
            canon = rec.pose.canonical().astype(np.float64)
            if not np.isfinite(canon).all() or len(canon) < 2:
                continue
            body = body_from_pose(canon)
            if not 0.6 < body.leg < 1.1:  # not an adult in metres: neither its body nor its motion
                continue
            bodies.setdefault(tuple(round(v, 2) for v in (body.upper_arm, body.forearm, body.thigh, body.shin)), body)
            flat = resample(canon.reshape(len(canon), -1), rec.pose.rate, rate).reshape(-1, len(CANONICAL_JOINTS), 3)
            rests.extend(quiet_stretches(flat, rate))
    return list(bodies.values()), rests


def composed_recordings(n_per_primitive: int, seed: int = 0, bvh_folders: list[Path] = ()) -> list[Recording]:
    """Composed takes as Recordings (dataset "composed", a canonical pose stream, every caption
    as a text span over the whole take, the first one as the label), on bodies and over rest
    clips from `bvh_folders` when given."""
    bodies, rests = bodies_and_rests(list(bvh_folders), seed=seed) if bvh_folders else ([], [])
    out = []
    counts: dict[str, int] = {}
    for take in composed_takes(n_per_primitive, seed, bodies or None, rests or None):
        i = counts[take.name] = counts.get(take.name, -1) + 1
        seconds = len(take.pose) / take.rate
        rec_id = f"composed/{take.name}/{i}"
        out.append(Recording(
            id=rec_id, dataset="composed", subject=f"composed-{seed}-{i}", labels=[take.captions[0]],
            pose=PoseStream(take.pose, take.rate, "canonical", list(CANONICAL_JOINTS), source=rec_id),
            text=[TextSpan(0.0, seconds, caption) for caption in take.captions], sources=[]))
    return out
