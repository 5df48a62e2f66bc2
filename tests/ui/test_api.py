"""The web UI's named API endpoints (gradio_client) and the same JSON through `python -m query
serve` (FastAPI), against the app launched on a small index."""
from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import UTD

pytest_plugins = ["ui_harness"]

HIT_KEYS = {"rank", "score", "match", "recording_id", "label", "t_start", "t_end", "body_part"}


@pytest.fixture(scope="module")
def client(ui_server):
    from gradio_client import Client

    return Client(ui_server[1], verbose=False)


@pytest.fixture(scope="module")
def index(ui_server):
    return ui_server[0].motionsearch_context.index


def search_file(client, path, kind="imu", target="pose", k=5, filter="", rate=50, placement="right_wrist",
                start=0, end=0):
    from gradio_client import handle_file

    upload = handle_file(str(path)) if path else None
    return client.predict(upload, kind, target, k, filter, rate, placement, start, end, api_name="/search_file")


def app_error(fn, *args, **kw) -> str:
    """The one-line message of a refused request."""
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as err:
        fn(*args, **kw)
    text = str(err.value)
    assert "Traceback" not in text and "\n" not in text.strip(), text
    return text


def test_named_endpoints_are_listed(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/search", "/search_file", "/recording", "/sync", "/browse"} <= set(named)


def test_search_returns_the_documented_json(client, ui_server, index):
    features = ui_server[0].motionsearch_context.features
    if "text" not in features.query_kinds:
        assert "Text search is not available" in app_error(client.predict, "a person walking", "imu", 10, "",
                                                           api_name="/search")
        return
    answer = client.predict("a person walking", "imu", 10, "", api_name="/search")
    hits = answer["hits"]
    assert len(hits) == 10 and all(HIT_KEYS <= set(h) for h in hits)
    assert [h["rank"] for h in hits] == list(range(1, 11))
    direct = index.search_text("a person walking", "imu", 10)
    assert [h["window_id"] for h in hits] == direct["window_id"].to_list()
    assert [h["score"] for h in hits] == pytest.approx(direct["score"].to_list())
    filtered = client.predict("a person walking", "imu", 10, "subject = '2'", api_name="/search")["hits"]
    assert filtered and all(h["subject"] == "2" for h in filtered)
    assert "describe the motion" in app_error(client.predict, "  ", "imu", 10, "", api_name="/search")
    assert "invalid filter" in app_error(client.predict, "walking", "imu", 10, "no_such_column = 1",
                                         api_name="/search")


def test_search_file_returns_the_query_apis_rows(client, index, query_files):
    hits = search_file(client, query_files["imu_npy"], k=5)["hits"]
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5] and all(h["modality"] == "pose" for h in hits)
    direct = index.search_file(query_files["imu_npy"], "imu", "pose", 5, rate=50)
    assert [h["window_id"] for h in hits] == direct["window_id"].to_list()
    hits = search_file(client, query_files["imu_csv"], target="imu", k=10, filter="subject = '2' AND dataset = 'demo'")
    assert hits["hits"] and all(h["subject"] == "2" and h["dataset"] == "demo" for h in hits["hits"])


def test_search_by_uploaded_video_with_a_time_range(client, ui_server, index):
    if not (UTD / "depth-video").is_dir():
        pytest.skip(f"UTD-MHAD data not found at {UTD}")
    assert "video" in ui_server[0].motionsearch_context.features.query_kinds
    mp4 = UTD / "depth-video" / "a5_s4_t2_depth.mp4"
    hits = search_file(client, mp4, kind="video", target="imu", start=0.5, end=2.0, rate=0)["hits"]
    direct = index.search_file(mp4, "video", "imu", 5, start=0.5, end=2.0)
    assert hits and [h["window_id"] for h in hits] == direct["window_id"].to_list()
    assert "empty interval" in app_error(search_file, client, mp4, kind="video", target="imu", start=30, rate=0)


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
    text = app_error(search_file, client, path)
    assert reason in text and name in text and str(tmp_path) not in text, text


def test_missing_input_and_rate_are_explained(client, query_files):
    assert "upload an IMU file first" in app_error(search_file, client, None)
    assert "sample rate" in app_error(search_file, client, query_files["imu_npy"], rate=0)
    assert "must be after start" in app_error(search_file, client, query_files["imu_npy"], start=3, end=2)


def test_uploads_above_the_limit_are_refused(client, ui_server, tmp_path):
    from ui_harness import MAX_UPLOAD_MB

    big = tmp_path / "big.npy"
    np.save(big, np.zeros((int(MAX_UPLOAD_MB * 1e6 / 48) + 1000, 6)))
    assert big.stat().st_size > MAX_UPLOAD_MB * 1e6
    # The page announces the limit, so the client (like the browser) refuses before sending...
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        search_file(client, big)
    # ...and the server refuses a sender that ignores it.
    with open(big, "rb") as f:
        r = httpx.post(f"{ui_server[1]}gradio_api/upload", files={"files": ("big.npy", f)})
    assert r.status_code == 413, r.text


def test_browse_sorts_ids_naturally_and_filters(client, index):
    ids = [r["id"] for r in client.predict("", api_name="/browse")["recordings"]]
    assert sorted(ids) == sorted(index.recordings()["id"].to_list())
    from ui.views import natural_key

    assert ids == sorted(ids, key=natural_key)
    assert natural_key("utd-mhad/a2_s1_t1") < natural_key("utd-mhad/a10_s1_t1")
    some = client.predict("_S1_", api_name="/browse")["recordings"]
    assert some and all("_s1_" in r["id"] for r in some) and len(some) < len(ids)


def test_recording_endpoint(client):
    rec = client.predict("demo/squat_s2_t1", api_name="/recording")
    assert rec["id"] == "demo/squat_s2_t1" and rec["label"] == "squat" and rec["duration"] == pytest.approx(8.0)
    assert rec["imu"][0]["channels"][:3] == ["acc_x", "acc_y", "acc_z"] and rec["pose"]["dims"] == 3
    assert rec["windows"] and all(0 <= w["t_start"] < w["t_end"] <= 8.0 + 1e-6 for w in rec["windows"])
    assert all("/" not in s for s in rec["sources"])  # names only, never server paths
    assert "no recording" in app_error(client.predict, "demo/no-such-recording", api_name="/recording")


def test_recording_view_has_skeleton_imu_and_video(ui_server):
    """The page's recording view: one plotly figure (3-D skeleton, IMU panels, one slider) and the video."""
    from ui.views import recording_view

    ctx = ui_server[0].motionsearch_context
    view = recording_view(ctx, "demo/squat_s2_t1", (2.0, 7.0))
    fig = view.figure
    assert [t.type for t in fig.data].count("scatter3d") == 1 and view.video is None
    steps = fig.layout.sliders[0].steps
    assert len(steps) > 20 and steps[0].method == "restyle"
    moved = steps[-1].args[1]  # the skeleton and one playhead per IMU panel
    assert fig.data[moved[0]].type == "scatter3d" and len(moved) == 3
    assert float(steps[-1].args[0]["x"][1][0]) == pytest.approx(8.0)
    if (UTD / "depth-video").is_dir():
        import av

        view = recording_view(ctx, "utd-mhad/a1_s2_t1")
        with av.open(str(view.video)) as clip:
            stream = clip.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert sum(1 for _ in clip.decode(stream)) > 40  # the whole 2.8 s clip at about 20 fps


def test_only_the_apps_own_files_are_served(ui_server, ui_index):
    app, url = ui_server
    refused = [Path("/etc/passwd"), next(p for p in ui_index.rglob("*") if p.is_file()), Path(__file__)]
    if (UTD / "depth-video").is_dir():
        refused.append(UTD / "depth-video" / "a1_s2_t1_depth.mp4")
    for path in refused:
        r = httpx.get(f"{url}gradio_api/file={path}")
        assert r.status_code in (403, 404), (path, r.status_code)
    render = next(app.motionsearch_context.media.renders.glob("*.mp4"), None)
    if render is not None:  # a render of this app is served (the recording view made one)
        assert httpx.get(f"{url}gradio_api/file={render}").status_code == 200


def test_concurrent_searches_are_all_answered(ui_server, query_files):
    """Four searches in flight at once, from four callers (one client each: a gradio_client
    shared by threads was seen to cancel a finished job of its own in a race of its SSE
    reader, which says nothing of the server)."""
    from gradio_client import Client, handle_file

    def one(k):
        args = (handle_file(str(query_files["imu_npy"])), "imu", "pose", k, "", 50, "right_wrist", 0, 0)
        return Client(ui_server[1], verbose=False).submit(*args, api_name="/search_file").result(timeout=120)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, [2, 3, 4, 5]))
    assert [len(r["hits"]) for r in results] == [2, 3, 4, 5]


def _page_component(url: str, elem_id: str) -> dict:
    config = httpx.get(f"{url}config").json()
    return next(c["props"] for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id)


def test_the_page_offers_what_the_index_can_do(ui_server):
    features = ui_server[0].motionsearch_context.features
    offered = [value for _, value in _page_component(ui_server[1], "kind")["choices"]]
    assert offered == features.query_kinds
    if "text" not in features.query_kinds:
        note = _page_component(ui_server[1], "unavailable")["value"]
        assert features.unavailable["text"] in note and "Text search is not available" in note
    # words find a sensor and a skeleton together where the index holds both, and do by default
    target, kind = _page_component(ui_server[1], "target"), _page_component(ui_server[1], "kind")["value"]
    choices = [value for _, value in target["choices"]]
    joined = kind == "text" and {"imu", "pose"} <= set(features.targets)
    assert choices == features.targets + (["imu+pose"] if joined else [])
    assert target["value"] == ("imu+pose" if joined else "imu" if kind == "text" else target["value"])


def _sync(client, imu, imu_rate, other, other_rate, max_offset=3):
    from gradio_client import handle_file

    return client.predict(handle_file(str(imu)), imu_rate, "right_wrist", handle_file(str(other)), other_rate,
                          max_offset, api_name="/sync")


def test_sync_reports_the_query_apis_offset(client, ui_server, index, query_files):
    if not ui_server[0].motionsearch_context.features.sync:
        pytest.skip(ui_server[0].motionsearch_context.features.unavailable["sync"])
    import query
    from query.serve import sync_pair

    answer = _sync(client, query_files["imu_npy"], 50, query_files["pose_npy"], 30)
    assert {"offset", "confidence", "reliable", "matches", "method", "notes"} <= set(answer)
    expected = sync_pair(index, query.read_imu(query_files["imu_npy"], 50), query.read_pose(query_files["pose_npy"], 30),
                         3)
    assert answer["offset"] == pytest.approx(expected.offset) and answer["method"] == expected.method
    from gradio_client import handle_file

    assert "upload a video or pose file" in app_error(
        client.predict, handle_file(str(query_files["imu_npy"])), 50, "right_wrist", None, 30, 3, api_name="/sync")


def test_sync_of_clips_shorter_than_a_window(client, ui_server, tmp_path):
    """UTD-MHAD clips (2-4 s) are shorter than the 5 s window: sync answers, and says how."""
    if not ui_server[0].motionsearch_context.features.sync:
        pytest.skip(ui_server[0].motionsearch_context.features.unavailable["sync"])
    from indexer.importers.demo import make_recording

    rec = make_recording("boxing", "3", "1")
    imu, pose = rec.imu[0], rec.pose
    shift = 0.6  # 3 s of each; the pose clip starts 0.6 s into the take, the IMU clip at its start
    np.save(tmp_path / "imu.npy", imu.data[: int(3 * imu.rate)])
    np.save(tmp_path / "pose.npy", pose.data[int(shift * pose.rate): int((shift + 3) * pose.rate)])
    answer = _sync(client, tmp_path / "imu.npy", imu.rate, tmp_path / "pose.npy", pose.rate, max_offset=2)
    assert abs(answer["offset"]) <= 2.0 and answer["notes"], answer
    assert any("shorter than" in n for n in answer["notes"]), answer["notes"]
    if (UTD / "skeleton").is_dir():  # a real UTD-MHAD pair (2.8 s), rates read from the files
        answer = _sync(client, UTD / "inertial" / "a1_s2_t1_inertial.mat", 0, UTD / "skeleton" / "a1_s2_t1_skeleton.mat",
                       0, max_offset=2)
        assert abs(answer["offset"]) <= 2.0 and any("shorter than" in n for n in answer["notes"]), answer


def test_query_serve_answers_with_the_same_json(index, query_files):
    """`python -m query serve`: POST /search, GET /recording/{id}, POST /sync."""
    from fastapi.testclient import TestClient

    from query.serve import create_app, search_json

    http = TestClient(create_app(index))
    try:
        direct = search_json(index, "a person walking", "imu", 5)
    except LookupError:
        direct = None  # no text tower: the server must say so in one line
    r = http.post("/search", json={"query": "a person walking", "target": "imu", "k": 5, "filter": ""})
    if direct is None:
        assert r.status_code == 400 and "error" in r.json()
    else:
        got = r.json()
        assert r.status_code == 200 and HIT_KEYS <= set(got["hits"][0])
        # pytest.approx compares flat collections only (pytest >= 9.2 refuses nested dicts): scores
        # approximately, everything else exactly
        assert [h["score"] for h in got["hits"]] == pytest.approx([h["score"] for h in direct["hits"]])
        strip = lambda d: {**d, "hits": [{k: v for k, v in h.items() if k != "score"} for h in d["hits"]]}  # noqa: E731
        assert strip(got) == strip(direct)
    assert http.post("/search", json={"query": " ", "target": "imu"}).status_code == 400
    rec = http.get("/recording/demo/squat_s2_t1").json()
    assert rec["id"] == "demo/squat_s2_t1" and rec["windows"]
    assert http.get("/recording/demo/nope").status_code == 400
    from indexer.importers.demo import make_recording

    take = make_recording("squat", "3", "1")
    body = {"imu": {"data": take.imu[0].data.tolist(), "rate": take.imu[0].rate},
            "pose": {"data": take.pose.canonical().tolist(), "rate": take.pose.rate}, "max_offset": 3}
    r = http.post("/sync", json=body)
    assert r.status_code == 200 and {"offset", "confidence", "reliable"} <= set(r.json()), r.text
