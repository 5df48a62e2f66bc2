"""The files of an index beside its LanceDB tables (FAISS files and manifests, kept checkpoints),
through pyarrow's filesystem layer, so that a local folder and an object store (s3://) read
alike. Writes are atomic: a reader sees the old file or the new one, never half of one.

Callers go through the module (`sidefiles.write_atomic(...)`), so that a test can pause or fail
every side-file write in one place (tests/system/fault_hook.py).
"""
from __future__ import annotations

import contextlib
import errno
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs

from indexer.errors import first_line

_NO_SPACE = ("no space left on device", "os error 28", "errno 28")
PARTIAL = ".tmp-"  # in the name of a file being written; one left over is the trace of a crash


@contextlib.contextmanager
def writing(path: str):
    """A failed write as an OSError naming `path`: LanceDB reports a full disk as a RuntimeError
    with its own source path in it, pyarrow as an OSError naming no file."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        text = str(exc).lower()
        if any(s in text for s in _NO_SPACE):
            raise OSError(errno.ENOSPC, "No space left on device", path) from None
        if isinstance(exc, OSError) and not exc.filename:
            raise OSError(exc.errno or errno.EIO, exc.strerror or first_line(exc).strip(), path) from None
        raise


def write_atomic(fs: pyarrow.fs.FileSystem, path: str, content: bytes | Callable) -> object:
    """Write `content` (bytes, or a function that writes to the open stream and returns
    something, e.g. a checksum) to `path` so that a reader sees the old file or the new one,
    never half; returns what the function returned. Locally: a temporary file renamed into
    place. On an object store one PUT (or multipart upload) already appears whole when it
    completes, and a "rename" is a copy and a delete, neither atomic nor cheap: the object
    is written in place."""
    write = content if callable(content) else (lambda f: f.write(content))
    if not isinstance(fs, pyarrow.fs.LocalFileSystem):
        with writing(path), fs.open_output_stream(path) as f:
            return write(f)
    tmp = f"{path}{PARTIAL}{time.time_ns()}"
    try:
        with writing(path), fs.open_output_stream(tmp) as f:
            out = write(f)
    except OSError:
        with contextlib.suppress(OSError):  # nothing half-written is left behind
            fs.delete_file(tmp)
        raise
    fs.move(tmp, path)
    return out


def read(fs: pyarrow.fs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as f:
        return f.read()


def exists(fs: pyarrow.fs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def remove_partial(fs: pyarrow.fs.FileSystem, folders: list[str]) -> None:
    """Delete the half-written files (`*.tmp-*`) a crash left in `folders`."""
    for folder in folders:
        if exists(fs, folder):
            for info in fs.get_file_info(pyarrow.fs.FileSelector(folder, recursive=True)):
                if PARTIAL in info.base_name:
                    fs.delete_file(info.path)


def slug(text: str) -> str:
    """`text` as a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def save_folder(fs: pyarrow.fs.FileSystem, folder: str, files: Callable[[], dict[str, bytes]], last: str) -> None:
    """Write the files `files()` -> {name: bytes} into `folder`, the file `last` after the others,
    so that a folder holding `last` is complete; nothing (not even `files()`) when it already is."""
    if exists(fs, f"{folder}/{last}"):
        return
    fs.create_dir(folder, recursive=True)
    contents = files()
    for name in sorted(contents, key=lambda n: n == last):
        write_atomic(fs, f"{folder}/{name}", contents[name])


def local_folder(fs: pyarrow.fs.FileSystem, folder: str, remote: bool) -> Path:
    """`folder` as a local path: itself, or (`remote`) a copy in a new temporary folder."""
    if not remote:
        return Path(folder)
    local = Path(tempfile.mkdtemp(prefix="motionsearch-encoder-"))
    for info in fs.get_file_info(pyarrow.fs.FileSelector(folder)):
        (local / Path(info.path).name).write_bytes(read(fs, info.path))
    return local
