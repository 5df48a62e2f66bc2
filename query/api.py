"""The query layer: open an index, embed a query, search FAISS, join LanceDB metadata.

    from query import open_index
    ix = open_index("demo-index")
    hits = ix.search_file("clip.mat", modality="imu", target="pose", k=10, where="subject = '2'")

Every search returns a polars DataFrame (rank, score, window_id, recording_id, label, t_start,
t_end, ...) the caller can filter further.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from indexer import ImuStream, PoseStream
from indexer.bodyparts import DEFAULT_PLACEMENT
from indexer.model import Modality
from query import assignment, concepts, dense_sync, inputs, locator, sensors, text_aligned, wording
from query.embedding import embed_clip
from query.searcher import RESULT_COLUMNS, Searcher
from query.sync_result import SyncResult

__all__ = ["RESULT_COLUMNS", "Index", "open_index"]


class Index(Searcher):
    """An opened index: a Searcher (its rows, the choice of encoder, filtered nearest windows)
    with every query built on it. The helpers it hands itself to (query.text_aligned,
    query.sensors, query.locator, query.concepts) see it as that Searcher alone."""

    # ---- searching ------------------------------------------------------------------------
    def search_stream(self, stream: ImuStream | PoseStream, target: str, k: int = 10,
                      where: str | None = None, start: float | None = None, end: float | None = None,
                      encoder_id: str | None = None) -> pl.DataFrame:
        encoder = self.encoder(encoder_id, modality=target)
        if start is not None or end is not None:
            stream = inputs.crop_stream(stream, start or 0.0, end)
        return self.search_vector(embed_clip(stream, encoder), target, k, where, encoder.id)

    def search_array(self, data: np.ndarray, modality: Modality, rate: float, target: str, k: int = 10,
                     where: str | None = None, placement: str = DEFAULT_PLACEMENT, channels: list[str] | None = None,
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

    def search_file(self, path: str | Path, modality: Modality, target: str, k: int = 10, where: str | None = None,
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
    def search_text(self, prompt: str, target: str | Sequence[str] | None = None, k: int = 10,
                    where: str | None = None, encoder_id: str | None = None, templates: bool = True,
                    expand: bool = True) -> pl.DataFrame:
        """Windows of `target` ("imu", "pose", "video") that match a text prompt, e.g. "waving";
        several modalities ("imu+pose"): one hit per moment, scored by all of them (a concept
        searches the first of them it has a prototype for); None (the default): what words
        search on the page and from `query text`, a sensor and a skeleton together where the
        index holds both, else the sensor (`Searcher.default_target`)
        (`templates=False`: the prompt as it is, without the training prompt templates;
        `expand=False`: one search with the prompt alone, not joined by its first hits, see
        query.text_aligned.search_text). A prompt that names a concept taught to the index
        (`teach`) searches with the concept's prototype instead, and the hits carry a `concept`
        column naming it."""
        target = self.default_target("text") if target is None else target
        concept = concepts.find(self, prompt)
        for modality in text_aligned.modalities_of(target) if concept is not None else ():
            hits = concepts.search(self, concept, modality, k, where, encoder_id)
            if hits is not None:  # several modalities: the first one the concept was taught in
                return hits
        return text_aligned.search_text(self, prompt, target, k, where, encoder_id, templates, expand)

    def check_wording(self, prompt: str, target: str, k: int = 10, where: str | None = None,
                      encoder_id: str | None = None, templates: bool = True) -> dict | None:
        """Whether the words of `prompt` tell a direction apart here (query.wording.direction_check):
        {"prompt", "opposite", "shared", "of", "cosine"} when the text search of the prompt with
        one direction word swapped (left/right, clockwise, forward/backward; "sit to stand" ->
        "stand to sit") finds mostly the same windows (`shared` of its `of` top-k hits are the
        prompt's own), else None. None too for a prompt naming a taught concept."""
        return wording.direction_check(self, prompt, target, k, where, encoder_id, templates)

    def classify(self, path_or_stream, labels: list[str], modality: Modality | None = None, **kw) -> pl.DataFrame:
        """Zero-shot activity recognition of a clip (a file path, ImuStream or PoseStream) among
        `labels` -> DataFrame (label, score, cosine) sorted by score; score = softmax over the
        labels of the cosines at the checkpoint's learned temperature. `modality` defaults to a
        guess from the file type; kw: start, end, rate, encoder_id, refine (True: label vectors
        refined by this index's windows; a filter: by the windows it admits;
        query.text_aligned.classify), and read options. A label that names a concept (`teach`) is
        scored against the concept's prototype, not its words."""
        return text_aligned.classify(self, path_or_stream, labels, modality, **kw)

    def label_recordings(self, labels: list[str], modality: Modality | str | Sequence[str] | None = None,
                         where: str | None = None, encoder_id: str | None = None, refine: bool = False,
                         spread: bool = False, balance: bool = False) -> pl.DataFrame:
        """Labels for every recording whose `modality` windows `where` admits, among `labels` (text
        prompts; a concept's name scores with its prototype) -> DataFrame (recording_id, body_part,
        label, cosine, runner_up, margin, windows); several modalities (("imu", "pose") or
        "imu+pose"): one row per recording, scored by all of them; None (the default): what the
        index holds, a sensor and a skeleton together where it holds both, else the sensor
        (`default_label_target`); `refine`: the label vectors refined by those windows first;
        `spread`: the windows' scores spread over their nearest-window graph, taught examples held
        to their concept; `balance`: the recordings made to share the labels equally, for
        activities about equally common among them (query.text_aligned.label_recordings)."""
        return text_aligned.label_recordings(self, labels, modality, where, encoder_id, refine, spread, balance)

    # ---- concepts taught by example (query.concepts) -------------------------------------------
    def teach(self, name: str, window_ids=(), files=(), modality: Modality | None = None, not_windows=(),
              **read_kw) -> dict:
        """Teach concept `name` (a phrase) by example: windows of this index (`window_ids`, e.g. from
        a search's window_id column) and/or query `files` (read like search_file's; read_kw:
        rate and the reading options); `not_windows`: windows that do not show it (a search for it
        leans away from them and leaves them out; given alone, added to an existing concept's).
        Replaces a concept of the same name; kept in the index, it survives rebuilds and
        incremental adds. Returns the stored concept (name, windows, files, not_windows, labels,
        prototypes and counter-example prototypes per encoder, examples per encoder)."""
        return concepts.teach(self, name, window_ids, files, modality, not_windows, **read_kw)

    def concepts(self) -> pl.DataFrame:
        """The concepts taught to this index: name, examples, windows, files, encoders, labels."""
        return concepts.table(self)

    def concept(self, name: str) -> dict | None:
        """The concept a phrase names (case and surrounding spaces aside), or None."""
        return concepts.find(self, name)

    def concept_vector(self, name: str, encoder_id: str, modality: Modality) -> np.ndarray | None:
        """The prototype of the concept `name` names for `encoder_id`'s windows of `modality`
        (query.concepts.prototype), or None when no concept is so named or it has none."""
        return concepts.vector(self, name, encoder_id, modality)

    def concept_cosine(self, name: str, encoder_id: str, modality: Modality, vector: np.ndarray,
                       center: np.ndarray | None = None) -> float | None:
        """How well one window's `vector` matches the concept `name` names (query.concepts.cosines,
        relative to `center`), or None when no concept is so named or it has no prototype."""
        return concepts.cosine(self, name, encoder_id, modality, vector, center)

    def forget(self, name: str) -> dict:
        """Remove concept `name` (LookupError when there is none); returns what was removed."""
        return concepts.forget(self, name)

    # ---- fine-grained time (MoBind token encoders; see query.dense_sync, locator, assignment) ---
    def sync(self, imu_stream_or_path, other_stream_or_path, max_offset: float = 10.0, k: int = 5,
             encoder_id: str | None = None) -> SyncResult:
        """query.sync with this index's token encoder -> SyncResult."""
        return dense_sync.sync(imu_stream_or_path, other_stream_or_path, self.encoder(encoder_id, query="tokens"),
                               max_offset=max_offset, k=k)

    def locate(self, imu_path_or_stream, k: int = 10, recording: str | None = None, where: str | None = None,
               **kw) -> pl.DataFrame:
        """query.locate on this index -> (rank, score, recording_id, t_start, t_end, label);
        `where` filters the windows searched, `recording` picks one recording; kw: target,
        encoder_id, candidates, refine, and read options."""
        return locator.locate(self, imu_path_or_stream, k=k, recording=recording, where=where, **kw)

    def assign(self, imu_streams, pose_stream, encoder_id: str | None = None) -> pl.DataFrame:
        """query.assign with this index's token encoder -> (imu, person, body_part, score)."""
        return assignment.assign(imu_streams, pose_stream, self.encoder(encoder_id, query="tokens"))


def open_index(path: str | Path) -> Index:
    return Index(path)
