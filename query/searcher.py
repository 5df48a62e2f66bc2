"""What every query is made of: the index's rows, the choice of encoder, filtered nearest windows.

A `Searcher` is the part of an opened index that the query helpers (query.text_aligned,
query.sensors, query.locator, query.concepts) are handed; `query.api.Index` is a Searcher with
the queries built on those helpers. It is the one place the query layer reaches indexer's store
(`self.store`, an IndexStore): everyone else asks these methods, scoping by keyword (encoder=,
modality=, body_part=, recording=, ids=, exclude_recording=) with the user's own filter as
`where`; indexer alone writes SQL.

Which encoder embeds a query is chosen in one place, `Searcher.pick_encoder_id`, from the
checkpoints' configs alone (no weights, no torch); `Searcher.encoder` loads its choice.
"""
from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from encoders import (
    MAX_SPREAD_WINDOWS,
    centred_cosines,
    checkpoint_config,
    label_sums,
    load_checkpoint,
    load_text_tower,
    neighbour_graph,
    spec_for_modality,
)
from indexer import IndexStore, Recording
from indexer.bounds import MAX_K, check_range
from indexer.model import MODALITIES, Modality
from query import match_score, recordings
from query.search import nearest_windows

if TYPE_CHECKING:  # annotations only: the class brings torch, which text searches and listings never load
    from encoders import Encoder, EncoderConfig

# `match`: the hit's calibrated probability of being relevant (query.match_score)
RESULT_COLUMNS = ["rank", "score", "match", "window_id", "recording_id", "dataset", "subject", "label",
                  "modality", "body_part", "t_start", "t_end"]
# What a query embedded by an encoder can be: a text prompt, a clip of a modality, or "tokens"
# (the 0.2 s vectors of a MoBind token encoder, for temporal work); None asks for none of these.
QUERY_KINDS = ("text", "imu", "pose", "video", "tokens")
JOINED = "imu+pose"  # a sensor and a skeleton together: one text search of both (query.text_aligned)


def with_joined(targets: list[str]) -> list[str]:
    """`targets` and, where they hold a sensor and a skeleton, JOINED: both together (a text search
    scores each moment by both, `label_recordings` each recording)."""
    return list(targets) + ([JOINED] if {"imu", "pose"} <= set(targets) else [])


def default_target(kind: str | None, targets: list[str]) -> str:
    """What a search of `kind` ("text", "imu", "pose", "video", "window") finds unless told,
    among `targets`: cross-modal, an IMU clip finds pose, a pose clip and a video clip find IMU,
    an indexed window pose; words find a sensor and a skeleton together (JOINED, where offered:
    on both selection sets it ranks more of a prompt's own action first than the sensor alone,
    docs/words.md, section 14), else IMU; else whatever there is."""
    wanted = {"imu": ["pose"], "pose": ["imu"], "video": ["imu"], "window": ["pose"]}.get(kind or "", [JOINED, "imu"])
    return next((w for w in wanted if w in targets), targets[0])


class Searcher:
    """The store reads, the encoder choice and the filtered searches of one index (a folder or
    an s3:// URI)."""

    def __init__(self, path: str | Path):
        self.store = IndexStore(path)
        self._encoders: dict[str, Encoder] = {}
        self._configs: dict[str, EncoderConfig] = {}  # encoder id -> its checkpoint config (no weights)
        # Asked on every search, answered from the commit log: kept per version of it, which this
        # handle reads until it writes (IndexStore.version), instead of a LanceDB scan per request.
        self._ids: tuple[int, list[str]] | None = None
        self._picks: dict[tuple, str] = {}  # (query kind, target, encoder asked for, log version) -> encoder id
        self._held: tuple[int, list[str]] | None = None  # (log version, the modalities that have windows)
        self.search_params: dict = {}  # nprobe / efSearch for every search of this handle (CLI --nprobe)
        self._backgrounds: dict[tuple[str, str, int], np.ndarray] = {}  # match scores' window samples
        self._label_sums: dict[tuple, np.ndarray | None] = {}  # (encoder, modality, log version, filter, labels)
        self._score_stats: dict[tuple, tuple | None] = {}  # (encoder, modality, log version, filter, labels)
        self._graphs: dict[tuple, tuple] = {}  # (encoder, modality, log version, filter) -> ids, vectors, graph

    # ---- the index's rows, scoped by keyword ----------------------------------------------
    @property
    def uri(self) -> str:
        """Where the index lives (a folder, or an s3:// URI)."""
        return self.store.uri

    def encoder_ids(self) -> list[str]:
        """The encoders of this index, in the order they were first built into it (newest last)."""
        version = self._log_version()
        if self._ids is None or self._ids[0] != version:
            self._ids = (version, self.store.encoders())
        return list(self._ids[1])

    def windows(self, where: str | None = None, columns: list[str] | None = None, **scope) -> pl.DataFrame:
        """Windows that the user filter `where` admits within `scope`, e.g. recording="lab/a"."""
        return self.store.windows(where, columns, **scope)

    def recordings(self, where: str | None = None, columns: list[str] | None = None, **scope) -> pl.DataFrame:
        """Recordings that the user filter `where` admits within `scope` (recording= one id or a list)."""
        return self.store.recordings(where, columns, **scope)

    def tokens(self, columns: list[str] | None = None, **scope) -> pl.DataFrame:
        """Token rows (0.2 s vectors of a token encoder) within `scope`."""
        return self.store.filtered("tokens", None, columns, **scope)

    def count(self, table: str = "windows", **scope) -> int:
        """Rows of `table` ("windows", "recordings", "tokens") within `scope`."""
        return self.store.count(table, **scope)

    def searched_count(self, encoder_id: str, target: str, where: str | None = None) -> int:
        """How many windows a search of `target` by `encoder_id` within the user filter `where`
        ranks (the filter's admitted ids are those the search itself keeps, so this costs no scan
        after it)."""
        if not where:
            return self.count("windows", encoder=encoder_id, modality=target)
        return len(self.store.admitted_ids(where, encoder=encoder_id, modality=target))

    def has_tokens(self, encoder_id: str | None = None) -> bool:
        return self.store.has_tokens(encoder_id)

    def mean_vector(self, encoder_id: str, modality: Modality) -> np.ndarray | None:
        """The mean stored vector of one encoder and modality: what zero-shot scores are taken
        relative to (encoders.labels.centred_cosines); None when the index has no such window."""
        return self.store.faiss_files.mean_vector(encoder_id, modality)

    def vector_batches(self, encoder_id: str, modality: Modality, where: str | None = None):
        """(ids, vectors) of the committed windows of one encoder and modality (those the user
        filter `where` admits, when given), a batch at a time from a scan: never all in memory."""
        only = None if where is None else self.store.admitted_ids(where, encoder=encoder_id, modality=modality)
        if only is not None and not len(only):
            return
        yield from self.store.faiss_files.vector_batches(encoder_id, modality, new=only)

    def label_sums(self, encoder_id: str, modality: Modality, text: np.ndarray,
                   center: np.ndarray | None, where: str | None = None) -> np.ndarray | None:
        """encoders.labels.label_sums over the committed windows of one encoder and modality (those
        the user filter `where` admits, when given), streamed (`vector_batches`, a pass over the
        vectors as `mean_vector` makes), kept per version of the index, filter and label vectors;
        None without a center or windows."""
        if center is None:
            return None
        text = np.ascontiguousarray(text, np.float32)
        key = (encoder_id, modality, self._log_version(), where, text.tobytes())
        if key not in self._label_sums:
            total = None
            for _, batch in self.vector_batches(encoder_id, modality, where):
                part = label_sums(batch, text, center)
                total = part if total is None else total + part
            if len(self._label_sums) >= 64:  # a handful of label sets at a time
                self._label_sums.pop(next(iter(self._label_sums)))
            self._label_sums[key] = total
        return self._label_sums[key]

    def score_stats(self, encoder_id: str, modality: Modality, labels: np.ndarray, center: np.ndarray | None,
                    where: str | None = None) -> tuple[np.ndarray, np.ndarray] | None:
        """(mean, std) per label of encoders.labels.centred_cosines of the committed windows of one
        encoder and modality (those `where` admits) with the `labels` vectors, streamed as
        `label_sums` is and kept per version of the index, filter and label vectors; None
        without windows."""
        labels = np.ascontiguousarray(labels, np.float32)
        key = (encoder_id, modality, self._log_version(), where, labels.tobytes())
        if key not in self._score_stats:
            n, total, squares = 0, 0.0, 0.0
            for _, batch in self.vector_batches(encoder_id, modality, where):
                cos = centred_cosines(batch, labels, center).astype(np.float64)
                n, total, squares = n + len(cos), total + cos.sum(axis=0), squares + (cos * cos).sum(axis=0)
            stats = None
            if n:
                mean = total / n
                stats = (mean, np.sqrt(np.maximum(squares / n - mean * mean, 1e-12)))
            if len(self._score_stats) >= 64:
                self._score_stats.pop(next(iter(self._score_stats)))
            self._score_stats[key] = stats
        return self._score_stats[key]

    def window_graph(self, encoder_id: str, modality: Modality, center: np.ndarray | None,
                     where: str | None = None) -> tuple[np.ndarray, np.ndarray, object]:
        """(ids, unit vectors, graph) of the committed windows of one encoder and modality that
        `where` admits, with encoders.labels.neighbour_graph over them (each window's nearest
        others, relative to `center`), kept per version of the index and filter (the last two, or
        the last one when it is large). Refused above MAX_SPREAD_WINDOWS windows: the vectors are
        held in memory, and the neighbour search takes minutes there."""
        key = (encoder_id, modality, self._log_version(), where)
        if key not in self._graphs:
            ids, vectors, total = [], [], 0
            for batch_ids, batch in self.vector_batches(encoder_id, modality, where):
                total += len(batch_ids)
                if total > MAX_SPREAD_WINDOWS:
                    raise ValueError(f"over {MAX_SPREAD_WINDOWS:,} {modality} windows to spread over; narrow them "
                                     "with a filter (--where), e.g. one dataset or body part at a time")
                ids.append(np.asarray(batch_ids, np.int64))
                vectors.append(batch / np.maximum(np.linalg.norm(batch, axis=1, keepdims=True), 1e-12))
            if not ids:
                raise LookupError(f"no {modality} windows of encoder {encoder_id}" + (f" where {where}" if where else ""))
            ids_all, vec_all = np.concatenate(ids), np.concatenate(vectors).astype(np.float32)
            order = np.argsort(ids_all, kind="stable")
            ids_all, vec_all = ids_all[order], vec_all[order]
            # a graph of 100k windows holds ~150 MB of vectors: keep two, or one of a large archive
            while self._graphs and (len(self._graphs) >= 2 or len(ids_all) > MAX_SPREAD_WINDOWS // 4):
                self._graphs.pop(next(iter(self._graphs)))
            self._graphs[key] = (ids_all, vec_all, neighbour_graph(vec_all, center))
        return self._graphs[key]

    def default_target(self, kind: str | None) -> str:
        """`default_target` among the modalities this index holds (and JOINED for words, where
        it holds a sensor and a skeleton)."""
        # counted per modality, as pick_encoder_id checks the target it picks, once per log version
        version = self._log_version()
        if self._held is None or self._held[0] != version:
            self._held = (version, [m for m in MODALITIES if self.count("windows", modality=m)])
        held = self._held[1]
        if not held:
            raise LookupError(f"{self.uri}: the index holds no windows yet")
        return default_target(kind, with_joined(held) if kind == "text" else held)

    def default_label_target(self, spread: bool = False) -> str:
        """What `label_recordings` names recordings by unless told: what words search (a sensor
        and a skeleton together where the index holds both, else the sensor); with `spread`,
        which follows one modality's nearest windows, the first of those."""
        target = self.default_target("text")
        return target.split("+")[0] if spread else target

    def indexed_modalities(self) -> list[str]:
        """The modalities that have windows in this index: the possible search targets."""
        df = self.windows(columns=["modality"])
        return sorted(set(df["modality"].to_list())) if df.height else []

    def recording(self, recording_id: str) -> dict:
        """The metadata row of one recording (id, dataset, subject, labels, duration, sources, ...)."""
        df = self.recordings(recording=recording_id)
        if df.height == 0:
            raise LookupError(f"no recording {recording_id!r} in {self.uri}")
        return df.row(0, named=True)

    def load_recording(self, recording_id: str) -> Recording:
        """The whole recording (signals included), re-read from its source files by its importer."""
        return recordings.load(self.recording(recording_id))

    def stored_concepts(self) -> dict:
        """The concepts file as stored ({key: concept}); query.concepts reads and writes through these."""
        return self.store.kept.concepts()

    def save_concepts(self, stored: dict) -> None:
        self.store.kept.save_concepts(stored)

    def _log_version(self) -> int:
        return self.store.version("indexed")

    def _checkpoint_folder(self, encoder_id: str) -> Path:
        return self.store.kept.encoder_folder(encoder_id)

    # ---- encoders ------------------------------------------------------------------------
    def pick_encoder_id(self, query: str | None, target: str | None, encoder_id: str | None = None) -> str:
        """The encoder that embeds a `query` (QUERY_KINDS; None: any) for a search of `target`
        windows (None: any): `encoder_id` when given (refused when it is not in the index or
        cannot embed the query), else the newest one that can and whose `target` windows the
        index holds; for "tokens", the newest one with stored token vectors. Chosen from the
        configs alone, once per version of the commit log: weights load only when a clip is
        embedded."""
        key = (query, target, encoder_id, self._log_version())
        if key not in self._picks:
            self._picks[key] = self._pick(query, target, encoder_id)
        return self._picks[key]

    def _pick(self, query: str | None, target: str | None, encoder_id: str | None) -> str:
        if encoder_id is not None:
            if self.encoder_config(encoder_id).embeds(query):
                return encoder_id
            if query == "tokens":
                raise LookupError(f"encoder {encoder_id!r} is not a token encoder")
            raise LookupError(f"encoder {encoder_id} cannot embed a {query} query")
        have_target = [e for e in self._known_encoders()
                       if target is None or self.count("windows", encoder=e, modality=target)]
        if not have_target:
            raise LookupError(f"the index holds no {target!r} windows (it has {', '.join(self.indexed_modalities())})")
        if query == "tokens":
            have_target = [e for e in have_target if self.has_tokens(e)]
            if not have_target:
                raise LookupError(f"{self.uri}: the index holds no token vectors; build it with a "
                                  "token checkpoint (`python -m encoders train-tokens`)")
        for eid in reversed(have_target):
            if self.encoder_config(eid).embeds(query):
                return eid
        what = ("text-aligned encoder (trained with --text-tower)" if query == "text"
                else "token encoder" if query == "tokens" else f"encoder with a {query} tower")
        raise LookupError(f"no {what} built the {target!r} windows of this index; build it with such a checkpoint")

    def encoder(self, encoder_id: str | None = None, modality: Modality | None = None, query: str | None = None) -> Encoder:
        """The encoder pick_encoder_id chooses for a `query` over `modality` windows (the one
        named, else the newest that fits), loaded once."""
        encoder_id = self.pick_encoder_id(query, modality, encoder_id)
        if encoder_id not in self._encoders:
            self._encoders[encoder_id] = load_checkpoint(self._checkpoint_folder(encoder_id))
        return self._encoders[encoder_id]

    def encoder_config(self, encoder_id: str) -> EncoderConfig:
        """The config of an encoder of this index, read without its weights (the loaded encoder's
        own when it is loaded)."""
        if encoder_id in self._encoders:
            return self._encoders[encoder_id].config
        if encoder_id not in self._configs:
            if encoder_id not in (ids := self._known_encoders()):
                raise LookupError(f"encoder {encoder_id!r} is not in this index; it has {ids}")
            self._configs[encoder_id] = checkpoint_config(self._checkpoint_folder(encoder_id))
        return self._configs[encoder_id]

    def encode_text(self, texts: list[str], encoder_id: str, templates: bool = True,
                    modality: str | None = None) -> np.ndarray:
        """Unit vectors (N, d) for text in `encoder_id`'s joint space as its `modality` windows
        read it (Encoder.encode_text), through its frozen text tower alone: the encoder's own
        weights are not loaded for it."""
        config = self.encoder_config(encoder_id)
        if not config.text:
            raise ValueError(f"encoder {encoder_id} is not text-aligned (its space is "
                             f"{config.space!r}); train one with "
                             "`python -m encoders train --text-tower minilm`")
        spec = spec_for_modality(config.text, modality)
        # a text head trained with the towers is read from the index's copy of the checkpoint, in numpy
        tower = load_text_tower(spec, self._checkpoint_folder(encoder_id) if spec.get("head") else None)
        return tower.encode_prompts(list(texts)) if templates else tower.encode(list(texts))

    def _known_encoders(self) -> list[str]:
        ids = self.encoder_ids()
        if not ids:
            raise LookupError(f"{self.uri}: the index holds no windows yet")
        return ids

    # ---- nearest windows -------------------------------------------------------------------
    def nearest(self, encoder_id: str, target: str, queries: np.ndarray, k: int, where: str | None = None,
                **kw) -> pl.DataFrame:
        """query.search.nearest_windows over this index (kw: columns, search_params, ranked, and
        the scope: body_part=, recording=, exclude_recording=)."""
        return nearest_windows(self.store, encoder_id, target, queries, k, where, **kw)

    def search_vector(self, vector: np.ndarray, target: str, k: int = 10, where: str | None = None,
                      encoder_id: str | None = None, exclude_recording: str | None = None,
                      match_kind: str = "example", known: Collection[int] = (), match_for: np.ndarray | None = None,
                      **search_params) -> pl.DataFrame:
        """The k windows of `target` nearest one query vector. `search_params` (nprobe=,
        efSearch=) override an approximate index's tuned ones for this search. The `match`
        column is each hit's calibrated probability of being relevant for a query of
        `match_kind` ("text", "example", "concept"; query.match_score); `known` window ids are
        relevant by definition (a concept's own examples): 1.0 (query.match_score.with_match).
        `match_for`: the vector the match is taken for when it is not the one searched with (an
        expanded text search: the prompt's own, which the calibration was fitted on)."""
        hits = self.search_vectors(np.atleast_2d(vector), target, k, where, encoder_id, exclude_recording,
                                   match_kind, known, **search_params)
        if match_for is not None and hits.height:
            encoder_id = encoder_id or self.pick_encoder_id(None, target)
            own = np.asarray(self.windows_at(hits["window_id"].to_numpy(), ["vector"])["vector"].to_list(), np.float64)
            scored = self.with_match(hits.drop("match").with_columns(pl.Series("score", own @ match_for)),
                                     np.atleast_2d(match_for), encoder_id, target, match_kind, known)
            hits = hits.with_columns(scored["match"])
        return pl.DataFrame(hits.get_columns()[1:])

    def windows_at(self, ids: np.ndarray, columns: list[str]) -> pl.DataFrame:
        """The `columns` of the windows `ids`, one row per id in the order given (a take, no scan)."""
        return self.store.windows_at(np.asarray(ids, np.int64), columns)

    def search_vectors(self, vectors: np.ndarray, target: str, k: int = 10, where: str | None = None,
                       encoder_id: str | None = None, exclude_recording: str | None = None,
                       match_kind: str = "example", known: Collection[int] = (), **search_params) -> pl.DataFrame:
        """Many query vectors (n, d) at once, one FAISS call: the columns of search_vector plus
        `query`, the row of `vectors` each hit answers; ranks count within each query."""
        check_range("k", k, 1, MAX_K)
        encoder_id = encoder_id or self.pick_encoder_id(None, target)
        hits = self.nearest(encoder_id, target, vectors, k, where, exclude_recording=exclude_recording,
                            columns=RESULT_COLUMNS[4:], search_params={**self.search_params, **search_params},
                            ranked=True)  # by query, each query's best first: RESULT_COLUMNS but `match`
        return self.with_match(hits, vectors, encoder_id, target, match_kind, known)

    def with_match(self, hits: pl.DataFrame, queries: np.ndarray, encoder_id: str, target: str,
                   match_kind: str = "example", known: Collection[int] = ()) -> pl.DataFrame:
        """`hits` (`query`: the row of `queries` each answers, `window_id`, `score`: its cosine with
        that row) with their `match` column under `encoder_id`'s calibration
        (query.match_score.with_match)."""
        return match_score.with_match(hits, queries, self.match_background(encoder_id, target),
                                      self.calibration(encoder_id), match_kind, known)

    def calibration(self, encoder_id: str) -> match_score.Calibration | None:
        """The match-score models of `encoder_id` (query.match_score.for_checkpoint)."""
        return match_score.for_checkpoint(encoder_id, lambda: self._checkpoint_folder(encoder_id))

    def match_background(self, encoder_id: str, target: str) -> np.ndarray:
        """The window vectors a hit's match probability is taken relative to: those of random
        recordings holding about query.match_score.BACKGROUND_WINDOWS windows of `target`, drawn
        once per version of the index."""
        key = (encoder_id, target, self._log_version())
        if key not in self._backgrounds:
            self._backgrounds[key] = match_score.background_vectors(self.windows, encoder_id, target)
        return self._backgrounds[key]
