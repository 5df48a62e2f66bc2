"""The errors the index raises for input or files it cannot use, and how they read on one line."""
from __future__ import annotations

import re

_RUST_PATH = re.compile(r",? */\S+\.rs:\d+:\d+")


class BadInput(ValueError):
    """A file (or stream) that cannot be used, and why. Builds skip it and report it."""

    def __init__(self, path: str, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # from a worker process or a Ray task back to the build, intact
        return type(self), (self.path, self.reason)


class IndexLocked(RuntimeError, LookupError):
    """Another writer holds the index."""


class ReadOnlyIndex(ValueError):
    """An index that cannot be written (a read-only folder or mount, no permission)."""


class DamagedTable(ValueError):
    """A LanceDB table whose files cannot be read; the message says how to recover."""

    @classmethod
    def of(cls, uri: str, name: str, exc: BaseException) -> DamagedTable:
        return cls(f"{uri}: the {name} table cannot be read ({first_line(exc).strip()}); rebuild the index into a "
                   "new folder with `python -m indexer build SOURCE --out NEW_DIR`, or go back to an earlier "
                   f"version of {name}.lance with LanceDB's Table.restore(version)")


def first_line(exc: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none), without the Rust
    source paths LanceDB puts in it."""
    return _RUST_PATH.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
