"""The canonical body-part vocabulary, and how each known skeleton maps onto it.

Every skeleton (Kinect v1's 20 joints, CMU BVH, COCO-17 2-D keypoints) is mapped onto one
small canonical joint set so that one pose encoder reads any of them, and so that an IMU worn
on, say, the right wrist can be paired with the right shoulder-elbow-wrist chain of any
skeleton.
"""
from __future__ import annotations

import numpy as np

from indexer.errors import BadInput

# Where an IMU is taken to sit when neither its file, its manifest nor its user says (a watch on the
# right wrist): every reader, command and form defaults to it.
DEFAULT_PLACEMENT = "right_wrist"

# Where a sensor can be worn (IMU placements) and what a pose chain can be named after.
BODY_PARTS = [
    "head", "neck", "chest", "pelvis",
    "left_shoulder", "left_upper_arm", "left_elbow", "left_forearm", "left_wrist", "left_hand",
    "right_shoulder", "right_upper_arm", "right_elbow", "right_forearm", "right_wrist", "right_hand",
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
def _chains() -> dict[str, list[str]]:
    arm = lambda side: [f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist"]  # noqa: E731
    leg = lambda side: [f"{side}_hip", f"{side}_knee", f"{side}_ankle"]  # noqa: E731
    out = {"chest": ["pelvis", "chest", "neck"], "pelvis": ["pelvis", "left_hip", "right_hip"],
           "head": ["chest", "neck", "head"], "neck": ["chest", "neck", "head"]}
    for side in ("left", "right"):
        for part in ("shoulder", "upper_arm", "elbow", "forearm", "wrist", "hand"):
            out[f"{side}_{part}"] = arm(side)
        for part in ("hip", "thigh", "knee", "shin", "ankle", "foot"):
            out[f"{side}_{part}"] = leg(side)
    return out


CHAINS: dict[str, list[str]] = _chains()

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
    # Bandai Namco Research Motion Dataset (21 joints, Unity-style names).
    "bandai21": {
        "Hips": "pelvis", "Chest": "chest", "Neck": "neck", "Head": "head",
        "UpperArm_L": "left_shoulder", "LowerArm_L": "left_elbow", "Hand_L": "left_wrist",
        "UpperArm_R": "right_shoulder", "LowerArm_R": "right_elbow", "Hand_R": "right_wrist",
        "UpperLeg_L": "left_hip", "LowerLeg_L": "left_knee", "Foot_L": "left_ankle",
        "UpperLeg_R": "right_hip", "LowerLeg_R": "right_knee", "Foot_R": "right_ankle",
    },
    # iClone / Character Creator rigs (CMU takes converted to CC_Base_* names).
    "iclone-cc": {
        "CC_Base_Pelvis": "pelvis", "CC_Base_Spine02": "chest", "CC_Base_NeckTwist01": "neck",
        "CC_Base_Head": "head",
        "CC_Base_L_Upperarm": "left_shoulder", "CC_Base_L_Forearm": "left_elbow", "CC_Base_L_Hand": "left_wrist",
        "CC_Base_R_Upperarm": "right_shoulder", "CC_Base_R_Forearm": "right_elbow", "CC_Base_R_Hand": "right_wrist",
        "CC_Base_L_Thigh": "left_hip", "CC_Base_L_Calf": "left_knee", "CC_Base_L_Foot": "left_ankle",
        "CC_Base_R_Thigh": "right_hip", "CC_Base_R_Calf": "right_knee", "CC_Base_R_Foot": "right_ankle",
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
    "lower_back": "pelvis", "sacrum": "pelvis", "upper_back": "chest", "sternum": "chest", "torso": "chest",
    "back": "chest",
    **{f"{short}{part}": f"{side}_{part}" for side, short in (("left", "l"), ("right", "r"))
       for part in ("shoulder", "elbow", "forearm", "hand", "thigh", "knee", "shin", "ankle", "foot")},
    **{f"{side}_{alias}": f"{side}_{part}" for side in ("left", "right")
       for alias, part in (("arm", "upper_arm"), ("upperarm", "upper_arm"), ("lower_arm", "forearm"),
                           ("lowerarm", "forearm"), ("upper_leg", "thigh"), ("upperleg", "thigh"),
                           ("lower_leg", "shin"), ("lowerleg", "shin"), ("calf", "shin"))},
}

# The directions a pose file's vertical axis may point; canonical poses are y-up (metres).
UP_AXES = ("y", "-y", "z", "-z")
_UP_ROTATIONS = {  # proper rotations taking the named axis to +y
    "y": np.eye(3),
    "-y": np.diag([-1.0, -1.0, 1.0]),
    "z": np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]]),
    "-z": np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]]),
}


def canonical_placement(name: str) -> str:
    """A user's placement string ("Right Wrist", "right-wrist") -> the canonical body part."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    key = PLACEMENT_ALIASES.get(key, key)
    if key not in BODY_PARTS:
        raise ValueError(f"unknown body placement {name!r}; known: {', '.join(BODY_PARTS)}")
    return key


def orient_up(data: np.ndarray, up: str) -> np.ndarray:
    """(T, J, 3) positions whose vertical axis is `up` -> y-up positions (a rotation, so left
    stays left). 2-D image keypoints (y down) are left alone: there `up` is the image's."""
    up = up.strip().lower()
    if up not in _UP_ROTATIONS:
        raise ValueError(f"unknown up axis {up!r}; known: {', '.join(UP_AXES)}")
    if up == "y" or data.shape[-1] != 3:
        return data
    return data @ _UP_ROTATIONS[up].T


def apply_joint_map(joints: list[str], joint_map: dict[str, str]) -> tuple[list[int], list[str], list[str]]:
    """For a skeleton the engine does not know: which columns to keep, their canonical names, and
    the file's joint names that are ignored. `joint_map` maps the file's names to canonical
    joint names (CANONICAL_JOINTS); raises ValueError naming a target that is not one."""
    bad = sorted({v for v in joint_map.values() if v not in CANONICAL_JOINTS})
    if bad:
        raise ValueError(f"joint_map targets {bad} are not canonical joints; known: {', '.join(CANONICAL_JOINTS)}")
    unknown = sorted(set(joint_map) - set(joints))
    if unknown:
        raise ValueError(f"joint_map names {unknown}, which the file's joints {joints} do not hold")
    targets = list(joint_map.values())
    twice = sorted({t for t in targets if targets.count(t) > 1})
    if twice:
        raise ValueError(f"joint_map maps several joints onto {twice}")
    keep = [i for i, j in enumerate(joints) if j in joint_map]
    return keep, [joint_map[joints[i]] for i in keep], [j for j in joints if j not in joint_map]


def missing_canonical_joints(have: set[str]) -> list[str]:
    """The canonical joints that neither `have` (canonical names) holds nor can be derived from it
    (pelvis from both hips, neck from both shoulders, chest from pelvis and neck)."""
    have = set(have)
    for target, (a, b) in _DERIVED.items():
        if target not in have and a in have and b in have:
            have.add(target)
    return [j for j in CANONICAL_JOINTS if j not in have]


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
    missing = missing_canonical_joints(set(found))
    if missing:
        raise BadInput(skeleton, f"skeleton {skeleton!r} lacks canonical joints {missing}")
    return np.stack([found[j] for j in CANONICAL_JOINTS], axis=1).astype(np.float32)


def chain_indices(placement: str) -> list[int]:
    """Indices into CANONICAL_JOINTS of the chain an IMU at `placement` moves with."""
    if placement not in CHAINS:
        raise ValueError(f"no skeleton chain is defined for placement {placement!r}")
    return [CANONICAL_JOINTS.index(j) for j in CHAINS[placement]]
