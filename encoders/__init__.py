"""encoders: models that turn a window of one modality into a vector in a joint space, and
their training and evaluation.

The names below are the API `query`, `ui` and `indexer.cli` use; everything else is internal.
Names load on first use (torch is heavy), so `python -m encoders --help` answers at once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from indexer.imports import deferred, lazy_exports

_EXPORTS = {
    # loaded checkpoints and what embedding with them needs
    "Encoder": "encoders.model",
    "TokenEncoder": "encoders.tokens",
    "load_checkpoint": "encoders.factory",
    "checkpoint_config": "encoders.checkpoint",
    "load_text_tower": "encoders.text",
    "spec_for_modality": "encoders.text",
    "create_model": "encoders.factory",
    "SHIPPED": "encoders.checkpoint",  # the shipped checkpoints' folders by name ("builtin", ...)
    "owned_tokens": "encoders.tokens",
    "token_spans": "encoders.tokens",
    "conform_imu": "encoders.channels",
    "project_2d": "encoders.part_features",
    "demo_encoder": "encoders.demo",
    # the zero-shot read-out of label vectors against an archive's windows (numpy only)
    "centred_cosines": "encoders.labels",
    "label_sums": "encoders.labels",
    "refined_labels": "encoders.labels",
    "neighbour_graph": "encoders.labels",
    "expanded_query": "encoders.labels",
    "EXPAND_HITS": "encoders.labels",
    "spread": "encoders.labels",
    "balanced": "encoders.labels",
    "MAX_SPREAD_WINDOWS": "encoders.labels",
    # configs
    "EncoderConfig": "encoders.config",
    "ConfigError": "encoders.config",
    "default_config": "encoders.model",
    "text_aligned_config": "encoders.model",
    "default_token_config": "encoders.tokens",
    # training
    "train": "encoders.train",
    "ArchiveSource": "encoders.sources",
    "TrainSettings": "encoders.train",
    "TokenTrainSettings": "encoders.train",
    "train_paired": "encoders.train",
    "train_text_aligned": "encoders.train",
    "train_tokens": "encoders.train",
    # evaluation
    "evaluate_pairs": "encoders.evaluation.pairs",
    "evaluate_text": "encoders.evaluation.text_aligned",
    "evaluate_zeroshot": "encoders.evaluation.text_aligned",
    "evaluate_video": "encoders.evaluation.text_aligned",
    "macro_f1": "encoders.evaluation.metrics",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
# Imported at the top of query's modules but called only when a clip is embedded: torch loads
# then, not for a text search or a listing.
load_checkpoint = deferred("encoders.factory", "load_checkpoint")

if TYPE_CHECKING:
    from encoders.channels import conform_imu
    from encoders.checkpoint import SHIPPED, checkpoint_config
    from encoders.config import ConfigError, EncoderConfig
    from encoders.demo import demo_encoder
    from encoders.evaluation.metrics import macro_f1
    from encoders.evaluation.pairs import evaluate_pairs
    from encoders.evaluation.text_aligned import evaluate_text, evaluate_video, evaluate_zeroshot
    from encoders.factory import create_model, load_checkpoint
    from encoders.labels import (
        EXPAND_HITS,
        MAX_SPREAD_WINDOWS,
        balanced,
        centred_cosines,
        expanded_query,
        label_sums,
        neighbour_graph,
        refined_labels,
        spread,
    )
    from encoders.model import Encoder, default_config, text_aligned_config
    from encoders.part_features import project_2d
    from encoders.sources import ArchiveSource
    from encoders.text import load_text_tower, spec_for_modality
    from encoders.tokens import TokenEncoder, default_token_config, owned_tokens, token_spans
    from encoders.train import TokenTrainSettings, TrainSettings, train, train_paired, train_text_aligned, train_tokens
