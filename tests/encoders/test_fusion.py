"""Sensor fusion: a checkpoint trained with `--fusion attention` fuses
the sensors of a recording window into one vector; an index built with it holds one vector per
sensor and one fused ("all") vector per window; a query of several sensors searches the fused
windows; checkpoints without fusion load, train and answer by late fusion as before.

The archive is generated: a wrist and a foot IMU, two actions that differ only at the foot
(the wrist moves the same way in both), so the wrist alone cannot tell them apart."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_clip import TINY_CLIP, TINY_TOWER_PARAMS

from encoders import checkpoint
from encoders.data import text_aligned_windows
from encoders.evaluation.text_aligned import evaluate_text, format_text_aligned
from encoders.factory import create_model, load_checkpoint
from encoders.fusion import random_subset
from encoders.model import text_aligned_config
from encoders.tasks import TextAlignedTask
from encoders.train import TrainSettings, fit
from indexer.build import build_path
from indexer.importers.demo import make_recording
from indexer.model import Entry, ImuStream, Recording, TextSpan
from indexer.units import IMU6_CHANNELS
from indexer.windows import WindowSpec
from query.api import open_index

WRIST, FOOT = "right_wrist", "right_foot"
RATE, SECONDS = 50.0, 4.0
FOOT_HZ = {"kick": 0.8, "step": 3.0}


def sensor(kind: str, rng, seconds: float = SECONDS) -> np.ndarray:
    """A wrist swinging at 1.5 Hz whatever the action; a foot at the action's own rhythm."""
    t = np.arange(int(seconds * RATE)) / RATE
    f = 1.5 if kind == "wrist" else FOOT_HZ[kind]
    amp = 1.0 if kind == "wrist" else 3.0
    phase = rng.uniform(0, 2 * np.pi)
    base = np.stack([amp * np.sin(2 * np.pi * f * t + phase + k) for k in range(6)], 1)
    base[:, 2] += 9.81
    return (base + 0.05 * rng.standard_normal(base.shape)).astype(np.float32)


def recording(i: int, action: str, subject: str, sensors=(WRIST, FOOT)) -> Recording:
    rng = np.random.default_rng(i)
    rid = f"fuse/{i}"
    streams = [ImuStream(sensor("wrist" if p == WRIST else action, rng), RATE, list(IMU6_CHANNELS), p,
                         source=f"{rid}/{p}.csv") for p in sensors]
    return Recording(rid, "fuse", subject, [action], imu=streams, text=[TextSpan(0.0, SECONDS, f"{action} motion")],
                     sources=[f"{rid}.csv"])


def entries(recs: list[Recording]) -> list[Entry]:
    return [Entry(r.id, list(r.sources), (lambda r=r: r), subject=r.subject) for r in recs]


def archive() -> list[Recording]:
    recs = [recording(i, ("kick", "step")[i % 2], "1") for i in range(12)]
    recs.append(recording(100, "kick", "1", sensors=(WRIST,)))  # one sensor only: still gets fused windows
    return recs


def config(fusion: str | None = "attention") -> dict:
    return text_aligned_config("cnn_gru", TINY_CLIP, params=TINY_TOWER_PARAMS, window=2.0, hop=1.0, fusion=fusion)


def windows(cfg: dict, recs: list[Recording]):
    rates = {m: float(t["rate"]) for m, t in cfg["towers"].items()}
    return text_aligned_windows(entries(recs), WindowSpec(**cfg["window"]), rates, progress=False, config=cfg)


def train(cfg: dict, folder, epochs: int = 25) -> tuple:
    data = windows(cfg, archive())
    model = create_model(cfg, seed=0)
    history = fit(TextAlignedTask(model, data, TrainSettings(epochs=epochs, batch=16)), TrainSettings(), progress=False)
    checkpoint.save(model, folder)
    return load_checkpoint(folder), history


@pytest.fixture(scope="module")
def fused(tmp_path_factory):
    """A tiny fusion checkpoint and an index of the archive built with it."""
    encoder, history = train(config(), tmp_path_factory.mktemp("fusion-ckpt"))
    out = tmp_path_factory.mktemp("fusion-index") / "index"
    assert build_path(out, entries(archive()), encoder, progress=False).skipped == []
    return encoder, history, out


def query_streams(action: str, seed: int) -> list[ImuStream]:
    rng = np.random.default_rng(seed)
    return [ImuStream(sensor("wrist", rng, 2.0), RATE, list(IMU6_CHANNELS), WRIST, source="q-wrist.csv"),
            ImuStream(sensor(action, rng, 2.0), RATE, list(IMU6_CHANNELS), FOOT, source="q-foot.csv")]


def test_fusion_module_masks_absent_sensors_and_starts_as_the_mean():
    model = create_model(config(), seed=0)
    f = model.fusion
    v = torch.nn.functional.normalize(torch.randn(2, model.config["embed_dim"]), dim=-1)
    one = f.fuse_sets([(v[:1], [WRIST])])
    padded = f(torch.stack([v[0], torch.randn_like(v[0]) * 100])[None], torch.tensor([f.part_ids([WRIST, FOOT])]),
               torch.tensor([[True, False]]))
    assert torch.allclose(one, padded, atol=1e-6) and torch.allclose(one[0], v[0], atol=1e-6)  # untrained: itself
    both = f.fuse_sets([(v, [WRIST, FOOT])])[0]
    assert torch.allclose(both, torch.nn.functional.normalize(v.mean(0), dim=0), atol=1e-6)
    gen = torch.Generator().manual_seed(0)
    subsets = [tuple(random_subset(2, gen)) for _ in range(200)]
    assert set(subsets) == {(0,), (1,), (0, 1)} and subsets.count((0, 1)) > 60


def test_fusion_checkpoint_trains_on_sensor_sets_and_keeps_its_module(fused):
    encoder, history, _ = fused
    assert encoder.has_fusion and encoder.config["fusion"]["architecture"] == "attention"
    assert any(k.startswith("fusion.") for k in encoder.model.state_dict())
    assert "fused-text" in history[-1] and "imu-text" in history[-1]
    assert history[-1]["fused-text"] < history[0]["fused-text"]


def test_index_holds_per_sensor_and_fused_windows(fused):
    _, _, out = fused
    ix = open_index(out)
    imu = ix.store.windows("modality = 'imu'", ["recording_id", "body_part", "t_start"])
    counts = imu.group_by("body_part").len().sort("body_part")
    by_part = dict(zip(counts["body_part"], counts["len"]))
    moments = imu.filter(imu["body_part"] != "all").select(["recording_id", "t_start"]).unique().height
    assert set(by_part) == {WRIST, FOOT, "all"}
    assert by_part["all"] == moments == by_part[WRIST]  # the wrist-only recording has fused windows too
    assert by_part[FOOT] == by_part[WRIST] - 3


def test_two_sensors_search_the_fused_windows_and_find_the_action_only_the_foot_shows(fused):
    encoder, _, out = fused
    ix = open_index(out)
    wrist = ix.search_stream(query_streams("kick", 7)[0], "imu", k=10, where=f"body_part = '{WRIST}'")
    assert set(wrist["label"]) == {"kick", "step"}  # the wrist alone cannot tell them apart
    for action, seed in (("kick", 7), ("step", 8)):
        hits = ix.search_sensors(query_streams(action, seed), "imu", k=5)
        assert set(hits["fusion"]) == {"attention"} and set(hits["body_part"]) == {"all"}
        assert hits["label"][0] == action and (hits["label"] == action).sum() >= 4, hits
    late = ix.search_sensors(query_streams("kick", 7), "imu", k=3, fusion="late")
    assert set(late["fusion"]) == {"late"} and late["body_part"][0] == f"{WRIST}+{FOOT}"
    # one sensor: its own placement's windows, as before
    foot = query_streams("step", 9)[1]
    alone = ix.search_stream(foot, "imu", k=3, where=f"body_part = '{FOOT}'")
    assert set(alone["body_part"]) == {FOOT} and alone["label"][0] == "step"
    single = ix.search_sensors([foot], "imu", k=3)
    assert set(single["fusion"]) == {"late"} and set(single["body_part"]) == {FOOT}
    assert ix.search_sensors([foot], "imu", k=3, fusion="attention")["fusion"][0] == "attention"


def test_eval_text_reports_the_fused_vector(fused):
    encoder, _, _ = fused
    data = windows(encoder.config, [recording(200 + i, ("kick", "step")[i % 2], "2") for i in range(6)])
    report = evaluate_text(encoder, data)
    assert set(report["per_placement"]) == {WRIST, FOOT}
    f = report["fused"]
    assert f["text->imu"]["pool"] == report["per_placement"][WRIST]["text->imu"]["pool"] == 18
    assert f["sensors_per_window"] == 2 and "accuracy" in f["imu classification"]
    assert report["late_fused"]["text->imu"]["pool"] == 18  # the late-fusion baseline on the same moments
    text = format_text_aligned(report)
    assert "fused over all placements (attention fusion" in text and "late fusion over all placements" in text


def test_a_checkpoint_without_fusion_trains_loads_and_answers_by_late_fusion(tmp_path, tiny_encoder):
    encoder, history = train(config(None), tmp_path / "plain", epochs=1)
    assert not encoder.has_fusion and "fusion" not in encoder.config
    assert not any(k.startswith("fusion.") for k in encoder.model.state_dict())
    assert not any(k.startswith("fused-") for k in history[-1])
    assert not tiny_encoder.has_fusion  # an old (IMU <-> pose) checkpoint
    out = tmp_path / "index"
    build_path(out, entries(archive()[:4]), tiny_encoder, progress=False)
    ix = open_index(out)
    assert ix.store.count("windows", "modality = 'imu' AND body_part = 'all'") == 0
    hits = ix.search_sensors(query_streams("kick", 7), "imu", k=3)
    assert set(hits["fusion"]) == {"late"} and f"score_{FOOT}" in hits.columns
    with pytest.raises(LookupError, match="no fusion module"):
        ix.search_sensors(query_streams("kick", 7), "imu", fusion="attention")


def test_train_cli_fusion_option_and_init_adds_it(tmp_path, monkeypatch):
    from encoders import cli

    recs = []
    for action in ("waving", "squat"):
        for subject in ("1", "2"):
            rec = make_recording(action, subject, "1")
            recs.append(replace(rec, imu=[rec.imu[0], replace(rec.imu[0], placement="left_foot")]))
    monkeypatch.setattr(cli, "_source", lambda args: (entries(recs), "syn"))
    base = ["train", "--epochs", "1", "--dim", "16", "--quiet"]
    tiny = ["--tower-params", json.dumps(TINY_TOWER_PARAMS)]
    assert cli.main(base + tiny + ["--out", str(tmp_path / "plain")]) == 0
    assert "fusion" not in json.loads((tmp_path / "plain" / checkpoint.CONFIG).read_text())  # off by default
    assert cli.main(base + tiny + ["--fusion", "attention", "--out", str(tmp_path / "fused")]) == 0
    assert load_checkpoint(tmp_path / "fused").has_fusion
    assert cli.main(["train", "--init", str(tmp_path / "plain"), "--fusion", "attention", "--epochs", "1", "--quiet",
                     "--out", str(tmp_path / "added")]) == 0
    added = load_checkpoint(tmp_path / "added")
    assert added.has_fusion and added.config["trained_on"]["init"] == load_checkpoint(tmp_path / "plain").id
