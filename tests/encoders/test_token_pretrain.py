"""Token towers that read acc-only IMUs (channel dropout) and their pretraining on virtual IMUs
from mocap (encoders.pretrain.pretrain_tokens, `python -m encoders pretrain-tokens`)."""
from __future__ import annotations

import argparse
import json
import zlib

import numpy as np
import pytest
import torch
from test_build import _bvh  # a BVH with canonical joint names, limbs swinging (tests/indexer)

from encoders import checkpoint, tokens
from encoders.cli import main as encoders_main
from encoders.factory import load_checkpoint
from encoders.options import token_weights
from encoders.part_features import DEFAULT_PARTS, PRETRAIN_PARTS, part_for_placement
from encoders.pretrain import Augment, mocap_split, part_placements, synthetic_recordings, turn_about_vertical
from encoders.tasks import TokenTask
from encoders.token_data import token_pairs
from encoders.train import TokenTrainSettings
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.errors import BadInput
from indexer.importers.example import _example_pose
from indexer.model import Entry, ImuStream, PoseStream, Recording
from indexer.units import IMU6_CHANNELS
from indexer.virtual_imu import random_mount, virtual_imu

TINY = dict(embed_dim=16, dim=16, layers=1, heads=2, conv_width=8)


def _recording(rid: str = "r1", acc_only: bool = False, seconds: float = 6.0) -> Recording:
    pose = _example_pose(int(seconds * 30), 30.0, 0.0).astype(np.float32)
    imu = virtual_imu(pose, 30.0, "right_wrist")
    channels = list(IMU6_CHANNELS)
    if acc_only:
        imu, channels = imu[:, :3], channels[:3]
    return Recording(rid, "test", subject="1",
                     imu=[ImuStream(imu, 30.0, channels, "right_wrist", source=f"{rid}.csv")],
                     pose=PoseStream(pose, 30.0, "canonical", list(CANONICAL_JOINTS)))


def _entries(*recs):
    return [Entry(id=r.id, sources=[], load=lambda r=r: r, subject=r.subject) for r in recs]


# ---- channel dropout ---------------------------------------------------------------------------
def test_acc_only_imus_train_zero_filled_with_dropout_and_are_left_out_without():
    recs = [_recording("full"), _recording("acc", acc_only=True)]
    with_dropout = token_pairs(_entries(*recs), tokens.default_token_config(**TINY, channel_dropout=0.3),
                               progress=False)
    assert len(with_dropout.recordings) == 2
    acc = next(r for r in with_dropout.recordings if r.recording_id == "acc")
    assert acc.present[0].tolist() == [True] * 3 + [False] * 3
    assert np.all(acc.imu[0][:, 3:] == 0) and acc.imu[0].shape[1] == 6

    without = token_pairs(_entries(*recs), tokens.default_token_config(**TINY), progress=False)
    assert [r.recording_id for r in without.recordings] == ["full"]
    assert any("acc.csv" in path and "train-tokens --init" in reason for path, reason in without.skipped)


def test_token_task_zeroes_absent_groups_and_drops_present_ones():
    config = tokens.default_token_config(**TINY, channel_dropout=0.5)
    data = token_pairs(_entries(_recording("full"), _recording("acc", acc_only=True)), config, progress=False)
    task = TokenTask(tokens.TokenModel(config), data, TokenTrainSettings(batch=64, steps=1, seed=0))
    batch = next(task.periods(torch.Generator())).__next__()
    present = batch["imu_present"].clone()
    task.loss(batch, torch.Generator().manual_seed(0))
    x = batch["imu"]
    acc_rows = ~present[:, 3]
    assert acc_rows.any() and torch.all(x[acc_rows][..., 3:] == 0)  # absent gyro stays zero
    full = ~acc_rows
    gyr_dropped = (x[full][..., 3:].abs().sum((1, 2)) == 0)
    acc_dropped = (x[full][..., :3].abs().sum((1, 2)) == 0)
    assert gyr_dropped.any() and acc_dropped.any()  # each group is dropped sometimes...
    assert not (gyr_dropped & acc_dropped).any()  # ...never both


def test_a_token_checkpoint_with_dropout_reads_acc_only_streams(tmp_path):
    torch.manual_seed(0)
    config = tokens.default_token_config(**TINY, channel_dropout=0.3)
    checkpoint.save(tokens.TokenModel(config), tmp_path / "drop")
    enc = load_checkpoint(tmp_path / "drop")
    windows = [w for w in enc.cut_windows(_recording(acc_only=True)) if w.modality == "imu"]
    assert windows and windows[0].data.shape[1] == 6 and np.all(windows[0].data[:, 3:] == 0)
    assert np.isfinite(enc.encode(windows)).all()

    checkpoint.save(tokens.TokenModel(tokens.default_token_config(**TINY)), tmp_path / "plain")
    with pytest.raises(BadInput, match="train-tokens --init"):
        load_checkpoint(tmp_path / "plain").cut_windows(_recording(acc_only=True))


# ---- pretraining material ----------------------------------------------------------------------
def test_mocap_split_is_fixed_and_keeps_calibration_takes():
    ids = [f"cmu-mocap/{i:02d}_{j:02d}" for i in range(1, 40) for j in range(1, 10)]
    splits = [mocap_split(i) for i in ids]
    assert splits == [mocap_split(i) for i in ids]
    assert all((s == "calib") == (zlib.crc32(i.encode()) % 3 == 0) for i, s in zip(ids, splits))
    share = {s: splits.count(s) / len(ids) for s in ("calib", "train", "eval")}
    assert 0.25 < share["calib"] < 0.42 and 0.08 < share["train"] < 0.26 and 0.4 < share["eval"] < 0.6


def test_part_placements_cover_each_limb():
    sets = part_placements(DEFAULT_PARTS + ["pelvis", "head"])
    assert dict(zip(DEFAULT_PARTS, sets))["right_wrist"] == ("right_shoulder", "right_upper_arm", "right_elbow",
                                                             "right_forearm", "right_wrist", "right_hand")
    assert sets[-2] == ("pelvis",) and set(sets[-1]) == {"head", "neck"}
    for part, placements in zip(DEFAULT_PARTS, sets):
        assert all(part_for_placement(q, DEFAULT_PARTS) == part for q in placements)


def test_copies_wear_one_imu_per_part_and_turn_the_pose_only():
    pose = _example_pose(150, 30.0, 0.0).astype(np.float32)
    take = Recording("mocap/t1", "mocap", pose=PoseStream(pose, 30.0, "canonical", list(CANONICAL_JOINTS)))
    sets = part_placements(DEFAULT_PARTS)
    assert synthetic_recordings(take, np.random.default_rng(0), Augment(copies=2)) == []  # no caption
    made = synthetic_recordings(take, np.random.default_rng(0), Augment(copies=3, yaw_degrees=180),
                                sensor_sets=sets, captioned=False)
    assert len(made) == 3
    for r in made:
        assert [s.placement in q for s, q in zip(r.imu, sets)] == [True] * 4 and r.labels == [] and r.text == []
    # a turn about the vertical leaves what a body-worn IMU reads unchanged (gravity is vertical):
    # the pose tower must learn headings, the IMU tower never sees them
    mount = random_mount(np.random.default_rng(1))
    turned = turn_about_vertical(pose.astype(np.float64), 73.0)
    np.testing.assert_allclose(virtual_imu(turned, 30.0, "left_forearm", mount),
                               virtual_imu(pose, 30.0, "left_forearm", mount), atol=1e-3)


# ---- a tiny run, end to end --------------------------------------------------------------------
def test_pretrain_tokens_tiny_run_reads_acc_only_and_records_its_data(tmp_path):
    folder = tmp_path / "mocap"
    folder.mkdir()
    for n in range(3):
        (folder / f"walk_{n}.bvh").write_text(_bvh(150 + 30 * n, 30.0))
    out = tmp_path / "ckpt"
    code = encoders_main(["pretrain-tokens", "--data", str(folder), "--takes", "all", "--out", str(out),
                          "--dim", "16", "--width", "16", "--layers", "1", "--heads", "2", "--steps", "3",
                          "--batch", "4", "--copies", "2", "--quiet"])
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    on = config["trained_on"]
    assert config["towers"]["imu"]["channel_dropout"] == 0.3
    assert on["split"] == "all" and on["takes"] == 3 and on["recordings"] == 6 and on["seed"] == 0
    assert on["steps"] == 3 and on["augment"]["yaw_degrees"] == 180.0 and on["folders"] == [str(folder)]
    assert list(on["placements"]) == PRETRAIN_PARTS  # limbs and trunk: a sensor anywhere has a part
    enc = load_checkpoint(out)
    windows = [w for w in enc.cut_windows(_recording(acc_only=True)) if w.modality == "imu"]
    assert np.isfinite(enc.encode(windows)).all()


def test_pretrain_tokens_default_split_leaves_out_eval_and_calib_takes(tmp_path):
    folder = tmp_path / "mocap"
    folder.mkdir()
    names = [f"take_{i}" for i in range(40)]
    train = [n for n in names if mocap_split(f"mocap/{n}") == "train"][:1]
    held = [n for n in names if mocap_split(f"mocap/{n}") != "train"][:2]
    for n in train + held:
        (folder / f"{n}.bvh").write_text(_bvh(150, 30.0))
    out = tmp_path / "ckpt"
    assert encoders_main(["pretrain-tokens", "--data", str(folder), "--out", str(out), "--dim", "16", "--width",
                          "16", "--layers", "1", "--heads", "2", "--steps", "1", "--batch", "2", "--copies", "1",
                          "--quiet"]) == 0
    on = json.loads((out / "config.json").read_text())["trained_on"]
    assert on["split"] == "train" and on["takes"] == 1


def test_token_weights_are_known_terms_with_finite_weights():
    """`train-tokens --weights`: a misspelt term, a negative or an infinite weight is refused by
    argparse in one line instead of training with it."""
    assert token_weights("body=1,masked=0") == {"body": 1.0, "masked": 0.0}
    for given, says in (("bodies=1", "expected token=,window=,body=,masked="), ("body=-1", "finite number >= 0"),
                        ("masked=inf", "finite number >= 0"), ("token=nan", "finite number >= 0"),
                        ("window=x", "not a number")):
        with pytest.raises(argparse.ArgumentTypeError, match=says):
            token_weights(given)
