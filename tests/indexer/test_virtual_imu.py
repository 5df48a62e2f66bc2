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


def _arm(times: np.ndarray, bend_degrees: float, jitter: float = 0.0, seed: int = 0) -> np.ndarray:
    """(T, 16, 3) a still body whose right arm sweeps a cone in front of it (2 rad/s), the elbow
    bent by `bend_degrees` in the arm's vertical plane; joints jittered by `jitter` metres."""
    pose = np.tile(_example_pose(1, RATE, 0.0), (len(times), 1, 1))
    j = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
    shoulder = pose[0, j["right_shoulder"]]
    phase = 2.0 * times
    along = np.stack([0.3 * np.cos(phase), 0.3 * np.sin(phase), np.ones_like(phase)], 1)
    along /= np.linalg.norm(along, axis=1, keepdims=True)
    side = np.cross(along, [1.0, 0.0, 0.0])
    side /= np.linalg.norm(side, axis=1, keepdims=True)
    elbow = shoulder + 0.3 * along
    bend = np.deg2rad(bend_degrees)
    pose[:, j["right_elbow"]] = elbow
    pose[:, j["right_wrist"]] = elbow + 0.27 * (np.cos(bend) * along + np.sin(bend) * side)
    rng = np.random.default_rng(seed)
    return pose + jitter * rng.normal(size=pose.shape)


def test_a_straight_arm_does_not_spin_about_itself():
    """Joint positions cannot say how a straight arm turns about its own axis. The arm's plane is
    undefined there, and a frame that follows it would read millimetres of jitter as several
    rad/s of twist, which no real wrist feels (docs/words.md, section 4). The twist of a straight
    arm stays small while the arm itself sweeps at about 2 rad/s."""
    times = np.arange(600) / RATE
    gyr = virtual_imu(_arm(times, 0.5, jitter=0.001), RATE, "right_wrist", limb_frame="carried")[50:-50, 3:]
    twist = np.sqrt(np.mean(gyr[:, 1] ** 2))
    across = np.sqrt(np.mean(gyr[:, 0] ** 2 + gyr[:, 2] ** 2))
    assert across > 0.4
    assert twist < 0.3 * across


def test_a_bent_arm_keeps_its_plane():
    """Where the elbow is bent the forearm's roll is the arm's plane, as before."""
    from indexer.virtual_imu import segment_frames

    times = np.arange(300) / RATE
    pose = _arm(times, 60.0)
    _, rotations = segment_frames(pose, "right_forearm", "carried")
    j = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
    elbow, wrist, shoulder = (pose[:, j[f"right_{n}"]] for n in ("elbow", "wrist", "shoulder"))
    normal = np.cross(wrist - elbow, shoulder - elbow)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    assert np.allclose(rotations[:, :, 2], normal, atol=1e-6)


def test_roll_turns_the_segment_about_its_axis():
    """`roll` is a forearm's pronation: on a still arm its rate is read about the segment's own
    (y) axis, and the specific force keeps its size."""
    times = np.arange(400) / RATE
    pose = _arm(times[:1].repeat(len(times)), 60.0)
    roll = 0.8 * np.sin(3.0 * times)
    plain = virtual_imu(pose, RATE, "right_wrist")
    rolled = virtual_imu(pose, RATE, "right_wrist", roll=roll)
    assert np.allclose(rolled[5:-5, 4], 2.4 * np.cos(3.0 * times[5:-5]), atol=0.02)
    assert np.allclose(rolled[:, [3, 5]], 0.0, atol=1e-6)
    assert np.allclose(np.linalg.norm(rolled[:, :3], axis=1), np.linalg.norm(plain[:, :3], axis=1), atol=1e-4)
    with pytest.raises(ValueError, match="one angle per frame"):
        virtual_imu(pose, RATE, "right_wrist", roll=roll[:10])
