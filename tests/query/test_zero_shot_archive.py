"""Zero-shot labels over an index's own windows, on the demo with the built-in model:
`classify(..., refine=...)` and `label_recordings` (query.text_aligned, encoders.labels)."""
from __future__ import annotations

import numpy as np
import pytest

from encoders.labels import label_sums


def test_classify_refine_on_the_demo(builtin_demo_dir):
    """Classifying each demo recording among the demo's six names: the label vectors refined by the
    index's windows get no fewer right than the words alone (29 and 29 of 48 when measured with
    the built-in model; 38 -> 42 with the one before it), and the index's streamed sums are those
    of its windows' vectors."""
    from indexer import discover
    from indexer.importers.demo import ACTIONS
    from query.api import open_index

    ix = open_index(builtin_demo_dir)
    labels = list(ACTIONS)
    right = {False: 0, True: 0}
    for entry in discover(None, "demo"):
        rec = entry.load()
        for refine in (False, True):
            df = ix.classify(rec.imu[0], labels, start=0.0, end=5.0, refine=refine)
            assert df["score"].sum() == pytest.approx(1.0)
            right[refine] += df["label"][0] == rec.labels[0]
    assert right[True] >= right[False] >= 27
    enc = ix.pick_encoder_id("text", "imu")
    text = ix.encode_text(labels, enc)
    center = ix.mean_vector(enc, "imu")
    vectors = np.stack(ix.windows(None, ["vector"], encoder=enc, modality="imu")["vector"].to_list())
    np.testing.assert_allclose(ix.label_sums(enc, "imu", text, center), label_sums(vectors, text, center),
                               rtol=1e-4, atol=1e-4)
    # refined by the windows a filter admits: the sums of those windows alone
    some = np.stack(ix.windows("subject = '1'", ["vector"], encoder=enc, modality="imu")["vector"].to_list())
    assert 0 < len(some) < len(vectors)
    np.testing.assert_allclose(ix.label_sums(enc, "imu", text, center, "subject = '1'"),
                               label_sums(some, text, center), rtol=1e-4, atol=1e-4)
    rec = discover(None, "demo")[0].load()
    scoped = ix.classify(rec.imu[0], labels, start=0.0, end=5.0, refine="subject = '1'")
    whole = ix.classify(rec.imu[0], labels, start=0.0, end=5.0, refine=True)
    assert dict(zip(scoped["label"], scoped["cosine"])) != dict(zip(whole["label"], whole["cosine"]))
    with pytest.raises(ValueError):
        ix.classify(rec.imu[0], labels, refine="subject = = 1")


def test_label_recordings_on_the_demo(builtin_demo_dir, tmp_path, capsys):
    """Every demo recording labelled among the six names, as a user labels an unlabelled archive:
    one row per recording, its best label and runner-up; refining by the windows labelled gets
    no fewer right (29 and 29 of 48 when measured; 34 -> 42 with the model before); a filter
    narrows the rows; a taught concept's name scores with its examples; the CLI prints the same
    rows."""
    import shutil

    import polars as pl

    from indexer.importers.demo import ACTIONS
    from query.api import open_index
    from query.cli import main

    ix = open_index(builtin_demo_dir)
    truth = dict(ix.recordings(None, ["id", "labels"]).select("id", pl.col("labels").list.first()).iter_rows())
    right = {}
    for refine in (False, True):
        df = ix.label_recordings(list(ACTIONS), "imu", refine=refine)
        assert df.height == 48 and df["recording_id"].n_unique() == 48
        assert (df["margin"] >= 0).all() and (df["label"] != df["runner_up"]).all()
        right[refine] = sum(truth[r] == lab for r, lab in zip(df["recording_id"], df["label"]))
    assert right[True] >= right[False] >= 27
    assert ix.label_recordings(list(ACTIONS), "imu", where="subject = '1'")["recording_id"].n_unique() == 12
    with pytest.raises(ValueError, match="two distinct"):
        ix.label_recordings(["waving"])
    assert main(["label", "--labels", ",".join(ACTIONS), "--modality", "imu", "--index", str(builtin_demo_dir),
                 "--json"]) == 0
    rows = pl.read_json(capsys.readouterr().out.encode())
    assert rows["label"].to_list() == ix.label_recordings(list(ACTIONS), "imu")["label"].to_list()
    # a concept taught from three squat windows names the squats among words that do not, and
    # not the whole archive (measured: the squats, arm circles and jumping jacks, whose wrists rise
    # and fall as a squat's arms do; the walking, waving and boxing go to the words)
    copy = tmp_path / "demo-index"
    shutil.copytree(builtin_demo_dir, copy)
    taught = open_index(copy)
    squats = taught.windows("label = 'squat'", ["id", "recording_id"], modality="imu")
    taught.teach("deep knee bend", window_ids=squats.unique("recording_id", keep="first").head(3)["id"].to_list())
    df = taught.label_recordings(["deep knee bend", "a person stands still", "a person sleeps"], "imu")
    picked = {r for r, lab in zip(df["recording_id"], df["label"]) if lab == "deep knee bend"}
    assert {r for r, t in truth.items() if t == "squat"} <= picked and len(picked) <= 24



def test_label_recordings_by_sensor_and_skeleton(builtin_demo_dir, capsys):
    """Every demo take has a wrist sensor and a skeleton, and the two see different things. Asked
    to label by both, each recording is one row scored by the mean of the two modalities' scores,
    and more are right than by either alone (measured: 29 of 48 by the sensor, 40 by the skeleton,
    48 by both); the CLI (`--modality imu pose`) and "imu+pose" give the same rows, and so does
    labelling without a modality (Python and CLI), since the demo holds both; spread, which follows
    one modality's neighbours, is refused with both named and takes the sensor unless told; an
    unknown modality is refused in one line."""
    import polars as pl

    from indexer.importers.demo import ACTIONS
    from query.api import open_index
    from query.cli import main

    ix = open_index(builtin_demo_dir)
    truth = dict(ix.recordings(None, ["id", "labels"]).select("id", pl.col("labels").list.first()).iter_rows())

    def right(df):
        return sum(truth[r] == lab for r, lab in zip(df["recording_id"], df["label"]))

    by_imu, by_pose = ix.label_recordings(list(ACTIONS), "imu"), ix.label_recordings(list(ACTIONS), "pose")
    both = ix.label_recordings(list(ACTIONS), ("imu", "pose"))
    assert both.height == 48 and both["recording_id"].n_unique() == 48
    assert set(both["body_part"]) == {"right_wrist"} and (both["windows"] == 8).all()
    assert right(both) >= 44 and right(both) > max(right(by_imu), right(by_pose)), (right(by_imu), right(by_pose))
    assert ix.label_recordings(list(ACTIONS), "imu+pose")["label"].to_list() == both["label"].to_list()
    assert main(["label", "--labels", ",".join(ACTIONS), "--modality", "imu", "pose", "--index", str(builtin_demo_dir),
                 "--json"]) == 0
    out = capsys.readouterr()
    assert pl.read_json(out.out.encode())["label"].to_list() == both["label"].to_list()
    # each row carries the recording's own labels, and the command says how often the words agree
    # with them (beside JSON, on stderr; below a table, on stdout)
    assert [g[0] for g in both["given"].to_list()] == [truth[r] for r in both["recording_id"]]
    said = f"named as their own labels say: {right(both)} of 48 recordings (accuracy {right(both) / 48:.3f}"
    assert said in out.err
    assert main(["label", "--labels", ",".join(ACTIONS), "--index", str(builtin_demo_dir)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith(said)
    with pytest.raises(ValueError, match="one modality"):
        ix.label_recordings(list(ACTIONS), ("imu", "pose"), spread=True)
    # unless told one, a recording is named by all the index holds (Python, CLI); spread, which
    # follows one modality, then takes the sensor's windows instead of refusing
    assert ix.label_recordings(list(ACTIONS))["label"].to_list() == both["label"].to_list()
    assert main(["label", "--labels", ",".join(ACTIONS), "--index", str(builtin_demo_dir), "--json"]) == 0
    assert pl.read_json(capsys.readouterr().out.encode())["label"].to_list() == both["label"].to_list()
    spread = ix.label_recordings(list(ACTIONS), spread=True)
    assert spread["label"].to_list() == ix.label_recordings(list(ACTIONS), "imu", spread=True)["label"].to_list()
    assert main(["label", "--labels", ",".join(ACTIONS), "--spread", "--index", str(builtin_demo_dir), "--json"]) == 0
    assert pl.read_json(capsys.readouterr().out.encode())["label"].to_list() == spread["label"].to_list()
    with pytest.raises(ValueError, match="unknown modality 'gyro'"):
        ix.label_recordings(list(ACTIONS), "imu+gyro")


def test_label_recordings_balanced_on_the_demo(builtin_demo_dir, capsys):
    """The demo holds its six actions equally often, so a user who knows that asks for balanced
    labels: the words alone pile recordings onto some names (15 of 48 on one, none on another, 29
    right when measured); balanced, every name takes a share near 8 and more are right (35); the
    margins are label shares; the CLI gives the same rows; with spread too, shares stay in [0, 1]."""
    import polars as pl

    from indexer.importers.demo import ACTIONS
    from query.api import open_index
    from query.cli import main

    ix = open_index(builtin_demo_dir)
    truth = dict(ix.recordings(None, ["id", "labels"]).select("id", pl.col("labels").list.first()).iter_rows())
    plain = ix.label_recordings(list(ACTIONS), "imu")
    even = ix.label_recordings(list(ACTIONS), "imu", balance=True)
    right = [sum(truth[r] == lab for r, lab in zip(df["recording_id"], df["label"])) for df in (plain, even)]
    assert right[1] > right[0] and right[1] >= 33
    taken = even["label"].value_counts()["count"].to_list()
    assert len(taken) == 6 and max(taken) <= 12 and min(taken) >= 4
    assert ((even["margin"] >= 0) & (even["margin"] <= 1)).all()
    assert main(["label", "--labels", ",".join(ACTIONS), "--balance", "--modality", "imu", "--index",
                 str(builtin_demo_dir), "--json"]) == 0
    assert pl.read_json(capsys.readouterr().out.encode())["label"].to_list() == even["label"].to_list()
    both = ix.label_recordings(list(ACTIONS), spread=True, balance=True)
    assert both.height == 48 and ((both["margin"] >= 0) & (both["margin"] <= 1)).all()
    # fewer recordings than labels cannot share them equally: refused in one line, not a uniform guess
    with pytest.raises(ValueError, match="at least as many recordings as labels"):
        ix.label_recordings(list(ACTIONS), where="recording_id = 'demo/boxing_s1_t1'", balance=True)
    assert main(["label", "--labels", ",".join(ACTIONS), "--balance", "--where", "recording_id LIKE '%_s1_t1'",
                 "--index", str(builtin_demo_dir)]) == 0  # six recordings, six labels: allowed
    capsys.readouterr()
    assert main(["label", "--labels", ",".join(ACTIONS), "--balance", "--where",
                 "recording_id = 'demo/boxing_s1_t1'", "--index", str(builtin_demo_dir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "at least as many recordings as labels" in err[0]

def test_label_recordings_spread_from_taught_examples(builtin_demo_dir, tmp_path, capsys, monkeypatch):
    """Labelling a whole archive from concepts taught with one window each, under names the words
    cannot help with: spreading the scores over the archive's nearest windows keeps every taught
    window's recording on its concept and labels the demo at least as well as the prototypes
    alone; the CLI gives the same rows; an archive over the limit is refused in one line."""
    import shutil

    import polars as pl

    from indexer.importers.demo import ACTIONS
    from query import searcher as searcher_module
    from query.api import open_index
    from query.cli import main

    copy = tmp_path / "demo-index"
    shutil.copytree(builtin_demo_dir, copy)
    ix = open_index(copy)
    truth = dict(ix.recordings(None, ["id", "labels"]).select("id", pl.col("labels").list.first()).iter_rows())
    names, taught = {}, {}
    for n, action in enumerate(ACTIONS):
        row = ix.windows(f"label = '{action}' AND subject = '1'", ["id", "recording_id"], modality="imu").row(0)
        names[f"motion {n}"] = action
        taught[row[1]] = f"motion {n}"
        ix.teach(f"motion {n}", window_ids=[row[0]])
    right = {}
    for spread in (False, True):
        df = ix.label_recordings(list(names), spread=spread)
        assert df.height == 48 and (df["margin"] >= 0).all()
        right[spread] = sum(truth[r] == names[lab] for r, lab in zip(df["recording_id"], df["label"]))
        if spread:
            assert (df["margin"] <= 1).all()
            assert all(dict(zip(df["recording_id"], df["label"]))[r] == c for r, c in taught.items())
    assert right[True] >= max(right[False], 44)
    assert main(["label", "--labels", ",".join(names), "--spread", "--index", str(copy), "--json"]) == 0
    rows = pl.read_json(capsys.readouterr().out.encode())
    assert rows["label"].to_list() == ix.label_recordings(list(names), spread=True)["label"].to_list()
    monkeypatch.setattr("query.cli.SPREAD_NOTE_ABOVE", 10)  # a long spread says so on stderr first
    assert main(["label", "--labels", ",".join(names), "--spread", "--index", str(copy), "--json"]) == 0
    said = capsys.readouterr()
    assert pl.read_json(said.out.encode())["label"].to_list() == rows["label"].to_list()
    assert said.err.startswith("--spread: finding the nearest windows of each of 192 windows")
    monkeypatch.setattr(searcher_module, "MAX_SPREAD_WINDOWS", 100)
    fresh = open_index(copy)
    with pytest.raises(ValueError, match="narrow them"):
        fresh.label_recordings(list(names), spread=True)
    assert fresh.label_recordings(list(names), spread=True, where="subject = '1'").height == 12
    assert main(["label", "--labels", ",".join(names), "--spread", "--index", str(copy)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "narrow them" in err[0]


def test_a_concept_among_words_does_not_swallow_the_archive(builtin_demo_dir, tmp_path):
    """One concept taught from three boxing windows, labelled and classified among the other five
    actions' sentences: a concept's cosines (among motion vectors) would outscore every word on
    every window, so each label is put on one scale over the index's windows; the concept then
    takes the boxing recordings and the words the rest (48 of 48 right, 8 called the concept, when
    measured; 32 spread over the windows' neighbours)."""
    import shutil

    import polars as pl

    from indexer import discover
    from indexer.importers.demo import ACTIONS
    from query.api import open_index

    copy = tmp_path / "demo-index"
    shutil.copytree(builtin_demo_dir, copy)
    ix = open_index(copy)
    boxing = ix.windows("label = 'boxing' AND subject = '1'", ["id"], modality="imu")["id"].to_list()[:3]
    ix.teach("my punch", window_ids=boxing)
    labels = ["my punch"] + [s for a, s in ACTIONS.items() if a != "boxing"]
    name = {"my punch": "boxing", **{s: a for a, s in ACTIONS.items()}}
    truth = dict(ix.recordings(None, ["id", "labels"]).select("id", pl.col("labels").list.first()).iter_rows())
    for spread in (False, True):
        df = ix.label_recordings(labels, spread=spread)
        assert sum(truth[r] == name[lab] for r, lab in zip(df["recording_id"], df["label"])) >= 30
        assert (df["label"] == "my punch").sum() <= 12
    tops = [ix.classify(e.load().imu[0], labels, start=0.0, end=5.0)["label"][0] for e in discover(None, "demo")]
    assert tops.count("my punch") <= 12 and len(set(tops)) >= 4


def test_text_search_by_sensor_and_skeleton_finds_each_demo_sentence(builtin_demo_dir, tmp_path, capsys, monkeypatch):
    """`--target imu+pose`: each moment of the demo scored by its wrist sensor's and its
    skeleton's windows together. Each of the demo's six example sentences then finds its own action
    first (measured: 4 of 6 by the sensor alone, 4 of 6 by the skeleton alone). One hit per time
    span; its score is the mean of the two modalities' cosines there (checked against every span,
    unexpanded, so the re-ranked pools miss nothing on the demo); the CLI gives the same rows; a
    taught concept searches the first modality it has a prototype for; an unknown or absent
    modality is refused in one line."""
    import polars as pl

    from indexer.importers.demo import ACTIONS
    from query.api import open_index
    from query.cli import main

    ix = open_index(builtin_demo_dir)
    first = {}
    for action, sentence in ACTIONS.items():
        hits = ix.search_text(sentence, "imu+pose", 10)
        assert hits.height == 10 and hits["rank"].to_list() == list(range(1, 11))
        assert set(hits["modality"]) == {"imu+pose"} and set(hits["body_part"]) == {"right_wrist"}
        assert hits.select("recording_id", "t_start").n_unique() == 10
        assert hits["score"].is_sorted(descending=True) and hits["match"].is_between(0, 1).all()
        first[action] = hits["label"][0]
    assert first == {a: a for a in ACTIONS}, first

    # unexpanded, the joined score is exactly the mean of the two plain cosines at each span
    sentence = ACTIONS["arm circles"]
    windows = ix.windows(columns=["id", "recording_id", "modality", "t_start", "vector"])
    vec = ix.encode_text([sentence], ix.pick_encoder_id("text", "imu"))[0]
    cos = windows.with_columns(pl.Series("cos", np.asarray(windows["vector"].to_list()) @ vec))
    spans = (cos.group_by("recording_id", "t_start").agg(pl.col("cos").mean().alias("expected"))
             .sort("expected", descending=True).head(5))
    got = ix.search_text(sentence, "imu+pose", 5, expand=False)
    assert got.select("recording_id", "t_start").rows() == spans.select("recording_id", "t_start").rows()
    assert got["score"].to_list() == pytest.approx(spans["expected"].to_list(), abs=1e-5)
    # pools of one window each: the other modality's window at each span is read from the store
    from query import text_aligned

    monkeypatch.setattr(text_aligned, "JOINED_MIN", 1)
    monkeypatch.setattr(text_aligned, "JOINED_POOL", 1)
    small = ix.search_text(sentence, "imu+pose", 2, expand=False).join(
        cos.group_by("recording_id", "t_start").agg(pl.col("cos").mean()), on=["recording_id", "t_start"])
    assert set(small["modality"]) == {"imu+pose"}
    assert small["score"].to_list() == pytest.approx(small["cos"].to_list(), abs=1e-5)
    monkeypatch.undo()

    assert main(["text", sentence, "--target", "imu+pose", "-k", "5", "--index", str(builtin_demo_dir), "--json"]) == 0
    cli = pl.read_json(capsys.readouterr().out.encode())
    assert cli["window_id"].to_list() == ix.search_text(sentence, "imu+pose", 5)["window_id"].to_list()
    # a filter that admits nothing: no hits; one that admits the sensor alone: the sensor's own hits
    assert ix.search_text(sentence, "imu+pose", 5, "subject = '99'").height == 0
    sensor_only = ix.search_text(sentence, "imu+pose", 5, "modality = 'imu'")
    alone = ix.search_text(sentence, "imu", 5, "modality = 'imu'")
    assert set(sensor_only["modality"]) == {"imu"} and sensor_only["window_id"].to_list() == alone["window_id"].to_list()
    assert sensor_only["match"].to_list() == pytest.approx(alone["match"].to_list(), abs=1e-6)
    with pytest.raises(ValueError, match="unknown modality 'gyro'"):
        ix.search_text(sentence, "imu+gyro")
    with pytest.raises(LookupError, match="no 'video' windows"):
        ix.search_text(sentence, "imu+video")

    import shutil

    shutil.copytree(builtin_demo_dir, tmp_path / "demo-index")
    taught = open_index(tmp_path / "demo-index")
    taught.teach("my punch", window_ids=taught.windows("label = 'boxing'", ["id"], modality="imu")["id"].to_list()[:3])
    hits = taught.search_text("my punch", "imu+pose", 5)
    assert set(hits["concept"]) == {"my punch"} and set(hits["modality"]) == {"imu"}


def test_a_search_without_target_finds_what_the_index_holds(builtin_demo_dir, tmp_path, capsys):
    """Left out, --target is what the page picks: words find the sensor and the skeleton together
    where an index holds both, else the sensor; an indexed window finds the skeleton where there is
    one, else other sensor windows. So a first text search of a sensor-only archive works as typed,
    and so does labelling it (by the sensor)."""
    from dataclasses import replace

    import polars as pl

    from encoders import load_checkpoint
    from indexer import build_path, discover
    from indexer.model import Entry
    from query.cli import main

    def hits(*argv):
        assert main([*argv, "-k", "3", "--json"]) == 0
        return pl.read_json(capsys.readouterr().out.encode())

    prompt = "a person does jumping jacks"
    assert set(hits("text", prompt, "--index", str(builtin_demo_dir))["modality"]) == {"imu+pose"}
    sensors = [Entry(id=e.id, sources=e.sources, load=lambda e=e: replace(e.load(), pose=None), subject=e.subject)
               for e in discover(None, "demo") if e.subject == "1"]
    build_path(tmp_path / "sensor-index", sensors, load_checkpoint("builtin"), progress=False)
    found = hits("text", prompt, "--index", str(tmp_path / "sensor-index"))
    assert set(found["modality"]) == {"imu"} and found["label"][0] == "jumping jacks"
    window = int(found["window_id"][0])
    assert set(hits("window", str(window), "--index", str(tmp_path / "sensor-index"))["modality"]) == {"imu"}
    assert set(hits("window", str(window), "--index", str(builtin_demo_dir))["modality"]) == {"pose"}
    # labelling without --modality on the sensor-only index names each recording by its sensor
    assert main(["label", "--index", str(tmp_path / "sensor-index"), "--json"]) == 0
    labelled = pl.read_json(capsys.readouterr().out.encode())
    assert labelled.height == 12 and set(labelled["body_part"]) == {"right_wrist"}
    assert (labelled["windows"] == 4).all()  # the sensor's windows alone
    # the Python call without a target searches as the command line does
    from query.api import open_index

    assert set(open_index(tmp_path / "sensor-index").search_text(prompt, k=3)["modality"]) == {"imu"}
    both = open_index(builtin_demo_dir)
    assert both.search_text(prompt, k=3)["window_id"].to_list() == both.search_text(prompt, "imu+pose", 3)["window_id"].to_list()
