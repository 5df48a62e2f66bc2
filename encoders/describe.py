"""Captions from motion: rules over measured quantities turn a window of canonical skeleton
motion into plain-English sentences (in the spirit of PoseScript and MotionScript).

`motion_facts` measures the window in the body's own frame (left, up, forward, rebuilt every
frame from the shoulders and hips, so a take walked in any direction of the capture room reads
the same) and in the skeleton's own units (leg and arm lengths, so a child and a tall adult
read the same): how fast and which way the pelvis travels, the step cadence, turning, posture
and its changes, jumps and falls, which limbs move and how (main direction, circles,
repetitions and tempo), strikes, and where the hands are (together, above the head, at the
mouth, on the hips, ...). `describe` draws varied sentences from those facts (different subsets,
phrasings, short and long), the text targets of contrastive pretraining into a frozen sentence
space; `describe_all` lists every sentence the rules produce, for tests and inspection.

Input: (T, 16, 3) joint positions in metres, y up, joints in `CANONICAL_JOINTS` order, at any
rate (measured at about 30 Hz; a 5 s window takes about 2-3 ms on one core).

What the rules tell, each from a threshold on a measured quantity (see the constants and the
comments where they are used): standing still, walking (slowly, briskly), running, jogging,
sprinting, stepping in place, forward / backward / sideways in the body's frame, turning left or
right, 90 degrees, around, spinning; standing, crouching, squatting, sitting, sitting on the floor,
kneeling, lying (on the back, face down, on the side), on all fours, hanging, and the changes
between them (sits down, stands up, lies down, gets up, drops down, ...), falling, squats and bows counted,
bending forward, leaning back or sideways, standing on one leg; jumps (counted, forward or in
place, high), jumping jacks, bouncing, stairs or a step up or down; which limbs move ("only the
right arm", "both arms", "the legs"), an arm raised, lowered, raised and lowered again, swung to
a side, pushed forward or pulled back, a hand moved up and down / side to side / forward and back
(counted, quickly or slowly), arm circles, waving (which hand, above the head), punches, kicks, a
leg lifted; hands together, clapping, crossed arms, a hand above the head, at the mouth, at the
ear, behind the back, on the hip, reaching forward or out to the side. Left and right are the
body's own: a mirrored take gets the mirrored sentences, word for word.

Examples (real output: `describe` on the first 5 s of takes in ../shared/data, their database
labels in brackets, one generator seeded 1, n=3):

- cmu-mocap/02_01 ("walk"): "A man walks forward, swinging both arms." / "A person is walking."
  / "Someone walks and swings both arms."
- cmu-mocap/09_01 ("run"): "A person jogs forward." / "Someone runs." / "a person jogging
  forward"
- cmu-mocap/13_11 ("forward jump"): "someone jumping up" / "A person is raising both hands and
  lowering them again." / "man jumping up"
- cmu-mocap-iclone/002_05 ("punch/strike"): "The subject punches forward with the right arm,
  standing." / "person punching" / "A person punches."
- cmu-mocap-iclone/006_06 ("basketball - backward dribble"): "A person lifts the right arm up
  and puts it down." / "The person raises the right arm briefly, walking backwards." / "raising
  the right arm briefly"
- bandai-namco/dataset-2_wave-left-hand_normal_001 ("wave left hand"): "Someone is waving the
  left hand." / "A person is waving with the left hand." / "A woman waves the left hand."
- bandai-namco/dataset-2_walk-turn-right_normal_005 ("walk turn right"): "walking and turning
  right" / "A person walks forward while swinging the arms back and forth." / "walking"
- bandai-namco/dataset-1_kick_normal_001 ("kick"): "Someone kicks and turns around." / "Someone
  kicks forward with the right foot, moving the left hand from side to side repeatedly." / "A
  person does a right-legged kick, bringing the right hand to the mouth."
- bandai-namco/dataset-1_bow_normal_001 ("bow"): "Someone is bending over." / "A person bends
  forward and straightens up again and moves both arms while standing in place." / "A person
  moves the arms and bends over while standing in place."
- cmu-mocap/14_07 ("jump up to grab, reach for, tiptoe"): "A person moves both hands up and down
  while jumping." / "The person leaps while raising both arms." / "The person is moving both
  hands up and down."
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import minimum_filter1d, uniform_filter1d
from scipy.signal import find_peaks

from indexer.bodyparts import CANONICAL_JOINTS

_J = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
PELVIS, CHEST, NECK, HEAD = _J["pelvis"], _J["chest"], _J["neck"], _J["head"]
SIDES = ("left", "right")
SHOULDER = {s: _J[f"{s}_shoulder"] for s in SIDES}
ELBOW = {s: _J[f"{s}_elbow"] for s in SIDES}
WRIST = {s: _J[f"{s}_wrist"] for s in SIDES}
HIP = {s: _J[f"{s}_hip"] for s in SIDES}
KNEE = {s: _J[f"{s}_knee"] for s in SIDES}
ANKLE = {s: _J[f"{s}_ankle"] for s in SIDES}
# Local coordinates are (left, up, forward); these index them.
LEFT, UP, FWD = 0, 1, 2

# Everything is measured at about this rate: 120 Hz mocap is averaged and decimated to it
# (nothing told here is faster than a few Hz), so a 5 s window costs the same at any rate.
WORK_RATE = 30.0
GRAVITY = 9.81

# --- thresholds, each in the skeleton's own units (L = leg length hip-knee-ankle, A = arm
# length shoulder-elbow-wrist) or as a dimensionless number ---
# Froude number v^2 / (g L): people switch from walking to running near 0.5 whatever their
# size (Alexander 1989); below 0.004 (about 0.2 m/s for a 0.9 m leg) the pelvis is only swaying.
FROUDE_STILL = 0.004
FROUDE_RUN = 0.5
FROUDE_SLOW = 0.07  # about 0.8 m/s: a slow walk (normal walking is 1.2-1.5 m/s, Froude 0.15-0.25)
FROUDE_FAST_WALK = 0.3  # about 1.6 m/s and above: a brisk walk
FROUDE_SPRINT = 2.0  # about 4.2 m/s: sprinting
# Both feet off the floor: the lower ankle 8% of L (7 cm) above the local floor, more than the
# heel lifts at toe-off of a walk, less than any hop.
AIRBORNE = 0.08
# A step cycle shows as the ankles alternating ahead of each other by at least this much.
STRIDE_MIN = 0.25
# Heights of the pelvis above the floor (the lowest ankle) in L: standing is about 1.0;
# knees bent enough to read as a crouch below 0.85; thighs near horizontal (squat, chair) below
# 0.7; a pelvis below 0.4 is on the floor.
STAND_HEIGHT = 0.85
LOW_HEIGHT = 0.7
FLOOR_HEIGHT = 0.4
# The trunk (pelvis->neck) more than 60 degrees from vertical with the pelvis low is lying.
LYING_TILT = 60.0
BENT_PITCH = 40.0  # trunk pitched forward this far while standing: bending over
LEAN_PITCH = 15.0  # a noticeable lean (backward, or to a side)
# Limb activity: mean speed of the wrist (ankle) relative to the shoulder (hip), in limb
# lengths per second. Hanging arms in quiet standing stay below 0.2; a walk's arm swing is
# about 0.5-1; waving, punching, circling are 1-4.
LIMB_MOVING = 0.45
LIMB_QUIET = 0.25  # below this a limb counts as still when saying "only the right arm moves"
# Repetition: the limb's main-axis signal must correlate with itself one period later by 0.3 at
# least, and show this many separate peaks.
PERIODIC = 0.3
TURN_DEGREES = 45.0  # a turn worth naming; 135 or more is "turns around"


# ---------------------------------------------------------------------------------------------
# facts


@dataclass
class LimbFacts:
    """How one limb's end joint (wrist or ankle) moves relative to its root (shoulder or hip),
    in the body frame; lengths in that limb's length."""

    activity: float = 0.0  # mean speed, limb lengths per second
    moving: bool = False
    axis: str = ""  # main direction of motion: "side to side", "up and down", "forward and back"
    sway: float = 0.0  # sideways share (0-1) of the direction of its repeated motion
    flatness: float = 0.0  # second / first principal spread: 0 a line, 1 a round path
    circles: int = 0  # loops the path closes around some area (a circle, or each lobe of a figure eight)
    net: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (left, up, forward) end minus start
    rise: float = 0.0  # highest point above the higher of start and end (raised and lowered again)
    period: float = 0.0  # seconds per repetition; 0 when not repetitive
    cycles: int = 0  # repetitions seen in the window
    strikes: int = 0  # punches (arms) or kicks (legs)


@dataclass
class HandFacts:
    """Where one hand is, as the share of the window it spends there, and how often it waves."""

    above_head: float = 0.0
    at_mouth: float = 0.0
    at_ear: float = 0.0
    behind_back: float = 0.0
    on_hip: float = 0.0
    reach_forward: float = 0.0
    reach_side: float = 0.0
    waves: int = 0


@dataclass
class MotionFacts:
    """Measured quantities of one window (see the module doc)."""

    duration: float = 0.0  # seconds
    leg_length: float = 0.0  # metres, hip-knee-ankle
    arm_length: float = 0.0  # metres, shoulder-elbow-wrist
    # locomotion
    speed: float = 0.0  # m/s, pelvis over the ground
    froude: float = 0.0  # speed^2 / (g * leg_length)
    direction: str = ""  # "forward", "backward", "left", "right" relative to the body
    cadence: float = 0.0  # steps per second (0: no alternating steps)
    stride: float = 0.0  # how far the ankles alternate, leg lengths
    straddle: float = 0.0  # how much the feet's sideways distance apart changes, leg lengths
    flight: float = 0.0  # share of the window with both feet off the floor
    gait: str = "still"  # "still", "in place", "moves", "walk", "run"
    turn: float = 0.0  # degrees, net change of heading, positive = to the left
    spin: float = 0.0  # degrees, range of headings over the window
    # posture
    pelvis_height: float = 1.0  # median, above the floor, leg lengths
    posture: str = "standing"  # the most common posture
    posture_start: str = "standing"
    posture_end: str = "standing"
    lying_on: str = ""  # "back", "front", "side"
    trunk_pitch: float = 0.0  # degrees, median, forward positive
    trunk_roll: float = 0.0  # degrees, median, leaning left positive
    upright: float = 1.0  # share of the window with the trunk within 45 degrees of vertical
    bends: int = 0  # bent over and straightened up again
    squats: int = 0  # went down and came back up
    one_leg: str = ""  # the leg stood on
    # vertical motion
    jumps: int = 0
    jump_height: float = 0.0  # highest pelvis rise in a jump, leg lengths
    jump_travel: float = 0.0  # forward travel per jump, leg lengths (negative = backward)
    fall: bool = False
    bounce: bool = False
    climb: float = 0.0  # change of the floor under the feet, leg lengths (+ up stairs, - down)
    # limbs and hands
    limbs: dict[str, LimbFacts] = field(default_factory=lambda: {f"{s}_{p}": LimbFacts() for s in SIDES for p in ("arm", "leg")})
    hands: dict[str, HandFacts] = field(default_factory=lambda: {s: HandFacts() for s in SIDES})
    hands_together: float = 0.0  # share of the window
    claps: int = 0
    arms_crossed: float = 0.0  # share of the window
    times: dict[str, float] = field(default_factory=dict)  # when an event happened (s), to order clauses


@dataclass
class _Body:
    """The window resampled near WORK_RATE, with its body frame and scales."""

    x: np.ndarray  # (T, 16, 3) world positions, metres
    loc: np.ndarray  # (T, 16, 3) positions relative to the pelvis in (left, up, forward)
    lat: np.ndarray  # (T, 3) unit horizontal "left" vector
    fwd: np.ndarray  # (T, 3) unit horizontal "forward" vector
    rate: float
    leg: float
    arm: float
    floor: float


def _prepare(canonical: np.ndarray, rate: float, floor: float | None) -> _Body:
    x = np.asarray(canonical, dtype=np.float64)[..., :3]
    if not np.isfinite(x).all():  # a lost marker: hold the joint at its mean rather than fail
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a joint lost in every frame: zeros
            mean = np.nanmean(x, axis=0, keepdims=True)
        x = np.where(np.isfinite(x), x, np.nan_to_num(mean))
    # Frames whose joints all coincide are no body: the zero padding after a short clip.
    body = np.ptp(x, axis=1).max(axis=-1) > 1e-3
    if not body.all():
        x = x[body] if body.any() else x[:1]
    step = max(1, int(round(rate / WORK_RATE)))
    if step > 1:
        x = uniform_filter1d(x, step, axis=0, mode="nearest")[::step]
    rate = rate / step
    x = _median3(x)
    # Facing from shoulders and hips together, averaged over 0.3 s: the shoulders alone twist
    # with a punch or an arm swing, the hips alone with each step.
    lat = x[:, SHOULDER["left"]] - x[:, SHOULDER["right"]] + x[:, HIP["left"]] - x[:, HIP["right"]]
    lat[:, 1] = 0.0
    lat = uniform_filter1d(lat, max(1, int(round(0.3 * rate))), axis=0, mode="nearest")
    lat /= np.maximum(np.linalg.norm(lat, axis=1, keepdims=True), 1e-9)
    fwd = np.cross(lat, np.array([0.0, 1.0, 0.0]))  # left x up = forward (rest pose: +x, +y -> +z)
    rel = x - x[:, PELVIS:PELVIS + 1]
    loc = np.stack([np.einsum("tjc,tc->tj", rel, lat), rel[..., 1], np.einsum("tjc,tc->tj", rel, fwd)], axis=-1)
    leg = np.median(np.concatenate([_length(x, HIP[s], KNEE[s], ANKLE[s]) for s in SIDES]))
    arm = np.median(np.concatenate([_length(x, SHOULDER[s], ELBOW[s], WRIST[s]) for s in SIDES]))
    ankles = x[:, [ANKLE["left"], ANKLE["right"]], 1]
    return _Body(x, loc, lat, fwd, rate, max(float(leg), 0.1), max(float(arm), 0.05),
                 float(ankles.min()) if floor is None else float(floor))


def _median3(x: np.ndarray) -> np.ndarray:
    """Median of each frame and its two neighbours (the ends mirrored): a single bad frame
    goes, such as the rest pose some exporters put first (CMU 07_12, 08_07, the iClone takes)."""
    if len(x) < 3:
        return x
    a = np.concatenate([x[1:2], x[:-1]])
    c = np.concatenate([x[1:], x[-2:-1]])
    return np.maximum(np.minimum(a, x), np.minimum(np.maximum(a, x), c))


def _length(x: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    return np.linalg.norm(x[:, a] - x[:, b], axis=-1) + np.linalg.norm(x[:, b] - x[:, c], axis=-1)


def _smooth(y: np.ndarray, rate: float, seconds: float) -> np.ndarray:
    return uniform_filter1d(y, max(1, int(round(seconds * rate))), axis=0, mode="nearest")


def _runs(mask: np.ndarray, min_len: int = 1) -> list[tuple[int, int]]:
    """(start, stop) of each run of True at least `min_len` long."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return [(int(a), int(b)) for a, b in zip(starts, stops) if b - a >= min_len]


def _period(sig: np.ndarray, rate: float) -> tuple[float, float]:
    """(seconds, autocorrelation) of the clearest repetition of `sig`, lags 0.2 s to 60% of it."""
    n = len(sig)
    s = sig - sig.mean()
    lo, hi = max(2, int(0.2 * rate)), int(0.6 * n)
    if hi <= lo + 2 or s.std() < 1e-9:
        return 0.0, 0.0
    ac = np.correlate(s, s, "full")[n - 1:n - 1 + hi] / (np.arange(n, n - hi, -1) * s.var())
    a = ac[lo - 1:hi]  # local maxima of ac over lags lo..hi-2 (find_peaks costs 5x more here)
    peaks = np.flatnonzero((a[1:-1] > a[:-2]) & (a[1:-1] >= a[2:]))
    if not len(peaks):
        return 0.0, 0.0
    vals = ac[lo + peaks]
    if vals.max() <= 0:
        return 0.0, 0.0
    # The first peak nearly as strong as the best: a repetition's harmonics peak at its multiples.
    first = peaks[np.flatnonzero(vals >= 0.85 * vals.max())[0]]
    return (lo + first) / rate, float(ac[lo + first])


def _rate(x: np.ndarray, rate: float) -> np.ndarray:
    """Time derivative along the first axis (np.gradient's central differences, cheaper)."""
    d = np.empty_like(x)
    if len(x) < 2:
        d[:] = 0.0
        return d
    d[1:-1] = (x[2:] - x[:-2]) * (rate / 2)
    d[0], d[-1] = (x[1] - x[0]) * rate, (x[-1] - x[-2]) * rate
    return d


def _share(mask: np.ndarray) -> float:
    """Share of True in a boolean array."""
    return np.count_nonzero(mask) / max(1, mask.size)


def _spread(x: np.ndarray) -> float:
    """5th to 95th percentile range (np.percentile costs 20x more on short arrays)."""
    xs = np.sort(x)
    n = len(xs) - 1
    return float(xs[int(round(0.95 * n))] - xs[int(round(0.05 * n))]) if n >= 0 else 0.0


def _count(sig: np.ndarray) -> int:
    """Repetitions in `sig`: how often it rises above the top of the middle third of its range
    (5th-95th percentile) after having been below the bottom of it, or falls below after being
    above, whichever is more (the sign of a principal direction is arbitrary). The dead band
    keeps jitter from counting twice."""
    xs = np.sort(sig)
    n = len(xs) - 1
    if n < 2:
        return 0
    low, high = xs[int(round(0.05 * n))], xs[int(round(0.95 * n))]
    band = (high - low) / 3
    if band <= 1e-9:
        return 0
    state = np.where(sig > high - band, 1, np.where(sig < low + band, -1, 0))
    state = state[state != 0]
    if not len(state):
        return 0
    changes = np.diff(state)
    return int(max(np.count_nonzero(changes == 2) + (state[0] == 1), np.count_nonzero(changes == -2) + (state[0] == -1)))


def _locomotion(b: _Body, f: MotionFacts) -> None:
    r, T = b.rate, len(b.x)
    ground = _smooth(b.x[:, PELVIS, [0, 2]], r, 0.5)  # a stride's sway averaged out
    vel = _rate(ground, r)
    speed = np.linalg.norm(vel, axis=1)
    f.speed = float(np.linalg.norm(ground[-1] - ground[0]) / max(f.duration, 1e-9)) if T > 1 else 0.0
    f.speed = max(f.speed, float(np.median(speed)))  # a walk in a circle travels without displacement
    f.froude = f.speed ** 2 / (GRAVITY * b.leg)
    moving = speed ** 2 / (GRAVITY * b.leg) > FROUDE_STILL
    if moving.any():
        v = vel[moving]
        side = float(np.sum(v * b.lat[moving][:, [0, 2]]))
        ahead = float(np.sum(v * b.fwd[moving][:, [0, 2]]))
        angle = np.degrees(np.arctan2(side, ahead))
        f.direction = ("forward" if abs(angle) <= 50 else "backward" if abs(angle) >= 130
                       else "left" if angle > 0 else "right")
    # Steps: the ankles alternate ahead of each other (sideways for a side step).
    apart = b.loc[:, ANKLE["left"], :] - b.loc[:, ANKLE["right"], :]
    f.straddle = _spread(apart[:, LEFT]) / b.leg
    apart = apart[:, [LEFT, FWD]] - apart[:, [LEFT, FWD]].mean(axis=0)
    w, v = np.linalg.eigh(apart.T @ apart)
    along = apart @ v[:, -1] / b.leg
    f.stride = float(_spread(along))
    period, strength = _period(along, r)
    if f.stride > STRIDE_MIN and strength > PERIODIC and 0.4 <= period <= 2.5:
        f.cadence = 2.0 / period
    # Flight: both feet off the local floor (the lowest foot over the last/next 0.75 s).
    lower = b.x[:, [ANKLE["left"], ANKLE["right"]], 1].min(axis=1)
    ground_level = minimum_filter1d(lower, max(1, int(1.5 * r)), mode="nearest")
    f.flight = float(_share(lower - ground_level > AIRBORNE * b.leg))
    if f.froude > FROUDE_RUN or (f.cadence >= 2.4 and f.flight > 0.1 and f.froude > FROUDE_SLOW):
        f.gait = "run"  # 2.4 steps/s with flight phases is a jog even when slow over the ground
    elif f.froude > FROUDE_STILL and moving.mean() > 0.3:
        # Under about 1.5 s a step cycle cannot show its period; ankles alternating by a
        # stride's length while the pelvis travels are steps all the same.
        f.gait = "walk" if f.cadence or (f.stride > 2 * STRIDE_MIN and f.duration < 1.5) else "moves"
    else:
        # Stepping on the spot: the feet take turns to lift, each by 15% L (13 cm) over the other.
        lift = (b.x[:, ANKLE["left"], 1] - b.x[:, ANKLE["right"], 1]) / b.leg
        period, strength = _period(lift, r)
        if _spread(lift) > 0.3 and strength > PERIODIC and 0.4 <= period <= 2.5:
            f.gait, f.cadence = "in place", 2.0 / period
    # Heading: net change and full range of the forward vector's turning about the vertical
    # (a boxer's or dancer's twisting back and forth spans little range).
    yaw = np.degrees(np.unwrap(np.arctan2(b.fwd[:, 0], b.fwd[:, 2])))  # grows when turning left (towards +left)
    f.turn = float(yaw[-1] - yaw[0])
    f.spin = float(yaw.max() - yaw.min())


POSTURES = ("standing", "crouching", "squatting", "sitting", "sitting on the floor", "kneeling", "lying",
            "on all fours", "hanging")


def _postures(b: _Body) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per frame, an index into POSTURES, and the per-frame measures it came from."""
    x, L = b.x, b.leg
    height = (x[:, PELVIS, 1] - b.floor) / L
    spine = x[:, NECK] - x[:, PELVIS]
    spine_len = np.maximum(np.linalg.norm(spine, axis=1), 1e-9)
    tilt = np.degrees(np.arccos(np.clip(spine[:, 1] / spine_len, -1, 1)))
    pitch = np.degrees(np.arctan2(np.einsum("tc,tc->t", spine, b.fwd), spine[:, 1]))
    roll = np.degrees(np.arctan2(np.einsum("tc,tc->t", spine, b.lat), spine[:, 1]))
    thigh = np.stack([x[:, KNEE[s]] - x[:, HIP[s]] for s in SIDES], 1)  # (T, 2, 3)
    # Angle of each thigh below horizontal: 90 hanging straight down, about 0 when seated.
    thigh_drop = np.degrees(np.arcsin(np.clip(-thigh[..., 1] / np.maximum(np.linalg.norm(thigh, axis=-1), 1e-9), -1, 1)))
    knee_low = (x[:, [KNEE["left"], KNEE["right"]], 1].min(axis=1) - b.floor) / L
    wrist_low = (x[:, [WRIST["left"], WRIST["right"]], 1].max(axis=1) - b.floor) / L
    # Ahead of the pelvis, the feet: a seat carries a pelvis that sits a thigh's length behind
    # them (about 0.5 L); a squat has to keep it over the feet to balance (under 0.3 L).
    feet_ahead = b.loc[:, [ANKLE["left"], ANKLE["right"]], FWD].mean(axis=1) / L
    thighs_level = thigh_drop.mean(axis=1) < 45
    code = np.zeros(len(x), dtype=np.int8)
    code[height < STAND_HEIGHT] = POSTURES.index("crouching")
    low = height < LOW_HEIGHT
    code[low & thighs_level] = POSTURES.index("squatting")
    code[low & thighs_level & (feet_ahead > 0.3)] = POSTURES.index("sitting")
    # A knee within 15% of L (13 cm) of the floor carries weight: kneeling.
    code[(knee_low < 0.15) & (height > FLOOR_HEIGHT) & (tilt < 45)] = POSTURES.index("kneeling")
    code[(height < FLOOR_HEIGHT) & (tilt < LYING_TILT)] = POSTURES.index("sitting on the floor")
    code[(tilt > LYING_TILT) & (height < 0.5)] = POSTURES.index("lying")
    # Trunk level, pelvis mid-height, both hands down near the floor: hands and knees.
    code[(tilt > LYING_TILT) & (height >= 0.5) & (height < STAND_HEIGHT) & (wrist_low < 0.3)] = POSTURES.index("on all fours")
    # Hanging (from a bar): the pelvis 1.3 L up, both feet off the floor by 0.3 L, both hands
    # above the head.
    feet_up = (x[:, [ANKLE["left"], ANKLE["right"]], 1].min(axis=1) - b.floor) / L > 0.3
    hands_up = x[:, [WRIST["left"], WRIST["right"]], 1].min(axis=1) > x[:, HEAD, 1]
    code[(height > 1.3) & feet_up & hands_up] = POSTURES.index("hanging")
    return code, {"height": height, "tilt": tilt, "pitch": pitch, "roll": roll}


def _posture(b: _Body, f: MotionFacts) -> None:
    code, m = _postures(b)
    T, r = len(code), b.rate
    edge = max(1, T // 5)
    mode = lambda c: POSTURES[int(np.bincount(c, minlength=len(POSTURES)).argmax())]
    f.posture, f.posture_start, f.posture_end = mode(code), mode(code[:edge]), mode(code[-edge:])
    f.pelvis_height = float(np.median(m["height"]))
    f.trunk_pitch = float(np.median(m["pitch"]))
    f.trunk_roll = float(np.median(m["roll"]))
    f.upright = _share(m["tilt"] < 45)
    if f.posture == "lying":
        spine = b.x[:, NECK] - b.x[:, PELVIS]
        lateral = b.x[:, SHOULDER["left"]] - b.x[:, SHOULDER["right"]]
        chest = np.cross(lateral, spine)  # the way the chest faces (rest pose: forward)
        up = float(np.median(chest[:, 1] / np.maximum(np.linalg.norm(chest, axis=1), 1e-9)))
        f.lying_on = "back" if up > 0.5 else "front" if up < -0.5 else "side"
    # Down and back up: a dip of the pelvis of a quarter L or more from standing to low.
    h = _smooth(m["height"], r, 0.2)
    dips, _ = find_peaks(-h, prominence=0.25, distance=max(1, int(0.6 * r)))
    f.squats = int(np.sum(h[dips] < STAND_HEIGHT))
    if f.squats:
        f.times["squats"] = float(dips[0] / r)
    p = _smooth(m["pitch"], r, 0.2)
    # A bow or a bend to pick something up: the trunk pitches forward by 25 degrees or more to
    # at least 30, and back up.
    bows, _ = find_peaks(p, prominence=25, height=30, distance=max(1, int(0.6 * r)))
    f.bends = len(bows)
    if f.bends:
        f.times["bends"] = float(bows[0] / r)
    # A fall: the pelvis drops half a leg length, at over 1.8 L/s at some point (a controlled
    # sit or lie-down stays under about 1 L/s), and ends on the floor.
    vy = _rate(h, r)
    if len(h) > 2 and h[:edge].max() - h[-edge:].min() > 0.5 and vy.min() < -1.8 and h[-edge:].mean() < 0.55:
        f.fall = True
        f.times["fall"] = float(np.argmin(vy) / r)


def _vertical(b: _Body, f: MotionFacts) -> None:
    r, L = b.rate, b.leg
    feet = b.x[:, [ANKLE["left"], ANKLE["right"]], 1]
    lower = feet.min(axis=1)
    ground = minimum_filter1d(lower, max(1, int(1.5 * r)), mode="nearest")
    pelvis = b.x[:, PELVIS, 1]
    rise = (pelvis - _smooth(pelvis, r, 2.0)) / L
    # A jump: both feet off the local floor, level with each other (a run's trailing foot is
    # far higher than its leading one), while the pelvis is above its 2 s running mean by 4% L.
    need = 0.15 if f.gait == "run" else 0.04  # a run bobs the pelvis by about 0.05 L each step
    air = (lower - ground > AIRBORNE * L) & (np.abs(feet[:, 0] - feet[:, 1]) < 0.15 * L) & (rise > need)
    # Flight is ballistic: the pelvis falls freely, at 7-10 m/s^2 over real mocap jumps. A squat
    # whose feet drift, or a step up a stair, has the feet high with the pelvis nearly
    # unaccelerated. A walk's pelvis vaults over the stance leg at up to about 0.3 g (v^2 / L),
    # so while walking or running a flight must fall at 0.6 g; otherwise a quarter of g will do
    # (the demo's jumping jacks, made from joint-angle curves, fall at 0.2-0.45 g).
    acc = _rate(_rate(_smooth(pelvis, r, 0.1), r), r)
    fall = (0.6 if f.gait in ("walk", "run") else 0.25) * GRAVITY
    jumps = [(a, z) for a, z in _runs(air, max(2, int(round(0.07 * r)))) if acc[a:z].mean() < -fall]
    f.jumps = len(jumps)
    if jumps:
        f.times["jumps"] = jumps[0][0] / r
        f.jump_height = float(max(rise[a:z].max() for a, z in jumps))
        pad = int(0.15 * r)
        travel = [b.x[min(z + pad, len(b.x) - 1), PELVIS] - b.x[max(a - pad, 0), PELVIS] for a, z in jumps]
        f.jump_travel = float(np.mean([t @ b.fwd[a] for t, (a, _) in zip(travel, jumps)]) / L)
    edge = max(1, len(lower) // 5)
    f.climb = float((ground[-edge:].mean() - ground[:edge].mean()) / L)
    # Bouncing: the pelvis bobs regularly by 3-20% L with the feet down and no steps.
    bob = rise[int(0.5 * r):len(rise) - int(0.5 * r)] if len(rise) > 2 * r else rise
    if not f.jumps and f.gait == "still" and len(bob) > 4:
        _, strength = _period(bob, r)
        spread = _spread(bob)
        f.bounce = bool(strength > 0.5 and 0.03 < spread < 0.2 and _count(bob) >= 3)
    if f.gait in ("still", "in place") and not f.jumps:
        for stand, other in (("left", 1), ("right", 0)):
            raised = feet[:, other] - ground > 0.15 * L  # the other foot well off the floor
            planted = feet[:, 1 - other] - ground < 0.05 * L
            if _runs(raised & planted, int(1.0 * r)):
                f.one_leg = stand


def _pca(e: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centred `e`, its principal spreads (ascending) and directions (columns)."""
    c = e - e.mean(axis=0)
    w, vec = np.linalg.eigh(c.T @ c / len(c))
    return c, np.sqrt(np.maximum(w, 1e-12)), vec


_AXES = ("side to side", "up and down", "forward and back")


def _limb(e: np.ndarray, r: float, shape: bool = True) -> LimbFacts:
    """Facts of one limb from its end joint relative to its root, (T, 3) in limb lengths;
    without `shape`, only how much it moves and where to (enough for legs)."""
    T = len(e)
    speed = np.linalg.norm(_rate(e, r), axis=1)
    f = LimbFacts(activity=float(speed.mean()))
    f.moving = f.activity > LIMB_MOVING
    edge = max(1, T // 5)
    f.net = tuple(float(v) for v in e[-edge:].mean(axis=0) - e[:edge].mean(axis=0))
    f.rise = float(e[:, UP].max() - max(e[:edge, UP].mean(), e[-edge:, UP].mean()))
    if not shape or not f.moving:  # the shape of a still limb's jitter tells nothing
        return f
    _, s, vec = _pca(e)
    f.axis = _AXES[int(np.abs(vec[:, 2]).argmax())]
    f.flatness = float(s[1] / s[2])
    # Repetition, on what is left after a 1 s running mean (a hand raised, waved for a while
    # and lowered repeats only there) and on the path itself (slow repetitions, which the
    # running mean takes away); whichever repeats more clearly, if it spans 15% of the limb.
    best = 0.0
    for sig in (e - _smooth(e, r, 1.0), e):
        if best > 0.6:  # clear enough already: spare the second look
            break
        c, s, vec = _pca(sig)
        main = c @ vec[:, 2]
        if _spread(main) < 0.15:
            continue
        period, strength = _period(main, r)
        if strength > max(best, PERIODIC):
            best, f.period, f.cycles = strength, period, _count(main)
            f.axis = _AXES[int(np.abs(vec[:, 2]).argmax())]
            f.sway = float(abs(vec[LEFT, 2]))
    return f


def _loops(p: np.ndarray, r: float) -> int:
    """Closed loops in a (T, 3) path: from a point, the path comes back within 0.15 limb
    lengths after 0.2 s or more, having enclosed 0.06 limb lengths squared (a circle about 0.28
    limb lengths, 15 cm, across) or more, in whatever plane. A hand going back and forth along one
    line, or along an arc as in waving, retraces itself and encloses next to nothing."""
    step = max(1, int(round(r / 15)))  # 15 Hz is plenty for loops of 0.2 s or more, and 4x cheaper
    p, r = p[::step] - p.mean(axis=0), r / step
    T = len(p)
    gap = max(2, int(0.2 * r))
    if T <= gap:
        return 0
    # Vector area (half the summed cross products) swept from the start to each point; a
    # stretch i..j closed by a straight line encloses |swept[j] - swept[i] + p_j x p_i / 2|.
    swept = np.concatenate([np.zeros((1, 3)), np.cumsum(np.cross(p[:-1], p[1:]), axis=0)]) / 2
    x, y, z = p.T
    area2 = np.zeros((T, T))
    for k, (a, b) in enumerate(((y, z), (z, x), (x, y))):  # component k of p_j x p_i, as [i, j]
        comp = swept[None, :, k] - swept[:, None, k] + (np.outer(b, a) - np.outer(a, b)) / 2
        area2 += comp * comp
    near = ((p[None, :, :] - p[:, None, :]) ** 2).sum(axis=-1) < 0.15 ** 2
    ok = near & (area2 > 0.06 ** 2) & (np.arange(T)[None, :] >= np.arange(T)[:, None] + gap)
    first = np.where(ok.any(axis=1), ok.argmax(axis=1), T)
    n, i = 0, 0
    while i < T:  # greedily, each loop starting where the last one closed
        starts = np.flatnonzero(first[i:] < T)
        if not len(starts):
            break
        i = first[i + starts[0]]
        n += 1
    return n


def _strikes(e: np.ndarray, r: float, arm: bool) -> int:
    """Punches (arm: the wrist shoots out from the shoulder to nearly a full arm, at over 1.5 A/s
    radially, between hip and head height, and comes back) or kicks (leg: the ankle swings up
    by a fifth of the leg or more, half a leg ahead of the hip, at over 5 L/s: real kicks reach
    9 L/s, a walk's swinging foot 3-4 L/s and stays low). Raising or swinging a straight arm
    keeps the wrist's distance from the shoulder nearly fixed, so it is no punch."""
    back = max(1, int(0.3 * r))
    if arm:
        sig = np.linalg.norm(e, axis=1)
        speed = _rate(sig, r)
        peaks, _ = find_peaks(sig, prominence=0.25, height=0.85, distance=max(1, int(0.2 * r)))
        ok = (np.abs(e[:, UP]) < 0.5) & (e[:, FWD] > -0.2)
        fast = 1.5
    else:
        sig = e[:, UP]
        speed = np.linalg.norm(_rate(e, r), axis=1)
        peaks, _ = find_peaks(sig, prominence=0.3, distance=max(1, int(0.25 * r)))
        ok = (e[:, UP] > -0.8) & (e[:, FWD] > 0.5)
        fast = 5.0
    return int(sum(ok[p] and speed[max(0, p - back):p + 1].max() > fast for p in peaks))


def _limbs(b: _Body, f: MotionFacts) -> None:
    for s in SIDES:
        e = (b.loc[:, WRIST[s]] - b.loc[:, SHOULDER[s]]) / b.arm
        f.limbs[f"{s}_arm"] = lf = _limb(e, b.rate)
        lf.strikes = _strikes(e, b.rate, arm=True)
        # Circles repeat (3 at least are told), and are only told of a body in place.
        if lf.moving and lf.cycles >= 3 and f.gait == "still" and not f.jumps:
            lf.circles = _loops(e, b.rate)
        e = (b.loc[:, ANKLE[s]] - b.loc[:, HIP[s]]) / b.leg
        f.limbs[f"{s}_leg"] = lf = _limb(e, b.rate, shape=False)
        # A leg is lifted off the floor, not just relative to a hip that sinks in a squat.
        ankle = (b.x[:, ANKLE[s], 1] - b.floor) / b.leg
        edge = max(1, len(ankle) // 5)
        lf.rise = float(ankle.max() - max(ankle[:edge].mean(), ankle[-edge:].mean()))
        lf.strikes = _strikes(e, b.rate, arm=False) if f.gait != "run" else 0


def _hands(b: _Body, f: MotionFacts) -> None:
    A, loc, r = b.arm, b.loc, b.rate
    head = loc[:, HEAD]
    spine = loc[:, NECK]  # from the pelvis
    tilt = np.degrees(np.arccos(np.clip(spine[:, UP] / np.maximum(np.linalg.norm(spine, axis=1), 1e-9), -1, 1)))
    # Where the hands are is read against an upright trunk (within 45 degrees of vertical):
    # lying on the back, arms along the body would read as "reaching forward".
    upright = tilt < 45
    share = lambda mask: _share(mask & upright)
    for s, out in (("left", 1.0), ("right", -1.0)):  # `out`: the sign of "away from the body" on the left axis
        w, sh, el = loc[:, WRIST[s]], loc[:, SHOULDER[s]], loc[:, ELBOW[s]]
        h = f.hands[s] = HandFacts()
        # The head joint of mocap skeletons sits at the base of the skull: a wrist 0.2 A (about
        # 11 cm) above it is level with the top of the head.
        h.above_head = float(share(w[:, UP] > head[:, UP] + 0.2 * A))
        rel = w - head
        # Near the head: the wrist within half an arm (about 27 cm) of the head joint, below its
        # top; to the side of it is the ear (a phone call), in front of it the mouth or face.
        near = (np.linalg.norm(rel, axis=1) < 0.5 * A) & (rel[:, UP] < 0.1 * A)
        side = rel[:, LEFT] * out > np.abs(rel[:, FWD])
        h.at_ear, h.at_mouth = float(share(near & side)), float(share(near & ~side & (rel[:, FWD] > 0)))
        # Behind the back: behind the trunk by 12% A and tucked in from the shoulder (an arm
        # swinging back in a walk stays out at the side).
        trunk = np.minimum(0.0, loc[:, CHEST, FWD])
        tucked = np.abs(w[:, LEFT]) < 0.7 * np.abs(sh[:, LEFT])
        h.behind_back = float(share((w[:, FWD] < trunk - 0.12 * A) & tucked & (w[:, UP] < loc[:, CHEST, UP])))
        # On the hip: the wrist at the hip with the elbow bent out to the side (akimbo); a
        # hanging arm also passes the hip but keeps the elbow in.
        upper, fore = el - sh, w - el
        bend = np.einsum("tc,tc->t", upper, fore) / np.maximum(np.linalg.norm(upper, axis=1) * np.linalg.norm(fore, axis=1), 1e-9)
        # The wrist beside the hip, not in front of the thighs (where a bow rests the hands),
        # with the trunk upright.
        akimbo = ((el[:, LEFT] - sh[:, LEFT]) * out > 0.25 * A) & (bend < 0.5) & (tilt < 25)
        at_hip = (np.linalg.norm(w - loc[:, HIP[s]], axis=1) < 0.45 * A) & (np.abs(w[:, FWD]) < 0.25 * A)
        h.on_hip = float(share(akimbo & at_hip))
        # Reaching: the wrist 75% of an arm ahead of, or out to the side of, its shoulder.
        h.reach_forward = float(share(w[:, FWD] - sh[:, FWD] > 0.75 * A))
        level = np.abs(w[:, UP] - sh[:, UP]) < 0.5 * A
        h.reach_side = float(share(((w[:, LEFT] - sh[:, LEFT]) * out > 0.75 * A) & level))
        # Waving: the hand up (wrist above 0.1 A below the shoulder) half the time, going to and
        # fro at least twice at 0.5-5 Hz, and not punching; not up and down (pumping) unless
        # over the head with a good part sideways (sway 0.5: 30 degrees off vertical), where a
        # whole arm swung from side to side goes down at each end of the arc. The arm reaches
        # out (the wrist half an arm from the shoulder): a boxer's guard hand, up and moving to
        # and fro by the face, keeps it at 0.4 A; waving arms are at 0.55-1.
        lf = f.limbs[f"{s}_arm"]
        raised = _share(w[:, UP] > sh[:, UP] - 0.1 * A) > 0.5 and np.median(np.linalg.norm(w - sh, axis=1)) > 0.5 * A
        sideways = lf.axis != "up and down" or (h.above_head > 0.4 and lf.sway > 0.5 and not f.jumps)
        if lf.moving and lf.strikes < 2 and raised and lf.cycles >= 2 and 0.2 <= lf.period <= 2.0 and sideways:
            h.waves = lf.cycles
    gap = np.linalg.norm(loc[:, WRIST["left"]] - loc[:, WRIST["right"]], axis=1) / A
    f.hands_together = float(_share(gap < 0.3))
    # Claps: the hands meet (under 0.25 A apart) and part again (by 0.4 A more), twice or more.
    meets, _ = find_peaks(-gap, prominence=0.4, height=-0.25, distance=max(1, int(0.15 * r)))
    # Both arms must move and neither punch: a boxer's fists part and meet at the guard.
    both = all(f.limbs[f"{s}_arm"].moving and f.limbs[f"{s}_arm"].strikes < 2 for s in SIDES)
    f.claps = len(meets) if len(meets) >= 2 and both else 0
    if f.claps:
        f.times["claps"] = float(meets[0] / r)
    lw, rw, mid = loc[:, WRIST["left"]], loc[:, WRIST["right"]], loc[:, CHEST]
    crossed = (lw[:, LEFT] < mid[:, LEFT] - 0.1 * A) & (rw[:, LEFT] > mid[:, LEFT] + 0.1 * A)
    in_front = (lw[:, FWD] > 0) & (rw[:, FWD] > 0) & (lw[:, UP] < loc[:, NECK, UP]) & (rw[:, UP] < loc[:, NECK, UP])
    f.arms_crossed = float(share(crossed & in_front))


def motion_facts(canonical: np.ndarray, rate: float, floor: float | None = None) -> MotionFacts:
    """Measured quantities of a (T, 16, 3) window of canonical joints (metres, y up) at `rate`
    Hz. `floor`: the floor height (metres) when known from the whole take; else the lowest
    ankle of the window."""
    b = _prepare(canonical, rate, floor)
    f = MotionFacts(duration=len(b.x) / b.rate, leg_length=b.leg, arm_length=b.arm)
    if len(b.x) < 3:
        return f
    _locomotion(b, f)
    _posture(b, f)
    _vertical(b, f)
    _limbs(b, f)
    _hands(b, f)
    return f


# ---------------------------------------------------------------------------------------------
# sentences


@dataclass
class Clause:
    """One thing the window shows, as interchangeable verb phrases whose verbs are written in
    angle brackets in their base form ("<raise> the right hand") and conjugated when used."""

    phrases: list[str]
    weight: float  # how much it says about the window: the most telling clause leads
    time: float = -1.0  # when it happens, seconds (>= 0 orders clauses joined by "then")


_THIRD = {"be": "is", "do": "does", "go": "goes", "have": "has"}
_ING = {"be": "being", "lie": "lying"}
_DOUBLE = {"let", "sidestep", "run", "sit", "clap", "squat", "get", "hop", "step", "drop", "put", "spin", "jog", "skip", "nod",
           "swap", "stop", "trip", "bob"}  # verbs that double their last letter: "running"
_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}


def _third(verb: str) -> str:
    if verb in _THIRD:
        return _THIRD[verb]
    if verb.endswith(("s", "sh", "ch", "x", "z")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _gerund(verb: str) -> str:
    if verb in _ING:
        return _ING[verb]
    if verb in _DOUBLE:
        return verb + verb[-1] + "ing"
    if verb.endswith("e") and not verb.endswith(("ee", "ye", "oe")):
        return verb[:-1] + "ing"
    return verb + "ing"


def _verb(phrase: str, form: str) -> str:
    """`phrase` with each <verb> in third person ("raises") or as a gerund ("raising")."""
    out, rest = [], phrase
    while "<" in rest:
        head, _, tail = rest.partition("<")
        verb, _, rest = tail.partition(">")
        out += [head, _third(verb) if form == "third" else _gerund(verb)]
    return "".join(out) + rest


def _times(n: int) -> str:
    return _TIMES.get(n, "many times")


def _tempo(period: float) -> list[str]:
    # A repetition faster than 2 per second reads as quick, slower than one per 1.5 s as slow.
    return ["quickly", "fast"] if 0 < period < 0.5 else ["slowly"] if period > 1.5 else []


def _gait_clauses(f: MotionFacts) -> list[Clause]:
    out = []
    where = {"forward": "forward", "backward": "backward", "left": "to the left", "right": "to the right"}.get(f.direction, "")
    if f.gait == "walk":
        if f.direction == "forward":
            ph = ["<walk>", "<walk> forward", "<walk> ahead"] + (["<walk> straight ahead"] if abs(f.turn) < 20 else [])
        elif f.direction == "backward":
            ph = ["<walk> backward", "<walk> backwards", "<step> backward"]
        else:
            ph = [f"<walk> {where}", f"<walk> sideways {where}", f"<sidestep> {where}", "<walk> sideways"]
        if f.froude < FROUDE_SLOW:
            ph += ["<walk> slowly", f"<walk> slowly {where}"]
        elif f.froude > FROUDE_FAST_WALK:
            ph += ["<walk> fast", "<walk> briskly", "<walk> quickly"]
        out.append(Clause(ph, 3.0))
    elif f.gait == "run":
        ph = ["<run>", f"<run> {where}" if where else "<run>"]
        ph += ["<sprint>", "<run> fast"] if f.froude > FROUDE_SPRINT else ["<jog>", f"<jog> {where}" if where else "<jog>"]
        out.append(Clause(ph, 3.0))
    elif f.gait == "in place":
        out.append(Clause(["<walk> in place", "<step> in place", "<march> on the spot", "<step> on the spot"], 2.5))
    elif f.gait == "moves" and not f.jumps:  # travel by jumping is told by the jumps
        out.append(Clause([f"<move> {where}", f"<go> {where}"] if where else ["<move> around"], 1.5))
    if abs(f.turn) >= TURN_DEGREES:
        side = "left" if f.turn > 0 else "right"
        if abs(f.turn) >= 135:
            ph = ["<turn> around", f"<turn> around to the {side}", "<turn> to face the other way"]
        else:
            ph = [f"<turn> {side}", f"<turn> to the {side}"]
            if 65 <= abs(f.turn) <= 115:
                ph.append(f"<turn> 90 degrees to the {side}")
        if f.spin > 300 and f.gait == "walk":
            ph.append("<walk> in a circle")
        out.append(Clause(ph, 2.5))
    elif f.spin > 300 and f.gait in ("still", "in place"):
        out.append(Clause(["<spin> around", "<turn> around on the spot", "<twirl>"], 2.5))
    return out


_CHANGES = {
    ("standing", "sitting"): ["<sit> down", "<take> a seat", "<sit> down on a chair"],
    ("sitting", "standing"): ["<stand> up", "<get> up from a chair", "<rise> from a seat"],
    ("standing", "squatting"): ["<squat> down", "<crouch> down", "<go> down into a squat"],
    ("squatting", "standing"): ["<stand> up from a squat", "<stand> back up", "<rise> from a crouch"],
    ("standing", "crouching"): ["<crouch> down", "<bend> the knees", "<lower> the body"],
    ("crouching", "standing"): ["<stand> up", "<straighten> the legs", "<rise> up"],
    ("standing", "kneeling"): ["<kneel> down", "<get> down on the knees"],
    ("kneeling", "standing"): ["<stand> up from kneeling", "<get> up off the knees"],
    ("standing", "sitting on the floor"): ["<sit> down on the floor", "<sit> down on the ground"],
    ("sitting on the floor", "standing"): ["<get> up off the floor", "<stand> up from the floor"],
    ("lying", "standing"): ["<get> up", "<get> up off the floor", "<stand> up from lying down"],
    ("lying", "sitting"): ["<sit> up"],
    ("lying", "sitting on the floor"): ["<sit> up", "<sit> up on the floor"],
    ("standing", "on all fours"): ["<get> down on all fours", "<get> down on hands and knees"],
    ("on all fours", "standing"): ["<get> up from all fours", "<stand> up"],
    ("standing", "hanging"): ["<reach> up and <hang> from a bar", "<climb> up and <hang>"],
    ("hanging", "standing"): ["<drop> down", "<let> go and <drop> to the ground", "<jump> down"],
}
_STATES = {
    "sitting": ["<sit>", "<remain> seated", "<sit> still"],
    "squatting": ["<squat>", "<stay> in a squat", "<crouch> low"],
    "crouching": ["<crouch>", "<stand> with bent knees"],
    "sitting on the floor": ["<sit> on the floor", "<sit> on the ground"],
    "kneeling": ["<kneel>", "<kneel> on the floor"],
    "lying": ["<lie> on the floor", "<lie> down", "<lie> on the ground"],
    "on all fours": ["<stay> on all fours", "<kneel> on hands and knees"],
    "hanging": ["<hang> from a bar", "<hang> by the hands", "<hang> from something overhead"],
}


def _posture_clauses(f: MotionFacts) -> list[Clause]:
    out = []
    a, b = f.posture_start, f.posture_end
    if f.fall:
        out.append(Clause(["<fall> down", "<fall> to the ground", "<fall> over", "<lose> balance and <fall>"], 4.5,
                          f.times.get("fall", -1.0)))
    elif a != b:
        if (a, b) in _CHANGES:
            ph = _CHANGES[(a, b)]
        elif b == "lying":
            ph = ["<lie> down", "<lie> down on the floor", "<get> down on the floor"]
        elif b == "standing":
            ph = ["<get> up", "<stand> up"]
        else:
            ph = []
        if ph:
            out.append(Clause(list(ph), 3.5, f.duration / 2))
    if a == b and b in _STATES:
        ph = list(_STATES[b])
        if b == "lying" and f.lying_on:
            ph += {"back": ["<lie> on the back", "<lie> face up"], "front": ["<lie> face down", "<lie> on the stomach"],
                   "side": ["<lie> on the side"]}[f.lying_on]
        out.append(Clause(ph, 2.5))
    # A jump's crouch to take off and land is part of the jump, not a squat or a bow of its own.
    if f.squats and a not in ("lying", "sitting on the floor") and not f.jumps:
        n = f.squats
        ph = ["<squat> down and <stand> back up", "<do> a squat", "<bend> the knees and <stand> up again"] if n == 1 else [
            f"<do> {n} squats", f"<squat> {_times(n)}", "<squat> repeatedly", "<do> squats", "<squat> up and down"]
        out.append(Clause(ph, 3.5, f.times.get("squats", -1.0)))
    if f.bends and not f.jumps:
        ph = ["<bend> forward and <straighten> up again", "<bend> over", "<bow>", "<lean> forward and back up"]
        if f.bends > 1:
            ph += [f"<bend> over {_times(f.bends)}", "<bend> forward repeatedly"]
        out.append(Clause(ph, 3.0, f.times.get("bends", -1.0)))
    elif f.trunk_pitch > BENT_PITCH and f.posture in ("standing", "crouching"):
        out.append(Clause(["<bend> forward", "<bend> over", "<stand> bent over", "<lean> forward"], 2.5))
    elif f.posture == "standing":
        if f.trunk_pitch < -LEAN_PITCH:
            out.append(Clause(["<lean> back", "<lean> backward", "<bend> backward"], 2.0))
        elif abs(f.trunk_roll) > LEAN_PITCH:
            side = "left" if f.trunk_roll > 0 else "right"
            out.append(Clause([f"<lean> to the {side}", f"<bend> sideways to the {side}"], 2.0))
    if f.one_leg:
        other = "right" if f.one_leg == "left" else "left"
        out.append(Clause([f"<stand> on the {f.one_leg} leg", f"<balance> on the {f.one_leg} leg", "<stand> on one leg",
                           "<balance> on one foot", f"<lift> the {other} foot off the ground"], 3.0))
    return out


def _vertical_clauses(f: MotionFacts) -> list[Clause]:
    out = []
    n = f.jumps
    if n:
        # Each jump carries the pelvis a third of a leg (about 30 cm) or more: forward or back.
        way = ("forward" if f.jump_travel > 0.3 else "backward" if f.jump_travel < -0.3 else "")
        here = not way and f.gait == "still"
        if n == 1:
            ph = ["<jump>", "<jump> up", "<leap>"] + ([f"<jump> {way}"] if way else ["<jump> in place"] if here else [])
        else:
            ph = [f"<jump> {_times(n)}", "<jump> repeatedly", "<jump> up and down", "<hop>", "<keep> jumping"]
            ph += [f"<jump> {way} {_times(n)}"] if way else ["<jump> on the spot"] if here else []
        if f.jump_height > 0.3:
            ph.append("<jump> high")
        out.append(Clause(ph, 4.0, f.times.get("jumps", -1.0)))
    # Jumping jacks: jumps while both arms go up and down with them (to above the head) and
    # the feet land apart and together again (by half a leg, some 45 cm, at least).
    arms = [f.limbs[f"{s}_arm"] for s in SIDES]
    overhead = all(f.hands[s].above_head > 0.1 for s in SIDES)
    if n >= 2 and all(a.cycles >= 2 or a.rise > 0.5 for a in arms) and overhead and f.straddle > 0.5:
        out.append(Clause(["<do> jumping jacks", "<do> star jumps", "<jump> with the arms swinging over the head"], 4.5,
                          f.times.get("jumps", -1.0)))
    if f.bounce:
        out.append(Clause(["<bounce> up and down", "<bob> up and down", "<bounce> on the spot"], 2.0))
    # The floor under the feet rises or falls by a quarter leg (about a stair and a half).
    if f.climb > 0.25:
        ph = ["<walk> up the stairs", "<climb> stairs", "<go> upstairs"] if f.gait == "walk" else ["<step> up", "<climb> up"]
        out.append(Clause(ph, 3.0))
    elif f.climb < -0.25:
        ph = (["<walk> down the stairs", "<go> downstairs"] if f.gait == "walk" else
              ["<jump> down", "<hop> down"] if f.jumps else ["<step> down", "<climb> down"])
        out.append(Clause(ph, 3.0))
    return out


def _both(phrase: str) -> str:
    """The two-handed form of a one-handed phrase about the right side."""
    for one, two in (("the right hand", "both hands"), ("the right arm", "both arms"), ("the right leg", "both legs"),
                     ("the right foot", "both feet"), ("the right fist", "both fists"), ("the right ear", "the ears"),
                     ("the right hip", "the hips"), (" it ", " them "), (" it again", " them again")):
        phrase = phrase.replace(one, two)
    return phrase


def _sided(make, sides: list[str], weight: float, time: float = -1.0) -> list[Clause]:
    """Clauses from `make(side) -> phrases`: one for both sides at once, else one per side."""
    if len(sides) == 2:
        return [Clause([_both(p) for p in make("right")], weight + 0.5, time)]
    return [Clause(make(s), weight, time) for s in sides]


def _arm_shift(f: MotionFacts, s: str) -> list[str]:
    """Phrases for where one arm goes over the window (up, down, sideways, forward), half an
    arm or more; read only on an upright body, whose up and forward are the viewer's too."""
    lf, hand, arm = f.limbs[f"{s}_arm"], f"the {s} hand", f"the {s} arm"
    if f.upright <= 0.8:
        return []
    left, up, fwd = lf.net
    ph = []
    if up > 0.5:
        ph += [f"<raise> {hand}", f"<raise> {arm}", f"<lift> {arm} up", f"<put> {hand} up"]
        if f.hands[s].above_head > 0.2:
            ph += [f"<raise> {hand} above the head", f"<lift> {arm} over the head"]
    elif up < -0.5:
        ph += [f"<lower> {arm}", f"<put> {hand} down", f"<drop> {arm}"]
    elif lf.rise > 0.5:
        ph += [f"<raise> {hand} and <lower> it again", f"<lift> {arm} up and <put> it down", f"<raise> {arm} briefly"]
    side = "left" if left > 0 else "right"
    if abs(left) > 0.5:
        ph += [f"<move> {hand} to the {side}", f"<swing> {arm} to the {side}", f"<sweep> {hand} across to the {side}"]
    elif fwd > 0.5:
        ph += [f"<reach> forward with {hand}", f"<push> {hand} forward", f"<extend> {arm} forward"]
    elif fwd < -0.5:
        ph += [f"<pull> {hand} back", f"<draw> {arm} back"]
    return ph


def _arm_motion(f: MotionFacts, s: str) -> list[str]:
    """Phrases for what one moving arm does besides waving, punching and poses: circles, where
    it goes, and a repeated motion along its main direction, with count and tempo."""
    lf, hand, arm = f.limbs[f"{s}_arm"], f"the {s} hand", f"the {s} arm"
    circling = lf.circles >= 3 and f.gait == "still" and not f.jumps  # a single loop happens by chance
    ph = [f"<circle> {arm}", f"<move> {hand} in circles", f"<make> circles with {arm}", f"<rotate> {arm}",
          f"<circle> {arm} {_times(lf.circles)}"] if circling else []
    ph += _arm_shift(f, s)
    if lf.cycles >= 2 and not circling and f.gait not in ("walk", "run"):
        verb, target, way = {"side to side": ("<move>", hand, "from side to side"), "up and down": ("<move>", hand, "up and down"),
                             "forward and back": ("<swing>", arm, "forward and back")}[lf.axis]
        base = f"{verb} {target} {way}"
        ph += [base, f"{base} repeatedly", f"{base} {_times(lf.cycles)}"] + [f"{base} {t}" for t in _tempo(lf.period)]
    return ph


def _limb_clauses(f: MotionFacts) -> list[Clause]:
    out = []
    arms = [s for s in SIDES if f.limbs[f"{s}_arm"].moving]
    legs = [s for s in SIDES if f.limbs[f"{s}_leg"].moving]
    walking = f.gait in ("walk", "run", "in place")
    if walking:
        swing = [s for s in arms if f.limbs[f"{s}_arm"].axis == "forward and back"]
        if len(swing) == 2:
            out.append(Clause(["<swing> the arms", "<swing> both arms", "<swing> the arms back and forth"], 1.0))
    else:
        act = {k: v.activity for k, v in f.limbs.items()}
        busiest = max(act, key=act.get)
        if act[busiest] > LIMB_MOVING and all(v < LIMB_QUIET or v < 0.3 * act[busiest] for k, v in act.items() if k != busiest):
            part = busiest.replace("_", " ")
            out.append(Clause([f"<move> only the {part}", f"<keep> still except for the {part}",
                               f"<move> just the {part}"], 2.0))
        elif len(arms) == 2 and not legs:
            out.append(Clause(["<move> both arms", "<move> the arms", "<gesture> with both arms"], 1.0))
        elif legs and not arms and not f.jumps:
            out.append(Clause(["<move> the legs", "<move> the feet"], 1.0))
    # Waving, punching, kicking.
    waving = [s for s in SIDES if f.hands[s].waves]
    if waving:
        def wave(s: str) -> list[str]:
            ph = [f"<wave> the {s} hand", f"<wave> with the {s} hand", f"<wave> hello with the {s} hand",
                  f"<wave> goodbye with the {s} hand", f"<wave> the {s} hand from side to side"]
            if all(f.hands[w].above_head > 0.3 for w in waving):
                ph.append(f"<wave> the {s} hand above the head")
            return ph
        out += _sided(wave, waving, 4.0)
    punching = [s for s in SIDES if f.limbs[f"{s}_arm"].strikes and s not in waving]
    if punching:
        n = sum(f.limbs[f"{s}_arm"].strikes for s in punching)
        if len(punching) == 2:
            out.append(Clause(["<throw> punches", "<punch> with both fists", "<box>", "<punch> forward", "<punch> the air",
                               f"<punch> {_times(n)}"], 4.5))
        else:
            s = punching[0]
            out.append(Clause([f"<punch> with the {s} hand", f"<throw> a punch with the {s} fist",
                               f"<punch> forward with the {s} arm", f"<punch> {_times(n)} with the {s} hand", "<punch>"], 4.0))
    for s in SIDES:
        k = f.limbs[f"{s}_leg"].strikes
        if k and not walking:
            ph = [f"<kick> with the {s} leg", f"<kick> forward with the {s} foot", f"<do> a {s}-legged kick", "<kick>"]
            if k > 1:
                ph += [f"<kick> {_times(k)} with the {s} leg", "<kick> repeatedly"]
            out.append(Clause(ph, 4.0))
        elif not walking and not f.jumps and f.limbs[f"{s}_leg"].rise > 0.3 and not f.one_leg:
            out.append(Clause([f"<lift> the {s} leg", f"<raise> the {s} knee", f"<raise> the {s} leg"], 2.5))
    # Other arm motion of each moving arm not already said; said once for both arms when the
    # two do the same (the phrases that match when the arm's side is swapped, so two hands
    # going the same way, not towards each other).
    told = {s: _arm_motion(f, s) for s in arms
            if not (s in waving or s in punching or (walking and f.limbs[f"{s}_arm"].axis == "forward and back"))}
    same = [p for p in told.get("right", []) if re.sub(r"the right (hand|arm)", r"the left \1", p) in told.get("left", [])]
    if same:
        out.append(Clause([_both(p) for p in same], 3.5))
    else:
        out += [Clause(ph, 3.0) for ph in told.values() if ph]
    return out


def _hand_clauses(f: MotionFacts) -> list[Clause]:
    out = []
    # Where the hands are for at least 30-40% of the window (a pose held, not a pass through).
    on = lambda attr, share: [s for s in SIDES if getattr(f.hands[s], attr) >= share]
    if f.claps:
        n = f.claps
        out.append(Clause(["<clap>", "<clap> the hands", f"<clap> {_times(n)}", "<clap> repeatedly" if n > 2 else "<clap> twice",
                           "<applaud>"], 4.5, f.times.get("claps", -1.0)))
    elif f.hands_together > 0.4:
        out.append(Clause(["<hold> the hands together", "<put> the hands together", "<join> the hands"], 2.5))
    if f.arms_crossed > 0.4:
        out.append(Clause(["<cross> the arms", "<fold> the arms", "<stand> with crossed arms"], 3.0))
    waving = {s for s in SIDES if f.hands[s].waves}
    # (a hand raised over the window is told so by its arm's clause, "raises ... above the head")
    above = [s for s in on("above_head", 0.3) if s not in waving and not (f.upright > 0.8 and f.limbs[f"{s}_arm"].net[UP] > 0.5)]
    if above:
        out += _sided(lambda s: [f"<hold> the {s} hand above the head", f"<raise> the {s} hand above the head",
                                 f"<put> the {s} arm up", f"<reach> up with the {s} hand"], above, 3.0)
    out += _sided(lambda s: [f"<bring> the {s} hand to the mouth", f"<hold> the {s} hand at the mouth",
                             f"<touch> the face with the {s} hand", f"<put> the {s} hand to the face"], on("at_mouth", 0.3), 3.0)
    out += _sided(lambda s: [f"<hold> the {s} hand to the {s} ear", f"<put> the {s} hand to the {s} ear",
                             f"<hold> the {s} hand beside the head"], on("at_ear", 0.3), 3.0)
    out += _sided(lambda s: [f"<hold> the {s} hand behind the back", f"<put> the {s} hand behind the back"],
                  on("behind_back", 0.4), 3.0)
    out += _sided(lambda s: [f"<put> the {s} hand on the {s} hip", f"<rest> the {s} hand on the {s} hip",
                             f"<stand> with the {s} hand on the {s} hip"], on("on_hip", 0.4), 3.0)
    reaching = [s for s in on("reach_forward", 0.3) if not f.limbs[f"{s}_arm"].strikes]
    out += _sided(lambda s: [f"<reach> forward with the {s} hand", f"<stretch> the {s} arm out in front",
                             f"<hold> the {s} arm out in front"], reaching, 2.5)
    out += _sided(lambda s: [f"<hold> the {s} arm out to the side", f"<stretch> the {s} arm out sideways",
                             f"<reach> out to the side with the {s} hand"], on("reach_side", 0.3), 2.5)
    return out


def clauses(f: MotionFacts) -> list[Clause]:
    """Every clause the rules find in `f`, most telling first."""
    out = _gait_clauses(f) + _posture_clauses(f) + _vertical_clauses(f) + _limb_clauses(f) + _hand_clauses(f)
    if f.gait == "still" and f.posture_start == f.posture_end == "standing":
        quiet = not out or max(c.weight for c in out) < 2.0
        out.append(Clause(["<stand> still", "<stand> without moving much", "<stand> in place", "<stand> quietly"] if quiet
                          else ["<stand>", "<stand> in place"], 2.0 if quiet else 0.3))
    return sorted(out, key=lambda c: (-c.weight, -_side_activity(c, f)))


def _side_activity(c: Clause, f: MotionFacts) -> float:
    """How much the limb a one-sided clause names moves: ties between a left and a right clause
    go to the busier limb, which keeps the order when the take is mirrored."""
    m = re.search(r"\b(left|right) (hand|arm|fist|leg|foot|knee)", c.phrases[0])
    if not m:
        return 0.0
    return f.limbs[f"{m.group(1)}_{'arm' if m.group(2) in ('hand', 'arm', 'fist') else 'leg'}"].activity


# Who does it: mostly "a person", as captions and search prompts mostly say.
SUBJECTS = ("a person", "someone", "the person", "a man", "a woman", "the subject")
_SUBJECT_P = [0.45, 0.2, 0.15, 0.07, 0.07, 0.06]
_BARE = ("a person", "person", "someone", "man", "woman")  # "person walking forward"


class _Dice:
    """Uniform draws from one batch of the generator (a call to it per choice costs more than
    all the rest of a sentence)."""

    def __init__(self, rng: np.random.Generator, n: int = 16):
        self.u, self.i = rng.random(n).tolist(), 0

    def __call__(self) -> float:
        self.i += 1
        return self.u[(self.i - 1) % len(self.u)]

    def pick(self, items):
        return items[min(int(self() * len(items)), len(items) - 1)]

    def weighted(self, weights: list[float]) -> int:
        x, acc = self() * sum(weights), 0.0
        for i, w in enumerate(weights):
            acc += w
            if x < acc:
                return i
        return len(weights) - 1


def _sentence(chosen: list[Clause], phrases: list[str], dice: _Dice) -> str:
    """One sentence joining the chosen clauses (most telling first) in a random template."""
    V = [_verb(p, "third") for p in phrases]
    G = [_verb(p, "ing") for p in phrases]
    S = SUBJECTS[dice.weighted(_SUBJECT_P)]
    k = len(chosen)
    if k > 1 and all(c.time >= 0 for c in chosen) and dice() < 0.6:
        V = [v for _, v in sorted(zip([c.time for c in chosen], V), key=lambda tv: tv[0])]
        text = dice.pick([f"{S} {', '.join(V[:-1])}, then {V[-1]}.", f"{S} first {', '.join(V[:-1])} and then {V[-1]}."])
        return text[0].upper() + text[1:]
    if k == 1:
        # Fragments, as typed in a search box, favour the clause's shortest phrase ("walking").
        short = _verb(min(chosen[0].phrases, key=len), "ing") if dice() < 0.5 else G[0]
        forms = [f"{S} {V[0]}.", f"{S} is {G[0]}.", short, f"{dice.pick(_BARE)} {short}"]
    elif k == 2:
        forms = [f"{S} {V[0]} and {V[1]}.", f"{S} {V[0]} while {G[1]}.", f"{S} {V[0]}, {G[1]}.", f"{G[0]} and {G[1]}",
                 f"{S} is {G[0]} and {G[1]}."]
    else:
        forms = [f"{S} {', '.join(V[:-1])} and {V[-1]}.", f"{S} {' and '.join(V[:-1])} while {G[-1]}.",
                 f"{', '.join(G[:-1])} and {G[-1]}"]
    text = dice.pick(forms)
    return text[0].upper() + text[1:] if text.endswith(".") else text


def _fallback(cl: list[Clause]) -> list[Clause]:
    return cl or [Clause(["<stay> still", "<hold> still"], 1.0)]


def draw(cl: list[Clause], rng: np.random.Generator, n: int = 4) -> list[str]:
    """`n` sentences from clauses `cl`, each from 1-3 of them (the most telling one usually
    among them), in random phrasings and templates; repeats only when too few differ."""
    cl = _fallback(cl)
    weights = [c.weight for c in cl]
    out: list[str] = []
    for _ in range(12 * n):
        if len(out) >= n:
            break
        dice = _Dice(rng)
        k = min(len(cl), 1 + dice.weighted([0.4, 0.35, 0.25]))  # one, two or three clauses
        first = 0 if dice() < 0.7 else dice.weighted(weights)
        picked = [first]
        while len(picked) < k:
            picked.append(dice.weighted([0.0 if i in picked else w for i, w in enumerate(weights)]))
        chosen = [cl[first]] + [cl[i] for i in sorted(picked[1:])]
        text = _sentence(chosen, [dice.pick(c.phrases) for c in chosen], dice)
        if text not in out:
            out.append(text)
    while len(out) < n:
        out.append(out[len(out) % max(1, len(out))] if out else "A person stands still.")
    return out


def describe(canonical: np.ndarray, rate: float, rng: np.random.Generator, n: int = 4, *,
             floor: float | None = None) -> list[str]:
    """`n` varied plain-English sentences about a (T, 16, 3) window of canonical joints at
    `rate` Hz, drawn at random from what `motion_facts` measures (`floor` as there)."""
    return draw(clauses(motion_facts(canonical, rate, floor)), rng, n)


def describe_all(canonical: np.ndarray, rate: float, *, floor: float | None = None) -> list[str]:
    """Every sentence the rules make for the window, in a fixed order: each phrase of each
    clause as "a person ..." and as a bare "...ing", then the leading clauses joined."""
    cl = _fallback(clauses(motion_facts(canonical, rate, floor)))
    out = []
    for c in cl:
        for p in c.phrases:
            out += [f"A person {_verb(p, 'third')}.", _verb(p, "ing")]
    if len(cl) > 1:
        V = [_verb(c.phrases[0], "third") for c in cl[:3]]
        out.append(f"A person {', '.join(V[:-1])} and {V[-1]}.")
        out.append(f"A person {V[0]} while {', '.join(_verb(c.phrases[0], 'ing') for c in cl[1:3])}.")
    return list(dict.fromkeys(out))
