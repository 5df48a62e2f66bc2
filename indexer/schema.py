"""The tables of an index: their Arrow schemas, the scalar indexes kept on them, and the columns a
user filter may name (`normalize_where` checks a filter against them). `indexer.store` writes
and reads the tables.

    DIR/
      recordings.lance   one row per recording (metadata)
      windows.lance      one row per (window, encoder): ids, times, label, vector  <- the truth
      indexed.lance      the commit log: (recording, encoder) pairs whose windows are complete
      tokens.lance       one row per 0.2 s token of a window (token encoders only)
"""
from __future__ import annotations

import pyarrow as pa
from lancedb.index import Bitmap, BTree

from indexer import filters

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

# Scalar indexes kept on each table (IndexStore.optimize): id lookups of search hits and the
# store's own encoder/modality scope then cost O(k) and O(admitted), not a scan of the table.
SCALAR_INDEXES = {
    "windows": {"id": BTree, "recording_id": BTree, "encoder_id": Bitmap, "modality": Bitmap},
    "tokens": {"id": BTree, "window_id": BTree, "recording_id": BTree, "encoder_id": Bitmap, "modality": Bitmap},
    "recordings": {"id": BTree},
    "indexed": {"recording_id": BTree, "encoder_id": Bitmap},
}

# Window metadata an open store keeps in memory for joining search hits (about 100 bytes a row).
META_COLUMNS = ["id", "recording_id", "dataset", "subject", "modality", "body_part", "t_start", "t_end",
                "label", "encoder_id"]

# The columns a user filter (--where) may name, per table; the rest (encoder_id, vector, the
# window and token ids) are the store's own and refused with the list of these.
FILTER_COLUMNS = {
    "windows": ("dataset", "subject", "recording_id", "label", "modality", "body_part", "t_start", "t_end"),
    "recordings": ("id", "dataset", "subject", "trial", "labels", "text", "duration", "modalities", "sources"),
    "tokens": ("recording_id", "modality", "body_part", "t_start", "t_end"),
}


def string_columns(schema: pa.Schema) -> set[str]:
    return {f.name for f in schema if pa.types.is_string(f.type)}


def normalize_where(where: str | None, table: str | None = None) -> str | None:
    """A user filter as SQL for LanceDB (indexer.filters): numbers compared with string columns
    are quoted (`subject = 2` -> `subject = '2'`), only the columns of FILTER_COLUMNS[table] may
    be named (those of every table when `table` is None), anything else is a one-line ValueError."""
    tables = [table] if table else list(FILTER_COLUMNS)
    allowed = {c for t in tables for c in FILTER_COLUMNS[t]}
    strings = {c for t in tables for c in string_columns(TABLES[t])} & allowed
    return filters.normalize_where(where, allowed, strings)
