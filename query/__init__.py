"""query: open an index, embed a query, search, join metadata, temporal alignment.

    from query import open_index
    ix = open_index("./demo-index")
    ix.search_text("waving", target="imu", k=5)

Names load on first use, so `python -m query --help` answers before torch is imported.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from indexer.imports import lazy_exports

_EXPORTS = {
    "open_index": "query.api",
    "Index": "query.api",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from query.api import Index, open_index
