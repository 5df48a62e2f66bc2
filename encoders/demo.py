"""The encoder of the built-in demo archive: no pretrained checkpoint can be downloaded for
it, so it is trained on the demo itself (about a minute on 2 CPU cores)."""
from __future__ import annotations

from pathlib import Path

from encoders.factory import load_checkpoint
from encoders.model import Encoder, default_config, text_aligned_config
from encoders.sources import ArchiveSource
from encoders.text import MINILM, minilm_available
from encoders.train import TrainSettings, train
from indexer.importers import discover

DEMO_EPOCHS = 25


def demo_encoder(folder: Path, epochs: int | None = None, progress: bool = True) -> Encoder:
    """Train the demo encoder into `folder` and load it: text-aligned with MiniLM when the
    `text` extra is installed (so `python -m query text "waving" --target imu` works on the demo
    index with nothing downloaded), else IMU <-> pose only."""
    epochs = epochs or DEMO_EPOCHS
    config = text_aligned_config("cnn_gru", MINILM) if minilm_available() else default_config()

    def announce(config, data) -> None:
        print(f"training a demo encoder ({config.space}) on {len(data)} windows ({epochs} epochs)")

    source = ArchiveSource(discover(None, "demo"), "demo", "demo", progress=progress)
    train(config, source, TrainSettings(epochs=epochs), folder, progress=progress, announce=announce)
    return load_checkpoint(folder)
