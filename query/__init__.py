"""query: open an index, embed a query, search, join metadata, temporal alignment.

    from query import open_index
    ix = open_index("./demo-index")
    ix.search_text("waving", target="imu", k=5)
    ix.search_file("clip.mat", "imu", target="pose", k=10, where="subject = '2'")

    from query import read_imu, read_pose, sync
    sync(read_imu("wrist.csv", rate=50), read_pose("take.bvh"), ix.encoder(query="tokens")).offset

Names load on first use, so `python -m query --help` answers before torch is imported. The
data-model names the UI needs (streams, BadInput, VIDEO_SUFFIXES, ...) are re-exported here, so
that a front end depends on this package alone.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from indexer.imports import lazy_exports as _lazy_exports

_EXPORTS = {
    # the index and its searches
    "open_index": "query.api", "Index": "query.api", "Searcher": "query.searcher", "RESULT_COLUMNS": "query.searcher",
    "is_index": "indexer", "where_filter": "indexer",
    # reading query files
    "read_imu": "query.inputs", "read_pose": "query.inputs", "read_people": "query.inputs",
    "read_video": "query.inputs", "as_imu": "query.inputs", "as_motion": "query.inputs",
    "crop_stream": "query.inputs", "guess_modality": "query.inputs", "MAX_QUERY_BYTES": "query.inputs",
    # fine-grained time
    "SyncResult": "query.sync_result", "sync": "query.dense_sync", "locate": "query.locator",
    "assign": "query.assignment", "xcorr_sync": "query.xcorr",
    "imu_activity": "query.xcorr", "pose_activity": "query.xcorr", "ACTIVITY_RATE": "query.xcorr",
    # re-exported from indexer, for front ends that import only this package
    "BadInput": "indexer.errors", "Recording": "indexer.model", "ImuStream": "indexer.model",
    "PoseStream": "indexer.model", "VideoStream": "indexer.model", "Modality": "indexer.model",
    "CANONICAL_JOINTS": "indexer.bodyparts",
    "DEFAULT_PLACEMENT": "indexer.bodyparts",
    "VIDEO_SUFFIXES": "indexer.video", "optional": "indexer.imports", "MissingExtra": "indexer.imports",
    "lazy_exports": "indexer.imports",
}
__all__ = sorted(_EXPORTS)
__getattr__ = _lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # the same names, for type checkers and the import graph
    from indexer import is_index, where_filter
    from indexer.bodyparts import CANONICAL_JOINTS, DEFAULT_PLACEMENT
    from indexer.errors import BadInput
    from indexer.imports import MissingExtra, lazy_exports, optional
    from indexer.model import ImuStream, Modality, PoseStream, Recording, VideoStream
    from indexer.video import VIDEO_SUFFIXES
    from query.api import Index, open_index
    from query.assignment import assign
    from query.dense_sync import sync
    from query.inputs import (
        MAX_QUERY_BYTES,
        as_imu,
        as_motion,
        crop_stream,
        guess_modality,
        read_imu,
        read_people,
        read_pose,
        read_video,
    )
    from query.locator import locate
    from query.searcher import RESULT_COLUMNS, Searcher
    from query.sync_result import SyncResult
    from query.xcorr import ACTIVITY_RATE, imu_activity, pose_activity, xcorr_sync
