"""Queries in the text-aligned space: a text prompt, a video clip, zero-shot classification.

The Index methods search_text, classify and search_file(modality="video") delegate here.
An index may hold several encoders; these queries use the most recent one that can embed the
query (a text tower, a video tower) and has windows of the target modality. Clips are embedded
by `query.embedding`, like every other query.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from indexer import VIDEO_SUFFIXES, ImuStream, PoseStream
from query import inputs
from query.embedding import embed_clip

if TYPE_CHECKING:
    from encoders import Encoder


def pick_encoder(index, query: str, target: str | None, encoder_id: str | None = None) -> Encoder:
    """The encoder that can embed a `query` ("text", "imu", "pose", "video") and whose windows
    of `target` the index holds (loaded: see pick_encoder_id for the choice alone)."""
    return index.encoder(index.pick_encoder_id(query, target, encoder_id))


def pick_encoder_id(index, query: str, target: str | None, encoder_id: str | None = None) -> str:
    """pick_encoder's choice, made from the checkpoints' configs alone (no weights, no torch): a
    text query needs an encoder's text tower, a clip query a tower of its modality."""
    if encoder_id is not None:
        if not _can_embed(index.encoder_config(encoder_id), query):
            raise LookupError(f"encoder {encoder_id} cannot embed a {query} query")
        return encoder_id
    ids = index.encoder_ids()
    if not ids:
        raise LookupError(f"{index.uri}: the index holds no windows yet")
    have_target = [e for e in ids if target is None or index.count("windows", encoder=e, modality=target)]
    if not have_target:
        raise LookupError(f"the index holds no {target!r} windows (it has {', '.join(index.indexed_modalities())})")
    for eid in reversed(have_target):
        if _can_embed(index.encoder_config(eid), query):
            return eid
    what = "text-aligned encoder (trained with --text-tower)" if query == "text" else f"encoder with a {query} tower"
    raise LookupError(f"no {what} built the {target!r} windows of this index; build it with such a checkpoint")


def _can_embed(config: dict, query: str) -> bool:
    if query == "text":
        return bool(config.get("text"))
    return query in config.get("towers", {})


def search_text(index, prompt: str, target: str, k: int = 10, where: str | None = None,
                encoder_id: str | None = None, templates: bool = True) -> pl.DataFrame:
    """Windows of `target` that match a text prompt; `templates=False` embeds the prompt as it
    is, not averaged over the prompt templates the towers were trained against."""
    if not prompt or not prompt.strip():
        raise ValueError("the text prompt is empty")
    encoder_id = index.pick_encoder_id("text", target, encoder_id)
    vec = index.encode_text([prompt.strip() if templates else prompt], encoder_id, templates=templates)[0]
    return index.search_vector(vec, target, k, where, encoder_id, match_kind="text")


def search_video(index, path, target: str, k: int = 10, where: str | None = None,
                 start: float | None = None, end: float | None = None,
                 encoder_id: str | None = None) -> pl.DataFrame:
    """Windows of `target` that match the [start, end] part of a video file."""
    encoder = pick_encoder(index, "video", target, encoder_id)
    return index.search_vector(embed_clip(inputs.read_video(path, start, end), encoder), target, k, where, encoder.id)


def guess_modality(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix == ".bvh" or Path(path).stem.endswith("_skeleton"):
        return "pose"
    return "imu"


def classify(index, path_or_stream, labels: list[str], modality: str | None = None,
             start: float | None = None, end: float | None = None, rate: float | None = None,
             encoder_id: str | None = None, **read_kw) -> pl.DataFrame:
    """Zero-shot recognition: how well the clip matches each label's prompt.

    Columns: label, score, cosine; sorted by score. `cosine` is the similarity of the clip's
    vector to the label's template-averaged text vector, taken relative to the index's mean
    window of the modality (`Encoder.label_cosines`; plain when the index has none); `score` is
    their softmax over the given labels at the checkpoint's learned temperature: a
    probability-like share that sums to 1 over these labels and says nothing about labels not
    listed.
    """
    labels = [s.strip() for s in labels if s and s.strip()]
    labels = list(dict.fromkeys(labels))
    if len(labels) < 2:
        raise ValueError("give at least two distinct labels to choose between")
    if isinstance(path_or_stream, ImuStream):
        modality = "imu"
    elif isinstance(path_or_stream, PoseStream):
        modality = "pose"
    modality = modality or guess_modality(path_or_stream)
    encoder = pick_encoder(index, "text", None, encoder_id)
    if modality == "video":
        stream = inputs.read_video(path_or_stream, start, end)
    else:
        stream = path_or_stream
        if not isinstance(stream, (ImuStream, PoseStream)):
            read = inputs.read_imu if modality == "imu" else inputs.read_pose
            stream = read(stream, rate, **inputs.reader_options(read_kw, modality))
        if start is not None or end is not None:
            stream = inputs.crop_stream(stream, start or 0.0, end)
    vec = embed_clip(stream, encoder)
    # scored relative to the index's mean window of this modality (Encoder.label_cosines): the
    # clip is taken as one more window of the archive the index holds
    center = index.mean_vector(encoder.id, modality)
    centred = encoder.label_cosines(vec[None, :], labels, center)[0]
    for n, label in enumerate(labels):  # a label naming a taught concept: the clip against its examples
        score = index.concept_cosine(label, encoder.id, modality, vec, center)
        if score is not None:  # both taken relative to the archive's mean window, as the text cosines are
            centred[n] = score
    scale = float(np.exp(min(float(encoder.model.logit_scale.detach()), np.log(100.0))))
    z = scale * (centred - centred.max())
    prob = np.exp(z) / np.exp(z).sum()
    df = pl.DataFrame({"label": labels, "score": prob.astype(np.float64), "cosine": centred.astype(np.float64)})
    return df.sort("score", descending=True, maintain_order=True)
