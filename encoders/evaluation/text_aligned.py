"""Held-out evaluation of a text-aligned checkpoint: text -> IMU/pose retrieval, zero-shot
activity recognition, and video <-> IMU retrieval.

Class-level: a result is right when its window carries the query's label. Instance-level: only
the window of the same recording and time is right.
"""
from __future__ import annotations

import numpy as np
import torch

from encoders.data import TextAlignedSet
from encoders.evaluation.metrics import macro_f1, mean_average_precision, precision_at_k, ranking_metrics
from encoders.evaluation.pairs import label_warnings
from encoders.labels import centred_cosines
from encoders.model import Encoder


@torch.no_grad()
def embed_set(encoder: Encoder, data: TextAlignedSet, batch: int = 256) -> dict[str, np.ndarray]:
    """Vectors of every modality the set and the encoder share; video rows only where the
    window has video (see `data.has_video`)."""
    model = encoder.model.eval()
    out = {}
    for modality, x, v in (("imu", data.imu, data.imu_valid), ("pose", data.pose, data.pose_valid)):
        if modality in model.towers:
            # rows without the modality get a vector too (of zeros in); callers keep only rows having it
            v = np.maximum(v, 1)
            place = model.placement_ids(data.placements, len(x)) if modality == "imu" else None
            out[modality] = np.concatenate([
                model(modality, torch.from_numpy(x[i : i + batch]), torch.from_numpy(v[i : i + batch]),
                      None if place is None else place[i : i + batch]).numpy()
                for i in range(0, len(x), batch)])
    if "video" in model.towers and data.video is not None and data.has_video.any():
        keep = np.flatnonzero(data.has_video)
        tower = model.towers["video"]
        out["video"] = np.concatenate([
            tower.forward_prepared(torch.from_numpy(data.video[keep[i : i + batch]]),
                                   torch.from_numpy(data.video_valid[keep[i : i + batch]])).numpy()
            for i in range(0, len(keep), batch)])
    return out


def random_map(relevant: np.ndarray, draws: int = 200, seed: int = 0) -> float:
    """mAP of random rankings (fixed seed): for a small pool it lies above the share of
    relevant items, so it is the fair chance level to quote next to mAP."""
    rng = np.random.default_rng(seed)
    return float(np.mean([mean_average_precision(rng.random(relevant.shape), relevant) for _ in range(draws)]))


def text_retrieval(encoder: Encoder, vectors: np.ndarray, captions: list[str], labels: list[str],
                   modality: str = "imu") -> dict:
    """Each label's prompt queries the pool of `modality` vectors; precision@k and mAP over the
    label queries."""
    captions = np.asarray(captions)
    sim = encoder.encode_text(labels, modality=modality) @ vectors.T
    relevant = captions[None, :] == np.asarray(labels)[:, None]
    out = precision_at_k(sim, relevant)
    out["mAP"] = mean_average_precision(sim, relevant)
    out["chance_P"] = float(relevant.mean())  # the expected precision@k of a random ranking
    out["chance_mAP"] = random_map(relevant)
    out["queries"] = len(labels)
    out["pool"] = int(vectors.shape[0])
    return out


def classification(encoder: Encoder, vectors: np.ndarray, captions: list[str], labels: list[str],
                   center: np.ndarray | None = None, modality: str = "imu") -> dict:
    """Zero-shot recognition: each `modality` window takes the label whose prompt is nearest
    (relative to `center`, the archive's mean vector, when given: `encoders.labels.centred_cosines`)."""
    true = np.asarray(captions)
    text = encoder.encode_text(labels, modality=modality)
    pred = np.asarray(labels)[np.argmax(centred_cosines(vectors, text, center), axis=1)]
    return {"accuracy": float((pred == true).mean()), "macro_f1": macro_f1(true, pred, labels),
            "chance_accuracy": 1.0 / len(labels), "classes": len(labels), "clips": len(true)}


def cross_modal(a: np.ndarray, b: np.ndarray, captions: list[str]) -> dict:
    """a -> b retrieval, paired row by row."""
    labels = np.asarray(captions)
    sim = a @ b.T
    inst = np.eye(len(labels), dtype=bool)
    same = labels[:, None] == labels[None, :]
    return {"instance": ranking_metrics(sim, inst), "class": ranking_metrics(sim, same),
            "class_precision": {**precision_at_k(sim, same), "mAP": mean_average_precision(sim, same)},
            "chance_R@1_instance": 1.0 / len(labels), "pool": len(labels)}


def _distinct_moments(data: TextAlignedSet, rows: np.ndarray) -> np.ndarray:
    """Of `rows`, one per (recording, start): several sensors' rows share one pose window."""
    seen, keep = set(), []
    for i in np.flatnonzero(rows):
        key = (data.recording_ids[i], float(data.t_start[i]))
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def _text_scores(encoder: Encoder, vectors: np.ndarray, captions: list[str], labels: list[str],
                 modality: str = "imu") -> dict:
    return {"retrieval": text_retrieval(encoder, vectors, captions, labels, modality),
            "classification": classification(encoder, vectors, captions, labels, modality=modality)}


def evaluate_text(encoder: Encoder, data: TextAlignedSet) -> dict:
    """Text -> IMU / pose retrieval and classification over the labelled windows: the IMU over
    every sensor together and per placement (`per_placement`), pose once per moment."""
    data = data.subset(data.has_text)
    if not len(data):
        raise ValueError("no window in the evaluation set has a caption (label or text span)")
    emb = embed_set(encoder, data)
    labels = sorted(set(data.captions))
    report = {"text_tower": encoder.config.space, "labels": len(labels),
              "placements": sorted({p for p in data.placements if p}), "per_placement": {}}
    caps = np.asarray(data.captions)
    for modality, rows in (("imu", np.flatnonzero(data.has_imu)), ("pose", _distinct_moments(data, data.has_pose))):
        if modality in emb and len(rows):
            r = _text_scores(encoder, emb[modality][rows], list(caps[rows]), labels, modality)
            report[f"text->{modality}"] = r["retrieval"]
            report[f"{modality} classification"] = r["classification"]
    if "imu" in emb and len(report["placements"]) > 1:
        for place in report["placements"]:
            rows = np.flatnonzero(data.has_imu & (np.asarray(data.placements) == place))
            own = sorted(set(caps[rows]))  # a sensor worn for some activities only is asked about those
            r = _text_scores(encoder, emb["imu"][rows], list(caps[rows]), own)
            report["per_placement"][place] = {"labels": len(own), "text->imu": r["retrieval"],
                                              "imu classification": r["classification"]}
    if "imu" in emb and encoder.has_fusion:
        report["fused"] = fused_scores(encoder, data, emb["imu"], labels)
    if "imu" in emb and any(len(rows) > 1 for rows in data.moments()):
        report["late_fused"] = late_fused_scores(encoder, data, emb["imu"], labels)
    report["warnings"] = label_warnings(data.captions)
    return report


def fused_vectors(encoder: Encoder, data: TextAlignedSet, imu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fused vectors, the first row of each moment): every moment's IMU rows (all the sensors
    worn then) fused into one vector, as an index's body_part "all" windows are."""
    moments = data.moments()
    sets = [(imu[rows], [data.placements[i] for i in rows]) for rows in moments]
    return encoder.fuse(sets), np.array([rows[0] for rows in moments], dtype=np.int64)


def fused_scores(encoder: Encoder, data: TextAlignedSet, imu: np.ndarray, labels: list[str]) -> dict:
    """Text -> fused IMU retrieval and classification, one vector per moment."""
    vectors, first = fused_vectors(encoder, data, imu)
    caps = list(np.asarray(data.captions)[first])
    sizes = [len(rows) for rows in data.moments()]
    r = _text_scores(encoder, vectors, caps, labels)
    return {"labels": len(labels), "sensors_per_window": round(float(np.mean(sizes)), 3),
            "text->imu": r["retrieval"], "imu classification": r["classification"]}


def late_fused_scores(encoder: Encoder, data: TextAlignedSet, imu: np.ndarray, labels: list[str]) -> dict:
    """The same moments scored by late fusion, as `query.sensors` does without a fusion module:
    a moment's similarity is the mean of its sensors' similarities (the mean vector, not renormalised)."""
    moments = data.moments()
    vectors = np.stack([imu[rows].mean(0) for rows in moments])
    caps = list(np.asarray(data.captions)[[rows[0] for rows in moments]])
    r = _text_scores(encoder, vectors, caps, labels)
    return {"labels": len(labels), "sensors_per_window": round(float(np.mean([len(m) for m in moments])), 3),
            "text->imu": r["retrieval"], "imu classification": r["classification"]}


def evaluate_zeroshot(encoder: Encoder, data: TextAlignedSet, seen: set[str]) -> dict:
    """Only the labels the checkpoint never trained on: their clips, classified among their names."""
    unseen = sorted(set(data.captions) - set(seen))
    if not unseen:
        raise ValueError("every label in the evaluation set was seen in training; nothing is zero-shot")
    part = data.subset(np.isin(data.captions, unseen))
    report = evaluate_text(encoder, part)
    report.update(unseen_labels=unseen, seen_labels=len(seen), left_out_labels=sorted(set(data.captions) & set(seen)))
    return report


def evaluate_video(encoder: Encoder, data: TextAlignedSet) -> dict:
    if "video" not in encoder.model.towers:
        raise ValueError(f"encoder {encoder.id} has no video tower (train with --video-encoder)")
    part = data.subset(data.has_video & data.has_imu)
    if len(part) < 2:
        raise ValueError("fewer than two windows with both IMU and decodable video in the evaluation set")
    emb = embed_set(encoder, part)
    report = {"video->imu": cross_modal(emb["video"], emb["imu"], part.captions),
              "imu->video": cross_modal(emb["imu"], emb["video"], part.captions),
              "video_tower": encoder.config.video.architecture, "pool": len(part)}
    if encoder.text_aligned:
        labels = sorted(set(part.captions))
        report["text->video"] = text_retrieval(encoder, emb["video"], part.captions, labels, "video")
    return report


def format_text_aligned(report: dict) -> str:
    lines = [f"warning: {w}" for w in report.get("warnings", [])]
    if report.get("placements"):
        lines.append(f"IMU over all placements ({', '.join(report['placements'])}):")
    lines += _metric_lines(report)
    for place, part in report.get("per_placement", {}).items():
        lines.append(f"placement {place} (its {part['labels']} labels):")
        lines += _metric_lines(part, "  ")
    for key, title in (("fused", "fused over all placements (attention fusion, one vector per window"),
                       ("late_fused", "late fusion over all placements (mean of the sensors' similarities")):
        if key in report:
            f = report[key]
            lines.append(f"{title}, {f['sensors_per_window']:g} sensors per window on average):")
            lines += _metric_lines(f, "  ")
    return "\n".join(lines)


def _metric_lines(report: dict, indent: str = "") -> list[str]:
    lines = []
    for key, m in report.items():
        if key in ("per_placement", "fused", "late_fused"):
            continue
        key = indent + key
        if not isinstance(m, dict):
            continue
        if "P@1" in m:
            lines.append(f"{key:<22} P@1 {m['P@1']:.3f}  P@5 {m['P@5']:.3f}  P@10 {m['P@10']:.3f}  "
                         f"mAP {m['mAP']:.3f}  (chance P {m['chance_P']:.3f}, mAP {m['chance_mAP']:.3f}; "
                         f"{m['queries']} queries, pool {m['pool']})")
        elif "accuracy" in m:
            lines.append(f"{key:<22} accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}  "
                         f"(chance {m['chance_accuracy']:.3f}; {m['classes']} classes, {m['clips']} windows)")
        elif "instance" in m:
            for level in ("instance", "class"):
                r = m[level]
                lines.append(f"{key + ' ' + level:<22} R@1 {r['R@1']:.3f}  R@5 {r['R@5']:.3f}  R@10 {r['R@10']:.3f}  "
                             f"MRR {r['MRR']:.3f}  MedR {r['median_rank']:.0f}")
            p = m["class_precision"]
            lines.append(f"{key + ' class prec.':<22} P@1 {p['P@1']:.3f}  P@5 {p['P@5']:.3f}  P@10 {p['P@10']:.3f}  "
                         f"mAP {p['mAP']:.3f}  (instance chance R@1 {m['chance_R@1_instance']:.4f}, pool {m['pool']})")
    return lines
