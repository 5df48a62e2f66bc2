"""Would a concept's match probability tell the truth more often if it knew how many windows of
the archive are relevant to the concept (its base rate), estimated from the search's own scores?

The concept model of query/match_score.py sees a hit's cosine relative to the query's background
sample, not the archive's share of relevant windows, and its fit pools archives whose shares
differ (the held-out mocap: few windows per caption; the demo: one action in six). This measures
label-free estimates of that share `pi`, per concept query, and two ways of using them:

  shift    the calibrated log-odds moved by beta * (logit(pi) - mean logit(pi) of the fitting
           queries) (a prior-shift correction; beta 1 is the textbook one, 0.5 a damped one);
  feature  logit(pi) as one more feature of the concept model (kept only with a positive
           coefficient, as bench/calibrate.py keeps features).

Estimates of pi (the first two need nothing a search lacks; the last two are bounds):

  examples  the share of the background sample scoring at least the mean of the examples'
            leave-one-out cosines (each example against the prototype of the others);
  mixture   the weight of the higher of two Gaussian components fitted to the background cosines;
  archive   one figure per archive: the median over its queries of `examples` (what an index-wide
            estimate could give at best, without a query's own noise);
  labels    the true share of windows sharing the concept's label (an oracle: no search knows it).

A prototype searching another modality than its examples' has no leave-one-out cosines in the
searched modality: its probability is left as fitted. Concept queries are simulated as in
bench/calibrate.py (3 windows of one label from 3 recordings; the other recordings searched, best
20 hits kept). Each variant is fitted on one fitting archive and measured on the other (the
choice), and fitted on both and measured on the archives bench/calibrate.py measures on.

  python bench/concept_base_rate.py --checkpoint builtin --json docs/results/concept_base_rate-builtin.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
for p in (str(REPO), str(REPO / "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

import calibrate  # noqa: E402  (bench/calibrate.py: the archives' windows, the searches, the fit)
import zeroshot  # noqa: E402

from query import match_score  # noqa: E402
from query.concepts import prototype_vector  # noqa: E402

FIT = ["mocap-heldout", "demo"]
MEASURE = ["utd-mhad", "basicmotions", "seglearn-watch"]
ESTIMATES = ("examples", "mixture", "archive", "labels")
VARIANTS = [("fitted today", None, None)] + [(f"{how}: {mode}", how, mode) for how in ESTIMATES
                                             for mode in ("shift 0.5", "shift 1", "feature")]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def logit(p):
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


def concept_queries(vecs: dict, seed: int = 0) -> list[dict]:
    """Simulated concept searches of one archive, with what the estimates need."""
    rng = np.random.default_rng(seed)
    out = []
    for source, (v, labels, recs) in vecs.items():
        for name in sorted(set(labels)):
            have = np.unique(recs[labels == name])
            if len(have) < calibrate.CONCEPT_SHOTS + 1:
                continue
            for _ in range(calibrate.CONCEPT_QUERIES):
                chosen = rng.choice(have, size=calibrate.CONCEPT_SHOTS, replace=False)
                rows = [rng.choice(np.flatnonzero((recs == r) & (labels == name))) for r in chosen]
                proto = prototype_vector(v[rows]).astype(np.float32)
                loo = [float(v[r] @ prototype_vector(v[[s for s in rows if s != r]])) for r in rows]
                for target, (tv, tlabels, trecs) in vecs.items():
                    allowed = ~np.isin(trecs, chosen)
                    hits, scores, bg = calibrate._search(proto, tv, allowed, rng)
                    out.append({"same": source == target, "X": match_score.features(scores, bg),
                                "y": tlabels[hits] == name, "bg": bg, "loo": float(np.mean(loo)),
                                "labels": float(np.mean(tlabels[allowed] == name))})
    return out


def estimate(queries: list[dict]) -> None:
    """Each query's estimates of pi, clipped to [1 / background size, 0.5]."""
    from sklearn.mixture import GaussianMixture

    for q in queries:
        lo = 1.0 / len(q["bg"])
        gm = GaussianMixture(2, random_state=0).fit(q["bg"][:, None])
        q["pi"] = {"examples": float(np.mean(q["bg"] >= q["loo"])),
                   "mixture": float(gm.weights_[int(np.argmax(gm.means_[:, 0]))]), "labels": q["labels"]}
        q["pi"] = {k: float(np.clip(v, lo, 0.5)) for k, v in q["pi"].items()}
    archive = float(np.exp(np.median([np.log(q["pi"]["examples"]) for q in queries if q["same"]])))
    for q in queries:
        q["pi"]["archive"] = archive


def stack(queries: list[dict], how: str | None):
    X = np.vstack([q["X"] for q in queries])
    y = np.concatenate([q["y"] for q in queries]).astype(int)
    groups = np.concatenate([np.full(len(q["y"]), i) for i, q in enumerate(queries)])
    # no estimate where the prototype searches another modality than its examples': NaN
    lpi = np.concatenate([np.full(len(q["y"]), logit(q["pi"][how]) if how and q["same"] else np.nan)
                          for q in queries])
    return X, y, groups, lpi


def fit_variant(train: list[dict], how: str | None, mode: str | None, seed: int):
    """A predictor (X, lpi) -> probabilities fitted on `train`, and its description."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    X, y, groups, lpi = stack(train, how)
    neutral = float(np.nanmean(lpi)) if how else 0.0
    model, _ = calibrate.fit_model(X, y, groups, list(match_score.FEATURES), seed)  # the shipped fit
    beta = {"shift 0.5": 0.5, "shift 1": 1.0}.get(mode, 0.0)

    def shifted(Xn, ln):
        p = model.predict(Xn)
        if not beta:
            return p
        return 1.0 / (1.0 + np.exp(-(logit(p) + beta * np.nan_to_num(ln - neutral))))
    fitted = {"features": model.features, "method": model.method, "neutral_logit_pi": round(neutral, 3)}
    if mode != "feature":
        return shifted, fitted
    Z = np.column_stack([X, np.where(np.isnan(lpi), neutral, lpi)])
    cols = list(range(Z.shape[1]))
    while True:  # as bench/calibrate.py: a feature with a negative coefficient is left out
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(Z[:, cols], y)
        if np.all(lr.coef_[0] >= 0) or len(cols) == 1:
            break
        cols.pop(int(np.argmin(lr.coef_[0])))
    if Z.shape[1] - 1 not in cols:  # the estimate left out: the variant is the fit of today
        return shifted, {**fitted, "prior_kept": False}
    coef, b = np.maximum(lr.coef_[0], 0.0), float(lr.intercept_[0])
    iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(Z[:, cols] @ coef + b, y)

    def predict(Xn, ln):
        Zn = np.column_stack([Xn, np.where(np.isnan(ln), neutral, ln)])
        return iso.predict(Zn[:, cols] @ coef + b)
    names = [*match_score.FEATURES, "logit_pi"]
    return predict, {"features": [names[c] for c in cols], "coef": [round(float(c), 3) for c in coef],
                     "prior_kept": Z.shape[1] - 1 in cols, "neutral_logit_pi": round(neutral, 3)}


def scores(p: np.ndarray, y: np.ndarray) -> dict:
    bins = calibrate.BINS
    at_bin = [(p >= lo) & ((p < hi) if hi < 1 else (p <= hi)) for lo, hi in zip(bins[:-1], bins[1:])]
    strong, fair = p >= match_score.STRONG, (p >= match_score.FAIR) & (p < match_score.STRONG)
    rel, wrong = y == 1, y == 0

    def prec(at):
        return None if not at.any() else round(float(y[at].mean()), 4)
    return {"hits": int(len(y)), "ece": round(float(sum(abs(p[b].mean() - y[b].mean()) * b.sum()
                                                          for b in at_bin if b.any()) / len(y)), 4),
            "strong": {"hits": int(strong.sum()), "precision": prec(strong)},
            "fair": {"hits": int(fair.sum()), "precision": prec(fair)},
            "correct_strong": int((strong & rel).sum()), "correct_fair": int((fair & rel).sum()),
            "correct_weak": int((~strong & ~fair & rel).sum()),
            "wrong_mean_p": None if not wrong.any() else round(float(p[wrong].mean()), 4),
            "wrong_at_least_fair": int((p[wrong] >= match_score.FAIR).sum())}


def verdict(result: dict, today: dict) -> dict:
    """The bars: 'strong' precision >= 0.90 on the measured archives pooled; ECE no worse on any
    archive; wrong hits read no higher on UTD-MHAD and seglearn."""
    measured = {k: v for k, v in result.items() if k.startswith("fit+")}
    strong = sum(m["strong"]["hits"] for m in measured.values())
    correct = sum(round(m["strong"]["hits"] * (m["strong"]["precision"] or 0)) for m in measured.values())
    worse_ece = [k for k, m in result.items() if m["ece"] > today[k]["ece"] + 1e-4]
    wrong_higher = [k for k in ("fit+utd-mhad", "fit+seglearn-watch")
                    if k in result and (result[k]["wrong_mean_p"] or 0) > (today[k]["wrong_mean_p"] or 0) + 1e-4]
    return {"strong_precision_measured": None if not strong else round(correct / strong, 4),
            "ece_worse_on": worse_ece, "wrong_hits_higher_on": wrong_higher,
            "passes": bool((not strong or correct / strong >= 0.9) and not worse_ece and not wrong_higher)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/concept_base_rate.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="builtin", help="`builtin`, `builtin-unrestricted` or a folder")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--data", type=Path, default=zeroshot.DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    from encoders.factory import load_checkpoint

    torch.set_num_threads(1)
    t0 = time.time()
    encoder = load_checkpoint(args.checkpoint)
    sims: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="base-rate-") as tmp:
        for name in FIT + MEASURE:
            log(f"[{name}] embedding")
            sims[name] = concept_queries(calibrate.archive_vectors(encoder, name, args.data, Path(tmp)), args.seed)
            estimate(sims[name])
    report: dict = {"checkpoint": args.checkpoint, "encoder_id": encoder.id, "seed": args.seed,
                    "estimates": {n: {k: round(float(np.median([q["pi"][k] for q in qs if q["same"]])), 4)
                                      for k in ESTIMATES} for n, qs in sims.items()},
                    "variants": {}}
    splits = [([FIT[0]], FIT[1]), ([FIT[1]], FIT[0])] + [(FIT, m) for m in MEASURE]
    for label, how, mode in VARIANTS:
        result, fitted = {}, {}
        for train, test in splits:
            key = f"{train[0]}->{test}" if len(train) == 1 else f"fit+{test}"
            predict, fitted[key] = fit_variant([q for n in train for q in sims[n]], how, mode, args.seed)
            X, y, _, lpi = stack(sims[test], how)
            result[key] = scores(np.clip(predict(X, lpi), 0.0, 1.0), y)
        today = report["variants"].get("fitted today", {}).get("result", result)
        report["variants"][label] = {"result": result, "fitted": fitted["fit+utd-mhad"], "verdict": verdict(result, today)}
        v = report["variants"][label]["verdict"]
        log(f"{label:22s} " + " ".join(f"{k} ece {m['ece']:.3f} strong {m['strong']['hits']}/{m['strong']['precision']}"
                                       for k, m in result.items()) + f" | passes {v['passes']}")
    report["seconds"] = round(time.time() - t0, 1)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        log(f"wrote {args.json}")
    print(json.dumps({k: v["verdict"] for k, v in report["variants"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
