"""The LanceDB tables of an index directory (indexer.schema) and its commit log. Everything else
asks this module for rows; the FAISS files beside the tables are `indexer.faiss_files`, the kept
checkpoints and concepts file `indexer.kept`, the writer lock `indexer.locks`, atomic side-file
writes `indexer.sidefiles`, and values become SQL in `indexer.sql` only.

    DIR/
      recordings.lance, windows.lance, tokens.lance   the truth (vectors included)
      indexed.lance      the commit log: (recording, encoder) pairs whose windows are complete
      faiss/             rebuildable accelerators (indexer.faiss_files)
      encoders/<id>/     the checkpoints the index was built with (indexer.kept)
      concepts.json      concepts taught by example (query's Index.teach); a build never touches it

Writes are ordered so that a crash leaves the previous index readable: a recording's windows
are written first, then its `indexed` row. Windows with no `indexed` row are leftovers of an
interrupted build: readers never see them, and opening the store for writing deletes them.

Reads are scoped by keyword (`encoder=`, `modality=`, `body_part=`, `recording=`, `ids=`; see
indexer.sql.scope) and filtered by the user's `where`, which is checked first.

`uri` may be a local directory or an object-store URI (s3://...): LanceDB handles both and
the side files go through pyarrow's filesystem layer.
"""
from __future__ import annotations

import contextlib
import functools
import time
from pathlib import Path

import lancedb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.fs

from indexer import schema, sidefiles, sql
from indexer.errors import DamagedTable
from indexer.faiss_files import FaissEntry, FaissFiles
from indexer.kept import KeptFiles
from indexer.locks import WriterLock, writer_lock
from indexer.model import Modality
from indexer.search_rows import SearchRows


def _writes(method):
    """Marks an IndexStore method that writes to its tables: the table versions it keeps
    (IndexStore.version) are forgotten afterwards, even when the write fails half-way."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            self._versions.clear()
    return wrapper


def _table_names(db) -> list[str]:
    lister = getattr(db, "list_tables", None)
    if lister is None:
        return list(db.table_names())
    result = lister()
    return list(getattr(result, "tables", result))


def is_index(uri: str | Path) -> bool:
    """Whether a local folder holds an index (its windows table); URIs are taken on trust."""
    return "://" in str(uri) or (Path(uri) / "windows.lance").exists()


class IndexStore:
    """An index directory: its LanceDB tables and commit log; `faiss_files` its FAISS files."""

    def __init__(self, uri: str | Path, create: bool = False):
        self.uri = str(uri)
        if "://" not in self.uri:
            path = Path(self.uri).resolve()
            if path.exists() and not path.is_dir():
                raise ValueError(f"{path}: is a file, not an index directory")
            if not create and not is_index(path):
                raise FileNotFoundError(f"{path}: not a motionsearch index (no windows table); "
                                        "build one with `python -m indexer build`")
            path.mkdir(parents=True, exist_ok=True)
            self.uri = str(path)
        self.db = lancedb.connect(self.uri)
        existing = set(_table_names(self.db))
        for name, table_schema in schema.TABLES.items():
            if name not in existing:
                if not create and name in schema.OPTIONAL_TABLES:
                    continue
                if not create:
                    raise FileNotFoundError(f"{self.uri}: index has no {name!r} table (an incomplete copy?); rebuild "
                                            "it into a new folder with `python -m indexer build SOURCE --out NEW_DIR`")
                with sidefiles.writing(f"{self.uri}/{name}.lance"):
                    self.db.create_table(name, schema=table_schema, exist_ok=True)
                existing.add(name)
        self.tables = {name: self.db.open_table(name) for name in schema.TABLES if name in existing}
        self.fs, self.root = pyarrow.fs.FileSystem.from_uri(self.uri)
        self.faiss_files = FaissFiles(self)
        self.kept = KeptFiles(self)  # kept checkpoints and the concepts file
        self._search = SearchRows(self)  # admitted ids and hit metadata, kept in memory per table version
        self._lock: WriterLock | None = None  # held by writer()
        self._versions: dict[str, int] = {}  # table versions, forgotten on every write (version())
        self._hidden: tuple[tuple, dict] | None = None  # (table versions, _uncommitted_scope per table)

    # ---- reading -------------------------------------------------------------------------
    def table(self, name: str, where: str | None = None, columns: list[str] | None = None) -> pl.DataFrame:
        """A table (optionally filtered with a SQL predicate) as a polars DataFrame. `where` is
        the store's own predicate, used as given; user filters go through `windows()`,
        `recordings()` or `vectors()`, which check them."""
        try:
            return self._scan(name, where, columns)
        except DamagedTable:
            raise
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"invalid predicate {where!r}: {sql.lance_reason(exc, '', '')}") from None

    def _scan(self, name: str, where: str | None, columns: list[str] | None) -> pl.DataFrame:
        try:
            if where is None and columns is None:
                return pl.from_arrow(self.tables[name].to_arrow())
            query = self.tables[name].search()
            if where:
                query = query.where(where)
            if columns:
                query = query.select(columns)
            return pl.from_arrow(query.limit(None).to_arrow())
        except (OSError, ValueError, RuntimeError) as exc:
            if isinstance(exc, OSError) or "LanceError(IO)" in str(exc):  # the files, not the query
                raise DamagedTable.of(self.uri, name, exc) from None
            raise

    def filtered(self, name: str, where: str | None = None, columns: list[str] | None = None,
                 scope: str | None = None, **keywords) -> pl.DataFrame:
        """Committed rows of table `name` within the store's scope, the `keywords` of
        indexer.sql.scope (encoder=, modality=, body_part=, recording=, ids=, ...) and `scope`
        (a predicate of indexer's own), that match the user filter `where` (checked and
        normalized by indexer.schema.normalize_where). A bad filter is a one-line ValueError naming
        only what the user wrote, never the scope around it."""
        user = schema.normalize_where(where, name) if where and where.strip() else None
        # rows of a build that has not committed them (yet) are left out
        scope = sql.all_of(scope, sql.scope(name, **keywords), self._uncommitted_scope(name))
        if user is None:
            return self.table(name, scope, columns)
        pred = f"{scope} AND ({user})" if scope else user
        try:
            return self._scan(name, pred, columns)
        except DamagedTable:
            raise
        except (ValueError, RuntimeError) as exc:
            reason = sql.refusal(self.tables[name], pred, user, exc, scoped=bool(scope))
        raise ValueError(f"invalid filter {where!r}: {reason}")

    def recordings(self, where: str | None = None, columns: list[str] | None = None, *, scope: str | None = None,
                   **keywords) -> pl.DataFrame:
        """Recordings matching the user filter `where` within the store's scope (`filtered`)."""
        return self.filtered("recordings", where, columns, scope, **keywords)

    def windows(self, where: str | None = None, columns: list[str] | None = None, *, scope: str | None = None,
                **keywords) -> pl.DataFrame:
        """Windows matching the user filter `where` within the store's scope (`filtered`)."""
        return self.filtered("windows", where, columns, scope, **keywords)

    def admitted_ids(self, where: str | None, scope: str | None = None, table: str = "windows",
                     **keywords) -> np.ndarray:
        """Sorted int64 ids of the rows of `table` a user filter admits within the store's scope
        (kept until the table changes: indexer.search_rows)."""
        return self._search.admitted_ids(where, sql.all_of(scope, sql.scope(table, **keywords)), table)

    def windows_by_id(self, ids, columns: list[str] | None = None) -> pl.DataFrame:
        """Rows of the windows with these ids (in no particular order, unknown ones left out)."""
        return self._search.by_id(ids, columns)

    def windows_at(self, ids: np.ndarray, columns: list[str]) -> pl.DataFrame:
        """The `columns` of the windows `ids`, one row per id in the order given (repeats kept;
        nulls for an unknown id): what joins search hits to their metadata."""
        return self._search.at(ids, columns)

    def version(self, name: str) -> int:
        """The version of table `name` this store reads, kept until this store writes: without a
        read_consistency_interval a LanceDB handle moves on only with its own writes (another
        process's commits are seen by opening the index again)."""
        if name not in self._versions:
            self._versions[name] = int(self.tables[name].version)
        return self._versions[name]

    def count(self, name: str, where: str | None = None, **keywords) -> int:
        """Rows of table `name`, committed or not, within the `keywords` of indexer.sql.scope
        and `where` (a predicate of indexer's own, used as given)."""
        pred = sql.all_of(where, sql.scope(name, **keywords))
        return int(self.tables[name].count_rows(pred) if pred else self.tables[name].count_rows())

    def vectors(self, encoder_id: str, modality: Modality, where: str | None = None,
                table: str = "windows") -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of one encoder and modality, optionally narrowed by a user filter
        (`table`: "windows" or "tokens")."""
        if table not in self.tables:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        df = self._committed(self.filtered(table, where, ["id", "recording_id", "vector"], encoder=encoder_id,
                                           modality=modality), encoder_id)
        if df.height == 0:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return df["id"].to_numpy(), np.stack(df["vector"].to_numpy()).astype(np.float32)

    def has_tokens(self, encoder_id: str | None = None) -> bool:
        return "tokens" in self.tables and self.count("tokens", encoder=encoder_id) > 0

    # ---- the commit log ------------------------------------------------------------------
    def indexed_ids(self, encoder_id: str) -> set[str]:
        return set(self.table("indexed", sql.scope("indexed", encoder=encoder_id), ["recording_id"])["recording_id"])

    def encoders(self) -> list[str]:
        """Encoder ids in the order they were first built into the index (the newest last)."""
        log = self.table("indexed", columns=["encoder_id", "built_at"])
        if log.height == 0:
            return []
        first = log.group_by("encoder_id").agg(pl.col("built_at").min()).sort(["built_at", "encoder_id"])
        return first["encoder_id"].to_list()

    def committed_ids(self, encoder_id: str, modality: Modality, table: str = "windows") -> np.ndarray:
        """Sorted ids of the rows of one encoder and modality that belong to committed recordings."""
        rows = self.table(table, sql.scope(table, encoder=encoder_id, modality=modality), ["id", "recording_id"])
        return np.sort(self._committed(rows, encoder_id)["id"].to_numpy().astype(np.int64))

    def _committed(self, rows: pl.DataFrame, encoder_id: str) -> pl.DataFrame:
        """The rows whose recording is in the commit log for `encoder_id`. Rows of a build that
        died before its commit-log row are not part of the index yet: nothing that serves
        queries (FAISS files, in-memory rebuilds) may see them."""
        return rows.filter(pl.col("recording_id").is_in(list(self.indexed_ids(encoder_id))))

    def _orphans(self, name: str) -> pl.DataFrame:
        """(recording_id, encoder_id) pairs of table `name` that no commit-log row covers."""
        pairs = self.table(name, columns=["recording_id", "encoder_id"]).unique()
        done = self.table("indexed", columns=["recording_id", "encoder_id"])
        return pairs.join(done, on=["recording_id", "encoder_id"], how="anti")

    @staticmethod
    def _orphan_preds(orphans: pl.DataFrame) -> list[str]:
        return [sql.scope(encoder=enc[0], recording=g["recording_id"].to_list()) for enc, g in orphans.group_by("encoder_id")]

    def _uncommitted_scope(self, name: str) -> str | None:
        """A predicate leaving out the rows of table `name` that no commit-log row covers: those of
        a build that died (or is still running) between writing its windows and its `indexed` row.
        None when there are none, the usual case, told from the row counts the log keeps. Only
        the commits in flight can be uncommitted, so the predicate names a few recordings."""
        if name not in ("windows", "tokens", "recordings"):
            return None
        key = tuple(int(self.tables[t].version) for t in ("windows", "indexed", "recordings"))
        if self._hidden is None or self._hidden[0] != key:
            log = self.table("indexed", columns=["recording_id", "windows"])
            whole = (int(log["windows"].sum() or 0) == self.count("windows")
                     and log["recording_id"].n_unique() == self.count("recordings"))
            preds: dict[str, str | None] = {"windows": None, "tokens": None, "recordings": None}
            if not whole:
                preds["windows"] = preds["tokens"] = sql.none_of(self._orphan_preds(self._orphans("windows")))
                lone = sorted(set(self.table("recordings", columns=["id"])["id"]) - set(log["recording_id"]))
                preds["recordings"] = sql.none_of([sql.scope("recordings", recording=lone)] if lone else [])
            self._hidden = (key, preds)
        return self._hidden[1][name]

    # ---- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, wait: bool = False):
        """Hold the index's writer lock (indexer.locks, chosen by the URI) for a block: one build
        at a time. A second writer fails at once with one line naming the holder (or, with
        `wait`, waits for it)."""
        lock = writer_lock(self.uri)
        lock.acquire(wait)
        self._lock = lock
        try:
            yield
        finally:
            self._lock = None
            lock.release()

    @_writes
    def remove_incomplete(self) -> int:
        """Delete windows (and tokens) of (recording, encoder) pairs with no `indexed` row, and
        half-written side files: the leftovers of an interrupted build. Returns how many windows went."""
        sidefiles.remove_partial(self.fs, [f"{self.root}/faiss", f"{self.root}/encoders"])
        removed = 0
        for pred in self._orphan_preds(self._orphans("windows")):
            removed += self.count("windows", pred)
            self.tables["windows"].delete(pred)
        if "tokens" in self.tables:  # tokens are written with their windows, before the `indexed` row
            for pred in self._orphan_preds(self._orphans("tokens")):
                self.tables["tokens"].delete(pred)
        return removed

    def next_token_id(self) -> int:
        return self._next_id("tokens") if "tokens" in self.tables else 0

    def next_window_id(self) -> int:
        return self._next_id("windows")

    def _next_id(self, name: str) -> int:
        return int(self.table(name, columns=["id"])["id"].max()) + 1 if self.count(name) else 0

    @_writes
    def commit(self, windows: list[dict], recordings: list[dict], done: list[tuple[str, str, int]],
               tokens: list[dict] | None = None) -> None:
        """Write window rows (and their token rows), then the recordings' metadata (those not
        there yet), then mark the (recording, encoder) pairs complete. Until that last write the
        windows and tokens do not count."""
        if self._lock is not None:
            self._lock.check()  # a build that lost its lease to another writes nothing more
        if windows:
            self._add("windows", pa.Table.from_pylist(windows, schema=schema.WINDOWS_SCHEMA))
        if tokens:
            self._add("tokens", pa.Table.from_pylist(tokens, schema=schema.TOKENS_SCHEMA))
        if recordings:
            pred = sql.scope("recordings", recording=[r["id"] for r in recordings])
            have = set(self.table("recordings", pred, ["id"])["id"].to_list())
            new = [r for r in recordings if r["id"] not in have]
            if new:
                self._add("recordings", pa.Table.from_pylist(new, schema=schema.RECORDINGS_SCHEMA))
        if done:
            now = time.time()
            log = [{"recording_id": r, "encoder_id": e, "windows": n, "built_at": now} for r, e, n in done]
            self._add("indexed", pa.Table.from_pylist(log, schema=schema.INDEXED_SCHEMA))

    def _add(self, name: str, rows: pa.Table) -> None:
        with sidefiles.writing(f"{self.uri}/{name}.lance"):
            self.tables[name].add(rows)

    @_writes
    def optimize(self) -> None:
        """Compact each table's fragments (many small commits slow every later read) and bring
        its scalar indexes up to date. Logical contents are unchanged, so a crash here leaves
        the index as it was."""
        for name, table in self.tables.items():
            if table.count_rows() == 0:
                continue
            with sidefiles.writing(f"{self.uri}/{name}.lance"):
                have = {tuple(ix.columns) for ix in table.list_indices()}
                for column, kind in schema.SCALAR_INDEXES.get(name, {}).items():
                    if (column,) not in have:
                        table.create_index(column, config=kind())
                table.optimize()

    # ---- the FAISS files (indexer.faiss_files), by the names callers of the store know ------
    def faiss(self, encoder_id: str, modality: Modality, table: str = "windows") -> FaissEntry:
        return self.faiss_files.get(encoder_id, modality, table)

    def write_faiss(self, encoder_id: str, modality: Modality, encoder_checksum: str, factory: str | None = None,
                    table: str = "windows") -> dict:
        return self.faiss_files.write(encoder_id, modality, encoder_checksum, factory, table)

    def faiss_manifests(self) -> list[dict]:
        return self.faiss_files.manifests()

