"""Timestamps to uniform streams (indexer.clocks), stream offsets and per-window labels."""
import numpy as np
import pytest

from indexer import BadInput
from indexer.clocks import parse_times, regularise
from indexer.model import ImuStream, PoseStream, Recording, TextSpan
from indexer.windows import WindowSpec, recording_windows


def test_irregular_clock_is_resampled_and_split_at_a_gap():
    rng = np.random.default_rng(0)
    t = np.sort(np.concatenate([rng.uniform(0, 10, 480), rng.uniform(70, 80, 480)]))  # a minute-long gap
    data = np.sin(t)[:, None]
    segments, notes = regularise([(t, data)], "acc.csv", rate=50.0)
    assert len(segments) == 2
    first, second = segments
    assert first.offset == 0.0 and second.offset == pytest.approx(t[t > 50][0] - t[0], abs=0.02)
    grid = first.offset + t[0] + np.arange(len(first.data)) / 50.0
    assert np.abs(first.data[:, 0] - np.sin(grid)).max() < 0.02  # interpolated, not shifted
    assert any("split" in n for n in notes)


def test_backwards_and_repeated_timestamps_are_sorted_out_with_a_note():
    t = np.array([0.0, 0.02, 0.01, 0.03, 0.03, 0.04, 0.05])
    segments, notes = regularise([(t, np.arange(7.0)[:, None])], "x.csv")
    assert len(segments) == 1 and segments[0].rate == pytest.approx(100.0)
    assert any("backwards" in n for n in notes) and any("repeated" in n for n in notes)


def test_two_files_of_one_sensor_merge_on_their_common_span():
    ta = np.arange(0, 10, 0.01)
    tg = np.arange(2, 12, 0.02) + 0.003  # its own clock: later start, other rate
    segments, _ = regularise([(ta, np.ones((len(ta), 3))), (tg, 2 * np.ones((len(tg), 3)))], "s1", rate=100.0)
    (seg,) = segments
    assert seg.data.shape[1] == 6
    assert seg.offset == pytest.approx(2.003, abs=1e-6)
    assert seg.offset + len(seg.data) / 100.0 <= 10.0 + 0.011


def test_times_in_units_and_iso():
    assert parse_times([0, 1500], "ms", "f")[1] == pytest.approx(1.5)
    iso = parse_times(["2024-05-01T10:00:00.000", "2024-05-01T10:00:00.250Z"], "iso", "f")
    assert iso[1] == pytest.approx(0.25)
    with pytest.raises(BadInput, match="time_unit"):
        parse_times([0], "fortnights", "f")


def test_window_label_is_the_span_covering_most_of_it():
    spans = [TextSpan(0, 4, "walking"), TextSpan(4, 9, "standing up"), TextSpan(9, 20, "sitting")]
    rec = Recording("r", "d", labels=["daily life"], text=spans,
                    imu=[ImuStream(np.zeros((1000, 3)), 50.0, ["acc_x", "acc_y", "acc_z"], "right_wrist")])
    assert rec.window_label(0, 3) == "walking"
    assert rec.window_label(3, 8) == "standing up"
    assert rec.window_label(2, 6) == "daily life"  # 2 s of each: a tie
    assert rec.window_label(25, 30) == "daily life"  # uncovered
    assert Recording("c", "d", labels=["jog"]).window_label(0, 5) == "jog"


def test_streams_with_offsets_pair_up_on_one_grid():
    imu = ImuStream(np.zeros((500, 3)), 50.0, ["acc_x", "acc_y", "acc_z"], "left_foot", offset=2.0)
    pose = PoseStream(np.zeros((300, 16, 3)), 30.0, "canonical",
                      __import__("indexer").CANONICAL_JOINTS, offset=0.0)
    rec = Recording("r", "d", imu=[imu], pose=pose)
    assert rec.duration == pytest.approx(12.0)
    windows = recording_windows(rec, WindowSpec(2.0, 1.0), {"imu": 50.0, "pose": 25.0})
    imu_starts = [w.t_start for w in windows if w.modality == "imu"]
    assert imu_starts[0] == 2.0 and imu_starts[-1] == 10.0
    assert all(w.body_part == "left_foot" for w in windows if w.modality == "imu")
    assert {w.t_start for w in windows if w.modality == "pose"} >= set(imu_starts[:-2])
