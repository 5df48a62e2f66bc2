"""What an index keeps beside its tables besides the FAISS files: the checkpoints it was built
with and the concepts taught to it by example.

    DIR/encoders/<id>/   model.safetensors + config.json (config.json written last: a folder
                         holding it is complete), so queries embed with the very weights the
                         index was built with
    DIR/concepts.json    concepts taught by example (query's Index.teach); builds, full or
                         incremental, never touch it, so concepts outlive rebuilds of the tables

`KeptFiles` is composed over an `IndexStore` (the store holds one, `store.kept`) and reads and
writes through `indexer.sidefiles`, atomically, on a local folder or an object store alike.
"""
from __future__ import annotations

import json
from pathlib import Path

import pyarrow.fs

from indexer import sidefiles
from indexer.errors import ReadOnlyIndex, first_line

# The checkpoint file that completes an encoder folder kept in an index (written last).
ENCODER_COMPLETE = "config.json"
CONCEPTS = "concepts.json"  # concepts taught by example, beside the tables (KeptFiles.concepts)


class KeptFiles:
    """The kept checkpoints and the concepts file of the index `store` (an IndexStore), read and
    written through the store's filesystem as it is at each call."""

    def __init__(self, store):
        self.store = store

    @property
    def fs(self) -> pyarrow.fs.FileSystem:
        return self.store.fs

    @property
    def root(self) -> str:
        return self.store.root

    @property
    def uri(self) -> str:
        return self.store.uri

    # ---- encoders kept with the index ----------------------------------------------------
    def encoder_dir(self, encoder_id: str) -> str:
        return f"{self.root}/encoders/{sidefiles.slug(encoder_id)}"

    def save_encoder(self, encoder_id: str, files) -> None:
        """Keep a model's checkpoint with the index; `files()` -> {name: bytes}, called only when
        the index does not hold this encoder yet (the config is written last: sidefiles.save_folder)."""
        sidefiles.save_folder(self.fs, self.encoder_dir(encoder_id), files, last=ENCODER_COMPLETE)

    def encoder_folder(self, encoder_id: str) -> Path:
        """A local folder holding the checkpoint an index was built with (copied to a temp
        folder when the index is remote); load it with `encoders.load_checkpoint`."""
        return sidefiles.local_folder(self.fs, self.encoder_dir(encoder_id), remote="://" in self.uri)

    # ---- concepts taught by example: one small JSON file, written whole and atomically ----
    def concepts(self) -> dict:
        """The concepts taught to this index, {key: concept dict} (empty when none was)."""
        path = f"{self.root}/{CONCEPTS}"
        try:
            if not sidefiles.exists(self.fs, path):
                return {}
            data = json.loads(sidefiles.read(self.fs, path))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{self.uri}: {CONCEPTS} cannot be read ({first_line(exc).strip()}); delete it to "
                             "forget every concept, or restore it from a copy") from None
        if not isinstance(data, dict) or not isinstance(data.get("concepts"), dict):
            raise ValueError(f"{self.uri}: {CONCEPTS} is not a concepts file; delete it to forget every concept")
        return data["concepts"]

    def save_concepts(self, concepts: dict) -> None:
        """Replace the concepts file with `concepts` (atomically: readers see the old file or the new).
        An index that cannot be written is refused in one line (ReadOnlyIndex)."""
        body = json.dumps({"format": 1, "concepts": concepts}, separators=(",", ":")).encode()
        try:
            sidefiles.write_atomic(self.fs, f"{self.root}/{CONCEPTS}", body)
        except OSError as exc:
            raise ReadOnlyIndex(f"{self.uri}: cannot write {CONCEPTS} ({exc.strerror or first_line(exc).strip()}); "
                                "teach and forget need an index you can write to") from None
