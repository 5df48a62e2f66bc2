"""Generic archive importer: TOML and CSV manifests, unit conversion, file types, bad input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from indexer.bodyparts import CANONICAL_JOINTS
from indexer.errors import BadInput
from indexer.importers import detect_format, discover, example
from indexer.units import STANDARD_GRAVITY

IMU6 = "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"


def load_all(folder: Path) -> dict:
    return {e.id: e.load() for e in discover(folder)}


def write_manifest(folder: Path, toml: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.toml"
    path.write_text(toml)
    return path


def imu_csv(path: Path, rows: list[list[float]], header: str = IMU6) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    return path


def one_imu_manifest(folder: Path, file: str, extra: str = "rate = 100") -> Path:
    return write_manifest(folder, f'[[recording]]\nid = "r1"\n[[recording.imu]]\nfile = "{file}"\n{extra}\n')


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("form", ["toml", "csv"])
def test_example_archive_round_trip(tmp_path, form):
    manifest = example.write_example(tmp_path / "arch", form)
    assert manifest.name == f"manifest.{form}"
    assert detect_format(tmp_path / "arch") == "archive"
    entries = discover(tmp_path / "arch")
    assert [e.id for e in entries] == ["example/walk_01", "example/wave_01"]
    assert entries[0].sources == [str(tmp_path / "arch" / p) for p in
                                  ("imu/walk_01.csv", "pose/walk_01.npy", "text/walk_01.csv")]

    walk, wave = (e.load() for e in entries)
    assert walk.dataset == "example" and walk.subject == "s1"
    assert walk.labels == ["walk", "outdoor"] and wave.labels == ["wave", "greeting"]
    imu = walk.imu[0]
    assert imu.rate == 100.0 and imu.channels == IMU6.split(",") and imu.placement == "right_wrist"
    assert wave.imu[0].placement == "left_wrist"  # "left wrist" in the manifest
    # The example writes acc_z = 1 g and gyr_x = 90 deg/s at t = 0.
    assert imu.data[0, 2] == pytest.approx(STANDARD_GRAVITY, rel=1e-6)
    assert imu.data[0, 3] == pytest.approx(math.pi / 2, rel=1e-6)
    assert walk.pose.data.shape == (90, 16, 3) and walk.pose.rate == 30.0
    assert walk.pose.joints == CANONICAL_JOINTS and walk.pose.skeleton == "canonical"
    assert [(t.start, t.end, t.text) for t in walk.text] == [
        (0.0, 1.5, "walks forward, arms swinging"), (1.5, 3.0, "keeps walking")]
    assert [t.text for t in wave.text] == ["waves with the left hand", "lowers the arm"]  # JSONL
    assert walk.duration == pytest.approx(3.0)


def test_toml_and_csv_forms_agree(tmp_path):
    a = load_all(example.write_example(tmp_path / "t", "toml").parent)
    b = load_all(example.write_example(tmp_path / "c", "csv").parent)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key].imu[0].data, b[key].imu[0].data)
        np.testing.assert_array_equal(a[key].pose.data, b[key].pose.data)
        assert a[key].text == b[key].text and a[key].labels == b[key].labels


def test_units_are_converted(tmp_path):
    # five times over: a stream must last 0.1 s (indexer.bounds.MIN_STREAM_SECONDS)
    imu_csv(tmp_path / "a" / "imu.csv", [[1, 0, -1, 180, 0, -90], [0, 0.5, 0, 0, 360, 0]] * 5)
    one_imu_manifest(tmp_path / "a", "imu.csv", 'rate = 50\nacc_unit = "g"\ngyr_unit = "deg/s"')
    rec = load_all(tmp_path / "a")["a/r1"]
    np.testing.assert_allclose(
        rec.imu[0].data[:2],
        [[9.80665, 0, -9.80665, math.pi, 0, -math.pi / 2], [0, 4.903325, 0, 0, 2 * math.pi, 0]],
        rtol=1e-6,
    )
    assert rec.imu[0].placement == "right_wrist"  # the default


def test_si_units_by_default_and_dataset_from_folder(tmp_path):
    imu_csv(tmp_path / "lab" / "imu.csv", [[1, 2, 3, 4, 5, 6]] * 10)
    one_imu_manifest(tmp_path / "lab", "imu.csv")
    rec = load_all(tmp_path / "lab")["lab/r1"]
    assert rec.dataset == "lab"
    np.testing.assert_allclose(rec.imu[0].data, [[1, 2, 3, 4, 5, 6]] * 10)


def test_parquet_imu_with_extra_column_and_two_sensors(tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    # gyroscope before accelerometer, ten samples (0.1 s at 100 Hz, the shortest stream allowed)
    columns = {"time": 0.0, "gyr_z": 1.0, "gyr_x": 0.5, "gyr_y": 0.0, "acc_x": 3.0, "acc_y": 0.0, "acc_z": 9.0}
    pl.DataFrame({c: [v] * 10 for c, v in columns.items()}).write_parquet(folder / "w.parquet")
    np.save(folder / "t.npy", np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]] * 5))
    write_manifest(folder, """
[[recording]]
id = "r1"
[[recording.imu]]
file = "w.parquet"
rate = 100
channels = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
placement = "Left-Wrist"
[[recording.imu]]
file = "t.npy"
rate = 100
channels = "acc_x;acc_y;acc_z"
placement = "thigh"
acc_unit = "g"
""")
    rec = load_all(folder)["pq/r1"]
    wrist, thigh = rec.imu
    assert wrist.channels == ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"] and wrist.placement == "left_wrist"
    np.testing.assert_allclose(wrist.data, [[3, 0, 9, 0.5, 0, 1]] * 10)  # picked by name, time dropped
    assert thigh.placement == "right_thigh"
    np.testing.assert_allclose(thigh.data, np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]] * 5) * 9.80665, rtol=1e-6)


def _tiny_mp4(path, frames: int = 10, fps: int = 10) -> None:
    """A real (tiny) video: the importer reads its container header."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def test_pose_units_skeleton_joints_and_video(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    kinect = np.zeros((5, 20, 3))
    kinect[:, 3, 1] = 100.0  # hip_center 100 cm up
    np.save(folder / "k.npy", kinect)
    _tiny_mp4(folder / "v.mp4")
    write_manifest(folder, """
[[recording]]
id = "r1"
labels = "jump"
[recording.pose]
file = "k.npy"
fps = 15
skeleton = "kinect20"
units = "cm"
[recording.video]
file = "v.mp4"
offset = 0.5
""")
    rec = load_all(folder)["p/r1"]
    assert rec.pose.skeleton == "kinect20" and rec.pose.joints[3] == "hip_center"
    assert rec.pose.data[0, 3, 1] == pytest.approx(1.0)
    assert rec.pose.duration == pytest.approx(5 / 15)
    assert rec.video.path == str(folder / "v.mp4") and rec.video.offset == 0.5
    assert rec.video.duration == pytest.approx(1.0, abs=0.15)  # read from the container
    assert rec.modalities() == ["pose", "video"]


# ----------------------------------------------------------------------------- bad input


def test_missing_stream_file_fails_only_that_recording(tmp_path):
    folder = tmp_path / "m"
    imu_csv(folder / "ok.csv", [[0, 0, 1, 0, 0, 0]] * 2)
    write_manifest(folder, """
[[recording]]
id = "good"
[[recording.imu]]
file = "ok.csv"
rate = 10
[[recording]]
id = "bad"
[[recording.imu]]
file = "gone.csv"
rate = 10
""")
    good, bad = discover(folder)
    assert good.load().imu[0].data.shape == (2, 6)
    with pytest.raises(BadInput, match="missing stream file") as err:
        bad.load()
    assert err.value.path == str(folder / "gone.csv")


def test_csv_with_fewer_columns_than_channels(tmp_path):
    imu_csv(tmp_path / "s" / "imu.csv", [[1, 2, 3, 4]], header="a,b,c,d")
    one_imu_manifest(tmp_path / "s", "imu.csv", f'rate = 100\nchannels = "{IMU6.replace(",", ";")}"')
    (entry,) = discover(tmp_path / "s")
    with pytest.raises(BadInput, match="4 columns .* but 6 channels") as err:
        entry.load()
    assert str(tmp_path / "s" / "imu.csv") in str(err.value)


@pytest.mark.parametrize("cell", ["nan", ""])
def test_nan_or_empty_cell_in_imu(tmp_path, cell):
    imu_csv(tmp_path / "n" / "imu.csv", [[1, 2, 3, 4, 5, 6], [1, 2, cell, 4, 5, 6]])
    one_imu_manifest(tmp_path / "n", "imu.csv")
    (entry,) = discover(tmp_path / "n")
    with pytest.raises(BadInput, match="NaN|empty cell") as err:
        entry.load()
    assert str(tmp_path / "n" / "imu.csv") in str(err.value)


def test_non_numeric_imu_value(tmp_path):
    imu_csv(tmp_path / "w" / "imu.csv", [[1, 2, 3, 4, 5, "oops"]])
    one_imu_manifest(tmp_path / "w", "imu.csv")
    (entry,) = discover(tmp_path / "w")
    with pytest.raises(BadInput, match="gyr_z"):
        entry.load()


@pytest.mark.parametrize("rate", ["", "rate = 0", "rate = -5", 'rate = "fast"', "rate = nan"])
def test_missing_or_bad_rate(tmp_path, rate):
    imu_csv(tmp_path / "r" / "imu.csv", [[1, 2, 3, 4, 5, 6]])
    manifest = one_imu_manifest(tmp_path / "r", "imu.csv", rate)
    (entry,) = discover(tmp_path / "r")
    with pytest.raises(BadInput, match="unknown rate") as err:
        entry.load()
    assert err.value.path == str(manifest)


def test_unknown_skeleton(tmp_path):
    np.save(tmp_path / "p.npy", np.zeros((4, 16, 3)))
    write_manifest(tmp_path, '[[recording]]\nid = "r"\n[recording.pose]\nfile = "p.npy"\nfps = 30\nskeleton = "smpl"\n')
    (entry,) = discover(tmp_path)
    with pytest.raises(BadInput, match="unknown skeleton 'smpl'"):
        entry.load()


def test_pose_with_wrong_joint_count(tmp_path):
    np.save(tmp_path / "p.npy", np.zeros((4, 15, 3)))
    write_manifest(tmp_path, '[[recording]]\nid = "r"\n[recording.pose]\nfile = "p.npy"\nfps = 30\n')
    (entry,) = discover(tmp_path)
    with pytest.raises(BadInput, match="15 joints but 16 joint names") as err:
        entry.load()
    assert str(tmp_path / "p.npy") in str(err.value)


def test_empty_imu_csv(tmp_path):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "imu.csv").write_text("")
    (tmp_path / "e" / "header.csv").write_text(IMU6 + "\n")
    write_manifest(tmp_path / "e", """
[[recording]]
id = "a"
[[recording.imu]]
file = "imu.csv"
rate = 100
[[recording]]
id = "b"
[[recording.imu]]
file = "header.csv"
rate = 100
""")
    a, b = discover(tmp_path / "e")
    with pytest.raises(BadInput, match="empty"):
        a.load()
    with pytest.raises(BadInput, match="0 samples"):
        b.load()


def test_recording_without_streams(tmp_path):
    write_manifest(tmp_path, '[[recording]]\nid = "lonely"\nlabels = ["x"]\n')
    (entry,) = discover(tmp_path)
    with pytest.raises(BadInput, match="no stream"):
        entry.load()


@pytest.mark.parametrize(
    "name, text, reason",
    [
        ("manifest.toml", "[[recording]\nid = ", "not valid TOML"),
        ("manifest.toml", "", "empty"),
        ("manifest.toml", 'title = "x"\n', "unknown top-level"),
        ("manifest.toml", '[[recording]]\nsubject = "s1"\n', "has no id"),
        ("manifest.toml", '[[recording]]\nid = "a"\n[[recording]]\nid = "a"\n', "duplicate recording id"),
        ("manifest.csv", "", "empty"),
        ("manifest.csv", "id,imu_file,imu_rat\nr1,a.csv,100\n", "unknown column"),
        ("manifest.csv", "subject,imu_file\ns1,a.csv\n", "no `id` column"),
        ("manifest.csv", "id,imu_file\nr1,a.csv\nr1,b.csv\n", "duplicate recording id"),
        ("manifest.csv", "id,imu_file\nr1,a.csv,extra\n", "as many cells"),
    ],
)
def test_broken_manifest_fails_discover(tmp_path, name, text, reason):
    (tmp_path / name).write_text(text)
    with pytest.raises(BadInput, match=reason) as err:
        discover(tmp_path, "archive")
    assert err.value.path == str(tmp_path / name)


def test_csv_manifest_columns_and_missing_file(tmp_path):
    imu_csv(tmp_path / "x.csv", [[0, 0, 1, 0, 0, 0]] * 10)
    (tmp_path / "notes.jsonl").write_text(json.dumps({"start": 0, "end": 0.02, "text": "tap"}) + "\n")
    (tmp_path / "manifest.csv").write_text(
        "id,dataset,subject,labels,imu_file,imu_rate,imu_channels,imu_placement,imu_acc_unit,imu_gyr_unit,"
        "pose_file,pose_fps,pose_skeleton,video_file,text_file\n"
        "r1,lab,7,tap; knock ,x.csv,100,acc_x;acc_y;acc_z;gyr_x;gyr_y;gyr_z,wrist,g,,,,,,notes.jsonl\n"
        "r2,lab,7,,,,,,,,,,,missing.mp4,\n"
    )
    r1, r2 = discover(tmp_path)
    rec = r1.load()
    assert rec.id == "lab/r1" and rec.subject == "7" and rec.labels == ["tap", "knock"]
    assert rec.imu[0].data[0, 2] == pytest.approx(9.80665) and rec.text[0].text == "tap"
    with pytest.raises(BadInput, match="missing video file") as err:
        r2.load()
    assert err.value.path == str(tmp_path / "missing.mp4")


def test_npy_imu_needs_channels_and_unit_needs_channels(tmp_path):
    np.save(tmp_path / "i.npy", np.ones((3, 6)))
    imu_csv(tmp_path / "odd.csv", [[1, 2, 3]], header="ax,ay,az")
    write_manifest(tmp_path, """
[[recording]]
id = "npy"
[[recording.imu]]
file = "i.npy"
rate = 100
[[recording]]
id = "odd"
[[recording.imu]]
file = "odd.csv"
rate = 100
acc_unit = "g"
""")
    npy, odd = discover(tmp_path)
    with pytest.raises(BadInput, match="needs `channels`"):
        npy.load()
    with pytest.raises(BadInput, match="no acc_\\* channel"):
        odd.load()  # would otherwise silently skip the g -> m/s^2 conversion


def test_bad_text_rows(tmp_path):
    imu_csv(tmp_path / "i.csv", [[0, 0, 1, 0, 0, 0]])
    (tmp_path / "t.jsonl").write_text('{"start": 2, "end": 1, "text": "backwards"}\n')
    write_manifest(tmp_path, """
[[recording]]
id = "r"
[[recording.imu]]
file = "i.csv"
rate = 100
[recording.text]
file = "t.jsonl"
""")
    (entry,) = discover(tmp_path)
    with pytest.raises(BadInput, match="start <= end") as err:
        entry.load()
    assert err.value.path == str(tmp_path / "t.jsonl")


@pytest.mark.parametrize("how", ["dotdot", "absolute", "symlink"])
def test_a_stream_file_outside_the_archive_is_refused_unless_allowed(tmp_path, how):
    outside = imu_csv(tmp_path / "outside.csv", [[0, 0, 1, 0, 0, 0]] * 3)
    folder = tmp_path / "arch"
    folder.mkdir()
    imu_csv(folder / "ok.csv", [[0, 0, 1, 0, 0, 0]] * 3)
    if how == "symlink":
        (folder / "link.csv").symlink_to(outside)
    name = {"dotdot": "../outside.csv", "absolute": str(outside), "symlink": "link.csv"}[how]
    body = (f'[[recording]]\nid = "out"\n[[recording.imu]]\nfile = "{name}"\nrate = 10\n'
            '[[recording]]\nid = "in"\n[[recording.imu]]\nfile = "ok.csv"\nrate = 10\n')
    write_manifest(folder, body)
    bad, good = discover(folder)
    with pytest.raises(BadInput, match="outside the archive folder") as err:
        bad.load()
    assert "allow_outside = true" in err.value.reason
    assert good.load().imu[0].data.shape == (3, 6)  # the rest of the archive is read
    write_manifest(folder, "allow_outside = true\n" + body)
    assert discover(folder)[0].load().imu[0].data.shape == (3, 6)


@pytest.mark.parametrize("rate, reason", [
    ("1e-6", r"IMU sample rate 1e-06 Hz is outside 0\.1-100000 Hz"),
    ("1e9", r"IMU sample rate 1e\+09 Hz is outside 0\.1-100000 Hz"),
    ("0.1", "more than the 168 h one recording may hold"),
])
def test_an_absurd_rate_is_refused_before_anything_is_allocated(tmp_path, rate, reason):
    folder = tmp_path / "m"
    imu_csv(folder / "imu.csv", [[0, 0, 1, 0, 0, 0]] * (300 if rate != "0.1" else 70_000))
    one_imu_manifest(folder, "imu.csv", f"rate = {rate}")
    (entry,) = discover(folder)
    with pytest.raises(BadInput, match=reason) as err:
        entry.load()
    assert err.value.path.endswith("imu.csv")
