"""Shared fixtures: where the real datasets live, a tiny randomly initialised encoder, and the
demo indexes several test files search (built once per session; tests only read them).

The datasets are read in place from ../shared/data (never copied into the repo); tests that
need them skip when it is absent. Test files live in folders mirroring the packages
(tests/indexer, encoders, query, ui) and tests/system for what crosses them.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
UTD = DATA / "utd-mhad"
CMU = DATA / "cmu-mocap"

# One thread: the 2 cores are shared, and with other processes busy, two torch threads made a
# small training step 10-50x slower (0.5-2.5 s instead of 0.05 s) through contention.
torch.set_num_threads(1)

TINY_PARAMS = {"width": 8, "hidden": 8}
TINY_DIM = 16


@pytest.fixture(scope="session")
def utd_dir() -> Path:
    if not (UTD / "inertial").is_dir() or not (UTD / "actions.csv").exists():
        pytest.skip(f"UTD-MHAD data not found at {UTD}")
    return UTD


@pytest.fixture(scope="session")
def cmu_dir() -> Path:
    if not any(CMU.glob("*.bvh")):
        pytest.skip(f"CMU mocap data not found at {CMU}")
    return CMU


def make_tiny_encoder(folder: Path, seed: int = 0):
    """A small cnn_gru IMU + pose encoder with random weights, saved and loaded through the
    real checkpoint code (safetensors + config.json)."""
    from encoders import checkpoint
    from encoders.factory import load_checkpoint
    from encoders.model import JointModel, default_config

    torch.manual_seed(seed)
    config = default_config("cnn_gru", embed_dim=TINY_DIM, params=TINY_PARAMS)
    checkpoint.save(JointModel(config), folder)
    return load_checkpoint(folder)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    return make_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


@pytest.fixture(scope="session")
def builtin_demo_dir(tmp_path_factory) -> Path:
    """The quick start's index: the whole demo archive embedded by the built-in model, as
    `python -m indexer build --demo DIR` builds it."""
    from encoders import load_checkpoint
    from indexer import build_path, discover

    out = tmp_path_factory.mktemp("builtin-demo") / "demo-index"
    summary = build_path(out, discover(None, "demo"), load_checkpoint("builtin"), progress=False)
    assert not summary.skipped
    return out


@pytest.fixture(scope="session")
def demo_index_dir(tmp_path_factory) -> Path:
    """The demo archive's first takes, embedded by a tiny random text-aligned encoder (kept
    beside the index, in ../encoder)."""
    from tiny_clip import TINY_CLIP, TINY_TOWER_PARAMS

    from encoders import checkpoint, load_checkpoint
    from encoders.factory import create_model
    from encoders.model import text_aligned_config
    from indexer import build_path, discover

    root = tmp_path_factory.mktemp("serve")
    checkpoint.save(create_model(text_aligned_config("cnn_gru", TINY_CLIP, params=TINY_TOWER_PARAMS), seed=0),
                    root / "encoder")
    entries = [e for e in discover(None, "demo") if e.id.endswith("_t1")]
    summary = build_path(root / "index", entries, load_checkpoint(root / "encoder"), progress=False)
    assert not summary.skipped
    return root / "index"
