"""Encoder checkpoints: safetensors + config.json round trips, ids, and refusing anything else."""
from __future__ import annotations

import json
import pathlib
import shutil

import numpy as np
import pytest
import torch
from conftest import TINY_DIM, TINY_PARAMS

from encoders import checkpoint
from encoders.factory import load_checkpoint
from encoders.model import JointModel, default_config


def _windows(seed: int = 0):
    """A few raw IMU windows (5 s at 50 Hz) and pose windows (5 s at 25 Hz), some padded."""
    rng = np.random.default_rng(seed)
    imu = [rng.normal(size=(250, 6)).astype(np.float32) for _ in range(3)]
    pose = [rng.normal(size=(125, 16, 3)).astype(np.float32) for _ in range(3)]
    imu[2][180:] = 0
    pose[2][90:] = 0
    return imu, [250, 250, 180], pose, [125, 125, 90]


def _model(seed: int) -> JointModel:
    torch.manual_seed(seed)
    return JointModel(default_config("cnn_gru", embed_dim=TINY_DIM, params=TINY_PARAMS))


def test_save_then_load_embeds_identically(tmp_path):
    model = _model(0).eval()
    folder = checkpoint.save(model, tmp_path / "ckpt", {"trained_on": {"note": "test"}})
    assert sorted(p.name for p in folder.iterdir()) == [checkpoint.CONFIG, checkpoint.WEIGHTS]
    enc = load_checkpoint(folder)
    assert enc.config["trained_on"] == {"note": "test"} and enc.source == str(folder)
    assert enc.modalities == ["imu", "pose"] and enc.rates == {"imu": 50.0, "pose": 25.0}
    assert (enc.window.length, enc.window.hop) == (5.0, 1.0)

    imu, imu_valid, pose, pose_valid = _windows()
    for modality, arrays, valid in (("imu", imu, imu_valid), ("pose", pose, pose_valid)):
        loaded = enc.encode_arrays(modality, arrays, valid)
        again = load_checkpoint(folder).encode_arrays(modality, arrays, valid)
        from encoders.features import featurize

        with torch.no_grad():
            x = torch.from_numpy(np.stack([featurize(modality, a, v) for a, v in zip(arrays, valid)]))
            direct = model(modality, x, torch.tensor(valid)).numpy()
        assert loaded.shape == (3, TINY_DIM)
        np.testing.assert_array_equal(loaded, again)
        np.testing.assert_allclose(loaded, direct, rtol=0, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(loaded, axis=1), 1.0, atol=1e-5)
        assert not np.allclose(loaded[0], loaded[1])  # different inputs, different vectors


def test_encoder_id_follows_the_weights(tmp_path):
    a = load_checkpoint(checkpoint.save(_model(0), tmp_path / "a"))
    same = load_checkpoint(checkpoint.save(_model(0), tmp_path / "same"))
    assert a.id == same.id and a.id.startswith("imu-pose-cnn_gru@") and len(a.checksum) == 64

    changed = _model(0)
    with torch.no_grad():
        changed.towers["imu"].head.bias[0] += 1e-3
    b = load_checkpoint(checkpoint.save(changed, tmp_path / "b"))
    assert b.id != a.id and b.checksum != a.checksum


class _Payload:
    """Unpickling this creates a file: proof that a loader ran code from the checkpoint."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def test_a_pickled_checkpoint_is_refused_without_unpickling(tmp_path):
    folder = checkpoint.save(_model(0), tmp_path / "ckpt")
    marker = tmp_path / "pickle-was-run"
    state = dict(_model(0).state_dict())
    state["evil"] = _Payload(marker)
    torch.save(state, folder / checkpoint.WEIGHTS)  # a pickle under the safetensors name
    with pytest.raises(ValueError, match="not a readable safetensors file") as info:
        load_checkpoint(folder)
    assert str(folder / checkpoint.WEIGHTS) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("blob", [b"", b"garbage" * 100, b"\xff" * 16])
def test_garbage_weights_are_a_clear_error(tmp_path, blob):
    folder = checkpoint.save(_model(0), tmp_path / "ckpt")
    (folder / checkpoint.WEIGHTS).write_bytes(blob)
    with pytest.raises(ValueError, match="not a readable safetensors file") as info:
        load_checkpoint(folder)
    assert str(folder / checkpoint.WEIGHTS) in str(info.value)


def test_missing_files_are_named(tmp_path):
    folder = checkpoint.save(_model(0), tmp_path / "ckpt")
    (folder / checkpoint.CONFIG).unlink()
    with pytest.raises(FileNotFoundError, match="config.json: missing") as info:
        load_checkpoint(folder)
    assert str(folder / checkpoint.CONFIG) in str(info.value)
    with pytest.raises(FileNotFoundError, match="model.safetensors: missing"):
        load_checkpoint(tmp_path / "nowhere")


def test_a_config_that_does_not_fit_the_weights_is_refused(tmp_path):
    folder = checkpoint.save(_model(0), tmp_path / "ckpt")
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    config = json.loads((other / checkpoint.CONFIG).read_text())
    config["towers"]["imu"]["params"]["width"] = 12
    (other / checkpoint.CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="weights do not match") as info:
        load_checkpoint(other)
    assert str(other / checkpoint.WEIGHTS) in str(info.value) and "size mismatch" in str(info.value)
    del config["towers"]["pose"]
    (other / checkpoint.CONFIG).write_text(json.dumps(config))
    with pytest.raises(ValueError, match="weights do not match"):
        load_checkpoint(other)
    (other / checkpoint.CONFIG).write_text('{"name": "something else"}')
    with pytest.raises(ValueError, match="not a motionsearch encoder config") as info:
        load_checkpoint(other)
    assert str(other / checkpoint.CONFIG) in str(info.value)
    (other / checkpoint.CONFIG).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_checkpoint(other)


def test_an_ensemble_of_runs_reads_as_the_mean_of_its_members(tmp_path, capsys):
    """`python -m encoders ensemble --out DIR A B`: one checkpoint from runs of one recipe trained
    apart. It loads through the real checkpoint code, and each window's vector is the
    renormalised mean of the members' vectors (IMU with its placement, and pose); its record
    names the members. One checkpoint, the same weights twice, or runs of different recipes are
    refused in one line each."""
    from encoders.cli import main

    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        config = default_config("cnn_gru", embed_dim=TINY_DIM, params=TINY_PARAMS, frame="gravity", placement=True)
        record = {"trained_on": {"split": "train", "seed": seed, "labels": ["walk", f"label {seed}"]}}
        folders.append(str(checkpoint.save(JointModel(config), tmp_path / f"run{seed}", record)))
    assert main(["ensemble", "--out", str(tmp_path / "both"), *folders]) == 0
    assert "saved an ensemble of 2 checkpoints" in capsys.readouterr().out
    both, members = load_checkpoint(tmp_path / "both"), [load_checkpoint(f) for f in folders]
    assert both.model.reads_placement and both.config.towers["imu"].params["member"] == "cnn_gru"
    imu, imu_valid, pose, pose_valid = _windows()
    places = ["right_wrist", "left_thigh", "right_wrist"]
    for modality, x, valid, kw in (("imu", imu, imu_valid, {"placements": places}), ("pose", pose, pose_valid, {})):
        want = sum(m.encode_arrays(modality, x, valid, **kw) for m in members)
        want /= np.linalg.norm(want, axis=1, keepdims=True)
        assert np.allclose(both.encode_arrays(modality, x, valid, **kw), want, atol=1e-5), modality
    record = both.config["trained_on"]
    assert [m["weights_sha256"] for m in record["members"]] == [m.checksum for m in members]
    assert [m["seed"] for m in record["members"]] == [0, 1] and record["split"] == "train"
    assert both.config.trained_on.labels == {"walk", "label 0", "label 1"}  # what any member saw
    other = checkpoint.save(_model(2), tmp_path / "other")  # sensor axes, no placement: another recipe
    for argv, says in (([folders[0]], "at least two"), ([folders[0], folders[0]], "same weights"),
                       ([folders[0], str(other)], "not the same model")):
        assert main(["ensemble", "--out", str(tmp_path / "bad"), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err, err
    assert not (tmp_path / "bad").exists()


def test_a_graft_takes_one_tower_from_another_run_of_the_same_text_space(tmp_path, capsys):
    """`python -m encoders graft BASE DONOR --out DIR`: BASE's IMU tower and DONOR's pose tower
    (its config too: here the facing frame) in one checkpoint. Each tower embeds exactly as in
    its own run; the record names both runs and what each read; the
    same weights twice or another text space are refused in one line."""
    from tiny_clip import TINY_CLIP, TINY_TOWER_PARAMS

    from encoders.cli import main
    from encoders.factory import create_model
    from encoders.model import text_aligned_config

    config = text_aligned_config("cnn_gru", TINY_CLIP, params=TINY_TOWER_PARAMS)
    base = checkpoint.save(create_model(config, seed=0), tmp_path / "base",
                           {"trained_on": {"seed": 0, "folders": ["cmu"], "licence": "free"}})
    facing = config.with_tower("pose", params={**config.towers["pose"].params, "frame": "facing"})
    donor = checkpoint.save(create_model(facing, seed=1), tmp_path / "donor",
                            {"trained_on": {"seed": 1, "folders": ["cmu", "bandai"], "licence": "CC BY-NC 4.0"}})
    assert main(["graft", str(base), str(donor), "--out", str(tmp_path / "graft")]) == 0
    assert "with the pose tower of" in capsys.readouterr().out
    graft, first, second = (load_checkpoint(f) for f in (tmp_path / "graft", base, donor))
    imu, imu_valid, pose, pose_valid = _windows()
    assert np.allclose(graft.encode_arrays("imu", imu, imu_valid), first.encode_arrays("imu", imu, imu_valid), atol=1e-6)
    assert np.allclose(graft.encode_arrays("pose", pose, pose_valid), second.encode_arrays("pose", pose, pose_valid),
                       atol=1e-6)
    assert not np.allclose(graft.encode_arrays("pose", pose, pose_valid), first.encode_arrays("pose", pose, pose_valid))
    assert graft.config.towers["pose"].params["frame"] == "facing"
    record = graft.config["trained_on"]
    assert record["grafted"]["pose"]["weights_sha256"] == second.checksum and record["grafted"]["pose"]["seed"] == 1
    assert record["grafted"]["base"]["weights_sha256"] == first.checksum
    assert record["folders"] == ["cmu", "bandai"] and "CC BY-NC 4.0" in record["licence"]  # what either read
    other = checkpoint.save(_model(2), tmp_path / "other")  # no text space
    for argv, says in (([str(base), str(base)], "same weights"), ([str(base), str(other)], "text-aligned")):
        assert main(["graft", *argv, "--out", str(tmp_path / "bad")]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err, err
    assert not (tmp_path / "bad").exists()
