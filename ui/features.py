"""What this index can do: decides which search kinds and tabs the page offers, and what it
says about the ones it cannot.

Every "not available" message states the actual reason: the query API's own refusal (its
error text is shown), or the tower no encoder of the index has.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from query.searcher import with_joined
from ui.errors import EXPECTED

if TYPE_CHECKING:
    from query import Index

log = logging.getLogger("ui")


@dataclass
class Features:
    targets: list[str]  # modalities with windows: what a search can return
    query_kinds: list[str]  # "text", "imu", "pose", "video"
    unavailable: dict[str, str] = field(default_factory=dict)  # kind or tab -> why not
    sync: bool = False


def targets_for(kind: str | None, features: Features) -> list[str]:
    """What a search of `kind` can find: words find a sensor and a skeleton together too."""
    return with_joined(features.targets) if kind in (None, "text") and "text" in features.query_kinds \
        else list(features.targets)


def _can_embed(index: Index, query: str, targets: list[str]) -> tuple[bool, str]:
    """Whether some encoder of the index embeds a `query` ("text", "video") next to windows of
    some target, asked through the query API's own encoder choice (from the checkpoints'
    configs: no model loads for it); else its reason."""
    reason = ""
    for target in targets:
        try:
            encoder_id = index.pick_encoder_id(query, target)
        except Exception as exc:  # noqa: BLE001  # the API's own refusal is the reason shown
            reason = str(exc)
            continue
        if query == "text":
            index.encode_text(["warm-up"], encoder_id, modality=target)  # the text tower now (0.3 s), not on the first search
        return True, ""
    return False, reason


def detect(index: Index) -> Features:
    """Probe the index once at start-up from its encoders' configs, loading the text tower (the
    clip encoders load in the background once the page is up: ui.app.serve)."""
    targets = index.indexed_modalities()
    if not targets:
        raise LookupError(f"{index.uri}: the index holds no windows; build it first")
    kinds, why = [], {}
    ok, reason = _can_embed(index, "text", targets)
    if ok:
        kinds.append("text")
    else:
        why["text"] = f"Text search is not available: {reason}."
    modalities = set()
    for encoder_id in index.encoder_ids():
        try:
            modalities.update(index.encoder_config(encoder_id).modalities)
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
    sync = "imu" in modalities  # the Sync tab embeds the IMU file (token encoder, else clip-level)
    if not sync:
        why["sync"] = "Temporal sync is not available: no encoder in this index has an IMU tower."
    return Features(targets=targets, query_kinds=kinds, unavailable=why, sync=sync)


# What the page says under the search controls about a search it cannot offer, in plain words.
_PLAIN = {
    "imu": "Searching with an IMU file is not offered: the model that built this index reads no IMU.",
    "pose": "Searching with a pose file is not offered: the model that built this index reads no poses.",
    "video": "Searching with a video file is not offered: the model that built this index reads no video.",
}


def page_notes(features: Features) -> list[str]:
    """The lines the search page shows about what it cannot do, only where they apply: a missing
    text search always (the API's own reason kept), a missing file search only for a modality
    the index holds windows of (an index without video says nothing about video)."""
    notes = [features.unavailable["text"]] if "text" in features.unavailable else []
    notes += [_PLAIN[kind] for kind in ("imu", "pose", "video")
              if kind in features.unavailable and kind in features.targets]
    return notes
