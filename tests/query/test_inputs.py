"""Reading query files the way the user's files are: timestamps instead of a rate, acc-only
tables, skeletons the engine does not know (joint maps, units, up axes), and several sensors
searched at once."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from test_build import imu_signal

from indexer.build import build_path
from indexer.errors import BadInput
from indexer.model import Entry, ImuStream, Recording
from indexer.units import IMU6_CHANNELS
from query import cli as query_cli
from query import read_imu, read_pose
from query.api import open_index

# Azure Kinect body tracking's 32 joints, in its order; its camera coordinates are millimetres, y down.
AZURE32 = ["PELVIS", "SPINE_NAVEL", "SPINE_CHEST", "NECK", "CLAVICLE_LEFT", "SHOULDER_LEFT", "ELBOW_LEFT",
           "WRIST_LEFT", "HAND_LEFT", "HANDTIP_LEFT", "THUMB_LEFT", "CLAVICLE_RIGHT", "SHOULDER_RIGHT",
           "ELBOW_RIGHT", "WRIST_RIGHT", "HAND_RIGHT", "HANDTIP_RIGHT", "THUMB_RIGHT", "HIP_LEFT", "KNEE_LEFT",
           "ANKLE_LEFT", "FOOT_LEFT", "HIP_RIGHT", "KNEE_RIGHT", "ANKLE_RIGHT", "FOOT_RIGHT", "HEAD", "NOSE",
           "EYE_LEFT", "EAR_LEFT", "EYE_RIGHT", "EAR_RIGHT"]
AZURE_MAP = {"PELVIS": "pelvis", "SPINE_CHEST": "chest", "NECK": "neck", "HEAD": "head",
             **{f"{j.upper()}_{s.upper()}": f"{s}_{j}" for s in ("left", "right")
                for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")}}


def test_a_timestamped_acc_only_table_becomes_a_uniform_stream(tmp_path, caplog):
    rng = np.random.default_rng(0)
    t_ms = np.cumsum(rng.uniform(8.0, 12.0, 400))  # a ~100 Hz clock with jitter, in milliseconds
    t_ms[300:] += 3000.0  # and a 3 s stop in the middle
    acc = np.stack([np.sin(t_ms / 200.0), np.cos(t_ms / 200.0), 1 + 0 * t_ms], 1)  # in g
    path = tmp_path / "watch.csv"
    np.savetxt(path, np.column_stack([t_ms, acc]), delimiter=",", header="timestamp,acc_x,acc_y,acc_z",
               comments="", fmt="%.6f")
    with caplog.at_level(logging.WARNING):
        imu = read_imu(path, time_column="timestamp", time_unit="ms", acc_unit="g", placement="left wrist")
    assert isinstance(imu, ImuStream) and imu.channels == ["acc_x", "acc_y", "acc_z"]
    assert imu.placement == "left_wrist" and 95 < imu.rate < 105
    # the longest gap-free part (the first 300 samples, ~3 s), resampled on a uniform grid, in m/s^2
    assert imu.duration == pytest.approx((t_ms[299] - t_ms[0]) / 1000, abs=0.02)
    grid_ms = t_ms[0] + np.arange(len(imu.data)) / imu.rate * 1000
    np.testing.assert_allclose(imu.data[:, 0], 9.80665 * np.sin(grid_ms / 200.0), atol=0.01)  # linear interpolation
    assert "longest of its 2 gap-free parts" in caplog.text

    fixed = read_imu(path, rate=50.0, time_column="timestamp", time_unit="ms", max_gap=5.0)
    assert fixed.rate == 50.0 and fixed.duration > 6.0  # one stream across the stop when it is allowed
    with pytest.raises(BadInput, match="--time-column"):  # no rate, no time column: the hint names both
        read_imu(path)
    with pytest.raises(BadInput, match="no time column 'clock'"):
        read_imu(path, time_column="clock")


def azure_file(tmp_path: Path) -> Path:
    """A standing person, 2 s at 30 fps: 32 Azure Kinect joints in mm, camera y pointing down."""
    height = {"HEAD": 1700, "NOSE": 1680, "NECK": 1500, "SPINE_CHEST": 1300, "SPINE_NAVEL": 1100, "PELVIS": 1000}
    rng = np.random.default_rng(1)
    frame = np.zeros((32, 3))
    for i, name in enumerate(AZURE32):
        side = -1 if name.endswith("LEFT") else 1 if name.endswith("RIGHT") else 0
        y = height.get(name, 1400 if "SHOULDER" in name or "CLAVICLE" in name else
                       1100 if "ELBOW" in name else 900 if any(p in name for p in ("WRIST", "HAND", "THUMB"))
                       else 950 if "HIP" in name else 500 if "KNEE" in name else 80 if "ANKLE" in name
                       else 1650 if "EYE" in name or "EAR" in name else 20)
        frame[i] = [side * (200 if "SHOULDER" in name else 120), -y, 2500 + rng.normal(0, 10)]
    data = frame[None] + rng.normal(0, 5, (60, 32, 3))
    np.save(tmp_path / "azure.npy", data)
    return tmp_path / "azure.npy"


def test_an_unknown_32_joint_skeleton_reads_through_a_joint_map(tmp_path):
    path = azure_file(tmp_path)
    pose = read_pose(path, rate=30.0, joints=",".join(AZURE32), joint_map=json.dumps(AZURE_MAP), units="mm",
                     up="-y")
    assert pose.skeleton == "canonical" and len(pose.joints) == len(AZURE_MAP) and pose.data.shape == (60, 16, 3)
    canon = pose.canonical()
    from indexer.bodyparts import CANONICAL_JOINTS

    head, pelvis = canon[:, CANONICAL_JOINTS.index("head")], canon[:, CANONICAL_JOINTS.index("pelvis")]
    assert (head[:, 1] - pelvis[:, 1] == pytest.approx(0.7, abs=0.05))  # metres, y up
    # the same map as pairs
    pairs = ",".join(f"{k}={v}" for k, v in AZURE_MAP.items())
    assert np.allclose(read_pose(path, 30.0, joints=AZURE32, joint_map=pairs, units="mm", up="-y").data, pose.data)
    # without the up axis the person stands on their head
    upside_down = read_pose(path, 30.0, joints=AZURE32, joint_map=AZURE_MAP, units="mm").canonical()
    assert (upside_down[:, 3, 1] < upside_down[:, 0, 1]).all()


@pytest.mark.parametrize("joint_map, reason", [
    ("PELVIS=hips_center", "targets ['hips_center'] are not canonical joints"),
    ("PELVIS:pelvis", "expected a JSON object or FILE_NAME=canonical_name pairs"),
    ('{"PELVIS": "pelvis"', "joint map is not valid JSON"),
    ("PELVIS=pelvis,HEAD=head", "lacks canonical joints"),
])
def test_a_bad_joint_map_is_one_error_line(tmp_path, capsys, joint_map, reason):
    path = azure_file(tmp_path)
    argv = ["pose", str(path), "--rate", "30", "--joints", ",".join(AZURE32), "--joint-map", joint_map,
            "--index", str(tmp_path / "no-index")]
    assert query_cli.main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}: ") and reason in err[0], err
    assert "Traceback" not in captured.err and captured.out == ""


# ----------------------------------------------------------------------------- several sensors at once

WRIST, ANKLE = "right_wrist", "left_ankle"


def sensor_signal(seed: int, seconds: float = 8.0) -> np.ndarray:
    """Odd seeds: the sensor worn the other way round (gravity on x), so even a random encoder
    tells them apart."""
    data = imu_signal(seconds, 50.0, seed)
    return data[:, [2, 1, 0, 5, 4, 3]] * [1, 3, 1, 1, 3, 1] if seed % 2 else data


def two_sensor_entry(rec_id: str, wrist_seed: int, ankle_seed: int, seconds: float = 8.0) -> Entry:
    def load() -> Recording:
        imus = [ImuStream(sensor_signal(seed, seconds), 50.0, list(IMU6_CHANNELS), placement, f"{rec_id}.{placement}")
                for seed, placement in ((wrist_seed, WRIST), (ankle_seed, ANKLE))]
        return Recording(rec_id, "two", "1", [rec_id], imu=imus, sources=[f"{rec_id}.csv"])

    return Entry(rec_id, [f"{rec_id}.csv"], load, "1")


@pytest.fixture(scope="module")
def two_sensor_index(tmp_path_factory, tiny_encoder) -> Path:
    # "same_wrist" moves its wrist exactly as "both" does, but its ankle differently
    entries = [two_sensor_entry("both", 2, 4), two_sensor_entry("same_wrist", 2, 7),
               two_sensor_entry("other", 5, 6)]
    out = tmp_path_factory.mktemp("two-sensor") / "index"
    assert build_path(out, entries, tiny_encoder, progress=False).read == 3
    return out


def _clip(seed: int, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.csv"
    data = sensor_signal(seed)[100:350]  # t = 2 .. 7 s: the window starting at 2 s
    np.savetxt(path, data, delimiter=",", header=",".join(IMU6_CHANNELS), comments="", fmt="%.6f")
    return path


def test_two_sensors_find_the_recording_where_both_match(two_sensor_index, tmp_path):
    ix = open_index(two_sensor_index)
    wrist, ankle = _clip(2, tmp_path, "wrist"), _clip(4, tmp_path, "ankle")
    alone = ix.search_file(wrist, "imu", "imu", k=2, rate=50.0, placement=WRIST, where=f"body_part = '{WRIST}'")
    assert set(alone["recording_id"]) == {"both", "same_wrist"}  # one sensor cannot tell them apart
    assert set(alone["body_part"]) == {WRIST}  # and says which placement it found

    hits = ix.search_sensors([wrist, ankle], "imu", k=12, rate=50.0, placements=[WRIST, ANKLE])
    assert hits.height == 12  # 3 recordings x 4 window starts, each seen by both sensors
    top = hits.row(0, named=True)
    assert (top["recording_id"], top["t_start"], top["body_part"]) == ("both", 2.0, f"{WRIST}+{ANKLE}")
    assert top["score"] == pytest.approx(2.0, abs=1e-4)
    assert top["score"] == pytest.approx(top[f"score_{WRIST}"] + top[f"score_{ANKLE}"])
    assert hits["rank"].to_list() == list(range(1, hits.height + 1))
    same = hits.filter((hits["recording_id"] == "same_wrist") & (hits["t_start"] == 2.0)).row(0, named=True)
    assert same[f"score_{WRIST}"] == pytest.approx(1.0, abs=1e-4)  # its wrist matches as well as "both"'s
    assert same["score"] < top["score"] - 1e-3 and same["rank"] > 1  # but its ankle does not
    with pytest.raises(ValueError, match="several sensors at right_wrist"):
        ix.search_sensors([wrist, ankle], "imu", rate=50.0, placements=[WRIST, WRIST])


def test_cli_searches_several_sensor_files_together(two_sensor_index, tmp_path, capsys):
    wrist, ankle = _clip(2, tmp_path, "wrist"), _clip(4, tmp_path, "ankle")
    base = ["imu", str(wrist), str(ankle), "--rate", "50", "--target", "imu", "--index", str(two_sensor_index)]
    assert query_cli.main([*base, "--placement", f"{WRIST},{ANKLE}", "-k", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["recording_id"] == "both" and rows[0]["body_part"] == f"{WRIST}+{ANKLE}"
    assert query_cli.main([*base, "--placement", f"{WRIST},{ANKLE}", "-k", "3"]) == 0
    table = capsys.readouterr().out
    assert "body_part" in table and f"score_{ANKLE}" in table and f"{WRIST}+{ANKLE}" in table
    assert query_cli.main(base) == 2  # which sensor is which must be said
    assert "say where each was worn" in capsys.readouterr().err
    assert query_cli.main(["imu", str(wrist), "--rate", "50", "--target", "imu", "-k", "2",
                           "--index", str(two_sensor_index)]) == 0
    assert "body_part" in capsys.readouterr().out  # a one-sensor table shows the placement found
