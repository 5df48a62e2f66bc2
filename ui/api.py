"""The page's named API endpoints, for `gradio_client` (and listed under "Use via API").

    from gradio_client import Client, handle_file
    c = Client("http://127.0.0.1:7860")
    c.predict("a person walking", "imu", 10, "", api_name="/search")   # -> {"hits": [...], "wording": ...}
    c.predict(handle_file("clip.npy"), "imu", "pose", 10, "", 50, "right_wrist", 0, 0, api_name="/search_file")
    c.predict("demo/waving_s2_t1", api_name="/recording")            # -> metadata, streams, windows
    c.predict(handle_file("imu.npy"), 50, "right_wrist", handle_file("pose.npy"), 30, 10, api_name="/sync")
    c.predict("", api_name="/browse")                                # -> {"recordings": [...]}

Each returns the JSON of `python -m query serve` for the same request (query.serve builds both);
a bad request raises an error whose message is one readable line (gradio_client: AppError).
"""
from __future__ import annotations

import functools
import typing

from query import DEFAULT_PLACEMENT, optional
from query.serve import check_filter, hits_json, recording_json, search_json
from ui import views
from ui.errors import UserError, message
from ui.filters import Filters
from ui.sync_tab import run_sync

gr = optional("gradio", "ui", "the web page")


def _path(file) -> str | None:
    if file is None:
        return None
    return file["path"] if isinstance(file, dict) else str(file)


def register(ctx: views.Context) -> None:
    """Add the endpoints to the Blocks being built (call inside its `with`)."""
    hide = [ctx.index.uri]

    def guarded(fn):
        @functools.wraps(fn)  # gr.api reads the parameters and their types from the signature
        def run(*args):
            try:
                return fn(*args)
            except Exception as exc:  # noqa: BLE001  # one line for the caller, the details in the log
                upload = next((_path(a) for a in args if isinstance(a, dict)), None)
                # message() logs the one line; Gradio would print a traceback for every refusal
                raise gr.Error(message(exc, upload, hide, api_name=fn.__name__).replace("**", ""),
                               print_exception=False) from None
        # Gradio reads the type hints on every call; resolved once here, they are not parsed from
        # this module's string annotations each time (8 % of a search's time under load)
        run.__annotations__ = typing.get_type_hints(fn)
        return run

    def search(query: str, target: str = "imu", k: int = 10, filter: str = "") -> dict:
        """Windows of `target` matching a text prompt; `filter`: SQL over windows ("" = none),
        e.g. "subject = '2'". -> {"hits": [{rank, score, match, recording_id, label, t_start, t_end,
        body_part, modality, window_id, dataset, subject}, ...], "wording": null or {prompt,
        opposite, shared, of, cosine} (the prompt's words cannot tell a direction apart here)}"""
        return search_json(ctx.index, query, target, k, filter, ctx.max_prompt_chars)

    def search_file(file: gr.FileData, kind: str = "imu", target: str = "pose", k: int = 10, filter: str = "",
                    rate: float = 0, placement: str = DEFAULT_PLACEMENT, start: float = 0, end: float = 0) -> dict:
        """Windows of `target` matching an uploaded IMU / pose / video file (its [start, end] s;
        0 = not given), as /search answers."""
        q = views.Query(kind=kind, target=target, k=k, upload=_path(file), rate=rate, start=start, end=end,
                        placement=placement, one_per_recording=False)
        q = views.checked(ctx, q)
        return hits_json(views.runner(ctx, q)(q.k, check_filter(filter) or None))

    def recording(recording_id: str) -> dict:
        """One recording: metadata, the streams it holds (rates, channels, lengths), its windows."""
        return recording_json(ctx.index, recording_id)

    def sync(imu: gr.FileData, imu_rate: float = 0, placement: str = DEFAULT_PLACEMENT, other: gr.FileData | None = None,
             other_rate: float = 0, max_offset: float = 10) -> dict:
        """Offset of a video or pose file against an IMU file (positive: the second lags) ->
        {offset, confidence, reliable, matches, method, notes}."""
        if not ctx.features.sync:
            raise UserError(ctx.features.unavailable["sync"])
        return run_sync(ctx, _path(imu), imu_rate, placement, _path(other), other_rate, max_offset).answer

    def browse(filter: str = "") -> dict:
        """The recordings (natural id order) whose id or label contains `filter`."""
        return {"recordings": views.browse(ctx, Filters(), filter).to_dicts()}

    for fn in (search, search_file, recording, sync, browse):
        gr.api(guarded(fn), api_name=fn.__name__)
