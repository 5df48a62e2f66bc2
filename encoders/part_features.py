"""What the token towers see: an IMU as it is, and a pose reduced to one body part's chain.

MoBind's body-part decomposition: an IMU on the right wrist moves with the right
shoulder-elbow-wrist chain, one on the right thigh with hip-knee-ankle, and so on
(`indexer.bodyparts.CHAINS`). A pose part is that chain's joints relative to its root joint
(the limb's shape, wherever the body stands) plus the chain joints' velocities (what an
accelerometer and a gyroscope respond to). The same code reads 3-D skeletons (metres) and 2-D
pose (any unit: the tower normalises each window's scale).
"""
from __future__ import annotations

import numpy as np

from indexer.bodyparts import CHAINS, chain_indices

# Default decomposition: the four limbs, where IMUs are usually worn.
DEFAULT_PARTS = ["right_wrist", "left_wrist", "right_thigh", "left_thigh"]
# pretrain-tokens' default: the limbs and the trunk, so that a sensor anywhere has a part.
PRETRAIN_PARTS = DEFAULT_PARTS + ["pelvis", "chest", "head"]


def pose_part_feature_count(dims: int) -> int:
    return 2 * len(next(iter(CHAINS.values()))) * dims


def part_for_placement(placement: str, parts: list[str]) -> str:
    """The part of `parts` whose chain an IMU at `placement` moves with (a right-elbow IMU is
    read against the right-arm part, whatever that part is called in the config)."""
    if placement in parts:
        return placement
    if placement not in CHAINS:
        raise ValueError(f"no skeleton chain is defined for IMU placement {placement!r}; "
                         f"placements with one: {', '.join(CHAINS)}")
    for part in parts:
        if CHAINS.get(part) == CHAINS[placement]:
            return part
    raise ValueError(f"the encoder's body parts {parts} have no chain for placement {placement!r}")


def pose_part_features(canonical: np.ndarray, part: str, rate: float, valid: int | None = None) -> np.ndarray:
    """(T, 16, D) canonical joints -> (T, 2 * 3 * D): the chain of `part` relative to its root
    joint, then the chain joints' velocities (units per second). Padded frames stay zero."""
    canonical = np.asarray(canonical, dtype=np.float32)
    valid = canonical.shape[0] if valid is None else int(valid)
    chain = canonical[:, chain_indices(part)]  # (T, 3, D)
    rel = chain - chain[:, :1]
    vel = np.zeros_like(chain)
    if valid >= 2:
        vel[:valid] = np.gradient(chain[:valid], axis=0) * rate
    out = np.concatenate([rel.reshape(len(chain), -1), vel.reshape(len(chain), -1)], axis=1)
    out[valid:] = 0.0
    return out.astype(np.float32)


def project_2d(canonical: np.ndarray, yaw: float = 0.0) -> np.ndarray:
    """Orthographic view of a 3-D skeleton (x right, y up, z towards the camera, as Kinect
    reports it) from a camera turned by `yaw` radians about the vertical axis: what a 2-D pose
    estimator would see, up to scale. Lets a 2-D pose tower train on 3-D mocap."""
    c, s = np.cos(yaw), np.sin(yaw)
    x = canonical[..., 0] * c + canonical[..., 2] * s
    return np.stack([x, canonical[..., 1]], axis=-1).astype(np.float32)
