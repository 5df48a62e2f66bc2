"""What this index, through this version of the query API, can do: decides which search
kinds and tabs the page offers, and what it says about the ones it cannot.

Every "not available" message states the actual reason: the API lacks the call, or the call
exists and the index refused (its own error text is shown).
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field

from ui.errors import EXPECTED

log = logging.getLogger("ui")


@dataclass
class Features:
    targets: list[str]  # modalities with windows: what a search can return
    query_kinds: list[str]  # "text", "imu", "pose", "video"
    unavailable: dict[str, str] = field(default_factory=dict)  # kind or tab -> why not
    sync: bool = False


def _api_has_video_queries(index) -> bool:
    """True when the query API reads video query files: the text/video work adds a video
    reader next to the IMU and pose ones."""
    try:
        inputs = importlib.import_module("query.inputs")
    except ImportError:
        return False
    return callable(getattr(inputs, "read_video", None))


def _sync_available(index) -> tuple[bool, str]:
    try:
        temporal = importlib.import_module("query.temporal")
    except ImportError:
        return False, "Temporal sync is not available: this version of the query API has no `query.temporal`."
    if not callable(getattr(temporal, "sync", None)):
        return False, "Temporal sync is not available: `query.temporal` has no `sync` function yet."
    return True, ""


def detect(index) -> Features:
    """Probe the index once at start-up. Probing text search also loads the text model, so
    the first user does not wait for it."""
    targets = index.indexed_modalities()
    if not targets:
        raise LookupError(f"{index.store.uri}: the index holds no windows; build it first")
    kinds, why = [], {}
    search_text = getattr(index, "search_text", None)
    if search_text is None:
        why["text"] = "Text search is not available: this version of the query API has no `Index.search_text`."
    else:
        try:
            search_text("a person moving", target=targets[0], k=1)
            kinds.append("text")
        except EXPECTED as exc:
            why["text"] = f"Text search is not available for this index: {exc}"
    modalities = set()
    for encoder_id in index.encoder_ids():
        try:
            modalities.update(index.encoder(encoder_id).modalities)
        except EXPECTED as exc:  # a damaged checkpoint disables its queries, not the page
            log.warning("encoder %s cannot be loaded: %s", encoder_id, exc)
    for kind in ("imu", "pose"):
        if kind in modalities:
            kinds.append(kind)
        else:
            why[kind] = f"{kind.upper()} queries are not available: no encoder in this index has a {kind} tower."
    if not _api_has_video_queries(index):
        why["video"] = "Video queries are not available: this version of the query API cannot read video files."
    else:
        kinds.append("video")  # whether this index can embed it, the API's own error says
    ok, reason = _sync_available(index)
    if not ok:
        why["sync"] = reason
    return Features(targets=targets, query_kinds=kinds, unavailable=why, sync=ok)
