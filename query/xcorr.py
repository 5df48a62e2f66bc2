"""The model-free baseline: cross-correlating raw signals (the signal-level idea behind
SyncWISE).

An accelerometer measures the acceleration of the point it is worn on minus gravity's; a 3-D
skeleton gives that point's path, whose second derivative plus 1 g upwards is what the sensor
should read. Both are reduced to one magnitude so that the sensor's orientation does not
matter, resampled to one rate, band-limited and standardised; the lag that lines them up best
is the offset. (3-D skeletons here are y-up, as Kinect, BVH and the canonical joints are; for
2-D pose, whose units are unknown, gravity is left out.)
"""
from __future__ import annotations

import numpy as np
import scipy.signal

from indexer import CANONICAL_JOINTS, BadInput, ImuStream, PoseStream
from indexer.bodyparts import CHAINS
from indexer.units import STANDARD_GRAVITY
from indexer.windows import resample
from query.sync_result import SyncResult

ACTIVITY_RATE = 25.0  # Hz: both signals are compared at this rate


def imu_activity(imu: ImuStream, rate: float = ACTIVITY_RATE) -> np.ndarray:
    """Accelerometer magnitude (gravity's constant part removed by the band-pass)."""
    acc = [i for i, c in enumerate(imu.channels) if c.startswith("acc")]
    if not acc:
        raise BadInput(imu.source or "IMU stream", "cross-correlation needs accelerometer channels (acc_*)")
    mag = np.linalg.norm(imu.data[:, acc], axis=1)
    return _standardise(resample(mag[:, None], imu.rate, rate)[:, 0], rate)


def joint_track(pose: PoseStream, placement: str) -> np.ndarray:
    """(T, D) path of the point an IMU at `placement` rides on: the wrist for an arm sensor,
    mid-thigh (between hip and knee) for a thigh sensor, the chain's end otherwise."""
    canon = pose.canonical()
    chain = CHAINS.get(placement)
    if chain is None:
        raise BadInput(pose.source or "pose stream", f"no skeleton chain for placement {placement!r}")
    if placement in CANONICAL_JOINTS:
        return canon[:, CANONICAL_JOINTS.index(placement)]
    if placement.endswith("thigh"):
        return 0.5 * (canon[:, CANONICAL_JOINTS.index(chain[0])] + canon[:, CANONICAL_JOINTS.index(chain[1])])
    return canon[:, CANONICAL_JOINTS.index(chain[-1])]


def pose_activity(pose: PoseStream, placement: str, rate: float = ACTIVITY_RATE) -> np.ndarray:
    """Magnitude of what an accelerometer on the tracked point would read: its acceleration
    (Savitzky-Golay second derivative) plus gravity's reaction, 1 g up (3-D only)."""
    track = resample(joint_track(pose, placement), pose.rate, rate)
    if len(track) < 7:
        raise BadInput(pose.source or "pose stream", "pose stream too short to differentiate")
    acc = scipy.signal.savgol_filter(track, 7, 2, deriv=2, delta=1.0 / rate, axis=0)
    if acc.shape[1] == 3:
        acc = acc + np.array([0.0, STANDARD_GRAVITY, 0.0])
    return _standardise(np.linalg.norm(acc, axis=1), rate)


def _standardise(x: np.ndarray, rate: float) -> np.ndarray:
    """Band-pass 0.3-5 Hz (drop gravity's drift and pose jitter), zero mean, unit variance."""
    if len(x) > 30:
        sos = scipy.signal.butter(2, [0.3, min(5.0, 0.45 * rate)], btype="band", fs=rate, output="sos")
        x = scipy.signal.sosfiltfilt(sos, x)
    x = x - x.mean()
    return x / max(float(x.std()), 1e-9)


def xcorr_sync(imu: ImuStream, other: PoseStream | ImuStream, max_offset: float = 10.0,
               placement: str | None = None, rate: float = ACTIVITY_RATE):
    """The offset (same sign as `query.sync`: positive, the second stream lags) at which
    the two activity signals correlate best, with the peak normalised correlation as confidence."""
    a = imu_activity(imu, rate)
    b = imu_activity(other, rate) if isinstance(other, ImuStream) else pose_activity(other, placement or imu.placement, rate)
    full = scipy.signal.correlate(b, a, mode="full", method="fft")
    lags = scipy.signal.correlation_lags(len(b), len(a), mode="full")
    # Normalise by how many samples overlap at each lag, so large lags are not penalised.
    overlap = (np.minimum(len(a), len(b) - lags) - np.maximum(0, -lags)).astype(np.float64)
    keep = (np.abs(lags) <= max_offset * rate + 1e-9) & (overlap >= min(len(a), len(b)) / 3)
    if not keep.any():
        raise BadInput(imu.source or "IMU stream", f"the streams cannot overlap within ±{max_offset:g} s")
    corr = np.where(keep, full / np.maximum(overlap, 1), -np.inf)
    best = int(np.argmax(corr))
    shift = 0.0
    if keep[max(best - 1, 0)] and keep[min(best + 1, len(corr) - 1)] and 0 < best < len(corr) - 1:
        y0, y1, y2 = corr[best - 1 : best + 2]
        curve = y0 - 2 * y1 + y2
        if curve < 0:
            shift = float(np.clip(0.5 * (y0 - y2) / curve, -0.5, 0.5))
    offset = (lags[best] + shift) / rate
    grid = lags[keep] / rate
    return SyncResult(float(offset), float(np.clip(corr[best], 0.0, 1.0)), grid, corr[keep],
                      "xcorr/acc-magnitude", matches=int(keep.sum()), grid_offset=float(lags[best] / rate))


def zero_lag_score(imu: ImuStream, pose: PoseStream, part: str, duration: float, rate: float = ACTIVITY_RATE) -> float:
    """Correlation at zero lag between the IMU's activity and the part's end-point activity over
    the first `duration` seconds: how likely this part wears this IMU, without a model."""
    a = imu_activity(imu, rate)
    b = pose_activity(pose, part, rate)
    n = min(len(a), len(b), round(duration * rate))
    if n < 3:
        return 0.0
    return float(np.corrcoef(a[:n], b[:n])[0, 1])
