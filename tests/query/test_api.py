"""The query API and CLI on a small index built with a tiny random encoder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from test_build import add_good_recording, imu_signal

from indexer.build import build_path
from indexer.errors import BadInput
from indexer.importers import discover
from indexer.importers.example import write_example
from query import cli as query_cli
from query.api import RESULT_COLUMNS, open_index

# (recording, subject, seconds): 3-4 s clips give one window per modality, longer ones several.
RECORDINGS = [("short_a", "1", 4.0), ("short_b", "2", 4.0), ("long_a", "1", 8.0), ("long_b", "2", 7.0),
              ("long_c", "3", 6.0)]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, tiny_encoder) -> Path:
    root = tmp_path_factory.mktemp("query")
    archive = root / "arch"
    write_example(archive)  # example/walk_01 (s1) and example/wave_01 (s2), 3 s each
    for seed, (rec_id, subject, seconds) in enumerate(RECORDINGS, start=10):
        add_good_recording(archive, rec_id, seconds, seed=seed, subject=subject)
    summary = build_path(root / "index", discover(archive), tiny_encoder, progress=False)
    assert summary.skipped == [] and summary.read == 7
    return root / "index"


@pytest.fixture(scope="module")
def ix(index_dir):
    return open_index(index_dir)


def _window_id(ix, recording_id: str, modality: str, t_start: float = 0.0) -> int:
    w = ix.store.windows(f"recording_id = '{recording_id}' AND modality = '{modality}' AND t_start = {t_start}",
                         ["id"])
    return int(w["id"].item())


def _check_result(df: pl.DataFrame, k: int) -> None:
    assert isinstance(df, pl.DataFrame)
    assert df.columns == RESULT_COLUMNS
    assert df["rank"].to_list() == list(range(1, k + 1))
    scores = df["score"].to_list()
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 - 1e-5 <= s <= 1.0 + 1e-5 for s in scores)  # cosine similarities


def test_search_window_returns_a_ranked_frame(ix):
    wid = _window_id(ix, "example/long_a", "imu", 2.0)
    df = ix.search_window(wid, "imu", k=5)
    _check_result(df, 5)
    first = df.row(0, named=True)
    # The window's own vector is in the index, so it comes first with cosine 1.
    assert first["window_id"] == wid and first["score"] == pytest.approx(1.0, abs=1e-5)
    assert (first["recording_id"], first["subject"], first["modality"], first["t_start"], first["t_end"]) == (
        "example/long_a", "1", "imu", 2.0, 7.0)
    assert first["label"] == "motion 12" and first["dataset"] == "example"

    cross = ix.search_window(wid, "pose", k=3)
    _check_result(cross, 3)
    assert set(cross["modality"].to_list()) == {"pose"} and set(cross["body_part"].to_list()) == {"all"}


def test_one_encoder_choice_answers_every_query_kind(ix):
    """Searcher.pick_encoder_id chooses from the configs alone; Index.encoder loads its choice."""
    (only,) = ix.encoder_ids()
    assert ix.pick_encoder_id(None, "imu") == ix.pick_encoder_id("imu", "pose") == only
    assert ix.encoder(modality="imu").id == ix.encoder(only).id == only
    with pytest.raises(LookupError, match="holds no 'video' windows"):
        ix.pick_encoder_id(None, "video")
    with pytest.raises(LookupError, match="not in this index"):
        ix.pick_encoder_id("imu", None, "no-such-encoder")
    with pytest.raises(LookupError, match="not a token encoder"):
        ix.encoder(only, query="tokens")
    with pytest.raises(LookupError, match="no token vectors"):
        ix.encoder(query="tokens")


def test_k_larger_than_the_index_returns_every_window_once(ix):
    total = ix.store.count("windows", "modality = 'pose'")
    df = ix.search_window(_window_id(ix, "example/walk_01", "pose"), "pose", k=1000)
    _check_result(df, total)
    assert df["window_id"].n_unique() == total


def test_where_restricts_results(ix):
    wid = _window_id(ix, "example/long_a", "imu")
    df = ix.search_window(wid, "pose", k=10, where="subject = 2")
    assert set(df["subject"].to_list()) == {"2"}
    # Everything of subject 2 in pose: short_b (1 window) and long_b (3); wave_01's subject is "s2".
    assert df.height == 4 and set(df["recording_id"].to_list()) == {"example/short_b", "example/long_b"}
    _check_result(df, 4)
    quoted = ix.search_window(wid, "pose", k=10, where="subject = 's2'")
    assert set(quoted["recording_id"].to_list()) == {"example/wave_01"}
    late = ix.search_window(wid, "imu", k=10, where="t_start >= 1 AND subject IN (1, 3)")
    # long_a (8 s) starts windows at 1, 2, 3; long_c (6 s) at 1; the 4 s clips only at 0.
    assert sorted(zip(late["recording_id"], late["t_start"])) == [
        ("example/long_a", 1.0), ("example/long_a", 2.0), ("example/long_a", 3.0), ("example/long_c", 1.0)]
    empty = ix.search_window(wid, "imu", k=10, where="subject = 99")
    assert empty.height == 0 and empty.columns == RESULT_COLUMNS


def test_exclude_recording_leaves_out_the_query_recording(ix):
    wid = _window_id(ix, "example/long_a", "imu")
    vec = np.asarray(ix.store.windows(None, ["vector"], scope=f"id = {wid}")["vector"][0], np.float32)
    df = ix.search_vector(vec, "imu", k=100, exclude_recording="example/long_a")
    assert "example/long_a" not in df["recording_id"].to_list()
    assert df.height == ix.store.count("windows", "modality = 'imu'") - 4  # long_a has 4 IMU windows
    both = ix.search_vector(vec, "imu", k=100, where="subject = 1", exclude_recording="example/long_a")
    assert set(both["recording_id"].to_list()) == {"example/short_a"}


def test_search_array_finds_the_clip_it_was_given(ix):
    # The same samples the index holds for short_b (seed 11, 4 s at 50 Hz): one window, same vector.
    data = np.loadtxt(ix.store.recordings("id = 'example/short_b'")["sources"][0][0], delimiter=",", skiprows=1)
    np.testing.assert_allclose(data, imu_signal(4.0, 50.0, 11), atol=1e-5)
    df = ix.search_array(data, "imu", 50.0, "imu", k=3)
    _check_result(df, 3)
    assert df["recording_id"][0] == "example/short_b" and df["score"][0] == pytest.approx(1.0, abs=1e-4)
    # Resampled on the way in: the same clip at 100 Hz still finds itself first.
    fast = np.repeat(data, 2, axis=0)
    assert ix.search_array(fast, "imu", 100.0, "imu", k=1)["recording_id"][0] == "example/short_b"


def test_an_array_without_the_gyroscope_is_refused_clearly(ix):
    with pytest.raises(BadInput, match=r"lack \['gyr_y', 'gyr_z'\]"):
        ix.search_array(imu_signal(4.0, 50.0, 11)[:, :4], "imu", 50.0, "pose", k=3)


def test_search_array_rejects_nan(ix):
    data = imu_signal(4.0, 50.0, 11)
    data[7, 1] = np.nan
    with pytest.raises(BadInput, match="NaN"):
        ix.search_array(data, "imu", 50.0, "pose", k=3)


def test_search_file_reads_a_csv_with_its_rate(ix, tmp_path):
    path = tmp_path / "clip.csv"
    np.savetxt(path, imu_signal(4.0, 50.0, 11), delimiter=",", header="acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z",
               comments="", fmt="%.6f")
    df = ix.search_file(path, "imu", "imu", k=2, rate=50.0)
    assert df["recording_id"][0] == "example/short_b" and df["score"][0] == pytest.approx(1.0, abs=1e-4)


def test_csv_columns_are_matched_by_name_not_position(ix, tmp_path):
    # Gyroscope first, a timestamp and a magnetometer: the encoder still gets acc, then gyr.
    data = imu_signal(4.0, 50.0, 11)
    t = np.arange(len(data)) / 50.0
    table = np.column_stack([t, data[:, 3:], np.ones((len(data), 3)), data[:, :3]])
    path = tmp_path / "shuffled.csv"
    np.savetxt(path, table, delimiter=",", header="time,Gyr_X,gyr_y,gyr_z,mag_x,mag_y,mag_z,acc_x,acc_y,acc_z",
               comments="", fmt="%.6f")
    df = ix.search_file(path, "imu", "imu", k=1, rate=50.0)
    assert df["recording_id"][0] == "example/short_b" and df["score"][0] == pytest.approx(1.0, abs=1e-4)


# ----------------------------------------------------------------------------- bad query files


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, dict, str]]:
    """name -> (file, search_file kwargs, reason the error must give)."""
    header = "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n"
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "nan.csv").write_text(header + "nan,nan,nan,nan,nan,nan\n" * 100)
    (tmp_path / "clip.xyz").write_text(header + "1,2,3,4,5,6\n")
    (tmp_path / "norate.csv").write_text(header + "0,0,9.8,0,0,0\n" * 100)
    (tmp_path / "garbage.npy").write_bytes(b"\x00\x01garbage" * 20)
    (tmp_path / "word.csv").write_text(header + "0,0,9.8,0,0,0\n" * 50 + "0,0,9.8,0,0,oops\n" + "0,0,9.8,0,0,0\n" * 49)
    return {
        "missing": (tmp_path / "nope.csv", {"rate": 50.0}, "does not exist"),
        "empty": (tmp_path / "empty.csv", {"rate": 50.0}, "empty"),
        "nan": (tmp_path / "nan.csv", {"rate": 50.0}, "NaN"),
        "extension": (tmp_path / "clip.xyz", {"rate": 50.0}, "unknown IMU file type '.xyz'"),
        "no rate": (tmp_path / "norate.csv", {}, "unknown rate"),
        "garbage": (tmp_path / "garbage.npy", {"rate": 50.0}, "not a readable .npy"),
        "word": (tmp_path / "word.csv", {"rate": 50.0}, "non-numeric values.*gyr_z.*oops"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "nan", "extension", "no rate", "garbage", "word"])
def test_bad_query_files_name_the_file(ix, tmp_path, case):
    path, kw, reason = _bad_files(tmp_path)[case]
    with pytest.raises(BadInput, match=reason) as info:
        ix.search_file(path, "imu", "pose", k=5, **kw)
    assert info.value.path == str(path)


@pytest.mark.parametrize("case", ["missing", "empty", "nan", "extension", "no rate"])
def test_cli_bad_input_exits_2_with_one_error_line(index_dir, tmp_path, capsys, case):
    path, kw, reason = _bad_files(tmp_path)[case]
    argv = ["imu", str(path), "--index", str(index_dir)] + (["--rate", "50"] if "rate" in kw else [])
    assert query_cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0] and reason in lines[0]
    assert captured.out == ""


def test_cli_bad_filter_and_missing_index_exit_2(index_dir, tmp_path, capsys):
    assert query_cli.main(["window", "0", "--index", str(index_dir), "--where", "subjct = 2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: invalid filter") and "subjct" in err[0]
    assert query_cli.main(["recordings", "--index", str(tmp_path / "no-index")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a motionsearch index" in err[0]


def test_cli_window_prints_a_table(index_dir, ix, capsys):
    wid = _window_id(ix, "example/long_b", "imu")
    assert query_cli.main(["window", str(wid), "--target", "pose", "-k", "3", "--index", str(index_dir)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if "rank" in line)
    for column in ("rank", "score", "recording_id", "label", "t_start", "t_end"):
        assert column in header
    assert "example/" in out
    assert query_cli.main(["recordings", "--index", str(index_dir), "--where", "subject = 3", "--json"]) == 0
    assert '"example/long_c"' in capsys.readouterr().out


def test_a_utd_skeleton_query_is_timed_by_its_inertial_clip(utd_dir, tmp_path):
    """The Kinect dropped frames; a skeleton file read as a query must span its clip's real
    duration, as the importer makes it, or every time it reports is off."""
    from indexer.importers import utd_mhad
    from query.inputs import read_pose

    skeleton = utd_dir / "skeleton" / "a5_s2_t3_skeleton.mat"
    imported = utd_mhad.load_recording(utd_dir, 5, "2", "3", utd_mhad.read_actions(utd_dir)).pose
    assert read_pose(skeleton).rate == pytest.approx(imported.rate)
    assert read_pose(skeleton).duration == pytest.approx(imported.duration)
    alone = tmp_path / skeleton.name  # no inertial clip beside it: the nominal Kinect rate
    alone.write_bytes(skeleton.read_bytes())
    assert read_pose(alone).rate == 20.0


def test_many_query_vectors_at_once_answer_like_one_at_a_time(ix):
    ids = [_window_id(ix, "example/long_a", "imu", t) for t in (0.0, 1.0, 2.0)]
    vecs = np.stack([np.asarray(ix.store.windows(None, ["vector"], scope=f"id = {i}")["vector"][0], np.float32)
                     for i in ids])
    batch = ix.search_vectors(vecs, "pose", k=4, where="subject = 1")
    assert batch.columns == ["query", *RESULT_COLUMNS]
    for q, v in enumerate(vecs):
        one = ix.search_vector(v, "pose", k=4, where="subject = 1")
        got = batch.filter(pl.col("query") == q).drop("query")
        assert got["window_id"].to_list() == one["window_id"].to_list()
        assert got["rank"].to_list() == [1, 2, 3, 4]
    # per-search parameters pass through to FAISS (an exact index has none to change)
    assert ix.search_vector(vecs[0], "pose", k=4, nprobe=8)["window_id"].to_list() == \
        ix.search_vector(vecs[0], "pose", k=4)["window_id"].to_list()


def test_an_ivf_index_answers_filtered_queries(tmp_path, tiny_encoder, capsys):
    """A --where on an IVF index once crashed ("IndexIVF params have incorrect type"); its tuned
    nprobe is kept in the manifest and --nprobe overrides it."""
    archive = tmp_path / "arch"
    write_example(archive)
    for seed, (rec_id, subject, seconds) in enumerate(RECORDINGS, start=10):
        add_good_recording(archive, rec_id, seconds, seed=seed, subject=subject)
    summary = build_path(tmp_path / "ivf", discover(archive), tiny_encoder, progress=False, index_type="IVF4,Flat")
    assert {m["index_type"] for m in summary.faiss} == {"IVF4,Flat"}
    assert all(m["search_params"]["recall_at_10"] >= 0.95 for m in summary.faiss)
    wid = _window_id(open_index(tmp_path / "ivf"), "example/long_a", "imu", 2.0)
    for extra in ([], ["--nprobe", "1"], ["--nprobe", "4"]):
        argv = ["window", str(wid), "--target", "pose", "-k", "3", "--where", "subject = 2", "--json",
                "--index", str(tmp_path / "ivf"), *extra]
        assert query_cli.main(argv) == 0
        rows = json.loads(capsys.readouterr().out)
        assert len(rows) == 3 and {r["subject"] for r in rows} == {"2"}


@pytest.mark.parametrize("k", [0, -3, 10_001])
def test_k_out_of_range_is_refused(ix, k):
    with pytest.raises(ValueError, match="k must be between 1 and 10000"):
        ix.search_vector(np.ones(16, np.float32) / 4, "imu", k=k)
