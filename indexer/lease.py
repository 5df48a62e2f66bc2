"""The writer lock of an index on object storage (s3://): a lease object.

An object store has no file lock, so the one build allowed to write holds a small object,
`.writer.lock` at the index's root, created with a conditional PUT (`If-None-Match: *`: the
store creates it only if it does not exist, atomically). It names its holder and an expiry
TTL seconds ahead; a thread renews it every TTL/3 with `If-Match` on the ETag it last wrote,
and the holder deletes it when done. A build that was killed leaves a lease that expires:
the next build takes it over, again with `If-Match` on the expired lease's ETag, so of two
builds taking over at once only one wins. A holder whose renewal fails has lost the lease
(paused for longer than TTL and taken over); `check()` then raises before it writes anything
more. S3 has supported conditional writes since 2024 (If-None-Match in August, If-Match in
November); other S3-compatible stores must support both for this lock to hold.
"""
from __future__ import annotations

import json
import os
import socket
import threading
import time
from urllib.parse import urlparse

from indexer.errors import IndexLocked
from indexer.imports import optional

LEASE = ".writer.lock"
TTL = 60.0  # seconds a lease lasts without renewal
POLL = 2.0  # seconds between tries when waiting for another writer


class LeaseLost(RuntimeError):
    """The lease expired while held (its holder was paused) and another writer took it."""


class S3Lease:
    """The lease of the index at `uri` (s3://bucket/prefix); `acquire()` then `release()`."""

    def __init__(self, uri: str, ttl: float = TTL):
        parsed = urlparse(uri)
        self.bucket, prefix = parsed.netloc, parsed.path.strip("/")
        self.key = f"{prefix}/{LEASE}" if prefix else LEASE
        self.ttl = ttl
        self.uri = uri
        boto3 = optional("boto3", "scale", "the writer lock of an index on s3://")
        self.client = boto3.client("s3")  # endpoint, region and keys from the AWS_* environment, as LanceDB's
        self.errors = optional("botocore.exceptions", "scale").ClientError
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def _body(self) -> bytes:
        holder = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
        return json.dumps({"holder": holder, "expires": time.time() + self.ttl}).encode()

    def _code(self, exc) -> str:
        return str(exc.response.get("Error", {}).get("Code", ""))

    def _put(self, **condition) -> bool:
        try:
            self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=self._body(), **condition)["ETag"]
            return True
        except self.errors as exc:
            if self._code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                return False
            raise

    def _current(self) -> tuple[dict, str] | None:
        try:
            got = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except self.errors as exc:
            if self._code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        try:
            lease = json.loads(got["Body"].read())
        except ValueError:
            lease = {}
        return (lease if isinstance(lease, dict) else {}), got["ETag"]

    def acquire(self, wait: bool = False) -> None:
        """Take the lease, or raise LookupError naming its holder (`wait`: until it is free)."""
        while True:
            if self._put(IfNoneMatch="*"):
                break
            current = self._current()
            if current is None:
                continue  # released in between: try again at once
            lease, etag = current
            if float(lease.get("expires", 0)) < time.time() and self._put(IfMatch=etag):
                break  # a killed build's lease, taken over
            if not wait:
                raise IndexLocked(f"{self.uri}: the index is being written by {lease.get('holder', 'another process')}; "
                                  f"wait for it to finish (or stop it; its lease expires {self.ttl:.0f} s after it "
                                  "stops) and run again")
            time.sleep(POLL)
        self._renewer = threading.Thread(target=self._renew, name="index-lease", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self._put(IfMatch=self.etag):
                    self.lost = True
                    return
            except Exception:  # a passing network fault: try again at the next tick, before the lease runs out
                continue

    def check(self) -> None:
        if self.lost:
            raise LeaseLost(f"{self.uri}: this build lost its writer lease (paused for more than {self.ttl:.0f} s, "
                            "and another build took the index over); nothing more is written")

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if not self.lost:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=self.key)
            except self.errors:
                pass  # it expires on its own
