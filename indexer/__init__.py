"""indexer: the data model, importers, windows, the index layout (store), FAISS and the build.

The bottom layer: it imports none of `encoders`, `query` or `ui` (only `indexer.cli`, the
command-line wiring, hands a concrete encoder to the build). Names load on first use, so that
importing the package stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from indexer.imports import lazy_exports

_EXPORTS = {
    # data model and vocabulary
    "BadInput": "indexer.errors",
    "Entry": "indexer.model", "Recording": "indexer.model", "ImuStream": "indexer.model",
    "PoseStream": "indexer.model", "VideoStream": "indexer.model", "TextSpan": "indexer.model",
    "Modality": "indexer.model", "MODALITIES": "indexer.model",
    "BODY_PARTS": "indexer.bodyparts", "CANONICAL_JOINTS": "indexer.bodyparts", "SKELETONS": "indexer.bodyparts",
    "IMU6_CHANNELS": "indexer.units",
    # importers, windows, video
    "discover": "indexer.importers", "detect_format": "indexer.importers",
    "Window": "indexer.windows", "WindowSpec": "indexer.windows", "recording_windows": "indexer.windows",
    "VIDEO_SUFFIXES": "indexer.video", "probe_video": "indexer.video", "read_frames": "indexer.video",
    # the index and its build
    "IndexStore": "indexer.store", "is_index": "indexer.store", "where_filter": "indexer.sql",
    "Embedder": "indexer.embedder", "EmbeddedWindow": "indexer.embedder",
    "build": "indexer.build", "build_path": "indexer.build", "BuildSummary": "indexer.build",
    # import helpers
    "optional": "indexer.imports", "MissingExtra": "indexer.imports",
}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the same names, for type checkers and the import graph
    from indexer.bodyparts import BODY_PARTS, CANONICAL_JOINTS, SKELETONS
    from indexer.build import BuildSummary, build, build_path
    from indexer.embedder import EmbeddedWindow, Embedder
    from indexer.errors import BadInput
    from indexer.importers import detect_format, discover
    from indexer.imports import MissingExtra, optional
    from indexer.model import MODALITIES, Entry, ImuStream, Modality, PoseStream, Recording, TextSpan, VideoStream
    from indexer.sql import where_filter
    from indexer.store import IndexStore, is_index
    from indexer.units import IMU6_CHANNELS
    from indexer.video import VIDEO_SUFFIXES, probe_video, read_frames
    from indexer.windows import Window, WindowSpec, recording_windows
