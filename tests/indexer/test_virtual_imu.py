"""Virtual IMUs from skeletons (indexer.virtual_imu), against hand-computed cases."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from indexer.bodyparts import CANONICAL_JOINTS
from indexer.importers.example import _example_pose
from indexer.virtual_imu import PLACEMENTS, imu_from_frames, random_mount, virtual_imu

RATE = 100.0


def test_a_segment_at_rest_reads_gravity_up_in_its_own_frame():
    t = 200
    positions = np.zeros((t, 3))
    upright = np.broadcast_to(np.eye(3), (t, 3, 3))  # sensor y axis points up
    imu = imu_from_frames(positions, upright, RATE)
    assert np.allclose(imu[:, :3], [0.0, 9.80665, 0.0], atol=1e-4)
    assert np.allclose(imu[:, 3:], 0.0, atol=1e-6)
    lying = np.broadcast_to(Rotation.from_euler("x", 90, degrees=True).as_matrix(), (t, 3, 3))
    acc = imu_from_frames(positions, lying, RATE)[:, :3]  # y axis now along world z: up is -z
    assert np.allclose(acc, [0.0, 0.0, -9.80665], atol=1e-4)


def test_a_spinning_segment_reads_its_rate():
    t, omega = 300, 2.0  # rad/s about the world's vertical
    times = np.arange(t) / RATE
    rotations = Rotation.from_rotvec(np.outer(omega * times, [0, 1, 0])).as_matrix()
    gyr = imu_from_frames(np.zeros((t, 3)), rotations, RATE)[:, 3:]
    assert np.allclose(gyr, [0.0, omega, 0.0], atol=1e-6)


def test_a_circling_sensor_reads_centripetal_force():
    t, omega, radius = 400, 3.0, 0.5
    times = np.arange(t) / RATE
    positions = radius * np.stack([np.cos(omega * times), np.zeros(t), np.sin(omega * times)], 1)
    acc = imu_from_frames(positions, np.broadcast_to(np.eye(3), (t, 3, 3)), RATE)[20:-20, :3]
    horizontal = np.linalg.norm(acc[:, [0, 2]], axis=1)
    assert np.allclose(horizontal, omega**2 * radius, rtol=0.02)
    assert np.allclose(acc[:, 1], 9.80665, atol=1e-3)


def test_mounting_rotation_changes_axes_not_magnitudes():
    pose = _example_pose(300, RATE, 0.0)
    rng = np.random.default_rng(1)
    for placement in ("right_wrist", "left_shin", "pelvis", "head", "right_upper_arm", "left_foot"):
        plain = virtual_imu(pose, RATE, placement)
        turned = virtual_imu(pose, RATE, placement, mount=random_mount(rng))
        assert not np.allclose(plain[:, :3], turned[:, :3], atol=1e-2)
        for sl in (slice(0, 3), slice(3, 6)):
            assert np.allclose(np.linalg.norm(plain[:, sl], axis=1), np.linalg.norm(turned[:, sl], axis=1), atol=1e-3)


def test_every_placement_with_a_chain_gets_a_finite_imu():
    pose = _example_pose(120, 30.0, 0.5)
    assert {"right_wrist", "left_forearm", "right_thigh", "left_foot", "chest", "head", "pelvis"} <= set(PLACEMENTS)
    for placement in PLACEMENTS:
        imu = virtual_imu(pose, 30.0, placement)
        assert imu.shape == (120, 6) and np.isfinite(imu).all()
        assert np.linalg.norm(imu[:, :3], axis=1).mean() == pytest.approx(9.81, abs=3.0)
    assert len(CANONICAL_JOINTS) == pose.shape[1]
