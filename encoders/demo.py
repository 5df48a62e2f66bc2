"""The encoder of the built-in demo archive: no pretrained checkpoint can be downloaded for
it, so it is trained on the demo itself (about a minute on 2 CPU cores)."""
from __future__ import annotations

from pathlib import Path

from encoders import checkpoint
from encoders.data import paired_windows, text_aligned_windows
from encoders.factory import load_checkpoint
from encoders.model import Encoder, default_config, text_aligned_config
from encoders.text import MINILM, minilm_available
from encoders.train import TrainSettings, train_paired, train_text_aligned
from indexer.importers import discover
from indexer.windows import WindowSpec

DEMO_EPOCHS = 25


def demo_encoder(folder: Path, epochs: int | None = None, progress: bool = True) -> Encoder:
    """Train the demo encoder into `folder` and load it: text-aligned with MiniLM when the
    `text` extra is installed (so text queries work on the demo too), else IMU <-> pose only."""
    epochs = epochs or DEMO_EPOCHS
    if minilm_available():
        return _text_aligned_demo(folder, epochs, progress)
    config = default_config()
    rates = {m: s["rate"] for m, s in config["towers"].items()}
    data = paired_windows(discover(None, "demo"), WindowSpec(**config["window"]), rates,
                          progress=progress)
    print(f"training a demo encoder on {len(data)} paired windows ({epochs} epochs)")
    model, history = train_paired(config, data, TrainSettings(epochs=epochs), progress=progress)
    checkpoint.save(model, folder, {"trained_on": {"source": "demo", "format": "demo",
                                                    "windows": len(data), "epochs": epochs,
                                                    "final_loss": round(history[-1], 4)}})
    return load_checkpoint(folder)


def _text_aligned_demo(folder: Path, epochs: int, progress: bool) -> Encoder:
    """A MiniLM-aligned encoder, so `python -m query text "waving" --target imu` works on the
    demo index with nothing downloaded."""
    config = text_aligned_config("cnn_gru", MINILM)
    rates = {m: float(s["rate"]) for m, s in config["towers"].items()}
    data = text_aligned_windows(discover(None, "demo"), WindowSpec(**config["window"]), rates, progress=progress)
    print(f"training a text-aligned demo encoder ({config['space']}) on {len(data)} windows ({epochs} epochs)")
    model, history = train_text_aligned(config, data, TrainSettings(epochs=epochs), progress=progress)
    checkpoint.save(model, folder, {"trained_on": {"source": "demo", "format": "demo", "windows": len(data),
                                                    "labels": sorted(set(data.captions)), "epochs": epochs,
                                                    "final_loss": round(history[-1], 4)}})
    return load_checkpoint(folder)
