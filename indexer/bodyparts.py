"""The canonical body-part vocabulary, and how each known skeleton maps onto it.

Every skeleton (Kinect v1's 20 joints, CMU BVH, COCO-17 2-D keypoints) is mapped onto one
small canonical joint set so that one pose encoder reads any of them, and so that an IMU worn
on, say, the right wrist can be paired with the right shoulder-elbow-wrist chain of any
skeleton.
"""
from __future__ import annotations

import numpy as np

from indexer.errors import BadInput

# Where a sensor can be worn (IMU placements) and what a pose chain can be named after.
BODY_PARTS = [
    "head", "neck", "chest", "pelvis",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_thigh", "left_knee", "left_shin", "left_ankle", "left_foot",
    "right_hip", "right_thigh", "right_knee", "right_shin", "right_ankle", "right_foot",
]

# The joints every pose is mapped onto before it reaches an encoder, in this order.
CANONICAL_JOINTS = [
    "pelvis", "chest", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_hip", "left_knee", "left_ankle",
    "right_hip", "right_knee", "right_ankle",
]

# Body part an IMU is worn on -> the kinematic chain of canonical joints it moves with (MoBind's
# part decomposition).
CHAINS = {
    "right_wrist": ["right_shoulder", "right_elbow", "right_wrist"],
    "right_hand": ["right_shoulder", "right_elbow", "right_wrist"],
    "right_elbow": ["right_shoulder", "right_elbow", "right_wrist"],
    "left_wrist": ["left_shoulder", "left_elbow", "left_wrist"],
    "left_hand": ["left_shoulder", "left_elbow", "left_wrist"],
    "left_elbow": ["left_shoulder", "left_elbow", "left_wrist"],
    "right_thigh": ["right_hip", "right_knee", "right_ankle"],
    "right_knee": ["right_hip", "right_knee", "right_ankle"],
    "right_shin": ["right_hip", "right_knee", "right_ankle"],
    "right_ankle": ["right_hip", "right_knee", "right_ankle"],
    "left_thigh": ["left_hip", "left_knee", "left_ankle"],
    "left_knee": ["left_hip", "left_knee", "left_ankle"],
    "left_shin": ["left_hip", "left_knee", "left_ankle"],
    "left_ankle": ["left_hip", "left_knee", "left_ankle"],
    "chest": ["pelvis", "chest", "neck"],
    "pelvis": ["pelvis", "left_hip", "right_hip"],
    "head": ["chest", "neck", "head"],
}

# Skeleton name -> {its joint name: canonical joint}. Joints not listed are ignored.
SKELETONS: dict[str, dict[str, str]] = {
    "kinect20": {
        "hip_center": "pelvis", "spine": "chest", "shoulder_center": "neck", "head": "head",
        "left_shoulder": "left_shoulder", "left_elbow": "left_elbow", "left_wrist": "left_wrist",
        "right_shoulder": "right_shoulder", "right_elbow": "right_elbow", "right_wrist": "right_wrist",
        "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle",
        "right_hip": "right_hip", "right_knee": "right_knee", "right_ankle": "right_ankle",
    },
    "cmu-bvh": {
        "hip": "pelvis", "chest": "chest", "neck": "neck", "head": "head",
        "lShldr": "left_shoulder", "lForeArm": "left_elbow", "lHand": "left_wrist",
        "rShldr": "right_shoulder", "rForeArm": "right_elbow", "rHand": "right_wrist",
        "lThigh": "left_hip", "lShin": "left_knee", "lFoot": "left_ankle",
        "rThigh": "right_hip", "rShin": "right_knee", "rFoot": "right_ankle",
    },
    # CMU's ASF-derived BVH exports (e.g. takes 16_01, 16_02): joints named after bones.
    "cmu-asf": {
        "hip": "pelvis", "thorax": "chest", "upperneck": "neck", "head": "head",
        "lhumerus": "left_shoulder", "lradius": "left_elbow", "lwrist": "left_wrist",
        "rhumerus": "right_shoulder", "rradius": "right_elbow", "rwrist": "right_wrist",
        "lfemur": "left_hip", "ltibia": "left_knee", "lfoot": "left_ankle",
        "rfemur": "right_hip", "rtibia": "right_knee", "rfoot": "right_ankle",
    },
    "coco17": {
        "nose": "head",
        "left_shoulder": "left_shoulder", "left_elbow": "left_elbow", "left_wrist": "left_wrist",
        "right_shoulder": "right_shoulder", "right_elbow": "right_elbow", "right_wrist": "right_wrist",
        "left_hip": "left_hip", "left_knee": "left_knee", "left_ankle": "left_ankle",
        "right_hip": "right_hip", "right_knee": "right_knee", "right_ankle": "right_ankle",
    },
    # A skeleton whose joints already carry canonical names (the demo archive, user data).
    "canonical": {j: j for j in CANONICAL_JOINTS},
}

KINECT20_JOINTS = [
    "head", "shoulder_center", "spine", "hip_center",
    "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot",
    "right_hip", "right_knee", "right_ankle", "right_foot",
]

COCO17_JOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
]

# Canonical joints a skeleton may lack but that can be derived from others (COCO has no pelvis).
_DERIVED = {
    "pelvis": ("left_hip", "right_hip"),
    "neck": ("left_shoulder", "right_shoulder"),
    "chest": ("pelvis", "neck"),
}

PLACEMENT_ALIASES = {
    "wrist": "right_wrist", "rwrist": "right_wrist", "lwrist": "left_wrist",
    "thigh": "right_thigh", "waist": "pelvis", "hip": "pelvis", "trunk": "chest",
}


def canonical_placement(name: str) -> str:
    """A user's placement string ("Right Wrist", "right-wrist") -> the canonical body part."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    key = PLACEMENT_ALIASES.get(key, key)
    if key not in BODY_PARTS:
        raise ValueError(f"unknown body placement {name!r}; known: {', '.join(BODY_PARTS)}")
    return key


def canonical_joint_positions(data: np.ndarray, skeleton: str, joints: list[str]) -> np.ndarray:
    """Map (T, J, D) positions of `skeleton` onto (T, len(CANONICAL_JOINTS), D)."""
    if skeleton not in SKELETONS:
        raise BadInput(skeleton, f"unknown skeleton {skeleton!r}; known: {', '.join(SKELETONS)}")
    mapping = SKELETONS[skeleton]
    found: dict[str, np.ndarray] = {}
    for col, name in enumerate(joints):
        if name in mapping:
            found[mapping[name]] = data[:, col]
    for target, (a, b) in _DERIVED.items():
        if target not in found and a in found and b in found:
            found[target] = 0.5 * (found[a] + found[b])
    missing = [j for j in CANONICAL_JOINTS if j not in found]
    if missing:
        raise BadInput(skeleton, f"skeleton {skeleton!r} lacks canonical joints {missing}")
    return np.stack([found[j] for j in CANONICAL_JOINTS], axis=1).astype(np.float32)


def chain_indices(placement: str) -> list[int]:
    """Indices into CANONICAL_JOINTS of the chain an IMU at `placement` moves with."""
    if placement not in CHAINS:
        raise ValueError(f"no skeleton chain is defined for placement {placement!r}")
    return [CANONICAL_JOINTS.index(j) for j in CHAINS[placement]]
