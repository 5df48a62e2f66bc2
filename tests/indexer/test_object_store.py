"""Indexes on s3://, against a local S3 server (moto's, on 127.0.0.1 at a free port): LanceDB
tables and FAISS files go to the bucket, queries read them back with the results of a local
index, and the writer lock is a lease object."""
from __future__ import annotations

import json
import os
import socket
import time

import pytest

from indexer.build import build_path
from indexer.errors import IndexLocked
from indexer.importers import discover
from indexer.store import IndexStore

moto_server = pytest.importorskip("moto.server", reason="moto is not installed (pip install 'motionsearch[scale]')")
boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install 'motionsearch[scale]')")
BUCKET = "motion"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server with one bucket, and the AWS_* environment LanceDB, pyarrow and boto3 read."""
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as env:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ALLOW_HTTP": "true"}.items():
            env.setenv(name, value)
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client
    server.stop()


def keys(client, prefix: str) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_an_index_on_s3_answers_queries_as_the_same_index_on_disk(s3, tmp_path, tiny_encoder):
    from query.api import open_index

    uri = f"s3://{BUCKET}/idx"
    remote = build_path(uri, discover(None, "demo"), tiny_encoder, progress=False, workers=0)
    local = build_path(tmp_path / "idx", discover(None, "demo"), tiny_encoder, progress=False, workers=0)
    assert remote.windows_written == local.windows_written == 384 and not remote.skipped
    stored = keys(s3, "idx/")
    assert any(k.startswith("idx/windows.lance/") for k in stored)
    assert {k.rsplit("/", 1)[-1] for k in stored if k.startswith("idx/faiss/") and not k.endswith("/")} == {
        f"{tiny_encoder.id.replace('@', '_')}.{m}.{ext}" for m in ("imu", "pose")
        for ext in ("faiss", "json", "ids", "delta.faiss")}
    assert not [k for k in stored if ".tmp-" in k or k.endswith(".writer.lock")]  # written in place; lease released

    a, b = open_index(uri), open_index(tmp_path / "idx")
    assert "rebuilt_in_memory" not in a.store.faiss(tiny_encoder.id, "imu").manifest  # the FAISS file read from S3
    assert a.encoder(modality="imu").checksum == tiny_encoder.checksum  # so is the checkpoint kept with the index
    for window in (0, 57, 200):
        for where in (None, "subject = 2"):
            hits_a = a.search_window(window, "imu", k=5, where=where)
            hits_b = b.search_window(window, "imu", k=5, where=where)
            assert hits_a.height == 5
            assert hits_a.select("recording_id", "t_start", "score").equals(hits_b.select("recording_id", "t_start", "score"))

    again = build_path(uri, discover(None, "demo"), tiny_encoder, progress=False, workers=0)
    assert (again.already_indexed, again.read) == (48, 0)  # the commit log on S3 works as on disk


def test_the_writer_lock_on_s3_is_a_lease_that_a_killed_build_gives_up(s3, tiny_encoder):
    uri = f"s3://{BUCKET}/locked"
    store = IndexStore(uri, create=True)
    with store.writer():
        (key,) = [k for k in keys(s3, "locked/") if k.endswith(".writer.lock")]
        with pytest.raises(IndexLocked, match=f"being written by pid {os.getpid()} on "):
            with IndexStore(uri).writer():
                pass
    assert not [k for k in keys(s3, "locked/") if k.endswith(".writer.lock")]  # released

    # A build killed while writing leaves its lease behind; once it has expired, the next takes over.
    stale = {"holder": "pid 1 on elsewhere since yesterday", "expires": time.time() - 1}
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(stale).encode())
    summary = build_path(uri, discover(None, "demo")[:4], tiny_encoder, progress=False, workers=0)
    assert summary.read == 4
    fresh = dict(stale, expires=time.time() + 60)
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(fresh).encode())
    with pytest.raises(IndexLocked, match="being written by pid 1 on elsewhere"):
        build_path(uri, discover(None, "demo"), tiny_encoder, progress=False, workers=0)
    assert IndexStore(uri).count("indexed") == 4  # the refused build wrote nothing
