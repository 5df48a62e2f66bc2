"""The motion composer (encoders.compose): every primitive is physically sound (constant bones,
bounded accelerations, nothing under the floor), sides mirror exactly, postures change the way
the primitive's name says, a real clip drives what the primitive leaves, and the takes become
Recordings the ordinary windowing reads."""
import numpy as np
import pytest

from encoders import compose as C
from indexer.virtual_imu import virtual_imu
from indexer.windows import WindowSpec, recording_windows

J = C.J
NAMES = list(C.PRIMITIVES)
G = 9.80665


def _rest() -> np.ndarray:
    """A synthetic standing clip (as a real idle take would be), at some heading and place."""
    return C.compose("stand_still", np.random.default_rng(7)).pose


@pytest.fixture(scope="module")
def takes() -> dict[str, list[C.ComposedTake]]:
    """Two takes of every primitive: the default body alone, and a smaller body over a rest clip."""
    rest = _rest()
    small = C.DEFAULT_BODY.scaled(0.88)
    return {name: [C.compose(name, np.random.default_rng([1, i])),
                   C.compose(name, np.random.default_rng([2, i]), body=small, rest=rest)]
            for i, name in enumerate(NAMES)}


def _joint(take: C.ComposedTake, name: str) -> np.ndarray:
    return take.pose[:, J[name]].astype(np.float64)


def test_the_primitives_the_brief_names_are_there():
    wanted = {"sit_down_chair", "stand_up_chair", "sit_down_floor", "get_up_floor", "lie_down", "get_up_lying",
              "fall_forward", "fall_backward", "fall_sideways", "fall_from_sitting", "stairs_up", "stairs_down", "pick_up",
              "reach_forward", "reach_up", "reach_side", "push", "pull", "throw", "clap", "drink", "eat", "phone",
              "brush_teeth", "comb_hair", "swipe_left", "swipe_right", "circle_clockwise", "circle_counterclockwise",
              "draw_triangle", "draw_x", "wave", "arm_circles", "kick", "punch", "squat", "lunge", "jumping_jacks", "jump",
              "walk", "jog", "run", "stand_still", "arm_curl", "knock", "stretch_up"}
    assert wanted <= set(NAMES)
    for prim in C.PRIMITIVES.values():
        assert len(prim.captions) >= 3 and len(set(prim.captions)) == len(prim.captions)
        assert prim.handed == any("{side}" in t for t in prim.captions), prim.name


def test_every_primitive_is_a_sound_skeleton_motion(takes):
    for name, pair in takes.items():
        for take in pair:
            p = take.pose
            assert take.name == name and p.dtype == np.float32 and p.ndim == 3 and p.shape[1:] == (16, 3), name
            assert np.isfinite(p).all(), name
            assert 2.0 <= len(p) / take.rate <= 25.0, (name, len(p) / take.rate)
            for a, b in C.BONES:
                length = np.linalg.norm(_joint(take, a) - _joint(take, b), axis=-1)
                assert np.ptp(length) < 0.01, (name, a, b, np.ptp(length))
            assert p[..., 1].min() > -0.02, (name, "below the floor", p[..., 1].min())
            step = np.linalg.norm(np.diff(p, axis=0), axis=-1).max() * take.rate
            assert step < 12.0, (name, "a joint jumps", step)  # m/s: no teleporting
            assert take.captions and all("{side}" not in t for t in take.captions), name
            assert (take.side in ("left", "right")) == C.PRIMITIVES[name].handed, name


def test_virtual_imus_stay_physical(takes):
    for name, pair in takes.items():
        for take in pair:
            for placement in ("right_wrist", "left_wrist", "pelvis"):
                imu = virtual_imu(take.pose, take.rate, placement)
                assert np.isfinite(imu).all(), (name, placement)
                peak = np.linalg.norm(imu[:, :3], axis=-1).max()
                assert peak < 10 * G, (name, placement, peak / G)


def _travel(x: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(x, axis=0), axis=-1).sum())


def test_handed_primitives_move_their_own_side():
    for name in ("wave", "drink", "phone", "circle_clockwise", "knock", "comb_hair"):
        for side, other in (("right", "left"), ("left", "right")):
            take = C.compose(name, np.random.default_rng(3), side=side)
            assert take.side == side and any(side in t for t in take.captions)
            mine, theirs = _travel(_joint(take, f"{side}_wrist")), _travel(_joint(take, f"{other}_wrist"))
            assert mine > 3 * theirs, (name, side, mine, theirs)


def test_left_is_the_exact_mirror_of_right():
    """Same draws, other side: every distance between joints is the same with left and right swapped."""
    swap = [J[j.replace("left", "#").replace("right", "left").replace("#", "right")] for j in J]
    for name in ("wave", "fall_sideways", "kick"):
        right = C.compose(name, np.random.default_rng(11), side="right").pose.astype(np.float64)
        left = C.compose(name, np.random.default_rng(11), side="left").pose.astype(np.float64)
        d_right = np.linalg.norm(right[:, :, None] - right[:, None, :], axis=-1)
        d_left = np.linalg.norm(left[:, swap][:, :, None] - left[:, swap][:, None, :], axis=-1)
        assert np.abs(d_right - d_left).max() < 1e-3, name
        assert not np.allclose(right, left[:, swap], atol=1e-3)  # and the takes themselves differ


def test_postures_change_as_named():
    for seed in range(3):
        def pelvis(name: str, seed: int = seed) -> np.ndarray:
            return _joint(C.compose(name, np.random.default_rng(seed)), "pelvis")[:, 1]

        sit, stand = pelvis("sit_down_chair"), pelvis("stand_up_chair")
        assert sit[-1] < sit[0] - 0.25 and stand[-1] > stand[0] + 0.25
        floor, up = pelvis("sit_down_floor"), pelvis("get_up_floor")
        assert floor[0] > 0.8 and floor[-1] < 0.3 and up[0] < 0.3 and up[-1] > 0.8
        lie = C.compose("lie_down", np.random.default_rng(seed))
        trunk = _joint(lie, "neck")[-1] - _joint(lie, "pelvis")[-1]
        assert _joint(lie, "pelvis")[-1, 1] < 0.25 and abs(trunk[1]) < 0.5 * np.linalg.norm(trunk)


def test_falls_end_on_the_floor_with_the_trunk_flat():
    for name in ("fall_forward", "fall_backward", "fall_sideways", "fall_from_sitting"):
        for seed in range(3):
            take = C.compose(name, np.random.default_rng(seed))
            pelvis, neck = _joint(take, "pelvis"), _joint(take, "neck")
            start = 0.8 if name != "fall_from_sitting" else 0.4
            assert pelvis[0, 1] > start, (name, pelvis[0, 1])
            assert pelvis[-1, 1] < 0.3, (name, pelvis[-1, 1])
            trunk = neck[-1] - pelvis[-1]
            tilt = np.degrees(np.arcsin(abs(trunk[1]) / np.linalg.norm(trunk)))
            assert tilt < 30, (name, seed, tilt)


def test_stairs_raise_and_lower_the_body_steadily():
    for seed in range(3):
        up = _joint(C.compose("stairs_up", np.random.default_rng(seed)), "pelvis")[:, 1]
        down = _joint(C.compose("stairs_down", np.random.default_rng(seed)), "pelvis")[:, 1]
        assert up[-1] - up[0] > 0.3 and down[0] - down[-1] > 0.3
        # steadily: never more than a few centimetres below the highest point reached so far
        assert (np.maximum.accumulate(up) - up).max() < 0.08
        assert (down - np.minimum.accumulate(down)).max() < 0.08


def test_jumps_lift_both_feet_off_the_floor():
    for name, lift in (("jump", 0.08), ("jumping_jacks", 0.02)):
        for seed in range(3):
            take = C.compose(name, np.random.default_rng(seed))
            left, right = _joint(take, "left_ankle")[:, 1], _joint(take, "right_ankle")[:, 1]
            both = np.minimum(left - left[0], right - right[0])
            assert both.max() > lift, (name, seed, both.max())


def test_feet_stay_planted_under_arm_gestures(takes):
    for name, pair in takes.items():
        if not C.PRIMITIVES[name].drives <= {"left_arm", "right_arm"}:
            continue
        for take in pair:
            for side in ("left", "right"):
                ankle = _joint(take, f"{side}_ankle")
                assert np.ptp(ankle[:, [0, 2]], axis=0).max() < 0.02, (name, side)
                assert np.ptp(ankle[:, 1]) < 0.02, (name, side)


def test_a_rest_clip_drives_the_joints_a_primitive_leaves():
    """Over a clip whose left arm is held out sideways, a right-hand wave keeps that left arm."""
    rest = _rest().astype(np.float64)
    left = C._unit(rest[:, J["left_shoulder"]] - rest[:, J["right_shoulder"]])
    rest[:, J["left_elbow"]] = rest[:, J["left_shoulder"]] + 0.28 * left
    rest[:, J["left_wrist"]] = rest[:, J["left_elbow"]] + 0.25 * left
    take = C.compose("wave", np.random.default_rng(5), rest=rest, side="right")
    shoulder, wrist = _joint(take, "left_shoulder"), _joint(take, "left_wrist")
    assert np.abs(wrist[:, 1] - shoulder[:, 1]).max() < 0.05  # held level with the shoulder all along
    plain = C.compose("wave", np.random.default_rng(5), side="right")
    assert (_joint(plain, "left_shoulder")[:, 1] - _joint(plain, "left_wrist")[:, 1]).min() > 0.3  # else it hangs
    assert (_joint(take, "right_wrist")[:, 1] > _joint(take, "head")[:, 1] - 0.25).any()  # and the wave is there


def test_a_composed_body_reads_back_as_itself():
    body = C.DEFAULT_BODY.scaled(1.1)
    take = C.compose("walk", np.random.default_rng(2), body=body)
    back = C.body_from_pose(take.pose)
    for f in ("spine", "upper_spine", "neck", "upper_arm", "forearm", "thigh", "shin"):
        assert abs(getattr(back, f) - getattr(body, f)) < 2e-3, f
    assert np.allclose(back.shoulder, body.shoulder, atol=0.01) and np.allclose(back.hip, body.hip, atol=0.01)


def test_takes_are_deterministic():
    a = [t.pose for t in C.composed_takes(1, seed=4)]
    b = [t.pose for t in C.composed_takes(1, seed=4)]
    assert len(a) == len(NAMES) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], next(iter(C.composed_takes(1, seed=5))).pose)


def test_composed_recordings_cut_into_windows():
    recs = C.composed_recordings(1, seed=3)
    assert len(recs) == len(NAMES) and len({r.id for r in recs}) == len(recs)
    for rec in recs:
        assert rec.id.startswith("composed/") and rec.dataset == "composed" and rec.pose.skeleton == "canonical"
        assert rec.labels == [rec.text[0].text] and len(rec.text) == len(C.PRIMITIVES[rec.id.split("/")[1]].captions)
        windows = recording_windows(rec, WindowSpec(5.0, 1.0), {"pose": 25.0})
        assert windows and all(w.data.shape == (125, 16, 3) and np.isfinite(w.data).all() for w in windows)
        assert rec.window_label(windows[0].t_start, windows[0].t_end)


def test_real_mocap_gives_bodies_and_rest_clips(cmu_dir):
    bodies, rests = C.bodies_and_rests([cmu_dir], per_folder=20)
    assert bodies and all(0.6 < b.leg < 1.1 for b in bodies)
    for rest in rests:
        assert rest.shape[1:] == (16, 3) and len(rest) >= C.QUIET_SECONDS * 30
    for i, name in enumerate(("wave", "sit_down_chair", "walk")):
        body = bodies[i % len(bodies)]
        take = C.compose(name, np.random.default_rng(i), body=body, rest=rests[i % len(rests)] if rests else None)
        forearm = np.linalg.norm(_joint(take, "right_wrist") - _joint(take, "right_elbow"), axis=-1)
        assert np.abs(forearm - body.forearm).max() < 1e-3
    recs = C.composed_recordings(1, seed=0, bvh_folders=[cmu_dir])
    assert len(recs) == len(NAMES)


def _performer_view(take: C.ComposedTake, joint: str) -> np.ndarray:
    """(T, 2) a joint's path relative to the chest as the performer sees it: their right, up."""
    p = take.pose.astype(np.float64)
    left = C._unit(p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]])
    rel = p[:, J[joint]] - p[:, J["chest"]]
    return np.stack([-(rel * left).sum(-1), rel[:, 1]], -1)


def test_circles_and_swipes_go_the_way_their_captions_say():
    for side in ("right", "left"):
        for name, sign in (("circle_clockwise", -1), ("circle_counterclockwise", 1)):
            xy = _performer_view(C.compose(name, np.random.default_rng(4), side=side), f"{side}_wrist")
            area = 0.5 * np.sum(xy[:-1, 0] * xy[1:, 1] - xy[1:, 0] * xy[:-1, 1])  # > 0 counterclockwise
            assert sign * area > 0.02, (name, side, area)
        for name, sign in (("swipe_left", -1), ("swipe_right", 1)):
            xy = _performer_view(C.compose(name, np.random.default_rng(4), side=side), f"{side}_wrist")
            v = np.gradient(xy[:, 0])
            fast = np.abs(v) > 0.5 * np.abs(v).max()
            assert sign * v[fast].sum() > 0, (name, side)  # the quick strokes run toward the named side
