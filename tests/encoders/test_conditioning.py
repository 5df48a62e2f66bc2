"""What the IMU tower is told besides the signal (encoders.conditioning): a mounting-free view
of the signal, and where the sensor sits."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from encoders.conditioning import BONES, facing_frame, gravity_frame, heading_frame, placement_ids, uniform_bones
from encoders.factory import create_model
from encoders.features import pose_features
from encoders.model import Encoder, default_config
from encoders.pretrain import pretrain_config, turn_about_vertical
from encoders.text import minilm_available
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.importers import demo
from indexer.windows import Window

TINY = {"width": 8, "hidden": 8}


def _demo_imu() -> tuple[np.ndarray, float]:
    rec = demo.make_recording("waving", "1", "1")
    return rec.imu[0].data[:250].astype(np.float32), rec.imu[0].rate


def test_gravity_frame_is_the_same_at_any_mounting():
    x, rate = _demo_imu()
    rot = Rotation.random(random_state=3).as_matrix().astype(np.float32)
    turned = np.concatenate([x[:, :3] @ rot.T, x[:, 3:] @ rot.T], axis=1)
    valid = torch.tensor([len(x)])
    a = gravity_frame(torch.from_numpy(x)[None], valid, rate)
    b = gravity_frame(torch.from_numpy(turned)[None], valid, rate)
    assert torch.allclose(a, b, atol=1e-4)
    # ... while the raw axes differ a lot: the invariance is not trivial
    assert np.abs(x - turned).max() > 1.0


def test_gravity_frame_sees_a_sensor_at_rest_as_level_and_still():
    still = np.tile(np.array([[0.0, 0.0, 9.80665, 0.0, 0.0, 0.0]], np.float32), (100, 1))
    f = gravity_frame(torch.from_numpy(still)[None], torch.tensor([100]), 50.0)[0]
    assert torch.allclose(f, torch.zeros(100, 7), atol=1e-5)  # no force beyond gravity, no turn, no tilt


def test_linear_acceleration_reads_like_the_same_motion_with_gravity():
    """A device that removes gravity (a phone's linear acceleration) gives the horizontal and
    magnitude features of the same motion worn level, not garbage from a guessed vertical."""
    t = np.arange(250) / 50.0
    swing = np.stack([3 * np.sin(2 * np.pi * t), np.zeros_like(t), np.zeros_like(t)], 1)
    with_g = np.concatenate([swing + [0, 0, 9.80665], np.zeros((250, 3))], 1).astype(np.float32)
    linear = np.concatenate([swing, np.zeros((250, 3))], 1).astype(np.float32)
    a = gravity_frame(torch.from_numpy(with_g)[None], torch.tensor([250]), 50.0)[0]
    b = gravity_frame(torch.from_numpy(linear)[None], torch.tensor([250]), 50.0)[0]
    assert torch.allclose(a[:, 1], b[:, 1], atol=1e-4)  # horizontal force
    assert torch.all(b[:, [0, 3, 5]] == 0)  # no vertical without gravity


def test_padded_steps_are_zero_and_do_not_move_the_gravity_estimate():
    x, rate = _demo_imu()
    padded = np.concatenate([x[:120], np.full((130, 6), 50.0, np.float32)])
    a = gravity_frame(torch.from_numpy(x[:120])[None], torch.tensor([120]), rate)[0]
    b = gravity_frame(torch.from_numpy(padded)[None], torch.tensor([120]), rate)[0]
    assert torch.all(b[120:] == 0)
    assert torch.allclose(a[:100], b[:100], atol=1e-4)  # away from the tilt filter's edge


def test_placement_ids_map_unknown_names_to_zero():
    ids = placement_ids(["right_wrist", "all", None, "left_thigh"], 4)
    assert ids[0] > 0 and ids[3] > 0 and ids[0] != ids[3]
    assert ids[1] == 0 and ids[2] == 0


@pytest.mark.parametrize("arch", ["cnn_gru", "patch_transformer"])
def test_an_encoder_reads_the_window_placement(arch):
    """The same signal embeds differently worn on the wrist and on the thigh once the placement
    embedding is trained (here: set by hand), and a window of unknown placement still embeds."""
    params = {"dim": 32, "layers": 1, "heads": 2} if arch == "patch_transformer" else {"width": 8, "hidden": 8}
    config = default_config(arch, embed_dim=16, params=params, frame="gravity", placement=True)
    model = create_model(config, seed=0)
    with torch.no_grad():
        model.towers["imu"].placement.offset.weight.normal_()
    enc = Encoder(model, config, "", "")
    x, _ = _demo_imu()
    windows = [Window("r", "imu", part, 0.0, 5.0, x, len(x)) for part in ("right_wrist", "right_thigh", "all")]
    v = enc.encode(windows)
    assert v.shape == (3, 16) and np.isfinite(v).all()
    assert np.abs(v[0] - v[1]).max() > 1e-3
    blind = Encoder(create_model(default_config(arch, embed_dim=16, params=params), seed=0), config, "", "")
    b = blind.encode(windows)
    assert np.allclose(b[0], b[1]) and np.allclose(b[0], b[2])  # a placement-blind tower ignores it


def test_heading_frame_is_the_same_at_any_mounting_and_facing():
    """The signed horizontal components do not depend on how the sensor is strapped on nor on
    which way the person faces (a turn about the vertical)."""
    x, rate = _demo_imu()
    valid = torch.tensor([len(x)])
    rot = Rotation.random(random_state=5).as_matrix().astype(np.float32)
    turned = np.concatenate([x[:, :3] @ rot.T, x[:, 3:] @ rot.T], axis=1)
    a = heading_frame(torch.from_numpy(x)[None], valid, rate)
    b = heading_frame(torch.from_numpy(turned)[None], valid, rate)
    assert a.shape == (1, len(x), 13)
    assert torch.allclose(a, b, atol=1e-3)
    assert torch.allclose(a[..., :7], gravity_frame(torch.from_numpy(x)[None], valid, rate), atol=1e-5)


def test_heading_frame_tells_apart_the_shapes_the_gravity_frame_cannot():
    """A hand drawing a horizontal line and one drawing a horizontal figure of eight swing the
    same amount overall; the gravity frame's magnitudes barely differ, the heading frame's
    second axis does."""
    rate, t = 50.0, np.arange(250) / 50.0
    def imu(path):
        acc = np.gradient(np.gradient(path, t, axis=0), t, axis=0) + [0, 0, 9.80665]
        return torch.from_numpy(np.concatenate([acc, np.zeros_like(acc)], 1).astype(np.float32))[None]
    w = 2 * np.pi * t
    line = np.stack([0.3 * np.sin(w), 0 * t, 0 * t], 1)
    eight = np.stack([0.3 * np.sin(w), 0.15 * np.sin(2 * w), 0 * t], 1)
    valid = torch.tensor([250])
    a, b = heading_frame(imu(line), valid, rate)[0], heading_frame(imu(eight), valid, rate)[0]
    assert a[:, 8].abs().max() < 0.01 < b[:, 8].abs().max()  # nothing square to a line's axis; the eight has it
    assert torch.all(heading_frame(imu(line) - torch.tensor([0, 0, 9.80665, 0, 0, 0]), valid, rate)[0, :, 7:] == 0)


def test_gravity_frame_keeps_which_way_a_swipe_turns_at_any_mounting():
    """A swipe turns the forearm about the vertical, and the rate about the vertical keeps its
    sign whatever the mounting: composed right-hand swipes to the left turn one way and swipes to
    the right the other, each worn at a random mounting. So it is the words, not the features,
    that lose a swipe's direction (docs/words.md, section 8)."""
    from encoders.compose import compose
    from indexer.virtual_imu import random_mount, virtual_imu

    def turn(name: str, seed: int) -> float:
        rng = np.random.default_rng(seed)
        take = compose(name, rng, side="right")
        imu = virtual_imu(take.pose.astype(np.float64), take.rate, "right_wrist", random_mount(rng, 180.0))
        rate_v = gravity_frame(torch.tensor(imu[None], dtype=torch.float32), torch.tensor([len(imu)]), take.rate)[0, :, 3]
        return float((rate_v**3).mean() / (rate_v**2).mean() ** 1.5)  # skew: which way the quick turns go

    for seed in range(1, 6):
        assert turn("swipe_left", seed) < -1.0 and turn("swipe_right", seed) > 1.0, seed


def _turn_about_vertical(features: np.ndarray, degrees: float) -> np.ndarray:
    """Pose features (T, 3 * J + 3) of the same motion done facing `degrees` further round."""
    return turn_about_vertical(features.reshape(len(features), -1, 3), degrees).reshape(features.shape)


def _demo_pose_features(action: str = "waving") -> np.ndarray:
    rec = demo.make_recording(action, "1", "1")
    return pose_features(rec.pose.canonical()[:125])


def test_facing_frame_is_the_same_whichever_way_the_body_faces():
    """A skeleton arrives in its capture room's axes (a Kinect's subject faces the camera, a
    mocap take wherever the room points); the facing frame turns every window to face one way:
    the body's left along +x."""
    x = _demo_pose_features()
    valid = torch.tensor([len(x)])
    base = facing_frame(torch.from_numpy(x)[None], valid)
    for degrees in (37.0, 180.0, -100.0):
        turned = _turn_about_vertical(x, degrees)
        assert np.abs(turned - x).max() > 0.1  # the room's axes differ a lot
        assert torch.allclose(facing_frame(torch.from_numpy(turned)[None], valid), base, atol=1e-5)
    joints = base[0].reshape(len(x), -1, 3).numpy()
    left, right = CANONICAL_JOINTS.index("left_shoulder"), CANONICAL_JOINTS.index("right_shoulder")
    assert (joints[:, left, 0] > joints[:, right, 0]).all()
    with pytest.raises(ValueError, match="3-D canonical joints"):
        facing_frame(torch.zeros(1, 10, 34), torch.tensor([10]))
    with pytest.raises(ValueError, match="3-D canonical joints"):  # a 2-D pose tower cannot read it
        create_model(default_config(params=TINY).with_tower("pose", params={"groups": 1, **TINY, "frame": "facing"},
                                                            in_features=34, dims=2))


@pytest.mark.skipif(not minilm_available(), reason="pretraining's text tower (MiniLM) is not installed")
@pytest.mark.parametrize("frame", ["facing", "body"])
def test_a_pose_tower_in_the_facing_frame_embeds_a_turned_body_alike(frame):
    """`pretrain --pose-frame facing`: the pose tower reads the facing frame, so the same wave
    done facing the camera or the room's far wall gives one vector; the room-frame tower tells
    them apart."""
    x = _demo_pose_features()
    windows = [Window("r", "pose", "", 0.0, 5.0, canon, len(canon)) for canon in
               (x[:, :48].reshape(len(x), 16, 3), _turn_about_vertical(x, 120.0)[:, :48].reshape(len(x), 16, 3))]
    config = pretrain_config("cnn_gru", {"width": 8, "hidden": 8}, pose_frame=frame)
    assert config.towers["pose"].params["frame"] == frame and "frame" not in default_config().towers["pose"].params
    facing = Encoder(create_model(config, seed=0), config, "", "").encode(windows)
    assert np.abs(facing[0] - facing[1]).max() < 1e-4
    room_config = pretrain_config("cnn_gru", {"width": 8, "hidden": 8})
    room = Encoder(create_model(room_config, seed=0), room_config, "", "").encode(windows)
    assert np.abs(room[0] - room[1]).max() > 1e-3
    with pytest.raises(ValueError, match="pose_frame"):
        pretrain_config("cnn_gru", pose_frame="camera")


def test_body_frame_shows_a_small_and_a_tall_body_alike():
    """`--pose-frame body`: the facing frame with each bone set to one length along its own
    direction, so two skeletons whose joints sit differently (a short body, long arms) doing
    the same wave read as one body; the facing frame alone keeps their sizes."""
    x = _demo_pose_features()
    valid = torch.tensor([len(x)])
    joints = x[:, :48].reshape(len(x), 16, 3)
    other = joints * 0.8
    other[:, CANONICAL_JOINTS.index("right_wrist")] += 0.3 * (joints[:, CANONICAL_JOINTS.index("right_wrist")]
                                                              - joints[:, CANONICAL_JOINTS.index("right_elbow")])
    y = np.concatenate([other.reshape(len(x), 48), x[:, 48:]], axis=1)
    a, b = (uniform_bones(facing_frame(torch.from_numpy(v)[None], valid), valid)[0].numpy() for v in (x, y))
    assert np.abs(a - b).max() < 1e-4
    assert np.abs(facing_frame(torch.from_numpy(x)[None], valid) - facing_frame(torch.from_numpy(y)[None], valid)).max() > 0.05
    out = a[:, :48].reshape(len(x), 16, 3)
    for joint, (parent, length) in BONES.items():
        bone = np.linalg.norm(out[:, CANONICAL_JOINTS.index(joint)] - out[:, CANONICAL_JOINTS.index(parent)], axis=-1)
        assert np.allclose(bone, length, atol=1e-4)
    assert np.array_equal(a[:, 48:], facing_frame(torch.from_numpy(x)[None], valid)[0, :, 48:].numpy())  # the path
