"""The incremental build: archive -> windows -> vectors -> LanceDB + FAISS, with a tiny random
encoder, including every kind of bad input a user's archive can hold."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from encoders.factory import load_checkpoint
from indexer import cli as indexer_cli
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.build import build, build_path
from indexer.importers import discover
from indexer.importers.example import write_example
from indexer.model import Entry
from indexer.store import IndexStore

REPO = Path(__file__).resolve().parents[2]
IMU_HEADER = "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"


# ----------------------------------------------------------------------------- archive helpers


def imu_signal(seconds: float, rate: float, seed: int) -> np.ndarray:
    """(T, 6) SI-unit IMU: gravity on z plus a swing at a seed-dependent tempo, and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    f = 0.5 + seed % 4 * 0.4
    acc = np.stack([2 * np.sin(2 * np.pi * f * t), np.cos(2 * np.pi * f * t), 9.81 + 0 * t], 1)
    gyr = np.stack([3 * np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t), 0 * t], 1)
    return np.concatenate([acc, gyr], 1) + 0.05 * rng.normal(size=(len(t), 6))


def pose_signal(seconds: float, fps: float, seed: int) -> np.ndarray:
    """(T, 16, 3) canonical joints in metres, swaying at a seed-dependent tempo."""
    rng = np.random.default_rng(seed)
    rest = rng.normal(scale=0.3, size=(1, len(CANONICAL_JOINTS), 3)) + np.array([0, 1.0, 0])
    t = np.arange(int(round(seconds * fps))) / fps
    sway = 0.1 * np.sin(2 * np.pi * (0.5 + seed % 4 * 0.4) * t)[:, None, None]
    return (rest + sway).astype(np.float32)


def write_imu_csv(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, data, delimiter=",", header=IMU_HEADER, comments="", fmt="%.6f")


def recording_toml(rec_id: str, subject: str, label: str, imu: str | None = None, pose: str | None = None,
                   imu_extra: str = "rate = 50", pose_extra: str = "fps = 30") -> str:
    text = f'\n[[recording]]\nid = "{rec_id}"\nsubject = "{subject}"\nlabels = ["{label}"]\n'
    if imu:
        text += f'[[recording.imu]]\nfile = "{imu}"\n{imu_extra}\n'
    if pose:
        text += f'[recording.pose]\nfile = "{pose}"\n{pose_extra}\n'
    return text


def add_good_recording(folder: Path, rec_id: str, seconds: float, seed: int, subject: str = "s9") -> None:
    write_imu_csv(folder / "imu" / f"{rec_id}.csv", imu_signal(seconds, 50.0, seed))
    (folder / "pose").mkdir(exist_ok=True)
    np.save(folder / "pose" / f"{rec_id}.npy", pose_signal(seconds, 30.0, seed))
    with open(folder / "manifest.toml", "a") as f:
        f.write(recording_toml(rec_id, subject, f"motion {seed}", f"imu/{rec_id}.csv", f"pose/{rec_id}.npy"))


@pytest.fixture
def archive(tmp_path) -> Path:
    """The example archive (two 3 s recordings) plus two longer ones of our own."""
    folder = tmp_path / "arch"
    write_example(folder)
    add_good_recording(folder, "long_01", 8.0, seed=1)
    add_good_recording(folder, "long_02", 6.5, seed=2, subject="s8")
    return folder


def counting(entries: list[Entry]) -> tuple[list[Entry], list[str]]:
    """The same entries, recording which ones get loaded."""
    loaded: list[str] = []

    def wrap(e: Entry) -> Entry:
        def load():
            loaded.append(e.id)
            return e.load()
        return Entry(e.id, e.sources, load, e.subject)

    return [wrap(e) for e in entries], loaded


# ----------------------------------------------------------------------------- building


def test_build_writes_windows_recordings_and_faiss(archive, tmp_path, tiny_encoder, capsys):
    out = tmp_path / "index"
    summary = build_path(out, discover(archive), tiny_encoder, progress=False)
    assert (summary.found, summary.read, summary.already_indexed, summary.skipped) == (4, 4, 0, [])

    store = IndexStore(out)
    recs = store.recordings()
    assert sorted(recs["id"].to_list()) == ["example/long_01", "example/long_02", "example/walk_01", "example/wave_01"]
    assert recs.filter(pl.col("id") == "example/long_01")["duration"].item() == pytest.approx(8.0)

    # Per recording and modality: one window per start time (3 s -> 1, 6.5 s -> 3, 8 s -> 4).
    per = {"example/walk_01": 1, "example/wave_01": 1, "example/long_02": 3, "example/long_01": 4}
    windows = store.windows()
    counts = windows.group_by(["recording_id", "modality"]).len()
    assert {(r, m): n for r, m, n in counts.iter_rows()} == {
        (r, m): n for r, n in per.items() for m in ("imu", "pose")}
    assert summary.windows_written == windows.height == 2 * sum(per.values())
    assert windows["id"].n_unique() == windows.height
    assert set(windows["encoder_id"].to_list()) == {tiny_encoder.id}
    long1 = windows.filter((pl.col("recording_id") == "example/long_01") & (pl.col("modality") == "imu"))
    assert sorted(long1["t_start"].to_list()) == [0.0, 1.0, 2.0, 3.0]
    walk = windows.filter(pl.col("recording_id") == "example/walk_01").row(0, named=True)
    assert walk["t_end"] == pytest.approx(3.0) and walk["label"] == "walk; outdoor"
    assert walk["subject"] == "s1"
    vec = np.asarray(walk["vector"])
    assert vec.shape == (16,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)

    manifests = {m["modality"]: m for m in store.faiss_manifests()}
    assert set(manifests) == {"imu", "pose"}
    for m in manifests.values():
        assert m["count"] == sum(per.values()) and m["dimension"] == 16
        assert m["encoder_checksum"] == tiny_encoder.checksum and m["encoder_id"] == tiny_encoder.id
    assert [(m["modality"], m["count"]) for m in summary.faiss] == [("imu", 9), ("pose", 9)]
    # The encoder is stored with the index, so queries embed with the very same weights.
    assert load_checkpoint(store.kept.encoder_folder(tiny_encoder.id)).checksum == tiny_encoder.checksum

    assert indexer_cli.main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "recordings: 4" in info and "example: 4" in info
    assert "windows: 18" in info
    assert f"faiss: {tiny_encoder.id} / imu: 9 x 16 (Flat)" in info
    assert f"faiss: {tiny_encoder.id} / pose: 9 x 16 (Flat)" in info


def test_rebuilding_reads_nothing_and_adds_nothing(archive, tmp_path, tiny_encoder):
    out = tmp_path / "index"
    build_path(out, discover(archive), tiny_encoder, progress=False)
    store = IndexStore(out)
    before = store.count("windows"), store.count("recordings"), store.count("indexed")

    entries, loaded = counting(discover(archive))
    summary = build(entries, store, tiny_encoder, progress=False)
    assert loaded == []  # not a single file was read again
    assert (summary.found, summary.already_indexed, summary.read, summary.windows_written) == (4, 4, 0, 0)
    assert summary.faiss == []  # nothing changed, so the FAISS files are kept
    assert (store.count("windows"), store.count("recordings"), store.count("indexed")) == before


def test_adding_a_recording_adds_only_its_rows(archive, tmp_path, tiny_encoder):
    out = tmp_path / "index"
    build_path(out, discover(archive), tiny_encoder, progress=False)
    store = IndexStore(out)
    old = store.windows(columns=["id", "recording_id", "vector"]).sort("id")

    add_good_recording(archive, "new_01", 7.0, seed=3)
    entries, loaded = counting(discover(archive))
    summary = build(entries, store, tiny_encoder, progress=False)
    assert loaded == ["example/new_01"]
    assert (summary.found, summary.already_indexed, summary.read) == (5, 4, 1)
    assert summary.windows_written == 2 * 3

    now = store.windows(columns=["id", "recording_id", "vector"]).sort("id")
    added = now.filter(~pl.col("id").is_in(old["id"].to_list()))
    assert set(added["recording_id"].to_list()) == {"example/new_01"} and added.height == 6
    assert now.filter(pl.col("id").is_in(old["id"].to_list())).equals(old)  # the rest untouched
    assert store.count("recordings") == 5
    assert {m["modality"]: m["count"] for m in store.faiss_manifests()} == {"imu": 12, "pose": 12}


def test_a_second_encoder_gets_its_own_windows_in_the_same_index(archive, tmp_path, tiny_encoder):
    from conftest import make_tiny_encoder

    out = tmp_path / "index"
    build_path(out, discover(archive), tiny_encoder, progress=False)
    other = make_tiny_encoder(tmp_path / "other-encoder", seed=1)
    assert other.id != tiny_encoder.id
    summary = build_path(out, discover(archive), other, progress=False)
    assert summary.read == 4 and summary.already_indexed == 0
    store = IndexStore(out)
    assert store.encoders() == [tiny_encoder.id, other.id]  # in build order: the newest last
    assert store.count("recordings") == 4  # metadata is shared, not duplicated
    assert len(store.faiss_manifests()) == 4
    from query.api import open_index

    # A query without an encoder named uses the newest one that covers the target.
    assert open_index(out).encoder(modality="pose").id == other.id


def test_imu_columns_reach_the_encoder_by_name(tmp_path, tiny_encoder):
    folder = tmp_path / "cols"
    folder.mkdir()
    data = imu_signal(6.0, 50.0, 5)
    write_imu_csv(folder / "imu" / "plain.csv", data)
    shuffled = "gyr_z,acc_y,gyr_x,mag_x,acc_x,mag_y,gyr_y,mag_z,acc_z"  # a magnetometer the encoder does not read
    cols = [5, 1, 3, None, 0, None, 4, None, 2]
    table = np.column_stack([data[:, c] if c is not None else np.zeros(len(data)) for c in cols])
    np.savetxt(folder / "imu" / "shuffled.csv", table, delimiter=",", header=shuffled, comments="", fmt="%.6f")
    np.savetxt(folder / "imu" / "acc_only.csv", data[:, :3], delimiter=",", header="acc_x,acc_y,acc_z",
               comments="", fmt="%.6f")
    (folder / "manifest.toml").write_text(
        recording_toml("plain", "1", "x", imu="imu/plain.csv") + recording_toml("shuffled", "1", "x", imu="imu/shuffled.csv")
        + recording_toml("acc_only", "1", "x", imu="imu/acc_only.csv"))
    summary = build_path(tmp_path / "index", discover(folder), tiny_encoder, progress=False)
    assert summary.read == 2
    # the tiny encoder was trained without channel dropout: it refuses, and says how to get one that reads it
    [(path, reason)] = summary.skipped
    assert path == str(folder / "imu" / "acc_only.csv")
    assert reason.startswith("IMU channels ['acc_x', 'acc_y', 'acc_z'] lack ['gyr_x', 'gyr_y', 'gyr_z'], which "
                             "the encoder reads (it needs ['acc_x', 'acc_y', 'acc_z', 'gyr_x', 'gyr_y', 'gyr_z'])")
    assert "--init" in reason
    windows = IndexStore(tmp_path / "index").windows(columns=["recording_id", "t_start", "vector"]).sort("t_start")
    plain = np.stack(windows.filter(pl.col("recording_id") == "cols/plain")["vector"].to_list())
    mixed = np.stack(windows.filter(pl.col("recording_id") == "cols/shuffled")["vector"].to_list())
    np.testing.assert_allclose(mixed, plain, atol=1e-5)


# ----------------------------------------------------------------------------- crashes


class Crash(RuntimeError):
    pass


def test_a_build_that_dies_between_writes_is_cleaned_up_and_redone(archive, tmp_path, tiny_encoder, monkeypatch):
    out = tmp_path / "index"
    store = IndexStore(out, create=True)

    def die(*args, **kwargs):
        raise Crash("power cut")

    # Windows reach LanceDB, then the process dies before the `indexed` commit-log write.
    monkeypatch.setattr(store.tables["indexed"], "add", die)
    with pytest.raises(Crash):
        build(discover(archive), store, tiny_encoder, progress=False)
    monkeypatch.undo()
    assert store.count("windows") == 18 and store.count("indexed") == 0

    reopened = IndexStore(out)
    summary = build(discover(archive), reopened, tiny_encoder, progress=False)
    assert summary.removed_incomplete == 18 and summary.read == 4
    assert "removed 18 windows left by an interrupted build" in summary.format()
    windows = reopened.windows(columns=["id", "recording_id", "modality", "t_start"])
    assert windows.height == 18  # each window once, not twice
    assert windows.select("recording_id", "modality", "t_start").n_unique() == 18


def test_a_reader_of_a_crashed_index_sees_only_committed_windows(archive, tmp_path, tiny_encoder, monkeypatch):
    from query import open_index

    out = tmp_path / "index"
    build_path(out, discover(archive), tiny_encoder, progress=False)
    add_good_recording(archive, "new_01", 7.0, seed=3)
    store = IndexStore(out)
    monkeypatch.setattr(store.tables["indexed"], "add", lambda *a, **k: (_ for _ in ()).throw(Crash("power cut")))
    with pytest.raises(Crash):
        build(discover(archive), store, tiny_encoder, progress=False)
    monkeypatch.undo()
    assert store.count("windows", "recording_id LIKE '%new_01'") > 0  # written, never committed
    for damage in (False, True):  # the FAISS file as the last build left it, or gone (rebuilt in memory)
        if damage:
            for f in (out / "faiss").glob("*.faiss"):
                f.unlink()
        reader = open_index(out)
        entry = reader.store.faiss(tiny_encoder.id, "imu")
        assert entry.index.ntotal == 9
        hits = reader.search_vector(np.ones(16, np.float32) / 4, "imu", k=50)
        assert hits.height == 9 and not hits["recording_id"].str.contains("new_01").any()


def test_two_builds_into_one_index_do_not_write_at_once(archive, tmp_path, tiny_encoder):
    """The second build stops with one line naming the holder instead of duplicating windows."""
    out = tmp_path / "index"
    store = IndexStore(out, create=True)
    with store.writer():
        run = subprocess.run([sys.executable, "-m", "indexer", "build", str(archive), "--out", str(out),
                              "--checkpoint", tiny_encoder.source, "--quiet"],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
        assert run.returncode == 2
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and "is being written by pid" in lines[0] and str(os.getpid()) in lines[0]
        assert store.count("windows") == 0
    summary = build(discover(archive), store, tiny_encoder, progress=False)  # the lock went with its holder
    assert summary.read == 4 and store.count("windows") == 18


def test_a_faiss_file_left_stale_by_a_crash_is_rewritten_by_the_next_build(archive, tmp_path, tiny_encoder,
                                                                             monkeypatch):
    out = tmp_path / "index"
    build_path(out, discover(archive), tiny_encoder, progress=False)
    add_good_recording(archive, "new_01", 7.0, seed=3)
    store = IndexStore(out)

    def die(*args, **kwargs):
        raise Crash("killed before the FAISS write")

    monkeypatch.setattr(store.faiss_files, "write", die)
    with pytest.raises(Crash):
        build(discover(archive), store, tiny_encoder, progress=False)
    monkeypatch.undo()
    assert {m["count"] for m in store.faiss_manifests()} == {9}  # LanceDB now holds 12 per modality

    summary = build(discover(archive), IndexStore(out), tiny_encoder, progress=False)
    assert summary.read == 0  # nothing to embed again...
    assert sorted((m["modality"], m["count"]) for m in summary.faiss) == [("imu", 12), ("pose", 12)]  # ...but FAISS caught up
    assert "rebuilt_in_memory" not in IndexStore(out).faiss(tiny_encoder.id, "imu").manifest


# ----------------------------------------------------------------------------- bad input


def _bad_archive(folder: Path) -> dict[str, str]:
    """Good recordings plus one per kind of bad input; returns {recording id: file to be named}."""
    write_example(folder)
    add_good_recording(folder, "good_long", 7.0, seed=4)
    imu_dir, pose_dir = folder / "imu", folder / "pose"
    bad: dict[str, str] = {}
    manifest = ""

    def entry(rec_id: str, named: Path, **kw) -> None:
        nonlocal manifest
        manifest += recording_toml(rec_id, "s7", rec_id, **kw)
        bad[f"example/{rec_id}"] = str(named)

    np.save(imu_dir / "garbage.npy", np.zeros(1))  # replaced by garbage bytes below
    (imu_dir / "garbage.npy").write_bytes(b"\x93NUMPY garbage, not an array" * 20)
    entry("corrupt_npy", imu_dir / "garbage.npy", imu="imu/garbage.npy",
          imu_extra=f'rate = 50\nchannels = "{IMU_HEADER.replace(",", ";")}"')

    (imu_dir / "garbage.csv").write_bytes(IMU_HEADER.encode() + b"\n\x00\xff\xfe,12,ab\x01\n" * 5)
    entry("corrupt_csv", imu_dir / "garbage.csv", imu="imu/garbage.csv")

    np.save(imu_dir / "truncated.npy", imu_signal(6.0, 50.0, 5))
    blob = (imu_dir / "truncated.npy").read_bytes()
    (imu_dir / "truncated.npy").write_bytes(blob[: len(blob) // 2])
    entry("truncated_npy", imu_dir / "truncated.npy", imu="imu/truncated.npy",
          imu_extra=f'rate = 50\nchannels = "{IMU_HEADER.replace(",", ";")}"')

    (imu_dir / "empty.csv").write_bytes(b"")
    entry("empty_csv", imu_dir / "empty.csv", imu="imu/empty.csv")

    nan = imu_signal(6.0, 50.0, 6)
    nan[:] = np.nan
    write_imu_csv(imu_dir / "nan.csv", nan)
    entry("nan_imu", imu_dir / "nan.csv", imu="imu/nan.csv")

    entry("missing_file", imu_dir / "not_there.csv", imu="imu/not_there.csv")

    np.save(imu_dir / "five_columns.npy", imu_signal(6.0, 50.0, 7)[:, :5])
    entry("wrong_shape", imu_dir / "five_columns.npy", imu="imu/five_columns.npy",
          imu_extra=f'rate = 50\nchannels = "{IMU_HEADER.replace(",", ";")}"')

    write_imu_csv(imu_dir / "zero_rate.csv", imu_signal(6.0, 50.0, 8))
    entry("zero_rate", folder / "manifest.toml", imu="imu/zero_rate.csv", imu_extra="rate = 0")

    write_imu_csv(imu_dir / "no_rate.csv", imu_signal(6.0, 50.0, 9))
    entry("no_rate", folder / "manifest.toml", imu="imu/no_rate.csv", imu_extra="")

    # A good IMU next to a NaN pose: nothing of the recording may be indexed, not even the IMU.
    write_imu_csv(imu_dir / "half_good.csv", imu_signal(6.0, 50.0, 10))
    pose = pose_signal(6.0, 30.0, 10)
    pose[3, 2, 1] = np.nan
    np.save(pose_dir / "nan_pose.npy", pose)
    entry("nan_pose", pose_dir / "nan_pose.npy", imu="imu/half_good.csv", pose="pose/nan_pose.npy")

    with open(folder / "manifest.toml", "a") as f:
        f.write(manifest)
    return bad


def test_bad_input_is_skipped_named_and_leaves_no_rows(tmp_path, tiny_encoder):
    folder = tmp_path / "messy"
    bad = _bad_archive(folder)
    assert len(bad) >= 6
    out = tmp_path / "index"
    summary = build_path(out, discover(folder), tiny_encoder, progress=False)

    good = {"example/walk_01", "example/wave_01", "example/good_long"}
    assert summary.found == len(good) + len(bad) and summary.read == len(good)
    assert len(summary.skipped) == len(bad)
    skipped_paths = [path for path, _ in summary.skipped]
    for rec_id, path in bad.items():
        reasons = [reason for p, reason in summary.skipped if p == path]
        assert reasons, f"{rec_id}: {path} not named in {summary.skipped}"
    reasons = dict(summary.skipped)
    assert "missing stream file" in reasons[bad["example/missing_file"]]
    assert "empty" in reasons[bad["example/empty_csv"]]
    assert "NaN" in reasons[bad["example/nan_imu"]] and "NaN" in reasons[bad["example/nan_pose"]]
    assert "5 columns" in reasons[bad["example/wrong_shape"]]
    assert "not a readable .npy" in reasons[bad["example/corrupt_npy"]]
    assert "not a readable .npy" in reasons[bad["example/truncated_npy"]]
    rate_reasons = [r for p, r in summary.skipped if p == str(folder / "manifest.toml")]
    assert any("'zero_rate'" in r and "unknown rate 0" in r for r in rate_reasons)
    assert any("'no_rate'" in r and "unknown rate None" in r for r in rate_reasons)
    assert "unreadable table" in reasons[bad["example/corrupt_csv"]]
    assert not any(reason.startswith("unexpected") for _, reason in summary.skipped)  # all understood
    assert len(set(skipped_paths) - {str(folder / "manifest.toml")}) == len(bad) - 2

    store = IndexStore(out)
    assert set(store.windows(columns=["recording_id"])["recording_id"].to_list()) == good
    assert set(store.recordings()["id"].to_list()) == good
    assert store.indexed_ids(tiny_encoder.id) == good
    assert store.count("windows") == 2 * (1 + 1 + 3)
    text = summary.format()
    assert f"skipped: {len(bad)}" in text
    assert all(path in text for path in bad.values())


def test_worker_processes_build_the_same_index_and_name_the_same_skips(tmp_path, tiny_encoder, monkeypatch):
    """Reading and windowing in worker processes (several tasks of 2 recordings, read ahead in
    order) writes the very rows, ids and vectors of an in-process build and names the same
    bad files, in the same order."""
    from indexer import reading

    folder = tmp_path / "messy"
    _bad_archive(folder)
    for i in range(4):
        add_good_recording(folder, f"more_{i}", 6.0 + i, seed=20 + i, subject="s6")
    monkeypatch.setattr(reading, "PARALLEL_MIN", 1)
    monkeypatch.setattr(reading, "CHUNK", 2)
    here = build_path(tmp_path / "here", discover(folder), tiny_encoder, progress=False, workers=0)
    forked = build_path(tmp_path / "forked", discover(folder), tiny_encoder, progress=False, workers=2)
    assert forked.skipped == here.skipped and len(here.skipped) >= 6
    assert (forked.read, forked.windows_written) == (here.read, here.windows_written) == (7, 2 * (1 + 1 + 3 + 2 + 3 + 4 + 5))
    columns = ["id", "recording_id", "modality", "body_part", "t_start", "t_end", "label", "vector"]
    a = IndexStore(tmp_path / "here").windows(columns=columns).sort("id")
    b = IndexStore(tmp_path / "forked").windows(columns=columns).sort("id")
    assert a.equals(b)


def _bvh(frames: int, fps: float) -> str:
    """A BVH whose joints carry the canonical names, arms and legs swinging."""
    chains = {
        "chest": ("pelvis", (0, 0.25, 0)), "neck": ("chest", (0, 0.25, 0)), "head": ("neck", (0, 0.15, 0)),
        "left_shoulder": ("chest", (0.2, 0.2, 0)), "left_elbow": ("left_shoulder", (0, -0.29, 0)),
        "left_wrist": ("left_elbow", (0, -0.26, 0)),
        "right_shoulder": ("chest", (-0.2, 0.2, 0)), "right_elbow": ("right_shoulder", (0, -0.29, 0)),
        "right_wrist": ("right_elbow", (0, -0.26, 0)),
        "left_hip": ("pelvis", (0.1, -0.05, 0)), "left_knee": ("left_hip", (0, -0.43, 0)),
        "left_ankle": ("left_knee", (0, -0.44, 0)),
        "right_hip": ("pelvis", (-0.1, -0.05, 0)), "right_knee": ("right_hip", (0, -0.43, 0)),
        "right_ankle": ("right_knee", (0, -0.44, 0)),
    }
    order: list[str] = []

    def block(name: str, depth: int) -> str:
        pad = "  " * depth
        order.append(name)
        kids = [k for k, (p, _) in chains.items() if p == name]
        offset = chains[name][1] if name in chains else (0, 1.0, 0)
        channels = ("6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" if name == "pelvis"
                    else "3 Zrotation Xrotation Yrotation")
        head = f"{pad}{'ROOT' if name == 'pelvis' else 'JOINT'} {name}\n{pad}{{\n"
        body = f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}\n{pad}  CHANNELS {channels}\n"
        inner = "".join(block(k, depth + 1) for k in kids) or f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET 0 -0.05 0\n{pad}  }}\n"
        return head + body + inner + f"{pad}}}\n"

    hierarchy = "HIERARCHY\n" + block("pelvis", 0)
    t = np.arange(frames) / fps
    rows = np.zeros((frames, 6 + 3 * (len(order) - 1)))
    rows[:, 2] = 1.2 * t
    for i, name in enumerate(order[1:]):
        if name.endswith(("shoulder", "hip")):
            rows[:, 6 + 3 * i + 1] = 30 * np.sin(2 * np.pi * t) * (1 if "left" in name else -1)
    motion = "\n".join(" ".join(f"{v:.4f}" for v in row) for row in rows)
    return hierarchy + f"MOTION\nFrames: {frames}\nFrame Time: {1 / fps:.6f}\n{motion}\n"


def test_a_corrupt_bvh_is_skipped_in_a_bvh_folder_build(tmp_path, tiny_encoder):
    folder = tmp_path / "mocap"
    folder.mkdir()
    (folder / "walk_a.bvh").write_text(_bvh(180, 30.0))
    (folder / "walk_b.bvh").write_text(_bvh(240, 30.0))
    text = _bvh(120, 30.0)
    (folder / "broken.bvh").write_text(text[: len(text) // 2])  # cut off in the middle of the MOTION rows
    (folder / "garbage.bvh").write_bytes(b"\x00\x01 not a bvh \xff" * 50)
    summary = build_path(tmp_path / "index", discover(folder), tiny_encoder, progress=False)
    assert summary.read == 2
    assert sorted(p for p, _ in summary.skipped) == [str(folder / "broken.bvh"), str(folder / "garbage.bvh")]
    store = IndexStore(tmp_path / "index")
    windows = store.windows(columns=["recording_id", "modality"])
    assert set(windows["recording_id"].to_list()) == {"mocap/walk_a", "mocap/walk_b"}
    assert set(windows["modality"].to_list()) == {"pose"}  # a mocap folder has no IMU to embed
    assert windows.height == 2 + 4  # 6 s -> 2 windows, 8 s -> 4
    assert [m["modality"] for m in store.faiss_manifests()] == ["pose"]


@pytest.mark.slow
def test_cli_build_exits_0_and_prints_what_it_skipped(tmp_path, tiny_encoder):
    folder = tmp_path / "messy"
    bad = _bad_archive(folder)
    out = tmp_path / "index"
    proc = subprocess.run(
        [sys.executable, "-m", "indexer", "build", str(folder), "--out", str(out),
         "--checkpoint", tiny_encoder.source, "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert f"recordings found: {3 + len(bad)}" in proc.stdout and f"skipped: {len(bad)}" in proc.stdout
    listed = proc.stdout.split("skipped:\n", 1)[1]
    for path in set(bad.values()):
        assert path in listed
    assert IndexStore(out).count("indexed") == 3


def test_cli_build_takes_the_index_as_a_second_argument(archive, tmp_path, tiny_encoder, capsys):
    # `build ARCHIVE INDEX`, as a user first types it, is the same as `build ARCHIVE --out INDEX`
    base = ["build", str(archive), "--checkpoint", tiny_encoder.source, "--quiet"]
    assert indexer_cli.main([*base[:2], str(tmp_path / "ix"), *base[2:]]) == 0
    assert IndexStore(tmp_path / "ix").count("indexed") == 4
    capsys.readouterr()

    # two different directories, an archive with --demo, or no directory at all: one line, nothing written
    for argv, says in (([*base[:2], str(tmp_path / "a"), *base[2:], "--out", str(tmp_path / "b")],
                        "two index directories given"),
                       (["build", str(archive), "--demo", str(tmp_path / "d")], "give no archive"),
                       (base, "give SOURCE and the index directory")):
        assert indexer_cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err
    assert not any((tmp_path / d).exists() for d in ("a", "b", "d"))


def test_cli_build_with_a_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    write_example(tmp_path / "arch")
    missing = tmp_path / "no-such-ckpt"
    assert indexer_cli.main(["build", str(tmp_path / "arch"), "--out", str(tmp_path / "ix"), "--checkpoint",
                             str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "ix").exists()  # nothing written


@pytest.mark.parametrize("extra, reason", [
    (["--limit", "-1"], "argument --limit: must be at least 1, got -1"),
    (["--limit", "0"], "argument --limit: must be at least 1, got 0"),
    (["--index-type", "IVFxx,Flat"], "--index-type 'IVFxx,Flat' is not a FAISS index for 16-dimensional vectors"),
    (["--out-is-a-file"], "is a file, not an index directory"),
])
def test_cli_build_refuses_bad_numbers_and_names_before_writing(archive, tmp_path, tiny_encoder, capsys, extra, reason):
    out = tmp_path / "ix"
    if extra == ["--out-is-a-file"]:
        out.write_text("not an index")
        extra = []
    argv = ["build", str(archive), "--out", str(out), "--checkpoint", tiny_encoder.source, "--quiet", *extra]
    try:
        code = indexer_cli.main(argv)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert reason in err[-1] and "Traceback" not in "\n".join(err)
    assert out.is_file() or not (out / "windows.lance").exists()  # nothing was written


def test_half_written_side_files_of_a_killed_build_are_removed(archive, tmp_path, tiny_encoder):
    out = tmp_path / "index"
    build_path(out, discover(archive), tiny_encoder, progress=False)
    leftover = out / "faiss" / f"x.imu.faiss.tmp-{12345}"
    leftover.write_bytes(b"half")
    build_path(out, discover(archive), tiny_encoder, progress=False)
    assert not leftover.exists()


def test_an_index_addressed_by_uri_goes_through_the_object_store_path(archive, tmp_path, tiny_encoder, capsys):
    """`--out` may be an object-store URI (s3://...). A file:// URI takes the same code path
    (LanceDB by URI, FAISS files and the stored encoder through pyarrow's filesystem layer),
    so it proves that path without an object store."""
    uri = (tmp_path / "by-uri").as_uri()
    assert indexer_cli.main(["build", str(archive), "--out", uri, "--checkpoint", tiny_encoder.source,
                             "--quiet"]) == 0
    assert f"into {uri} with encoder" in capsys.readouterr().out
    assert (tmp_path / "by-uri" / "windows.lance").is_dir()  # written where the URI points, not ./file:
    from query.api import open_index

    ix = open_index(uri)
    assert ix.encoder(modality="pose").checksum == tiny_encoder.checksum  # read back through pyarrow
    hits = ix.search_window(0, "pose", k=3)
    assert hits.height == 3 and hits["recording_id"].null_count() == 0


def test_a_full_disk_is_one_line_and_leaves_the_last_complete_build(archive, tmp_path, tiny_encoder, capsys,
                                                                    monkeypatch):
    out = tmp_path / "index"
    build_path(out, discover(archive), tiny_encoder, progress=False)
    add_good_recording(archive, "new_01", 7.0, seed=3)

    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device", str(out / "windows.lance"))

    monkeypatch.setattr(IndexStore, "commit", full)
    code = indexer_cli.main(["build", str(archive), "--out", str(out), "--checkpoint", tiny_encoder.source, "--quiet"])
    monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0] == f"error: {out / 'windows.lance'}: No space left on device (the index keeps its last complete build)"
    assert IndexStore(out).count("recordings") == 4  # the previous build, whole


def test_a_damaged_table_names_itself_and_how_to_recover(archive, tmp_path, tiny_encoder, capsys):
    from query import cli as query_cli

    out = tmp_path / "index"
    build_path(out, discover(archive), tiny_encoder, progress=False)
    biggest = max((out / "windows.lance" / "data").glob("*.lance"), key=lambda p: p.stat().st_size)
    biggest.write_bytes(biggest.read_bytes()[:200])  # truncated, as a full disk or a bad copy leaves it
    assert query_cli.main(["window", "0", "--target", "pose", "--index", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the windows table cannot be read" in err[0]
    assert "python -m indexer build SOURCE --out NEW_DIR" in err[0] and "Table.restore" in err[0]


# ----------------------------------------------------------------------------- labels and selection

SPANS = ["walking", "standing up", "sitting down", "waving", "jumping"]


def spans_entry(rec_id: str = "spans/day_01", subject: str = "s1", span_seconds: float = 10.0,
                listed: bool = True) -> Entry:
    """An IMU-only recording annotated with one text span per SPANS entry, `span_seconds` each
    (`listed`: its listing names the subject, as file names often do)."""
    from indexer.model import ImuStream, Recording, TextSpan
    from indexer.units import IMU6_CHANNELS

    def load() -> Recording:
        seconds = span_seconds * len(SPANS)
        imu = ImuStream(imu_signal(seconds, 50.0, 4), 50.0, list(IMU6_CHANNELS), "right_wrist", "day.csv")
        text = [TextSpan(i * span_seconds, (i + 1) * span_seconds, t) for i, t in enumerate(SPANS)]
        return Recording(rec_id, "spans", subject, ["a day"], imu=[imu], text=text, sources=[f"{rec_id}.csv"])

    return Entry(rec_id, [f"{rec_id}.csv"], load, subject if listed else None)


def test_each_window_is_labelled_by_the_span_covering_most_of_it(tmp_path, tiny_encoder):
    from query.api import open_index

    out = tmp_path / "index"
    summary = build_path(out, [spans_entry()], tiny_encoder, progress=False)
    assert summary.read == 1 and summary.skipped == []
    windows = IndexStore(out).windows(columns=["id", "label", "t_start", "t_end"]).sort("t_start")
    assert windows.height > len(SPANS)
    for w in windows.iter_rows(named=True):  # 5 s windows on 10 s spans: the span holding the middle
        assert w["label"] == SPANS[int((w["t_start"] + w["t_end"]) / 2 // 10.0)], w
    # what `python -m query ... --where "label = 'standing up'"` runs: exactly that span's windows
    standing = windows.filter(pl.col("label") == "standing up")
    hits = open_index(out).search_window(int(standing["id"][0]), "imu", k=100, where="label = 'standing up'")
    assert sorted(hits["window_id"].to_list()) == sorted(standing["id"].to_list())
    assert all(7.5 <= (t0 + t1) / 2 < 20 for t0, t1 in zip(hits["t_start"], hits["t_end"]))


def test_excluded_subjects_are_never_read(tmp_path, tiny_encoder):
    from indexer.build import Selection

    entries, loaded = counting([spans_entry(f"spans/{s}", s, 1.5) for s in ("s1", "s2", "s3", "s4")]
                               + [spans_entry("spans/unlisted", "s1", 1.5, listed=False)])
    summary = build(entries, IndexStore(tmp_path / "index", create=True), tiny_encoder, progress=False,
                    selection=Selection(exclude={"s1", "s3"}))
    # s1's and s3's files are left out from the listing; the entry whose listing does not name
    # its subject is read, found to be s1's, and left out too: none of them is an error
    assert sorted(loaded) == ["spans/s2", "spans/s4", "spans/unlisted"]
    assert (summary.found, summary.not_selected, summary.read, summary.skipped) == (5, 3, 2, [])
    assert "not selected: 3" in summary.format()
    assert sorted(IndexStore(tmp_path / "index").recordings()["subject"].to_list()) == ["s2", "s4"]


def test_cli_build_selects_subjects_and_an_empty_build_fails(archive, tmp_path, tiny_encoder, capsys):
    base = ["build", str(archive), "--checkpoint", tiny_encoder.source, "--quiet"]
    assert indexer_cli.main([*base, "--out", str(tmp_path / "a"), "--subjects", "s2, s8"]) == 0
    assert "recordings found: 4, not selected: 2" in capsys.readouterr().out
    assert sorted(IndexStore(tmp_path / "a").recordings()["subject"].to_list()) == ["s2", "s8"]

    # a selection that matches no listed subject stops before anything is written
    assert indexer_cli.main(["build", "--demo", str(tmp_path / "b"), "--checkpoint", tiny_encoder.source,
                             "--quiet", "--subjects", "s5"]) == 2
    err = capsys.readouterr().err
    assert "error: the selection leaves none of the" in err and "subjects: 1, 2" in err
    assert not (tmp_path / "b" / "windows.lance").exists()

    folder = tmp_path / "all-bad"
    folder.mkdir()
    (folder / "imu").mkdir()
    (folder / "imu" / "a.csv").write_text("acc_x,acc_y\n1,nope\n")
    (folder / "manifest.toml").write_text(recording_toml("a", "1", "x", imu="imu/a.csv"))
    code = indexer_cli.main(["build", str(folder), "--out", str(tmp_path / "c"), "--checkpoint",
                             tiny_encoder.source, "--quiet"])
    captured = capsys.readouterr()
    assert code == 1
    assert f"skipped:\n  {folder / 'imu' / 'a.csv'}: " in captured.out
    assert captured.err.strip() == "error: nothing was indexed: all 1 were skipped (listed above)"


def test_a_span_lasting_the_whole_recording_leaves_windows_their_labels():
    from indexer.model import ImuStream, Recording, TextSpan
    from indexer.units import IMU6_CHANNELS

    imu = ImuStream(imu_signal(20.0, 50.0, 1), 50.0, list(IMU6_CHANNELS), "right_wrist")
    whole = TextSpan(0.0, 20.0, "a person waves their right hand")
    rec = Recording("r", "d", labels=["waving"], imu=[imu], text=[whole, TextSpan(10.0, 16.0, "waves fast")])
    assert (rec.window_label(0.0, 5.0), rec.window_label(10.0, 15.0)) == ("waving", "waves fast")
    assert Recording("r", "d", imu=[imu], text=[whole]).window_label(0.0, 5.0) == whole.text  # no labels


def test_a_span_whole_to_within_a_sample_is_the_recordings_description():
    """Annotation files round their times: a span ending at the last sample (one 50 Hz sample
    short of the end), or rounded to the millisecond, still describes the whole recording; one
    that stops two samples short is a moment."""
    from indexer.model import ImuStream, Recording, TextSpan
    from indexer.units import IMU6_CHANNELS

    imu = ImuStream(imu_signal(20.0, 50.0, 1), 50.0, list(IMU6_CHANNELS), "right_wrist")
    for start, end in ((0.0, 19.98), (0.001, 19.999), (0.02, 20.0)):
        rec = Recording("r", "d", labels=["drinking water"], imu=[imu],
                        text=[TextSpan(start, end, "a person drinking water")])
        assert rec.window_label(15.0, 19.9) == "drinking water", (start, end)
    moment = Recording("r", "d", labels=["drinking water"], imu=[imu], text=[TextSpan(0.0, 19.9, "sips")])
    assert moment.window_label(15.0, 19.9) == "sips"
