"""Fit the match-score calibration of a checkpoint (query/match_score.py) and measure how well it
tells the truth on archives it never saw.

Searches are simulated over each archive's labelled windows, as an index of the archive would
answer them: a hit is relevant when its label is the query's. Three query kinds:

  text     each label name of the archive, embedded by the text tower (prompt templates), searches
           the IMU windows (and the pose windows where the archive has pose);
  example  a window searches the other recordings' (other takes') windows of each modality (IMU->IMU, IMU->pose,
           pose->pose, pose->IMU), as a query clip would;
  concept  the prototype of 3 windows of one label from 3 recordings (query.concepts'
           prototype_vector) searches the other recordings' windows.

Each query keeps its best HITS hits, its features are taken against BACKGROUND_WINDOWS random
windows of the searched set (query.match_score.features, the very code a search runs), and per
kind a logistic regression over the features (coefficients kept non-negative by leaving out a
feature that comes out negative) gives a linear score, mapped to a probability by Platt's
logistic or by isotonic regression, whichever has the lower Brier score on a held-out fifth of
the fitting queries. The `relative` models (no raw cosine) are fitted the same way; they serve
checkpoints that ship no calibration.

Fitted on (default): the mocap held-out split and composed takes (bench/zeroshot.py's
`mocap-heldout`, which the built-in models never trained on) and the demo archive. Measured on
(default): UTD-MHAD subjects 2, 4, 6, 8 (its 27 action names as text queries), BasicMotions and
seglearn's smartwatch set; an archive both fitted and measured on is refused.

  python bench/calibrate.py --checkpoint builtin --out encoders/builtin/calibration.json --json /tmp/calibrate.json
  python bench/calibrate.py --checkpoint builtin-unrestricted --out encoders/builtin_unrestricted/calibration.json
  python bench/calibrate.py --checkpoint builtin-unrestricted --evaluate-only fallback   # the fallback rule

`--figure FILE.png` draws the reliability diagram of the measured archives (matplotlib).
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

import zeroshot  # noqa: E402  (bench/zeroshot.py: the archives, read as a user's would be)

from query import match_score  # noqa: E402

HITS = 20  # hits kept per simulated query
EXAMPLE_QUERIES = 300  # example queries per archive and modality pair
CONCEPT_QUERIES = 8  # concept queries per label
CONCEPT_SHOTS = 3
UTD_TEST = {"2", "4", "6", "8"}
BINS = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the windows of an archive

def take(recording_id: str) -> str:
    """The recording a window's motion comes from: the held-out mocap wears each take 4 times
    (`take#0.k`, other virtual IMUs), and a query must not find its own take in another copy."""
    return recording_id.split("#", 1)[0]


def archive_vectors(encoder, name: str, data: Path, work: Path) -> dict:
    """{modality: (vectors, labels, takes)} of an archive's labelled windows (UTD-MHAD: the
    held-out subjects only)."""
    from encoders.data import model_windows
    from encoders.evaluation.text_aligned import embed_set

    archive = zeroshot.ARCHIVES[name](data, work)
    config = encoder.config.without_tower("video")
    subjects = UTD_TEST if name == "utd-mhad" else None
    ws = model_windows(archive.entries, config, encoder.model, subjects=subjects, progress=False)
    emb = embed_set(encoder, ws)
    out = {}
    for modality, has in (("imu", ws.has_imu), ("pose", ws.has_pose)):
        rows = np.flatnonzero(has & ws.has_text)
        if modality in emb and len(rows) >= 20:
            out[modality] = (zeroshot.unit(emb[modality][rows]).astype(np.float32),
                             np.asarray([ws.captions[i] for i in rows]), np.asarray([take(ws.recording_ids[i]) for i in rows]))
    return out


# ---------------------------------------------------------------- simulated searches

def _search(q: np.ndarray, vectors: np.ndarray, allowed: np.ndarray, rng: np.random.Generator):
    """(hit rows, hit scores, background scores) of one query over the allowed rows."""
    idx = np.flatnonzero(allowed)
    scores = vectors[idx] @ q
    top = np.argsort(-scores, kind="stable")[:HITS]
    bg = rng.choice(len(idx), size=min(match_score.BACKGROUND_WINDOWS, len(idx)), replace=False)
    return idx[top], scores[top], scores[bg]


def simulate(encoder, vecs: dict, seed: int = 0) -> dict[str, dict]:
    """Per kind: features (n, F), relevance (n,), query id (n,), rank (n,) of simulated searches."""
    rng = np.random.default_rng(seed)
    out = {k: {"X": [], "y": [], "q": [], "rank": []} for k in match_score.KINDS}
    qid = 0

    def add(kind, q, label, target, allowed):
        nonlocal qid
        v, labels = vecs[target][0], vecs[target][1]
        rows, scores, bg = _search(q, v, allowed, rng)
        o = out[kind]
        o["X"].append(match_score.features(scores, bg))
        o["y"].append(labels[rows] == label)
        o["q"].append(np.full(len(rows), qid))
        o["rank"].append(np.arange(1, len(rows) + 1))
        qid += 1

    if encoder.text_aligned:
        for target in vecs:
            names = sorted(set(vecs[target][1]))
            text = encoder.encode_text(names, modality=target)
            for name, t in zip(names, text):
                add("text", zeroshot.unit(t).astype(np.float32), name, target, np.ones(len(vecs[target][0]), bool))
    for source in vecs:
        v, labels, recs = vecs[source]
        pick = rng.choice(len(v), size=min(EXAMPLE_QUERIES, len(v)), replace=False)
        for target in vecs:
            for i in pick:
                add("example", v[i], labels[i], target, vecs[target][2] != recs[i])
    from query.concepts import prototype_vector
    for source in vecs:
        v, labels, recs = vecs[source]
        for name in sorted(set(labels)):
            have = np.unique(recs[labels == name])
            if len(have) < CONCEPT_SHOTS + 1:
                continue
            for _ in range(CONCEPT_QUERIES):
                chosen = rng.choice(have, size=CONCEPT_SHOTS, replace=False)
                rows = [rng.choice(np.flatnonzero((recs == r) & (labels == name))) for r in chosen]
                proto = prototype_vector(v[rows]).astype(np.float32)
                for target in vecs:
                    add("concept", proto, name, target, ~np.isin(vecs[target][2], chosen))
    return {k: {f: np.concatenate(o[f]) for f in o} for k, o in out.items() if o["X"]}


def merge(parts: list[dict]) -> dict:
    out: dict = {}
    offset = 0
    for part in parts:
        for kind, d in part.items():
            o = out.setdefault(kind, {f: [] for f in d})
            for f, v in d.items():
                o[f].append(v + offset if f == "q" else v)
        offset += 1_000_000
    return {k: {f: np.concatenate(v) for f, v in o.items()} for k, o in out.items()}


# ---------------------------------------------------------------- fitting

def fit_model(X: np.ndarray, y: np.ndarray, groups: np.ndarray, features: list[str], seed: int = 0):
    """A match_score.Model over `features` (those with a negative coefficient left out)."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    feats = list(features)
    while True:
        cols = [match_score.FEATURES.index(f) for f in feats]
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(X[:, cols], y)
        coef = lr.coef_[0]
        if np.all(coef >= 0) or len(feats) == 1:
            break
        feats.pop(int(np.argmin(coef)))
    coef = np.maximum(coef, 0.0)
    platt = match_score.Model(feats, coef, float(lr.intercept_[0]))
    # Platt or isotonic over the same linear score: whichever predicts a held-out fifth of the
    # queries better (Brier); the chosen map is then fitted on every query
    rng = np.random.default_rng(seed)
    uq = np.unique(groups)
    val = np.isin(groups, rng.choice(uq, size=max(1, len(uq) // 5), replace=False))
    lin = platt.linear(X)
    lr_tr = LogisticRegression(C=1.0, max_iter=2000).fit(X[~val][:, cols], y[~val])
    p_platt = lr_tr.predict_proba(X[val][:, cols])[:, 1]
    lin_tr = X[~val][:, cols] @ lr_tr.coef_[0] + lr_tr.intercept_[0]
    iso_tr = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(lin_tr, y[~val])
    p_iso = iso_tr.predict(X[val][:, cols] @ lr_tr.coef_[0] + lr_tr.intercept_[0])
    brier = {"platt": float(np.mean((p_platt - y[val]) ** 2)), "isotonic": float(np.mean((p_iso - y[val]) ** 2))}
    if brier["isotonic"] < brier["platt"]:
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(lin, y)
        model = match_score.Model(feats, coef, platt.intercept, "isotonic",
                                  np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_))
    else:
        model = platt
    return model, brier


# ---------------------------------------------------------------- measuring

def reliability(p: np.ndarray, y: np.ndarray) -> list[dict]:
    rows = []
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        at = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if at.any():
            rows.append({"bin": f"{lo:.1f}-{hi:.1f}", "hits": int(at.sum()), "mean_predicted": round(float(p[at].mean()), 4),
                         "observed_precision": round(float(y[at].mean()), 4)})
    return rows


def measure(cal: match_score.Calibration, sims: dict) -> dict:
    out = {}
    for kind, d in sims.items():
        model = cal.model(kind)
        if model is None:
            continue
        p = np.clip(model.predict(d["X"]), 0, 1)
        y = d["y"].astype(float)
        top1 = d["rank"] == 1
        words = {}
        for word, lo, hi in (("strong", match_score.STRONG, 1.01), ("fair", match_score.FAIR, match_score.STRONG),
                             ("weak", 0.0, match_score.FAIR)):
            at = (p >= lo) & (p < hi)
            words[word] = {"hits": int(at.sum()), "precision": None if not at.any() else round(float(y[at].mean()), 4),
                           "top1_hits": int((at & top1).sum()),
                           "top1_precision": None if not (at & top1).any() else round(float(y[at & top1].mean()), 4)}
        out[kind] = {"hits": int(len(y)), "queries": int(len(np.unique(d["q"]))), "base_rate": round(float(y.mean()), 4),
                     "top1_precision": round(float(y[top1].mean()), 4),
                     "brier": round(float(np.mean((p - y) ** 2)), 4),
                     "ece": round(float(sum(abs(p[b].mean() - y[b].mean()) * b.sum() for b in
                                            (((p >= lo) & ((p < hi) if hi < 1 else (p <= hi)))
                                             for lo, hi in zip(BINS[:-1], BINS[1:])) if b.any()) / len(y)), 4),
                     "words": words, "reliability": reliability(p, y)}
    return out


def figure(path: Path, measured: dict, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(match_score.KINDS)
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 4.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
        for name, m in measured.items():
            rows = m.get(kind, {}).get("reliability", [])
            if rows:
                ax.plot([r["mean_predicted"] for r in rows], [r["observed_precision"] for r in rows], "o-",
                        label=f"{name} ({m[kind]['hits']} hits)")
        ax.axvline(match_score.STRONG, color="#2a9d8f", lw=1, ls=":")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="predicted match probability", ylabel="observed precision",
               title=f"{kind} queries")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


# ---------------------------------------------------------------- running

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/calibrate.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="builtin", help="`builtin`, `builtin-unrestricted` or a folder")
    parser.add_argument("--fit", nargs="+", default=["mocap-heldout", "demo"], metavar="ARCHIVE",
                        help="archives to fit on (default: mocap-heldout demo)")
    parser.add_argument("--measure", nargs="+", default=["utd-mhad", "basicmotions", "seglearn-watch"],
                        metavar="ARCHIVE", help="archives to measure on, never fitted on (default: utd-mhad "
                                                "(subjects 2,4,6,8) basicmotions seglearn-watch)")
    parser.add_argument("--evaluate-only", metavar="CALIBRATION",
                        help="fit nothing: measure this calibration file, or `fallback` (the built-in relative "
                             "models a checkpoint without calibration gets)")
    parser.add_argument("--out", type=Path, help="write the calibration here (calibration.json beside the checkpoint)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument("--figure", type=Path, help="write the reliability diagram (PNG) here")
    parser.add_argument("--data", type=Path, default=zeroshot.DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    unknown = [a for a in args.fit + args.measure if a not in zeroshot.ARCHIVES]
    if unknown:
        parser.error(f"unknown archive(s) {unknown}; known: {list(zeroshot.ARCHIVES)}")
    both = set(args.fit) & set(args.measure)
    if both and not args.evaluate_only:
        parser.error(f"{sorted(both)} both fitted and measured on: measure on data the fit never saw")
    import torch

    from encoders.factory import load_checkpoint

    torch.set_num_threads(1)
    t0 = time.time()
    encoder = load_checkpoint(args.checkpoint)
    report: dict = {"checkpoint": args.checkpoint, "encoder_id": encoder.id, "fit_on": args.fit,
                    "measured_on": args.measure, "seed": args.seed, "hits_per_query": HITS}
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        def sims_of(name):
            log(f"[{name}] embedding")
            vecs = archive_vectors(encoder, name, args.data, Path(tmp))
            return simulate(encoder, vecs, args.seed), {m: int(len(v[0])) for m, v in vecs.items()}

        if args.evaluate_only:
            cal = (match_score.Calibration(match_score.read(match_score.SHIPPED["builtin"] / match_score.CALIBRATION
                                                            ).relative, {}, "fallback")
                   if args.evaluate_only == "fallback" else match_score.read(args.evaluate_only))
            report["calibration"] = args.evaluate_only
        else:
            fit_parts, report["fit_windows"] = [], {}
            for name in args.fit:
                sims, report["fit_windows"][name] = sims_of(name)
                fit_parts.append(sims)
            fit = merge(fit_parts)
            kinds, relative, briers = {}, {}, {}
            for kind, d in fit.items():
                y = d["y"].astype(int)
                kinds[kind], briers[kind] = fit_model(d["X"], y, d["q"], list(match_score.FEATURES), args.seed)
                relative[kind], _ = fit_model(d["X"], y, d["q"], [f for f in match_score.FEATURES if f != "cosine"],
                                              args.seed)
                log(f"  {kind}: {len(y)} hits of {len(np.unique(d['q']))} queries, base rate {y.mean():.3f}; "
                    f"{kinds[kind].method} over {kinds[kind].features} (validation Brier {briers[kind]})")
            cal = match_score.Calibration(kinds, relative, "fitted")
            report["validation_brier"] = briers
            report["fit"] = measure(cal, fit)
            doc = {"format": match_score.FORMAT, "encoder_id": encoder.id,
                   "command": "python bench/calibrate.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                   "fitted_on": args.fit, "hits_per_query": HITS, "background_windows": match_score.BACKGROUND_WINDOWS,
                   "kinds": {k: m.to_json() for k, m in kinds.items()},
                   "relative": {k: m.to_json() for k, m in relative.items()}}
            if args.out:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps(doc, indent=1) + "\n")
                log(f"wrote {args.out}")
        report["measured"], report["measured_windows"] = {}, {}
        for name in args.measure:
            try:
                sims, report["measured_windows"][name] = sims_of(name)
            except zeroshot.Skip as exc:
                log(f"skipped {name}: {exc}")
                continue
            report["measured"][name] = measure(cal, sims)
            pooled = report["measured"][name]
            for kind, m in pooled.items():
                s = m["words"]["strong"]
                log(f"  {name} {kind}: {m['queries']} queries, top-1 precision {m['top1_precision']}, Brier {m['brier']}, "
                    f"ECE {m['ece']}; strong: {s['hits']} hits, precision {s['precision']}")
    report["seconds"] = round(time.time() - t0, 1)
    if args.figure:
        figure(args.figure, report["measured"], f"{encoder.id}: match probability vs. observed precision "
                                                f"(fitted on {', '.join(args.fit)})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        log(f"wrote {args.json}")
    print(json.dumps({n: {k: {"strong": m["words"]["strong"], "top1_precision": m["top1_precision"],
                              "ece": m["ece"]} for k, m in d.items()} for n, d in report["measured"].items()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
