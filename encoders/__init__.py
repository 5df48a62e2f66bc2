"""encoders: models that turn a window of one modality into a vector in a joint space, and
their training and evaluation.

The names below are the API `query`, `ui` and `indexer.cli` use; everything else is internal.
Names load on first use (torch is heavy), so `python -m encoders --help` answers at once.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from indexer.imports import lazy_exports

_EXPORTS = {
    "Encoder": "encoders.checkpoint",
    "load_checkpoint": "encoders.checkpoint",
    "TokenEncoder": "encoders.tokens",
    "owned_tokens": "encoders.tokens",
    "token_spans": "encoders.tokens",
    "conform_imu": "encoders.channels",
    "project_2d": "encoders.part_features",
    "demo_encoder": "encoders.demo",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from encoders.channels import conform_imu
    from encoders.checkpoint import Encoder, load_checkpoint
    from encoders.demo import demo_encoder
    from encoders.part_features import project_2d
    from encoders.tokens import TokenEncoder, owned_tokens, token_spans
