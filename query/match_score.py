"""How likely a hit is what the query asked for: a calibrated probability per hit (`match`).

A cosine alone does not say whether a hit is relevant: its scale differs between query kinds,
modalities, checkpoints and archives. Each hit is described by the features below, taken
relative to the query's own scores against a fixed random sample of the index's windows, and a
model fitted on labelled, held-out data (bench/calibrate.py) maps them to the probability that
the hit is relevant (shares the query's label):

    cosine       the hit's cosine with the query
    z            (cosine - mean) / std of the query's cosines against the sample
    percentile   share of the sample the hit scores above
    below_best   cosine - the best cosine of the query's hits (0 for the best; exact
                 self-matches left out)

One model per query kind: "text" (a prompt), "example" (an IMU / pose / video clip or an
indexed window), "concept" (a concept's prototype, query.concepts). A model is a linear score
over some of the features, made a probability by a logistic (Platt) or an isotonic map, both
non-decreasing, so within one query a higher cosine never gets a lower probability.

The fitted models ship as `calibration.json` beside the checkpoint they belong to (the checkpoint
folder, or the shipped model whose encoder id it names). A checkpoint without one falls back to
the relative models of the built-in checkpoint (`relative`: no raw cosine, whose scale is the
checkpoint's own); a missing or unreadable file is said in one log line and falls back the same
way. An exact self-match (cosine >= SELF_MATCH, a window searched with itself) is 1.0 whatever
the model says, and so is a concept's own example among its hits (query.concepts.search).
docs/match_score.md has the measured reliability.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from encoders import SHIPPED

log = logging.getLogger(__name__)

CALIBRATION = "calibration.json"
FORMAT = "motionsearch-match-score/1"
FEATURES = ("cosine", "z", "percentile", "below_best")
KINDS = ("text", "example", "concept")
SELF_MATCH = 0.9999  # a cosine this high is the query's own vector found again
BACKGROUND_WINDOWS = 1000  # windows of random recordings the scores are taken relative to
FALLBACK_CHECKPOINT = "builtin"  # whose relative models serve a checkpoint without calibration
# The words the page shows (ui.views.score_cue): a hit is a "strong match" from STRONG up, where
# the precision measured on data the calibration never saw was >= 0.90 (docs/match_score.md).
STRONG, FAIR = 0.90, 0.50


def features(scores: np.ndarray, background: np.ndarray, best: float | None = None) -> np.ndarray:
    """(n, len(FEATURES)) features of one query's hit cosines `scores`, given the query's cosines
    against the background sample and the best cosine among its hits (default: max of `scores`,
    exact self-matches left out)."""
    scores = np.asarray(scores, np.float64)
    background = np.sort(np.asarray(background, np.float64))
    if best is None:
        rest = scores[scores < SELF_MATCH]
        best = float(rest.max()) if len(rest) else float(scores.max(initial=0.0))
    mean, std = (float(background.mean()), float(background.std())) if len(background) else (0.0, 0.0)
    z = (scores - mean) / max(std, 1e-6)
    below = np.searchsorted(background, scores, side="left") / max(len(background), 1)
    return np.column_stack([scores, z, below, np.minimum(scores - best, 0.0)])


@dataclass
class Model:
    """A linear score over `features`, mapped to a probability by `method` ("platt": a logistic;
    "isotonic": a non-decreasing step map through the points (x, y))."""
    features: list[str]
    coef: np.ndarray
    intercept: float
    method: str = "platt"
    x: np.ndarray | None = None
    y: np.ndarray | None = None

    def linear(self, feats: np.ndarray) -> np.ndarray:
        cols = [FEATURES.index(f) for f in self.features]
        return feats[:, cols] @ self.coef + self.intercept

    def predict(self, feats: np.ndarray) -> np.ndarray:
        lin = self.linear(feats)
        if self.method == "isotonic":
            return np.interp(lin, self.x, self.y)
        return 1.0 / (1.0 + np.exp(-lin))

    def to_json(self) -> dict:
        out = {"features": list(self.features), "coef": [float(c) for c in self.coef],
               "intercept": float(self.intercept), "method": self.method}
        if self.method == "isotonic":
            out["x"], out["y"] = [float(v) for v in self.x], [float(v) for v in self.y]
        return out

    @classmethod
    def from_json(cls, d: dict) -> Model:
        feats = [str(f) for f in d["features"]]
        unknown = [f for f in feats if f not in FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {list(FEATURES)}")
        coef = np.asarray(d["coef"], np.float64)
        if coef.shape != (len(feats),) or not np.all(np.isfinite(coef)) or np.any(coef < 0):
            raise ValueError("coef must be one finite, non-negative number per feature")
        method = d.get("method", "platt")
        if method not in ("platt", "isotonic"):
            raise ValueError(f"unknown method {method!r}")
        x = y = None
        if method == "isotonic":
            x, y = np.asarray(d["x"], np.float64), np.asarray(d["y"], np.float64)
            if (x.shape != y.shape or len(x) < 2 or np.any(np.diff(x) < 0) or np.any(np.diff(y) < 0)
                    or np.any((y < 0) | (y > 1))):
                raise ValueError("the isotonic map must be non-decreasing points with y in [0, 1]")
        return cls(feats, coef, float(d["intercept"]), method, x, y)


@dataclass
class Calibration:
    """The models of one checkpoint: per query kind, and the `relative` ones (without the raw
    cosine) that serve other checkpoints. `source` says where they came from, for the record."""
    kinds: dict[str, Model]
    relative: dict[str, Model]
    source: str

    def model(self, kind: str) -> Model | None:
        return self.kinds.get(kind) or self.kinds.get("example")


def read(path: str | Path) -> Calibration:
    """A calibration file -> Calibration; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        d = json.loads(path.read_text())
        if d.get("format") != FORMAT:
            raise ValueError(f"format is {d.get('format')!r}, not {FORMAT!r}")
        kinds = {k: Model.from_json(m) for k, m in d["kinds"].items() if k in KINDS}
        relative = {k: Model.from_json(m) for k, m in d.get("relative", {}).items() if k in KINDS}
        if not kinds:
            raise ValueError(f"no model for any of {list(KINDS)}")
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: not a match-score calibration ({type(exc).__name__}: {exc})") from None
    return Calibration(kinds, relative, str(path))


_loaded: dict[str, Calibration | None] = {}


def _shipped_for(encoder_id: str) -> Path | None:
    """The calibration file of the shipped checkpoint with this encoder id, if any."""
    for folder in SHIPPED.values():
        path = folder / CALIBRATION
        try:
            if json.loads(path.read_text()).get("encoder_id") == encoder_id:
                return path
        except (OSError, ValueError, AttributeError):
            continue
    return None


def fallback() -> Calibration | None:
    """The relative models of the built-in checkpoint's calibration (None when it is unreadable)."""
    if "" not in _loaded:
        path = SHIPPED[FALLBACK_CHECKPOINT] / CALIBRATION
        try:
            own = read(path)
            _loaded[""] = Calibration(own.relative, {}, f"{path} (relative models)") if own.relative else None
        except ValueError as exc:
            log.warning("match score: no fallback calibration (%s); hits carry no match probability", exc)
            _loaded[""] = None
    return _loaded[""]


def for_checkpoint(encoder_id: str, folder: Callable[[], Path | str]) -> Calibration | None:
    """The calibration of a checkpoint: `calibration.json` in its folder (`folder()`, asked only
    once per encoder id), else that of the shipped checkpoint with this encoder id, else the
    fallback, said in one log line. Cached per encoder id."""
    if encoder_id not in _loaded:
        own = Path(folder()) / CALIBRATION
        path = own if own.exists() else _shipped_for(encoder_id)
        found = None
        if path is None:
            log.warning("match score: no %s for encoder %s; using the built-in fallback (docs/match_score.md)",
                        CALIBRATION, encoder_id)
        else:
            try:
                found = read(path)
            except ValueError as exc:
                log.warning("match score: %s; using the built-in fallback", exc)
        _loaded[encoder_id] = found or fallback()
    return _loaded[encoder_id]


def probabilities(calibration: Calibration | None, kind: str, scores: np.ndarray, background: np.ndarray,
                  best: float | None = None) -> np.ndarray:
    """The match probability of each hit cosine in `scores` of one query (NaN without a model)."""
    scores = np.asarray(scores, np.float64)
    model = calibration.model(kind) if calibration is not None else None
    if model is None or len(scores) == 0:
        return np.full(len(scores), np.nan)
    p = model.predict(features(scores, background, best))
    return np.where(scores >= SELF_MATCH, 1.0, np.clip(p, 0.0, 1.0))


def background_vectors(windows: Callable[..., pl.DataFrame], encoder_id: str, target: str,
                       n: int = BACKGROUND_WINDOWS, seed: int = 0) -> np.ndarray:
    """Vectors of every `target` window of `encoder_id` in random recordings holding about `n`
    of them (fixed seed: the same index gives the same sample); `windows` reads the index's
    window rows (query.searcher.Searcher.windows)."""
    rows = windows(columns=["recording_id"], encoder=encoder_id, modality=target)
    if rows.height == 0:
        return np.zeros((0, 0), np.float32)
    counts = rows.group_by("recording_id").len().sort("recording_id")
    order = np.random.default_rng(seed).permutation(counts.height)
    total = np.cumsum(counts["len"].to_numpy()[order])
    chosen = counts["recording_id"].to_numpy()[order[: int(np.searchsorted(total, n)) + 1]]
    vecs = windows(columns=["vector"], encoder=encoder_id, modality=target, recording=chosen.tolist())
    return np.asarray(vecs["vector"].to_list(), np.float32)


def with_match(hits: pl.DataFrame, queries: np.ndarray, background: np.ndarray, calibration: Calibration | None,
               kind: str, known: Collection[int] = ()) -> pl.DataFrame:
    """`hits` (query API columns, with `query` = row of `queries`) with a `match` column: each
    hit's probability of being relevant, taken per query. Hits whose `window_id` is in `known`
    are relevant by definition (the examples a concept was taught with): 1.0, and left out of
    the best cosine the others are measured from, as exact self-matches are (the calibration was
    fitted on concepts searched among recordings other than their examples')."""
    if hits.height == 0:
        return _after_score(hits.with_columns(pl.lit(None, dtype=pl.Float64).alias("match")))
    queries = np.atleast_2d(np.asarray(queries, np.float32))
    bg = queries @ background.T if background.size else np.zeros((len(queries), 0))
    rows = hits["query"].to_numpy() if "query" in hits.columns else np.zeros(hits.height, np.int64)
    scores = hits["score"].to_numpy()
    is_known = hits["window_id"].is_in(list(known)).to_numpy() if len(known) else np.zeros(hits.height, bool)
    match = np.full(hits.height, np.nan)
    for q in np.unique(rows):
        at = rows == q
        rest = scores[at & ~is_known & (scores < SELF_MATCH)]
        best = float(rest.max()) if len(rest) else None
        match[at] = probabilities(calibration, kind, scores[at], bg[q], best)
    match[is_known & ~np.isnan(match)] = 1.0
    return _after_score(hits.with_columns(pl.Series("match", match, dtype=pl.Float64).fill_nan(None)))


def _after_score(hits: pl.DataFrame) -> pl.DataFrame:
    cols = [c for c in hits.columns if c != "match"]
    at = cols.index("score") + 1 if "score" in cols else len(cols)
    return hits.select([*cols[:at], "match", *cols[at:]])
