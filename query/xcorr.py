"""The physical baseline: cross-correlating what the IMU measured with what a sensor at its
placement on the pose would have measured (the signal-level idea behind SyncWISE, with the
virtual IMU of UniMTS).

A 3-D skeleton gives, for the segment an IMU is worn on, the specific force the sensor feels
(its acceleration minus gravity) and the segment's angular velocity (`indexer.virtual_imu`).
Their magnitudes do not depend on how the sensor is turned on the segment, so they can be
compared with the IMU's |acc| and |gyr| without knowing the mounting. Each is resampled to one
rate, band-passed and standardised; the Pearson correlation over the overlapping part is
computed at every lag (FFT), the accelerometer and gyroscope curves are averaged (acc only when
the stream has no gyro), and the best lag is refined between samples with a parabola.

For 2-D pose (from video; units unknown) the projected analogue is used: the signed vertical
image-plane acceleration of the point the sensor rides on. To first order |specific force| is
g plus the vertical acceleration (|a + g| ~ g + a_up when a is small against g), and a camera
that is roughly level sees the vertical direction as the image's y axis, so after the band-pass
the two agree up to a scale the standardisation removes. (The magnitude of the image-plane
acceleration, used before, rectifies the signal and lost the offset on most projected clips:
see docs/temporal.md, "2-D pose".)

The answer carries numbers about itself: `peak` (the correlation at the chosen lag), `margin`
(how far that peak stands above the best lag more than `PEAK_EXCLUSION` s away: a repeated
motion gives several near-equal peaks), `overlap` (seconds compared) and `evidence`, which
combines them and is what `query.dense_sync.auto_sync` calibrates into a confidence.
"""
from __future__ import annotations

import logging

import numpy as np

from indexer import CANONICAL_JOINTS, BadInput, ImuStream, PoseStream
from indexer.bodyparts import CHAINS
from indexer.imports import optional
from indexer.units import STANDARD_GRAVITY
from indexer.virtual_imu import PLACEMENTS, sensor_position, virtual_imu
from indexer.windows import resample
from query.sync_result import SyncResult

ACTIVITY_RATE = 50.0  # Hz: both signals are compared at this rate (0.02 s per lag before refinement)
PEAK_EXCLUSION = 0.5  # s: the runner-up peak is the best lag at least this far from the winner
MIN_OVERLAP = 2.0  # s: shortest overlap at which a lag is scored
SMOOTH_SECONDS = 0.25  # pose smoothing before differentiation (about the band's upper edge)
BAND = (0.3, 5.0)  # Hz: drops gravity's slow drift and pose jitter
# A person is 1.2-2.1 m tall; a skeleton that says otherwise was most likely read in other units.
PLAUSIBLE_HEIGHT = (0.2, 3.0)  # lying down still spans > 0.2 m

log = logging.getLogger(__name__)


def _signal():
    """scipy.signal, imported when a signal is first filtered (about 0.3 s a text search skips)."""
    return optional("scipy.signal", "")


# ---- the signals ---------------------------------------------------------------------------------
def _channels(imu: ImuStream, prefix: str) -> list[int]:
    return [i for i, c in enumerate(imu.channels) if c.startswith(prefix)]


def imu_signals(imu: ImuStream, rate: float = ACTIVITY_RATE) -> dict[str, np.ndarray]:
    """{"acc": |specific force|, "gyr": |angular velocity|} of an IMU (gyr only when it has a
    gyroscope), resampled to `rate`, band-passed and standardised."""
    out = {}
    for kind in ("acc", "gyr"):
        idx = _channels(imu, kind)
        if len(idx) == 3:
            mag = np.linalg.norm(imu.data[:, idx].astype(np.float64), axis=1)
            out[kind] = _standardise(resample(mag[:, None], imu.rate, rate)[:, 0], rate)
    if not out:
        raise BadInput(imu.source or "IMU stream", "the physical baseline needs 3-axis accelerometer "
                                                  "(acc_x/y/z) or gyroscope (gyr_x/y/z) channels")
    return out


def imu_activity(imu: ImuStream, rate: float = ACTIVITY_RATE) -> np.ndarray:
    """The accelerometer magnitude signal alone (see imu_signals)."""
    sig = imu_signals(imu, rate)
    if "acc" not in sig:
        raise BadInput(imu.source or "IMU stream", "needs accelerometer channels (acc_*)")
    return sig["acc"]


def check_pose_units(pose: PoseStream) -> str | None:
    """A warning (also logged) when a 3-D skeleton is too small or too large to be in metres:
    an inch- or millimetre-valued file read as metres breaks every physical comparison."""
    if pose.data.shape[2] != 3:
        return None
    canon = pose.canonical()
    height = float(np.nanmedian(np.ptp(canon[:, :, 1], axis=1)))  # y-up: head to ankle, per frame
    lo, hi = PLAUSIBLE_HEIGHT
    if lo <= height <= hi:
        return None
    guess = "inches or centimetres (--units cm)" if height > hi else "something smaller than metres"
    msg = (f"{pose.source or 'pose stream'}: the skeleton is {height:.2f} units tall, implausible for metres; "
           f"if the file is in {guess}, say so with --units (m, cm, mm)")
    log.warning(msg)
    return msg


def sensor_track(pose: PoseStream, placement: str) -> np.ndarray:
    """(T, D) path of the sensor's point: where the virtual IMU sits on its segment for the
    placements it has one for, else `joint_track`."""
    if placement not in PLACEMENTS:
        return joint_track(pose, placement)
    return sensor_position(pose.canonical(), placement)


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


def pose_signals(pose: PoseStream, placement: str, rate: float = ACTIVITY_RATE) -> dict[str, np.ndarray]:
    """What a sensor at `placement` would read, as imu_signals gives it: for 3-D pose the
    virtual IMU's |specific force| and |angular velocity|; for 2-D pose the
    sensor point's vertical image-plane acceleration (as "acc"; 2-D pose has y up)."""
    where = pose.source or "pose stream"
    if pose.duration * pose.rate < 7:
        raise BadInput(where, "pose stream too short to differentiate (fewer than 7 frames)")
    if pose.data.shape[2] == 3 and placement in PLACEMENTS:
        check_pose_units(pose)
        imu6 = virtual_imu(_smooth_positions(pose.canonical(), pose.rate), pose.rate, placement).astype(np.float64)
        mags = np.stack([np.linalg.norm(imu6[:, :3], axis=1), np.linalg.norm(imu6[:, 3:], axis=1)], axis=1)
        mags = resample(mags, pose.rate, rate)
        return {"acc": _standardise(mags[:, 0], rate), "gyr": _standardise(mags[:, 1], rate)}
    track = resample(sensor_track(pose, placement), pose.rate, rate)
    acc = _signal().savgol_filter(_smooth_positions(track, rate), 7, 2, deriv=2, delta=1.0 / rate, axis=0)
    if acc.shape[1] == 3:  # 3-D pose at a placement without a virtual IMU: the point's specific force
        return {"acc": _standardise(np.linalg.norm(acc + np.array([0.0, STANDARD_GRAVITY, 0.0]), axis=1), rate)}
    return {"acc": _standardise(acc[:, 1], rate)}  # 2-D, y up: the vertical image acceleration


def _smooth_positions(canon: np.ndarray, rate: float) -> np.ndarray:
    """Savitzky-Golay smoothing over SMOOTH_SECONDS before differentiating twice: a depth
    camera's skeleton jitters, and its raw second derivative would drown the motion."""
    n = max(5, int(round(SMOOTH_SECONDS * rate)) | 1)
    if len(canon) <= n:
        return canon
    return _signal().savgol_filter(canon.astype(np.float64), n, 2, axis=0)


def pose_activity(pose: PoseStream, placement: str, rate: float = ACTIVITY_RATE) -> np.ndarray:
    """The specific-force magnitude signal of a sensor at `placement` (see pose_signals)."""
    return pose_signals(pose, placement, rate)["acc"]


def _standardise(x: np.ndarray, rate: float) -> np.ndarray:
    """Band-pass, zero mean, unit variance."""
    if len(x) > 30:
        sos = _signal().butter(2, [BAND[0], min(BAND[1], 0.45 * rate)], btype="band", fs=rate, output="sos")
        x = _signal().sosfiltfilt(sos, x)
    x = x - x.mean()
    return x / max(float(x.std()), 1e-9)


# ---- the correlation -----------------------------------------------------------------------------
def pearson_by_lag(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lags, Pearson correlation over the overlap, overlap length) for every lag L at which
    b[i + L] is paired with a[i]. Means and variances are those of the overlapping parts, so a
    short clip inside a long stream is judged on the part it covers."""
    na, nb = len(a), len(b)
    lags = _signal().correlation_lags(nb, na, mode="full")
    cross = _signal().correlate(b, a, mode="full", method="fft")
    i0 = np.maximum(0, -lags)  # overlap: a[i0:i1] with b[i0 + L : i1 + L]
    i1 = np.minimum(na, nb - lags)
    n = (i1 - i0).astype(np.float64)
    ca, ca2 = np.concatenate([[0.0], np.cumsum(a)]), np.concatenate([[0.0], np.cumsum(a * a)])
    cb, cb2 = np.concatenate([[0.0], np.cumsum(b)]), np.concatenate([[0.0], np.cumsum(b * b)])
    sa, sa2 = ca[i1] - ca[i0], ca2[i1] - ca2[i0]
    sb, sb2 = cb[i1 + lags] - cb[i0 + lags], cb2[i1 + lags] - cb2[i0 + lags]
    nn = np.maximum(n, 1.0)
    cov = cross - sa * sb / nn
    var = np.maximum(sa2 - sa * sa / nn, 0.0) * np.maximum(sb2 - sb * sb / nn, 0.0)
    corr = np.where((n > 2) & (var > 1e-12), cov / np.sqrt(np.maximum(var, 1e-24)), 0.0)
    return lags, corr, n


def refine_peak(curve: np.ndarray, best: int) -> float:
    """Sub-sample position of a peak (a parabola through it and its neighbours), in samples."""
    if 0 < best < len(curve) - 1 and np.isfinite(curve[best - 1 : best + 2]).all():
        y0, y1, y2 = curve[best - 1 : best + 2]
        bend = y0 - 2 * y1 + y2
        if bend < 0:
            return float(np.clip(0.5 * (y0 - y2) / bend, -0.5, 0.5))
    return 0.0


def _signals(stream: ImuStream | PoseStream, placement: str, rate: float) -> dict[str, np.ndarray]:
    return imu_signals(stream, rate) if isinstance(stream, ImuStream) else pose_signals(stream, placement, rate)


def xcorr_sync(imu: ImuStream, other: PoseStream | ImuStream, max_offset: float = 10.0,
               placement: str | None = None, rate: float = ACTIVITY_RATE) -> SyncResult:
    """The offset (same sign as `query.sync`: positive, the second stream lags) at which the
    IMU's motion and the other stream's (a pose seen from the IMU's placement, or another IMU)
    correlate best. `confidence` is the peak correlation; `details` holds the peak, its margin
    over the runner-up and the signals compared."""
    if max_offset < 0:
        raise ValueError(f"max_offset must be >= 0, got {max_offset}")
    a = _signals(imu, placement or imu.placement, rate)
    b = _signals(other, placement or imu.placement, rate)
    kinds = [k for k in ("acc", "gyr") if k in a and k in b]
    if not kinds:
        raise BadInput(imu.source or "IMU stream", "the two streams share no signal to compare (one has only "
                                                  "a gyroscope, the other only acceleration)")
    lags, corr, n = None, 0.0, None
    for kind in kinds:
        lags, c, n = pearson_by_lag(a[kind], b[kind])
        corr = corr + c / len(kinds)
    shortest = min(len(a[kinds[0]]), len(b[kinds[0]]))
    keep = (np.abs(lags) <= max_offset * rate + 1e-9) & (n >= min(MIN_OVERLAP * rate, shortest / 2))
    if not keep.any():
        raise BadInput(imu.source or "IMU stream", f"the streams cannot overlap by {MIN_OVERLAP:g} s within "
                                                  f"±{max_offset:g} s")
    curve = np.where(keep, corr, -np.inf)
    best = int(np.argmax(curve))
    offset = (lags[best] + refine_peak(curve, best)) / rate
    far = keep & (np.abs(lags - lags[best]) > PEAK_EXCLUSION * rate)
    runner_up = float(corr[far].max()) if far.any() else 0.0
    peak = float(corr[best])
    overlap = float(n[best]) / rate
    # How strongly the data single out this lag: the peak's Fisher z times the square root of
    # the overlap (a correlation means more over a longer stretch), times its margin over the
    # runner-up (a repeated motion has near-equal peaks). Calibrated in query.dense_sync.
    evidence = max(peak - runner_up, 0.0) * float(np.arctanh(np.clip(peak, 0.0, 0.999))) * np.sqrt(overlap)
    details = {"peak": round(peak, 4), "margin": round(peak - runner_up, 4), "overlap": round(overlap, 3),
               "evidence": round(float(evidence), 4), "signals": "+".join(kinds)}
    return SyncResult(float(offset), float(np.clip(peak, 0.0, 1.0)), lags[keep] / rate, corr[keep],
                      f"xcorr/{'+'.join(kinds)}-magnitude", matches=int(keep.sum()),
                      grid_offset=float(lags[best] / rate), evidence="lags tried", details=details)


def zero_lag_score(imu: ImuStream, pose: PoseStream, part: str, duration: float, rate: float = ACTIVITY_RATE) -> float:
    """Correlation at zero lag between the IMU's signals and those of a sensor on `part` of the
    pose over the first `duration` seconds (acc and gyr averaged where both exist): how likely
    this part wears this IMU, without a model."""
    a = imu_signals(imu, rate)
    b = pose_signals(pose, part, rate)
    scores = []
    for kind in ("acc", "gyr"):
        if kind in a and kind in b:
            n = min(len(a[kind]), len(b[kind]), round(duration * rate))
            if n >= 3:
                scores.append(float(np.corrcoef(a[kind][:n], b[kind][:n])[0, 1]))
    return float(np.mean(scores)) if scores else 0.0


def locate_in(imu: ImuStream, poses: dict[str, PoseStream], k: int = 10, rate: float = ACTIVITY_RATE,
              placement: str | None = None) -> list[tuple[float, str, float]]:
    """The physical baseline of `query.locate`: [(score, recording id, start s)], best first, of
    the places in `poses` where the snippet's |acc| (and |gyr|) correlate best with a sensor at
    its placement on the pose. The snippet lies wholly inside its recording at every place
    scored; places of one recording are at least half the snippet apart (local peaks).
    A recording shorter than the snippet, or without that placement's chain, is left out."""
    a = imu_signals(imu, rate)
    na = len(next(iter(a.values())))
    out: list[tuple[float, str, float]] = []
    for rec_id, pose in poses.items():
        try:
            b = pose_signals(pose, placement or imu.placement, rate)
        except BadInput:
            continue
        kinds = [kind for kind in ("acc", "gyr") if kind in a and kind in b]
        if not kinds or len(b[kinds[0]]) < na:
            continue
        corr = 0.0
        for kind in kinds:
            lags, c, n = pearson_by_lag(a[kind], b[kind])
            corr = corr + c / len(kinds)
        inside = (lags >= 0) & (n >= na)  # the whole snippet overlaps the recording
        lags, curve = lags[inside], corr[inside]
        peaks, _ = _signal().find_peaks(np.concatenate([[-np.inf], curve, [-np.inf]]),
                                           distance=max(1, na // 2))
        peaks = peaks - 1
        for p in peaks[np.argsort(-curve[peaks])][:k]:
            start = (lags[p] + refine_peak(curve, int(p))) / rate
            out.append((float(curve[p]), rec_id, max(0.0, float(start)) + pose.offset))
    out.sort(key=lambda r: -r[0])
    return out[:k]
