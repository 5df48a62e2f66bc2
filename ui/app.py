"""The Gradio page: layout and wiring. What each part shows is computed in `ui.views`.

    from ui.app import serve
    serve("demo-index", port=7860)                   # blocks; python -m ui does this
    app, url = serve("demo-index", block=False)      # runs in a thread; app.close() stops it

One Index is opened at start-up and shared by every request (its encoders load once); the
queue runs a few requests at a time so one slow search does not hold up everyone.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from query import open_index, optional
from ui import defaults, sync_tab, views
from ui.errors import message, safely
from ui.features import detect
from ui.filters import Filters
from ui.media import MediaDir
from ui.views import KIND_NAMES, MAX_K, PLACEMENTS, UPLOAD_TYPES, Context

gr = optional("gradio", "ui", "the web page")

DEFAULT_MAX_UPLOAD_MB = defaults.MAX_UPLOAD_MB
DEFAULT_CONCURRENCY = defaults.CONCURRENCY
CSS = """
.result-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px; }
.result-card h3 { margin: 0 0 2px 0; }
"""


@dataclass
class CardSlot:
    box: gr.Column
    header: gr.Markdown
    imu: gr.Plot
    skeleton: gr.Image
    video: gr.Video
    note: gr.Markdown
    open: gr.Button

    def outputs(self) -> list:
        return [self.box, self.header, self.imu, self.skeleton, self.video, self.note]


def _card_updates(card: views.Card | None) -> list:
    if card is None:
        return [gr.Column(visible=False), "", None, None, None, ""]
    return [gr.Column(visible=True), card.header,
            gr.Plot(value=card.imu, visible=card.imu is not None),
            gr.Image(value=str(card.skeleton) if card.skeleton else None, visible=card.skeleton is not None),
            gr.Video(value=str(card.video) if card.video else None, visible=card.video is not None),
            card.note and f"*{card.note}*"]


def _card_slot(i: int) -> CardSlot:
    """One result card, hidden until a search fills it."""
    with gr.Column(visible=False, elem_classes=["result-card"], elem_id=f"card-{i}") as box:
        header = gr.Markdown()
        with gr.Row():
            imu = gr.Plot(label="IMU channels", elem_classes=["card-imu"], scale=3)
            skeleton = gr.Image(label="Skeleton (matched window)", type="filepath", elem_classes=["card-skeleton"],
                                interactive=False, scale=2, height=230, buttons=["download", "fullscreen"])
            video = gr.Video(label="Video (matched range)", autoplay=True, loop=True, interactive=False, scale=2,
                             height=230, buttons=["download"], elem_classes=["card-video"])
        note = gr.Markdown()
        opener = gr.Button("Open whole recording", size="sm", elem_classes=["open-recording"])
    return CardSlot(box, header, imu, skeleton, video, note, opener)


def _filter_widgets(picks: dict, prefix: str) -> list:
    with gr.Row():
        datasets = gr.Dropdown(picks["dataset"], multiselect=True, label="Dataset", elem_id=f"{prefix}-dataset")
        subjects = gr.Dropdown(picks["subject"], multiselect=True, label="Subject", elem_id=f"{prefix}-subject")
    labels = gr.Dropdown(picks["label"], multiselect=True, label="Label", elem_id=f"{prefix}-label")
    with gr.Row():
        min_dur = gr.Number(None, label="Min duration (s)", minimum=0, elem_id=f"{prefix}-min-duration")
        max_dur = gr.Number(None, label="Max duration (s)", minimum=0, elem_id=f"{prefix}-max-duration",
                            info="0 = no limit")
    return [datasets, subjects, labels, min_dur, max_dur]


def _upload_label(kind: str | None) -> str:
    return f"Query file ({' '.join(UPLOAD_TYPES[kind])})" if kind in UPLOAD_TYPES else "Query file"


def _default_target(kind: str | None, targets: list[str]) -> str:
    """Cross-modal by default: an IMU clip finds pose, a pose clip finds IMU, words find IMU."""
    wanted = {"imu": "pose", "pose": "imu"}.get(kind or "", "imu")
    return wanted if wanted in targets else targets[0]


def build_app(index, workdir: str | Path, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB) -> gr.Blocks:
    """The page for one open Index. `workdir` is the folder rendered media go to; serve() also
    makes it Gradio's upload folder, so it is the only folder the app serves files from."""
    ctx = Context(index=index, media=MediaDir(workdir), features=detect(index),
                  max_upload_bytes=int(max_upload_mb * 1e6))
    feats = ctx.features
    picks = views.choices(ctx)
    first_kind = feats.query_kinds[0] if feats.query_kinds else None
    default_target = _default_target(first_kind, feats.targets)
    n_recordings = len(picks["recording"])

    with gr.Blocks(title="motionsearch", delete_cache=(1800, 3600)) as app:
        gr.Markdown(f"## motionsearch\nIndex `{Path(index.store.uri).name}`: {n_recordings} recordings; "
                    f"searchable: {', '.join(feats.targets)} windows.")
        with gr.Tabs() as tabs:
            # ------------------------------------------------------------------ search
            with gr.Tab("Search", id="search"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=320):
                        kind = gr.Radio([(KIND_NAMES[k], k) for k in feats.query_kinds], value=first_kind,
                                        label="Search by", elem_id="kind")
                        prompt = gr.Textbox(label="Describe the motion", elem_id="prompt",
                                            placeholder="e.g. a person waves the right hand",
                                            visible=first_kind == "text", max_length=views.MAX_PROMPT_CHARS)
                        # No file_types: Gradio would refuse other files with a pop-up; the handler
                        # refuses them with the reason in the status line, like every other bad upload.
                        upload = gr.File(label=_upload_label(first_kind), type="filepath", elem_id="query-file",
                                         visible=first_kind not in (None, "text"))
                        # Gradio shows an empty number as 0, so 0 means "not given" in these fields.
                        with gr.Column(visible=first_kind not in (None, "text")) as clip_row:
                            rate = gr.Number(None, label="Sample rate (Hz)", minimum=0, elem_id="rate",
                                             info=".csv / .parquet / .npy need it; 0 = not given")
                            with gr.Row():
                                start = gr.Number(None, label="From (s)", minimum=0, elem_id="start")
                                end = gr.Number(None, label="To (s)", minimum=0, elem_id="end",
                                                info="0 = to the end")
                        placement = gr.Dropdown(PLACEMENTS, value="right_wrist", label="Sensor placement",
                                                visible=first_kind == "imu", allow_custom_value=True)
                        target = gr.Dropdown(feats.targets, value=default_target, label="Find (target modality)",
                                             elem_id="target")
                        k = gr.Slider(1, MAX_K, value=5, step=1, label="Results (top-k)", elem_id="top-k")
                        with gr.Accordion("Filters", open=False):
                            search_filters = _filter_widgets(picks, "search")
                        go = gr.Button("Search", variant="primary", elem_id="search-button")
                        if feats.unavailable:
                            gr.Markdown("\n".join(f"- {v}" for key, v in feats.unavailable.items() if key != "sync"),
                                        elem_id="unavailable")
                    with gr.Column(scale=3):
                        status = gr.Markdown("Choose how to search, then press **Search**.", elem_id="search-status")
                        with gr.Accordion("Results as a table", open=False):
                            table = gr.Dataframe(interactive=False, elem_id="results-table", max_height=320)
                        slots = [_card_slot(i) for i in range(MAX_K)]
                hits = gr.State([])

            # ------------------------------------------------------------------ one recording
            with gr.Tab("Recording", id="recording"):
                with gr.Row():
                    # Custom values reach the handler, which says "no such recording" in the page.
                    rec_pick = gr.Dropdown(picks["recording"], label="Recording", filterable=True, scale=4,
                                           elem_id="recording-id", allow_custom_value=True)
                    rec_go = gr.Button("Open", scale=1, elem_id="recording-open")
                rec_header = gr.Markdown("Pick a recording, or open one from a search result or the Browse tab.",
                                         elem_id="recording-header")
                rec_imu = gr.Plot(label="IMU channels", visible=False)
                with gr.Row():
                    rec_skeleton = gr.Image(label="Skeleton", type="filepath", interactive=False, visible=False,
                                            height=320, buttons=["download", "fullscreen"])
                    rec_video = gr.Video(label="Video", interactive=False, visible=False, height=320, loop=True,
                                         buttons=["download"])
                rec_note = gr.Markdown()

            # ------------------------------------------------------------------ sync
            with gr.Tab("Sync", id="sync"):
                _sync_tab(ctx)

            # ------------------------------------------------------------------ browse
            with gr.Tab("Browse", id="browse"):
                browse_filters = _filter_widgets(picks, "browse")
                browse_go = gr.Button("Apply filters", elem_id="browse-button")
                browse_status = gr.Markdown("Select a row to open that recording.")
                browse_table = gr.Dataframe(interactive=False, elem_id="browse-table", max_height=600)

        # ---------------------------------------------------------------------- wiring
        def on_kind(value):
            files = value not in (None, "text")
            return (gr.Textbox(visible=value == "text"), gr.File(visible=files, label=_upload_label(value)),
                    gr.Column(visible=files),
                    gr.Dropdown(visible=value == "imu"), gr.Dropdown(value=_default_target(value, feats.targets)))

        kind.change(on_kind, kind, [prompt, upload, clip_row, placement, target], api_visibility="private",
                    queue=False)

        # A failed search clears the old results, so they are not mistaken for the new ones.
        @safely(3, on_error=[views.results_table(views.empty_hits()), []], hide=[index.store.uri])
        def do_search(kind, prompt, upload, rate, start, end, placement, target, k,
                      datasets, subjects, labels, min_duration, max_duration):
            filters = Filters.from_inputs(datasets, subjects, labels, min_duration, max_duration)
            found = views.search(ctx, kind, prompt, upload, rate, start, end, placement, target, k, filters)
            return views.summary(found, kind, target), views.results_table(found), found.to_dicts()

        def render_cards(rows):
            cards: list = [None] * MAX_K
            yield [u for c in cards for u in _card_updates(c)]
            for i, row in enumerate((rows or [])[:MAX_K]):
                try:
                    cards[i] = views.hit_card(ctx, row)
                except Exception as exc:  # noqa: BLE001  # one unreadable recording must not blank the other cards
                    cards[i] = views.Card(row.get("recording_id", "?"), f"### {row.get('rank', i + 1)}. "
                                          f"{row.get('label', '')}", None, None, None,
                                          message(exc, hide=[index.store.uri]))
                yield [u for c in cards for u in _card_updates(c)]

        search_inputs = [kind, prompt, upload, rate, start, end, placement, target, k, *search_filters]
        card_outputs = [o for s in slots for o in s.outputs()]
        # Searches and card drawing queue separately, so a search is not kept waiting behind the
        # (slower) drawing of someone else's cards.
        go.click(do_search, search_inputs, [status, table, hits], api_name="search", concurrency_id="search").then(
            render_cards, hits, card_outputs, api_visibility="private", concurrency_id="render")
        prompt.submit(do_search, search_inputs, [status, table, hits], api_visibility="private",
                      concurrency_id="search").then(
            render_cards, hits, card_outputs, api_visibility="private", concurrency_id="render")

        rec_outputs = [tabs, rec_pick, rec_header, rec_imu, rec_skeleton, rec_video, rec_note]

        def open_recording(recording_id, highlight=None):
            try:
                card = views.recording_view(ctx, recording_id, highlight)
            except Exception as exc:  # noqa: BLE001  # shown in the page, never a traceback
                return [gr.Tabs(selected="recording"), recording_id, message(exc, hide=[index.store.uri]),
                        gr.Plot(None, visible=False), gr.Image(None, visible=False), gr.Video(None, visible=False), ""]
            return [gr.Tabs(selected="recording"), recording_id, *_card_updates(card)[1:]]

        def opener_for(i):
            def handler(rows):
                if not isinstance(rows, list) or i >= len(rows):
                    return [gr.skip()] * len(rec_outputs)
                row = rows[i]
                return open_recording(row["recording_id"], (row["t_start"], row["t_end"]))
            return handler

        for i, slot in enumerate(slots):
            slot.open.click(opener_for(i), hits, rec_outputs, api_visibility="private")

        def show_recording(recording_id):
            return open_recording(recording_id)[2:]

        rec_go.click(show_recording, rec_pick, rec_outputs[2:], api_name="recording")

        @safely(2, status_index=1, hide=[index.store.uri])
        def do_browse(datasets, subjects, labels, min_duration, max_duration):
            filters = Filters.from_inputs(datasets, subjects, labels, min_duration, max_duration)
            df = views.browse(ctx, filters)
            return df, f"{df.height} recordings. Select a row to open that recording."

        browse_go.click(do_browse, browse_filters, [browse_table, browse_status], api_name="browse")
        app.load(do_browse, browse_filters, [browse_table, browse_status], api_visibility="private")

        def on_browse_select(evt: gr.SelectData):
            row = evt.row_value or []
            return open_recording(row[0]) if row else [gr.skip()] * len(rec_outputs)

        browse_table.select(on_browse_select, None, rec_outputs, api_visibility="private")
    app.motionsearch_context = ctx  # for tests and embedding: what the page was built on
    return app


def _sync_tab(ctx: Context) -> None:
    """The Sync tab, or why the query API cannot sync."""
    if not ctx.features.sync:
        gr.Markdown(ctx.features.unavailable.get("sync", "Temporal sync is not available."), elem_id="sync-unavailable")
        return
    sync_tab.build(ctx)


def serve(index_dir: str | Path, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
          max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, concurrency: int = DEFAULT_CONCURRENCY,
          block: bool = True, workdir: str | Path | None = None):
    """Open the index, build the page and launch it. With block=False returns (app, url) and
    leaves the server running in a thread (tests, notebooks); call app.close() to stop it."""
    own_dir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="motionsearch-ui-")).resolve()
    if own_dir:  # uploads and renders are per run: gone when the process ends
        atexit.register(shutil.rmtree, workdir, True)
    # Gradio keeps uploads and the files it serves in GRADIO_TEMP_DIR. Pointing it at our own
    # folder, and passing no allowed_paths, means the server hands out nothing but this app's
    # uploads and renders.
    os.environ["GRADIO_TEMP_DIR"] = str(workdir)
    index = open_index(index_dir)
    app = build_app(index, workdir, max_upload_mb)
    app.queue(default_concurrency_limit=concurrency, max_size=64)
    _, url, _ = app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                           max_file_size=int(max_upload_mb * 1e6), show_error=False, quiet=not block,
                           footer_links=["api"], css=CSS, theme=gr.themes.Soft())
    return app, url
