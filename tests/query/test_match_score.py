"""The match probability of a hit (query.match_score): a window found by itself is a strong match,
a higher score never gets a lower probability, the shipped calibration loads, a missing or
broken one falls back in one log line, and the API and the page carry it in words."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from query import match_score, open_index
from ui import views

SHIPPED = {name: folder / match_score.CALIBRATION for name, folder in match_score.SHIPPED.items()}


@pytest.fixture(scope="module")
def demo_ix(tmp_path_factory):
    """Demo recordings of two subjects embedded by the built-in model (its shipped calibration)."""
    from encoders import load_checkpoint
    from indexer import build_path, discover

    entries = [e for e in discover(None, "demo") if e.id.endswith("_t1") and e.subject in ("1", "2")]
    root = tmp_path_factory.mktemp("match")
    summary = build_path(root / "index", entries, load_checkpoint("builtin"), progress=False)
    assert not summary.skipped
    return open_index(root / "index")


def test_shipped_calibrations_load_and_name_their_checkpoint():
    from encoders import load_checkpoint

    for name, path in SHIPPED.items():
        cal = match_score.read(path)
        assert set(cal.kinds) == set(match_score.KINDS) and set(cal.relative) == set(match_score.KINDS)
        assert json.loads(path.read_text())["encoder_id"] == load_checkpoint(name).id
        assert all("cosine" not in m.features for m in cal.relative.values())


@pytest.mark.parametrize("name", list(SHIPPED))
def test_a_higher_score_never_gets_a_lower_probability(name):
    cal = match_score.read(SHIPPED[name])
    rng = np.random.default_rng(0)
    for models in (cal.kinds, cal.relative):
        for kind in match_score.KINDS:
            background = rng.normal(0.1, 0.08, 1000)
            scores = np.linspace(-0.2, 0.999, 400)
            p = match_score.probabilities(match_score.Calibration(models, {}, "test"), kind, scores, background,
                                          best=0.999)
            assert np.all((p >= 0) & (p <= 1)) and np.all(np.diff(p) >= -1e-12), (name, kind)
            assert p[-1] > p[0]  # and it does rise: the score means something


def test_an_exact_self_match_is_certain_whatever_the_model():
    cal = match_score.read(SHIPPED["builtin"])
    background = np.random.default_rng(1).normal(0.9, 0.05, 500)  # a query close to everything
    for kind in match_score.KINDS:
        p = match_score.probabilities(cal, kind, np.array([1.0, 0.95, 0.5]), background)
        assert p[0] == 1.0 and p[1] < 1.0
    assert views.score_cue(1.0)[0] == "strong match"


def test_a_window_searched_with_itself_is_a_strong_match_in_the_api_and_on_the_page(demo_ix):
    wid = int(demo_ix.windows(columns=["id"], modality="imu")["id"][3])
    hits = demo_ix.search_window(wid, "imu", 10)
    assert hits.columns[:3] == ["rank", "score", "match"]
    assert hits["window_id"][0] == wid and hits["match"][0] == 1.0
    assert hits["match"].is_sorted(descending=True)  # ranked by score, so by probability too
    found = views.Found(views.Query(kind="window", target="imu", window_id=wid), hits, {})
    assert "strong match: 100% likely relevant" in views.summary(found)
    assert views.hits_json(hits)["hits"][0]["match"] == 1.0


def test_text_and_concept_searches_use_their_own_models(demo_ix):
    text = demo_ix.search_text("a person squats", "pose", 20, expand=False)
    cal = match_score.read(SHIPPED["builtin"])
    bg = demo_ix.match_background(demo_ix.encoder(modality="pose").id, "pose")
    assert bg.shape[0] == demo_ix.count("windows", modality="pose")  # under 1,000: every window
    vec = demo_ix.encoder(modality="pose").encode_text(["a person squats"])[0]
    want = match_score.probabilities(cal, "text", text["score"].to_numpy(), bg @ vec)
    assert text["match"].to_numpy() == pytest.approx(want, abs=1e-5)
    assert text["match"].is_sorted(descending=True)
    # expanded (the default): ranked by the joined vector, the match still from the prompt's own cosines
    joined = demo_ix.search_text("a person squats", "pose", 20)
    rows = demo_ix.windows(columns=["id", "vector"], modality="pose", ids=joined["window_id"].to_list())
    by_id = {i: float(np.asarray(v) @ vec) for i, v in zip(rows["id"], rows["vector"])}
    own = np.array([by_id[i] for i in joined["window_id"]])
    want = match_score.probabilities(cal, "text", own, bg @ vec)
    assert joined["match"].to_numpy() == pytest.approx(want, abs=1e-5)
    as_example = match_score.probabilities(cal, "example", text["score"].to_numpy(), bg @ vec)
    assert not np.allclose(as_example, want)  # the kind picks the model
    squats = demo_ix.windows(columns=["id"], modality="pose", where="label = 'squat'")["id"].to_list()[:3]
    demo_ix.teach("my squat", window_ids=squats)
    taught = demo_ix.search_text("my squat", "pose", 20)
    proto = demo_ix.concept_vector("my squat", demo_ix.encoder(modality="pose").id, "pose")
    assert taught["concept"][0] == "my squat"
    example = taught["window_id"].is_in(squats).to_numpy()  # the taught windows: relevant by the user's word
    # the others are measured from the best hit that is not an example, as the calibration was fitted
    best = taught["score"].to_numpy()[~example].max()
    calibrated = match_score.probabilities(cal, "concept", taught["score"].to_numpy(), bg @ proto, best)
    assert example.any() and (taught["match"].to_numpy()[example] == 1.0).all()
    assert taught["match"].to_numpy()[~example] == pytest.approx(calibrated[~example], abs=1e-5)


def test_a_missing_or_broken_calibration_falls_back_in_one_line(tmp_path, caplog):
    fallback = match_score.fallback()
    assert fallback is not None and set(fallback.kinds) == set(match_score.KINDS)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / match_score.CALIBRATION).write_text('{"format": "motionsearch-match-score/1", "kinds": {"text": ')
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    negative = {"features": ["cosine"], "coef": [-1.0], "intercept": 0.0}
    (foreign / match_score.CALIBRATION).write_text(json.dumps({"format": match_score.FORMAT,
                                                               "kinds": {"text": negative}}))
    with caplog.at_level(logging.WARNING, logger="query.match_score"):
        for n, folder in enumerate((tmp_path / "none", broken, foreign)):
            caplog.clear()
            cal = match_score.for_checkpoint(f"test-only@{tmp_path.name}-{n}", lambda f=folder: f)
            assert cal is fallback
            lines = [r.getMessage() for r in caplog.records]
            assert len(lines) == 1 and "\n" not in lines[0] and "fallback" in lines[0], lines
            if folder != tmp_path / "none":
                assert str(folder / match_score.CALIBRATION) in lines[0]
            match_score.for_checkpoint(f"test-only@{tmp_path.name}-{n}", lambda f=folder: f)
            assert len(caplog.records) == 1  # said once per checkpoint, not per search


def test_a_calibration_beside_the_checkpoint_is_used(tmp_path):
    models = {k: {"features": ["cosine"], "coef": [10.0], "intercept": -5.0} for k in match_score.KINDS}
    (tmp_path / match_score.CALIBRATION).write_text(json.dumps({"format": match_score.FORMAT, "kinds": models}))
    cal = match_score.for_checkpoint(f"test-only@own-{tmp_path.name}", lambda: tmp_path)
    assert cal.source == str(tmp_path / match_score.CALIBRATION)
    p = match_score.probabilities(cal, "text", np.array([0.5, 0.9]), np.zeros(10))
    assert p == pytest.approx(1 / (1 + np.exp(-np.array([0.0, 4.0]))))


def test_the_page_says_plainly_when_the_best_hit_is_unlikely():
    hits = pl.DataFrame({"rank": [1, 2], "score": [0.31, 0.30], "match": [0.12, 0.11], "label": ["boxing", "walking"],
                         "recording_id": ["a", "b"]})
    text = views.summary(views.Found(views.Query(kind="text", target="imu", prompt="a tennis serve"), hits, {}))
    assert "weak match: 12% likely relevant" in text
    assert "unlikely to be what you are looking for" in text
    assert "teach it by example: select hits and press Teach as" in text
    strong = hits.with_columns(pl.Series("match", [0.95, 0.2]))
    text = views.summary(views.Found(views.Query(kind="text", target="imu", prompt="boxing"), strong, {}))
    assert "strong match" in text and "unlikely" not in text
    assert views.results_table(strong).columns[:3] == ["rank", "score", "match"]


def test_match_json_is_null_where_there_is_no_probability():
    hits = pl.DataFrame({"rank": [1], "score": [0.4], "recording_id": ["a"], "query": [0]})
    out = match_score.with_match(hits, np.ones((1, 4), np.float32), np.zeros((0, 4), np.float32), None, "text")
    assert out.columns[:3] == ["rank", "score", "match"] and out["match"].to_list() == [None]
    assert views.hits_json(out.drop("query"))["hits"][0]["match"] is None


def test_docs_name_the_command_that_fits_each_shipped_calibration():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "match_score.md").read_text()
    for path in SHIPPED.values():
        command = json.loads(path.read_text())["command"]
        assert command.startswith("python bench/calibrate.py") and command in doc


def test_a_search_of_sensor_and_skeleton_together_takes_the_mean_of_their_text_matches(demo_ix, monkeypatch):
    """`search_text(..., "imu+pose")`: a moment's match is the mean of its two windows' text
    matches, each taken as that modality's own search takes it (checked under a text model of
    the cosine alone, which the test can compute from the stored vectors)."""
    prompt = "a person waves the right hand above the head"
    encoder_id = demo_ix.pick_encoder_id("text", "imu")
    shipped = demo_ix.calibration(encoder_id)
    assert demo_ix.search_text(prompt, "imu+pose", 8)["match"].is_between(0, 1).all()
    simple = match_score.Model(["cosine"], np.array([10.0]), -2.0)
    monkeypatch.setitem(match_score._loaded, encoder_id,
                        match_score.Calibration({**shipped.kinds, "text": simple}, shipped.relative, "test"))
    windows = demo_ix.windows(columns=["recording_id", "t_start", "vector"])
    v = np.asarray(windows["vector"].to_list(), np.float64)
    cos = (v / np.linalg.norm(v, axis=1, keepdims=True)) @ demo_ix.encode_text([prompt], encoder_id)[0]
    expected = (windows.with_columns(pl.Series("p", 1 / (1 + np.exp(-(10 * cos - 2)))))
                .group_by("recording_id", "t_start").agg(pl.col("p").mean()))
    got = demo_ix.search_text(prompt, "imu+pose", 8).join(expected, on=["recording_id", "t_start"])
    assert got.height == 8 and got["match"].to_list() == pytest.approx(got["p"].to_list(), abs=1e-6)
