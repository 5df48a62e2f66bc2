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


def _can_embed(index, query: str, targets: list[str]) -> tuple[bool, str]:
    """Whether some encoder of the index embeds a `query` ("text", "video") next to windows of
    some target, asked through the query API's own encoder choice; else its reason."""
    try:
        semantic = importlib.import_module("query.semantic")
    except ImportError:
        return False, "this version of the query API has no text/video queries (`query.semantic` is missing)"
    if query == "text" and getattr(index, "search_text", None) is None:
        return False, "this version of the query API has no `Index.search_text`"
    reason = ""
    for target in targets:
        try:
            encoder = semantic.pick_encoder(index, query, target)
        except Exception as exc:  # noqa: BLE001 - the API's own refusal is the reason shown
            reason = str(exc)
            continue
        if query == "text":
            encoder.encode_text(["warm-up"])  # load the text model now, not on the first search
        return True, ""
    return False, reason


def _sync_available(index) -> tuple[bool, str]:
    try:
        temporal = importlib.import_module("query.temporal")
    except ImportError:
        return False, "Temporal sync is not available: this version of the query API has no `query.temporal`."
    if not callable(getattr(temporal, "sync", None)):
        return False, "Temporal sync is not available: `query.temporal` has no `sync` function yet."
    return True, ""


def detect(index) -> Features:
    """Probe the index once at start-up; this also loads the models, so the first user does not
    wait for them."""
    targets = index.indexed_modalities()
    if not targets:
        raise LookupError(f"{index.store.uri}: the index holds no windows; build it first")
    kinds, why = [], {}
    ok, reason = _can_embed(index, "text", targets)
    if ok:
        kinds.append("text")
    else:
        why["text"] = f"Text search is not available: {reason}."
    modalities = set()
    for encoder_id in index.encoder_ids():
        try:
            modalities.update(index.encoder(encoder_id).modalities)  # loads each model once, now
        except EXPECTED as exc:  # a damaged checkpoint disables its queries, not the page
            log.warning("encoder %s cannot be loaded: %s", encoder_id, exc)
    for kind in ("imu", "pose"):
        if kind in modalities:
            kinds.append(kind)
        else:
            why[kind] = f"{kind.upper()} queries are not available: no encoder in this index has a {kind} tower."
    ok, reason = _can_embed(index, "video", targets)
    if ok:
        kinds.append("video")
    else:
        why["video"] = f"Video queries are not available: {reason}."
    ok, reason = _sync_available(index)
    if not ok:
        why["sync"] = reason
    return Features(targets=targets, query_kinds=kinds, unavailable=why, sync=ok)
