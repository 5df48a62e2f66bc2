"""ui: the Gradio web page over the query API (it imports `query` only).

    from ui import serve
    serve("demo-index", port=7860)                   # blocks; python -m ui does this
    app, url = serve("demo-index", block=False)      # runs in a thread; app.close() stops it

Names load on first use, so `python -m ui --help` answers before Gradio is imported.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from query import lazy_exports

_EXPORTS = {
    "serve": "ui.app", "build_app": "ui.app",
    "MAX_UPLOAD_MB": "ui.defaults", "CONCURRENCY": "ui.defaults",
}
# Spelled out so that linters and IDEs can read it; a test keeps it equal to _EXPORTS.
__all__ = ["CONCURRENCY", "MAX_UPLOAD_MB", "build_app", "serve"]
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the same names, for type checkers and the import graph
    from ui.app import build_app, serve
    from ui.defaults import CONCURRENCY, MAX_UPLOAD_MB
