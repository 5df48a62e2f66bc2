"""Pretraining data from mocap alone (encoders.pretrain): virtual-IMU copies of each take."""
import numpy as np

from encoders.pretrain import Augment, captions, mirror_pose, mirrored_caption, synthetic_recordings
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.importers.archive import _example_pose
from indexer.model import PoseStream, Recording, TextSpan


def _take(labels, text):
    pose = PoseStream(_example_pose(150, 30.0, 0.0).astype(np.float32), 30.0, "canonical", list(CANONICAL_JOINTS))
    return Recording("mocap/t1", "mocap", labels=labels, pose=pose, text=[TextSpan(0, 5, text)])


def test_mirroring_swaps_sides_in_pose_and_caption():
    assert mirrored_caption("waves the left hand, then the Right") == "waves the right hand, then the Left"
    pose = _example_pose(10, 30.0, 0.0)
    mirrored = mirror_pose(pose)
    lw, rw = CANONICAL_JOINTS.index("left_wrist"), CANONICAL_JOINTS.index("right_wrist")
    assert np.allclose(mirrored[:, lw, 0], -pose[:, rw, 0]) and np.allclose(mirrored[:, lw, 1:], pose[:, rw, 1:])
    assert np.allclose(mirror_pose(mirrored), pose)


def test_stylised_takes_get_paraphrased_captions():
    take = _take(["wave left hand", "elderly"], "wave left hand, elderly style")
    assert "wave left hand in a elderly way" in captions(take) and "wave left hand" in captions(take)
    assert captions(_take(["walk"], "walk")) == ["walk"]


def test_copies_carry_a_virtual_imu_its_pose_and_a_caption():
    take = _take(["wave left hand", "elderly"], "wave left hand, elderly style")
    made = synthetic_recordings(take, np.random.default_rng(0), Augment(copies=12))
    assert len(made) == 12
    assert len({r.imu[0].placement for r in made}) > 3
    assert {r.imu[0].rate for r in made} <= {25.0, 50.0, 100.0}
    for r in made:
        assert r.imu[0].data.shape[1] == 6 and np.isfinite(r.imu[0].data).all()
        assert abs(r.imu[0].duration - 5.0) < 0.05 and r.pose.duration == 5.0
        assert r.labels == [r.text[0].text]
        lw = CANONICAL_JOINTS.index("left_wrist")  # the arms swing in opposite phase
        assert ("right" in r.labels[0]) == (not np.isclose(r.pose.data[10, lw, 2], take.pose.data[10, lw, 2]))
