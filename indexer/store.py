"""The on-disk layout of an index directory. Everything else asks this module.

    DIR/
      recordings.lance   one row per recording (metadata)
      windows.lance      one row per (window, encoder): ids, times, label, vector  <- the truth
      indexed.lance      the commit log: (recording, encoder) pairs whose windows are complete
      faiss/<encoder>.<modality>.faiss + .json   rebuildable accelerators + manifests
      faiss/<encoder>.<modality>.ids, .delta.faiss   ids of the main file; windows added since

Writes are ordered so that a crash leaves the previous index readable: a recording's windows
are written first, then its `indexed` row. Windows with no `indexed` row are leftovers of an
interrupted build; opening the store for writing deletes them. FAISS files are written to a
temporary name and renamed into place.

`uri` may be a local directory or an object-store URI (s3://...): LanceDB handles both and
the FAISS files go through pyarrow's filesystem layer.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lancedb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs
from lancedb.index import Bitmap, BTree

from indexer import filters, vectors
from indexer.errors import IndexLocked  # noqa: F401  (raised by writer(); callers catch it from here)
from indexer.lease import S3Lease

# The checkpoint file that completes an encoder folder kept in an index (written last).
ENCODER_COMPLETE = "config.json"

RECORDINGS_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("dataset", pa.string()),
    ("subject", pa.string()),
    ("trial", pa.string()),
    ("labels", pa.list_(pa.string())),
    ("text", pa.string()),
    ("duration", pa.float64()),
    ("modalities", pa.list_(pa.string())),
    ("sources", pa.list_(pa.string())),
])

WINDOWS_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("recording_id", pa.string()),
    ("dataset", pa.string()),
    ("subject", pa.string()),
    ("modality", pa.string()),
    ("body_part", pa.string()),
    ("t_start", pa.float64()),
    ("t_end", pa.float64()),
    ("label", pa.string()),
    ("encoder_id", pa.string()),
    # Variable-length so that encoders of different widths can share one index; FAISS does the
    # vector search, LanceDB keeps the vectors as the truth to rebuild it from.
    ("vector", pa.list_(pa.float32())),
])

INDEXED_SCHEMA = pa.schema([
    ("recording_id", pa.string()),
    ("encoder_id", pa.string()),
    ("windows", pa.int64()),
    ("built_at", pa.float64()),
])

# One row per 0.2 s token of a window (MoBind token encoders only): what `query locate` and
# fine-grained alignment search. A token belongs to the window that saw it with the most context
# around it, so each moment of a stream is covered once.
TOKENS_SCHEMA = pa.schema([
    ("id", pa.int64()),
    ("window_id", pa.int64()),
    ("recording_id", pa.string()),
    ("encoder_id", pa.string()),
    ("modality", pa.string()),
    ("body_part", pa.string()),
    ("t_start", pa.float64()),
    ("t_end", pa.float64()),
    ("vector", pa.list_(pa.float32())),
])

TABLES = {"recordings": RECORDINGS_SCHEMA, "windows": WINDOWS_SCHEMA, "indexed": INDEXED_SCHEMA,
          "tokens": TOKENS_SCHEMA}
# Tables an index built before they existed may lack: opening it for reading still works.
OPTIONAL_TABLES = {"tokens"}

WRITER_LOCK = ".writer.lock"  # held by the one build writing to an index
ADMITTED_CACHE = 64
# Window metadata an open store keeps in memory for joining search hits (about 100 bytes a row).
META_COLUMNS = ["id", "recording_id", "dataset", "subject", "modality", "body_part", "t_start", "t_end",
                "label", "encoder_id"]
META_IN_MEMORY_MAX = 20_000_000  # filters whose admitted ids an open store keeps
SCAN_BATCH = 20_000  # rows per batch a FAISS build reads from LanceDB (30 MB of 384-d vectors)
MEAN_SAMPLE = 50_000  # windows a mean vector is taken over (the mean of a sample that size is within ~0.5 % of all)
DELTA_MAX_SHARE = 0.1  # new windows go to a FAISS index's delta file until it holds this share of the main one

# Scalar indexes kept on each table (IndexStore.optimize): id lookups of search hits and the
# store's own encoder/modality scope then cost O(k) and O(admitted), not a scan of the table.
SCALAR_INDEXES = {
    "windows": {"id": BTree, "recording_id": BTree, "encoder_id": Bitmap, "modality": Bitmap},
    "tokens": {"id": BTree, "window_id": BTree, "recording_id": BTree, "encoder_id": Bitmap, "modality": Bitmap},
    "recordings": {"id": BTree},
    "indexed": {"recording_id": BTree, "encoder_id": Bitmap},
}


def sql_str(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def sql_in(column: str, values) -> str:
    return f"{column} IN ({', '.join(sql_str(v) for v in values)})"


STRING_KEYS = ("subject", "trial", "dataset", "recording_id", "id")

# The columns a user filter (--where) may name, per table; the rest (encoder_id, vector, the
# window and token ids) are the store's own and refused with the list of these.
FILTER_COLUMNS = {
    "windows": ("dataset", "subject", "recording_id", "label", "modality", "body_part", "t_start", "t_end"),
    "recordings": ("id", "dataset", "subject", "trial", "labels", "text", "duration", "modalities", "sources"),
    "tokens": ("recording_id", "modality", "body_part", "t_start", "t_end"),
}


def _string_columns(schema: pa.Schema) -> set[str]:
    return {f.name for f in schema if pa.types.is_string(f.type)}


def normalize_where(where: str | None, table: str | None = None) -> str | None:
    """A user filter as SQL for LanceDB (indexer.filters): numbers compared with string columns
    are quoted (`subject = 2` -> `subject = '2'`), only the columns of FILTER_COLUMNS[table] may
    be named (those of every table when `table` is None), anything else is a one-line ValueError."""
    tables = [table] if table else list(FILTER_COLUMNS)
    allowed = {c for t in tables for c in FILTER_COLUMNS[t]}
    strings = {c for t in tables for c in _string_columns(TABLES[t])} & allowed
    return filters.normalize_where(where, allowed, strings)


_RUST_PATH = re.compile(r",? */\S+\.rs:\d+:\d+")


def _lance_reason(exc: Exception, pred: str, user_sql: str) -> str:
    """LanceDB's complaint about a filter, on one line, with the store's part of the predicate
    taken out (it echoes the whole predicate it was given)."""
    reason = _RUST_PATH.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    reason = reason.replace(pred, user_sql)
    reason = re.sub(r"\s*Valid fields are .*", "", reason)
    while reason.startswith("Invalid input, "):
        reason = reason[len("Invalid input, "):]
    return reason.strip() or "LanceDB could not evaluate it"


_NO_SPACE = ("no space left on device", "os error 28", "errno 28")


@contextlib.contextmanager
def _writing(path: str):
    """A failed write as an OSError naming `path`: LanceDB reports a full disk as a RuntimeError
    with its own source path in it, pyarrow as an OSError naming no file."""
    try:
        yield
    except (OSError, RuntimeError) as exc:
        text = str(exc).lower()
        if any(s in text for s in _NO_SPACE):
            raise OSError(errno.ENOSPC, "No space left on device", path) from None
        if isinstance(exc, OSError) and not exc.filename:
            reason = _RUST_PATH.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__).strip()
            raise OSError(exc.errno or errno.EIO, exc.strerror or reason, path) from None
        raise


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


@dataclass
class FaissEntry:
    index: object  # faiss.Index, on the best device
    manifest: dict
    cpu: object = None  # the CPU original when `index` is a GPU copy

    def search(self, queries, k: int, allowed=None, **params):
        """vectors.search on this index: (scores, ids); `params` (nprobe=, efSearch=) override
        the tuned ones stored in the manifest for this search only."""
        return vectors.search(self.index, queries, k, allowed, params, cpu_index=self.cpu,
                              filtered=(self.manifest.get("search_params") or {}).get("filtered"))


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


class DamagedTable(ValueError):
    """A LanceDB table whose files cannot be read; the message says how to recover."""


def is_index(uri: str | Path) -> bool:
    """Whether a local folder holds an index (its windows table); URIs are taken on trust."""
    return "://" in str(uri) or (Path(uri) / "windows.lance").exists()


class IndexStore:
    """An index directory: LanceDB tables + FAISS files."""

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
        existing = set(self._table_names())
        for name, schema in TABLES.items():
            if name not in existing:
                if not create and name in OPTIONAL_TABLES:
                    continue
                if not create:
                    raise FileNotFoundError(f"{self.uri}: index has no {name!r} table (an incomplete copy?); rebuild "
                                            "it into a new folder with `python -m indexer build SOURCE --out NEW_DIR`")
                with _writing(f"{self.uri}/{name}.lance"):
                    self.db.create_table(name, schema=schema, exist_ok=True)
                existing.add(name)
        self.tables = {name: self.db.open_table(name) for name in TABLES if name in existing}
        self.fs, self._root = pyarrow.fs.FileSystem.from_uri(self.uri)
        self._faiss: dict[tuple[str, str], FaissEntry] = {}
        self._lease: S3Lease | None = None  # held by writer() on s3://
        self._admitted: dict[tuple, np.ndarray] = {}  # admitted_ids, oldest first
        self._meta: tuple | None = None  # (windows table version, metadata sorted by id, its ids, views)
        self._versions: dict[str, int] = {}  # table versions, forgotten on every write (version())
        self._hidden: tuple[tuple, dict] | None = None  # (table versions, _uncommitted_scope per table)
        self._means: dict[tuple, np.ndarray | None] = {}  # mean_vector per (encoder, modality, version)

    def _table_names(self) -> list[str]:
        lister = getattr(self.db, "list_tables", None)
        if lister is not None:
            result = lister()
            names = getattr(result, "tables", result)
            return list(names)
        return list(self.db.table_names())

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
            raise ValueError(f"invalid predicate {where!r}: {_lance_reason(exc, '', '')}") from None

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
                reason = _RUST_PATH.sub("", str(exc).splitlines()[0] if str(exc) else type(exc).__name__).strip()
                raise DamagedTable(f"{self.uri}: the {name} table cannot be read ({reason}); rebuild the index "
                                   f"into a new folder with `python -m indexer build SOURCE --out NEW_DIR`, or "
                                   f"go back to an earlier version of {name}.lance with LanceDB's "
                                   "Table.restore(version)") from None
            raise

    def filtered(self, name: str, where: str | None = None, columns: list[str] | None = None,
                 scope: str | None = None) -> pl.DataFrame:
        """Rows of table `name` that match the user filter `where` (checked and normalized by
        `normalize_where`) and the store's own predicate `scope`. A bad filter is a one-line
        ValueError naming only what the user wrote, never the scope around it."""
        user = normalize_where(where, name) if where and where.strip() else None
        hidden = self._uncommitted_scope(name)  # rows of a build that has not committed them (yet)
        scope = f"({scope}) AND {hidden}" if scope and hidden else (scope or hidden)
        if user is None:
            return self.table(name, scope, columns)
        pred = f"{scope} AND ({user})" if scope else user
        try:
            return self._scan(name, pred, columns)
        except DamagedTable:
            raise
        except (ValueError, RuntimeError) as exc:
            reason = _lance_reason(exc, pred, user)
        if scope and "encoder_id" in reason:  # LanceDB quoted the scope in another form: ask about the filter alone
            try:
                self.tables[name].search().where(user).limit(1).to_arrow()
                reason = "LanceDB could not evaluate it"
            except (ValueError, RuntimeError) as exc:
                reason = _lance_reason(exc, user, user)
            if "encoder_id" in reason:
                reason = "LanceDB could not evaluate it"
        raise ValueError(f"invalid filter {where!r}: {reason}")

    def recordings(self, where: str | None = None, *, scope: str | None = None) -> pl.DataFrame:
        """Recordings matching the user filter `where` (and the store's predicate `scope`)."""
        return self.filtered("recordings", where, scope=scope)

    def windows(self, where: str | None = None, columns: list[str] | None = None, *,
                scope: str | None = None) -> pl.DataFrame:
        """Windows matching the user filter `where` (and the store's predicate `scope`)."""
        return self.filtered("windows", where, columns, scope)

    def _uncommitted_scope(self, name: str) -> str | None:
        """A predicate leaving out the rows of table `name` that no commit-log row covers: those of
        a build that died (or is still running) between writing its windows and its `indexed` row.
        None when there are none, the usual case, told from the row counts the log keeps. Only
        the commits in flight can be uncommitted, so the predicate names a few recordings."""
        if name not in ("windows", "tokens", "recordings"):
            return None
        key = tuple(int(self.tables[t].version) for t in ("windows", "indexed", "recordings"))
        if self._hidden is None or self._hidden[0] != key:
            log = self.table("indexed", columns=["recording_id", "encoder_id", "windows"])
            whole = (int(log["windows"].sum() or 0) == self.count("windows")
                     and log["recording_id"].n_unique() == self.count("recordings"))
            preds: dict[str, str | None] = {"windows": None, "tokens": None, "recordings": None}
            if not whole:
                pairs = self.table("windows", columns=["recording_id", "encoder_id"]).unique()
                orphans = pairs.join(log.select("recording_id", "encoder_id"), on=["recording_id", "encoder_id"],
                                     how="anti")
                if orphans.height:
                    parts = [f"(encoder_id = {sql_str(enc[0])} AND {sql_in('recording_id', g['recording_id'].to_list())})"
                             for enc, g in orphans.group_by("encoder_id")]
                    preds["windows"] = preds["tokens"] = f"NOT ({' OR '.join(parts)})"
                recs = self.table("recordings", columns=["id"])
                lone = sorted(set(recs["id"].to_list()) - set(log["recording_id"].to_list()))
                if lone:
                    preds["recordings"] = f"NOT ({sql_in('id', lone)})"
            self._hidden = (key, preds)
        return self._hidden[1][name]

    def admitted_ids(self, where: str | None, scope: str, table: str = "windows") -> np.ndarray:
        """Sorted int64 ids of the rows of `table` a user filter admits within the store's `scope`.
        Kept per (filter, scope, table version): a filter repeated across queries, as a search
        page or a script does, is evaluated once until the table changes."""
        key = (table, scope, where, self.version(table))
        if key not in self._admitted:
            if len(self._admitted) >= ADMITTED_CACHE:
                self._admitted.pop(next(iter(self._admitted)))
            ids = self.filtered(table, where, ["id"], scope)["id"].to_numpy().astype(np.int64)
            self._admitted[key] = np.sort(ids)
        return self._admitted[key]

    def windows_by_id(self, ids: list[int], columns: list[str] | None = None) -> pl.DataFrame:
        """Rows of the windows with these ids (in no particular order). The metadata columns
        come from an in-memory copy, loaded once per table version (a search joins k rows in
        microseconds instead of a LanceDB scan); the vector, or a table too large to copy, is
        read from LanceDB."""
        ids = np.asarray(ids, dtype=np.int64)
        meta = self._window_meta() if columns is not None and set(columns) <= set(META_COLUMNS) else None
        if meta is not None:
            pos = self._meta_positions(ids)
            return meta[pos[pos >= 0]].select(columns)
        pred = f"id IN ({', '.join(map(str, ids.tolist()))})" if len(ids) else "id < 0"
        return self.table("windows", pred, columns)

    def windows_at(self, ids: np.ndarray, columns: list[str]) -> pl.DataFrame:
        """The `columns` of the windows `ids`, one row per id in the order given (repeats kept;
        nulls for an unknown id): what joins search hits to their metadata, from the in-memory
        copy without a polars join when the columns are metadata."""
        ids = np.asarray(ids, dtype=np.int64)
        meta = self._window_meta() if set(columns) <= set(META_COLUMNS) else None
        if meta is not None:
            pos = self._meta_positions(ids)
            if (pos >= 0).all():
                views = self._meta[3]  # the columns asked for, selected once per version
                if tuple(columns) not in views:
                    views[tuple(columns)] = meta.select(columns)
                return views[tuple(columns)][pos]
        found = self.windows_by_id(np.unique(ids), ["id", *[c for c in columns if c != "id"]])
        order = pl.DataFrame({"id": ids})
        return order.join(found, on="id", how="left", maintain_order="left").select(columns)

    def _meta_positions(self, ids: np.ndarray) -> np.ndarray:
        """Rows of the in-memory metadata holding `ids` (-1 where an id is not there)."""
        sorted_ids = self._meta[2]
        if len(sorted_ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
        return np.where(sorted_ids[pos] == ids, pos, -1)

    def _window_meta(self) -> pl.DataFrame | None:
        version = self.version("windows")
        if self._meta is None or self._meta[0] != version:
            if self.count("windows") > META_IN_MEMORY_MAX:
                return None
            meta = self.table("windows", None, META_COLUMNS).sort("id")
            self._meta = (version, meta, meta["id"].to_numpy().astype(np.int64), {})
        return self._meta[1]

    def version(self, name: str) -> int:
        """The version of table `name` this store reads, looked up once and then kept until this
        store writes. A table opened from lancedb.connect without a read_consistency_interval
        (as here) only moves on with this handle's own writes, so asking LanceDB on every search
        (a fraction of a millisecond each time) would only ever return the same number; another
        process's commits are seen by opening the index again."""
        if name not in self._versions:
            self._versions[name] = int(self.tables[name].version)
        return self._versions[name]

    def indexed_ids(self, encoder_id: str) -> set[str]:
        df = self.table("indexed", f"encoder_id = {sql_str(encoder_id)}", ["recording_id"])
        return set(df["recording_id"].to_list())

    def encoders(self) -> list[str]:
        """Encoder ids in the order they were first built into the index (the newest last)."""
        log = self.table("indexed", columns=["encoder_id", "built_at"])
        if log.height == 0:
            return []
        first = log.group_by("encoder_id").agg(pl.col("built_at").min()).sort(["built_at", "encoder_id"])
        return first["encoder_id"].to_list()

    def count(self, name: str, where: str | None = None) -> int:
        return int(self.tables[name].count_rows(where) if where else self.tables[name].count_rows())

    def vectors(self, encoder_id: str, modality: str, where: str | None = None,
                table: str = "windows") -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of one encoder and modality, optionally narrowed by a user filter
        (`table`: "windows" or "tokens")."""
        if table not in self.tables:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        df = self._committed(self.filtered(table, where, ["id", "recording_id", "vector"],
                                           scope=self.encoder_filter(encoder_id, modality)), encoder_id)
        if df.height == 0:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return df["id"].to_numpy(), np.stack(df["vector"].to_numpy()).astype(np.float32)

    def committed_ids(self, encoder_id: str, modality: str, table: str = "windows") -> np.ndarray:
        """Sorted ids of the rows of one encoder and modality that belong to committed recordings."""
        df = self._committed(self.table(table, self.encoder_filter(encoder_id, modality), ["id", "recording_id"]),
                             encoder_id)
        return np.sort(df["id"].to_numpy().astype(np.int64))

    def _committed(self, rows: pl.DataFrame, encoder_id: str) -> pl.DataFrame:
        """The rows whose recording is in the commit log for `encoder_id`. Rows of a build that
        died before its commit-log row are not part of the index yet: nothing that serves
        queries (FAISS files, in-memory rebuilds) may see them."""
        return rows.filter(pl.col("recording_id").is_in(list(self.indexed_ids(encoder_id))))

    # ---- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, wait: bool = False):
        """Hold the index's writer lock for a block: one build at a time, so window ids and
        commit-log rows cannot collide. A second writer fails at once with one line naming the
        holder (or, with `wait`, waits for it). A local file lock (flock): it goes with the
        process, so a killed build never leaves it held. On s3:// a lease object
        (indexer.lease: created with a conditional PUT, renewed while held, taken over once
        expired); other object stores have neither, so there the caller must make sure of one
        writer (said in the README)."""
        if self.uri.startswith("s3://"):
            lease = S3Lease(self.uri)
            lease.acquire(wait)
            self._lease = lease
            try:
                yield
            finally:
                self._lease = None
                lease.release()
            return
        if "://" in self.uri:
            yield
            return
        path = Path(self.uri) / WRITER_LOCK
        with open(path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                raise IndexLocked(f"{self.uri}: the index is being written by {holder}; wait for it to finish "
                                  "(or stop it) and run again") from None
            f.seek(0)
            f.truncate()
            f.write(f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}")
            f.flush()
            try:
                yield
            finally:
                f.seek(0)
                f.truncate()
                fcntl.flock(f, fcntl.LOCK_UN)

    @_writes
    def remove_incomplete(self) -> int:
        """Delete windows of (recording, encoder) pairs with no `indexed` row, and half-written
        side files (`*.tmp-*`): the leftovers of an interrupted build. Returns how many rows went."""
        for folder in (f"{self._root}/faiss", f"{self._root}/encoders"):
            if self._exists(folder):
                for info in self.fs.get_file_info(pyarrow.fs.FileSelector(folder, recursive=True)):
                    if ".tmp-" in info.base_name:
                        self.fs.delete_file(info.path)
        windows = self.table("windows", columns=["recording_id", "encoder_id"]).unique()
        done = self.table("indexed", columns=["recording_id", "encoder_id"])
        orphans = windows.join(done, on=["recording_id", "encoder_id"], how="anti")
        removed = 0
        for enc, group in orphans.group_by("encoder_id"):
            ids = group["recording_id"].to_list()
            pred = f"encoder_id = {sql_str(enc[0])} AND {sql_in('recording_id', ids)}"
            removed += self.count("windows", pred)
            self.tables["windows"].delete(pred)
        if "tokens" in self.tables:  # tokens are written with their windows, before the `indexed` row
            tokens = self.table("tokens", columns=["recording_id", "encoder_id"]).unique()
            for enc, group in tokens.join(done, on=["recording_id", "encoder_id"], how="anti").group_by("encoder_id"):
                self.tables["tokens"].delete(f"encoder_id = {sql_str(enc[0])} AND "
                                             f"{sql_in('recording_id', group['recording_id'].to_list())}")
        return removed

    def has_tokens(self, encoder_id: str | None = None) -> bool:
        if "tokens" not in self.tables:
            return False
        return self.count("tokens", self.encoder_filter(encoder_id) if encoder_id else None) > 0

    def next_token_id(self) -> int:
        if "tokens" not in self.tables or self.count("tokens") == 0:
            return 0
        return int(self.table("tokens", columns=["id"])["id"].max()) + 1

    def next_window_id(self) -> int:
        if self.count("windows") == 0:
            return 0
        return int(self.table("windows", columns=["id"])["id"].max()) + 1

    @_writes
    def commit(self, windows: list[dict], recordings: list[dict], done: list[tuple[str, str, int]],
               tokens: list[dict] | None = None) -> None:
        """Write window rows (and their token rows), then the recordings' metadata (those not
        there yet), then mark the (recording, encoder) pairs complete. Until that last write the
        windows and tokens do not count."""
        if self._lease is not None:
            self._lease.check()  # a build that lost its lease to another writes nothing more
        if windows:
            self._add("windows", pa.Table.from_pylist(windows, schema=WINDOWS_SCHEMA))
        if tokens:
            self._add("tokens", pa.Table.from_pylist(tokens, schema=TOKENS_SCHEMA))
        if recordings:
            have = set(self.table("recordings", sql_in("id", [r["id"] for r in recordings]), ["id"])["id"].to_list())
            new = [r for r in recordings if r["id"] not in have]
            if new:
                self._add("recordings", pa.Table.from_pylist(new, schema=RECORDINGS_SCHEMA))
        if done:
            now = time.time()
            log = [{"recording_id": r, "encoder_id": e, "windows": n, "built_at": now} for r, e, n in done]
            self._add("indexed", pa.Table.from_pylist(log, schema=INDEXED_SCHEMA))

    def _add(self, name: str, rows: pa.Table) -> None:
        with _writing(f"{self.uri}/{name}.lance"):
            self.tables[name].add(rows)

    @_writes
    def optimize(self) -> None:
        """Compact each table's fragments (many small commits slow every later read) and bring
        its scalar indexes up to date. Logical contents are unchanged, so a crash here leaves
        the index as it was."""
        for name, table in self.tables.items():
            if table.count_rows() == 0:
                continue
            with _writing(f"{self.uri}/{name}.lance"):
                have = {tuple(ix.columns) for ix in table.list_indices()}
                for column, kind in SCALAR_INDEXES.get(name, {}).items():
                    if (column,) not in have:
                        table.create_index(column, config=kind())
                table.optimize()

    # ---- encoders kept with the index, so queries embed with the very weights it was built with
    def _encoder_dir(self, encoder_id: str) -> str:
        return f"{self._root}/encoders/{_slug(encoder_id)}"

    def save_encoder(self, encoder_id: str, files) -> None:
        """Keep a model's checkpoint with the index; `files()` -> {name: bytes}, called only when
        the index does not hold this encoder yet. The config is written last, so a folder with
        one is complete."""
        folder = self._encoder_dir(encoder_id)
        if self._exists(f"{folder}/{ENCODER_COMPLETE}"):
            return
        self.fs.create_dir(folder, recursive=True)
        contents = files()
        for name in sorted(contents, key=lambda n: n == ENCODER_COMPLETE):
            self._write_atomic(f"{folder}/{name}", contents[name])

    def encoder_folder(self, encoder_id: str) -> Path:
        """A local folder holding the checkpoint an index was built with (copied to a temp
        folder when the index is remote); load it with `encoders.load_checkpoint`."""
        folder = self._encoder_dir(encoder_id)
        if "://" not in self.uri:
            return Path(folder)
        local = Path(tempfile.mkdtemp(prefix="motionsearch-encoder-"))
        for info in self.fs.get_file_info(pyarrow.fs.FileSelector(folder)):
            (local / Path(info.path).name).write_bytes(self._read(info.path))
        return local

    def mean_vector(self, encoder_id: str, modality: str, sample: int = MEAN_SAMPLE) -> np.ndarray | None:
        """The mean of the stored vectors of one encoder and modality (over at most `sample`
        windows), the archive's common direction that zero-shot scores are taken relative to
        (query.text_aligned); None when there is none. Cached per table version."""
        key = (encoder_id, modality, int(self.tables["windows"].version))
        if key not in self._means:
            pred = self.encoder_filter(encoder_id, modality)
            hidden = self._uncommitted_scope("windows")
            pred = f"({pred}) AND {hidden}" if hidden else pred
            rows = self.tables["windows"].search().where(pred).select(["vector"]).limit(sample).to_arrow()
            vectors = np.stack(rows["vector"].to_numpy(zero_copy_only=False)) if rows.num_rows else None
            self._means[key] = None if vectors is None else vectors.astype(np.float64).mean(0).astype(np.float32)
        return self._means[key]

    @staticmethod
    def encoder_filter(encoder_id: str, modality: str | None = None) -> str:
        pred = f"encoder_id = {sql_str(encoder_id)}"
        return pred + (f" AND modality = {sql_str(modality)}" if modality else "")

    # ---- FAISS -----------------------------------------------------------------------------
    def _faiss_path(self, encoder_id: str, modality: str, table: str = "windows") -> str:
        kind = modality if table == "windows" else f"{table}.{modality}"
        return f"{self._root}/faiss/{_slug(encoder_id)}.{kind}.faiss"

    def _write_atomic(self, path: str, content: bytes | Callable) -> object:
        """Write `content` (bytes, or a function that writes to the open stream and returns
        something, e.g. a checksum) to `path` so that a reader sees the old file or the new one,
        never half; returns what the function returned. Locally: a temporary file renamed into
        place. On an object store one PUT (or multipart upload) already appears whole when it
        completes, and a "rename" is a copy and a delete, neither atomic nor cheap: the object
        is written in place."""
        write = content if callable(content) else (lambda f: f.write(content))
        if not isinstance(self.fs, pyarrow.fs.LocalFileSystem):
            with _writing(path), self.fs.open_output_stream(path) as f:
                return write(f)
        tmp = f"{path}.tmp-{time.time_ns()}"
        try:
            with _writing(path), self.fs.open_output_stream(tmp) as f:
                out = write(f)
        except OSError:
            with contextlib.suppress(OSError):  # nothing half-written is left behind
                self.fs.delete_file(tmp)
            raise
        self.fs.move(tmp, path)
        return out

    def _read(self, path: str) -> bytes:
        with self.fs.open_input_stream(path) as f:
            return f.read()

    def _exists(self, path: str) -> bool:
        return self.fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound

    def _vector_batches(self, encoder_id: str, modality: str, table: str = "windows",
                        new: np.ndarray | None = None):
        """(ids, vectors) of the committed rows of one encoder and modality, SCAN_BATCH rows at a
        time from a LanceDB scan (never the whole table in memory); `new`: only these sorted ids."""
        committed = pa.array(sorted(self.indexed_ids(encoder_id)), pa.string())
        pred = self.encoder_filter(encoder_id, modality)
        if new is not None:
            if len(new) == 0:
                return
            pred += f" AND id >= {int(new[0])} AND id <= {int(new[-1])}"
        query = self.tables[table].search().where(pred).select(["id", "recording_id", "vector"]).limit(None)
        for batch in query.to_batches(SCAN_BATCH):
            keep = pc.is_in(batch.column("recording_id"), value_set=committed)
            if new is not None:
                keep = pc.and_(keep, pc.is_in(batch.column("id"), value_set=pa.array(new, pa.int64())))
            batch = batch.filter(keep)
            if batch.num_rows:
                flat = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
                yield batch.column("id").to_numpy(), flat.reshape(batch.num_rows, -1)

    def _dimension(self, encoder_id: str, modality: str, table: str) -> int:
        """The vector width of one encoder and modality (read from one row)."""
        row = self.tables[table].search().where(self.encoder_filter(encoder_id, modality)).select(["vector"])
        return len(row.limit(1).to_arrow().column("vector")[0])

    def _build_faiss(self, encoder_id: str, modality: str, table: str, kind: str, count: int, on_trained=None):
        """(index, tuned): a streaming build (vectors.build_streaming) from the LanceDB rows."""
        return vectors.build_streaming(lambda: self._vector_batches(encoder_id, modality, table), count,
                                       self._dimension(encoder_id, modality, table), kind, on_trained=on_trained)

    def write_faiss(self, encoder_id: str, modality: str, encoder_checksum: str,
                    factory: str | None = None, table: str = "windows") -> dict:
        """Bring the FAISS index of one encoder and modality up to date with the LanceDB vectors
        of `table` ("windows", or "tokens" for a token encoder's 0.2 s vectors), and write it.

        An index is three files: the main index, the sorted ids it holds (`.ids`), and a delta
        index (`.delta.faiss`, same trained quantizer) with the windows added since; a query
        searches both as one (vectors.sharded). When the files on disk are sound and hold a
        subset of the committed rows, only the new rows are read from LanceDB and added to the
        delta, the main file is not even read (`mode` "delta"); once the delta would pass
        DELTA_MAX_SHARE of the main index it is merged into it ("compacted"). nprobe / efSearch
        keep their tuned values. The index is rebuilt in bounded memory (vectors.build_streaming,
        "full") when there is no sound index, or vectors.extendable says so (another type asked
        for, Flat outgrown, or an IVF grown past RETRAIN_GROWTH times its training count)."""
        want = self.committed_ids(encoder_id, modality, table)
        if len(want) == 0:
            raise LookupError(f"the index holds no {modality!r} {table} for encoder {encoder_id!r}")
        path = self._faiss_path(encoder_id, modality, table)
        base = path[: -len(".faiss")]
        old = (self._read_manifest(base + ".json") or {}) if self._exists(base + ".json") else {}
        self.fs.create_dir(f"{self._root}/faiss", recursive=True)
        files = None
        if old.get("delta_sha256") and vectors.extendable(old, len(want), factory):
            files = self._extend_faiss(encoder_id, modality, table, want, path, old)
        if files is None:
            template = []
            index, tuned = self._build_faiss(encoder_id, modality, table, vectors.choose_factory(len(want), factory),
                                             len(want), on_trained=lambda inner: template.append(
                                                 vectors.empty_copy(inner)))
            files = {"mode": "full", "added": int(index.ntotal), "search_params": tuned,
                     "index_type": vectors.choose_factory(len(want), factory),
                     "auto_type": not factory or factory == "auto",
                     "trained_count": len(want) if vectors.is_ivf(index) else None,
                     **self._write_main(path, index, want), **self._write_delta(path, template[0])}
            del index
        manifest = {
            "encoder_id": encoder_id,
            "modality": modality,
            "index_type": files["index_type"],
            "auto_type": files["auto_type"],
            "metric": "inner_product",
            "dimension": int(self._dimension(encoder_id, modality, table)),
            "count": int(len(want)),
            "encoder_checksum": encoder_checksum,
            "index_sha256": files["index_sha256"],
            "main_count": files["main_count"],
            "main_ids_sha256": files["main_ids_sha256"],
            "delta_count": files["delta_count"],
            "delta_sha256": files["delta_sha256"],
            "search_params": files["search_params"],
            "trained_count": files["trained_count"],
            "mode": files["mode"],
            "added": files["added"],
            "windows_table_version": int(self.tables["windows"].version),
            "built_at": time.time(),
        }
        if table != "windows":
            manifest.update(table=table, table_version=int(self.tables[table].version))
        self._write_atomic(base + ".json", json.dumps(manifest, indent=2).encode())
        self._faiss.pop((encoder_id, modality) if table == "windows" else (encoder_id, modality, table), None)
        return manifest

    def _extend_faiss(self, encoder_id: str, modality: str, table: str, want: np.ndarray, path: str,
                      old: dict) -> dict | None:
        """Add the committed rows the files do not hold yet, to the delta (or, past
        DELTA_MAX_SHARE, merged into the main index); the files' part of the manifest, or None
        when the files are not sound or hold rows that are not committed (a full build then)."""
        base = path[: -len(".faiss")]
        main_ids = self._read_ids(base + ".ids", old.get("main_ids_sha256"))
        delta = self._read_index_file(base + ".delta.faiss", old.get("delta_sha256"))
        if main_ids is None or delta is None or delta.d != old.get("dimension"):
            return None
        delta_ids = vectors.held_ids(delta)
        held = np.union1d(main_ids, delta_ids)
        if len(held) != len(main_ids) + len(delta_ids) or not np.isin(held, want, assume_unique=True).all():
            return None
        new = np.setdiff1d(want, held, assume_unique=True)
        keep = {n: old.get(n) for n in ("index_type", "auto_type", "search_params", "trained_count")}
        if len(delta_ids) + len(new) <= DELTA_MAX_SHARE * len(main_ids):
            added = vectors.add_batches(delta, self._vector_batches(encoder_id, modality, table, new=new))
            if added != len(new):  # rows went missing between the two reads
                return None
            return {**keep, "mode": "delta", "added": added, "index_sha256": old["index_sha256"],
                    "main_count": len(main_ids), "main_ids_sha256": old["main_ids_sha256"],
                    **self._write_delta(path, delta)}
        main = self._read_index_file(path, old.get("index_sha256"))
        if main is None:
            return None
        fresh = np.setdiff1d(want, main_ids, assume_unique=True)  # the delta's rows and the new ones
        added = vectors.add_batches(main, self._vector_batches(encoder_id, modality, table, new=fresh))
        if main.ntotal != len(want):
            return None
        delta.reset()
        return {**keep, "mode": "compacted", "added": len(new), **self._write_main(path, main, want),
                **self._write_delta(path, delta)}

    def _write_main(self, path: str, index, ids: np.ndarray) -> dict:
        ids = np.ascontiguousarray(ids, dtype="<i8")
        blob = ids.tobytes()
        self._write_atomic(path[: -len(".faiss")] + ".ids", blob)
        return {"index_sha256": self._write_index_atomic(path, index), "main_count": int(len(ids)),
                "main_ids_sha256": hashlib.sha256(blob).hexdigest()}

    def _write_delta(self, path: str, delta) -> dict:
        return {"delta_sha256": self._write_index_atomic(path[: -len(".faiss")] + ".delta.faiss", delta),
                "delta_count": int(delta.ntotal)}

    def _read_ids(self, path: str, sha256: str | None) -> np.ndarray | None:
        if not sha256 or not self._exists(path):
            return None
        blob = self._read(path)
        return np.frombuffer(blob, dtype="<i8").astype(np.int64) if hashlib.sha256(blob).hexdigest() == sha256 else None

    def _write_index_atomic(self, path: str, index) -> str:
        """Stream a FAISS index into `path` (as _write_atomic does, without a serialised copy of
        the index in memory); its sha256."""
        return self._write_atomic(path, lambda f: vectors.write_index(index, f.write))

    def _read_index_file(self, path: str, sha256: str | None):
        """The FAISS index in `path`, streamed (no copy of its bytes in memory); None unless it
        exists, loads and its sha256 is `sha256`."""
        if not sha256 or not self._exists(path):
            return None
        with self.fs.open_input_stream(path) as f:
            index, digest = vectors.read_index(f.read)
        return index if digest == sha256 else None

    def _loaded_faiss(self, path: str, count: int | None) -> tuple[dict, object]:
        """(manifest, index) of an index's files: the main index and, when the manifest names a
        non-empty delta, both searched as one (vectors.sharded); index None unless every file
        loads with the manifest's checksums and (when `count` is given) they hold `count`
        vectors; ({}, None) without a manifest."""
        base = path[: -len(".faiss")]
        if not self._exists(base + ".json"):
            return {}, None
        manifest = self._read_manifest(base + ".json") or {}
        if not manifest or (count is not None and manifest.get("count") != count):
            return manifest, None
        index = self._read_index_file(path, manifest.get("index_sha256"))
        if index is not None and manifest.get("delta_sha256"):
            delta = self._read_index_file(base + ".delta.faiss", manifest["delta_sha256"])
            if delta is None:
                return manifest, None
            if delta.ntotal:
                index = vectors.sharded([index, delta])
        return manifest, index

    def faiss_manifests(self) -> list[dict]:
        folder = f"{self._root}/faiss"
        if not self._exists(folder):
            return []
        sel = pyarrow.fs.FileSelector(folder)
        infos = self.fs.get_file_info(sel)
        files = {info.path for info in infos}
        # A manifest counts only with its index file beside it: one whose file is gone is rewritten.
        found = (self._read_manifest(info.path) for info in infos
                 if info.path.endswith(".json") and info.path[: -len(".json")] + ".faiss" in files)
        return [m for m in found if m is not None]

    def _read_manifest(self, path: str) -> dict | None:
        """A FAISS manifest, or None when it is unreadable: the accelerator it describes is then
        treated as missing and rebuilt, instead of a damaged side file breaking builds and queries."""
        try:
            manifest = json.loads(self._read(path))
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) else None

    def _discard(self, *paths: str) -> None:
        """Remove side files found damaged, stale or foreign, so the next build writes them anew;
        only while no build is writing (it may be replacing them right now)."""
        try:
            with self.writer():
                for p in paths:
                    with contextlib.suppress(OSError):
                        self.fs.delete_file(p)
        except (IndexLocked, OSError):
            pass

    def faiss(self, encoder_id: str, modality: str, table: str = "windows") -> FaissEntry:
        """The FAISS index of one encoder and modality, loaded once and kept. An index whose
        manifest disagrees with LanceDB (stale or missing) is rebuilt in memory from LanceDB."""
        key = (encoder_id, modality) if table == "windows" else (encoder_id, modality, table)
        if key in self._faiss:
            return self._faiss[key]
        path = self._faiss_path(encoder_id, modality, table)
        want = self.committed_ids(encoder_id, modality, table) if table in self.tables else np.zeros(0, np.int64)
        if len(want) == 0:
            raise LookupError(f"the index holds no {modality!r} {table} for encoder {encoder_id!r}")
        manifest, index = self._loaded_faiss(path, len(want))
        # The file may come from elsewhere: it is used only if it loads and holds exactly the
        # committed windows; otherwise LanceDB rebuilds it.
        if not vectors.holds(index, want, manifest.get("dimension")):
            index = None
        damaged = index is None and (manifest.get("count") == len(want) if manifest else self._exists(path))
        if damaged:  # damaged or foreign (a merely stale one is kept: the next build adds to it)
            base = path[: -len(".faiss")]
            self._discard(path, base + ".json", base + ".ids", base + ".delta.faiss")
        if index is not None:
            vectors.apply_params(index, manifest.get("search_params"))
        else:  # LanceDB is the truth; the accelerator is rebuilt from it
            kind = vectors.choose_factory(len(want))
            index, tuned = self._build_faiss(encoder_id, modality, table, kind, len(want))
            manifest = {"encoder_id": encoder_id, "modality": modality, "index_type": kind, "count": len(want),
                        "dimension": int(index.d), "rebuilt_in_memory": True, "search_params": tuned}
        device = vectors.on_best_device(index)
        entry = FaissEntry(device, manifest, cpu=index if device is not index else None)
        self._faiss[key] = entry
        return entry
