"""The query layer: open an index, embed a query, search FAISS, join LanceDB metadata.

    from query import open_index
    ix = open_index("demo-index")
    hits = ix.search_file("clip.mat", modality="imu", target="pose", k=10, where="subject = '2'")

Every search returns a polars DataFrame (rank, score, window_id, recording_id, label, t_start,
t_end, ...) the caller can filter further.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from encoders import checkpoint_config, load_checkpoint, load_text_tower
from indexer import (
    ImuStream,
    IndexStore,
    PoseStream,
    Recording,
)
from indexer.bounds import MAX_K, check_range
from query import assignment, concepts, dense_sync, inputs, locator, match_score, recordings, sensors, text_aligned
from query.embedding import embed_clip
from query.search import nearest_windows
from query.sync_result import SyncResult

if TYPE_CHECKING:  # annotations only: the classes bring torch, which text searches and listings never load
    from encoders import Encoder, TokenEncoder

# `match`: the hit's calibrated probability of being relevant (query.match_score)
RESULT_COLUMNS = ["rank", "score", "match", "window_id", "recording_id", "dataset", "subject", "label",
                  "modality", "body_part", "t_start", "t_end"]


class Index:
    def __init__(self, path: str | Path):
        self.store = IndexStore(path)
        self._encoders: dict[str, Encoder] = {}
        self._configs: dict[str, dict] = {}  # encoder id -> its checkpoint config (no weights)
        # Asked on every search, answered from the commit log: kept per version of it, which this
        # handle reads until it writes (IndexStore.version), instead of a LanceDB scan per request.
        self._ids: tuple[int, list[str]] | None = None
        self._picks: dict[tuple, str] = {}  # (query kind, target, encoder asked for, log version) -> encoder id
        self._newest: dict[tuple[str | None, int], str] = {}  # (modality, commit-log version) -> encoder id
        self.search_params: dict = {}  # nprobe / efSearch for every search of this handle (CLI --nprobe)
        self._backgrounds: dict[tuple[str, str, int], np.ndarray] = {}  # match scores' window samples

    # ---- the index's rows, scoped by keyword ----------------------------------------------
    # The one place the query layer reaches indexer's store (`self.store`, an IndexStore): the
    # helpers (query.locator, query.sensors, query.text_aligned, ...) and front ends ask these
    # methods, scoping by keyword (encoder=, modality=, body_part=, recording=, ids=,
    # exclude_recording=) with the user's own filter as `where`; indexer alone writes SQL.
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

    def has_tokens(self, encoder_id: str | None = None) -> bool:
        return self.store.has_tokens(encoder_id)

    def mean_vector(self, encoder_id: str, modality: str) -> np.ndarray | None:
        """The mean stored vector of one encoder and modality: what zero-shot scores are taken
        relative to (`Encoder.label_cosines`); None when the index has no such window."""
        return self.store.mean_vector(encoder_id, modality)

    def nearest(self, encoder_id: str, target: str, queries: np.ndarray, k: int, where: str | None = None,
                **kw) -> pl.DataFrame:
        """query.search.nearest_windows over this index (kw: columns, search_params, ranked, and
        the scope: body_part=, recording=, exclude_recording=)."""
        return nearest_windows(self.store, encoder_id, target, queries, k, where, **kw)

    def _log_version(self) -> int:
        return self.store.version("indexed")

    def _checkpoint_folder(self, encoder_id: str) -> Path:
        return self.store.encoder_folder(encoder_id)

    # ---- encoders ------------------------------------------------------------------------
    def encoder(self, encoder_id: str | None = None, modality: str | None = None) -> Encoder:
        """The encoder to use: the one named, else the most recent one covering `modality`
        (resolved once per version of the commit log, not on every search)."""
        if encoder_id is None:
            key = (modality, self._log_version())
            if key not in self._newest:
                ids = self._known_encoders()
                candidates = [e for e in ids
                              if modality is None or self.count("windows", encoder=e, modality=modality)]
                if not candidates:
                    raise LookupError(f"no encoder in this index covers {modality!r}")
                self._newest[key] = candidates[-1]
            encoder_id = self._newest[key]
        elif encoder_id not in (ids := self._known_encoders()):
            raise LookupError(f"encoder {encoder_id!r} is not in this index; it has {ids}")
        if encoder_id not in self._encoders:
            self._encoders[encoder_id] = load_checkpoint(self._checkpoint_folder(encoder_id))
        return self._encoders[encoder_id]

    def encoder_config(self, encoder_id: str) -> dict:
        """The config of an encoder of this index, read without its weights (the loaded encoder's
        own when it is loaded)."""
        if encoder_id in self._encoders:
            return self._encoders[encoder_id].config
        if encoder_id not in self._configs:
            if encoder_id not in (ids := self._known_encoders()):
                raise LookupError(f"encoder {encoder_id!r} is not in this index; it has {ids}")
            self._configs[encoder_id] = checkpoint_config(self._checkpoint_folder(encoder_id))
        return self._configs[encoder_id]

    def pick_encoder_id(self, query: str, target: str | None, encoder_id: str | None = None) -> str:
        """The encoder that embeds a `query` ("text", "imu", "pose", "video") for a search of
        `target` windows (query.text_aligned.pick_encoder_id), chosen once per version of the
        commit log and from the configs alone: its weights load only when a clip is embedded."""
        key = (query, target, encoder_id, self._log_version())
        if key not in self._picks:
            self._picks[key] = text_aligned.pick_encoder_id(self, query, target, encoder_id)
        return self._picks[key]

    def encode_text(self, texts: list[str], encoder_id: str, templates: bool = True) -> np.ndarray:
        """Unit vectors (N, d) for text in `encoder_id`'s joint space (Encoder.encode_text), through
        its frozen text tower alone: the encoder's own weights are not loaded for it."""
        spec = self.encoder_config(encoder_id).get("text")
        if not spec:
            raise ValueError(f"encoder {encoder_id} is not text-aligned (its space is "
                             f"{self.encoder_config(encoder_id).get('space')!r}); train one with "
                             "`python -m encoders train --text-tower minilm`")
        tower = load_text_tower(spec)
        return tower.encode_prompts(list(texts)) if templates else tower.encode(list(texts))

    def _known_encoders(self) -> list[str]:
        ids = self.encoder_ids()
        if not ids:
            raise LookupError(f"{self.uri}: the index holds no windows yet")
        return ids

    # ---- searching ------------------------------------------------------------------------
    def search_vector(self, vector: np.ndarray, target: str, k: int = 10, where: str | None = None,
                      encoder_id: str | None = None, exclude_recording: str | None = None,
                      match_kind: str = "example", **search_params) -> pl.DataFrame:
        """The k windows of `target` nearest one query vector. `search_params` (nprobe=,
        efSearch=) override an approximate index's tuned ones for this search. The `match`
        column is each hit's calibrated probability of being relevant for a query of
        `match_kind` ("text", "example", "concept"; query.match_score)."""
        hits = self.search_vectors(np.atleast_2d(vector), target, k, where, encoder_id, exclude_recording,
                                   match_kind, **search_params)
        return pl.DataFrame(hits.get_columns()[1:])

    def search_vectors(self, vectors: np.ndarray, target: str, k: int = 10, where: str | None = None,
                       encoder_id: str | None = None, exclude_recording: str | None = None,
                       match_kind: str = "example", **search_params) -> pl.DataFrame:
        """Many query vectors (n, d) at once, one FAISS call: the columns of search_vector plus
        `query`, the row of `vectors` each hit answers; ranks count within each query."""
        check_range("k", k, 1, MAX_K)
        encoder_id = encoder_id or self.encoder(modality=target).id
        hits = self.nearest(encoder_id, target, vectors, k, where, exclude_recording=exclude_recording,
                            columns=RESULT_COLUMNS[4:], search_params={**self.search_params, **search_params},
                            ranked=True)  # by query, each query's best first: RESULT_COLUMNS but `match`
        calibration = match_score.for_checkpoint(encoder_id, lambda: self._checkpoint_folder(encoder_id))
        return match_score.with_match(hits, vectors, self.match_background(encoder_id, target), calibration,
                                      match_kind)

    def match_background(self, encoder_id: str, target: str) -> np.ndarray:
        """The window vectors a hit's match probability is taken relative to: those of random
        recordings holding about query.match_score.BACKGROUND_WINDOWS windows of `target`, drawn
        once per version of the index."""
        key = (encoder_id, target, self._log_version())
        if key not in self._backgrounds:
            self._backgrounds[key] = match_score.background_vectors(self, encoder_id, target)
        return self._backgrounds[key]

    def search_stream(self, stream: ImuStream | PoseStream, target: str, k: int = 10,
                      where: str | None = None, start: float | None = None, end: float | None = None,
                      encoder_id: str | None = None) -> pl.DataFrame:
        encoder = self.encoder(encoder_id, modality=target)
        if start is not None or end is not None:
            stream = inputs.crop_stream(stream, start or 0.0, end)
        return self.search_vector(embed_clip(stream, encoder), target, k, where, encoder.id)

    def search_array(self, data: np.ndarray, modality: str, rate: float, target: str, k: int = 10,
                     where: str | None = None, placement: str = "right_wrist", channels: list[str] | None = None,
                     start: float | None = None, end: float | None = None, encoder_id: str | None = None,
                     **read_kw) -> pl.DataFrame:
        """Search with an in-memory clip: IMU (T, C) in m/s^2 and rad/s whose columns are
        `channels` (default acc_x.. then gyr_x.., as many as there are), or pose (T, J, 3) in
        metres on the canonical joints (read_kw: skeleton, joints, joint_map, units, up, acc_unit,
        gyr_unit, as for files)."""
        if modality == "imu":
            kw = {k: v for k, v in inputs.reader_options(read_kw, "imu").items() if k in ("acc_unit", "gyr_unit")}
            stream = inputs.imu_from_array(data, rate, channels, placement, source="array", **kw)
        else:
            kw = inputs.reader_options(read_kw, "pose")
            kw.pop("rate", None)
            stream = inputs.pose_from_array(data, rate, source="array", **kw)
        return self.search_stream(stream, target, k, where, start, end, encoder_id)

    def search_file(self, path: str | Path, modality: str, target: str, k: int = 10, where: str | None = None,
                    rate: float | None = None, start: float | None = None, end: float | None = None,
                    **read_kw) -> pl.DataFrame:
        """Search with a query file. read_kw: the reading options of query.read_imu (placement,
        acc_unit, gyr_unit, channels, time_column, time_unit, max_gap) or query.read_pose
        (skeleton, joint_map, joints, units, up); those of the other modality are ignored."""
        if modality == "video":  # a video clip (decoded with PyAV, only [start, end])
            return text_aligned.search_video(self, path, target, k, where, start, end)
        read = inputs.read_imu if modality == "imu" else inputs.read_pose
        stream = read(path, rate, **inputs.reader_options(read_kw, modality))
        return self.search_stream(stream, target, k, where, start, end)

    def search_sensors(self, streams: list, target: str = "imu", k: int = 10, where: str | None = None,
                       encoder_id: str | None = None, candidates: int | None = None,
                       start: float | None = None, end: float | None = None, fusion: str = "auto",
                       **read_kw) -> pl.DataFrame:
        """Several sensors worn together as one query (ImuStreams or file paths; a path is read with
        read_kw and `placements`, one per file). With an encoder trained with `--fusion attention`
        (and an index holding its fused windows) the sensors' vectors are fused into one that
        searches the fused, body_part "all", windows; otherwise each sensor searches the windows
        of its own placement and the recording windows all of them match come back, scored by the
        sum of their similarities, with a score_<placement> column per sensor. The `fusion` column
        says which ("attention" / "late"); `fusion=` forces one (see query.sensors)."""
        placements = read_kw.pop("placements", None)
        if placements is not None and len(placements) != len(streams):
            raise ValueError(f"{len(streams)} sensors but {len(placements)} placements: give one per sensor")
        out = []
        for n, s in enumerate(streams):
            kw = {**read_kw, **({"placement": placements[n]} if placements is not None else {})}
            s = inputs.as_imu(s, **kw)
            if start is not None or end is not None:
                s = inputs.crop_stream(s, start or 0.0, end)
            out.append(s)
        return sensors.search_sensors(self, out, target, k, where, encoder_id, candidates, fusion)

    def search_window(self, window_id: int, target: str, k: int = 10, where: str | None = None) -> pl.DataFrame:
        """Use a window already in the index as the query (its stored vector)."""
        row = self.windows(None, ["id", "encoder_id", "recording_id", "vector"], ids=int(window_id))
        if row.height == 0:
            raise LookupError(f"no window with id {window_id} in {self.uri}")
        vec = np.asarray(row["vector"][0], dtype=np.float32)
        return self.search_vector(vec, target, k, where, row["encoder_id"][0])

    # ---- the text-aligned space (IMU2CLIP / AURA-MFM; see query.text_aligned) -------------------
    def search_text(self, prompt: str, target: str, k: int = 10, where: str | None = None,
                    encoder_id: str | None = None, templates: bool = True) -> pl.DataFrame:
        """Windows of `target` ("imu", "pose", "video") that match a text prompt, e.g. "waving"
        (`templates=False`: the prompt as it is, without the training prompt templates). A prompt
        that names a concept taught to the index (`teach`) searches with the concept's prototype
        instead, and the hits carry a `concept` column naming it."""
        concept = concepts.find(self, prompt)
        if concept is not None:
            hits = concepts.search(self, concept, target, k, where, encoder_id)
            if hits is not None:
                return hits
        return text_aligned.search_text(self, prompt, target, k, where, encoder_id, templates)

    def classify(self, path_or_stream, labels: list[str], modality: str | None = None, **kw) -> pl.DataFrame:
        """Zero-shot activity recognition of a clip (a file path, ImuStream or PoseStream) among
        `labels` -> DataFrame (label, score, cosine) sorted by score; score = softmax over the
        labels of the cosines at the checkpoint's learned temperature. `modality` defaults to a
        guess from the file type; kw: start, end, rate, encoder_id, and read options. A label that
        names a concept (`teach`) is scored against the concept's prototype, not its words."""
        return text_aligned.classify(self, path_or_stream, labels, modality, **kw)

    # ---- concepts taught by example (query.concepts) -------------------------------------------
    def teach(self, name: str, window_ids=(), files=(), modality: str | None = None, **read_kw) -> dict:
        """Teach concept `name` (a phrase) by example: windows of this index (`window_ids`, e.g. from
        a search's window_id column) and/or query `files` (read like search_file's; read_kw:
        rate and the reading options). Replaces a concept of the same name; kept in the index, it
        survives rebuilds and incremental adds. Returns the stored concept (name, windows,
        files, labels, prototypes per encoder, examples per encoder)."""
        return concepts.teach(self, name, window_ids, files, modality, **read_kw)

    def concepts(self) -> pl.DataFrame:
        """The concepts taught to this index: name, examples, windows, files, encoders, labels."""
        return concepts.table(self)

    def concept(self, name: str) -> dict | None:
        """The concept a phrase names (case and surrounding spaces aside), or None."""
        return concepts.find(self, name)

    def concept_vector(self, name: str, encoder_id: str, modality: str) -> np.ndarray | None:
        """The prototype of the concept `name` names for `encoder_id`'s windows of `modality`
        (query.concepts.prototype), or None when no concept is so named or it has none."""
        concept = concepts.find(self, name)
        return None if concept is None else concepts.prototype(concept, encoder_id, modality)

    def concept_cosine(self, name: str, encoder_id: str, modality: str, vector: np.ndarray,
                       center: np.ndarray | None = None) -> float | None:
        """How well one window's `vector` matches the concept `name` names (query.concepts.cosines,
        relative to `center`), or None when no concept is so named or it has no prototype."""
        proto = self.concept_vector(name, encoder_id, modality)
        return None if proto is None else float(concepts.cosines(vector, proto, center)[0, 0])

    def forget(self, name: str) -> dict:
        """Remove concept `name` (LookupError when there is none); returns what was removed."""
        return concepts.forget(self, name)

    def stored_concepts(self) -> dict:
        """The concepts file as stored ({key: concept}); query.concepts reads and writes through these."""
        return self.store.concepts()

    def save_concepts(self, stored: dict) -> None:
        self.store.save_concepts(stored)

    # ---- browsing -------------------------------------------------------------------------
    def recording(self, recording_id: str) -> dict:
        """The metadata row of one recording (id, dataset, subject, labels, duration, sources, ...)."""
        df = self.recordings(recording=recording_id)
        if df.height == 0:
            raise LookupError(f"no recording {recording_id!r} in {self.uri}")
        return df.row(0, named=True)

    def load_recording(self, recording_id: str) -> Recording:
        """The whole recording (signals included), re-read from its source files by its importer."""
        return recordings.load(self.recording(recording_id))

    def indexed_modalities(self) -> list[str]:
        """The modalities that have windows in this index: the possible search targets."""
        df = self.windows(columns=["modality"])
        return sorted(set(df["modality"].to_list())) if df.height else []

    # ---- fine-grained time (MoBind token encoders; see query.dense_sync, locator, assignment) ---
    def token_encoder(self, encoder_id: str | None = None) -> TokenEncoder:
        """The token encoder to use: the one named, else the most recent one with stored tokens."""
        if encoder_id is None:
            ids = [e for e in self.encoder_ids() if self.has_tokens(e)]
            if not ids:
                raise LookupError(f"{self.uri}: the index holds no token vectors; build it with a "
                                  "token checkpoint (`python -m encoders train-tokens`)")
            encoder_id = ids[-1]
        encoder = self.encoder(encoder_id)
        if not encoder.has_tokens:
            raise LookupError(f"encoder {encoder_id!r} is not a token encoder")
        return encoder

    def sync(self, imu_stream_or_path, other_stream_or_path, max_offset: float = 10.0, k: int = 5,
             encoder_id: str | None = None) -> SyncResult:
        """query.sync with this index's token encoder -> SyncResult."""
        return dense_sync.sync(imu_stream_or_path, other_stream_or_path, self.token_encoder(encoder_id),
                             max_offset=max_offset, k=k)

    def locate(self, imu_path_or_stream, k: int = 10, recording: str | None = None, where: str | None = None,
               **kw) -> pl.DataFrame:
        """query.locate on this index -> (rank, score, recording_id, t_start, t_end, label);
        `where` filters the windows searched, `recording` picks one recording; kw: target,
        encoder_id, candidates, refine, and read options."""
        return locator.locate(self, imu_path_or_stream, k=k, recording=recording, where=where, **kw)

    def assign(self, imu_streams, pose_stream, encoder_id: str | None = None) -> pl.DataFrame:
        """query.assign with this index's token encoder -> (imu, person, body_part, score)."""
        return assignment.assign(imu_streams, pose_stream, self.token_encoder(encoder_id))


def open_index(path: str | Path) -> Index:
    return Index(path)
