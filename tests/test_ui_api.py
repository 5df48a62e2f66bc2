"""The web UI through its HTTP API (gradio_client), against the app launched on a small index."""
from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import UTD

pytest_plugins = ["ui_harness"]

SEARCH_DEFAULTS = {"kind": "imu", "prompt": "", "rate": 50, "start": 0, "end": 0, "placement": "right_wrist", "target": "pose",
                       "k": 5, "datasets": [], "subjects": [], "labels": [], "min_duration": 0, "max_duration": 0}


@pytest.fixture(scope="module")
def client(ui_server):
    from gradio_client import Client

    return Client(ui_server[1], verbose=False)


def search(client, upload=None, **kw):
    from gradio_client import handle_file

    args = {**SEARCH_DEFAULTS, **kw, "upload": handle_file(str(upload)) if upload else None}
    status, table = client.predict(**args, api_name="/search")
    return status, table


def value(output):
    """An output's value, whether the handler returned a plain value or a component update."""
    return output.get("value") if isinstance(output, dict) and output.get("__type__") == "update" else output


def rows(table) -> list[dict]:
    return [dict(zip(table["headers"], r)) for r in table["data"]]


def test_search_by_uploaded_imu_file_returns_the_query_apis_rows(client, ui_server, query_files):
    from query.api import open_index

    status, table = search(client, query_files["imu_npy"], k=5)
    hits = rows(table)
    assert "5 pose windows" in status
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert all(h["modality"] == "pose" for h in hits)
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    # The page shows what the query API answers for the same file, not something of its own.
    direct = open_index(ui_server[0].motionsearch_context.index.store.uri).search_file(
        query_files["imu_npy"], "imu", "pose", 5, rate=50)
    assert [h["window_id"] for h in hits] == [int(w) for w in direct["window_id"]]


def test_search_by_uploaded_video_with_a_time_range(client, ui_server):
    if not (UTD / "depth-video").is_dir():
        pytest.skip(f"UTD-MHAD data not found at {UTD}")
    features = ui_server[0].motionsearch_context.features
    assert "video" in features.query_kinds, features.unavailable.get("video")
    mp4 = UTD / "depth-video" / "a5_s4_t2_depth.mp4"
    status, table = search(client, mp4, kind="video", target="imu", start=0.5, end=2.0, rate=0)
    hits = rows(table)
    assert hits and all(h["modality"] == "imu" for h in hits), status
    direct = ui_server[0].motionsearch_context.index.search_file(mp4, "video", "imu", 5, start=0.5, end=2.0)
    assert [h["window_id"] for h in hits] == [int(w) for w in direct["window_id"]]
    status, table = search(client, mp4, kind="video", target="imu", start=30, end=0, rate=0)
    assert "empty interval" in status and table["data"] == []


def test_csv_upload_and_filters(client, query_files):
    status, table = search(client, query_files["imu_csv"], k=10, subjects=["2"], datasets=["demo"])
    hits = rows(table)
    assert hits and all(h["subject"] == "2" and h["dataset"] == "demo" for h in hits), status
    status, table = search(client, query_files["imu_csv"], k=10, labels=["waving"], target="imu")
    assert rows(table) and {h["label"] for h in rows(table)} == {"waving"}
    # Demo takes last 8 s; a 4 s ceiling leaves only the shorter real clips (or nothing).
    status, table = search(client, query_files["imu_csv"], k=10, max_duration=4)
    assert all(not h["recording_id"].startswith("demo/") for h in rows(table)), status


@pytest.mark.parametrize("name, content, reason", [
    ("empty.csv", b"", "file is empty"),
    ("nan.csv", b"acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n" + b"1,2,3,4,5,6\n" * 20 + b"nan,2,3,4,5,6\n",
     "NaN"),
    ("clip.txt", b"1,2,3\n", "cannot be read as an IMU file"),
    ("junk.npy", b"this is not an array", "not a readable .npy array"),
])
def test_bad_uploads_get_a_readable_message(client, tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    status, table = search(client, path)
    assert reason in status and name in status, status
    assert "Traceback" not in status and str(tmp_path) not in status
    assert table["data"] == []


def test_missing_input_and_rate_are_explained(client, query_files):
    status, _ = search(client, None)
    assert "upload an IMU file first" in status
    status, _ = search(client, query_files["imu_npy"], rate=0)
    assert "sample rate" in status and "Traceback" not in status
    status, _ = search(client, query_files["imu_npy"], start=3, end=2)
    assert "must be after start" in status


def test_uploads_above_the_limit_are_refused(client, ui_server, tmp_path):
    from ui_harness import MAX_UPLOAD_MB

    big = tmp_path / "big.npy"
    np.save(big, np.zeros((int(MAX_UPLOAD_MB * 1e6 / 48) + 1000, 6)))
    assert big.stat().st_size > MAX_UPLOAD_MB * 1e6
    # The page announces the limit, so the client (like the browser) refuses before sending...
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        search(client, big)
    # ...and the server refuses a sender that ignores it.
    with open(big, "rb") as f:
        r = httpx.post(f"{ui_server[1]}gradio_api/upload", files={"files": ("big.npy", f)})
    assert r.status_code == 413, r.text
    small = tmp_path / "small.npy"
    np.save(small, np.zeros((100, 6)))
    with open(small, "rb") as f:
        assert httpx.post(f"{ui_server[1]}gradio_api/upload", files={"files": ("small.npy", f)}).status_code == 200


def test_browse_lists_the_recordings(client, ui_server):
    index = ui_server[0].motionsearch_context.index
    table, status = client.predict([], [], [], 0, 0, api_name="/browse")
    ids = [r["id"] for r in rows(table)]
    assert sorted(ids) == sorted(index.recordings()["id"].to_list())
    assert f"{len(ids)} recordings" in status
    table, _ = client.predict(["demo"], ["1"], [], 0, 0, api_name="/browse")
    assert rows(table) and all(r["dataset"] == "demo" and r["subject"] == "1" for r in rows(table))
    _, status = client.predict([], [], [], 5, 2, api_name="/browse")
    assert "above the maximum" in status


def test_recording_view_shows_the_whole_recording(client):
    header, imu, skeleton, video, _note = map(value, client.predict("demo/squat_s2_t1", api_name="/recording"))
    assert "demo/squat_s2_t1" in header and "squat" in header
    assert imu and imu["type"] == "matplotlib" and imu["plot"].startswith("data:image/")
    assert skeleton and Path(skeleton).read_bytes()[:6] in (b"GIF89a", b"GIF87a")
    assert video is None  # the demo has no video
    header, *_ = client.predict("demo/no-such-recording", api_name="/recording")
    assert "no recording" in header and "Traceback" not in header


def test_recording_with_video_gets_a_playable_clip(client):
    if not (UTD / "depth-video").is_dir():
        pytest.skip(f"UTD-MHAD data not found at {UTD}")
    import av

    _header, _imu, _skeleton, video, note = map(value, client.predict("utd-mhad/a1_s2_t1", api_name="/recording"))
    assert video, note
    path = video["video"] if isinstance(video, dict) else video
    with av.open(path) as clip:
        stream = clip.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in clip.decode(stream))
    assert frames > 40  # the whole 2.8 s clip at about 20 fps


def test_only_the_apps_own_files_are_served(ui_server, ui_index):
    app, url = ui_server
    refused = [Path("/etc/passwd"), next(p for p in ui_index.rglob("*") if p.is_file()), Path(__file__)]
    if (UTD / "depth-video").is_dir():
        refused.append(UTD / "depth-video" / "a1_s2_t1_depth.mp4")
    for path in refused:
        r = httpx.get(f"{url}gradio_api/file={path}")
        assert r.status_code in (403, 404), (path, r.status_code)
    render = next(app.motionsearch_context.media.renders.glob("*.gif"), None)
    if render is not None:  # a render of this app is served (the other tests made some)
        assert httpx.get(f"{url}gradio_api/file={render}").status_code == 200


def test_concurrent_searches_are_all_answered(client, query_files):
    from gradio_client import handle_file

    def one(k):
        args = {**SEARCH_DEFAULTS, "k": k, "upload": handle_file(str(query_files["imu_npy"]))}
        return client.submit(**args, api_name="/search").result(timeout=120)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, [2, 3, 4, 5]))
    assert [len(table["data"]) for _, table in results] == [2, 3, 4, 5]


def _page_component(url: str, elem_id: str) -> dict:
    config = httpx.get(f"{url}config").json()
    return next(c["props"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)


def test_text_search_works_or_the_page_says_why_not(client, ui_server):
    features = ui_server[0].motionsearch_context.features
    offered = [value for _, value in _page_component(ui_server[1], "kind")["choices"]]
    assert offered == features.query_kinds
    if "text" in features.query_kinds:
        status, table = client.predict(**{**SEARCH_DEFAULTS, "kind": "text", "prompt": "a person waves",
                                          "upload": None, "target": "imu"}, api_name="/search")
        assert rows(table) and "found" in status, status
    else:
        # Not offered, and the page names the real reason (the API lacks text search, or the
        # index has no text tower).
        note = _page_component(ui_server[1], "unavailable")["value"]
        assert features.unavailable["text"] in note and "Text search is not available" in note


def test_sync_reports_the_query_apis_offset(client, ui_server, query_files):
    features = ui_server[0].motionsearch_context.features
    if not features.sync:
        pytest.skip(features.unavailable["sync"])
    from gradio_client import handle_file

    import query

    status, votes, _overlay = client.predict(handle_file(str(query_files["imu_npy"])), 50, "right_wrist",
                                            handle_file(str(query_files["pose_npy"])), 30, 3, api_name="/sync")
    assert "Offset" in status and value(votes)["type"] == "matplotlib", status
    index = ui_server[0].motionsearch_context.index
    imu = query.read_imu(query_files["imu_npy"], 50)
    pose = query.read_pose(query_files["pose_npy"], 30)
    try:
        expected = index.sync(imu, pose, max_offset=3)
    except LookupError:  # no token encoder in this index: the page uses the clip-level one
        expected = query.sync(imu, pose, index.encoder(modality="imu"), max_offset=3)
    assert f"{expected.offset:+.2f} s" in status
    status, *_ = client.predict(handle_file(str(query_files["imu_npy"])), 50, "right_wrist", None, 30, 3,
                                api_name="/sync")
    assert "upload a video or pose file" in status
