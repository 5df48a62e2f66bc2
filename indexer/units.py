"""Unit conversions into the canonical units (m/s^2, rad/s, metres)."""
from __future__ import annotations

import numpy as np

STANDARD_GRAVITY = 9.80665  # m/s^2 per g

ACC_UNITS = {"m/s^2": 1.0, "m/s2": 1.0, "g": STANDARD_GRAVITY, "mg": STANDARD_GRAVITY / 1000.0}
GYR_UNITS = {"rad/s": 1.0, "deg/s": np.pi / 180.0, "dps": np.pi / 180.0}
LENGTH_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "inch": 0.0254}


def _factor(table: dict[str, float], unit: str, kind: str) -> float:
    try:
        return table[unit.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown {kind} unit {unit!r}; known: {', '.join(table)}") from None


def acc_to_si(x: np.ndarray, unit: str) -> np.ndarray:
    return np.asarray(x, dtype=np.float64) * _factor(ACC_UNITS, unit, "acceleration")


def gyr_to_si(x: np.ndarray, unit: str) -> np.ndarray:
    return np.asarray(x, dtype=np.float64) * _factor(GYR_UNITS, unit, "angular velocity")


def length_to_si(x: np.ndarray, unit: str) -> np.ndarray:
    return np.asarray(x, dtype=np.float64) * _factor(LENGTH_UNITS, unit, "length")


IMU6_CHANNELS = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]


def imu_channels_to_si(data: np.ndarray, channels: list[str], acc_unit: str, gyr_unit: str) -> np.ndarray:
    """Scale acc_* columns from `acc_unit` and gyr_* columns from `gyr_unit` to SI."""
    out = np.asarray(data, dtype=np.float64).copy()
    for i, name in enumerate(channels):
        if name.startswith("acc"):
            out[:, i] = acc_to_si(out[:, i], acc_unit)
        elif name.startswith("gyr"):
            out[:, i] = gyr_to_si(out[:, i], gyr_unit)
    return out


# Channel names an IMU stream may carry, by sensor; a stream holds any subset of the groups.
# Magnetometer values are kept in the file's unit (their scale differs by device and place);
# orientation is a unit quaternion (w, x, y, z).
IMU_CHANNEL_GROUPS = {
    "acc": ["acc_x", "acc_y", "acc_z"],
    "gyr": ["gyr_x", "gyr_y", "gyr_z"],
    "mag": ["mag_x", "mag_y", "mag_z"],
    "quat": ["quat_w", "quat_x", "quat_y", "quat_z"],
}
IMU_CHANNELS = [c for group in IMU_CHANNEL_GROUPS.values() for c in group]
