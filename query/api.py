"""The query layer: open an index, embed a query, search FAISS, join LanceDB metadata.

    from query import open_index
    ix = open_index("demo-index")
    hits = ix.search_file("clip.mat", modality="imu", target="pose", k=10, where="subject = '2'")

Every search returns a polars DataFrame (rank, score, window_id, recording_id, label, t_start,
t_end, ...) the caller can filter further.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from encoders import Encoder, conform_imu, load_checkpoint
from indexer import vectors
from indexer.model import ImuStream, PoseStream, Recording
from indexer.store import IndexStore, sql_str
from indexer.windows import recording_windows
from query import inputs

RESULT_COLUMNS = ["rank", "score", "window_id", "recording_id", "dataset", "subject", "label",
                  "modality", "body_part", "t_start", "t_end"]
META_COLUMNS = ["id", "recording_id", "dataset", "subject", "label", "modality", "body_part", "t_start", "t_end"]


class Index:
    def __init__(self, path: str | Path):
        self.store = IndexStore(path)
        self._encoders: dict[str, Encoder] = {}

    # ---- encoders ------------------------------------------------------------------------
    def encoder_ids(self) -> list[str]:
        return self.store.encoders()

    def encoder(self, encoder_id: str | None = None, modality: str | None = None) -> Encoder:
        """The encoder to use: the one named, else the most recent one covering `modality`."""
        ids = self.encoder_ids()
        if not ids:
            raise LookupError(f"{self.store.uri}: the index holds no windows yet")
        if encoder_id is None:
            candidates = [e for e in ids if modality is None or self.store.count("windows", self.store.encoder_filter(e, modality))]
            if not candidates:
                raise LookupError(f"no encoder in this index covers {modality!r}")
            encoder_id = candidates[-1]
        if encoder_id not in ids:
            raise LookupError(f"encoder {encoder_id!r} is not in this index; it has {ids}")
        if encoder_id not in self._encoders:
            self._encoders[encoder_id] = load_checkpoint(self.store.encoder_folder(encoder_id))
        return self._encoders[encoder_id]

    # ---- embedding queries -----------------------------------------------------------------
    def embed_recording(self, rec: Recording, modality: str, encoder: Encoder,
                        start: float | None = None, end: float | None = None) -> np.ndarray:
        """One unit vector for a query clip: the mean of its windows' vectors, so a query
        longer than a window still counts all of it."""
        if start is not None or end is not None:
            rec = crop(rec, start or 0.0, end)
        rec = conform_imu(rec, encoder.config)
        windows = [w for w in recording_windows(rec, encoder.window, {modality: encoder.rates[modality]})
                   if w.modality == modality]
        if not windows:
            raise ValueError(f"the query has no {modality} data to embed")
        v = encoder.encode(windows).mean(axis=0)
        return v / max(np.linalg.norm(v), 1e-12)

    # ---- searching ------------------------------------------------------------------------
    def search_vector(self, vector: np.ndarray, target: str, k: int = 10, where: str | None = None,
                      encoder_id: str | None = None, exclude_recording: str | None = None) -> pl.DataFrame:
        encoder_id = encoder_id or self.encoder(modality=target).id
        entry = self.store.faiss(encoder_id, target)
        scope = self.store.encoder_filter(encoder_id, target)
        if exclude_recording is not None:
            scope += f" AND recording_id != {sql_str(exclude_recording)}"
        allowed = None
        if where or exclude_recording is not None:
            # Exact filtered search: the ids the filter admits, handed to FAISS as a selector.
            pred = f"{scope} AND ({where})" if where else scope
            allowed = self.store.windows(pred, ["id"])["id"].to_numpy()
            if len(allowed) == 0:
                return pl.DataFrame(schema={c: _dtype(c) for c in RESULT_COLUMNS})
        scores, ids = vectors.search(entry.index, np.asarray(vector, np.float32), k, allowed)
        keep = ids[0] >= 0
        hits = pl.DataFrame({"window_id": ids[0][keep], "score": scores[0][keep].astype(np.float64)})
        meta = self.store.windows_by_id(hits["window_id"].to_list(), META_COLUMNS)
        out = hits.join(meta.rename({"id": "window_id"}), on="window_id", how="left")
        out = out.sort("score", descending=True, maintain_order=True).with_row_index("rank", offset=1)
        return out.with_columns(pl.col("rank").cast(pl.Int64)).select(RESULT_COLUMNS)

    def search_stream(self, stream: ImuStream | PoseStream, target: str, k: int = 10,
                      where: str | None = None, start: float | None = None, end: float | None = None,
                      encoder_id: str | None = None) -> pl.DataFrame:
        modality = "imu" if isinstance(stream, ImuStream) else "pose"
        rec = Recording(id="query", dataset="query", imu=[stream] if modality == "imu" else [],
                        pose=stream if modality == "pose" else None)
        encoder = self.encoder(encoder_id, modality=target)
        vec = self.embed_recording(rec, modality, encoder, start, end)
        return self.search_vector(vec, target, k, where, encoder.id)

    def search_array(self, data: np.ndarray, modality: str, rate: float, target: str, k: int = 10,
                     where: str | None = None, placement: str = "right_wrist", **kw) -> pl.DataFrame:
        """Search with an in-memory clip: IMU (T, 6) in m/s^2 and rad/s, or pose (T, 16, 3)
        on the canonical joints, in metres."""
        from indexer.bodyparts import CANONICAL_JOINTS
        from indexer.units import IMU6_CHANNELS

        if modality == "imu":
            stream = ImuStream(data, rate, list(IMU6_CHANNELS)[: np.shape(data)[-1]], placement, "array")
        else:
            stream = PoseStream(data, rate, "canonical", list(CANONICAL_JOINTS), "array")
        return self.search_stream(stream, target, k, where, **kw)

    def search_file(self, path: str | Path, modality: str, target: str, k: int = 10, where: str | None = None,
                    rate: float | None = None, start: float | None = None, end: float | None = None,
                    **read_kw) -> pl.DataFrame:
        if modality == "video":  # a video clip (decoded with PyAV, only [start, end]); query.semantic
            from query.semantic import search_video_file

            return search_video_file(self, path, target, k, where, start, end)
        stream = inputs.read_imu(path, rate, **read_kw) if modality == "imu" else inputs.read_pose(path, rate, **read_kw)
        return self.search_stream(stream, target, k, where, start, end)

    def search_window(self, window_id: int, target: str, k: int = 10, where: str | None = None) -> pl.DataFrame:
        """Use a window already in the index as the query (its stored vector)."""
        row = self.store.windows(f"id = {int(window_id)}", ["id", "encoder_id", "recording_id", "vector"])
        if row.height == 0:
            raise LookupError(f"no window with id {window_id} in {self.store.uri}")
        vec = np.asarray(row["vector"][0], dtype=np.float32)
        return self.search_vector(vec, target, k, where, row["encoder_id"][0])

    # ---- the text-aligned space (IMU2CLIP / AURA-MFM; see query.semantic) -----------------------
    def search_text(self, prompt: str, target: str, k: int = 10, where: str | None = None,
                    encoder_id: str | None = None) -> pl.DataFrame:
        """Windows of `target` ("imu", "pose", "video") that match a text prompt, e.g. "waving"."""
        from query.semantic import search_text

        return search_text(self, prompt, target, k, where, encoder_id)

    def classify(self, path_or_stream, labels: list[str], modality: str | None = None, **kw) -> pl.DataFrame:
        """Zero-shot activity recognition of a clip (a file path, ImuStream or PoseStream) among
        `labels` -> DataFrame (label, score, cosine) sorted by score; score = softmax over the
        labels of the cosines at the checkpoint's learned temperature. `modality` defaults to a
        guess from the file type; kw: start, end, rate, encoder_id, and read options."""
        from query.semantic import classify

        return classify(self, path_or_stream, labels, modality, **kw)

    # ---- browsing -------------------------------------------------------------------------
    def recordings(self, where: str | None = None) -> pl.DataFrame:
        return self.store.recordings(where)

    def recording(self, recording_id: str) -> dict:
        """The metadata row of one recording (id, dataset, subject, labels, duration, sources, ...)."""
        df = self.store.recordings(f"id = {sql_str(recording_id)}")
        if df.height == 0:
            raise LookupError(f"no recording {recording_id!r} in {self.store.uri}")
        return df.row(0, named=True)

    def load_recording(self, recording_id: str) -> Recording:
        """The whole recording (signals included), re-read from its source files by its importer."""
        from query import recordings as source

        return source.load(self.recording(recording_id))

    def indexed_modalities(self) -> list[str]:
        """The modalities that have windows in this index: the possible search targets."""
        df = self.store.windows(columns=["modality"])
        return sorted(set(df["modality"].to_list())) if df.height else []

    # ---- fine-grained time (MoBind token encoders; see query.temporal) -------------------------
    def token_encoder(self, encoder_id: str | None = None):
        """The token encoder to use: the one named, else the most recent one with stored tokens."""
        if encoder_id is None:
            ids = [e for e in self.encoder_ids() if self.store.has_tokens(e)]
            if not ids:
                raise LookupError(f"{self.store.uri}: the index holds no token vectors; build it with a "
                                  "token checkpoint (`python -m encoders train-tokens`)")
            encoder_id = ids[-1]
        encoder = self.encoder(encoder_id)
        if not getattr(encoder, "has_tokens", False):
            raise LookupError(f"encoder {encoder_id!r} is not a token encoder")
        return encoder

    def sync(self, imu_stream_or_path, other_stream_or_path, max_offset: float = 10.0, k: int = 5,
             encoder_id: str | None = None):
        """query.temporal.sync with this index's token encoder -> SyncResult."""
        from query import temporal

        return temporal.sync(imu_stream_or_path, other_stream_or_path, self.token_encoder(encoder_id),
                             max_offset=max_offset, k=k)

    def locate(self, imu_path_or_stream, k: int = 10, recording: str | None = None, **kw) -> pl.DataFrame:
        """query.temporal.locate on this index -> (rank, score, recording_id, t_start, t_end, label)."""
        from query import temporal

        return temporal.locate(self, imu_path_or_stream, k=k, recording=recording, **kw)

    def assign(self, imu_streams, pose_stream, encoder_id: str | None = None) -> pl.DataFrame:
        """query.temporal.assign with this index's token encoder -> (imu, person, body_part, score)."""
        from query import temporal

        return temporal.assign(imu_streams, pose_stream, self.token_encoder(encoder_id))


def crop_stream(stream: ImuStream | PoseStream, start: float, end: float | None):
    """The part of a stream between `start` and `end` seconds (validated like any stream, so
    a range that leaves nothing is a BadInput naming the stream)."""
    i0 = int(round(start * stream.rate))
    i1 = None if end is None else int(round(end * stream.rate))
    return type(stream)(**{**stream.__dict__, "data": stream.data[i0:i1]})


def crop(rec: Recording, start: float, end: float | None) -> Recording:
    """The part of a recording between `start` and `end` seconds."""
    return Recording(id=rec.id, dataset=rec.dataset, subject=rec.subject, labels=rec.labels,
                     imu=[crop_stream(s, start, end) for s in rec.imu],
                     pose=crop_stream(rec.pose, start, end) if rec.pose is not None else None)


def _dtype(column: str):
    return {"rank": pl.Int64, "score": pl.Float64, "window_id": pl.Int64, "t_start": pl.Float64,
            "t_end": pl.Float64}.get(column, pl.Utf8)


def open_index(path: str | Path) -> Index:
    return Index(path)
