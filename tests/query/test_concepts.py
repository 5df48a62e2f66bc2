"""Concepts taught by example (query.concepts): teach, search, classify, forget; kept in the
index through rebuilds and incremental adds; refused in one line; CLI and HTTP round trips."""
from __future__ import annotations

import json
import os
import stat
import time

import polars as pl
import pytest

from encoders import load_checkpoint
from indexer.build import build
from indexer.importers import discover
from indexer.store import IndexStore
from query import open_index
from query.cli import main as query_main

ACTION = "boxing"


@pytest.fixture(scope="module")
def builtin_demo(tmp_path_factory):
    """The demo archive without one take, embedded by the shipped model (the take is added later)."""
    out = tmp_path_factory.mktemp("teach-demo")
    entries = discover(None, "demo")
    build(entries[:-1], IndexStore(out, create=True), load_checkpoint("builtin"), progress=False)
    return out, entries


def _examples(ix, action=ACTION, n=3) -> list[int]:
    """n IMU windows of one action, from subject 1's takes."""
    w = ix.windows(f"label = '{action}' AND subject = '1' AND modality = 'imu'", ["id"])
    return sorted(w["id"].to_list())[:n]


def test_teach_search_classify_forget(builtin_demo):
    path, _ = builtin_demo
    ix = open_index(path)
    ids = _examples(ix)
    t0 = time.perf_counter()
    concept = ix.teach("  My Punch ", window_ids=ids)
    hits = ix.search_text("my punch", "imu", k=10, where="subject IN (3, 4)")
    assert time.perf_counter() - t0 < 1.0  # interactive: teaching and the next query
    assert concept["name"] == "My Punch" and concept["windows"] == ids and list(concept["labels"]) == [ACTION]
    assert (hits["label"][:8] == ACTION).all() and (hits["label"] == ACTION).sum() >= 9  # words alone: 0.6
    assert (hits["concept"] == "My Punch").all()
    # the examples' moments in the other modality make the pose prototype: pose hits are right too
    pose = ix.search_text("MY PUNCH", "pose", k=10, where="subject IN (3, 4)")
    assert (pose["label"][:8] == ACTION).all()
    # a prompt that names no concept is a plain text search, without the column
    assert "concept" not in ix.search_text("my punches", "imu", k=3).columns
    table = ix.concepts()
    assert table["name"].to_list() == ["My Punch"] and table["examples"][0] == 3
    # classify: the concept's label wins for a boxing take of a subject not among the examples
    from indexer.importers.demo import make_recording

    clip = make_recording(ACTION, "3", "1").imu[0]
    assert ix.classify(clip, ["my punch", "walking", "squat"])["label"][0] == "my punch"
    assert ix.forget("MY PUNCH")["name"] == "My Punch"
    assert ix.concepts().height == 0 and ix.concept("my punch") is None
    with pytest.raises(LookupError, match="no concept 'my punch'"):
        ix.forget("my punch")


def test_the_taught_examples_are_strong_matches_of_their_concept(builtin_demo):
    """A window the user taught the concept with is relevant to it by their word: match 1.0 (the
    page's "strong match"), while the other hits keep their calibrated probability."""
    ix = open_index(builtin_demo[0])
    ids = _examples(ix)
    ix.teach("jab", window_ids=ids)
    try:
        hits = ix.search_text("jab", "imu", k=20)
        taught = hits.filter(pl.col("window_id").is_in(ids))
        assert sorted(taught["window_id"].to_list()) == ids and (taught["match"] == 1.0).all()
        others = hits.filter(~pl.col("window_id").is_in(ids))["match"]
        assert others.is_between(0.0, 1.0).all() and (others < 1.0).any()
    finally:
        ix.forget("jab")


def test_bad_input_is_one_line(builtin_demo):
    path, _ = builtin_demo
    ix = open_index(path)
    for name, ids, err, match in [("", [1], ValueError, "empty"), ("x", [], ValueError, "no examples"),
                                  ("x", [10 ** 9], LookupError, "no window with id 1000000000"),
                                  ("x", ["abc"], ValueError, "not a whole number")]:
        with pytest.raises(err, match=match) as exc:
            ix.teach(name, window_ids=ids)
        assert "\n" not in str(exc.value)
    assert ix.concepts().height == 0


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a user that file modes stop")
def test_read_only_index_refused(builtin_demo, tmp_path):
    path, _ = builtin_demo
    ix = open_index(path)
    os.chmod(path, stat.S_IRUSR | stat.S_IXUSR)
    try:
        with pytest.raises(ValueError, match="cannot write concepts.json") as exc:
            ix.teach("ro", window_ids=_examples(ix))
        assert "\n" not in str(exc.value)
    finally:
        os.chmod(path, stat.S_IRWXU)


def test_read_only_mount_refused(builtin_demo, monkeypatch):
    """As a read-only mount answers (root ignores file modes, so the write is made to fail)."""
    import errno

    from indexer import sidefiles

    def refuse(fs, path, content):
        raise OSError(errno.EROFS, "Read-only file system", path)

    path, _ = builtin_demo
    ix = open_index(path)
    monkeypatch.setattr(sidefiles, "write_atomic", refuse)
    with pytest.raises(ValueError, match="cannot write concepts.json .Read-only file system.") as exc:
        ix.teach("ro", window_ids=_examples(ix))
    assert "\n" not in str(exc.value) and ix.concepts().height == 0


def test_missing_index_refused(tmp_path, capsys):
    assert query_main(["concepts", "--index", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "not a motionsearch index" in err and err.count("\n") == 1


def test_concepts_survive_rebuild_and_incremental_add(builtin_demo):
    path, entries = builtin_demo
    ix = open_index(path)
    before = ix.count("windows")
    ix.teach("kept", window_ids=_examples(ix, "squat"))
    build(entries, IndexStore(path, create=True), load_checkpoint("builtin"), progress=False)  # one more take
    ix = open_index(path)
    assert ix.count("windows") > before
    assert ix.concepts()["name"].to_list() == ["kept"]
    assert (ix.search_text("kept", "imu", k=5)["label"] == "squat").all()
    ix.forget("kept")


def test_cli_round_trip(builtin_demo, capsys):
    path, _ = builtin_demo
    ids = [str(i) for i in _examples(open_index(path), "waving")]
    assert query_main(["teach", "my wave", "--windows", *ids, "--index", str(path)]) == 0
    assert "taught concept 'my wave' from 3 example(s)" in capsys.readouterr().out
    assert query_main(["concepts", "--index", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] == "my wave"
    assert query_main(["text", "my wave", "--target", "imu", "-k", "3", "--index", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in rows] == ["waving"] * 3 and rows[0]["concept"] == "my wave"
    assert query_main(["teach", "my wave", "--forget", "--index", str(path)]) == 0
    assert "forgot concept 'my wave'" in capsys.readouterr().out
    assert query_main(["teach", "my wave", "--forget", "--index", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no concept 'my wave'") and err.count("\n") == 1
    assert query_main(["teach", "x", "--windows", "999999", "--index", str(path)]) == 2
    assert "no window with id 999999" in capsys.readouterr().err


def test_http_round_trip(builtin_demo):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from query.serve import create_app

    path, _ = builtin_demo
    ix = open_index(path)
    client = TestClient(create_app(ix))
    ids = _examples(ix, "jumping jacks")
    r = client.post("/teach", json={"name": "Star Jump", "window_ids": ids})
    assert r.status_code == 200 and r.json()["labels"] == {"jumping jacks": 3}
    assert [c["name"] for c in client.get("/concepts").json()] == ["Star Jump"]
    hits = client.post("/search/text", json={"prompt": "star jump", "target": "pose", "k": 5}).json()
    assert {h["label"] for h in hits} == {"jumping jacks"} and hits[0]["concept"] == "Star Jump"
    for body in ({"name": "", "window_ids": ids}, {"name": "x", "window_ids": [10 ** 9]}, {"name": "x"}):
        r = client.post("/teach", json=body)
        assert r.status_code == 400 and "\n" not in r.json()["error"]
    assert client.delete("/concepts/Star Jump").json() == {"forgot": "Star Jump"}
    r = client.delete("/concepts/Star Jump")
    assert r.status_code == 400 and r.json()["error"].startswith("no concept")
    assert pl.DataFrame(client.get("/concepts").json()).height == 0


def test_teach_from_files(builtin_demo, tmp_path):
    """Query files as examples: two squat takes of subject 3 saved as .npy, read with their rate."""
    import numpy as np

    from indexer.importers.demo import make_recording

    path, _ = builtin_demo
    ix = open_index(path)
    files = []
    for take in ("1", "2"):
        f = tmp_path / f"squat{take}.npy"
        np.save(f, make_recording("squat", "3", take).imu[0].data)
        files.append(f)
    concept = ix.teach("deep knee bend", files=files, rate=50.0)
    assert concept["files"] == ["squat1.npy", "squat2.npy"] and concept["windows"] == []
    hits = ix.search_text("deep knee bend", "imu", k=5, where="subject IN (1, 2)")
    assert (hits["label"] == "squat").all()
    ix.forget("deep knee bend")


def test_page_teaches_a_span_and_says_the_search_used_it(builtin_demo, tmp_path):
    """The page's handlers (ui.views): a span of a recording's timeline becomes the concept's
    windows, the search names the concept in plain words, and bad spans and selections are refused
    in one line."""
    from ui.errors import UserError
    from ui.features import detect
    from ui.media import MediaDir
    from ui.views import Context, Query, concept_line, picked_windows, search, span_windows, teach

    path, _ = builtin_demo
    ix = open_index(path)
    ctx = Context(index=ix, media=MediaDir(tmp_path), features=detect(ix), max_upload_bytes=10 ** 6)
    rec = ix.windows(f"label = '{ACTION}' AND subject = '1'", ["recording_id"])["recording_id"][0]
    windows = ix.windows(columns=["id", "t_start", "t_end"], recording=rec)
    ids = span_windows(ctx, rec, 0, 6.0)
    inside = windows.filter((pl.col("t_start") >= 0) & (pl.col("t_end") <= 6.0))
    assert ids == sorted(inside["id"].to_list()) and ids
    short = span_windows(ctx, rec, 1.2, 1.6)  # shorter than a window: the windows covering it
    assert short and all(r["t_start"] <= 1.2 and r["t_end"] >= 1.6
                         for r in windows.filter(pl.col("id").is_in(short)).iter_rows(named=True))
    assert "Taught **span punch**" in teach(ctx, "span punch", ids)
    found = search(ctx, Query(kind="text", target="imu", k=10, prompt="Span Punch", one_per_recording=False))
    line = concept_line(ctx, found.hits)
    assert line.startswith("Searched with the concept **span punch**, taught from") and "\n" not in line
    assert found.hits["label"][0] == ACTION
    plain = search(ctx, Query(kind="text", target="imu", k=10, prompt="a person boxes"))
    assert concept_line(ctx, plain.hits) == ""
    assert picked_windows('["3", 5]') == [3, 5] and picked_windows("") == []
    for bad in (lambda: span_windows(ctx, rec, 5, 2), lambda: span_windows(ctx, None, 0, 1),
                lambda: span_windows(ctx, rec, 1e6, 1e6 + 1), lambda: picked_windows("[1, 2"),
                lambda: teach(ctx, "x", []), lambda: teach(ctx, " ", ids)):
        with pytest.raises(UserError) as exc:
            bad()
        assert "\n" not in str(exc.value)
    ix.forget("span punch")


def test_classify_reads_a_concept_out_as_the_few_shot_bench_does(builtin_demo):
    """Index.classify scores a label naming a concept with query.concepts.cosines relative to the
    index's mean window: the function bench/zeroshot.py's few-shot figures are measured with."""
    import numpy as np

    from indexer.importers.demo import make_recording
    from query import concepts
    from query.embedding import embed_clip

    path, _ = builtin_demo
    ix = open_index(path)
    ix.teach("bench punch", window_ids=_examples(ix))
    clip = make_recording(ACTION, "4", "2").imu[0]
    out = ix.classify(clip, ["bench punch", "walking"])
    encoder = ix.encoder(modality="imu")
    vec = embed_clip(clip, encoder)
    expected = concepts.cosines(vec, ix.concept_vector("bench punch", encoder.id, "imu"),
                                ix.mean_vector(encoder.id, "imu"))[0, 0]
    got = out.filter(pl.col("label") == "bench punch")["cosine"][0]
    assert abs(got - expected) < 1e-5 and out["label"][0] == "bench punch"
    # without a centre the read-out is the plain cosine of unit vectors
    v, p = np.random.default_rng(0).standard_normal((2, 8))
    assert abs(concepts.cosines(v, p)[0, 0] - v @ p / np.linalg.norm(v) / np.linalg.norm(p)) < 1e-12
    ix.forget("bench punch")


def test_counter_examples_steer_the_search_away_and_are_left_out(builtin_demo, capsys):
    """A concept taught from two boxing windows and a waving one finds waving windows among its
    hits; marking waving windows "not this" (a user's wrong hits) leans the search away from
    them, leaves them out, and is kept with the concept; added alone, they join the concept's."""
    path, _ = builtin_demo
    ix = open_index(path)
    mixed = _examples(ix, n=2) + _examples(ix, "waving", n=1)
    ix.teach("arm move", window_ids=mixed)
    try:
        before = ix.search_text("arm move", "imu", k=20, where="subject IN (3, 4)")
        wrong = before.filter(pl.col("label") == "waving")["window_id"].to_list()
        assert len(wrong) >= 3, before["label"].to_list()
        ix.teach("arm move", window_ids=mixed, not_windows=wrong[:2])
        after = ix.search_text("arm move", "imu", k=20, where="subject IN (3, 4)")
        assert after.height == 20 and after["rank"].to_list() == list(range(1, 21))
        assert not set(wrong[:2]) & set(after["window_id"].to_list())
        assert (after["label"] == ACTION).sum() > (before["label"] == ACTION).sum()
        # counter-examples alone are added to the concept already taught
        concept = ix.teach("arm move", not_windows=wrong[2:3])
        assert concept["windows"] == mixed and concept["not_windows"] == wrong[:3]
        assert ix.concepts().filter(pl.col("name") == "arm move")["not_windows"].to_list() == [wrong[:3]]
        with pytest.raises(ValueError, match="both as examples and as counter-examples"):
            ix.teach("arm move", window_ids=mixed, not_windows=mixed[:1])
        with pytest.raises(ValueError, match="teach it by examples first"):
            ix.teach("no such move", not_windows=wrong[:1])
        assert query_main(["teach", "arm move", "--not-windows", str(wrong[3]) if len(wrong) > 3 else str(wrong[0]),
                           "--index", str(path)]) == 0
        assert "counter-example(s)" in capsys.readouterr().out
    finally:
        ix.forget("arm move")
