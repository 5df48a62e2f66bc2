"""Pretraining data from mocap alone (encoders.pretrain): virtual-IMU copies of each take."""
import re

import numpy as np
import pytest

from encoders.factory import load_checkpoint
from encoders.pretrain import (
    Augment,
    captions,
    forearm_roll,
    heldout_split,
    mirror_pose,
    mirrored_caption,
    moving_placement,
    pretrain,
    pretrain_config,
    pretraining_set,
    synthetic_recordings,
)
from encoders.text import minilm_available
from encoders.train import TrainSettings
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.importers.example import _example_pose
from indexer.model import PoseStream, Recording, TextSpan
from indexer.virtual_imu import PLACEMENTS


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


def test_moving_placement_reads_the_limb_that_moves():
    """A take in which only the right forearm swings: placed by motion, nearly every sensor sits
    on the right arm; placed at random, few do."""
    t = np.arange(150) / 30.0
    still = np.repeat(_example_pose(1, 30.0, 0.0), 150, axis=0)
    rw, re = CANONICAL_JOINTS.index("right_wrist"), CANONICAL_JOINTS.index("right_elbow")
    still[:, rw] = still[:, re] + 0.25 * np.stack([np.sin(2 * np.pi * t), np.cos(2 * np.pi * t), 0 * t], 1)
    rng = np.random.default_rng(0)
    drawn = [moving_placement(still, 30.0, PLACEMENTS, rng) for _ in range(200)]
    assert np.mean([q.startswith("right_") and ("wrist" in q or "forearm" in q or "hand" in q) for q in drawn]) > 0.9
    take = _take(["wave right hand"], "wave right hand")
    take.pose.data[:] = still
    uniform = synthetic_recordings(take, np.random.default_rng(1), Augment(copies=60))
    active = synthetic_recordings(take, np.random.default_rng(1), Augment(copies=60, active=1.0))
    # a mirrored copy waves the left hand, and says so: the sensor should sit on the arm its caption names
    on_arm = lambda made: np.mean([r.imu[0].placement.split("_")[0] in r.labels[0] for r in made])  # noqa: E731
    assert on_arm(active) > 0.8 > 0.5 > on_arm(uniform)


def test_forearm_roll_turns_forearm_sensors_only_smoothly_and_within_its_bound():
    """`pretrain --forearm-roll 60`: sensors on the forearm, wrist or hand turn about the forearm
    (pronation, which mocap joints do not hold), smoothly and never past 60 degrees; the others
    read what they read without it."""
    rng = np.random.default_rng(0)
    angles = np.stack([forearm_roll(300, 50.0, rng, 60.0) for _ in range(20)])
    assert np.abs(angles).max() <= np.deg2rad(60.0) and np.abs(angles).max() > np.deg2rad(20.0)
    assert np.abs(np.diff(angles, axis=1)).max() < np.deg2rad(10.0)  # under 10 degrees in 20 ms
    take = _take(["walk"], "walk")
    for place, changed in (("right_wrist", True), ("left_forearm", True), ("right_thigh", False), ("chest", False)):
        plain = synthetic_recordings(take, np.random.default_rng(3), Augment(copies=1, mirror=0.0), placements=(place,))
        rolled = synthetic_recordings(take, np.random.default_rng(3), Augment(copies=1, mirror=0.0, roll_degrees=60.0),
                                      placements=(place,))
        assert np.allclose(plain[0].imu[0].data, rolled[0].imu[0].data) != changed, place


def test_heldout_split_is_a_stable_tenth_of_the_takes():
    ids = [f"take{i}" for i in range(2000)] + [f"composed/wave/{i}" for i in range(500)]
    held = [i for i in ids if heldout_split(i) == "heldout"]
    assert 0.07 < len(held) / len(ids) < 0.13
    assert held == [i for i in ids if heldout_split(i) == "heldout"]  # a fixed hash, not a draw


def test_training_rows_draw_from_their_take_captions_and_sentences_of_their_own_motion():
    """Composed takes only (no BVH folder): every row's pool holds its take's own captions and
    sentences computed from its window; a sit-down take's sentences say so, a wave's name the hand."""
    made = pretraining_set([], seed=0, augment=Augment(copies=2), composed=1, described=3, split=None, progress=False)
    data = made.data
    assert data.caption_pool is not None and len(data.caption_pool) == len(data)
    assert made.record()["composed_takes"] == 48 and made.record()["mocap_takes"] == 0
    for rid, pool in zip(data.recording_ids, data.caption_pool):
        own = made.every_caption[rid]
        assert set(own) <= set(pool) and len(set(pool) - set(own)) >= 1
    said = lambda name: " ".join(t for rid, pool in zip(data.recording_ids, data.caption_pool)  # noqa: E731
                                 if rid.startswith(f"composed/{name}/") for t in pool if t not in made.every_caption[rid])
    assert "sit" in said("sit_down_chair")
    wave = [(made.every_caption[rid][0], pool) for rid, pool in zip(data.recording_ids, data.caption_pool)
            if rid.startswith("composed/wave/")]
    for caption, pool in wave:  # a mirrored copy waves the other hand, in its caption and its sentences
        side = "left" if "left" in caption else "right"
        other = "right" if side == "left" else "left"
        described = " ".join(t for t in pool if t not in caption)
        assert f"{other} hand" not in described


@pytest.mark.slow
def test_a_pretrained_checkpoint_records_what_it_saw(tmp_path):
    if not minilm_available():
        pytest.skip("MiniLM text tower not installed")
    settings = TrainSettings(epochs=1, batch=32, threads=1, crop=0.3)
    out, skipped = pretrain([], tmp_path / "ckpt", settings, Augment(copies=1), params={"width": 8, "hidden": 8},
                            composed=1, described=2, loss_weights={"imu-text": 2}, pose_frame="facing")
    enc = load_checkpoint(out)
    assert enc.config["towers"]["pose"]["params"]["frame"] == "facing"
    assert enc.config["loss_weights"]["imu-text"] == 2.0 and enc.config["loss_weights"]["pose-text"] == 1.0
    trained = enc.config["trained_on"]
    assert trained["split"] == "train" and 0 < trained["composed_takes"] < 48  # the held-out tenth left out
    assert trained["described_sentences_per_window"] == 2 and trained["distinct_sentences"] > trained["composed_takes"]
    assert enc.model.reads_placement and enc.config["towers"]["imu"]["params"]["frame"] == "gravity"
    assert "CMU mocap and composed motion only" in trained["licence"]


def test_a_caption_pool_draws_each_rows_own_sentences_and_none_for_an_empty_row():
    import torch

    from encoders.tasks import CaptionPool

    # rows: 0 -> {0, 1}, 1 -> {} (nothing to train against), 2 -> {2}
    pool = CaptionPool(torch.tensor([0, 1, 2]), torch.tensor([0, 2, 2]), torch.tensor([2, 0, 1]))
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([pool.draw(torch.tensor([0, 1, 2]), gen) for _ in range(200)])
    assert set(draws[:, 0].tolist()) == {0, 1} and set(draws[:, 1].tolist()) == {-1} and set(draws[:, 2].tolist()) == {2}
    assert pool.draw(torch.tensor([1]), gen).tolist() == [-1]  # the last rows' empty pool stays in range


def test_vigour_scales_a_windows_motion_but_not_its_gravity_or_padding():
    """`pretrain --gain`: each window's angular rate and its acceleration's departure from the
    window's mean are scaled by one factor within [1/gain, gain]; the mean (gravity, as the
    sensor felt it) stays, padding stays zero, and gain 1 leaves the window as it was."""
    import torch

    from encoders.tasks import vigour

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 20, 6)
    x[..., 2] += 9.81
    valid = torch.randint(2, 21, (64,))
    for i, v in enumerate(valid.tolist()):
        x[i, v:] = 0.0
    y = vigour(x, valid, [0, 1, 2], [3, 4, 5], 2.0, gen)
    factor = y[:, 0, 3] / x[:, 0, 3]
    assert ((factor >= 0.5 - 1e-5) & (factor <= 2.0 + 1e-5)).all() and factor.std() > 0.1
    assert torch.allclose(y[..., 3:], x[..., 3:] * factor[:, None, None], atol=1e-5)
    for i, v in enumerate(valid.tolist()):
        assert torch.allclose(y[i, :v, :3].mean(0), x[i, :v, :3].mean(0), atol=1e-4)
        assert torch.allclose(y[i, :v, :3] - y[i, :v, :3].mean(0), factor[i] * (x[i, :v, :3] - x[i, :v, :3].mean(0)),
                              atol=1e-4)
        assert (y[i, v:] == 0).all()
    assert torch.equal(vigour(x, valid, [0, 1, 2], [3, 4, 5], 1.0, gen), x)


@pytest.mark.slow
def test_a_text_head_trains_with_the_towers_and_reads_alike_with_and_without_torch(tmp_path):
    """`pretrain --text-head 2`: the head's weights are in the checkpoint; the loaded model and a
    search that loads no torch (encoders.text.TextHead over the weights file) embed words alike;
    trained, it moves the words off MiniLM's own vectors. An ensemble of two such runs reads words
    through one head that adds the mean of what the runs' heads add, with and without torch;
    a graft refuses it."""
    from pathlib import Path

    import numpy as np
    import torch

    from encoders import checkpoint
    from encoders.ensemble import combine, graft
    from encoders.text import MINILM, TextHead, load_text_tower, minilm_with_head

    if not minilm_available():
        pytest.skip("MiniLM text tower not installed")
    settings = TrainSettings(epochs=1, batch=32, threads=1, crop=0.3)
    out, _ = pretrain([], tmp_path / "ckpt", settings, Augment(copies=1), params={"width": 8, "hidden": 8},
                      composed=1, described=2, text_head=2)
    enc = load_checkpoint(out)
    assert enc.config["text"]["head"] == {"queries": 2} and enc.config["space"] == "text:minilm+head"
    words = ["right arm swipe to the left", "right arm swipe to the right", "a person walks"]
    loaded = enc.encode_text(words)
    searched = load_text_tower(enc.config["text"], out).encode_prompts(words)
    np.testing.assert_allclose(loaded, searched, atol=1e-5)
    plain = load_text_tower(MINILM).encode_prompts(words)
    assert np.abs(loaded - plain).max() > 1e-4  # trained: no longer MiniLM's mean alone

    with torch.no_grad():  # another run of the recipe: other weights, the head's included
        for p in enc.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    other = checkpoint.save(enc.model, tmp_path / "other", {"trained_on": {**enc.config["trained_on"], "seed": 1}})
    both = load_checkpoint(combine([out, other], tmp_path / "ens"))
    assert both.config["text"]["head"] == {"queries": 4} and both.config["space"] == "text:minilm+head"
    heads = [TextHead.from_weights(Path(f) / checkpoint.WEIGHTS) for f in (out, other)]
    mean_of_heads = minilm_with_head(MINILM, lambda states: sum(h(states) for h in heads) / len(heads))
    want = mean_of_heads.encode_prompts(words)
    np.testing.assert_allclose(both.encode_text(words), want, atol=1e-5)
    np.testing.assert_allclose(load_text_tower(both.config["text"], tmp_path / "ens").encode_prompts(words), want,
                               atol=1e-5)
    with pytest.raises(ValueError, match="text space of its own"):
        graft("builtin", out, "pose", tmp_path / "graft")
    with pytest.raises(ValueError, match="reads the head from its checkpoint"):
        load_text_tower(enc.config["text"])


@pytest.mark.slow
def test_a_text_head_for_the_skeleton_alone_leaves_the_sensor_with_minilms_words(tmp_path):
    """`pretrain --text-head 2 --text-head-for pose`: the sensor's windows are trained against
    MiniLM's plain vectors and queried with them; the skeleton's through the head, loaded or read
    without torch alike. Text with no modality named is refused (it has two vectors). The head
    learns from the skeleton's text term alone: with that term's weight 0 it stays untrained,
    while a head serving the sensor learns from the sensor's."""
    import numpy as np

    from encoders.text import MINILM, load_text_tower, spec_for_modality

    if not minilm_available():
        pytest.skip("MiniLM text tower not installed")
    settings = TrainSettings(epochs=1, batch=32, threads=1, crop=0.3)
    common = dict(params={"width": 8, "hidden": 8}, composed=1, described=2, text_head=2)
    out, _ = pretrain([], tmp_path / "pose", settings, Augment(copies=1), text_head_for=["pose"], **common)
    enc = load_checkpoint(out)
    assert enc.config["text"]["head"] == {"queries": 2, "modalities": ["pose"]}
    assert enc.config["space"] == "text:minilm+head(pose)"
    words = ["a person sits down on a chair", "a person waves the right hand"]
    plain = load_text_tower(MINILM).encode_prompts(words)
    np.testing.assert_allclose(enc.encode_text(words, modality="imu"), plain, atol=1e-5)
    np.testing.assert_allclose(enc.encode_text(words, modality="fused"), plain, atol=1e-5)
    skeleton = enc.encode_text(words, modality="pose")
    assert np.abs(skeleton - plain).max() > 1e-4
    searched = load_text_tower(spec_for_modality(enc.config["text"], "pose"), out).encode_prompts(words)
    np.testing.assert_allclose(skeleton, searched, atol=1e-5)
    with pytest.raises(ValueError, match="say which modality"):
        enc.encode_text(words)

    weights = {"pose-text": 0.0}
    idle, _ = pretrain([], tmp_path / "idle", settings, Augment(copies=1), text_head_for=["pose"],
                       loss_weights=weights, **common)
    np.testing.assert_allclose(load_checkpoint(idle).encode_text(words, modality="pose"), plain, atol=1e-5)
    busy, _ = pretrain([], tmp_path / "busy", settings, Augment(copies=1), text_head_for=["imu"],
                       loss_weights=weights, **common)
    assert np.abs(load_checkpoint(busy).encode_text(words, modality="imu") - plain).max() > 1e-4
    # a graft gives the sensor tower of a run trained against plain vectors to a run with a head:
    # the head then serves the skeleton alone; a sensor tower that read through a head is refused
    from encoders.ensemble import graft

    joined = load_checkpoint(graft(out, idle, "imu", tmp_path / "graft"))
    assert joined.config["text"]["head"] == {"queries": 2, "modalities": ["pose"]}
    np.testing.assert_allclose(joined.encode_text(words, modality="imu"), plain, atol=1e-5)
    np.testing.assert_allclose(joined.encode_text(words, modality="pose"), skeleton, atol=1e-5)
    with pytest.raises(ValueError, match="imu tower reads text through a head"):
        graft(out, busy, "imu", tmp_path / "refused")
    headless = load_checkpoint(graft(busy, out, "imu", tmp_path / "headless"))  # its head served the sensor alone
    assert "head" not in headless.config["text"] and headless.config["space"] == "text:minilm"
    assert headless.model.text_head is None
    with pytest.raises(ValueError, match="one or both of imu, pose"):
        pretrain_config(text_head=2, text_head_for=["video"])
    assert pretrain_config(text_head=2, text_head_for=["imu", "pose"]).text["head"] == {"queries": 2}


def test_loss_weights_name_known_terms_with_finite_weights():
    """`pretrain --loss-weights` / `train --loss-weights`: a misspelt term or a negative weight
    is refused in one line instead of training with the default."""
    from encoders.model import checked_loss_weights

    assert checked_loss_weights({"imu-text": 2, "imu-pose": "0.5"}) == {"imu-text": 2.0, "imu-pose": 0.5}
    assert checked_loss_weights(None) == {}
    for given, says in (({"imu_text": 2}, "unknown loss term 'imu_text'; the terms are imu-text"),
                        ({"imu-text": -1}, "finite number >= 0, got -1"),
                        ({"pose-text": "lots"}, "got 'lots'"), ({"pose-text": float("inf")}, "got inf")):
        with pytest.raises(ValueError, match=re.escape(says)):
            checked_loss_weights(given)
