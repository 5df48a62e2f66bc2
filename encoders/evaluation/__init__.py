"""Held-out evaluation: retrieval metrics from similarity matrices (`metrics`), IMU <-> pose
retrieval of a checkpoint (`pairs`), and text-aligned checkpoints' text -> motion retrieval,
zero-shot recognition and video <-> IMU retrieval (`text_aligned`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from indexer.imports import lazy_exports

_EXPORTS = {
    "first_relevant_ranks": "encoders.evaluation.metrics",
    "ranking_metrics": "encoders.evaluation.metrics",
    "precision_at_k": "encoders.evaluation.metrics",
    "mean_average_precision": "encoders.evaluation.metrics",
    "evaluate_pairs": "encoders.evaluation.pairs",
    "format_report": "encoders.evaluation.pairs",
    "evaluate_text": "encoders.evaluation.text_aligned",
    "evaluate_zeroshot": "encoders.evaluation.text_aligned",
    "evaluate_video": "encoders.evaluation.text_aligned",
    "format_text_aligned": "encoders.evaluation.text_aligned",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from encoders.evaluation.metrics import (
        first_relevant_ranks,
        mean_average_precision,
        precision_at_k,
        ranking_metrics,
    )
    from encoders.evaluation.pairs import evaluate_pairs, format_report
    from encoders.evaluation.text_aligned import evaluate_text, evaluate_video, evaluate_zeroshot, format_text_aligned
