"""Unit conversion, resampling and windowing: the common time base every modality is cut on."""
from __future__ import annotations

import math

import numpy as np
import pytest

from indexer.bodyparts import CANONICAL_JOINTS
from indexer.model import ImuStream, PoseStream, Recording
from indexer.units import (
    IMU6_CHANNELS,
    STANDARD_GRAVITY,
    acc_to_si,
    gyr_to_si,
    imu_channels_to_si,
    length_to_si,
)
from indexer.windows import WindowSpec, cut, recording_windows, resample, window_starts

# ----------------------------------------------------------------------------- units


def test_acceleration_in_g_becomes_metres_per_second_squared():
    np.testing.assert_allclose(acc_to_si([1.0, -0.5, 0.0], "g"), [9.80665, -4.903325, 0.0])
    np.testing.assert_allclose(acc_to_si([1000.0], "mg"), [STANDARD_GRAVITY])
    np.testing.assert_allclose(acc_to_si([3.0], "m/s^2"), [3.0])


def test_degrees_per_second_become_radians_per_second():
    np.testing.assert_allclose(gyr_to_si([180.0, 90.0, -360.0], "deg/s"), [math.pi, math.pi / 2, -2 * math.pi])
    np.testing.assert_allclose(gyr_to_si([1.5], "rad/s"), [1.5])


def test_lengths_become_metres():
    np.testing.assert_allclose(length_to_si([1.0, 10.0], "in"), [0.0254, 0.254])
    np.testing.assert_allclose(length_to_si([250.0], "cm"), [2.5])
    np.testing.assert_allclose(length_to_si([42.0], "mm"), [0.042])


def test_unit_names_are_forgiving_about_case_and_spaces_but_not_unknown_units():
    np.testing.assert_allclose(acc_to_si([1.0], " G "), [STANDARD_GRAVITY])
    with pytest.raises(ValueError, match="unknown acceleration unit 'furlong'"):
        acc_to_si([1.0], "furlong")
    with pytest.raises(ValueError, match="unknown length unit"):
        length_to_si([1.0], "parsec")


def test_imu_columns_are_scaled_by_their_own_unit():
    raw = np.array([[1.0, 0.0, -1.0, 180.0, 0.0, 90.0]])
    out = imu_channels_to_si(raw, IMU6_CHANNELS, "g", "deg/s")
    np.testing.assert_allclose(out, [[STANDARD_GRAVITY, 0.0, -STANDARD_GRAVITY, math.pi, 0.0, math.pi / 2]])
    assert raw[0, 0] == 1.0  # the caller's array is not modified


# ----------------------------------------------------------------------------- resampling


def _sine_fit(y: np.ndarray, rate: float, freq: float) -> tuple[float, float]:
    """(amplitude, phase) of the `freq` Hz component, by least squares on the output's own
    time grid, so a shifted or stretched output shows up as a phase or amplitude error."""
    t = np.arange(len(y)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    (s, c), *_ = np.linalg.lstsq(basis, y, rcond=None)
    return float(np.hypot(s, c)), float(np.arctan2(c, s))


def _dominant_frequency(y: np.ndarray, rate: float) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("target", [25.0, 15.2, 100.0])
def test_resample_keeps_frequency_amplitude_and_timing(target):
    rate, freq, seconds = 50.0, 2.0, 10.0
    x = 0.7 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)
    y = resample(x, rate, target)
    assert len(y) == round(len(x) * target / rate)
    assert _dominant_frequency(y, target) == pytest.approx(freq, abs=0.15)
    inner = y[len(y) // 10 : -len(y) // 10]  # edges of a filtered signal may ring
    amplitude, phase = _sine_fit(y, target, freq)
    assert amplitude == pytest.approx(0.7, rel=0.03)
    assert phase == pytest.approx(0.0, abs=0.1)  # not shifted in time
    assert np.abs(inner).max() == pytest.approx(0.7, rel=0.05)


def test_resample_downsampling_removes_what_the_new_rate_cannot_hold():
    # 20 Hz is above the 7.6 Hz Nyquist limit of 15.2 Hz; it must not fold back as a fake slow wave.
    rate = 50.0
    t = np.arange(500) / rate
    x = np.sin(2 * np.pi * 1.0 * t) + np.sin(2 * np.pi * 20.0 * t)
    y = resample(x, rate, 15.2)
    amplitude_1hz, _ = _sine_fit(y, 15.2, 1.0)
    residual = y - np.sin(2 * np.pi * 1.0 * np.arange(len(y)) / 15.2)
    assert amplitude_1hz == pytest.approx(1.0, rel=0.05)
    assert np.abs(residual[10:-10]).max() < 0.15


def test_resample_works_per_column_and_keeps_shape():
    x = np.random.default_rng(0).normal(size=(200, 16, 3))
    flat = resample(x.reshape(200, -1), 30.0, 25.0)
    assert flat.shape == (round(200 * 25 / 30), 48)
    np.testing.assert_array_equal(resample(x[:, 0], 30.0, 30.0), x[:, 0])  # same rate: a copy


# ----------------------------------------------------------------------------- window starts


def test_a_clip_shorter_than_a_window_gets_one_window_at_zero():
    assert window_starts(3.2, WindowSpec(5.0, 1.0)) == [0.0]
    assert window_starts(5.0, WindowSpec(5.0, 1.0)) == [0.0]


def test_window_starts_follow_the_hop_grid():
    assert window_starts(10.0, WindowSpec(5.0, 1.0)) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert window_starts(9.0, WindowSpec(2.0, 2.5)) == [0.0, 2.5, 5.0, 7.0]


def test_an_uncovered_tail_gets_a_window_aligned_to_the_end():
    starts = window_starts(10.5, WindowSpec(5.0, 1.0))
    assert starts == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 5.5]
    assert starts[-1] + 5.0 == pytest.approx(10.5)


def test_window_spec_rejects_non_positive_sizes():
    with pytest.raises(ValueError, match="positive"):
        WindowSpec(0.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        WindowSpec(5.0, -1.0)


# ----------------------------------------------------------------------------- cutting


def test_cut_returns_the_slice_and_zero_pads_past_the_end():
    data = np.arange(1, 11, dtype=np.float32)[:, None] * np.ones((1, 2), np.float32)  # 10 samples @ 10 Hz
    piece, valid = cut(data, 10.0, 0.2, 0.5)
    assert valid == 5
    np.testing.assert_array_equal(piece[:, 0], [3, 4, 5, 6, 7])
    piece, valid = cut(data, 10.0, 0.7, 0.5)
    assert piece.shape == (5, 2) and valid == 3
    np.testing.assert_array_equal(piece[:, 0], [8, 9, 10, 0, 0])


# ----------------------------------------------------------------------------- recordings


def _recording(seconds: float, imu_rate: float = 100.0, pose_rate: float = 30.0) -> Recording:
    n_imu, n_pose = int(round(seconds * imu_rate)), int(round(seconds * pose_rate))
    t = np.arange(n_imu) / imu_rate
    imu = np.stack([np.sin(2 * np.pi * t + k) for k in range(6)], axis=1)
    pose = np.random.default_rng(1).normal(size=(n_pose, len(CANONICAL_JOINTS), 3))
    return Recording(
        id="r", dataset="d",
        imu=[ImuStream(imu, imu_rate, list(IMU6_CHANNELS), "right_wrist")],
        pose=PoseStream(pose, pose_rate, "canonical", list(CANONICAL_JOINTS)),
    )


def test_imu_and_pose_windows_share_their_start_times():
    rec = _recording(8.0)
    spec = WindowSpec(5.0, 1.0)
    windows = recording_windows(rec, spec, {"imu": 50.0, "pose": 25.0})
    imu = [w for w in windows if w.modality == "imu"]
    pose = [w for w in windows if w.modality == "pose"]
    assert [w.t_start for w in imu] == [w.t_start for w in pose] == [0.0, 1.0, 2.0, 3.0]
    assert all(w.body_part == "right_wrist" for w in imu) and all(w.body_part == "all" for w in pose)
    assert all(w.data.shape == (250, 6) and w.valid == 250 for w in imu)  # resampled to 50 Hz
    assert all(w.data.shape == (125, len(CANONICAL_JOINTS), 3) and w.valid == 125 for w in pose)
    assert all(w.t_end == pytest.approx(w.t_start + 5.0) for w in windows)
    # The second IMU window is the first one moved on by exactly one second (50 samples).
    np.testing.assert_allclose(imu[1].data[:200], imu[0].data[50:], atol=1e-5)


def test_a_short_clip_becomes_one_padded_window_with_its_true_end():
    rec = _recording(3.0)
    windows = recording_windows(rec, WindowSpec(5.0, 1.0), {"imu": 50.0, "pose": 25.0})
    assert [(w.modality, w.t_start, w.t_end) for w in windows] == [("imu", 0.0, 3.0), ("pose", 0.0, 3.0)]
    imu, pose = windows
    assert imu.valid == 150 and imu.data.shape == (250, 6)
    assert np.abs(imu.data[:150]).max() > 0.5 and not imu.data[150:].any()
    assert pose.valid == 75 and not pose.data[75:].any()


def test_only_requested_modalities_are_cut():
    windows = recording_windows(_recording(6.0), WindowSpec(5.0, 1.0), {"imu": 50.0})
    assert {w.modality for w in windows} == {"imu"} and len(windows) == 2
