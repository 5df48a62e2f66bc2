"""The JSON HTTP API (`python -m query serve`): searches answer like the Python API, bad requests
are HTTP 400 with one line, and the server listens on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from query import open_index  # noqa: E402
from query.serve import create_app  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def served(demo_index_dir):
    ix = open_index(demo_index_dir)
    return ix, TestClient(create_app(ix))


def test_health_lists_the_index(served):
    ix, client = served
    body = client.get("/health").json()
    assert body["encoders"] == ix.encoder_ids() and set(body["modalities"]) >= {"imu", "pose"}


def test_searches_answer_like_the_python_api(served):
    ix, client = served
    rows = client.post("/search/text", json={"prompt": "waving", "target": "imu", "k": 5, "where": "subject = 2"}).json()
    want = ix.search_text("waving", "imu", 5, "subject = 2")
    assert [r["window_id"] for r in rows] == want["window_id"].to_list() and {r["subject"] for r in rows} == {"2"}
    # no target: a sensor and a skeleton together where the index holds both, as the page and the CLI
    alone = client.post("/search/text", json={"prompt": "waving", "k": 5, "where": "subject = 2", "expand": False}).json()
    assert {r["modality"] for r in alone} == {"imu+pose"}
    assert [r["score"] for r in alone] == pytest.approx(ix.search_text("waving", "imu+pose", 5, "subject = 2",
                                                                      expand=False)["score"].to_list())
    wid = rows[0]["window_id"]
    by_window = client.post("/search/window", json={"window_id": wid, "target": "pose", "k": 3}).json()
    assert [r["window_id"] for r in by_window] == ix.search_window(wid, "pose", 3)["window_id"].to_list()
    vec = np.asarray(ix.store.windows(None, ["vector"], scope=f"id = {wid}")["vector"][0], np.float32)
    by_vector = client.post("/search/vector", json={"vector": vec.tolist(), "target": "imu", "k": 1}).json()
    assert by_vector[0]["window_id"] == wid and by_vector[0]["score"] == pytest.approx(1.0, abs=1e-5)
    assert by_vector[0]["match"] == 1.0  # a window found by its own vector: certain
    assert all(0.0 <= r["match"] <= 1.0 for r in rows + by_window)
    t = np.arange(0, 5, 1 / 50)[:, None]
    imu = np.hstack([np.sin(2 * np.pi * t), 0 * t, 9.81 + 0 * t, np.zeros((len(t), 3))])
    hits = client.post("/search/imu", json={"data": imu.tolist(), "rate": 50, "target": "pose", "k": 4}).json()
    assert len(hits) == 4 and [h["rank"] for h in hits] == [1, 2, 3, 4]
    assert client.get("/recordings", params={"where": "subject = 3"}).json()[0]["subject"] == "3"


def test_imu_arrays_carry_their_channels_and_placement(served):
    ix, client = served
    t = np.arange(0, 5, 1 / 50)[:, None]
    imu = np.hstack([np.sin(2 * np.pi * t), 0 * t, 9.81 + 0 * t, np.cos(2 * np.pi * t), 0 * t, 0 * t])
    placement = ix.store.windows("modality = 'imu'", ["body_part"])["body_part"][0]
    plain = client.post("/search/imu", json={"data": imu.tolist(), "rate": 50, "target": "imu", "k": 3,
                                             "placement": placement}).json()
    # gyroscope first, named: the same clip, so the same answer
    named = client.post("/search/imu", json={"data": imu[:, [3, 4, 5, 0, 1, 2]].tolist(), "rate": 50, "k": 3,
                                             "target": "imu", "placement": placement,
                                             "channels": ["gyr_x", "gyr_y", "gyr_z", "acc_x", "acc_y", "acc_z"]})
    assert [h["window_id"] for h in named.json()] == [h["window_id"] for h in plain]
    both = client.post("/search/sensors", json={"target": "imu", "k": 3, "sensors": [
        {"data": imu.tolist(), "rate": 50, "placement": placement}]}).json()
    assert {h["body_part"] for h in both} == {placement} and len(both) == 3
    assert both[0]["score"] == pytest.approx(plain[0]["score"], abs=1e-5)
    bad = client.post("/search/sensors", json={"target": "imu", "sensors": [
        {"data": imu.tolist(), "rate": 50, "placement": "left_foot"}]})
    assert bad.status_code == 400 and "no imu windows worn at left_foot" in bad.json()["error"]


@pytest.mark.parametrize("route, body, reason", [
    ("/search/text", {"prompt": "waving", "target": "imu", "where": "subjct = 2"}, "unknown column 'subjct'"),
    ("/search/text", {"prompt": "  ", "target": "imu"}, "empty"),
    ("/search/vector", {"vector": [0.1, 0.2], "target": "imu"}, "vector has 2 values"),
    ("/search/window", {"window_id": 10 ** 9, "target": "imu"}, "no window with id"),
    ("/search/imu", {"data": [[1, 2]], "rate": 50, "target": "pose"}, "samples x 3 or 6 channels"),
])
def test_a_bad_request_is_a_400_with_one_line(served, route, body, reason):
    _, client = served
    r = client.post(route, json=body)
    assert r.status_code == 400 and reason in r.json()["error"] and "\n" not in r.json()["error"]


def test_out_of_range_numbers_are_refused_by_the_schema(served):
    _, client = served
    r = client.post("/search/text", json={"prompt": "waving", "k": 0})
    assert r.status_code == 400 and r.json() == {"error": "k: input should be greater than or equal to 1"}


def test_the_command_serves_on_localhost(demo_index_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "query", "serve", "--index", str(demo_index_dir), "--port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    body = json.loads(r.read())
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.time() < deadline, "the server did not answer within 120 s"
                time.sleep(0.5)
        assert body["index"] == Path(demo_index_dir).name  # no server path unless --show-paths
        bad = urllib.request.Request(f"http://127.0.0.1:{port}/search/text", data=b'{"prompt": "waving", "k": 0}',
                                     headers={"content-type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(bad, timeout=10)
        assert err.value.code == 400 and "error" in json.loads(err.value.read())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log = proc.stderr.read()
    # the refused call is one line in the server's log, and no traceback
    assert [line for line in log.splitlines() if "refused" in line] == [
        "WARNING refused POST /search/text: 400 k: input should be greater than or equal to 1"], log
    assert "Traceback" not in log


def test_label_answers_like_the_python_api(served):
    ix, client = served
    body = {"labels": ["waving", "walking", "squat"], "where": "subject = 2"}
    rows = client.post("/label", json=body).json()
    want = ix.label_recordings(body["labels"], where="subject = 2")
    assert [(r["recording_id"], r["label"]) for r in rows] == list(zip(want["recording_id"], want["label"]))
    assert rows and {r["recording_id"].split("_s")[1][0] for r in rows} == {"2"}
    spread = client.post("/label", json={**body, "spread": True}).json()
    assert len(spread) == len(rows) and all(0 <= r["margin"] <= 1 for r in spread)
    even = client.post("/label", json={**body, "balance": True}).json()
    want = ix.label_recordings(body["labels"], where="subject = 2", balance=True)
    assert [r["label"] for r in even] == want["label"].to_list() and all(0 <= r["margin"] <= 1 for r in even)
    both = client.post("/label", json={**body, "modality": ["imu", "pose"]}).json()
    want = ix.label_recordings(body["labels"], ("imu", "pose"), where="subject = 2")
    assert [(r["recording_id"], r["label"]) for r in both] == list(zip(want["recording_id"], want["label"]))
    for bad, says in (({"labels": ["waving"]}, "labels"), ({"labels": ["a", "b"], "where": "subjct = 2"}, "subjct")):
        r = client.post("/label", json=bad)
        assert r.status_code == 400 and says in r.json()["error"], r.json()
