"""Captions from motion (encoders.describe): real mocap takes and the demo's synthetic actions
are described in the words people search with, naming the correct side, whatever the body's
size or heading; mirroring a take swaps every left and right; it is fast enough for every
pretraining window."""
from __future__ import annotations

import re
import time

import numpy as np
import pytest
from conftest import DATA

from encoders.describe import describe, describe_all, motion_facts
from encoders.pretrain import mirror_pose, mirrored_caption, turn_about_vertical
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.importers import bvh, demo

CMU = "cmu-mocap"
BANDAI1 = "bandai-namco/dataset-1/data"
BANDAI2 = "bandai-namco/dataset-2/data"


def take(folder: str, name: str) -> tuple[np.ndarray, float]:
    """(canonical joints, rate) of one real take, read through the BVH importer."""
    path = DATA / folder / f"{name}.bvh"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    rec = bvh.discover(path)[0].load()
    return rec.pose.canonical(), rec.pose.rate


def said(canonical: np.ndarray, rate: float) -> str:
    return " | ".join(describe_all(canonical, rate)).lower()


def demo_pose(action: str, subject: str = "1", seconds: float = 5.0) -> np.ndarray:
    rec = demo.make_recording(action, subject, "1")
    return rec.pose.canonical()[: int(seconds * rec.pose.rate)]


# --- real takes (their labels from the CMU index and the Bandai Namco file names) ---


@pytest.mark.parametrize("folder, name", [(CMU, "02_01"), (CMU, "07_01"), (CMU, "12_01"), (BANDAI2, "dataset-2_walk_normal_001")])
def test_a_walk_is_a_walk(folder, name):
    text = said(*take(folder, name))
    assert re.search(r"\bwalk", text), text
    assert not re.search(r"\b(run|jog|jump|sit|lie|lying|fall)", text), text


@pytest.mark.parametrize("folder, name", [(CMU, "09_01"), (CMU, "02_03"), (BANDAI2, "dataset-2_run_normal_001")])
def test_a_run_is_a_run(folder, name):
    text = said(*take(folder, name))
    assert re.search(r"\b(run|jog)", text), text
    assert not re.search(r"\bwalk", text), text


@pytest.mark.parametrize("name", ["13_39", "13_40", "13_11", "02_04"])
def test_a_jump_is_a_jump(name):
    text = said(*take(CMU, name))
    assert re.search(r"\b(jump|leap)", text), text
    assert not re.search(r"\b(walk|run)", text), text


@pytest.mark.parametrize("hand", ["left", "right"])
def test_the_waving_hand_is_named_and_a_mirror_names_the_other(hand):
    other = "right" if hand == "left" else "left"
    canonical, rate = take(BANDAI2, f"dataset-2_wave-{hand}-hand_normal_001")
    wave = r"wav\w* (with |hello with |goodbye with )?the {} hand"
    text = said(canonical, rate)
    assert re.search(wave.format(hand), text), text
    assert not re.search(wave.format(other), text), text
    assert f"only the {hand} arm" in text  # the other arm hangs still
    mirrored = said(mirror_pose(canonical), rate)
    assert re.search(wave.format(other), mirrored), mirrored
    assert not re.search(wave.format(hand), mirrored), mirrored


@pytest.mark.parametrize("folder, name", [
    (BANDAI2, "dataset-2_wave-left-hand_normal_001"), (BANDAI2, "dataset-2_walk-turn-left_normal_001"),
    (BANDAI2, "dataset-2_raise-up-right-hand_normal_001"), (BANDAI1, "dataset-1_kick_normal_001"),
    (BANDAI1, "dataset-1_punch_normal_002"), ("cmu-mocap-iclone/bvh", "002_05"),
])
def test_a_mirrored_take_swaps_every_left_and_right(folder, name):
    canonical, rate = take(folder, name)
    here = describe_all(canonical, rate)
    assert any(re.search(r"\b(left|right)\b", s) for s in here), here  # there is something to swap
    assert describe_all(mirror_pose(canonical), rate) == [mirrored_caption(s) for s in here]


def test_turns_and_directions_are_the_body_s_own():
    canonical, rate = take(BANDAI2, "dataset-2_walk-turn-left_normal_001")
    text = said(canonical, rate)
    assert re.search(r"turn\w* (90 degrees )?(to the )?left", text) and "right" not in text, text
    assert re.search(r"turn\w* (90 degrees )?(to the )?right", said(mirror_pose(canonical), rate))
    canonical, rate = take(BANDAI1, "dataset-1_walk-back_normal_001")
    assert re.search(r"walk\w* backward", said(canonical, rate))
    # The Bandai "walk left" take walks forward, facing the capture room's left: no turn,
    # no sideways step in the body's frame.
    text = said(*take(BANDAI1, "dataset-1_walk-left_normal_001"))
    assert "walk" in text and "turn" not in text and "sideways" not in text, text


def test_kicks_punches_and_raised_hands():
    assert re.search(r"\bkick", said(*take(BANDAI1, "dataset-1_kick_normal_001")))
    text = said(*take(BANDAI1, "dataset-1_punch_normal_002"))
    assert re.search(r"\bpunch", text) and "kick" not in text, text
    text = said(*take(BANDAI2, "dataset-2_raise-up-right-hand_normal_001"))
    assert re.search(r"(rais|lift)\w* the right (hand|arm)", text) and "wav" not in text, text
    assert re.search(r"(both hands|both arms)", said(*take(BANDAI2, "dataset-2_raise-up-both-hands_normal_001")))


# --- the demo's synthetic actions ---


@pytest.mark.parametrize("action, expect, never", [
    ("walking", r"\bwalk", r"\b(jump|run|wav|punch|squat)"),
    ("waving", r"wav\w* (with )?the right hand", r"\b(walk|jump)|wav\w* (with )?the left"),
    ("jumping jacks", r"jumping jacks", r"\bwalk"),
    ("squat", r"\bsquat", r"\b(jump|walk)"),
    ("arm circles", r"circl\w* the right arm", r"\b(walk|jump)|circl\w* the left"),
    ("boxing", r"\b(punch|box)", r"\b(walk|jump|wav)"),
])
@pytest.mark.parametrize("subject", demo.SUBJECTS)
def test_demo_actions(action, expect, never, subject):
    text = said(demo_pose(action, subject), demo.POSE_RATE)
    assert re.search(expect, text), text
    assert not re.search(never, text), text


def test_size_and_heading_do_not_change_the_words():
    """A child-sized and a tall body, walking or waving towards any direction of the room,
    are described alike."""
    for action in ("walking", "waving"):
        pose = demo_pose(action)
        base = describe_all(pose, demo.POSE_RATE)
        for scale, degrees in ((0.6, 0.0), (1.25, 0.0), (1.0, 90.0), (1.0, -150.0), (0.7, 200.0)):
            assert describe_all(turn_about_vertical(pose * scale, degrees), demo.POSE_RATE) == base, (action, scale, degrees)


# --- postures and their changes, from poses built on the demo skeleton ---

J = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
RATE = 30.0


def _standing() -> np.ndarray:
    return demo.animate("squat", np.zeros(1), 1.0, 1.0, 1.0)[0]  # t = 0: upright, facing +z


def _seated(stand: np.ndarray) -> np.ndarray:
    """Thighs level and forward, shins down, feet on the floor: sitting on a chair."""
    out = stand.copy()
    for side in ("left", "right"):
        hip = stand[J[f"{side}_hip"]]
        out[J[f"{side}_knee"]] = hip + (0, 0, demo.THIGH)
        out[J[f"{side}_ankle"]] = hip + (0, -demo.SHIN, demo.THIGH)
    out[:, 1] -= out[[J["left_ankle"], J["right_ankle"]], 1].min() - stand[[J["left_ankle"], J["right_ankle"]], 1].min()
    return out


def _lying(stand: np.ndarray) -> np.ndarray:
    """The standing pose tipped onto its back, on the floor."""
    c, s = np.cos(-np.pi / 2), np.sin(-np.pi / 2)
    out = (stand - stand[J["pelvis"]]) @ np.array([[1, 0, 0], [0, c, -s], [0, s, c]]).T
    out[:, 1] += stand[:, 1].min() - out[:, 1].min()
    return out


def _move(a: np.ndarray, b: np.ndarray, seconds: float, hold: float = 1.5) -> np.ndarray:
    """Hold pose a, go to pose b in `seconds`, hold b; with 3 mm of marker noise."""
    w = np.concatenate([np.zeros(int(hold * RATE)), np.linspace(0, 1, max(2, int(seconds * RATE))), np.ones(int(hold * RATE))])
    noise = np.random.default_rng(0).normal(0, 0.003, (len(w), len(CANONICAL_JOINTS), 3))
    return a[None] * (1 - w[:, None, None]) + b[None] * w[:, None, None] + noise


@pytest.mark.parametrize("start, end, seconds, expect, never", [
    ("stand", "stand", 1.0, r"stand\w* still", r"\b(sit|lie|lying|fall|walk)"),
    ("sit", "sit", 1.0, r"\bsit", r"\b(stand|lie|lying|fall)"),
    ("lie", "lie", 1.0, r"\b(lie|lying)", r"\b(sit|stand|fall|reach)"),
    ("stand", "sit", 1.5, r"\bsits down", r"\b(lie|fall)"),
    ("sit", "stand", 1.5, r"\bstands up", r"\b(lie|fall)"),
    ("stand", "lie", 2.0, r"\blies down", r"\bfall"),
    ("stand", "lie", 0.4, r"\bfalls", r"\bsit"),
    ("lie", "stand", 2.0, r"\bgets up", r"\bfall"),
])
def test_postures_and_changes(start, end, seconds, expect, never):
    stand = _standing()
    poses = {"stand": stand, "sit": _seated(stand), "lie": _lying(stand)}
    text = said(_move(poses[start], poses[end], seconds), RATE)
    assert re.search(expect, text), text
    assert not re.search(never, text), text


# --- the sentences themselves ---


def test_describe_draws_varied_sentences_reproducibly():
    pose = demo_pose("waving")
    first = describe(pose, demo.POSE_RATE, np.random.default_rng(7), n=6)
    assert first == describe(pose, demo.POSE_RATE, np.random.default_rng(7), n=6)
    assert first != describe(pose, demo.POSE_RATE, np.random.default_rng(8), n=6)
    assert len(first) == 6 and len(set(first)) == 6 and all(isinstance(s, str) and s for s in first)
    many = describe(pose, demo.POSE_RATE, np.random.default_rng(0), n=40)
    assert all("right" in s or "wav" not in s for s in many)  # never the wrong hand
    words = [len(s.split()) for s in many]
    assert min(words) <= 4 and max(words) >= 9, many  # short ("waving the right hand") and long
    walking = describe(demo_pose("walking"), demo.POSE_RATE, np.random.default_rng(0), n=20)
    assert "walking" in walking, walking
    assert sum("wav" in s for s in many) >= 20  # the most telling fact leads most sentences


def test_windows_too_short_or_still_still_get_sentences():
    pose = np.repeat(_standing()[None], 150, axis=0)
    assert any("stand" in s for s in describe(pose, RATE, np.random.default_rng(0)))
    for frames in (1, 2, 5):
        assert len(describe(pose[:frames], RATE, np.random.default_rng(0), n=3)) == 3
    padded = np.concatenate([demo_pose("waving", seconds=2.0), np.zeros((90, len(CANONICAL_JOINTS), 3))])
    assert describe_all(padded, RATE) == describe_all(padded[:60], RATE)  # zero padding after a short clip is no motion
    lost = demo_pose("walking").copy()
    lost[10:20, J["left_elbow"]] = np.nan  # a marker lost for a while
    assert "walk" in " ".join(describe(lost, RATE, np.random.default_rng(0)))
    facts = motion_facts(pose, RATE)
    assert facts.gait == "still" and facts.posture == "standing" and facts.jumps == 0
    assert 0.8 < facts.leg_length < 0.95 and 0.5 < facts.arm_length < 0.6  # the demo's own limbs, in metres


def test_a_five_second_window_takes_a_few_milliseconds():
    windows = [demo_pose(a, s) for a in demo.ACTIONS for s in ("1", "3")]  # 5 s at 30 Hz each
    rng = np.random.default_rng(0)
    describe(windows[0], demo.POSE_RATE, rng)  # warm up
    start = time.perf_counter()
    for w in windows:
        describe(w, demo.POSE_RATE, rng)
    per_window = (time.perf_counter() - start) / len(windows)
    assert per_window < 0.010, f"{per_window * 1e3:.1f} ms per window"  # about 2.5 ms on one busy core
