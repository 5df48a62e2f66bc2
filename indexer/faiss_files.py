"""The FAISS file set of an index: rebuildable accelerators over the LanceDB vectors.

    DIR/faiss/<encoder>.<modality>.faiss + .json   the main index + its manifest
    DIR/faiss/<encoder>.<modality>.ids             the sorted ids the main index holds
    DIR/faiss/<encoder>.<modality>.delta.faiss     the windows added since (same trained quantizer)
    DIR/faiss/<encoder>.tokens.<modality>.*        the same for a token encoder's 0.2 s vectors

`FaissFiles` is composed over an `IndexStore` (the store holds one, `store.faiss_files`): it
asks the store which rows are committed and reads their vectors from its tables; LanceDB stays
the truth. A build calls `refresh(table, ...)` once per table; a query calls `get(...)`, which
loads the files once (checking them against the committed rows: a file may come from
elsewhere) or rebuilds the index in memory from LanceDB, and keeps it, on the GPU when there is
one. Files are written through `indexer.sidefiles`, atomically.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs

from indexer import sidefiles, sql, vectors
from indexer.errors import IndexLocked
from indexer.model import Modality

SCAN_BATCH = 20_000  # rows per batch a FAISS build reads from LanceDB (30 MB of 384-d vectors)
DELTA_MAX_SHARE = 0.1  # new windows go to a FAISS index's delta file until it holds this share of the main one


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


class FaissFiles:
    """The FAISS files of the index `store` (an IndexStore) and the indexes loaded from them."""

    def __init__(self, store):
        self.store = store
        self._loaded: dict[tuple, FaissEntry] = {}
        self._means: dict[tuple, np.ndarray | None] = {}  # mean_vector per (encoder, modality, table version)

    @property
    def fs(self) -> pyarrow.fs.FileSystem:
        return self.store.fs

    def path(self, encoder_id: str, modality: Modality, table: str = "windows") -> str:
        kind = modality if table == "windows" else f"{table}.{modality}"
        return f"{self.store.root}/faiss/{sidefiles.slug(encoder_id)}.{kind}.faiss"

    @staticmethod
    def _key(encoder_id: str, modality: Modality, table: str) -> tuple:
        return (encoder_id, modality) if table == "windows" else (encoder_id, modality, table)

    # ---- writing -------------------------------------------------------------------------
    def refresh(self, table: str, encoder_id: str, modalities, encoder_checksum: str, touched: set[str],
                factory: str | None = None) -> list[dict]:
        """After a build: bring the files of one encoder's `table` ("windows", or "tokens") up to
        date for each modality the build `touched`, or whose manifest's count disagrees with
        LanceDB (an earlier build died between its LanceDB commit and its FAISS write, or a crash
        cleanup removed rows). The manifests written."""
        have = {(m["encoder_id"], m["modality"]): m.get("count") for m in self.manifests()
                if m.get("table", "windows") == table}
        written = []
        for modality in modalities:
            count = self.store.count(table, encoder=encoder_id, modality=modality)
            if count and (modality in touched or have.get((encoder_id, modality)) != count):
                written.append(self.write(encoder_id, modality, encoder_checksum, factory, table=table))
        return written

    def write(self, encoder_id: str, modality: Modality, encoder_checksum: str,
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
        want = self.store.committed_ids(encoder_id, modality, table)
        if len(want) == 0:
            raise LookupError(f"the index holds no {modality!r} {table} for encoder {encoder_id!r}")
        path = self.path(encoder_id, modality, table)
        base = path[: -len(".faiss")]
        old = (self._read_manifest(base + ".json") or {}) if sidefiles.exists(self.fs, base + ".json") else {}
        self.fs.create_dir(f"{self.store.root}/faiss", recursive=True)
        files = None
        if old.get("delta_sha256") and vectors.extendable(old, len(want), factory):
            files = self._extend(encoder_id, modality, table, want, path, old)
        if files is None:
            template = []
            kind = vectors.choose_factory(len(want), factory)
            index, tuned = self._build(encoder_id, modality, table, kind, len(want),
                                       on_trained=lambda inner: template.append(vectors.empty_copy(inner)))
            files = {"mode": "full", "added": int(index.ntotal), "search_params": tuned, "index_type": kind,
                     "auto_type": not factory or factory == "auto",
                     "trained_count": len(want) if vectors.is_ivf(index) else None,
                     **self._write_main(path, index, want), **self._write_delta(path, template[0])}
            del index
        manifest = {
            "encoder_id": encoder_id, "modality": modality, "index_type": files["index_type"],
            "auto_type": files["auto_type"], "metric": "inner_product",
            "dimension": int(self._dimension(encoder_id, modality, table)), "count": int(len(want)),
            "encoder_checksum": encoder_checksum,
            **{n: files[n] for n in ("index_sha256", "main_count", "main_ids_sha256", "delta_count", "delta_sha256",
                                     "search_params", "trained_count", "mode", "added")},
            "windows_table_version": int(self.store.tables["windows"].version),
            "built_at": time.time(),
        }
        if table != "windows":
            manifest.update(table=table, table_version=int(self.store.tables[table].version))
        sidefiles.write_atomic(self.fs, base + ".json", json.dumps(manifest, indent=2).encode())
        self._loaded.pop(self._key(encoder_id, modality, table), None)
        return manifest

    def _extend(self, encoder_id: str, modality: Modality, table: str, want: np.ndarray, path: str,
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
            added = vectors.add_batches(delta, self.vector_batches(encoder_id, modality, table, new=new))
            if added != len(new):  # rows went missing between the two reads
                return None
            return {**keep, "mode": "delta", "added": added, "index_sha256": old["index_sha256"],
                    "main_count": len(main_ids), "main_ids_sha256": old["main_ids_sha256"],
                    **self._write_delta(path, delta)}
        main = self._read_index_file(path, old.get("index_sha256"))
        if main is None:
            return None
        fresh = np.setdiff1d(want, main_ids, assume_unique=True)  # the delta's rows and the new ones
        vectors.add_batches(main, self.vector_batches(encoder_id, modality, table, new=fresh))
        if main.ntotal != len(want):
            return None
        delta.reset()
        return {**keep, "mode": "compacted", "added": len(new), **self._write_main(path, main, want),
                **self._write_delta(path, delta)}

    def _write_main(self, path: str, index, ids: np.ndarray) -> dict:
        ids = np.ascontiguousarray(ids, dtype="<i8")
        blob = ids.tobytes()
        sidefiles.write_atomic(self.fs, path[: -len(".faiss")] + ".ids", blob)
        return {"index_sha256": self._write_index(path, index), "main_count": int(len(ids)),
                "main_ids_sha256": hashlib.sha256(blob).hexdigest()}

    def _write_delta(self, path: str, delta) -> dict:
        return {"delta_sha256": self._write_index(path[: -len(".faiss")] + ".delta.faiss", delta),
                "delta_count": int(delta.ntotal)}

    def _write_index(self, path: str, index) -> str:
        """Stream a FAISS index into `path` (atomically, without a serialised copy of the index
        in memory); its sha256."""
        return sidefiles.write_atomic(self.fs, path, lambda f: vectors.write_index(index, f.write))

    # ---- reading the files ---------------------------------------------------------------
    def _read_ids(self, path: str, sha256: str | None) -> np.ndarray | None:
        if not sha256 or not sidefiles.exists(self.fs, path):
            return None
        blob = sidefiles.read(self.fs, path)
        return np.frombuffer(blob, dtype="<i8").astype(np.int64) if hashlib.sha256(blob).hexdigest() == sha256 else None

    def _read_index_file(self, path: str, sha256: str | None):
        """The FAISS index in `path`, streamed (no copy of its bytes in memory); None unless it
        exists, loads and its sha256 is `sha256`."""
        if not sha256 or not sidefiles.exists(self.fs, path):
            return None
        with self.fs.open_input_stream(path) as f:
            index, digest = vectors.read_index(f.read)
        return index if digest == sha256 else None

    def _read_manifest(self, path: str) -> dict | None:
        """A FAISS manifest, or None when it is unreadable: the accelerator it describes is then
        treated as missing and rebuilt, instead of a damaged side file breaking builds and queries."""
        try:
            manifest = json.loads(sidefiles.read(self.fs, path))
        except (OSError, ValueError):
            return None
        return manifest if isinstance(manifest, dict) else None

    def manifests(self) -> list[dict]:
        folder = f"{self.store.root}/faiss"
        if not sidefiles.exists(self.fs, folder):
            return []
        infos = self.fs.get_file_info(pyarrow.fs.FileSelector(folder))
        files = {info.path for info in infos}
        # A manifest counts only with its index file beside it: one whose file is gone is rewritten.
        found = (self._read_manifest(info.path) for info in infos
                 if info.path.endswith(".json") and info.path[: -len(".json")] + ".faiss" in files)
        return [m for m in found if m is not None]

    def _loaded_files(self, path: str, count: int | None) -> tuple[dict, object]:
        """(manifest, index) of an index's files: the main index and, when the manifest names a
        non-empty delta, both searched as one (vectors.sharded); index None unless every file
        loads with the manifest's checksums and (when `count` is given) they hold `count`
        vectors; ({}, None) without a manifest."""
        base = path[: -len(".faiss")]
        if not sidefiles.exists(self.fs, base + ".json"):
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

    def _discard(self, *paths: str) -> None:
        """Remove side files found damaged, stale or foreign, so the next build writes them anew;
        only while no build is writing (it may be replacing them right now)."""
        try:
            with self.store.writer():
                for p in paths:
                    with contextlib.suppress(OSError):
                        self.fs.delete_file(p)
        except (IndexLocked, OSError):
            pass

    def get(self, encoder_id: str, modality: Modality, table: str = "windows") -> FaissEntry:
        """The FAISS index of one encoder and modality, loaded once and kept. An index whose
        manifest disagrees with LanceDB (stale or missing) is rebuilt in memory from LanceDB."""
        key = self._key(encoder_id, modality, table)
        if key in self._loaded:
            return self._loaded[key]
        path = self.path(encoder_id, modality, table)
        want = (self.store.committed_ids(encoder_id, modality, table) if table in self.store.tables
                else np.zeros(0, np.int64))
        if len(want) == 0:
            raise LookupError(f"the index holds no {modality!r} {table} for encoder {encoder_id!r}")
        manifest, index = self._loaded_files(path, len(want))
        # The file may come from elsewhere: it is used only if it loads and holds exactly the
        # committed windows; otherwise LanceDB rebuilds it.
        if not vectors.holds(index, want, manifest.get("dimension")):
            index = None
        damaged = index is None and (manifest.get("count") == len(want) if manifest else sidefiles.exists(self.fs, path))
        if damaged:  # damaged or foreign (a merely stale one is kept: the next build adds to it)
            base = path[: -len(".faiss")]
            self._discard(path, base + ".json", base + ".ids", base + ".delta.faiss")
        if index is not None:
            vectors.apply_params(index, manifest.get("search_params"))
        else:  # LanceDB is the truth; the accelerator is rebuilt from it
            kind = vectors.choose_factory(len(want))
            index, tuned = self._build(encoder_id, modality, table, kind, len(want))
            manifest = {"encoder_id": encoder_id, "modality": modality, "index_type": kind, "count": len(want),
                        "dimension": int(index.d), "rebuilt_in_memory": True, "search_params": tuned}
        device = vectors.on_best_device(index)
        entry = FaissEntry(device, manifest, cpu=index if device is not index else None)
        self._loaded[key] = entry
        return entry

    # ---- reading LanceDB -----------------------------------------------------------------
    def vector_batches(self, encoder_id: str, modality: Modality, table: str = "windows",
                        new: np.ndarray | None = None):
        """(ids, vectors) of the committed rows of one encoder and modality, SCAN_BATCH rows at a
        time from a LanceDB scan (never the whole table in memory); `new`: only these sorted ids."""
        committed = pa.array(sorted(self.store.indexed_ids(encoder_id)), pa.string())
        if new is not None and len(new) == 0:
            return
        pred = sql.scope(table, encoder=encoder_id, modality=modality,
                         id_range=None if new is None else (new[0], new[-1]))
        query = self.store.tables[table].search().where(pred).select(["id", "recording_id", "vector"]).limit(None)
        for batch in query.to_batches(SCAN_BATCH):
            keep = pc.is_in(batch.column("recording_id"), value_set=committed)
            if new is not None:
                keep = pc.and_(keep, pc.is_in(batch.column("id"), value_set=pa.array(new, pa.int64())))
            batch = batch.filter(keep)
            if batch.num_rows:
                flat = batch.column("vector").flatten().to_numpy(zero_copy_only=False)
                yield batch.column("id").to_numpy(), flat.reshape(batch.num_rows, -1)

    def mean_vector(self, encoder_id: str, modality: Modality) -> np.ndarray | None:
        """The mean of the committed vectors of one encoder and modality, the archive's common
        direction that zero-shot scores are taken relative to (query.text_aligned); None when
        there is none. Streamed in batches as a FAISS build reads them, cached per table version."""
        key = (encoder_id, modality, int(self.store.tables["windows"].version))
        if key not in self._means:
            total, count = None, 0
            for _, batch in self.vector_batches(encoder_id, modality):
                part = batch.astype(np.float64).sum(0)
                total, count = (part if total is None else total + part), count + len(batch)
            self._means[key] = None if total is None else (total / count).astype(np.float32)
        return self._means[key]

    def _dimension(self, encoder_id: str, modality: Modality, table: str) -> int:
        """The vector width of one encoder and modality (read from one row)."""
        pred = sql.scope(table, encoder=encoder_id, modality=modality)
        row = self.store.tables[table].search().where(pred).select(["vector"])
        return len(row.limit(1).to_arrow().column("vector")[0])

    def _build(self, encoder_id: str, modality: Modality, table: str, kind: str, count: int, on_trained=None):
        """(index, tuned): a streaming build (vectors.build_streaming) from the LanceDB rows."""
        return vectors.build_streaming(lambda: self.vector_batches(encoder_id, modality, table), count,
                                       self._dimension(encoder_id, modality, table), kind, on_trained=on_trained)
