"""UTD-MHAD importer on the real dataset, and on broken copies of a few of its files."""
from __future__ import annotations

import csv
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from indexer.errors import BadInput
from indexer.importers import detect_format, discover, utd_mhad
from indexer.units import STANDARD_GRAVITY

STEM = re.compile(r"^utd-mhad/a(\d+)_s(\d+)_t(\d+)$")


@pytest.fixture(scope="module")
def recordings(utd_dir):
    """Every recording of the dataset, loaded (about a second for all 861)."""
    return {e.id: e.load() for e in discover(utd_dir)}


def _actions(utd_dir: Path) -> dict[int, tuple[str, str]]:
    with open(utd_dir / "actions.csv", newline="") as f:
        return {int(r["action_id"]): (r["name"], r["sensor_placement"]) for r in csv.DictReader(f)}


def test_lists_all_861_clips_with_ids_from_the_file_names(utd_dir):
    assert detect_format(utd_dir) == "utd-mhad"
    entries = discover(utd_dir)
    assert len(entries) == 861  # 27 actions x 8 subjects x 4 trials, minus 3 missing in the release
    ids = [e.id for e in entries]
    assert len(set(ids)) == 861 and all(STEM.match(i) for i in ids)
    missing = {f"utd-mhad/a{a}_s{s}_t{t}" for a in range(1, 28) for s in range(1, 9) for t in range(1, 5)} - set(ids)
    assert missing == {"utd-mhad/a8_s1_t4", "utd-mhad/a23_s6_t4", "utd-mhad/a27_s8_t4"}
    first = next(e for e in entries if e.id == "utd-mhad/a12_s3_t2")
    assert first.subject == "3"  # known from the name, so subject filters need not read the file
    assert first.sources == [str(utd_dir / "inertial" / "a12_s3_t2_inertial.mat")]
    subject2 = utd_mhad.discover(utd_dir, ("2",))
    assert len(subject2) == 108 and {e.subject for e in subject2} == {"2"}


def test_subject_trial_and_action_name_come_from_the_name_and_actions_csv(utd_dir, recordings):
    names = _actions(utd_dir)
    for rec_id, rec in recordings.items():
        action, subject, trial = map(int, STEM.match(rec_id).groups())
        assert (rec.dataset, rec.subject, rec.trial) == ("utd-mhad", str(subject), str(trial))
        assert rec.labels == [names[action][0]]
    assert recordings["utd-mhad/a1_s1_t1"].labels == ["right arm swipe to the left"]


def test_accelerometer_is_in_metres_per_second_squared(utd_dir, recordings):
    rec = recordings["utd-mhad/a1_s1_t1"]
    raw = scipy.io.loadmat(str(utd_dir / "inertial" / "a1_s1_t1_inertial.mat"))["d_iner"]
    np.testing.assert_allclose(rec.imu[0].data[:, :3], raw[:, :3] * STANDARD_GRAVITY, rtol=1e-6)
    # At rest an accelerometer reads gravity: take each clip's stillest 0.4 s (least rotation).
    at_rest = []
    for rec in recordings.values():
        data = rec.imu[0].data
        spin = np.convolve(np.linalg.norm(data[:, 3:], axis=1), np.ones(20) / 20, "valid")
        i = int(spin.argmin())
        at_rest.append(np.linalg.norm(data[i : i + 20, :3], axis=1).mean())
    assert np.median(at_rest) == pytest.approx(9.81, abs=0.6)  # in g it would be ~1


def test_gyroscope_is_in_radians_per_second(utd_dir, recordings):
    rec = recordings["utd-mhad/a1_s1_t1"]
    raw = scipy.io.loadmat(str(utd_dir / "inertial" / "a1_s1_t1_inertial.mat"))["d_iner"]
    np.testing.assert_allclose(rec.imu[0].data[:, 3:], np.deg2rad(raw[:, 3:]), rtol=1e-5, atol=1e-7)
    peak = max(np.abs(r.imu[0].data[:, 3:]).max() for r in recordings.values())
    assert 3.0 < peak < 40.0  # a human limb: a few to a few tens of rad/s, not hundreds of deg/s
    assert rec.imu[0].channels == ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
    assert rec.imu[0].rate == 50.0


def test_sensor_is_on_the_right_thigh_for_actions_22_to_27(recordings):
    for rec_id, rec in recordings.items():
        action = int(STEM.match(rec_id).group(1))
        assert len(rec.imu) == 1
        assert rec.imu[0].placement == ("right_thigh" if action >= 22 else "right_wrist"), rec_id


def test_pose_spans_the_inertial_clip(recordings):
    for rec in recordings.values():
        frames = rec.pose.data.shape[0]
        assert rec.pose.rate == pytest.approx(frames / rec.imu[0].duration)
        assert rec.pose.duration == pytest.approx(rec.imu[0].duration)
        assert rec.pose.data.shape[1:] == (20, 3) and rec.pose.skeleton == "kinect20"
    rec = recordings["utd-mhad/a1_s1_t1"]
    assert rec.imu[0].duration == pytest.approx(3.2) and rec.pose.rate == pytest.approx(15.0)
    # Canonical mapping works on every clip (the encoders see this, not Kinect joints).
    assert rec.pose.canonical().shape == (48, 16, 3)


def test_depth_video_is_linked(utd_dir, recordings):
    rec = recordings["utd-mhad/a1_s1_t1"]
    video = utd_dir / "depth-video" / "a1_s1_t1_depth.mp4"
    assert rec.video is not None and rec.video.path == str(video)
    assert rec.video.duration == pytest.approx(rec.duration) and rec.video.offset == 0.0
    assert rec.sources == [str(utd_dir / "inertial" / "a1_s1_t1_inertial.mat"),
                           str(utd_dir / "skeleton" / "a1_s1_t1_skeleton.mat"), str(video)]
    assert rec.modalities() == ["imu", "pose", "video"]
    assert sum(r.video is not None for r in recordings.values()) == 861


# ----------------------------------------------------------------------------- broken copies

GOOD, TRUNCATED, GARBAGE, EMPTY, NO_SKELETON, WRONG_SHAPE = (
    "a1_s1_t1", "a2_s1_t1", "a3_s1_t1", "a4_s1_t1", "a5_s1_t1", "a6_s1_t1")


@pytest.fixture
def broken_copy(utd_dir, tmp_path) -> Path:
    """A UTD-like folder in tmp_path: real files for six clips, five of them then broken."""
    root = tmp_path / "utd"
    for sub in ("inertial", "skeleton"):
        (root / sub).mkdir(parents=True)
    shutil.copyfile(utd_dir / "actions.csv", root / "actions.csv")
    for stem in (GOOD, TRUNCATED, GARBAGE, EMPTY, NO_SKELETON, WRONG_SHAPE):
        for sub in ("inertial", "skeleton"):
            shutil.copyfile(utd_dir / sub / f"{stem}_{sub}.mat", root / sub / f"{stem}_{sub}.mat")
    iner = lambda stem: root / "inertial" / f"{stem}_inertial.mat"  # noqa: E731
    blob = iner(TRUNCATED).read_bytes()
    iner(TRUNCATED).write_bytes(blob[: len(blob) // 2])
    iner(GARBAGE).write_bytes(np.random.default_rng(0).bytes(4000))
    iner(EMPTY).write_bytes(b"")
    (root / "skeleton" / f"{NO_SKELETON}_skeleton.mat").unlink()
    scipy.io.savemat(iner(WRONG_SHAPE), {"d_iner": np.zeros((100, 3))})
    return root


def test_broken_files_are_named_with_a_reason_and_the_rest_loads(broken_copy):
    entries = {e.id.split("/")[1]: e for e in discover(broken_copy)}
    assert len(entries) == 6
    rec = entries[GOOD].load()
    assert rec.imu[0].data.shape[1] == 6 and rec.video is None  # no depth-video folder in the copy
    expected = {
        TRUNCATED: (f"inertial/{TRUNCATED}_inertial.mat", "not a readable MATLAB file"),
        GARBAGE: (f"inertial/{GARBAGE}_inertial.mat", "not a readable MATLAB file"),
        EMPTY: (f"inertial/{EMPTY}_inertial.mat", "file is empty"),
        NO_SKELETON: (f"skeleton/{NO_SKELETON}_skeleton.mat", "file is missing"),
        WRONG_SHAPE: (f"inertial/{WRONG_SHAPE}_inertial.mat", r"expected d_iner of shape \(N, 6\), got \(100, 3\)"),
    }
    for stem, (rel, reason) in expected.items():
        with pytest.raises(BadInput, match=reason) as info:
            entries[stem].load()
        assert info.value.path == str(broken_copy / rel)


def test_a_clip_whose_action_is_not_in_actions_csv_is_reported_not_dropped(broken_copy):
    shutil.copyfile(broken_copy / "inertial" / f"{GOOD}_inertial.mat", broken_copy / "inertial" / "a99_s1_t1_inertial.mat")
    entries = {e.id: e for e in discover(broken_copy)}
    assert "utd-mhad/a99_s1_t1" in entries
    with pytest.raises(BadInput, match="action 99 is not in actions.csv") as info:
        entries["utd-mhad/a99_s1_t1"].load()
    assert info.value.path == str(broken_copy / "inertial" / "a99_s1_t1_inertial.mat")


def test_a_folder_without_actions_csv_fails_naming_it(broken_copy):
    (broken_copy / "actions.csv").unlink()
    with pytest.raises(BadInput, match="missing actions.csv") as info:
        discover(broken_copy, "utd-mhad")
    assert info.value.path == str(broken_copy / "actions.csv")


def test_nan_in_a_real_file_is_reported(broken_copy):
    path = broken_copy / "inertial" / f"{GOOD}_inertial.mat"
    data = scipy.io.loadmat(str(path))["d_iner"]
    data[5, 2] = math.nan
    scipy.io.savemat(path, {"d_iner": data})
    entry = next(e for e in discover(broken_copy) if e.id.endswith(GOOD))
    with pytest.raises(BadInput, match="1 NaN/inf") as info:
        entry.load()
    assert info.value.path == str(path)
