"""UTD-MHAD end to end: train briefly on training subjects, index a held-out subject, and find
a held-out IMU clip's own skeleton recording through the API and the CLI.

Kept small for a shared 2-core machine: 8 actions, training subjects 1 and 3 (64 paired
windows), 40 epochs of a small CNN-GRU (~10-15 s); the index holds subject 2's 32 clips of
the same actions. While settling these settings (an ad-hoc loop over training seeds 0-4 with
exactly these settings), R@10 over all 32 subject-2 IMU queries was 0.81-0.94 (an untrained
encoder: 0.31-0.38) and a24_s2_t1's own skeleton ranked 1-4, so the thresholds below hold
with a wide margin.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from encoders import checkpoint
from encoders.data import paired_windows
from encoders.factory import load_checkpoint
from encoders.model import default_config
from encoders.train import TrainSettings, train_paired
from indexer.build import build_path
from indexer.importers import utd_mhad
from indexer.windows import WindowSpec
from query.api import open_index

REPO = Path(__file__).resolve().parents[2]
ACTIONS = {4, 5, 9, 13, 16, 22, 24, 27}  # clap, throw, circle, boxing, arm curl, jogging, sit to stand, squat
QUERY = "a24_s2_t1"  # sit to stand, subject 2 (held out)


def _entries(utd_dir: Path, subjects: tuple[str, ...]):
    action = re.compile(r"/a(\d+)_")
    return [e for e in utd_mhad.discover(utd_dir, subjects) if int(action.search(e.id).group(1)) in ACTIONS]


@pytest.fixture(scope="module")
def trained_index(utd_dir, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("utd-e2e")
    assert not set(utd_mhad.TEST_SUBJECTS) & {"1", "3"}  # trained on training subjects only
    config = default_config("cnn_gru", embed_dim=32, params={"width": 32, "hidden": 64})
    rates = {m: spec["rate"] for m, spec in config["towers"].items()}
    data = paired_windows(_entries(utd_dir, ("1", "3")), WindowSpec(**config["window"]), rates, progress=False)
    assert set(data.subjects) == {"1", "3"} and len(data) == 64
    model, history = train_paired(config, data, TrainSettings(epochs=40, batch=32, lr=2e-3, seed=0), progress=False)
    assert history[-1] < history[0] - 1.0  # it learned something
    checkpoint.save(model, root / "ckpt")
    summary = build_path(root / "index", _entries(utd_dir, ("2",)), load_checkpoint(root / "ckpt"), progress=False)
    assert summary.read == 32 and summary.skipped == []
    return root / "index"


def test_held_out_imu_clip_finds_its_own_skeleton(utd_dir, trained_index):
    ix = open_index(trained_index)
    query = utd_dir / "inertial" / f"{QUERY}_inertial.mat"
    hits = ix.search_file(query, "imu", "pose", k=10)
    assert hits.height == 10 and set(hits["modality"].to_list()) == {"pose"}
    assert f"utd-mhad/{QUERY}" in hits["recording_id"].to_list()

    # Over every held-out clip, well above the ~0.3 an untrained encoder gets.
    clips = _entries(utd_dir, ("2",))
    found = [e.id in ix.search_file(e.sources[0], "imu", "pose", k=10)["recording_id"].to_list() for e in clips]
    print(f"\nUTD-MHAD subject 2, IMU -> own skeleton recording: R@10 = {sum(found)}/{len(found)}")
    assert sum(found) / len(found) >= 0.6, f"R@10 = {sum(found)}/{len(found)}"


def test_query_cli_prints_the_ranked_table(utd_dir, trained_index):
    query = utd_dir / "inertial" / f"{QUERY}_inertial.mat"
    proc = subprocess.run(
        [sys.executable, "-m", "query", "imu", str(query), "--target", "pose", "-k", "10",
         "--index", str(trained_index), "--where", "subject = 2"],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if "rank" in line)
    assert re.findall(r"\w+", header) == ["rank", "score", "match", "recording_id", "body_part", "label", "t_start",
                                          "t_end"]
    # polars draws cells as "│ 1    ┆ 0.93 ┆ ... │"
    rows = [re.split(r"\s*[│┆|]\s*", line.strip(" │|")) for line in lines if re.match(r"^\s*│\s*\d+\s*┆", line)]
    assert [int(r[0]) for r in rows] == list(range(1, 11))
    scores = [float(r[1]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    matches = [float(r[2]) for r in rows]  # a checkpoint without calibration: the built-in fallback
    assert matches == sorted(matches, reverse=True) and all(0.0 <= m <= 1.0 for m in matches)
    assert all(r[3].startswith("utd-mhad/a") and "_s2_" in r[3] for r in rows)
    assert f"utd-mhad/{QUERY}" in [r[3] for r in rows]
