"""Queries in the text-aligned space: a text prompt, a video clip, zero-shot classification.

The Index methods search_text, classify and search_file(modality="video") delegate here.
An index may hold several encoders; these queries use the most recent one that can embed the
query (a text tower, a video tower) and has windows of the target modality
(`Searcher.pick_encoder_id`). Clips are embedded by `query.embedding`, like every other query.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from encoders import (
    EXPAND_HITS,
    balanced,
    centred_cosines,
    expanded_query,
    label_sums,
    macro_f1,
    refined_labels,
    spread,
)
from indexer import ImuStream, PoseStream, where_filter
from indexer.bounds import MAX_K, check_range
from indexer.model import MODALITIES, Modality
from query import concepts, inputs
from query.embedding import embed_clip
from query.searcher import Searcher


def search_text(searcher: Searcher, prompt: str, target: str | Sequence[str], k: int = 10, where: str | None = None,
                encoder_id: str | None = None, templates: bool = True, expand: bool = True) -> pl.DataFrame:
    """Windows of `target` that match a text prompt; `templates=False` embeds the prompt as it
    is, not averaged over the prompt templates the towers were trained against.

    With `expand` (the default) the search runs twice: the prompt finds its EXPAND_HITS best
    windows, and the prompt's vector joined by their mean (encoders.labels.expanded_query)
    searches again (docs/words.md, "Text search joined by its first hits"). The hits' `score` is
    their cosine with that joined vector; their `match` is taken from their cosines with the
    prompt itself, which the calibration was fitted on.

    Several modalities (`("imu", "pose")` or "imu+pose") search the moments of the archive by all
    they hold (`_search_joined`): one hit per time span, scored by each modality's windows there."""
    if not prompt or not prompt.strip():
        raise ValueError("the text prompt is empty")
    modalities = modalities_of(target)
    if len(modalities) > 1:
        return _search_joined(searcher, prompt, modalities, k, where, encoder_id, templates, expand)
    encoder_id, vec, query = _text_query(searcher, prompt, modalities[0], where, encoder_id, templates, expand)
    return searcher.search_vector(query, modalities[0], k, where, encoder_id, match_kind="text",
                                  match_for=None if query is vec else np.asarray(vec, np.float64))


def _text_query(searcher: Searcher, prompt: str, target: Modality, where: str | None, encoder_id: str | None,
                templates: bool, expand: bool) -> tuple[str, np.ndarray, np.ndarray]:
    """(encoder id, the prompt's vector, the vector to search `target` with): the prompt's own, or
    with `expand` joined by the mean of its first hits among the windows `where` admits."""
    encoder_id = searcher.pick_encoder_id("text", target, encoder_id)
    vec = searcher.encode_text([prompt.strip() if templates else prompt], encoder_id, templates=templates,
                               modality=target)[0]
    if not expand:
        return encoder_id, vec, vec
    first = searcher.nearest(encoder_id, target, vec, EXPAND_HITS, where, columns=["vector"],
                             search_params=dict(searcher.search_params))
    if not first.height:
        return encoder_id, vec, vec
    return encoder_id, vec, expanded_query(vec, np.asarray(first["vector"].to_list(), np.float32))


def _search_joined(searcher: Searcher, prompt: str, modalities: tuple[Modality, ...], k: int, where: str | None,
                   encoder_id: str | None, templates: bool, expand: bool) -> pl.DataFrame:
    """A text search of several modalities at once: each modality searched as `search_text`
    searches it (its own encoder, expansion and match calibration), its JOINED_POOL * k best
    windows (at least JOINED_MIN) taken, and every time span any of them found scored by every
    modality: a span's windows of a modality are those of its recording starting at the same
    time (to 10 ms); a modality's score there is the best of its windows (several sensors: the
    best sensor), and the span's `score` and `match` are the means over the modalities it has
    (`_joined_match`).
    A span ranked high by both modalities yet in neither's pool is missed, as any re-ranking
    misses it. The hit's `window_id`, `body_part` and metadata are those of its first modality's
    window (the order given), `modality` names the modalities that scored it ("imu+pose").

    On the selection sets (docs/words.md, "Text search by all a moment holds"), text -> window
    P@1 over every label name: held-out mocap and composed takes 0.740 (sensor alone 0.507,
    skeleton alone 0.740), the demo's six sentences 6 of 6 first (sensor 4, skeleton 4)."""
    check_range("k", k, 1, MAX_K)
    pool = min(MAX_K, max(JOINED_MIN, JOINED_POOL * k))
    per: list[tuple] = []  # (modality, encoder id, prompt vector, search vector, its pool)
    for m in modalities:
        eid, vec, query = _text_query(searcher, prompt, m, where, encoder_id, templates, expand)
        top = searcher.nearest(eid, m, query, pool, where, columns=[*SPAN_COLUMNS, "vector"],
                               search_params=dict(searcher.search_params)).drop("query", "score")
        per.append((m, eid, vec, query, top))
    spans = pl.concat([top.select("recording_id", _span_key()) for *_, top in per]).unique()
    scored = [_modality_scores(searcher, m, eid, vec, query, top, spans, where) for m, eid, vec, query, top in per]
    joined = spans
    for m, frame in zip(modalities, scored):
        joined = joined.join(frame.rename({c: f"{c}:{m}" for c in frame.columns if c not in ("recording_id", "span")}),
                             on=["recording_id", "span"], how="left")
    have = [pl.col(f"score:{m}").is_not_null() for m in modalities]
    first = lambda col: pl.coalesce([pl.col(f"{col}:{m}") for m in modalities])  # noqa: E731
    named = pl.concat_str([pl.when(h).then(pl.lit(m)) for h, m in zip(have, modalities)], separator="+",
                          ignore_nulls=True)
    hits = (joined.with_columns(score=pl.mean_horizontal([pl.col(f"score:{m}") for m in modalities]),  # nulls left out
                                match=pl.Series(_joined_match(searcher, joined, per), dtype=pl.Float64).fill_nan(None),
                                modality=named)
            .sort(["score", "recording_id", "span"], descending=[True, False, False]).head(k))
    return hits.select(
        pl.int_range(1, pl.len() + 1).cast(pl.Int64).alias("rank"), "score", "match",
        first("window_id").alias("window_id"), "recording_id",
        *[first(c).alias(c) for c in ("dataset", "subject", "label")],
        "modality", *[first(c).alias(c) for c in ("body_part", "t_start", "t_end")])


JOINED_POOL = 5  # a joined text search re-ranks each modality's JOINED_POOL * k best windows ...
JOINED_MIN = 50  # ... and at least this many
SPAN_COLUMNS = ["recording_id", "dataset", "subject", "label", "body_part", "t_start", "t_end"]


def _joined_match(searcher: Searcher, joined: pl.DataFrame, per: list[tuple]) -> np.ndarray:
    """Each span's match probability: the mean of its modalities' text matches, each taken as that
    modality's own search takes it (from the prompt's own cosines, relative to the modality's
    background sample and its best hit here). A model of its own for such spans, fitted on the
    selection sets, was measured and not kept (docs/match_score.md)."""
    probs = []
    for m, eid, vec, _query, _top in per:
        own = joined.select(pl.col(f"window_id:{m}").alias("window_id"), pl.col(f"own:{m}").alias("score"))
        have = own["score"].is_not_null().to_numpy()
        p = np.full(joined.height, np.nan)
        if have.any():
            p[have] = searcher.with_match(own.filter(pl.Series(have)), np.atleast_2d(vec), eid, m, "text")["match"].to_numpy()
        probs.append(p)
    return np.nanmean(np.stack(probs), axis=0) if joined.height else np.zeros(0)


def _span_key() -> pl.Expr:
    return (pl.col("t_start") * 100).round().cast(pl.Int64).alias("span")


def _modality_scores(searcher: Searcher, modality: Modality, encoder_id: str, vec: np.ndarray, query: np.ndarray,
                     top: pl.DataFrame, spans: pl.DataFrame, where: str | None) -> pl.DataFrame:
    """One modality's best window at each span (recording_id, span) it has among `spans`: its
    window's columns, `score` (cosine with `query`) and `own` (its cosine with the prompt's own
    vector `vec`, what its match is taken from). The spans its own search did not find are read
    from the store."""
    windows = top.with_columns(_span_key())
    missing = spans.join(windows.select("recording_id", "span"), on=["recording_id", "span"], how="anti")
    if missing.height:
        # only the stretch of each recording the missing spans lie in: a long recording's other
        # windows are never read
        bounds = missing.group_by("recording_id").agg(pl.col("span").min().alias("lo"), pl.col("span").max().alias("hi"))
        stretch = [where_filter(recording_id=[r], at_least={"t_start": (lo - 1) / 100}, at_most={"t_start": (hi + 1) / 100})
                   for r, lo, hi in bounds.sort("recording_id").iter_rows()]
        spans_sql = " OR ".join(f"({one})" for one in stretch)
        more = searcher.windows(f"({where}) AND ({spans_sql})" if where else spans_sql, ["id", *SPAN_COLUMNS, "vector"],
                                encoder=encoder_id, modality=modality)
        more = (more.rename({"id": "window_id"}).with_columns(_span_key())
                .join(missing, on=["recording_id", "span"], how="semi"))
        more = more.select(windows.columns)  # an empty pool's columns are typed as text: concatenate with rows only
        windows = pl.concat([windows, more]) if windows.height else more
    if not windows.height:
        return windows.drop("vector").with_columns(score=pl.lit(None, pl.Float64), own=pl.lit(None, pl.Float64))
    v = np.asarray(windows["vector"].to_list(), np.float64)
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return (windows.drop("vector").with_columns(pl.Series("score", v @ np.asarray(query, np.float64)),
                                                pl.Series("own", v @ np.asarray(vec, np.float64)))
            .sort("score", descending=True).unique(["recording_id", "span"], keep="first"))


def search_video(searcher: Searcher, path: str | Path, target: str, k: int = 10, where: str | None = None,
                 start: float | None = None, end: float | None = None,
                 encoder_id: str | None = None) -> pl.DataFrame:
    """Windows of `target` that match the [start, end] part of a video file."""
    encoder = searcher.encoder(encoder_id, target, query="video")
    return searcher.search_vector(embed_clip(inputs.read_video(path, start, end), encoder), target, k, where, encoder.id)


def classify(searcher: Searcher, path_or_stream: str | Path | ImuStream | PoseStream, labels: list[str],
             modality: Modality | None = None, start: float | None = None, end: float | None = None, rate: float | None = None,
             encoder_id: str | None = None, refine: bool | str = False, **read_kw) -> pl.DataFrame:
    """Zero-shot recognition: how well the clip matches each label's prompt.

    Columns: label, score, cosine; sorted by score. `cosine` is the similarity of the clip's
    vector to the label's template-averaged text vector, taken relative to the index's mean
    window of the modality (plain cosines when the index has none); `score` is their softmax over
    the given labels at the checkpoint's learned temperature: a probability-like share that sums
    to 1 over these labels and says nothing about labels not listed.

    With `refine` the label vectors are first refined by the index's own windows
    (encoders.labels.refined_labels: each moves REFINE_SHARE of the way toward the mean window
    leaning to it); `refine` a filter (e.g. "body_part = 'right_thigh'") refines by the windows
    it admits only. It helps when the labels name what those windows hold (macro-F1 over whole
    archives: demo 0.67 -> 0.87, BasicMotions 0.83 -> 0.99) and can hurt when they name a few of
    many activities held there (docs/words.md, "Label vectors refined by the archive").
    """
    labels = [s.strip() for s in labels if s and s.strip()]
    labels = list(dict.fromkeys(labels))
    if len(labels) < 2:
        raise ValueError("give at least two distinct labels to choose between")
    if isinstance(path_or_stream, ImuStream):
        modality = "imu"
    elif isinstance(path_or_stream, PoseStream):
        modality = "pose"
    modality = modality or inputs.guess_modality(path_or_stream)
    encoder = searcher.encoder(encoder_id, query="text")
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
    # scored relative to the index's mean window of this modality: the clip is taken as one more
    # window of the archive the index holds
    center = searcher.mean_vector(encoder.id, modality)
    text = encoder.encode_text(labels, modality=modality)
    if refine:
        within = refine if isinstance(refine, str) else None
        text = refined_labels(text, searcher.label_sums(encoder.id, modality, text, center, within))
    w, taught = _label_matrix(searcher, labels, text, encoder.id, modality, center)
    centred = centred_cosines(vec[None, :], w, center)[0]  # a concept's: the clip against its examples
    scores = _one_scale(searcher, centred[None, :], w, taught, encoder.id, modality, center)[0]
    scale = float(np.exp(min(float(encoder.model.logit_scale.detach()), np.log(100.0))))
    z = scale * (scores - scores.max())
    prob = np.exp(z) / np.exp(z).sum()
    df = pl.DataFrame({"label": labels, "score": prob.astype(np.float64), "cosine": centred.astype(np.float64)})
    return df.sort("score", descending=True, maintain_order=True)


def label_recordings(searcher: Searcher, labels: list[str], modality: Modality | str | Sequence[str] | None = None,
                     where: str | None = None, encoder_id: str | None = None, refine: bool = False,
                     spread: bool = False, balance: bool = False) -> pl.DataFrame:
    """Labels for a whole archive: every recording (one row per recording and body part) whose
    windows of `modality` the filter `where` admits, among `labels`, each a text prompt or the
    name of a concept taught by example.

    A recording's vector is the renormalised mean of its windows' unit vectors; it is scored as
    `classify` scores a clip (cosines with the labels' text vectors relative to the index's mean
    window; a label naming a taught concept, with its prototype). With `refine` the label vectors
    are first refined by the windows labelled (those `where` admits): the case refinement is
    made for, labels that name what those windows hold (docs/words.md, "Label vectors refined by
    the archive"). Without `spread` the windows are streamed (never all in memory) and no model
    weights load.

    `modality` None labels by what the index holds, as words search
    (`Searcher.default_label_target`): a sensor and a skeleton together where it holds both, else
    the sensor, else what there is; with `spread`, which follows one modality, the first of those.

    Several modalities (`("imu", "pose")`, or "imu+pose") label each recording by all it holds:
    one row per recording, its scores the mean of each modality's (each relative to that
    modality's mean window), over the modalities the recording has; `body_part` then lists its
    sensors' body parts joined by "+" ("all" for a skeleton alone), and `windows` counts the
    windows of every modality. A sensor and a skeleton of the same take see different things: on
    UTD-MHAD, the built-in model's words alone name the actions with a macro-F1 of 0.157 from the
    wrist or thigh sensor, 0.232 from the Kinect skeleton and 0.267 from both (docs/words.md,
    section 18).

    With `spread` the windows' own scores are spread over the graph of their nearest windows
    (encoders.labels.spread), a taught concept's example windows held to it, and a recording takes
    the mean of its windows' spread scores: with 27 concepts taught from 5 recordings each, this
    labels UTD-MHAD's test subjects' recordings right 0.591 of the time against 0.563
    (docs/words.md, "Few-shot labels spread over the archive"). The windows' vectors are then held
    in memory (at most MAX_SPREAD_WINDOWS). It follows one modality's neighbours, so it takes one.

    With `balance` the recordings' scores are made to share the labels equally
    (encoders.labels.balanced) before each takes its best: for an archive whose activities are
    about equally common (a lab protocol), where words alone pile most recordings onto a few
    labels. Measured per recording, zero-shot, it lifts the demo's macro-F1 from 0.646 to 0.848
    and costs the held-out mocap takes, whose labels are far from equally common, 0.310 -> 0.299
    (docs/words.md, "Balanced label shares").

    Columns: recording_id, body_part, label (the best), cosine (the recording's with that label),
    runner_up, margin (the best score minus the runner-up's: cosines, or with `spread` or
    `balance` the label shares, which sum to 1), windows, given (the recording's own labels, as
    the archive gave them; `agreement` scores the rows against them); sorted by recording_id,
    body_part.
    """
    labels = list(dict.fromkeys(s.strip() for s in labels if s and s.strip()))
    if len(labels) < 2:
        raise ValueError("give at least two distinct labels to choose between")
    modalities = modalities_of(searcher.default_label_target(spread) if modality is None else modality)
    if spread and len(modalities) > 1:
        raise ValueError("spread follows one modality's nearest windows: label with one modality, or without spread")
    encoders = {m: searcher.pick_encoder_id("text", m, encoder_id) for m in modalities}
    texts = {m: searcher.encode_text(labels, e, modality=m) for m, e in encoders.items()}
    parts = [_recording_scores(searcher, labels, texts[m], m, where, encoders[m], refine, spread,
                               len(modalities) == 1) for m in modalities]
    keys, cos, score, counts = parts[0] if len(parts) == 1 else _joined(parts)
    if balance and len(score) < len(labels):
        raise ValueError(f"balance: {len(score)} recording(s) among {len(labels)} labels; sharing the labels equally "
                         "needs at least as many recordings as labels (widen --where, or label without balance)")
    if balance:  # spread scores are shares already: balanced as log-shares
        score = balanced(np.log(np.maximum(score, 1e-12)), tau=1.0) if spread else balanced(score)
    order = np.argsort(-score, axis=1)
    best, second = order[:, 0], order[:, 1]
    rows = np.arange(len(cos))
    names = np.asarray(labels, dtype=object)
    out = keys.with_columns(
        pl.Series("label", names[best].tolist(), pl.Utf8),
        pl.Series("cosine", cos[rows, best].astype(np.float64)),
        pl.Series("runner_up", names[second].tolist(), pl.Utf8),
        pl.Series("margin", (score[rows, best] - score[rows, second]).astype(np.float64)),
        pl.Series("windows", counts.astype(np.int64)),
    )
    # the recordings table whole (two columns), not scoped by id: an index may hold 100,000 recordings
    own = searcher.recordings(columns=["id", "labels"]).rename({"id": "recording_id", "labels": "given"})
    return out.join(own, on="recording_id", how="left", maintain_order="left")


def agreement(labelled: pl.DataFrame, labels: Sequence[str]) -> dict | None:
    """How often `label_recordings`' rows name a recording as its own labels (`given`) do, over
    the rows whose own labels include one of the candidate `labels` (a recording labelled with
    several counts as right when its best is any of them): {"recordings", "right", "accuracy",
    "macro_f1" (over the candidates some recording holds), "labels", "left_out" (rows whose own
    labels name none of the candidates)}; None when no row can be scored."""
    names = set(labels)
    truth, pred = [], []
    for best, given in zip(labelled["label"].to_list(), labelled["given"].to_list()):
        held = [g for g in (given or []) if g in names]
        if held:
            truth.append(best if best in held else held[0])
            pred.append(best)
    if not truth:
        return None
    true, got = np.asarray(truth, dtype=object), np.asarray(pred, dtype=object)
    present = sorted(set(truth))
    return {"recordings": len(truth), "right": int((true == got).sum()), "accuracy": float((true == got).mean()),
            "macro_f1": macro_f1(true, got, present), "labels": len(present), "left_out": labelled.height - len(truth)}


def modalities_of(modality: Modality | str | Sequence[str]) -> tuple[Modality, ...]:
    """The modalities a text search or `label_recordings` reads: one name, names joined by "+"
    ("imu+pose"), or a sequence of names; each once, in order."""
    parts = modality.split("+") if isinstance(modality, str) else [str(m) for m in modality]
    out = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
    bad = [m for m in out if m not in MODALITIES]
    if bad or not out:
        raise ValueError(f"unknown modality {', '.join(map(repr, bad)) or repr(modality)}: "
                         f"give one or more of {', '.join(MODALITIES)}")
    return out  # type: ignore[return-value]


def _recording_scores(searcher: Searcher, labels: list[str], text: np.ndarray, modality: Modality, where: str | None,
                      encoder_id: str, refine: bool, spread: bool,
                      by_body_part: bool) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """One modality's recordings (rows: recording_id, body_part; per body part or, without
    `by_body_part`, per recording with the list of its body parts), their (R, L) centred cosines
    with the labels (`text`: their text vectors), their scores (the cosines on one scale, or
    spread shares) and their windows."""
    meta = searcher.windows(where, ["id", "recording_id", "body_part"], encoder=encoder_id, modality=modality)
    if not meta.height:
        raise LookupError(f"no {modality} windows of encoder {encoder_id} to label" + (f" where {where}" if where else ""))
    meta = meta.with_columns(pl.col("body_part").fill_null(""))
    if by_body_part:
        keys = meta.select("recording_id", "body_part").unique(maintain_order=True).sort("recording_id", "body_part")
        grouped = meta.join(keys.with_row_index("group"), on=["recording_id", "body_part"], how="left").sort("id")
    else:
        keys = (meta.group_by("recording_id").agg(pl.col("body_part").filter(pl.col("body_part") != "").unique())
                .sort("recording_id"))
        grouped = meta.join(keys.select("recording_id").with_row_index("group"), on="recording_id", how="left").sort("id")
    known, group_of = grouped["id"].to_numpy(), grouped["group"].to_numpy().astype(np.int64)
    center = searcher.mean_vector(encoder_id, modality)
    # one scan: the recordings' sums and, to refine, the label sums over the same windows
    # (what Searcher.label_sums(..., where) would scan for again); to spread, the graph holds
    # those windows' vectors in memory already (and keeps them between calls), so none
    if spread:
        batches = [searcher.window_graph(encoder_id, modality, center, where)[:2]]
    else:
        batches = searcher.vector_batches(encoder_id, modality, where)
    sums, counts, leaning = None, np.zeros(keys.height, np.int64), None
    for ids, batch in batches:
        at, keep = _rows_of(known, ids)
        unit = batch[keep] / np.maximum(np.linalg.norm(batch[keep], axis=1, keepdims=True), 1e-12)
        sums = np.zeros((keys.height, batch.shape[1])) if sums is None else sums
        np.add.at(sums, group_of[at][keep], unit)
        np.add.at(counts, group_of[at][keep], 1)
        if refine and center is not None:
            part = label_sums(batch[keep], text, center)
            leaning = part if leaning is None else leaning + part
    if refine:
        text = refined_labels(text, leaning)
    found = counts > 0
    vectors = sums[found] / counts[found, None]
    w, taught = _label_matrix(searcher, labels, text, encoder_id, modality, center)
    cos = centred_cosines(vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12), w, center)
    if spread:
        score = _spread_scores(w, taught, searcher, encoder_id, modality, center, where, known, group_of,
                               keys.height)[found]
    else:
        score = _one_scale(searcher, cos, w, taught, encoder_id, modality, center, where)
    return keys.filter(pl.Series(found)), cos, score, counts[found]


def _joined(parts: list[tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]]
            ) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Several modalities' per-recording scores joined: each recording's cosines and scores the
    mean over the modalities it has, its body parts those of all of them, its windows their sum."""
    ids = sorted(set().union(*(keys["recording_id"].to_list() for keys, *_ in parts)))
    row = {r: i for i, r in enumerate(ids)}
    labels = parts[0][1].shape[1]
    cos, score, seen = np.zeros((len(ids), labels)), np.zeros((len(ids), labels)), np.zeros(len(ids))
    windows = np.zeros(len(ids), np.int64)
    body: list[set[str]] = [set() for _ in ids]
    for keys, c, s, n in parts:
        at = np.array([row[r] for r in keys["recording_id"].to_list()], np.int64)
        cos[at] += c
        score[at] += s
        seen[at] += 1
        windows[at] += n
        for i, parts_of in zip(at, keys["body_part"].to_list()):
            body[i].update(parts_of)
    # a skeleton's or a video's windows are the whole body's ("all"): the sensors' parts say more
    keys = pl.DataFrame({"recording_id": ids, "body_part": ["+".join(sorted(b - {"all"} or b)) for b in body]},
                        schema={"recording_id": pl.Utf8, "body_part": pl.Utf8})
    return keys, cos / seen[:, None], score / seen[:, None], windows


def _label_matrix(searcher: Searcher, labels: list[str], text: np.ndarray, encoder_id: str, modality: Modality,
                  center: np.ndarray | None) -> tuple[np.ndarray, list[dict | None]]:
    """(L, d) one vector per label, so that centred_cosines(windows, it, center) scores every
    label: its text vector, or for a label naming a taught concept the concept's prototype taken
    relative to `center` (query.concepts.cosines); and each label's concept (None for words).
    The concepts file is read once for all the labels."""
    stored = searcher.stored_concepts()
    w = np.array(text, np.float32)
    taught: list[dict | None] = [None] * len(labels)
    for n, label in enumerate(labels):
        concept = stored.get(concepts.key(label))
        proto = None if concept is None else concepts.prototype(concept, encoder_id, modality)
        if proto is not None:
            p = proto / max(float(np.linalg.norm(proto)), 1e-12)
            if center is not None:
                p = p - np.asarray(center, np.float32)
            w[n] = p / max(float(np.linalg.norm(p)), 1e-12)
            taught[n] = concept
    return w, taught


def _one_scale(searcher: Searcher, scores: np.ndarray, w: np.ndarray, taught: list[dict | None], encoder_id: str,
               modality: Modality, center: np.ndarray | None, where: str | None = None) -> np.ndarray:
    """`scores` (N, L) as they are when the labels are all words or all concepts; when they mix
    the two, each label's column standardised by the mean and spread of its scores over the
    index's windows (those `where` admits), times the labels' mean spread. A concept's cosines
    are taken among motion vectors and a prompt's across the gap between text and motion, so
    unscaled a concept outscores every word on every window (docs/words.md, "Concepts and words
    among one set of labels")."""
    concept_labels = sum(c is not None for c in taught)
    if concept_labels in (0, len(taught)):
        return scores
    stats = searcher.score_stats(encoder_id, modality, w, center, where)
    if stats is None:
        return scores
    mean, std = stats
    return (scores - mean) / std * float(std.mean())


def _spread_scores(w: np.ndarray, taught: list[dict | None], searcher: Searcher, encoder_id: str,
                   modality: Modality, center: np.ndarray | None, where: str | None, known: np.ndarray,
                   group_of: np.ndarray, groups: int) -> np.ndarray:
    """(groups, L) per recording, the mean of its windows' label scores spread over the graph of
    the windows `where` admits (Searcher.window_graph), each taught concept's example windows
    among them held to its label."""
    ids, vectors, graph = searcher.window_graph(encoder_id, modality, center, where)
    held: dict[int, int] = {}
    for n, concept in enumerate(taught):
        if concept is not None and concept["windows"]:
            at, keep = _rows_of(ids, np.asarray(concept["windows"], np.int64))
            held.update({int(row): n for row in at[keep]})
    scores = _one_scale(searcher, centred_cosines(vectors, w, center), w, taught, encoder_id, modality, center, where)
    spread_scores = spread(scores, graph, held)
    at, keep = _rows_of(known, ids)
    out = np.zeros((groups, w.shape[0]))
    np.add.at(out, group_of[at][keep], spread_scores[keep])
    total = out.sum(axis=1, keepdims=True)
    return out / np.maximum(total, 1e-12)


def _rows_of(sorted_ids: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of `ids` sits in the ascending `sorted_ids`, and whether it is there at all."""
    at = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return at, sorted_ids[at] == ids
