"""A tiny open_clip model config (random weights) for the text/video tests: the real open_clip
factory, tokenizer and towers run, offline, in a fraction of a second."""
from __future__ import annotations

TINY_CLIP = {
    "architecture": "open_clip",
    "model": "motionsearch-tiny-test",
    "pretrained": None,
    "seed": 0,
    "model_config": {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    },
}

TINY_TOWER_PARAMS = {"width": 8, "hidden": 8}
TINY_VIDEO_PARAMS = {"width": 4, "dim": 16, "crop": 24}
