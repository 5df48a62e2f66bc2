"""The encoders package's wiring: its CLI parses before torch loads, and every architecture a
config or the CLI can name is in the tower registry."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from encoders import factory  # noqa: F401  (imports every module that registers a tower)
from encoders.config import TowerConfig
from encoders.towers import TOWERS, build_tower, register


def test_cli_parses_without_importing_torch():
    """`python -m encoders --help` and a mistyped command must answer at once: only the command
    handlers import torch."""
    probe = ("import sys; from encoders.cli import build_parser; build_parser().parse_args(['eval', 'x', "
             "'--checkpoint', 'c']); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=os.environ, check=True)
    assert out.stdout.strip() == "False"
    typo = subprocess.run([sys.executable, "-m", "encoders", "trian"], capture_output=True, text=True, env=os.environ)
    assert typo.returncode == 2 and "invalid choice: 'trian'" in typo.stderr


def test_every_architecture_is_registered():
    assert {"cnn_gru", "patch_transformer", "small_cnn", "clip_frames", "token_transformer"} <= set(TOWERS)
    with pytest.raises(ValueError, match="unknown architecture 'nope'"):
        build_tower(TowerConfig("nope", 50.0, 6), 8)


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered twice"):
        register("cnn_gru")(type("Other", (), {}))


def test_pretrain_options_reach_the_recipe():
    """`pretrain --yaw-degrees 180 --pose-frame room --text-head 0`: the turn reaches each copy's
    augmentation (and so the checkpoint's record) and the frame the pose tower's config; left
    out, all stay as the shipped models were trained (no turn, the facing frame, a text head of 2
    queries)."""
    from encoders.cli import _augment, _config, build_parser
    from encoders.text import minilm_available

    args = build_parser().parse_args(["pretrain", "--yaw-degrees", "180", "--pose-frame", "room", "--text-head", "0",
                                      "--out", "x"])
    assert _augment(args).yaw_degrees == 180.0 and args.text_head == 0
    plain = build_parser().parse_args(["pretrain", "--out", "x"])
    assert _augment(plain).yaw_degrees == 0.0 and plain.pose_frame == "facing" and plain.text_head == 2
    if minilm_available():
        assert "frame" not in _config(args, None).towers["pose"].params
        assert _config(plain, None).towers["pose"].params["frame"] == "facing"
    bad = subprocess.run([sys.executable, "-m", "encoders", "pretrain", "--pose-frame", "camera", "--out", "x"],
                         capture_output=True, text=True, env=os.environ)
    assert bad.returncode == 2 and "invalid choice: 'camera'" in bad.stderr


def test_pretrain_init_goes_on_from_a_checkpoint_and_may_change_what_its_head_serves(tmp_path):
    """`pretrain --init builtin --text-head-for pose`: the checkpoint's own config (towers, frames,
    head queries) with its head now serving the skeleton alone; without --text-head-for, as it
    was; `--text-head-for imu pose` is the head serving both. A checkpoint with no head, or one
    not aligned to MiniLM, is refused in one line."""
    from encoders.cli import _config, build_parser
    from encoders.factory import load_checkpoint
    from encoders.pretrain import pretrain_init_config

    builtin = load_checkpoint("builtin")
    args = build_parser().parse_args(["pretrain", "--init", "builtin", "--text-head-for", "pose", "--out", "x"])
    config = _config(args, builtin)
    assert config.text["head"] == {"queries": 2, "modalities": ["pose"]} and config.space == "text:minilm+head(pose)"
    assert config.towers == builtin.config.towers
    assert pretrain_init_config(config, ["imu", "pose"], "--init x").text["head"] == {"queries": 2}
    assert pretrain_init_config(builtin.config, None, "--init x").text == builtin.config.text
    plain = builtin.config.replace(text={"architecture": "minilm"}, space="text:minilm")
    with pytest.raises(ValueError, match="this checkpoint has none"):
        pretrain_init_config(plain, ["pose"], "--init x")
    clip = builtin.config.replace(text={"architecture": "open_clip", "model": "ViT-B-32"}, space="text:open_clip")
    with pytest.raises(ValueError, match="MiniLM-aligned"):
        pretrain_init_config(clip, None, "--init x")
