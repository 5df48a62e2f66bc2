"""The error every importer raises for input it cannot use."""
from __future__ import annotations


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
