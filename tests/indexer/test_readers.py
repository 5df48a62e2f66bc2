"""A file means the same in an archive and as a query: both read it through
indexer.importers.readers, so the streams are identical for every format."""
from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import scipy.io

from indexer.bodyparts import CANONICAL_JOINTS, KINECT20_JOINTS
from indexer.importers import archive, discover, readers
from indexer.model import ImuStream, PoseStream
from indexer.units import IMU6_CHANNELS
from query import cli as query_cli
from query import inputs, read_imu, read_pose

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
BVH = SHARED / "bandai-namco" / "dataset-2" / "data" / "dataset-2_raise-up-right-hand_active_013.bvh"


def _imu(seconds: float = 3.0, rate: float = 50.0) -> np.ndarray:
    """(T, 6): acc in g (gravity on z), gyro in deg/s."""
    t = np.arange(round(seconds * rate)) / rate
    s = np.sin(2 * np.pi * t)
    return np.stack([0.3 * s, 0.1 * np.cos(2 * np.pi * t), 1 + 0.05 * s, 90 * s, 10 * s, 0 * t], axis=1)


def _kinect(frames: int = 60) -> np.ndarray:
    """(T, 20, 3) a standing Kinect skeleton in cm, z up, the right wrist swinging."""
    rng = np.random.default_rng(0)
    body = rng.uniform(-20, 20, (20, 3))
    body[:, 2] = np.linspace(170, 10, 20)
    data = np.tile(body, (frames, 1, 1))
    data[:, KINECT20_JOINTS.index("right_wrist"), 0] += 30 * np.sin(np.arange(frames) / 10)
    return data


def write_csv(folder: Path) -> Path:
    np.savetxt(folder / "imu.csv", _imu(), delimiter=",", header=",".join(IMU6_CHANNELS), comments="", fmt="%.6f")
    return folder / "imu.csv"


def write_timed_csv(folder: Path) -> Path:
    t_ms = np.cumsum(np.random.default_rng(1).uniform(15, 25, 150))
    t_ms[100:] += 3000  # a stop: two parts; the query uses the longer, the archive keeps both
    table = np.column_stack([t_ms, _imu()[:150, :3]])
    np.savetxt(folder / "watch.csv", table, delimiter=",", header="stamp,acc_x,acc_y,acc_z", comments="", fmt="%.6f")
    return folder / "watch.csv"


def write_parquet(folder: Path) -> Path:
    data = _imu()
    # gyro first, a counter and a time column the reader leaves out
    columns = {"time": np.arange(len(data)) / 50.0, "counter": np.arange(len(data), dtype=float),
               **{c: data[:, IMU6_CHANNELS.index(c)] for c in IMU6_CHANNELS[3:] + IMU6_CHANNELS[:3]}}
    pl.DataFrame(columns).write_parquet(folder / "imu.parquet")
    return folder / "imu.parquet"


def write_imu_npy(folder: Path) -> Path:
    np.save(folder / "imu.npy", _imu()[:, [3, 4, 5, 0, 1, 2]])
    return folder / "imu.npy"


def write_imu_mat(folder: Path) -> Path:
    scipy.io.savemat(folder / "a1_s1_t1_inertial.mat", {"d_iner": _imu()})
    return folder / "a1_s1_t1_inertial.mat"


def write_pose_npy(folder: Path) -> Path:
    np.save(folder / "pose.npy", _kinect())
    return folder / "pose.npy"


def write_mapped_npy(folder: Path) -> Path:
    """Canonical joints under other names, with two extra joints a joint map leaves out."""
    data = np.concatenate([_kinect()[:, :16] / 100, np.zeros((60, 2, 3))], axis=1)
    np.save(folder / "mapped.npy", data)
    return folder / "mapped.npy"


def write_pose_mat(folder: Path) -> Path:
    y_up = _kinect()[..., [0, 2, 1]] * [1, 1, -1] / 100  # UTD-MHAD's Kinect: metres, y up
    scipy.io.savemat(folder / "a1_s1_t1_skeleton.mat", {"d_skel": y_up.transpose(1, 2, 0)})
    return folder / "a1_s1_t1_skeleton.mat"


def write_bvh(folder: Path) -> Path:
    if not BVH.exists():
        pytest.skip(f"Bandai-Namco BVH not found at {BVH}")
    return Path(shutil.copy(BVH, folder / "take.bvh"))


MAPPED_JOINTS = [f"J{i}" for i in range(18)]
JOINT_MAP = {f"J{i}": name for i, name in enumerate(CANONICAL_JOINTS)}

# name -> (kind, writer, manifest keys besides `file`, the same as query options)
CASES = {
    "csv": ("imu", write_csv, {"rate": 50, "acc_unit": "g", "gyr_unit": "deg/s", "placement": "left wrist"},
            {"rate": 50, "acc_unit": "g", "gyr_unit": "deg/s", "placement": "left wrist"}),
    "csv with a clock": ("imu", write_timed_csv, {"time_column": "stamp", "time_unit": "ms", "acc_unit": "g"},
                         {"time_column": "stamp", "time_unit": "ms", "acc_unit": "g"}),
    "parquet": ("imu", write_parquet, {"rate": 50, "channels": IMU6_CHANNELS, "acc_unit": "g", "gyr_unit": "deg/s"},
                {"rate": 50, "channels": ",".join(IMU6_CHANNELS), "acc_unit": "g", "gyr_unit": "deg/s"}),
    "npy": ("imu", write_imu_npy, {"rate": 50, "channels": IMU6_CHANNELS[3:] + IMU6_CHANNELS[:3], "acc_unit": "g",
                                   "gyr_unit": "deg/s", "placement": "pelvis"},
            {"rate": 50, "channels": IMU6_CHANNELS[3:] + IMU6_CHANNELS[:3], "acc_unit": "g", "gyr_unit": "deg/s",
             "placement": "pelvis"}),
    "mat": ("imu", write_imu_mat, {}, {}),
    "pose npy": ("pose", write_pose_npy, {"fps": 30, "skeleton": "kinect20", "units": "cm", "up": "z"},
                 {"rate": 30, "skeleton": "kinect20", "units": "cm", "up": "z"}),
    "pose npy with a joint map": ("pose", write_mapped_npy, {"fps": 30, "joints": MAPPED_JOINTS, "joint_map": JOINT_MAP},
                                  {"rate": 30, "joints": MAPPED_JOINTS, "joint_map": JOINT_MAP}),
    "pose mat": ("pose", write_pose_mat, {}, {}),
    "bvh": ("pose", write_bvh, {}, {}),
}


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'{k} = "{v}"' for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return f'"{value}"' if isinstance(value, str) else str(value)


def _as_archive(folder: Path, kind: str, file: Path, keys: dict) -> list:
    table = f"[[recording.{kind}]]" if kind == "imu" else f"[recording.{kind}]"
    lines = [f'file = "{file.name}"'] + [f"{k} = {_toml(v)}" for k, v in keys.items()]
    (folder / "manifest.toml").write_text('[[recording]]\nid = "r"\n' + table + "\n" + "\n".join(lines) + "\n")
    (entry,) = discover(folder)
    rec = entry.load()
    return rec.imu if kind == "imu" else [rec.pose]


def _same(a, b) -> None:
    assert type(a) is type(b)
    np.testing.assert_array_equal(a.data, b.data)
    assert (a.rate, a.source, a.offset) == (b.rate, b.source, b.offset)
    if isinstance(a, ImuStream):
        assert (a.channels, a.placement) == (b.channels, b.placement)
    else:
        assert isinstance(a, PoseStream) and (a.skeleton, a.joints) == (b.skeleton, b.joints)


@pytest.mark.parametrize("case", list(CASES))
def test_an_archive_file_and_the_same_file_as_a_query_are_the_same_stream(tmp_path, case):
    kind, write, keys, options = CASES[case]
    file = write(tmp_path)
    streams = _as_archive(tmp_path, kind, file, keys)
    query = read_imu(file, **options) if kind == "imu" else read_pose(file, **options)
    # a query is one clip: the longest gap-free part, its time 0 at its first sample
    longest = max(streams, key=lambda s: len(s.data))
    _same(query, replace(longest, offset=0.0))
    if case == "csv with a clock":
        assert len(streams) == 2  # the archive keeps both parts of the clock
    if kind == "pose":
        body = query.canonical()
        head, pelvis = (body[:, CANONICAL_JOINTS.index(j)] for j in ("head", "pelvis"))
        assert (head[:, 1] > pelvis[:, 1]).all()  # y up, in metres, whatever the file said


def test_reading_options_are_the_spec_fields():
    """Manifest keys, manifest.csv columns, the query readers' keyword options and the command
    line's reading group all come from the two file specs."""
    assert archive.STREAM_KEYS["imu"] == {"file", "rate", "time_column", "time_columns", "time_unit", "max_gap",
                                          "placement", "channels", "acc_unit", "gyr_unit", "offset"}
    assert archive.STREAM_KEYS["pose"] == {"file", "fps", "skeleton", "joints", "joint_map", "units", "up", "offset"}
    assert {"imu_rate", "imu_time_column", "pose_fps", "pose_up"} <= set(archive.CSV_COLUMNS)
    assert "pose_joint_map" not in archive.CSV_COLUMNS  # a table does not fit a cell
    assert inputs.IMU_READ_OPTIONS == ("rate", "time_column", "time_unit", "max_gap", "placement", "channels",
                                       "acc_unit", "gyr_unit")
    assert inputs.POSE_READ_OPTIONS == ("rate", "skeleton", "joints", "joint_map", "units", "up")
    parser = argparse.ArgumentParser()
    query_cli.reading_options(parser)
    flags = {a.dest for a in parser._actions} - {"help"}
    assert flags == set(inputs.IMU_READ_OPTIONS) | set(inputs.POSE_READ_OPTIONS)
    args = parser.parse_args(["--rate", "50", "--time-column", "t", "--units", "cm"])
    assert readers.options_from_args(args, "imu") == {"rate": 50.0, "time_column": "t"}  # unset: the spec's default
    assert readers.options_from_args(args, "pose") == {"rate": 50.0, "units": "cm"}
