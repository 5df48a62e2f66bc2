"""Sync, assign and the command line on data the engine never saw: mocap takes worn by
virtual IMUs (random mounting, noise, bias), built as bench/eval_temporal_mocap.py builds them."""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import query
from query.dense_sync import auto_sync, piecewise_sync
from query.xcorr import check_pose_units, xcorr_sync

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import eval_temporal_mocap as mocap  # noqa: E402


@pytest.fixture(scope="module")
def takes(utd_dir):
    root = utd_dir.parent
    # every non-calibration take, as before the split kept a share for token pretraining
    found = mocap.load_takes(root, ("eval", "train"), folders=("bandai-namco/dataset-1/data",), limit=40)
    if not found:
        pytest.skip("no Bandai-Namco mocap under ../shared/data")
    return found


def pair(takes, seed, length=20.0, shift=2.7, placement="right_wrist", acc_only=False):
    rng = np.random.default_rng(seed)
    scene = mocap.chain_takes(takes, length + 2 * abs(shift) + 4, rng)
    imu = mocap.virtual_sensor(scene, placement, rng, acc_only=acc_only)
    pose = mocap.pose_stream(scene, rng)
    start = abs(shift) + 2
    return mocap.crop(imu, start, length), mocap.crop(pose, start - shift, length)


@pytest.mark.parametrize("acc_only", [False, True])
def test_physical_baseline_recovers_offset_under_random_mounting(takes, acc_only):
    # (Bandai takes are mostly upper-body gestures: a still ankle gives nothing to line up, and
    # auto says so with low evidence; these placements move in every take.)
    for seed, placement in ((1, "right_wrist"), (2, "left_forearm"), (3, "head")):
        imu, pose = pair(takes, seed, length=30.0, shift=2.7 - seed, placement=placement, acc_only=acc_only)
        r = xcorr_sync(imu, pose, max_offset=7.0)
        assert abs(r.offset - (2.7 - seed)) <= 0.05, (placement, r.offset, r.details)
        assert r.details["signals"] == ("acc" if acc_only else "acc+gyr")
        assert f"{r.matches} lags tried" in str(r) and "mutual" not in str(r)


def test_auto_is_reliable_only_when_right(takes):
    imu, pose = pair(takes, 4, length=30.0, shift=-3.3)
    r = auto_sync(imu, pose, None, max_offset=7.0)
    assert r.reliable and abs(r.offset + 3.3) <= 0.2 and 0.9 <= r.confidence <= 1.0
    _, other_pose = pair(takes, 99, length=30.0, shift=0.0)
    for seed in (5, 6, 7):
        imu, _ = pair(takes, seed, length=30.0)
        unrelated = auto_sync(imu, other_pose, None, max_offset=7.0)
        assert not unrelated.reliable, unrelated.details


def test_a_three_second_clip_syncs(takes):
    """Three seconds hold little motion: most clips sync, and those called reliable are right."""
    results = []
    for seed in range(8, 20):
        imu, pose = pair(takes, seed, length=3.0, shift=0.8)
        results.append(auto_sync(imu, pose, None, max_offset=2.0))
    right = [abs(r.offset - 0.8) <= 0.2 for r in results]
    assert sum(right) >= 8, [round(r.offset, 2) for r in results]
    assert all(ok for ok, r in zip(right, results) if r.reliable)


def test_long_stream_drift_is_measured(takes):
    rng = np.random.default_rng(9)
    scene = mocap.chain_takes(takes, 610.0, rng)
    imu = mocap.virtual_sensor(scene, "right_wrist", rng)
    eps = 1e-3  # the IMU's clock runs 0.1 % slow: 3.6 s/hour of drift
    imu = replace(imu, rate=imu.rate / (1 + eps))
    pose = mocap.pose_stream(scene, rng)
    pose = mocap.crop(pose, 1.5, 600.0)  # the pose starts 1.5 s into the scene: offset -1.5 s at t = 0
    r = piecewise_sync(imu, pose, lambda a, b, m: auto_sync(a, b, None, m), segment=60.0, max_offset=5.0)
    assert r.drift == pytest.approx(-3.6, abs=0.4), r.segments
    assert r.offset == pytest.approx(-1.5, abs=0.05)
    assert r.offset_end == pytest.approx(r.offset + r.drift * imu.duration / 3600, abs=1e-6)
    assert "drift" in str(r) and r.to_frame()["drift_s_per_hour"][0] == pytest.approx(r.drift)


def test_hungarian_assigns_three_people_wearing_three_imus(takes):
    rng = np.random.default_rng(10)
    imus, poses, truth = mocap.assign_scenes(takes, 1, 3, 20.0, rng)[0]
    out = query.assign(imus, poses, "xcorr", parts=list(mocap.ASSIGN_PLACEMENTS), placement_known=False)
    assert list(zip(out["person"], out["body_part"])) == truth
    # more IMUs than places: the extra one is reported, not fatal
    out = query.assign(imus, poses[:1], "xcorr", parts=list(mocap.ASSIGN_PLACEMENTS), placement_known=False)
    assert out.height == 9 and out["person"].null_count() == 6 and out["note"].str.contains("no ").sum() == 6


def test_inch_valued_pose_is_warned_about(takes, caplog):
    _, pose = pair(takes, 11, length=5.0)
    assert check_pose_units(pose) is None
    inches = replace(pose, data=pose.data / 0.0254, source="take_inches.npy")
    with caplog.at_level("WARNING"):
        msg = check_pose_units(inches)
    assert "take_inches.npy" in msg and "--units" in msg and "take_inches.npy" in caplog.text


# ---- the command line --------------------------------------------------------------------------
def test_cli_sync_auto_default_and_missing_other_rate(takes, tmp_path, capsys):
    from query.cli import main

    imu, pose = pair(takes, 12, length=20.0, shift=1.1)
    np.save(tmp_path / "imu.npy", imu.data)
    np.save(tmp_path / "pose.npy", pose.data)
    base = ["sync", str(tmp_path / "imu.npy"), str(tmp_path / "pose.npy"), "--rate", "50", "--index",
            str(tmp_path / "no-index")]
    assert main(base + ["--other-rate", "30", "--max-offset", "5", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["method"].startswith("auto(xcorr") and abs(row["offset"] - 1.1) <= 0.05 and row["reliable"]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert "(--other-rate)" in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_recording_from_an_index(tmp_path, tiny_encoder, capsys):
    from indexer.build import build_path
    from indexer.importers import discover
    from query.cli import main

    entries = discover(None, "demo")[:2]
    build_path(tmp_path / "ix", entries, tiny_encoder, progress=False)
    rec = entries[0].id
    ix = ["--index", str(tmp_path / "ix")]
    assert main(["sync", "--recording", rec, "--method", "xcorr", "--max-offset", "2", "--json", *ix]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert abs(row["offset"]) <= 0.1  # the demo's IMU is made from its own skeleton
    assert main(["assign", "--recording", rec, "--json", *ix]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["person"] == 0
    assert main(["sync", "--recording", "demo/nothing", *ix]) == 2
    err = capsys.readouterr().err
    assert "no recording" in err and err.count("\n") == 1


def test_physical_locate_finds_the_snippet_among_scenes(takes):
    from query.xcorr import locate_in

    rng = np.random.default_rng(5)
    scenes = [mocap.chain_takes(takes, 30.0, rng) for _ in range(5)]
    poses = {f"scene{i}": mocap.pose_stream(c, rng) for i, c in enumerate(scenes)}
    for placement, start in (("right_wrist", 11.3), ("left_ankle", 4.0)):
        imu = mocap.crop(mocap.virtual_sensor(scenes[3], placement, rng), start, 6.0)
        places = locate_in(imu, poses, k=5)
        score, rec, t0 = places[0]
        assert rec == "scene3" and abs(t0 - start) <= 0.1, places[:3]
        assert all(0.0 <= s <= 30.0 - 6.0 + 1e-6 for _, _, s in places)  # wholly inside its recording
        assert [p[0] for p in places] == sorted((p[0] for p in places), reverse=True)


def test_cli_locate_physical_on_an_index_without_tokens(tmp_path, tiny_encoder, capsys):
    from indexer.build import build_path
    from indexer.importers import discover
    from query.cli import main

    entries = discover(None, "demo")[:3]
    build_path(tmp_path / "ix", entries, tiny_encoder, progress=False)
    ix = ["--index", str(tmp_path / "ix")]
    argv = ["locate", "--from-recording", entries[1].id, "--start", "1", "--end", "5", "--method", "xcorr",
            "-k", "3", "--json", *ix]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(r["recording_id"] in {e.id for e in entries} for r in rows)
    assert all(0.0 <= r["t_start"] and r["t_end"] <= 8.0 + 1e-6 for r in rows)
    assert main([*argv, "--where", f"recording_id = '{entries[0].id}'"]) == 0
    assert {r["recording_id"] for r in json.loads(capsys.readouterr().out)} == {entries[0].id}
    assert main([*argv[:-3], "--target", "imu", *ix]) == 2
    assert "--target pose" in capsys.readouterr().err
