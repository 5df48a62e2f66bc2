"""What a filtered search asks of the store, kept in memory per table version (`SearchRows`,
composed over an `IndexStore`, which answers `admitted_ids`, `windows_by_id` and `windows_at`
with it):

- the ids of the rows a filter admits: a filter repeated across queries, as a search page or a
  script does, is evaluated once until the table changes;
- the metadata of the hits: an in-memory copy of the windows table's metadata columns (about
  100 bytes a row), so that a search joins its k hits in microseconds instead of a LanceDB
  scan. The vector, or a table too large to copy, is read from LanceDB.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from indexer import sql
from indexer.schema import META_COLUMNS

META_IN_MEMORY_MAX = 20_000_000  # windows whose metadata an open store keeps in memory
ADMITTED_CACHE = 64  # filters whose admitted ids an open store keeps


class SearchRows:
    def __init__(self, store):
        self.store = store
        self._admitted: dict[tuple, np.ndarray] = {}  # admitted ids, oldest first
        self._meta: tuple | None = None  # (windows table version, metadata sorted by id, its ids, views)

    def admitted_ids(self, where: str | None, scope: str | None, table: str = "windows") -> np.ndarray:
        """Sorted int64 ids of the rows of `table` the user filter `where` admits within the
        store's predicate `scope`, kept per (filter, scope, table version)."""
        key = (table, scope, where, self.store.version(table))
        if key not in self._admitted:
            if len(self._admitted) >= ADMITTED_CACHE:
                self._admitted.pop(next(iter(self._admitted)))
            ids = self.store.filtered(table, where, ["id"], scope)["id"].to_numpy().astype(np.int64)
            self._admitted[key] = np.sort(ids)
        return self._admitted[key]

    def by_id(self, ids, columns: list[str] | None = None) -> pl.DataFrame:
        """Rows of the windows with these ids (in no particular order, unknown ids left out)."""
        ids = np.asarray(ids, dtype=np.int64)
        meta = self._load() if columns is not None and set(columns) <= set(META_COLUMNS) else None
        if meta is not None:
            pos = self._positions(ids)
            return meta[pos[pos >= 0]].select(columns)
        return self.store.table("windows", sql.scope(ids=ids), columns)

    def at(self, ids: np.ndarray, columns: list[str]) -> pl.DataFrame:
        """The `columns` of the windows `ids`, one row per id in the order given (repeats kept;
        nulls for an unknown id), from the in-memory copy without a polars join when the
        columns are metadata."""
        ids = np.asarray(ids, dtype=np.int64)
        meta = self._load() if set(columns) <= set(META_COLUMNS) else None
        if meta is not None:
            pos = self._positions(ids)
            if (pos >= 0).all():
                views = self._meta[3]  # the columns asked for, selected once per version
                if tuple(columns) not in views:
                    views[tuple(columns)] = meta.select(columns)
                return views[tuple(columns)][pos]
        found = self.by_id(np.unique(ids), ["id", *[c for c in columns if c != "id"]])
        order = pl.DataFrame({"id": ids})
        return order.join(found, on="id", how="left", maintain_order="left").select(columns)

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the in-memory metadata holding `ids` (-1 where an id is not there)."""
        sorted_ids = self._meta[2]
        if len(sorted_ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == ids, pos, -1)

    def _load(self) -> pl.DataFrame | None:
        version = self.store.version("windows")
        if self._meta is None or self._meta[0] != version:
            if self.store.count("windows") > META_IN_MEMORY_MAX:
                return None
            meta = self.store.table("windows", None, META_COLUMNS).sort("id")
            self._meta = (version, meta, meta["id"].to_numpy().astype(np.int64), {})
        return self._meta[1]
