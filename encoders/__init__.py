"""Encoders: models that turn a window of one modality into a vector in a joint space.

The public API other packages use; everything else is internal to `encoders`.
"""
from encoders.checkpoint import Encoder, load
from encoders.demo import demo_encoder

load_checkpoint = load

__all__ = ["Encoder", "demo_encoder", "load_checkpoint"]
