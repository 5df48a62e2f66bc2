"""What a tower sees of a window: the raw window turned into (time, features)."""
from __future__ import annotations

import numpy as np

from indexer.bodyparts import CANONICAL_JOINTS
from indexer.model import Modality

PELVIS = CANONICAL_JOINTS.index("pelvis")


def imu_features(window: np.ndarray) -> np.ndarray:
    """IMU windows are used as they are (SI units); the tower's GroupNorm scales each sensor."""
    return np.asarray(window, dtype=np.float32)


def pose_features(window: np.ndarray, valid: int | None = None) -> np.ndarray:
    """(T, J, D) canonical joints -> (T, J*D + D): joints relative to the pelvis (the body's
    shape, whatever it is doing in the room) plus the pelvis path relative to its first frame
    (how the body travels). Padded frames stay zero."""
    window = np.asarray(window, dtype=np.float32)
    valid = window.shape[0] if valid is None else valid
    pelvis = window[:, PELVIS : PELVIS + 1]
    rel = (window - pelvis).reshape(window.shape[0], window.shape[1] * window.shape[2])
    path = window[:, PELVIS] - window[:1, PELVIS]  # (an empty window stays empty: no pose stream read)
    out = np.concatenate([rel, path], axis=1)
    out[valid:] = 0.0
    return out


def pose_feature_count(dims: int = 3) -> int:
    return len(CANONICAL_JOINTS) * dims + dims


FEATURES = {"imu": imu_features, "pose": pose_features}


def featurize(modality: Modality, window: np.ndarray, valid: int) -> np.ndarray:
    if modality == "video":  # frames stay uint8 (4x smaller); the video tower scales them
        return np.asarray(window)
    if modality == "pose":
        return pose_features(window, valid)
    return imu_features(window)
