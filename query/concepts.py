"""Concepts taught by example: a phrase and a handful of windows (or query files) that show it.

    ix.teach("left hook", window_ids=[12, 40, 77])
    ix.search_text("left hook", target="imu")     # searches with the examples' prototype

A concept keeps, per encoder, the prototype of its examples: the mean of their unit vectors,
renormalised (a class prototype over frozen embeddings; no training, milliseconds). A text
search whose prompt is a concept's name (case and surrounding spaces aside) searches with that
prototype instead of the prompt's text vector, and `classify` scores a label that names a
concept against its prototype. On the demo index the prototype alone beat the prototype blended
with the text vector (README, "Teach by example"), so the text vector is not used.

The concepts live in the index beside its tables (indexer.kept.KeptFiles.concepts, one JSON side file a
build never touches), so they survive rebuilds and incremental adds; the Index methods teach,
concepts and forget (query.api) are the way in.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import polars as pl

from indexer.model import Modality
from query import inputs
from query.embedding import embed_clip
from query.searcher import Searcher

MAX_NAME_CHARS = 200
MAX_EXAMPLES = 1000
# A search for a concept with counter-examples searches with unit(prototype - COUNTER_WEIGHT x unit(their
# prototype)): chosen on the selection sets (docs/words.md, "Counter-examples").
COUNTER_WEIGHT = 0.5


def key(name: str) -> str:
    """The name a concept is matched by: stripped, case-folded, inner spaces collapsed."""
    return " ".join(str(name).split()).casefold()


def check_name(name) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("the concept name is empty: give the phrase the examples show, e.g. \"left hook\"")
    name = " ".join(name.split())
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"the concept name is {len(name)} characters; the limit is {MAX_NAME_CHARS}")
    return name


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def prototype_vector(vectors) -> np.ndarray:
    """A concept's read-out from its examples' vectors: the renormalised mean of their unit
    vectors (bench/zeroshot.py's few-shot figures use this very function)."""
    return _unit(np.mean(_unit(np.asarray(vectors)), axis=0))


def cosines(vectors, prototypes, center=None) -> np.ndarray:
    """(N, C) read-out of N windows against C concept prototypes: cosines with both taken relative
    to `center`, the index's mean window of the modality (as the text cosines of `classify` are;
    plain cosines without one). `Index.classify` scores a label naming a concept so, and
    bench/zeroshot.py's few-shot figures come from this very function. Chosen by measurement
    (docs/words.md, "Few-shot read-out"): a Tip-Adapter cache of the examples, the nearest
    example, the text vector blended in and whitening did not beat it on a selection set apart
    from the test subjects."""
    v = np.atleast_2d(np.asarray(vectors, np.float64))
    p = np.atleast_2d(np.asarray(prototypes, np.float64))
    if center is not None:
        c = np.asarray(center, np.float64)
        v, p = _unit(_unit(v) - c), _unit(_unit(p) - c)
    return _unit(v) @ _unit(p).T


def teach(searcher: Searcher, name: str, window_ids=(), files=(), modality: Modality | None = None,
          not_windows=(), **read_kw) -> dict:
    """Store (or replace) concept `name` taught by the windows `window_ids` of the index and the
    query `files` (read like `search_file`'s, `modality` guessed from the name when not given),
    with `not_windows`, windows of the index that do not show it (counter-examples: a search
    for the concept then leans away from them and leaves them out). Counter-examples alone, for
    a concept already taught, are added to its own. Returns the stored concept."""
    name = check_name(name)
    ids = list(dict.fromkeys(_window_id(i) for i in (window_ids or [])))
    nots = list(dict.fromkeys(_window_id(i) for i in (not_windows or [])))
    files = [str(f) for f in (files or [])]
    stored = searcher.stored_concepts()
    if not ids and not files:
        if not nots:
            raise ValueError(f"no examples for {name!r}: give window ids (--windows) or query files (--files)")
        if key(name) not in stored:
            raise ValueError(f"no concept {name!r} to add counter-examples to: teach it by examples first "
                             "(--windows or --files); what it is not cannot say what it is")
        concept = dict(stored[key(name)])
        nots = list(dict.fromkeys([*concept.get("not_windows", []), *nots]))
        ids = concept["windows"]
    else:
        if len(ids) + len(files) > MAX_EXAMPLES:
            raise ValueError(f"{len(ids) + len(files)} examples; a concept takes at most {MAX_EXAMPLES}")
        sums, labels = _window_vectors(searcher, ids)
        for path in files:
            mod = modality or inputs.guess_modality(path)
            for enc, vec in _embed_file(searcher, path, mod, read_kw).items():
                sums.setdefault((enc, mod), []).append(_unit(vec))
        concept = {
            "name": name,
            "windows": ids,
            "files": [Path(f).name for f in files],
            "labels": dict(pl.Series(labels, dtype=pl.Utf8).value_counts(sort=True).iter_rows()) if labels else {},
            "prototypes": _means(sums),  # encoder id -> modality -> unit vector
            "examples": {},  # encoder id -> modality -> how many windows (or files) made it
        }
        for (enc, mod), vecs in sums.items():
            concept["examples"].setdefault(enc, {})[mod] = len(vecs)
    both = sorted(set(ids) & set(nots))
    if both:
        raise ValueError(f"window(s) {', '.join(map(str, both[:10]))} given both as examples and as counter-examples")
    if len(nots) > MAX_EXAMPLES:
        raise ValueError(f"{len(nots)} counter-examples; a concept takes at most {MAX_EXAMPLES}")
    concept["not_windows"] = nots
    concept["counters"] = _means(_window_vectors(searcher, nots)[0]) if nots else {}  # as prototypes
    concept["taught_at"] = time.time()
    stored[key(name)] = concept
    searcher.save_concepts(stored)
    return concept


def _window_vectors(searcher: Searcher, ids: list[int]) -> tuple[dict[tuple[str, str], list], list[str]]:
    """({(encoder id, modality): unit vectors}, labels) of the windows `ids` and of the same
    moments in their recordings' other modalities (a pose window beside an IMU one: on the demo a
    prototype searches its own modality with mAP 1.0 but another one with 0.46, below the words;
    README, Teach by example)."""
    sums: dict[tuple[str, str], list] = {}
    if not ids:
        return sums, []
    rows = searcher.windows(None, ["id", "encoder_id", "recording_id", "modality", "t_start", "label"], ids=ids)
    missing = sorted(set(ids) - set(rows["id"].to_list()))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        raise LookupError(f"no window with id {shown} in this index (ids come from a search's window_id column)")
    spans = rows.select("encoder_id", "recording_id", pl.col("t_start").round(3)).unique()
    moments = searcher.windows(None, ["encoder_id", "recording_id", "modality", "t_start", "vector"],
                               recording=spans["recording_id"].unique().to_list())
    moments = moments.with_columns(pl.col("t_start").round(3)).join(
        spans, on=["encoder_id", "recording_id", "t_start"], how="semi")
    for enc, mod, vec in moments.select("encoder_id", "modality", "vector").iter_rows():
        sums.setdefault((enc, mod), []).append(_unit(vec))
    return sums, [s for s in rows["label"].to_list() if s]


def _means(sums: dict[tuple[str, str], list]) -> dict[str, dict]:
    """{encoder id: {modality: the renormalised mean of the unit vectors}} (prototype_vector)."""
    out: dict[str, dict] = {}
    for (enc, mod), vecs in sums.items():
        out.setdefault(enc, {})[mod] = [float(x) for x in prototype_vector(vecs)]
    return out


def _window_id(value) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"window id {value!r} is not a whole number") from None
    if out < 0 or out != float(value):
        raise ValueError(f"window id {value!r} is not a window id (a whole number >= 0)")
    return out


def _embed_file(searcher: Searcher, path: str, modality: Modality, read_kw: dict) -> dict[str, np.ndarray]:
    """The file's vector by every encoder of the index that can embed its modality."""
    if modality == "video":
        stream = inputs.read_video(path, None, None)
    else:
        read = inputs.read_imu if modality == "imu" else inputs.read_pose
        options = inputs.reader_options(read_kw, modality)
        options.pop("rate", None)
        stream = read(path, read_kw.get("rate"), **options)
    out = {}
    for enc in searcher.encoder_ids():
        encoder = searcher.encoder(enc)
        if modality in getattr(encoder, "modalities", []):
            out[enc] = embed_clip(stream, encoder)
    if not out:
        raise LookupError(f"{Path(path).name}: no encoder of this index embeds {modality} clips")
    return out


def forget(searcher: Searcher, name: str) -> dict:
    """Remove concept `name`; returns what was removed."""
    stored = searcher.stored_concepts()
    gone = stored.pop(key(check_name(name)), None)
    if gone is None:
        raise LookupError(f"no concept {name!r} in this index{_known(stored)}")
    searcher.save_concepts(stored)
    return gone


def _known(stored: dict) -> str:
    names = sorted(c["name"] for c in stored.values())
    return f"; it has {', '.join(map(repr, names))}" if names else "; it has none (teach one with `query teach`)"


def find(searcher: Searcher, name: str) -> dict | None:
    """The concept a prompt names, or None."""
    if not name or not name.strip():
        return None
    return searcher.stored_concepts().get(key(name))


def table(searcher: Searcher) -> pl.DataFrame:
    """The concepts as rows: name, examples (how many), windows, files, not_windows (the
    counter-examples), encoders, labels (the example windows' labels, most common first)."""
    rows = [{"name": c["name"], "examples": len(c["windows"]) + len(c["files"]), "windows": c["windows"],
             "files": c["files"], "not_windows": c.get("not_windows", []), "encoders": sorted(c["prototypes"]),
             "labels": list(c.get("labels", {}))}
            for c in searcher.stored_concepts().values()]
    schema = {"name": pl.Utf8, "examples": pl.Int64, "windows": pl.List(pl.Int64), "files": pl.List(pl.Utf8),
              "not_windows": pl.List(pl.Int64), "encoders": pl.List(pl.Utf8), "labels": pl.List(pl.Utf8)}
    return pl.DataFrame(rows, schema=schema).sort("name")


def prototype(concept: dict, encoder_id: str, modality: Modality, field: str = "prototypes") -> np.ndarray | None:
    """The concept's prototype among windows of `modality`: that of its examples' windows of that
    modality, else (cross-modal, weaker) the mean of its other modalities' prototypes.
    `field="counters"`: the same of its counter-examples."""
    protos = (concept.get(field) or {}).get(encoder_id) or {}
    if modality in protos:
        return np.asarray(protos[modality], np.float32)
    if not protos:
        return None
    return _unit(np.mean([np.asarray(v, np.float64) for v in protos.values()], axis=0)).astype(np.float32)


def search_vector(concept: dict, encoder_id: str, modality: Modality) -> np.ndarray | None:
    """What a search for the concept searches with: its prototype, leaning away from its
    counter-examples' prototype by COUNTER_WEIGHT when it has them (Rocchio's feedback; chosen on
    the selection sets, docs/words.md, "Counter-examples")."""
    proto = prototype(concept, encoder_id, modality)
    counter = prototype(concept, encoder_id, modality, "counters")
    if proto is None or counter is None:
        return proto
    return _unit(_unit(proto) - COUNTER_WEIGHT * _unit(counter)).astype(np.float32)


def vector(searcher: Searcher, name: str, encoder_id: str, modality: Modality) -> np.ndarray | None:
    """The prototype of the concept `name` names for `encoder_id`'s windows of `modality`, or
    None when no concept is so named or it has none."""
    concept = find(searcher, name)
    return None if concept is None else prototype(concept, encoder_id, modality)


def cosine(searcher: Searcher, name: str, encoder_id: str, modality: Modality, vec: np.ndarray,
           center: np.ndarray | None = None) -> float | None:
    """How well one window's vector `vec` matches the concept `name` names (`cosines`, relative
    to `center`), or None when no concept is so named or it has no prototype."""
    proto = vector(searcher, name, encoder_id, modality)
    return None if proto is None else float(cosines(vec, proto, center)[0, 0])


def search(searcher: Searcher, concept: dict, target: str, k: int, where: str | None,
           encoder_id: str | None) -> pl.DataFrame | None:
    """Windows of `target` nearest the concept's prototype for the encoder that would search them
    (the one named, else the newest one the concept has a prototype for and that has `target`
    windows), with a `concept` column; None when the concept has no such prototype."""
    if encoder_id is not None:
        candidates = [encoder_id] if encoder_id in concept["prototypes"] else []
    else:
        candidates = [e for e in reversed(searcher.encoder_ids())
                      if e in concept["prototypes"] and searcher.count("windows", encoder=e, modality=target)]
    if not candidates:
        return None
    # The examples the concept was taught with are relevant to it by the user's own word: match 1.0;
    # its counter-examples are not, by the same word: left out (k more are asked for in their place).
    nots = [int(w) for w in concept.get("not_windows", [])]
    hits = searcher.search_vector(search_vector(concept, candidates[0], target), target, k + len(nots), where,
                                  candidates[0], match_kind="concept", known=[int(w) for w in concept.get("windows", [])])
    if nots:
        hits = hits.filter(~pl.col("window_id").is_in(nots)).head(k)
        hits = hits.with_columns(pl.int_range(1, hits.height + 1, dtype=hits["rank"].dtype).alias("rank"))
    return hits.with_columns(pl.lit(concept["name"]).alias("concept"))
