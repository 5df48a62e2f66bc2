"""Held-out retrieval evaluation of an IMU <-> pose checkpoint."""
from __future__ import annotations

import numpy as np
import torch

from encoders.data import PairedSet
from encoders.evaluation.metrics import ranking_metrics
from encoders.model import Encoder


def embed_pairs(encoder: Encoder, data: PairedSet) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        encoder.model.eval()
        a = encoder.model("imu", torch.from_numpy(data.imu), torch.from_numpy(data.imu_valid),
                          encoder.model.placement_ids(data.placements, len(data))).numpy()
        b = encoder.model("pose", torch.from_numpy(data.pose), torch.from_numpy(data.pose_valid)).numpy()
    return a, b


def label_warnings(labels) -> list[str]:
    """What makes class-level figures meaningless: fewer than two classes."""
    n = len(set(labels))
    if n < 2:
        return [f"only {n} class{'es' if n != 1 else ''} in the evaluation set "
                f"({', '.join(sorted(set(labels))) or 'none'}): class-level figures and accuracy say nothing "
                "(every answer is right); evaluate on more labels"]
    return []


def _pair_metrics(a: np.ndarray, b: np.ndarray, data: PairedSet) -> dict:
    sim = a @ b.T
    labels = np.array(data.labels)
    same_class = labels[:, None] == labels[None, :]
    keys = data.pair_keys()
    # the same moment seen by another sensor of the recording has the same pose window: also right
    instance = np.array([[k == j for j in keys] for k in keys], dtype=bool)
    return {
        "imu->pose": {"instance": ranking_metrics(sim, instance), "class": ranking_metrics(sim, same_class)},
        "pose->imu": {"instance": ranking_metrics(sim.T, instance), "class": ranking_metrics(sim.T, same_class)},
        "gallery": len(labels),
        "classes": len(set(data.labels)),
        "chance_R@1_instance": 1.0 / len(labels),
    }


def evaluate_pairs(encoder: Encoder, data: PairedSet) -> dict:
    """IMU->pose and pose->IMU metrics, instance-level (only the paired window is right) and
    class-level (any window with the same label is right), over all sensors and per placement
    (`per_placement`)."""
    a, b = embed_pairs(encoder, data)
    report = _pair_metrics(a, b, data)
    places = sorted(set(data.placements))
    report["placements"] = places
    report["per_placement"] = {}
    for place in places:
        rows = np.array([p == place for p in data.placements])
        if rows.sum() >= 2:
            report["per_placement"][place] = _pair_metrics(a[rows], b[rows], data.subset(rows))
    report["warnings"] = label_warnings(data.labels)
    return report


def _metric_lines(report: dict, indent: str = "") -> list[str]:
    lines = []
    for direction in ("imu->pose", "pose->imu"):
        for level in ("instance", "class"):
            m = report[direction][level]
            lines.append(f"{indent}{direction:<11}{level:<10}{m['R@1']:>7.3f}{m['R@5']:>7.3f}{m['R@10']:>7.3f}"
                         f"{m['MRR']:>7.3f}{m['median_rank']:>7.1f}")
    return lines


def format_report(report: dict) -> str:
    lines = [f"warning: {w}" for w in report.get("warnings", [])]
    lines += [f"gallery: {report['gallery']} windows, {report['classes']} classes "
              f"(instance-level chance R@1 = {report['chance_R@1_instance']:.4f})"
              + (f", all placements ({', '.join(report['placements'])})" if report.get("placements") else ""),
              f"{'direction':<11}{'level':<10}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR':>7}{'MedR':>7}"]
    lines += _metric_lines(report)
    for place, part in report.get("per_placement", {}).items():
        if len(report.get("per_placement", {})) < 2 and len(report.get("placements", [])) < 2:
            break  # one placement: the same figures again
        lines.append(f"placement {place}: {part['gallery']} windows")
        lines += _metric_lines(part, "  ")
    return "\n".join(lines)
