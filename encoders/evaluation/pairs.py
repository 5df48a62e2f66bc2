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
        a = encoder.model("imu", torch.from_numpy(data.imu), torch.from_numpy(data.imu_valid)).numpy()
        b = encoder.model("pose", torch.from_numpy(data.pose), torch.from_numpy(data.pose_valid)).numpy()
    return a, b


def evaluate_pairs(encoder: Encoder, data: PairedSet) -> dict:
    """IMU->pose and pose->IMU metrics, instance-level (only the paired window is right) and
    class-level (any window with the same label is right)."""
    a, b = embed_pairs(encoder, data)
    sim = a @ b.T
    labels = np.array(data.labels)
    same_class = labels[:, None] == labels[None, :]
    instance = np.eye(len(labels), dtype=bool)
    return {
        "imu->pose": {"instance": ranking_metrics(sim, instance), "class": ranking_metrics(sim, same_class)},
        "pose->imu": {"instance": ranking_metrics(sim.T, instance), "class": ranking_metrics(sim.T, same_class)},
        "gallery": len(labels),
        "classes": len(set(data.labels)),
        "chance_R@1_instance": 1.0 / len(labels),
    }


def format_report(report: dict) -> str:
    lines = [f"gallery: {report['gallery']} windows, {report['classes']} classes "
             f"(instance-level chance R@1 = {report['chance_R@1_instance']:.4f})",
             f"{'direction':<11}{'level':<10}{'R@1':>7}{'R@5':>7}{'R@10':>7}{'MRR':>7}{'MedR':>7}"]
    for direction in ("imu->pose", "pose->imu"):
        for level in ("instance", "class"):
            m = report[direction][level]
            lines.append(f"{direction:<11}{level:<10}{m['R@1']:>7.3f}{m['R@5']:>7.3f}{m['R@10']:>7.3f}"
                         f"{m['MRR']:>7.3f}{m['median_rank']:>7.1f}")
    return "\n".join(lines)
