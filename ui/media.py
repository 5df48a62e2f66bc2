"""The app's own folder of rendered files (GIFs, video cuts): the only files it serves.

Gradio serves files from its upload/cache folder; the app points that folder here (see
`ui.app.serve`), so uploads and renders share one directory the app controls, and nothing
else on the machine (the index, the source archive) is reachable over HTTP. Renders are keyed
by what they show, so the same hit searched twice is drawn once, and the folder is pruned to
a bounded number of files.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

MAX_FILES = 500


class MediaDir:
    def __init__(self, root: str | Path, max_files: int = MAX_FILES):
        self.root = Path(root).resolve()
        self.renders = self.root / "renders"
        self.renders.mkdir(parents=True, exist_ok=True)
        self.max_files = max_files
        self._lock = threading.Lock()

    def path_for(self, key: str, suffix: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self.renders / f"{digest}{suffix}"

    def render(self, key: str, suffix: str, make: Callable[[Path], Path]) -> Path:
        """The file for `key`, made by `make(path)` unless it is already there."""
        path = self.path_for(key, suffix)
        if path.exists():
            return path
        tmp = path.with_name(f"{path.stem}.{threading.get_ident()}.tmp{suffix}")
        make(tmp)
        tmp.replace(path)  # atomic: a concurrent request never sees half a file
        self._prune()
        return path

    def _prune(self) -> None:
        def age(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except FileNotFoundError:  # another request's temporary file, already renamed
                return float("inf")

        with self._lock:
            files = sorted(self.renders.iterdir(), key=age)
            for old in files[: max(0, len(files) - self.max_files)]:
                old.unlink(missing_ok=True)
