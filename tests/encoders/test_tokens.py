"""MoBind token encoders: shapes, time bookkeeping, part features, losses, checkpoints, and
the tokens table an index build writes."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from encoders import checkpoint, tokens
from encoders.factory import load_checkpoint
from encoders.losses import mobind_loss, token_info_nce
from encoders.part_features import (
    DEFAULT_PARTS,
    part_for_placement,
    pose_part_feature_count,
    pose_part_features,
    project_2d,
)
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.importers import demo

TINY = dict(embed_dim=16, dim=16, layers=1, heads=2, conv_width=8)



def make_token_encoder(folder, seed: int = 0, **kw):
    torch.manual_seed(seed)
    config = tokens.default_token_config(**{**TINY, **kw})
    checkpoint.save(tokens.TokenModel(config), folder)
    return load_checkpoint(folder)  # the generic loader must recognise a token checkpoint


@pytest.fixture(scope="module")
def tok_encoder(tmp_path_factory):
    return make_token_encoder(tmp_path_factory.mktemp("tok"))


def test_token_tower_shapes_and_validity():
    config = tokens.default_token_config(**TINY)
    model = tokens.TokenModel(config).eval()
    imu = torch.randn(3, 100, 6)  # 2 s at 50 Hz -> ten 0.2 s tokens
    valid = torch.tensor([100, 55, 1])
    out = model("imu", imu, valid)
    assert out["tokens"].shape == (3, 10, 16)
    assert out["window"].shape == (3, 16)
    assert torch.allclose(out["tokens"].norm(dim=-1), torch.ones(3, 10), atol=1e-5)
    assert out["token_valid"].sum(1).tolist() == [10, 6, 1]  # 55 samples end inside token 6
    pose = torch.randn(3, 50, pose_part_feature_count(3))  # 25 Hz -> the same ten tokens
    assert model("pose", pose, torch.tensor([50, 50, 50]))["tokens"].shape == (3, 10, 16)
    with pytest.raises(ValueError, match="whole number"):
        model("imu", torch.randn(1, 95, 6), torch.tensor([95]))


def test_padding_does_not_change_valid_part():
    model = tokens.TokenModel(tokens.default_token_config(**TINY)).eval()
    x = torch.randn(1, 60, 6)
    padded = torch.cat([x, torch.zeros(1, 40, 6)], 1)
    a = model("imu", x, torch.tensor([60]))
    b = model("imu", padded, torch.tensor([60]))
    assert torch.allclose(a["tokens"], b["tokens"][:, :6], atol=1e-5)
    assert torch.allclose(a["window"], b["window"], atol=1e-5)


def test_token_spans_bookkeeping():
    starts, ends = tokens.token_spans(1.0, 10, t_end=2.9)
    assert np.allclose(starts, 1.0 + 0.2 * np.arange(10))
    assert np.allclose(ends[:-1], starts[:-1] + 0.2)
    assert ends[-1] == pytest.approx(2.9)  # the last token stops at the window's true end


def test_owned_tokens_cover_each_moment_once():
    # 5 s stream, 2 s windows every 1 s: starts 0, 1, 2, 3.
    starts = [0.0, 1.0, 2.0, 3.0]
    keep = tokens.owned_tokens(starts, [s + 2 for s in starts], [10] * 4)
    kept = np.concatenate([s + 0.2 * np.flatnonzero(k) for s, k in zip(starts, keep)])
    assert np.allclose(np.sort(kept), 0.2 * np.arange(25))
    assert keep[0][:5].all() and not keep[0][8:].any()  # early tokens from the first window only


def test_part_features_chain_relative_and_velocity():
    t = np.arange(50) / 25.0
    pose = np.zeros((50, len(CANONICAL_JOINTS), 3), np.float32)
    pose[:, :, 0] = 0.5 * t[:, None]  # the whole body drifts at 0.5 m/s along x
    wrist = CANONICAL_JOINTS.index("right_wrist")
    pose[:, wrist, 1] = -0.3
    f = pose_part_features(pose, "right_wrist", 25.0)
    assert f.shape == (50, pose_part_feature_count(3)) == (50, 18)
    rel = f[:, :9].reshape(50, 3, 3)
    assert np.allclose(rel[:, 0], 0) and np.allclose(rel[:, 2], [0, -0.3, 0])  # wrist below shoulder
    vel = f[:, 9:].reshape(50, 3, 3)
    assert np.allclose(vel[:, :, 0], 0.5, atol=1e-4)  # drift seen as velocity, not as shape
    padded = pose_part_features(pose, "right_wrist", 25.0, valid=30)
    assert np.all(padded[30:] == 0)
    assert pose_part_features(project_2d(pose), "right_thigh", 25.0).shape == (50, 12)


def test_part_for_placement():
    assert part_for_placement("right_elbow", DEFAULT_PARTS) == "right_wrist"
    assert part_for_placement("left_knee", DEFAULT_PARTS) == "left_thigh"
    with pytest.raises(ValueError, match="no chain"):
        part_for_placement("chest", DEFAULT_PARTS)


def test_config_rejects_partial_tokens():
    with pytest.raises(ValueError, match="0.2 s"):
        tokens.default_token_config(imu_rate=52.0)
    with pytest.raises(ValueError, match="whole number of 0.2 s tokens"):
        tokens.default_token_config(window=2.1)


def test_token_info_nce_prefers_aligned_slots():
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(4, 10, 16), dim=-1)
    valid = torch.ones(4, 10, dtype=torch.bool)
    scale = torch.tensor(np.log(1 / 0.07))
    aligned = token_info_nce(a, a, valid, scale)
    shifted = token_info_nce(a, torch.roll(a, 1, dims=1), valid, scale)
    assert aligned < 0.1 < shifted
    valid[:, 5:] = False  # padded slots are neither positives nor negatives
    assert token_info_nce(a, a, valid, scale) < 0.1


def test_token_info_nce_with_shifted_windows():
    torch.manual_seed(1)
    a = torch.nn.functional.normalize(torch.randn(4, 10, 16), dim=-1)
    valid = torch.ones(4, 10, dtype=torch.bool)
    scale = torch.tensor(np.log(1 / 0.07))
    k = torch.tensor([0, 2, -3, 4])  # window b starts k tokens after window a: b[j] is a[j + k]
    b = torch.stack([torch.roll(a[i], -int(k[i]), 0) for i in range(4)])
    assert token_info_nce(a, b, valid, scale, shift=k) < 0.1
    assert token_info_nce(a, b, valid, scale) > 1.0  # same slot number is no longer the answer


def test_shifted_pose_windows_are_whole_tokens_apart():
    from encoders.token_data import token_pairs

    config = tokens.default_token_config(**TINY)
    data = token_pairs(demo.discover(None)[:2], config, progress=False)
    batch = data.sample(8, np.random.default_rng(0), token_shift=1.0)
    assert batch["pose_shifted"].shape == batch["pose"].shape
    assert batch["token_shift"].abs().max() <= 5 and (batch["token_shift"] != 0).any()
    for i, k in enumerate(batch["token_shift"].tolist()):
        # the chain shape (root-relative positions) of the shifted window, k tokens (5 frames
        # each at 25 Hz) on, is the unshifted window's from there on
        a, b = batch["pose"][i, :, :9], batch["pose_shifted"][i, :, :9]
        if k >= 0:
            assert torch.allclose(a[5 * k :], b[: 50 - 5 * k], atol=1e-5)
        else:
            assert torch.allclose(a[: 50 + 5 * k], b[-5 * k :], atol=1e-5)


def test_mobind_loss_terms_with_several_imus_per_sample():
    config = tokens.default_token_config(**TINY)
    model = tokens.TokenModel(config).train()
    batch = {"imu": torch.randn(6, 100, 6), "imu_valid": torch.full((6,), 100),
             "pose": torch.randn(6, 50, 18), "pose_valid": torch.full((6,), 50),
             "part": torch.tensor([0, 2, 0, 2, 1, 0]), "sample": torch.tensor([0, 0, 1, 1, 2, 3])}
    terms = mobind_loss(model, batch, 0.3, config["tokens"]["loss_weights"], torch.Generator().manual_seed(0))
    for name in ("token", "window", "body", "masked", "loss"):
        assert torch.isfinite(terms[name]) and terms[name] > 0, name
    terms["loss"].backward()
    assert model.body["imu"].part_embed.weight.grad is not None  # the full-body term reaches the pooling


def test_checkpoint_round_trip(tmp_path, tok_encoder):
    assert isinstance(tok_encoder, tokens.TokenEncoder) and tok_encoder.has_tokens
    rec = demo.make_recording("waving", "1", "1")
    from indexer.windows import recording_windows

    wins = [w for w in recording_windows(rec, tok_encoder.window, tok_encoder.rates) if w.modality == "imu"]
    again = load_checkpoint(tok_encoder.source)
    assert again.id == tok_encoder.id
    assert np.allclose(tok_encoder.encode(wins), again.encode(wins), atol=1e-6)
    (tmp_path / "model.safetensors").write_bytes(b"not weights")
    (tmp_path / "config.json").write_text(__import__("json").dumps(tok_encoder.config.to_dict()))
    with pytest.raises(ValueError, match="safetensors"):
        load_checkpoint(tmp_path)


def test_pose_windows_split_into_parts_and_body_vector(tok_encoder):
    rec = demo.make_recording("squat", "2", "1")
    from indexer.windows import recording_windows

    wins = [w for w in recording_windows(rec, tok_encoder.window, tok_encoder.rates) if w.modality == "pose"]
    parts = tok_encoder.part_windows(wins)
    assert len(parts) == len(wins) * len(DEFAULT_PARTS)
    assert {w.body_part for w in parts} == set(DEFAULT_PARTS)
    body = tok_encoder.encode(wins)  # whole-skeleton windows get the pooled full-body vector
    assert body.shape == (len(wins), 16) and np.allclose(np.linalg.norm(body, axis=1), 1, atol=1e-5)
    with pytest.raises(Exception, match="2-D"):
        tok_encoder.encode([replace(parts[0], data=parts[0].data[..., :2])])


def test_training_lowers_the_loss_on_demo_data():
    from encoders.token_data import token_pairs
    from encoders.train import TokenTrainSettings, train_tokens

    config = tokens.default_token_config(**TINY)
    data = token_pairs(demo.discover(None)[:8], config, progress=False)
    assert data.seconds == pytest.approx(8 * demo.DURATION, rel=0.01)
    model, history = train_tokens(config, data, TokenTrainSettings(steps=60, batch=16, lr=3e-3, log_every=10), progress=False)
    assert history[-1]["loss"] < history[0]["loss"]


# ---- the tokens table of an index ---------------------------------------------------------------
@pytest.fixture(scope="module")
def token_index(tmp_path_factory, tok_encoder):
    from indexer.build import build
    from indexer.store import IndexStore

    entries = demo.discover(None)[:3]
    store = IndexStore(tmp_path_factory.mktemp("tok-index"), create=True)
    summary = build(entries, store, tok_encoder, progress=False)
    return store, summary, entries


def test_build_writes_tokens_covering_each_stream_once(token_index, tok_encoder):
    store, summary, entries = token_index
    assert summary.tokens_written > 0 and not summary.skipped
    toks = store.table("tokens")
    assert toks.height == summary.tokens_written == store.count("tokens")
    per_stream = int(round(demo.DURATION / 0.2))
    for (rec, modality, part), group in toks.group_by(["recording_id", "modality", "body_part"]):
        starts = np.sort(group["t_start"].to_numpy())
        assert len(starts) == per_stream, (rec, modality, part)
        assert np.allclose(starts, 0.2 * np.arange(per_stream))
        assert np.allclose(group["t_end"].to_numpy() - group["t_start"].to_numpy(), 0.2)
    # every token sits inside the window it names, of the same stream
    wins = store.windows(columns=["id", "recording_id", "modality", "body_part", "t_start", "t_end"])
    joined = toks.join(wins.rename({"id": "window_id", "t_start": "w_start", "t_end": "w_end",
                                    "recording_id": "w_rec", "modality": "w_mod", "body_part": "w_part"}),
                       on="window_id", how="left")
    assert joined["w_start"].null_count() == 0
    assert (joined["t_start"] >= joined["w_start"] - 1e-9).all() and (joined["t_end"] <= joined["w_end"] + 1e-9).all()
    assert (joined["recording_id"] == joined["w_rec"]).all() and (joined["body_part"] == joined["w_part"]).all()
    assert set(toks["body_part"].unique()) == {"right_wrist", *DEFAULT_PARTS}
    kinds = {(m.get("table", "windows"), m["modality"]) for m in store.faiss_manifests()}
    assert {("tokens", "imu"), ("tokens", "pose"), ("windows", "imu"), ("windows", "pose")} <= kinds
    entry = store.faiss(tok_encoder.id, "pose", table="tokens")
    assert entry.index.ntotal == store.count("tokens", "modality = 'pose'")


def test_rebuild_adds_no_tokens_and_crash_leftovers_go(token_index, tok_encoder):
    from indexer.build import build

    store, summary, entries = token_index
    before = store.count("tokens")
    again = build(entries, store, tok_encoder, progress=False)
    assert again.tokens_written == 0 and store.count("tokens") == before
    # a build that died after writing windows and tokens but before the `indexed` row
    row = store.table("tokens").row(0, named=True)
    store.commit([], [], [], tokens=[{**row, "id": 10**9, "recording_id": "demo/ghost"}])
    assert store.count("tokens") == before + 1
    store.remove_incomplete()
    assert store.count("tokens") == before


def test_index_without_tokens_table_still_opens(tmp_path, tiny_encoder):
    import shutil

    from indexer.build import build
    from indexer.store import IndexStore

    build(demo.discover(None)[:1], IndexStore(tmp_path, create=True), tiny_encoder, progress=False)
    shutil.rmtree(tmp_path / "tokens.lance")  # an index built before the tokens table existed
    store = IndexStore(tmp_path)
    assert not store.has_tokens() and store.count("windows") > 0
