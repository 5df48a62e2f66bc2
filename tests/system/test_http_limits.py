"""Both HTTP APIs under abuse: body and prompt limits, the error shape of every refusal (FastAPI's
validation errors included), the bearer token, no server paths in any answer, one log line per
refused call, and a warning when a server listens beyond 127.0.0.1 without a token.

`python -m query serve` is exercised through TestClient and, where the socket matters (a body
that is never sent, a chunked one), through uvicorn on 127.0.0.1 in a thread; the page's API
through the launched Gradio app of ui_harness (and one more launched with a token).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from query import open_index  # noqa: E402
from query.http_guard import Guard, HttpLimits, strip_paths, warn_if_open  # noqa: E402
from query.serve import UPLOAD_PATHS, create_app  # noqa: E402

pytest_plugins = ["ui_harness"]

SMALL = HttpLimits(max_body=20_000, max_upload=200_000, upload_paths=UPLOAD_PATHS, max_prompt_chars=50)


@pytest.fixture(scope="module")
def ix(demo_index_dir):  # noqa: F811
    return open_index(demo_index_dir)


@pytest.fixture(scope="module")
def client(ix):
    return TestClient(create_app(ix, SMALL), raise_server_exceptions=False)


def refusal(r, status: int) -> str:
    """The one-line error of a refused call, checking the documented shape."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str), body
    assert body["error"] and "\n" not in body["error"] and "Traceback" not in body["error"], body
    return body["error"]


def imu_json(seconds: float, rate: float = 50.0) -> list:
    t = np.arange(0, seconds, 1 / rate)[:, None]
    return np.hstack([np.sin(2 * np.pi * t), 0 * t, 9.81 + 0 * t, np.zeros((len(t), 3))]).round(4).tolist()


# ----------------------------------------------------------------------------- query serve: limits
def test_a_json_body_over_the_limit_is_413_naming_the_limit(client):
    r = client.post("/search/text", json={"prompt": "waving " * 4000, "target": "imu"})
    text = refusal(r, 413)
    assert "0.02 MB" in text and "--max-body-mb" in text


def test_routes_that_carry_samples_take_the_larger_upload_limit(client):
    body = {"data": imu_json(15.0), "rate": 50, "target": "imu", "k": 3}
    assert 20_000 < len(json.dumps(body)) < 200_000
    assert client.post("/search/imu", json=body).status_code == 200
    big = {**body, "data": imu_json(150.0)}
    assert len(json.dumps(big)) > 200_000
    assert "--max-upload-mb" in refusal(client.post("/search/imu", json=big), 413)


def test_a_prompt_over_the_limit_is_400(client):
    assert "limit is 50" in refusal(client.post("/search/text", json={"prompt": "w" * 51, "target": "imu"}), 400)
    assert client.post("/search/text", json={"prompt": "w" * 50, "target": "imu"}).status_code == 200
    assert "limit is 50" in refusal(client.post("/search", json={"query": "w" * 51}), 400)


def test_a_filter_is_held_to_20000_characters(ix, ui_server):
    client = TestClient(create_app(ix))  # the default limits: 1 MB bodies
    long = "subject IN (" + ",".join(f"'{i}'" for i in range(3200)) + ")"
    assert len(long) > 20_000
    r = client.post("/search/text", json={"prompt": "waving", "where": long})
    assert "where: string should have at most 20000 characters" in refusal(r, 400)
    r = client.post("/search/text", json={"prompt": "waving", "where": "(" * 9000 + "subject = 2" + ")" * 9000})
    assert "nested too deeply" in refusal(r, 400)  # not a 500
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="the filter is 20,002 characters"):
        Client(ui_server[1], verbose=False).predict("waving", "imu", 3, "x" * 20_002, api_name="/search")


def test_the_defaults_are_1_mb_and_1000_characters(ix):
    plain = TestClient(create_app(ix))
    r = plain.post("/search/text", json={"prompt": "w" * 1001, "target": "imu"})
    assert "1,001 characters; the limit is 1,000" in refusal(r, 400)
    r = plain.post("/search/text", content=b"x" * 1_000_001, headers={"content-type": "application/json"})
    assert "1 MB" in refusal(r, 413)
    # a clip as JSON may be larger: up to 10 MB
    r = plain.post("/search/imu", content=b"x" * 2_000_000, headers={"content-type": "application/json"})
    assert "not valid JSON" in refusal(r, 400)


# ----------------------------------------------------------------------------- the Guard itself
def _call(app, headers: list[tuple[bytes, bytes]], chunks):
    """Run ASGI `app` on one POST whose body arrives as `chunks`; (status, body, chunks read)."""
    sent, read = [], []
    source = iter(chunks)

    async def receive():
        chunk = next(source, None)
        read.append(chunk)
        if chunk is None:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/search/text", "headers": headers, "query_string": b""}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")), read


async def _never_called(scope, receive, send):
    raise AssertionError("the route ran")


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body():
    guard = Guard(_never_called, HttpLimits(max_body=1000))

    def endless():
        raise AssertionError("the body was read")
        yield b""

    status, body, read = _call(guard, [(b"content-length", b"1000000000")], endless())
    assert status == 413 and "larger than" in body["error"] and read == []


def test_a_chunked_body_is_counted_and_refused_once_past_the_limit():
    guard = Guard(_never_called, HttpLimits(max_body=1000))
    forever = (b"x" * 300 for _ in range(10 ** 6))
    status, body, read = _call(guard, [(b"transfer-encoding", b"chunked")], forever)
    assert status == 413 and len(read) == 4  # 1,200 bytes read of a body that never ends


# ----------------------------------------------------------------------------- error shape
@pytest.mark.parametrize("method, route, body, reason", [
    ("post", "/search/text", {"target": "imu"}, "prompt: field required"),
    ("post", "/search/text", {"prompt": "waving", "k": 0}, "k: input should be greater than or equal to 1"),
    ("post", "/search/text", {"prompt": "waving", "k": 10_001}, "k: input should be less than or equal to 10000"),
    ("post", "/search/text", {"prompt": "waving", "k": "ten"}, "k: input should be a valid integer"),
    ("post", "/search/imu", {"data": [[1, 2, 3]], "target": "imu"}, "rate: field required"),
    ("post", "/search/sensors", {"sensors": []}, "sensors: list should have at least 1 item"),
    ("post", "/sync", {"imu": {"data": [[0] * 6], "rate": 50}}, "pose: field required"),
    ("post", "/search/text", b"{oops", "not valid JSON"),
    ("post", "/search/text", None, "needs a JSON body"),
    ("get", "/no/such/route", None, "no route GET /no/such/route"),
    ("get", "/search/text", None, "GET is not allowed on /search/text"),
    ("get", "/recording/demo/nope", None, "no recording 'demo/nope'"),
])
def test_every_refusal_is_a_4xx_with_one_error_line(client, method, route, body, reason):
    if isinstance(body, bytes):
        r = client.post(route, content=body, headers={"content-type": "application/json"})
    else:
        r = getattr(client, method)(route, **({"json": body} if body is not None else {}))
    assert 400 <= r.status_code < 500
    assert reason in refusal(r, r.status_code)


def test_each_refused_call_is_one_log_line_without_a_traceback(client, caplog):
    with caplog.at_level(logging.WARNING):
        client.post("/search/text", json={"prompt": "waving", "k": 0})
        client.post("/search/text", json={"prompt": "waving " * 4000})
        client.get("/recording/demo/nope")
        client.post("/search/text", json={"prompt": "waving", "target": "imu"})  # answered: no line
    lines = [r for r in caplog.records if r.name.startswith(("query", "uvicorn", "fastapi"))]
    assert [r.getMessage().split(":")[0] for r in lines] == [
        "refused POST /search/text", "refused POST /search/text", "refused GET /recording/demo/nope"]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in lines)


# ----------------------------------------------------------------------------- the token
def test_with_a_token_every_route_needs_it(ix):
    guarded = TestClient(create_app(ix, HttpLimits(token="s3cret-token")))
    for route in ("/health", "/recordings", "/docs", "/openapi.json", "/no/such/route"):
        assert "Bearer" in refusal(guarded.get(route), 401)
        assert guarded.get(route).headers["www-authenticate"] == "Bearer"
        refusal(guarded.get(route, headers={"Authorization": "Bearer wrong"}), 401)
    refusal(guarded.post("/search/text", json={"prompt": "waving"}), 401)
    auth = {"Authorization": "Bearer s3cret-token"}
    assert guarded.get("/health", headers=auth).status_code == 200
    assert guarded.post("/search/text", json={"prompt": "waving", "k": 2}, headers=auth).status_code == 200
    # a browser opens /docs?token=... once; the cookie it gets carries the token afterwards
    browser = TestClient(create_app(ix, HttpLimits(token="s3cret-token")))
    first = browser.get("/docs", params={"token": "s3cret-token"})
    assert first.status_code == 200 and "HttpOnly" in first.headers["set-cookie"]
    assert browser.get("/openapi.json").status_code == 200


def test_a_token_with_characters_a_header_cannot_carry_is_refused(ix):
    from query.cli import main

    assert main(["serve", "--index", ".", "--token", "has space;"]) == 2


def test_listening_beyond_localhost_without_a_token_warns(demo_index_dir, monkeypatch, capsys):  # noqa: F811
    uvicorn = pytest.importorskip("uvicorn")
    from query.cli import main

    assert warn_if_open("127.0.0.1", None) is None and warn_if_open("0.0.0.0", "t") is None
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))  # listens nowhere
    monkeypatch.delenv("MOTIONSEARCH_TOKEN", raising=False)
    assert main(["serve", "--index", str(demo_index_dir), "--host", "0.0.0.0"]) == 0
    assert "without a token" in capsys.readouterr().err and calls[0]["host"] == "0.0.0.0"
    monkeypatch.setenv("MOTIONSEARCH_TOKEN", "from-the-environment")
    assert main(["serve", "--index", str(demo_index_dir), "--host", "0.0.0.0"]) == 0
    assert "without a token" not in capsys.readouterr().err


def test_limits_come_from_options_or_the_environment(monkeypatch, capsys):
    from query.cli import build_parser

    monkeypatch.setenv("MOTIONSEARCH_MAX_PROMPT_CHARS", "200")
    monkeypatch.setenv("MOTIONSEARCH_MAX_BODY_MB", "0.5")
    args = build_parser().parse_args(["serve"])
    assert (args.max_prompt_chars, args.max_body_mb, args.max_upload_mb) == (200, 0.5, 10.0)
    assert build_parser().parse_args(["serve", "--max-prompt-chars", "30"]).max_prompt_chars == 30
    monkeypatch.setenv("MOTIONSEARCH_MAX_BODY_MB", "lots")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve"])
    assert "--max-body-mb" in capsys.readouterr().err


# ----------------------------------------------------------------------------- no server paths
def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_no_answer_names_a_server_path(ix, client, demo_index_dir, tmp_path):  # noqa: F811
    answers = [client.get("/health").json(), client.get("/recordings").json(),
               client.post("/search/text", json={"prompt": "waving", "k": 3}).json(),
               client.get("/recording/demo/waving_s2_t1").json(),
               client.get("/recording/demo/nope").json(), client.get("/recordings?where=colour = 1").json()]
    # recordings read from files (the demo's are generated): their sources are file names
    from encoders import load_checkpoint
    from indexer import build_path, discover
    from indexer.importers.example import write_example

    write_example(tmp_path / "archive")
    build_path(tmp_path / "files-index", discover(tmp_path / "archive"), load_checkpoint(demo_index_dir.parent / "encoder"),
               progress=False)
    files = TestClient(create_app(open_index(tmp_path / "files-index")))
    answers += [files.get("/health").json(), files.get("/recordings").json(),
                files.get("/recording/nope").json()]
    for text in _strings(answers):
        assert str(tmp_path) not in text and str(demo_index_dir) not in text and not text.startswith("/"), text
    assert answers[0]["index"] == demo_index_dir.name
    sources = [s for row in answers[-2] for s in row["sources"]]
    assert sources and all("/" not in s for s in sources)
    # unless the operator asks
    shown = TestClient(create_app(ix, show_paths=True)).get("/health").json()
    assert shown["index"] == str(demo_index_dir.resolve())


def test_paths_in_messages_are_cut_to_their_last_part():
    assert strip_paths("no recording 'x' in /srv/data/my-index") == "no recording 'x' in my-index"
    assert strip_paths("/srv/a/b.csv: acceleration of 9 m/s^2, 1/50 s") == "b.csv: acceleration of 9 m/s^2, 1/50 s"
    assert strip_paths("s3://bucket/a/b") == "s3://bucket/a/b"


# ----------------------------------------------------------------------------- over a real socket
@pytest.fixture(scope="module")
def live(ix):
    """(host, port) of the app served by uvicorn on 127.0.0.1 in a thread."""
    uvicorn = pytest.importorskip("uvicorn")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ix, SMALL), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield "127.0.0.1", port
    server.should_exit = True
    thread.join(timeout=10)


def _raw(address, head: bytes, chunks=(), pause: float = 0.0) -> tuple[bytes, float, int]:
    """Send `head`, then `chunks` one by one until the server answers: (its status line, seconds
    until the answer, chunks sent)."""
    start, sent = time.perf_counter(), 0
    with socket.create_connection(address, timeout=5) as s:
        s.sendall(head)
        for chunk in chunks:
            if select.select([s], [], [], 0)[0]:  # answered already: stop sending
                break
            s.sendall(chunk)
            sent += 1
            time.sleep(pause)
        answer = s.recv(65536)
    return answer.split(b"\r\n", 1)[0], time.perf_counter() - start, sent


def test_a_huge_declared_body_is_answered_at_once_over_http(live):
    head = (b"POST /search/text HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000000000\r\n\r\n")
    status, seconds, _ = _raw(live, head)  # not one byte of the 5 GB is sent
    assert status.startswith(b"HTTP/1.1 413") and seconds < 1.0


def test_a_chunked_body_is_refused_before_it_is_all_sent(live):
    head = b"POST /search/text HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"1000\r\n" + b"x" * 4096 + b"\r\n"
    status, seconds, sent = _raw(live, head, [chunk] * 200, pause=0.005)  # 800 kB if it were all read
    assert status.startswith(b"HTTP/1.1 413") and seconds < 1.0 and sent < 50  # the limit is 20 kB


# ----------------------------------------------------------------------------- the page's API (Gradio)
def test_the_page_refuses_a_large_body_before_reading_it(ui_server):
    import httpx

    r = httpx.post(f"{ui_server[1]}gradio_api/call/search", json={"data": ["w" * 2_000_000, "imu", 10, ""]})
    assert r.status_code == 413 and "--max-body-mb" in r.json()["error"]


def test_the_page_refuses_a_long_prompt_in_one_line(ui_server, capfd):
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    client = Client(ui_server[1], verbose=False)
    capfd.readouterr()
    with pytest.raises(AppError) as err:
        client.predict("w" * 1001, "imu", 10, "", api_name="/search")
    assert "1,001 characters" in str(err.value) and "\n" not in str(err.value).strip()
    assert "Traceback" not in capfd.readouterr().err  # one log line, no traceback


def test_the_page_with_a_token(ui_index, tmp_path, monkeypatch):
    import httpx
    from gradio_client import Client

    from ui.app import serve

    monkeypatch.setenv("GRADIO_TEMP_DIR", os.environ.get("GRADIO_TEMP_DIR", str(tmp_path)))  # serve() sets it
    app, url = serve(ui_index, port=None, block=False, workdir=tmp_path, token="page-token")
    try:
        assert httpx.get(url).status_code == 401
        assert "Bearer" in httpx.post(f"{url}gradio_api/call/search", json={"data": ["w", "imu", 3, ""]}).json()["error"]
        browser = httpx.Client()
        opened = browser.get(url, params={"token": "page-token"})
        assert opened.status_code == 200 and browser.get(f"{url}config").status_code == 200  # by the cookie
        client = Client(url, verbose=False, headers={"Authorization": "Bearer page-token"})
        answer = client.predict("", api_name="/browse")
        assert answer["recordings"]
    finally:
        app.close()
