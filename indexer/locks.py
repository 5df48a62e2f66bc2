"""The writer lock of an index: one build writes at a time, so that window ids and commit-log rows
cannot collide. A second writer fails at once with one line naming the holder (IndexLocked), or
with `wait` waits for it.

`writer_lock(uri)` picks the implementation by the index's URI:

- a local folder: `FileLock`, an flock on LOCK_FILE; it goes with the process, so a killed
  build never leaves it held;
- `s3://`: `indexer.lease.S3Lease`, a lease object created with a conditional PUT, renewed while
  held, taken over once expired;
- any other object store (gs://, az://, ...) has neither: `Unlocked` says so in a warning, and
  the caller must make sure of one writer (the README says so too).
"""
from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path
from typing import Protocol

from indexer.errors import IndexLocked
from indexer.lease import LEASE, S3Lease

log = logging.getLogger(__name__)
LOCK_FILE = LEASE  # one name for the writer lock, in a folder or in a bucket


class WriterLock(Protocol):
    def acquire(self, wait: bool = False) -> None:
        """Take the lock, or raise IndexLocked naming its holder (`wait`: until it is free)."""

    def check(self) -> None:
        """Raise if the lock was lost while held (before anything more is written)."""

    def release(self) -> None: ...


class FileLock:
    """flock on LOCK_FILE in a local index folder; the file names its holder."""

    def __init__(self, uri: str):
        self.uri = uri
        self.path = Path(uri) / LOCK_FILE
        self._file = None

    def acquire(self, wait: bool = False) -> None:
        f = open(self.path, "a+")  # held open until release()
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise IndexLocked(f"{self.uri}: the index is being written by {holder}; wait for it to finish "
                              "(or stop it) and run again") from None
        except BaseException:
            f.close()
            raise
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        f.flush()
        self._file = f

    def check(self) -> None:
        pass  # an flock cannot be taken away from a live process

    def release(self) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        with f:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


class Unlocked:
    """An object store with neither a file lock nor conditional writes that this code uses."""

    def __init__(self, uri: str):
        self.uri = uri

    def acquire(self, wait: bool = False) -> None:
        log.warning("%s: no writer lock on this object store (only a local folder or s3:// has one); "
                    "make sure that one build at a time writes to this index", self.uri)

    def check(self) -> None:
        pass

    def release(self) -> None:
        pass


def writer_lock(uri: str) -> WriterLock:
    """The writer lock of the index at `uri` (not taken yet)."""
    if uri.startswith("s3://"):
        return S3Lease(uri)
    if "://" in uri:
        return Unlocked(uri)
    return FileLock(uri)
