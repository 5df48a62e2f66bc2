"""Any archive through the generic manifest: clocks, gaps, several files per sensor, any
skeleton through a joint map, per-window labels, selection before reading, and bad input that
names its file. Each test builds a small archive, runs the real importer and cuts windows."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from indexer.bodyparts import CANONICAL_JOINTS
from indexer.errors import BadInput
from indexer.importers import discover, select
from indexer.units import STANDARD_GRAVITY
from indexer.windows import WindowSpec, recording_windows

SPEC = WindowSpec(2.0, 1.0)
RATES = {"imu": 50, "pose": 25}
ACC = ["acc_x", "acc_y", "acc_z"]
GYR = ["gyr_x", "gyr_y", "gyr_z"]
REPO = Path(__file__).resolve().parents[2]
UTD = REPO.parent / "shared" / "data" / "utd-mhad"
if not UTD.is_dir():
    UTD = Path("/work/shared/data/utd-mhad")


def table(path: Path, columns: dict[str, np.ndarray | list]) -> Path:
    """A CSV with a header, one column per key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    rows = zip(*(columns[n] for n in names))
    path.write_text(",".join(names) + "\n" + "\n".join(",".join(str(v) for v in row) for row in rows) + "\n")
    return path


def archive(folder: Path, toml: str) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.toml").write_text(toml)
    return discover(folder, "archive")


def load_one(folder: Path, toml: str):
    (entry,) = archive(folder, toml)
    return entry.load()


def within_one_stream(window, streams, slack: float = 1 / RATES["imu"]) -> bool:
    """Whether a window lies inside one stream (resampling may round its end by a sample)."""
    return any(s.offset - 1e-6 <= window.t_start and window.t_end <= s.end + slack for s in streams)


# ----------------------------------------------------------------------------- clocks


def test_acc_only_with_irregular_ms_timestamps_and_a_gap_splits_into_two_segments(tmp_path):
    rng = np.random.default_rng(1)
    step = np.arange(1000) * 20.0  # 20 s at ~50 Hz, then a 60 s gap, then 20 s more
    t_ms = np.concatenate([step, 80_000.0 + step]) + rng.uniform(-4, 4, 2000)
    t_ms += 1_714_557_600_000.0  # an epoch clock in ms: time zero is the first sample
    rel = (t_ms - t_ms[0]) / 1000.0
    table(tmp_path / "a" / "acc.csv", {"t_ms": t_ms.round(3), "acc_x": (0.01 * rel).round(9),
                                       "acc_y": np.ones(2000), "acc_z": (-0.02 * rel).round(9)})
    rec = load_one(tmp_path / "a", """
[[recording]]
id = "walk"
labels = ["walk"]
[[recording.imu]]
file = "acc.csv"
time_column = "t_ms"
time_unit = "ms"
acc_unit = "g"
placement = "left wrist"
""")
    first, second = rec.imu
    assert first.channels == ACC and second.channels == ACC
    assert first.placement == second.placement == "left_wrist"
    assert first.offset == pytest.approx(0.0, abs=0.02) and second.offset == pytest.approx(80.0, abs=0.05)
    assert first.rate == pytest.approx(50.0, rel=0.01) and first.end == pytest.approx(20.0, abs=0.05)
    for stream in rec.imu:  # the grid values are the straight lines the file samples
        t = stream.offset + np.arange(len(stream.data)) / stream.rate
        np.testing.assert_allclose(stream.data[:, 0], 0.01 * STANDARD_GRAVITY * t, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(stream.data[:, 1], STANDARD_GRAVITY, rtol=1e-6)
        np.testing.assert_allclose(stream.data[:, 2], -0.02 * STANDARD_GRAVITY * t, rtol=1e-5, atol=1e-5)

    windows = recording_windows(rec, SPEC, RATES)
    assert all(within_one_stream(w, rec.imu) for w in windows)  # none crosses the gap
    assert not [w for w in windows if 20.0 < w.t_start < 79.9]
    assert any(w.t_end <= first.end + 0.02 for w in windows) and any(w.t_start >= second.offset for w in windows)
    assert all(w.data.shape == (100, 3) for w in windows)


def test_unsorted_and_repeated_timestamps_import_with_notes_naming_the_file(tmp_path, caplog):
    t = np.arange(200) * 0.01
    t[[50, 51]] = t[[51, 50]]  # one pair out of order
    t[120] = t[119]  # one repeated
    table(tmp_path / "n" / "acc.csv", {"time": t.round(4), "acc_x": np.zeros(200), "acc_y": np.zeros(200),
                                       "acc_z": np.ones(200)})
    with caplog.at_level(logging.WARNING, logger="indexer.importers.archive"):
        rec = load_one(tmp_path / "n", '[[recording]]\nid = "r"\n[[recording.imu]]\nfile = "acc.csv"\n'
                                       'time_column = "time"\n')
    (imu,) = rec.imu
    assert imu.rate == pytest.approx(100.0) and imu.offset == 0.0
    notes = [r.getMessage() for r in caplog.records if r.name == "indexer.importers.archive"]
    assert any("backwards" in n for n in notes) and any("repeated" in n for n in notes)
    assert all(str(tmp_path / "n" / "acc.csv") in n and "\n" not in n for n in notes)


def test_a_build_prints_a_few_notes_of_a_kind_and_counts_the_rest(tmp_path, tiny_encoder, capsys, caplog):
    """A logger whose clock stepped back once in every file: the build prints the first
    NOTES_SHOWN of those notes, each naming its file, and its summary counts all of them in one
    line instead of one line per file; every recording is indexed. Reading it for training or
    evaluation says the same few and counts the rest."""
    from indexer.build import NOTES_SHOWN, build
    from indexer.store import IndexStore

    blocks = []
    for n in range(NOTES_SHOWN + 4):
        t = np.arange(400) * 0.02
        t[[50, 51]] = t[[51, 50]]
        signal = {c: np.sin(np.arange(400) / 9 + i) for i, c in enumerate(ACC + GYR)}
        table(tmp_path / "a" / f"r{n}.csv", {"time": t.round(4), **signal})
        blocks.append(f'[[recording]]\nid = "r{n}"\n[[recording.imu]]\nfile = "r{n}.csv"\ntime_column = "time"\n')
    entries = archive(tmp_path / "a", "".join(blocks))
    summary = build(entries, IndexStore(tmp_path / "index", create=True), tiny_encoder, progress=False, workers=0)
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: ")]
    assert len(printed) == NOTES_SHOWN and all("1 timestamp(s) went backwards" in line for line in printed)
    assert str(tmp_path / "a" / "r0.csv") in printed[0]
    assert summary.read == NOTES_SHOWN + 4, summary.skipped[:1]
    assert len(summary.notes) == NOTES_SHOWN + 4
    assert f"  {NOTES_SHOWN + 4} x N timestamp(s) went backwards; samples sorted by time" in summary.format()

    # reading the same archive to train or evaluate says it the same way (encoders.data)
    from encoders.data import text_aligned_windows

    with caplog.at_level(logging.WARNING, logger="encoders.data"):
        text_aligned_windows(entries, WindowSpec(), {"imu": 50.0}, progress=False)  # no pose rate: none read
    said = [r.getMessage() for r in caplog.records if r.name == "encoders.data"]
    assert said[-1] == "... and 4 more: N timestamp(s) went backwards; samples sorted by time"
    assert len(said) == NOTES_SHOWN + 1 and all(line.startswith("note: ") for line in said[:-1])


def test_two_sensors_on_wrist_and_foot_give_windows_at_the_same_starts(tmp_path):
    n = 500  # 10 s at 50 Hz
    for name in ("wrist", "foot"):
        table(tmp_path / "s" / f"{name}.csv", {c: np.sin(np.arange(n) / 7 + i) for i, c in enumerate(ACC + GYR)})
    rec = load_one(tmp_path / "s", """
[[recording]]
id = "two"
[[recording.imu]]
file = "wrist.csv"
rate = 50
placement = "right_wrist"
[[recording.imu]]
file = "foot.csv"
rate = 50
placement = "lfoot"
""")
    windows = recording_windows(rec, SPEC, RATES)
    starts = {part: [w.t_start for w in windows if w.body_part == part] for part in ("right_wrist", "left_foot")}
    assert starts["right_wrist"] == starts["left_foot"] and len(starts["right_wrist"]) == 9
    assert rec.placements() == ["right_wrist", "left_foot"]


def test_streams_on_one_clock_line_up_and_an_offset_places_a_stream(tmp_path):
    t = 3600.0 + np.arange(300) * 0.02  # a clock counting seconds since some start, not from zero
    table(tmp_path / "c" / "wrist.csv", {"ts": t, **{c: np.zeros(300) for c in ACC}})
    table(tmp_path / "c" / "foot.csv", {"ts": t + 2.0, **{c: np.zeros(300) for c in ACC}})
    table(tmp_path / "c" / "chest.csv", {c: np.zeros(100) for c in ACC})
    rec = load_one(tmp_path / "c", """
[[recording]]
id = "clock"
[[recording.imu]]
file = "wrist.csv"
time_column = "ts"
[[recording.imu]]
file = "foot.csv"
time_column = "ts"
placement = "left_foot"
[[recording.imu]]
file = "chest.csv"
rate = 50
offset = 4.5
placement = "chest"
""")
    wrist, foot, chest = rec.imu
    assert wrist.offset == pytest.approx(0.0) and foot.offset == pytest.approx(2.0)
    assert chest.offset == 4.5 and chest.end == pytest.approx(6.5)
    windows = recording_windows(rec, SPEC, RATES)
    assert min(w.t_start for w in windows if w.body_part == "left_foot") == pytest.approx(2.0)
    assert [w.t_start for w in windows if w.body_part == "chest"] == [5.0, 6.0]


def test_acc_and_gyro_in_separate_files_with_separate_clocks_merge_on_their_common_span(tmp_path):
    ta = np.arange(1000) * 0.01  # acc: 100 Hz from 0 s to 10 s
    tg = 0.5 + np.arange(380) * 0.025  # gyro: 40 Hz, starts 0.5 s later, until 9.975 s
    table(tmp_path / "m" / "acc.csv", {"t": ta.round(4), "acc_x": ta.round(4), "acc_y": np.zeros(1000),
                                       "acc_z": np.ones(1000)})
    table(tmp_path / "m" / "gyr.csv", {"gyr_x": (90 * tg).round(4), "gyr_y": np.zeros(380), "gyr_z": np.zeros(380),
                                       "time": tg.round(4)})
    rec = load_one(tmp_path / "m", """
[[recording]]
id = "merged"
[[recording.imu]]
file = ["acc.csv", "gyr.csv"]
time_columns = ["t", "time"]
gyr_unit = "deg/s"
""")
    (imu,) = rec.imu
    assert imu.channels == ACC + GYR  # the union, in file order
    assert imu.rate == pytest.approx(40.0)  # the slower clock's median rate
    assert imu.offset == pytest.approx(0.5) and imu.end <= 10.0 + 1e-6
    t = imu.offset + np.arange(len(imu.data)) / imu.rate
    np.testing.assert_allclose(imu.data[:, 0], t, atol=1e-4)
    np.testing.assert_allclose(imu.data[:, 3], np.pi / 2 * t, rtol=1e-5, atol=1e-4)  # 90 deg/s per s
    windows = recording_windows(rec, SPEC, RATES)
    assert windows and all(w.data.shape == (100, 6) for w in windows) and windows[0].t_start == 1.0


def test_files_of_one_sensor_without_clocks_line_up_by_row(tmp_path):
    table(tmp_path / "r" / "acc.csv", {c: np.ones(100) for c in ACC})
    table(tmp_path / "r" / "rot.csv", {c: np.full(100, 0.5) for c in ("quat_w", "quat_x", "quat_y", "quat_z")})
    table(tmp_path / "r" / "mag.csv", {c: np.full(100, 40.0) for c in ("mag_x", "mag_y", "mag_z")})
    rec = load_one(tmp_path / "r", '[[recording]]\nid = "r"\n[[recording.imu]]\n'
                                   'file = ["acc.csv", "rot.csv", "mag.csv"]\nrate = 25\nacc_unit = "g"\n')
    (imu,) = rec.imu
    assert imu.channels == ACC + ["quat_w", "quat_x", "quat_y", "quat_z", "mag_x", "mag_y", "mag_z"]
    np.testing.assert_allclose(imu.data[0], [STANDARD_GRAVITY] * 3 + [0.5] * 4 + [40.0] * 3, rtol=1e-6)


# ----------------------------------------------------------------------------- pose

AZURE_JOINTS = [
    "PELVIS", "SPINE_NAVAL", "SPINE_CHEST", "NECK", "CLAVICLE_LEFT", "SHOULDER_LEFT", "ELBOW_LEFT",
    "WRIST_LEFT", "HAND_LEFT", "HANDTIP_LEFT", "THUMB_LEFT", "CLAVICLE_RIGHT", "SHOULDER_RIGHT",
    "ELBOW_RIGHT", "WRIST_RIGHT", "HAND_RIGHT", "HANDTIP_RIGHT", "THUMB_RIGHT", "HIP_LEFT", "KNEE_LEFT",
    "ANKLE_LEFT", "FOOT_LEFT", "HIP_RIGHT", "KNEE_RIGHT", "ANKLE_RIGHT", "FOOT_RIGHT", "HEAD", "NOSE",
    "EYE_LEFT", "EAR_LEFT", "EYE_RIGHT", "EAR_RIGHT",
]
AZURE_MAP = {
    "PELVIS": "pelvis", "SPINE_CHEST": "chest", "NECK": "neck", "HEAD": "head",
    **{f"{j.upper()}_{side.upper()}": f"{side}_{j}" for side in ("left", "right")
       for j in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")},
}
REST = {  # y-up metres; the person's left is +x
    "pelvis": (0, 1.0, 0), "chest": (0, 1.3, 0), "neck": (0, 1.5, 0), "head": (0, 1.65, 0),
    "left_shoulder": (0.18, 1.45, 0), "left_elbow": (0.2, 1.17, 0), "left_wrist": (0.22, 0.92, 0),
    "right_shoulder": (-0.18, 1.45, 0), "right_elbow": (-0.2, 1.17, 0), "right_wrist": (-0.22, 0.92, 0),
    "left_hip": (0.1, 0.95, 0), "left_knee": (0.1, 0.52, 0), "left_ankle": (0.1, 0.08, 0),
    "right_hip": (-0.1, 0.95, 0), "right_knee": (-0.1, 0.52, 0), "right_ankle": (-0.1, 0.08, 0),
}


def azure_pose(frames: int = 50) -> np.ndarray:
    """(frames, 32, 3) in mm, camera coordinates: y down, the person 2 m in front (z)."""
    inverse = {v: k for k, v in AZURE_MAP.items()}
    up = np.array([REST[j] for j in CANONICAL_JOINTS])
    pose = np.random.default_rng(0).uniform(-0.5, 0.5, (frames, 32, 3))  # the joints nobody maps
    for i, j in enumerate(CANONICAL_JOINTS):
        pose[:, AZURE_JOINTS.index(inverse[j])] = up[i]
    pose = pose * np.array([-1.0, -1.0, 1.0])  # y up -> y down (a half turn about z)
    pose[..., 2] += 2.0
    return pose * 1000.0


def pose_manifest(joint_map: dict[str, str], joints: list[str] = AZURE_JOINTS) -> str:
    entries = ", ".join(f'{k} = "{v}"' for k, v in joint_map.items())
    names = ", ".join(f'"{j}"' for j in joints)
    return (f'[[recording]]\nid = "kinect"\n[recording.pose]\nfile = "body.npy"\nfps = 30\nunits = "mm"\n'
            f'up = "-y"\njoints = [{names}]\njoint_map = {{ {entries} }}\n')


def test_a_32_joint_skeleton_through_a_joint_map_with_y_down(tmp_path, caplog):
    folder = tmp_path / "k"
    folder.mkdir()
    np.save(folder / "body.npy", azure_pose())
    with caplog.at_level(logging.WARNING, logger="indexer.importers.archive"):
        rec = load_one(folder, pose_manifest(AZURE_MAP))
    assert rec.pose.skeleton == "canonical" and len(rec.pose.joints) == 16
    body = rec.pose.canonical()
    head, pelvis = body[:, CANONICAL_JOINTS.index("head")], body[:, CANONICAL_JOINTS.index("pelvis")]
    assert (head[:, 1] > pelvis[:, 1] + 0.5).all()  # head above the pelvis, in metres
    left, right = (body[0, CANONICAL_JOINTS.index(f"{s}_shoulder")] for s in ("left", "right"))
    assert left[0] - right[0] == pytest.approx(0.36, abs=1e-4)  # a rotation, not a mirror
    np.testing.assert_allclose(body[0, :, 1], [REST[j][1] for j in CANONICAL_JOINTS], atol=1e-4)
    (note,) = [r.getMessage() for r in caplog.records if "joint_map" in r.getMessage()]
    assert str(folder / "body.npy") in note and "HANDTIP_LEFT" in note and "16 joint(s)" in note
    windows = recording_windows(rec, SPEC, RATES)
    assert windows and all(w.data.shape == (50, 16, 3) for w in windows)


def test_a_joint_map_without_pelvis_neck_chest_derives_them(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    np.save(folder / "body.npy", azure_pose(10))
    partial = {k: v for k, v in AZURE_MAP.items() if v not in ("pelvis", "neck", "chest")}
    rec = load_one(folder, pose_manifest(partial).replace("fps = 30\n", "fps = 5\noffset = 1.5\n"))
    pelvis = rec.pose.canonical()[0, CANONICAL_JOINTS.index("pelvis")]
    assert pelvis[1] == pytest.approx(0.95, abs=1e-4)  # between the hips
    assert rec.pose.offset == 1.5 and rec.duration == pytest.approx(3.5)
    assert [w.t_start for w in recording_windows(rec, SPEC, RATES)] == [1.5]  # the one window inside the pose


# ----------------------------------------------------------------------------- labels


def test_every_window_of_a_long_recording_takes_the_span_covering_most_of_it(tmp_path):
    folder = tmp_path / "long"
    table(folder / "imu.csv", {c: np.zeros(3000) for c in ACC})  # 60 s at 50 Hz
    spans = [(0.0, 10.3, "walks to the door"), (10.3, 25.6, "runs"), (25.6, 33.2, "sits down"),
             (33.2, 50.7, "stands talking"), (50.7, 60.0, "jumps"), (40.0, 41.5, "waves")]  # one overlaps
    table(folder / "text.csv", {"start": [s[0] for s in spans], "end": [s[1] for s in spans],
                                "text": [s[2] for s in spans]})
    rec = load_one(folder, '[[recording]]\nid = "day"\nlabels = ["daily life"]\n[[recording.imu]]\n'
                           'file = "imu.csv"\nrate = 50\n[recording.text]\nfile = "text.csv"\n')
    assert len(rec.text) == 6 and "waves" in [t.text for t in rec.text]  # the overlapping span is kept
    windows = recording_windows(rec, SPEC, RATES)
    assert len(windows) == 59
    for w in windows:
        cover = [min(e, w.t_end) - max(s, w.t_start) for s, e, _ in spans]
        assert rec.window_label(w.t_start, w.t_end) == spans[int(np.argmax(cover))][2]


# ----------------------------------------------------------------------------- selection


def test_subject_and_split_select_recordings_before_any_file_is_read(tmp_path):
    table(tmp_path / "sel" / "ok.csv", {c: np.zeros(50) for c in ACC})
    body = ""
    for n, (subject, split, file) in enumerate([("1", "train", "ok.csv"), ("2", "test", "gone.csv"),
                                                ("3", "train", "gone.csv")]):
        body += (f'[[recording]]\nid = "r{n}"\nsubject = {subject}\nsplit = "{split}"\n'
                 f'[[recording.imu]]\nfile = "{file}"\nrate = 50\n')
    entries = archive(tmp_path / "sel", body)
    assert [(e.subject, e.split) for e in entries] == [("1", "train"), ("2", "test"), ("3", "train")]
    (kept,) = select(entries, subjects={"1", "2"}, split="train")
    assert kept.id == "sel/r0" and kept.load().imu[0].data.shape == (50, 3)
    (manifest_row,) = select(discover(_csv_archive(tmp_path / "csv"), "archive"), split="test")
    assert manifest_row.subject == "2"


def _csv_archive(folder: Path) -> Path:
    table(folder / "a.csv", {"t": np.arange(100) * 10, **{c: np.zeros(100) for c in ACC}})
    (folder / "manifest.csv").write_text(
        "id,subject,split,imu_file,imu_time_column,imu_time_unit,imu_max_gap,imu_offset,imu_placement\n"
        "r1,1,train,a.csv,t,ms,0.5,,wrist\n"
        "r2,2,test,a.csv,t,ms,,1.5,right ankle\n")
    return folder


def test_csv_manifest_carries_clock_columns(tmp_path):
    r1, r2 = (e.load() for e in discover(_csv_archive(tmp_path / "csv"), "archive"))
    assert r1.imu[0].rate == pytest.approx(100.0) and r1.imu[0].offset == 0.0
    assert r2.imu[0].offset == 1.5 and r2.imu[0].placement == "right_ankle"


# ----------------------------------------------------------------------------- bad input

GOOD = '[[recording]]\nid = "good"\n[[recording.imu]]\nfile = "good.csv"\nrate = 50\n'


def _bad_cases(folder: Path) -> dict[str, tuple[str, str, str]]:
    """name -> (manifest of the bad recording, file its error must name, reason)."""
    t = np.arange(20) * 0.02
    table(folder / "extra.csv", {**{c: np.zeros(20) for c in ACC}, "foo_x": np.zeros(20)})
    table(folder / "ms.csv", {"t": t, **{c: np.zeros(20) for c in ACC}})
    table(folder / "words.csv", {"t": ["0.0", "0.02", "soon"], **{c: np.zeros(3) for c in ACC}})
    table(folder / "short.csv", {c: np.zeros(10) for c in ACC})
    table(folder / "long.csv", {c: np.zeros(12) for c in GYR})
    np.save(folder / "body.npy", azure_pose(5))
    imu = '[[recording]]\nid = "bad"\n[[recording.imu]]\n'
    no_wrists = {k: v for k, v in AZURE_MAP.items() if "wrist" not in v}
    return {
        "unknown channel": (imu + 'file = "extra.csv"\nrate = 50\n', "extra.csv", "unknown channel name.*foo_x.*quat_w"),
        "unknown time_unit": (imu + 'file = "ms.csv"\ntime_column = "t"\ntime_unit = "minutes"\n', "ms.csv",
                              "unknown time_unit 'minutes'; known: s, ms"),
        "time column with text": (imu + 'file = "words.csv"\ntime_column = "t"\n', "words.csv", "not numbers"),
        "no such time column": (imu + 'file = "ms.csv"\ntime_column = "stamp"\n', "ms.csv", "no time column 'stamp'"),
        "rows differ": (imu + 'file = ["short.csv", "long.csv"]\nrate = 50\n', "short.csv",
                        r"different numbers of rows \(short.csv: 10, long.csv: 12\)"),
        "joint_map target": (pose_manifest({"PELVIS": "hips"}).replace('"kinect"', '"bad"'), "body.npy",
                             r"targets \['hips'\] are not canonical joints"),
        "joint_map source": (pose_manifest({"SPINE": "chest"}).replace('"kinect"', '"bad"'), "body.npy",
                             r"names \['SPINE'\], which the file's joints"),
        "unmappable joints": (pose_manifest(no_wrists).replace('"kinect"', '"bad"'), "body.npy",
                              r"gives no \['left_wrist', 'right_wrist'\]"),
        "joint_map without joints": (pose_manifest(AZURE_MAP).replace('"kinect"', '"bad"').split("joints = ")[0]
                                     + "joint_map = { PELVIS = \"pelvis\" }\n", "body.npy", "needs `joints`"),
        "negative offset": (imu + 'file = "short.csv"\nrate = 50\noffset = -1\n', "short.csv", "offset -1"),
        "max_gap without clock": (imu + 'file = "short.csv"\nrate = 50\nmax_gap = 2\n', "short.csv",
                                  "no `time_column`"),
    }


@pytest.mark.parametrize("case", ["unknown channel", "unknown time_unit", "time column with text",
                                  "no such time column", "rows differ", "joint_map target", "joint_map source",
                                  "unmappable joints", "joint_map without joints", "negative offset",
                                  "max_gap without clock"])
def test_bad_input_names_the_file_on_one_line_and_the_rest_still_loads(tmp_path, case):
    folder = tmp_path / "bad"
    table(folder / "good.csv", {c: np.zeros(50) for c in ACC})
    toml, file, reason = _bad_cases(folder)[case]
    good, bad = archive(folder, GOOD + toml)
    assert good.load().imu[0].data.shape == (50, 3)  # the batch goes on
    with pytest.raises(BadInput, match=reason) as err:
        bad.load()
    message = str(err.value)
    assert file in message and "\n" not in message


# ----------------------------------------------------------------------------- real data


def _utd_or_skip():
    if not (UTD / "inertial").is_dir():
        pytest.skip("UTD-MHAD is not in ../shared/data")
    from indexer.importers import utd_mhad

    return utd_mhad


def test_utd_mhad_through_a_generic_acc_only_manifest(tmp_path):
    utd = _utd_or_skip()
    actions = utd.read_actions(UTD)
    stems = ["a1_s1_t1", "a5_s2_t2", "a23_s3_t1", "a27_s8_t3"]
    body = 'dataset = "utd-generic"\n'
    originals = {}
    for stem in stems:
        action, subject, trial = (int(x[1:]) for x in stem.split("_"))
        iner = utd.read_mat(UTD / "inertial" / f"{stem}_inertial.mat", "d_iner")
        originals[stem] = iner[:, :3]
        table(tmp_path / "u" / f"{stem}.csv", {"time_ms": np.arange(len(iner)) * 20,
                                               **{c: iner[:, i] for i, c in enumerate(ACC)}})
        name, placement = actions[action]
        split = "train" if str(subject) in utd.TRAIN_SUBJECTS else "test"
        body += (f'[[recording]]\nid = "{stem}"\nsubject = "{subject}"\ntrial = "{trial}"\nsplit = "{split}"\n'
                 f'labels = ["{name}"]\n[[recording.imu]]\nfile = "{stem}.csv"\ntime_column = "time_ms"\n'
                 f'time_unit = "ms"\nacc_unit = "g"\nplacement = "{placement}"\n')
    entries = archive(tmp_path / "u", body)
    assert [e.id for e in select(entries, split="test")] == ["utd-generic/a5_s2_t2", "utd-generic/a27_s8_t3"]
    for entry, stem in zip(entries, stems):
        rec = entry.load()
        (imu,) = rec.imu
        assert imu.channels == ACC and imu.rate == pytest.approx(50.0) and imu.offset == 0.0
        np.testing.assert_allclose(imu.data, originals[stem] * STANDARD_GRAVITY, rtol=1e-5, atol=1e-5)
        assert rec.labels == [actions[int(stem.split("_")[0][1:])][0]]
        assert imu.placement == ("right_thigh" if stem.startswith(("a23", "a27")) else "right_wrist")
        assert recording_windows(rec, SPEC, RATES)


@pytest.mark.parametrize("variant, modalities, channels", [
    ("acc-gyro", ["imu", "pose"], ACC + GYR), ("imu-only", ["imu"], ACC + GYR), ("acc-only", ["imu"], ACC)])
def test_bench_script_writes_a_generic_utd_archive(tmp_path, variant, modalities, channels):
    _utd_or_skip()
    out = tmp_path / variant
    subprocess.run([sys.executable, str(REPO / "bench" / "utd_generic.py"), str(UTD), "--variant", variant,
                    "--out", str(out), "--limit", "3"], check=True, capture_output=True, cwd=REPO)
    entries = discover(out, "archive")
    assert len(entries) == 3 and all(e.subject and e.split in ("train", "test") for e in entries)
    rec = entries[0].load()
    assert rec.modalities() == modalities and rec.imu[0].channels == channels and rec.labels


# ----------------------------------------------------------------------------- the format page


def test_every_manifest_example_in_the_format_page_is_a_valid_manifest(tmp_path):
    import re
    import tomllib

    from indexer.importers import archive as generic

    page = (REPO / "docs" / "archive-format.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", page, re.S)
    assert len(blocks) >= 4
    for block in blocks:
        for raw in tomllib.loads(block)["recording"]:
            generic.recording_spec(raw, tmp_path, tmp_path / "manifest.toml", "docs")  # raises if a key is wrong
    (csv_block,) = re.findall(r"```csv\n(.*?)```", page, re.S)
    assert set(csv_block.splitlines()[0].split(",")) <= set(generic.CSV_COLUMNS)
    for key in sorted(set().union(*generic.STREAM_KEYS.values()) | generic.RECORDING_KEYS):
        assert f"`{key}`" in page, f"{key} is not documented"


def test_an_epoch_clock_at_50_hz_gives_a_50_hz_stream(tmp_path):
    t_ns = 1_714_557_600_000_000_000 + np.arange(500, dtype=np.int64) * 20_000_000
    table(tmp_path / "e" / "acc.csv", {"t": t_ns, **{c: np.arange(500.0) for c in ACC}})
    rec = load_one(tmp_path / "e", '[[recording]]\nid = "r"\n[[recording.imu]]\nfile = "acc.csv"\n'
                                   'time_column = "t"\ntime_unit = "ns"\n')
    (imu,) = rec.imu
    assert imu.rate == 50.0 and len(imu.data) == 500  # not 50.00005 Hz from float rounding of the epoch
    np.testing.assert_allclose(imu.data[:, 0], np.arange(500.0), atol=1e-3)
