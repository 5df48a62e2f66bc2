"""Fine-grained time: offset voting, sync on real UTD-MHAD streams with planted shifts,
locate in a built token index, assignment, 2-D pose from video, and bad input."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import query
from encoders import checkpoint, tokens
from encoders.factory import load_checkpoint
from indexer.errors import BadInput
from indexer.importers import demo
from indexer.model import ImuStream
from indexer.units import IMU6_CHANNELS
from query.offset_votes import diagonal_means, pick_offset, vote_offsets
from query.xcorr import xcorr_sync

TINY = {"embed_dim": 16, "dim": 16, "layers": 1, "heads": 2, "conv_width": 8}



@pytest.fixture(scope="module")
def tok_encoder(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tok")
    checkpoint.save(tokens.TokenModel(tokens.default_token_config(**TINY)), folder)
    return load_checkpoint(folder)


@pytest.fixture(scope="module")
def s2_wrist(utd_dir):
    """Subject 2's right-wrist clips concatenated into one long IMU + skeleton stream."""
    from indexer.concat import subject_streams
    from indexer.importers import discover

    streams = subject_streams(discover(utd_dir, "utd-mhad"), {"2"})
    return next(s for s in streams if s.imu[0].placement == "right_wrist")


def excerpt(stream, start: float, length: float):
    i0 = round(start * stream.rate)
    return replace(stream, data=stream.data[i0 : i0 + round(length * stream.rate)])


# ---- the vote, on constructed cases with known answers --------------------------------------------
def test_vote_finds_known_offset_and_sign():
    rng = np.random.default_rng(0)
    n, m = 60, 7  # the second stream shows window i of the first as its window i + 7: it lags 1.4 s
    base = rng.normal(size=(n + m, 32))
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    a, b = base[m:], base  # b[j] == a[j - m]
    starts = 0.2 * np.arange(n + m)
    sim = a @ b.T + 0.05 * rng.normal(size=(n, n + m))
    grid, votes, matches = vote_offsets(sim, starts[:n], starts, max_offset=5.0, k=3)
    assert matches > 0 and grid[np.argmax(votes)] == pytest.approx(1.4)
    diag = diagonal_means(sim, starts[:n], starts, grid)
    offset, grid_offset, confidence = pick_offset(grid, votes, diag, matches)
    assert grid_offset == pytest.approx(1.4) and abs(offset - 1.4) < 0.1 and confidence > 0.3
    # swap the streams: the same lag seen from the other side
    grid2, votes2, _ = vote_offsets(sim.T, starts, starts[:n], max_offset=5.0, k=3)
    assert grid2[np.argmax(votes2)] == pytest.approx(-1.4)


def test_vote_ignores_pairs_beyond_max_offset():
    sim = np.eye(20)
    starts = 0.2 * np.arange(20)
    grid, votes, _matches = vote_offsets(np.roll(sim, 15, axis=1), starts, starts, max_offset=1.0, k=1)
    assert grid.min() == pytest.approx(-1.0) and grid.max() == pytest.approx(1.0)
    assert (np.abs(grid[votes > 0]) <= 1.0).all()
    with pytest.raises(ValueError, match="max_offset"):
        vote_offsets(sim, starts, starts, max_offset=-1)


def test_sub_step_refinement_places_a_symmetric_peak():
    grid = np.round(0.2 * np.arange(-5, 6), 6)
    true = 0.33
    diag = 1 - (grid - true) ** 2  # a parabola peaking between grid points
    votes = np.zeros(len(grid))
    votes[np.argmin(np.abs(grid - true))] = 10
    offset, grid_offset, confidence = pick_offset(grid, votes, diag, 10)
    assert grid_offset == pytest.approx(0.4) and offset == pytest.approx(true, abs=1e-6) and confidence == 1.0


# ---- sync on real streams with planted shifts -----------------------------------------------------
def test_sync_imu_vs_imu_real_utd_random_token_encoder(s2_wrist, tok_encoder):
    """Same sensor, two overlapping excerpts: whatever the weights, identical motion embeds
    identically, so the vote must find the planted 3.4 s exactly (sign: the second lags)."""
    imu = s2_wrist.imu[0]
    a = excerpt(imu, 20.0, 20.0)
    b = excerpt(imu, 20.0 - 3.4, 20.0)  # b starts 3.4 s earlier: things happen 3.4 s later in it
    r = query.sync(a, b, tok_encoder, max_offset=7.0)
    assert r.offset == pytest.approx(3.4, abs=0.1) and r.grid_offset == pytest.approx(3.4)
    assert r.reliable
    assert len(r.candidate_offsets) == len(r.votes) == 71


def test_xcorr_sync_imu_vs_pose_real_utd_planted_shifts(s2_wrist):
    """The model-free method on a real IMU / skeleton pair: the wrist accelerometer's magnitude
    against what the skeleton's wrist says an accelerometer there would read."""
    imu, pose = s2_wrist.imu[0], s2_wrist.pose
    for start, shift in ((30.0, -4.6), (120.0, 2.2), (200.0, 6.1)):
        r = xcorr_sync(excerpt(imu, start, 20.0), excerpt(pose, start - shift, 20.0), max_offset=7.0)
        assert r.offset == pytest.approx(shift, abs=0.1), (start, shift, r.offset)


def test_unrelated_streams_vote_with_less_confidence(s2_wrist, tok_encoder):
    imu = s2_wrist.imu[0]
    same = query.sync(excerpt(imu, 20.0, 20.0), excerpt(imu, 17.0, 20.0), tok_encoder, max_offset=7.0)
    other = query.sync(excerpt(imu, 20.0, 20.0), excerpt(imu, 150.0, 20.0), tok_encoder, max_offset=7.0)
    assert other.confidence < same.confidence


def test_low_confidence_is_said_plainly():
    r = query.SyncResult(1.0, 0.05, np.zeros(3), np.array([1.0, 1.0, 1.0]), "test", matches=3)
    assert not r.reliable and "low confidence" in str(r)
    frame = r.to_frame()
    assert frame["reliable"].to_list() == [False] and frame["offset"].to_list() == [1.0]


# ---- bad input --------------------------------------------------------------------------------------
def test_stream_shorter_than_a_window_is_compared_by_tokens(tok_encoder):
    short = ImuStream(np.random.default_rng(0).normal(size=(50, 6)), 50.0, list(IMU6_CHANNELS), "right_wrist",
                      source="short.npy")
    rec = demo.make_recording("waving", "1", "1")
    r = query.sync(short, rec.pose, tok_encoder)
    assert np.isfinite(r.offset) and any("0.2 s tokens" in n for n in r.notes)


def test_nan_in_query_file_names_the_file(tmp_path, tok_encoder, capsys):
    from query.cli import main

    data = np.random.default_rng(0).normal(size=(500, 6))
    data[100, 2] = np.nan
    path = tmp_path / "broken.npy"
    np.save(path, data)
    with pytest.raises(BadInput, match=r"broken.npy: IMU data holds 1 NaN"):
        query.as_imu(str(path), rate=50.0)
    pose = tmp_path / "pose.npy"
    np.save(pose, demo.make_recording("waving", "1", "1").pose.data)
    code = main(["sync", str(path), str(pose), "--rate", "50", "--other-rate", "30",
                 "--checkpoint", tok_encoder.source])
    assert code == 2 and "broken.npy: IMU data holds 1 NaN/inf values" in capsys.readouterr().err


def test_streams_that_cannot_overlap_are_refused():
    starts = 0.2 * np.arange(10)
    with pytest.raises(BadInput, match="no window of the two streams can be paired"):
        vote_offsets(np.zeros((10, 10)), starts, starts + 30.0, max_offset=5.0)


def test_missing_channels_named(tok_encoder):
    acc_only = ImuStream(np.zeros((500, 3)), 50.0, ["acc_x", "acc_y", "acc_z"], "right_wrist", source="acc.csv")
    rec = demo.make_recording("waving", "1", "1")
    with pytest.raises(BadInput, match=r"acc.csv: IMU channels \['acc_x', 'acc_y', 'acc_z'\] lack \['gyr_x'"):
        query.sync(acc_only, rec.pose, tok_encoder)


# ---- the command line ------------------------------------------------------------------------------
def test_cli_sync_on_real_utd_files(utd_dir, tok_encoder, capsys):
    from query.cli import main

    imu = utd_dir / "inertial" / "a5_s2_t1_inertial.mat"
    code = main(["sync", str(imu), str(imu), "--checkpoint", tok_encoder.source, "--max-offset", "1", "--json",
                 "--method", "tokens"])
    out = capsys.readouterr().out
    assert code == 0
    row = json.loads(out)[0]
    assert row["offset"] == pytest.approx(0.0, abs=0.1) and row["method"].startswith("dense-vote/tokens")
    code = main(["sync", str(utd_dir / "missing.mat"), str(imu), "--checkpoint", tok_encoder.source])
    assert code == 2 and "missing.mat: file does not exist" in capsys.readouterr().err


# ---- locate in a built token index --------------------------------------------------------------
@pytest.fixture(scope="module")
def utd_token_index(tmp_path_factory, tok_encoder, utd_dir):
    """Subject 2's thigh clips as one long stream, plus two demo recordings, in a token index."""
    from indexer.build import build
    from indexer.concat import subject_streams
    from indexer.importers import discover
    from indexer.model import Entry
    from indexer.store import IndexStore
    from query.api import open_index

    thigh = next(s for s in subject_streams(discover(utd_dir, "utd-mhad"), {"2"})
                 if s.imu[0].placement == "right_thigh")
    entries = [Entry(thigh.id, [thigh.id], lambda: thigh)] + demo.discover(None)[:2]
    path = tmp_path_factory.mktemp("locate-index")
    build(entries, IndexStore(path, create=True), tok_encoder, progress=False)
    return open_index(path), thigh, entries


def test_locate_snippet_in_a_long_real_stream(utd_token_index):
    """Random weights, but the snippet is stored in the index on its window grid, so its windows
    embed exactly as the stored ones: on window scores alone (no token refinement, whose edge
    tokens see other context) IMU -> IMU must land on it with a perfect score."""
    index, thigh, entries = utd_token_index
    snippet = excerpt(thigh.imu[0], 41.0, 3.0)
    hits = index.locate(snippet, k=3, target="imu", refine=False)
    top = hits.row(0, named=True)
    assert top["recording_id"] == thigh.id and top["t_start"] == pytest.approx(41.0, abs=0.01)
    assert top["score"] == pytest.approx(1.0, abs=1e-5)
    assert top["t_end"] - top["t_start"] == pytest.approx(3.0, abs=0.01)
    hits = index.locate(snippet, k=3, target="imu")
    assert hits.columns == ["rank", "score", "recording_id", "t_start", "t_end", "label", "ties"]
    assert hits["score"].is_sorted(descending=True) and hits["rank"].to_list() == [1, 2, 3]
    only = index.locate(snippet, k=3, recording=entries[1].id, target="imu")
    assert set(only["recording_id"]) <= {entries[1].id}
    with pytest.raises(LookupError, match="no recording"):
        index.locate(snippet, recording="nope")


def test_locate_never_places_a_snippet_outside_its_recording(utd_token_index):
    """A snippet longer than the recording searched: its later windows can only match earlier
    stored ones, so they vote for starts before the recording begins (t_start -3.4 before the
    fix); every place reported must lie within the recording, [0, duration]."""
    index, thigh, entries = utd_token_index
    target = entries[1].id
    duration = index.recording(target)["duration"]
    snippet = excerpt(thigh.imu[0], 20.0, duration + 4.0)
    for refine in (False, True):
        hits = index.locate(snippet, k=5, target="imu", recording=target, refine=refine)
        assert hits.height > 0 and set(hits["recording_id"]) == {target}
        assert (hits["t_start"] >= 0.0).all() and (hits["t_end"] <= duration + 1e-6).all(), hits
        assert (hits["ties"] >= 0).all()


def test_locate_honours_where(utd_token_index, tmp_path, capsys):
    """--where filters the searched windows (and so their tokens), in the API and the CLI."""
    from query.cli import main

    index, thigh, entries = utd_token_index
    snippet = excerpt(thigh.imu[0], 41.0, 3.0)
    assert index.locate(snippet, k=3, target="imu")["recording_id"][0] == thigh.id
    other = index.locate(snippet, k=3, target="imu", where=f"recording_id != '{thigh.id}'")
    assert other.height > 0 and thigh.id not in set(other["recording_id"])
    late = index.locate(snippet, k=3, target="imu", where="t_start >= 60")
    assert late.height > 0 and not ((late["recording_id"] == thigh.id) & (late["t_start"] < 59.0)).any()
    path = tmp_path / "snippet.npy"
    np.save(path, snippet.data)
    argv = ["locate", str(path), "--rate", str(snippet.rate), "--target", "imu", "-k", "3", "--json",
            "--index", str(index.store.uri)]
    assert main(argv + ["--where", f"recording_id = '{entries[1].id}'"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["recording_id"] for r in rows} == {entries[1].id}
    assert main(argv + ["--where", "subjct = 2"]) == 2
    assert "subjct" in capsys.readouterr().err


def test_sync_and_assign_take_no_where(capsys):
    """sync and assign compare the given files, not the index: --where is not theirs to offer."""
    from query.cli import main

    for command in (["sync", "a.npy", "b.npy"], ["assign", "a.npy", "b.npy"]):
        with pytest.raises(SystemExit) as exit_:
            main([*command, "--where", "subject = 2"])
        assert exit_.value.code == 2 and "unrecognized arguments: --where" in capsys.readouterr().err


def test_locate_needs_a_token_index(tmp_path, tiny_encoder):
    from indexer.build import build
    from indexer.store import IndexStore
    from query.api import open_index

    build(demo.discover(None)[:1], IndexStore(tmp_path, create=True), tiny_encoder, progress=False)
    rec = demo.make_recording("waving", "1", "1")
    with pytest.raises(LookupError, match="no token vectors"):
        open_index(tmp_path).locate(rec.imu[0], method="tokens")
    with pytest.raises(LookupError, match="no token vectors"):
        open_index(tmp_path).locate(rec.imu[0], target="imu")  # xcorr searches pose only
    # without token vectors, auto falls back on the physical baseline over the pose recordings
    hits = open_index(tmp_path).locate(rec.imu[0], k=3)
    assert hits.height >= 1 and set(hits["recording_id"]) <= {e.id for e in demo.discover(None)[:1]}
    assert (hits["t_start"] >= 0).all() and (hits["t_end"] <= 8.0 + 1e-6).all()


# ---- assign ----------------------------------------------------------------------------------------
def test_assign_people_by_construction_xcorr():
    """Demo IMUs are derived from their skeleton's right wrist: each must go to its own person
    and its right-wrist part, whatever the order of people."""
    recs = [demo.make_recording(a, "2", "1") for a in ("waving", "arm circles", "boxing")]
    people = [recs[2].pose, recs[0].pose, recs[1].pose]  # only the right arm moves in the first two
    out = query.assign([recs[0].imu[0], recs[1].imu[0]], people, "xcorr")
    assert out.columns == ["imu", "person", "body_part", "score", "margin", "note"]
    assert out["person"].to_list() == [1, 2]
    assert out["body_part"].to_list() == ["right_wrist", "right_wrist"]


def test_assign_with_token_encoder_is_one_to_one(tok_encoder):
    recs = [demo.make_recording(a, "3", "2") for a in ("waving", "boxing", "squat")]
    out = query.assign([r.imu[0] for r in recs], [r.pose for r in recs], tok_encoder)
    slots = list(zip(out["person"], out["body_part"]))
    assert out.height == 3 and len(set(slots)) == 3
    assert set(out["body_part"]) <= set(tok_encoder.parts)


def test_read_people_from_npy(tmp_path):
    rec = demo.make_recording("waving", "1", "1")
    path = tmp_path / "people.npy"
    np.save(path, np.stack([rec.pose.data, rec.pose.data + 1.0]))
    people = query.read_people(path, rate=30.0)
    assert len(people) == 2 and people[1].skeleton == "canonical"
    with pytest.raises(BadInput, match="unknown rate"):
        query.read_people(path)


# ---- 2-D pose from video -------------------------------------------------------------------------
def test_mediapipe_landmarks_map_to_coco17():
    from indexer.bodyparts import COCO17_JOINTS
    from indexer.pose2d import fill_gaps, landmarks_to_coco17

    lm = np.zeros((3, 33, 2), np.float32)
    lm[:, 16] = (0.75, 0.25)  # mediapipe's right wrist, upper right of the image
    coco = landmarks_to_coco17(lm, 320, 240)
    assert coco.shape == (3, 17, 2)
    assert np.allclose(coco[:, COCO17_JOINTS.index("right_wrist")], (240.0, -60.0))  # pixels, y up
    coco[1] = np.nan
    filled = fill_gaps(coco, "clip.mp4")
    assert np.isfinite(filled).all() and np.allclose(filled[1], coco[0])
    with pytest.raises(BadInput, match="clip.mp4: no person was found in 2 of 3 frames"):
        coco[2] = np.nan
        fill_gaps(coco, "clip.mp4")


def test_video_pose_on_real_depth_video(utd_dir):
    pytest.importorskip("mediapipe")
    from indexer.bodyparts import COCO17_JOINTS
    from indexer.pose2d import video_pose

    pose = video_pose(utd_dir / "depth-video" / "a3_s2_t1_depth.mp4", max_frames=40)  # right hand wave
    assert pose.data.shape == (40, 17, 2) and pose.skeleton == "coco17" and pose.rate > 10
    canon = pose.canonical()
    assert canon.shape == (40, 16, 2)
    wrist = pose.data[20:, COCO17_JOINTS.index("right_wrist"), 1]
    shoulder = pose.data[20:, COCO17_JOINTS.index("right_shoulder"), 1]
    assert (wrist > shoulder).mean() > 0.5  # the waving (right) hand is up, y pointing up
