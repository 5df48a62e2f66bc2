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
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from query import DEFAULT_PLACEMENT, Index, open_index, optional
from query.concepts import MAX_NAME_CHARS
from query.http_guard import DEFAULT_MAX_BODY_MB, MB, Guard, HttpLimits, check_token, warn_if_open
from query.searcher import JOINED, default_target
from ui import api, defaults, grid, label_tab, scene, sync_tab, views
from ui.errors import log, message
from ui.features import detect, page_notes, targets_for
from ui.filters import Filters
from ui.media import MediaDir
from ui.views import KIND_NAMES, MAX_K, PLACEMENTS, UPLOAD_TYPES, Context

gr = optional("gradio", "ui", "the web page")

DEFAULT_MAX_UPLOAD_MB = defaults.MAX_UPLOAD_MB
DEFAULT_CONCURRENCY = defaults.CONCURRENCY
UPLOAD_PATHS = ("/gradio_api/upload",)  # the routes that take query files; the rest take JSON
UPLOAD_ENVELOPE = 64_000  # bytes of multipart headers around an upload's file
# Gradio's launch calls this route of its own server, without the token, and gives up on a 401;
# it only runs the page's start-up events once and answers true or false.
OPEN_PATHS = ("/gradio_api/startup-events",)
# On a narrow screen (a phone) the search page reads: the query, Search, the results, then the
# examples, options and teaching; the controls' column dissolves so its groups can be ordered
# among the results.
LAYOUT_CSS = """
@media (max-width: 700px) {
  #search-row { flex-direction: column !important; flex-wrap: nowrap !important; }
  #search-controls { display: contents !important; }
  #search-ask { order: 1; } #search-go { order: 2; } #search-results { order: 3; }
  #search-hints { order: 4; } #search-options { order: 5; } #search-teach { order: 6; }
  #search-go .row { flex-wrap: nowrap !important; }
  #search-go button { min-width: 0 !important; }
  #kind .wrap { gap: 4px !important; }
  #kind label { padding: 3px 6px !important; font-size: 0.85em; }
  #search-row, #search-results { gap: 8px !important; }
  #page-header h2 { font-size: 1.2em; margin: 0; }
}
"""
CSS = grid.CSS + scene.PLAYER_CSS + LAYOUT_CSS
# Gradio scopes the page's CSS inside its container; the container's own side margins (32 px
# each side) are set from the document's head, so a phone's width goes to the cards.
HEAD = "<style>@media (max-width: 700px) { .gradio-container .main { padding: 8px !important; } }</style>"
# After a search: the query into the address bar, so the page can be shared and reloaded.
WRITE_URL_JS = """
(kind, prompt, target, k, one, datasets, subjects, labels, minD, maxD) => {
  const p = new URLSearchParams();
  if (kind) p.set('kind', kind);
  if (kind === 'text' && prompt) p.set('query', prompt);
  if (target) p.set('target', target);
  if (k) p.set('k', String(k));
  if (!one) p.set('all_windows', '1');
  for (const [key, values] of [['dataset', datasets], ['subject', subjects], ['label', labels]])
    for (const v of values || []) p.append(key, v);
  if (minD) p.set('min_duration', String(minD));
  if (maxD) p.set('max_duration', String(maxD));
  const q = p.toString();
  history.replaceState(null, '', q ? '?' + q : location.pathname);
  return [];
}
"""
# The recording view's playhead (the figure's slider) moves the player's clock, and with it
# the video.
LINK_VIDEO_JS = """
() => {
  const bind = () => {
    const plot = document.querySelector('#rec-plot .js-plotly-plot');
    if (!plot || !plot.on) return false;
    if (!plot.dataset.videoLinked) {
      plot.dataset.videoLinked = '1';
      plot.on('plotly_sliderchange', (e) => {
        if (window.msPlayer) { window.msPlayer.seek(Number(e.step.value)); return; }
        const video = document.querySelector('#rec-video video');
        if (video) { video.pause(); video.currentTime = Number(e.step.value); }
      });
    }
    return true;
  };
  let tries = 0;
  const timer = setInterval(() => { if (bind() || ++tries > 40) clearInterval(timer); }, 250);
  return [];
}
"""


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


def _target_widget(kind: str | None, feats, value: str | None = None) -> dict:
    """The target dropdown's choices for a search of `kind`, and its value (`value` if it is one)."""
    choices = targets_for(kind, feats)
    return {"choices": choices, "value": value if value in choices else default_target(kind, choices),
            "info": f"{JOINED}: each moment found by its sensor and skeleton together" if JOINED in choices else None}


def _url_state(request, feats, picks: dict, max_chars: int = views.MAX_PROMPT_CHARS) -> dict:
    """The search a shared link describes (`?kind=text&query=...&target=imu&k=40&subject=2`);
    values the index does not know are left out."""
    params = request.query_params if request is not None else {}

    def number(key, lo, hi):
        try:
            value = float(params.get(key))
        except (TypeError, ValueError):
            return None
        return value if lo <= value <= hi else None

    def listed(key):
        return [v for v in params.getlist(key) if v in picks[key]] if hasattr(params, "getlist") else []

    kind = params.get("kind") if params.get("kind") in feats.query_kinds else None
    if kind is None and params.get("query") and "text" in feats.query_kinds:
        kind = "text"
    return {"kind": kind, "query": (params.get("query") or "")[:max_chars],
            "target": params.get("target") if params.get("target") in targets_for(kind, feats) else None,
            "k": number("k", 1, MAX_K), "one": params.get("all_windows") not in ("1", "true"),
            "dataset": listed("dataset"), "subject": listed("subject"), "label": listed("label"),
            "min_duration": number("min_duration", 0, 1e9), "max_duration": number("max_duration", 0, 1e9)}


@dataclass
class SearchTab:
    """The Search tab's components: the query, its options, teaching by example, the results."""
    kind: gr.Radio
    prompt: gr.Textbox
    upload: gr.File
    clip_row: gr.Column
    rate: gr.Number
    start: gr.Number
    end: gr.Number
    placement: gr.Dropdown
    examples: list[str]  # the example prompts offered (the index's own labels)
    example_box: gr.Column
    concept_box: gr.Column
    concept_list: gr.Dataset
    target: gr.Dropdown
    k: gr.Slider
    one: gr.Checkbox
    filters: list  # dataset, subjects, labels, min and max duration (_filter_widgets)
    go: gr.Button
    clear: gr.Button
    concept_name: gr.Textbox
    teach_go: gr.Button
    not_go: gr.Button
    forget_go: gr.Button
    picked: gr.Textbox
    teach_status: gr.Markdown
    status: gr.Markdown
    query_view: gr.HTML
    grid_view: gr.HTML
    more: gr.Button
    table: gr.Dataframe
    found: gr.State
    shown: gr.State

    @property
    def query_inputs(self) -> list:
        """What a search reads, in the order of SearchHandlers.query_from."""
        return [self.kind, self.prompt, self.upload, self.rate, self.start, self.end, self.placement, self.target,
                self.k, self.one, *self.filters]

    @property
    def url_inputs(self) -> list:
        """What the address bar keeps, in the order of WRITE_URL_JS."""
        return [self.kind, self.prompt, self.target, self.k, self.one, *self.filters]

    @property
    def outputs(self) -> list:
        """What a search's answer updates."""
        return [self.status, self.query_view, self.grid_view, self.more, self.table, self.found, self.shown,
                self.prompt, self.upload]

    @property
    def kind_outputs(self) -> list:
        """What choosing how to search shows or hides."""
        return [self.prompt, self.example_box, self.upload, self.clip_row, self.placement, self.target, self.concept_box]


@dataclass
class RecordingTab:
    """The Recording tab's components: one recording's figure, player and video, and teaching a span."""
    back: gr.Button
    pick: gr.Dropdown
    go: gr.Button
    header: gr.Markdown
    plot: gr.Plot
    player: gr.HTML
    video: gr.Video
    note: gr.Markdown
    span_from: gr.Number
    span_to: gr.Number
    span_name: gr.Textbox
    span_go: gr.Button
    span_status: gr.Markdown

    @property
    def outputs(self) -> list:
        """What opening a recording updates (the tabs first: it switches to this one)."""
        return [self.pick, self.header, self.plot, self.player, self.video, self.note, self.span_from, self.span_to]


@dataclass
class BrowseTab:
    """The Browse tab's components: the recordings as a table, filtered."""
    filters: list
    contains: gr.Textbox
    go: gr.Button
    status: gr.Markdown
    table: gr.Dataframe


def build_app(index: Index, workdir: str | Path, max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
              max_prompt_chars: int = views.MAX_PROMPT_CHARS) -> gr.Blocks:
    """The page for one open Index. `workdir` is the folder rendered media go to; serve() also
    makes it Gradio's upload folder, so it is the only folder the app serves files from."""
    ctx = Context(index=index, media=MediaDir(workdir), features=detect(index),
                  max_upload_bytes=int(max_upload_mb * 1e6), max_prompt_chars=max_prompt_chars)
    feats = ctx.features
    picks = views.choices(ctx)
    hide = [index.uri]

    with gr.Blocks(title="motionsearch", delete_cache=(1800, 3600)) as app:
        gr.Markdown(f"## motionsearch\nIndex `{Path(index.uri).name}`: {len(picks['recording'])} recordings; "
                    f"searchable: {', '.join(feats.targets)} windows.", elem_id="page-header")
        with gr.Tabs() as tabs:
            with gr.Tab("Search", id="search"):
                search = _search_tab(ctx, picks)
            with gr.Tab("Recording", id="recording"):
                recording = _recording_tab(picks)
            with gr.Tab("Sync", id="sync"):
                _sync_tab(ctx)
            with gr.Tab("Label", id="label"):
                _label_tab(ctx)
            with gr.Tab("Browse", id="browse"):
                browse = _browse_tab(picks)
        handlers = SearchHandlers(ctx, search, picks, hide)
        handlers.wire(app)
        _wire_recording(ctx, tabs, search, recording, browse, app, hide)
        _wire_teach(ctx, search, recording, app, hide)
        api.register(ctx)
    app.motionsearch_context = ctx  # for tests and embedding: what the page was built on
    return app


# ---------------------------------------------------------------------------- the tabs' layout
def _search_tab(ctx: Context, picks: dict) -> SearchTab:
    feats = ctx.features
    first_kind = feats.query_kinds[0] if feats.query_kinds else None
    with gr.Row(elem_id="search-row"):
        with gr.Column(scale=1, min_width=300, elem_id="search-controls"):
            # Grouped so that a narrow screen can put the results right under the query (CSS).
            ask = _ask_group(ctx, first_kind)
            hints = _hints_group(ctx, ask["prompt"], first_kind)
            options = _options_group(ctx, picks, first_kind)
            with gr.Column(elem_id="search-go", elem_classes="ms-group"):
                with gr.Row():
                    go = gr.Button("Search", variant="primary", elem_id="search-button")
                    clear = gr.Button("Clear", elem_id="clear-button")
            teach = _teach_group(ctx)
        with gr.Column(scale=3, elem_id="search-results"):
            status = gr.Markdown("Choose how to search, then press **Search**.", elem_id="search-status")
            query_view = gr.HTML("", elem_id="query-view")
            grid_view = gr.HTML("", elem_id="result-grid", js_on_load=grid.GRID_JS)
            more = gr.Button("More results", visible=False, elem_id="more-button", size="sm")
            with gr.Accordion("Results as a table", open=False):
                table = gr.Dataframe(interactive=False, elem_id="results-table", max_height=320)
    found = gr.State(None)
    shown = gr.State(0)
    return SearchTab(**ask, **hints, **options, go=go, clear=clear, **teach, status=status, query_view=query_view,
                     grid_view=grid_view, more=more, table=table, found=found, shown=shown)


def _ask_group(ctx: Context, first_kind: str | None) -> dict:
    """How to search: the kind, the prompt or the query file with its rate, span and placement."""
    with gr.Column(elem_id="search-ask", elem_classes="ms-group"):
        kind = gr.Radio([(KIND_NAMES[k], k) for k in ctx.features.query_kinds], value=first_kind,
                        label="Search by", elem_id="kind")
        prompt = gr.Textbox(label="Describe the motion", elem_id="prompt",
                            placeholder="e.g. a person waves the right hand",
                            visible=first_kind == "text", max_length=ctx.max_prompt_chars)
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
                end = gr.Number(None, label="To (s)", minimum=0, elem_id="end", info="0 = to the end")
        placement = gr.Dropdown(PLACEMENTS, value=DEFAULT_PLACEMENT, label="Sensor placement",
                                visible=first_kind == "imu", allow_custom_value=True)
    return {"kind": kind, "prompt": prompt, "upload": upload, "clip_row": clip_row, "rate": rate, "start": start,
            "end": end, "placement": placement}


def _hints_group(ctx: Context, prompt: gr.Textbox, first_kind: str | None) -> dict:
    """Prompts to click: the index's labels, and the concepts taught to it."""
    with gr.Column(elem_id="search-hints", elem_classes="ms-group"):
        examples = views.example_prompts(ctx)
        with gr.Column(visible=first_kind == "text" and bool(examples)) as example_box:
            if examples:
                gr.Examples([[e] for e in examples], inputs=[prompt], elem_id="examples",
                            label="Examples (labels of this index): click one, then Search")
        with gr.Column(visible=first_kind == "text") as concept_box:
            # Filled when the page loads and after each teach / forget (a concept may be
            # taught from the CLI or HTTP while the page is up).
            concept_list = gr.Dataset(components=[prompt], samples=[], elem_id="concepts", visible=False,
                                      label="Concepts (taught by example): click one, then Search")
    return {"examples": examples, "example_box": example_box, "concept_box": concept_box, "concept_list": concept_list}


def _options_group(ctx: Context, picks: dict, first_kind: str | None) -> dict:
    """What to find: the target modality, how many, one per recording, the filters."""
    feats = ctx.features
    with gr.Column(elem_id="search-options", elem_classes="ms-group"):
        target = gr.Dropdown(**_target_widget(first_kind, feats), label="Find (target modality)", elem_id="target")
        k = gr.Slider(1, MAX_K, value=views.PAGE_SIZE, step=1, label="Results", elem_id="top-k",
                      info=f"shown {views.PAGE_SIZE} at a time")
        one = gr.Checkbox(True, label="One hit per recording (its best window)", elem_id="one-per-recording")
        with gr.Accordion("Filters", open=False):
            filters = _filter_widgets(picks, "search")
    return {"target": target, "k": k, "one": one, "filters": filters}


def _teach_group(ctx: Context) -> dict:
    """Teach by example: a name for the result cards selected, and what the page cannot do here."""
    with gr.Column(elem_id="search-teach", elem_classes="ms-group"):
        with gr.Accordion("Teach by example", open=True, elem_id="teach-box"):
            gr.Markdown("Press **Select** on result cards that show what you mean (several searches "
                        "may add to the selection), name it, and teach it: a text search for that "
                        "name then finds windows like the examples.")
            gr.HTML("No window selected.", elem_id="teach-count", js_on_load=None)
            concept_name = gr.Textbox(label="Concept name", elem_id="concept-name",
                                      placeholder="e.g. my punch", max_length=MAX_NAME_CHARS)
            with gr.Row():
                teach_go = gr.Button("Teach as …", elem_id="teach-button", variant="secondary")
                not_go = gr.Button("Not this", elem_id="not-button", size="sm")
                forget_go = gr.Button("Forget it", elem_id="forget-button", size="sm")
            picked = gr.Textbox(visible="hidden", elem_id="picked-windows")
            teach_status = gr.Markdown("", elem_id="teach-status")
        notes = page_notes(ctx.features)
        if notes:
            gr.Markdown("\n".join(f"- {v}" for v in notes), elem_id="unavailable")
    return {"concept_name": concept_name, "teach_go": teach_go, "not_go": not_go, "forget_go": forget_go,
            "picked": picked, "teach_status": teach_status}


def _recording_tab(picks: dict) -> RecordingTab:
    with gr.Row():
        back = gr.Button("← Back to results", scale=1, elem_id="back-button", size="sm")
        # Custom values reach the handler, which says "no such recording" in the page.
        pick = gr.Dropdown(picks["recording"], label="Recording", filterable=True, scale=4,
                           elem_id="recording-id", allow_custom_value=True)
        go = gr.Button("Open", scale=1, elem_id="recording-open")
    header = gr.Markdown("Pick a recording, or open one from a search result or the Browse tab.",
                         elem_id="recording-header")
    plot = gr.Plot(label="Skeleton and IMU channels (one playhead: the slider, or Play below)",
                   visible=False, elem_id="rec-plot")
    player = gr.HTML(scene.player_html(), visible=False, elem_id="rec-player", js_on_load=scene.PLAYER_JS)
    video = gr.Video(label="Video (follows the playhead)", interactive=False, visible=False,
                     height=320, loop=False, buttons=["download"], elem_id="rec-video")
    note = gr.Markdown()
    with gr.Row(equal_height=True):
        span_from = gr.Number(None, label="Teach from (s)", minimum=0, elem_id="span-from", scale=1)
        span_to = gr.Number(None, label="to (s)", minimum=0, elem_id="span-to", scale=1)
        span_name = gr.Textbox(label="Concept name", elem_id="span-name", scale=2,
                               placeholder="what this span of the recording shows", max_length=MAX_NAME_CHARS)
        span_go = gr.Button("Teach this span", elem_id="span-teach", scale=1)
    span_status = gr.Markdown("", elem_id="span-status")
    return RecordingTab(back, pick, go, header, plot, player, video, note, span_from, span_to, span_name, span_go,
                        span_status)


def _browse_tab(picks: dict) -> BrowseTab:
    filters = _filter_widgets(picks, "browse")
    with gr.Row():
        contains = gr.Textbox(label="Id or label contains", elem_id="browse-contains", scale=3)
        go = gr.Button("Apply filters", elem_id="browse-button", scale=1)
    status = gr.Markdown("Select a row to open that recording.", elem_id="browse-status")
    table = gr.Dataframe(interactive=False, elem_id="browse-table", max_height=600)
    return BrowseTab(filters, contains, go, status, table)


# ---------------------------------------------------------------------------- searching
class SearchHandlers:
    """The Search tab's event handlers; each answers with the components it updates."""

    def __init__(self, ctx: Context, tab: SearchTab, picks: dict, hide: list[str]):
        self.ctx, self.tab, self.picks, self.hide = ctx, tab, picks, hide
        kinds = ctx.features.query_kinds
        self.first_kind = kinds[0] if kinds else None

    def wire(self, app: gr.Blocks) -> None:
        """Attach the handlers to the page being built (call inside its `with`)."""
        t = self.tab
        # .input, not .change: a kind set from the address bar must not reset the target it came with.
        t.kind.input(self.on_kind, t.kind, t.kind_outputs, api_visibility="private", queue=False)
        gr.on([t.go.click, t.prompt.submit, t.more.click, t.clear.click, t.grid_view.select], self.on_search,
              [*t.query_inputs, t.found, t.shown], t.outputs, api_visibility="private", trigger_mode="always_last",
              concurrency_id="search").then(None, t.url_inputs, None, js=WRITE_URL_JS, api_visibility="private")
        app.load(self.from_url, None, [t.kind, t.prompt, t.example_box, t.upload, t.clip_row, t.placement, t.concept_box,
                                       t.target, t.k, t.one, *t.filters], api_visibility="private", queue=False).then(
            self.search_from_url, [*t.query_inputs, t.found, t.shown], t.outputs, api_visibility="private",
            concurrency_id="search")

    def on_kind(self, value) -> dict:
        t, files = self.tab, value not in (None, "text")
        return {t.prompt: gr.Textbox(visible=value == "text"),
                t.example_box: gr.Column(visible=value == "text" and bool(t.examples)),
                t.upload: gr.File(visible=files, label=_upload_label(value)), t.clip_row: gr.Column(visible=files),
                t.placement: gr.Dropdown(visible=value == "imu"),
                t.target: gr.Dropdown(**_target_widget(value, self.ctx.features)),
                t.concept_box: gr.Column(visible=value == "text")}

    def page(self, result: views.Found, n: int) -> dict:
        """The first `n` result cards, and More while there are others."""
        cards = views.cards(self.ctx, result, n)
        return {self.tab.grid_view: grid.grid_html(cards, result.hits.height),
                self.tab.more: gr.Button(visible=n < result.hits.height)}

    def answer(self, q: views.Query) -> dict:
        t = self.tab
        try:
            result = views.search(self.ctx, q)
            n = min(views.PAGE_SIZE, result.hits.height)
            used = views.concept_line(self.ctx, result.hits)
            return {t.status: views.summary(result) + (f"\n\n{used}" if used else ""),
                    t.query_view: views.query_panel(self.ctx, result.query), **self.page(result, n),
                    t.table: views.results_table(result.hits), t.found: result, t.shown: n}
        except Exception as exc:  # noqa: BLE001  # the page shows one line; old results go
            return self.failed(exc, q.upload)

    def cleared(self, status: str) -> dict:
        """No results, `status` said above where they were."""
        t = self.tab
        return {t.status: status, t.query_view: "", t.grid_view: "", t.more: gr.Button(visible=False),
                t.table: views.results_table(views.empty_hits()), t.found: None, t.shown: 0}

    def failed(self, exc: Exception, upload=None) -> dict:
        return self.cleared(message(exc, upload, self.hide))

    @staticmethod
    def query_from(kind, prompt, upload, rate, start, end, placement, target, k, one, *filters) -> views.Query:
        """The search the widgets describe (ValueError: a filter's own reason)."""
        return views.Query(kind=kind, target=target, k=k, prompt=prompt or "", upload=upload, rate=rate,
                           start=start, end=end, placement=placement, one_per_recording=bool(one),
                           filters=Filters.from_inputs(*filters))

    def on_search(self, kind, prompt, upload, rate, start, end, placement, target, k, one, datasets, subjects, labels,
                  min_duration, max_duration, result, n, evt: gr.EventData):
        """Every way a search starts or its results change, as one event listener: Gradio runs
        one listener's events of a page in order (trigger_mode="always_last"), so a newer
        search's results can never be overwritten by an older one's."""
        values = [kind, prompt, upload, rate, start, end, placement, target, k, one, datasets, subjects, labels,
                  min_duration, max_duration]
        t = self.tab
        # The trigger, by elem_id: the event carries a copy of the block, not the one built here.
        source = getattr(evt.target, "elem_id", None)
        if source == t.clear.elem_id:
            return {**self.cleared("Choose how to search, then press **Search**."), t.prompt: "", t.upload: None}
        if source == t.more.elem_id:
            if result is None:
                return gr.skip()
            n = min(n + views.PAGE_SIZE, result.hits.height)
            return {**self.page(result, n), t.shown: n}
        extra = {}
        if source == t.grid_view.elem_id:
            data = getattr(evt, "_data", None) or {}
            if data.get("value") != "similar" or result is None or not 0 <= int(data["index"]) < result.hits.height:
                return gr.skip()
            extra = {"kind": "window", "window_id": int(result.hits["window_id"][int(data["index"])])}
        try:
            q = self.query_from(*values)
        except ValueError as exc:
            return self.failed(exc)
        for key, value in extra.items():
            setattr(q, key, value)
        return self.answer(q)

    def from_url(self, request: gr.Request) -> dict:
        """The widgets set to the search a shared link describes."""
        t, feats = self.tab, self.ctx.features
        state = _url_state(request, feats, self.picks, self.ctx.max_prompt_chars)
        kind_value = state["kind"] or self.first_kind
        filters = [state[key] for key in ("dataset", "subject", "label", "min_duration", "max_duration")]
        return {**self.on_kind(kind_value), t.kind: kind_value,
                t.prompt: gr.Textbox(value=state["query"], visible=kind_value == "text"),
                t.target: gr.Dropdown(**_target_widget(kind_value, feats, state["target"])),
                t.k: state["k"] or views.PAGE_SIZE, t.one: state["one"], **dict(zip(t.filters, filters))}

    def search_from_url(self, *args):
        *values, _result, _n = args
        if values[0] != "text" or not (values[1] or "").strip():
            return gr.skip()
        try:
            return self.answer(self.query_from(*values))
        except ValueError as exc:
            return self.failed(exc)


# ---------------------------------------------------------------------------- one recording, browsing
def _wire_recording(ctx: Context, tabs: gr.Tabs, search: SearchTab, rec: RecordingTab, browse: BrowseTab,
                    app: gr.Blocks, hide: list[str]) -> None:
    """Opening a recording (from a result card, its id, or a Browse row) and the Browse table."""
    outputs = [tabs, *rec.outputs]

    def open_recording(recording_id, highlight=None) -> dict:
        on_tab = {tabs: gr.Tabs(selected="recording"), rec.pick: recording_id}
        try:
            view = views.recording_view(ctx, recording_id, highlight)
        except Exception as exc:  # noqa: BLE001  # shown in the page, never a traceback
            return {**on_tab, rec.header: message(exc, hide=hide), rec.plot: gr.Plot(None, visible=False),
                    rec.player: gr.HTML(visible=False), rec.video: gr.Video(None, visible=False), rec.note: "",
                    rec.span_from: None, rec.span_to: None}
        span = views.offered_span(highlight)  # the matched window is the span offered for teaching
        return {**on_tab, rec.header: view.header, rec.plot: gr.Plot(value=view.figure, visible=view.figure is not None),
                rec.player: gr.HTML(value=view.player, visible=view.figure is not None),
                rec.video: gr.Video(value=str(view.video) if view.video else None, visible=view.video is not None),
                rec.note: view.note and f"*{view.note}*", rec.span_from: span[0], rec.span_to: span[1]}

    def open_hit(result, evt: gr.SelectData):
        if evt.value != "open" or result is None or not 0 <= int(evt.index) < result.hits.height:
            return gr.skip()
        row = result.hits.row(int(evt.index), named=True)
        return open_recording(row["recording_id"], (row["t_start"], row["t_end"]))

    def do_browse(datasets, subjects, labels, min_duration, max_duration, contains) -> dict:
        try:
            df = views.browse(ctx, Filters.from_inputs(datasets, subjects, labels, min_duration, max_duration),
                              contains)
        except Exception as exc:  # noqa: BLE001  # the page must show a sentence, whatever went wrong
            return {browse.status: message(exc, hide=hide)}
        return {browse.table: df,
                browse.status: f"{df.height} recordings (natural id order). Select a row to open that recording."}

    def on_browse_select(evt: gr.SelectData):
        row = evt.row_value or []
        return open_recording(row[0]) if row else gr.skip()

    search.grid_view.select(open_hit, search.found, outputs, api_visibility="private").then(
        None, None, None, js=LINK_VIDEO_JS, api_visibility="private")
    rec.go.click(open_recording, rec.pick, outputs, api_visibility="private").then(
        None, None, None, js=LINK_VIDEO_JS, api_visibility="private")
    rec.back.click(lambda: gr.Tabs(selected="search"), None, tabs, api_visibility="private", queue=False)
    gr.on([browse.go.click, browse.contains.submit, app.load], do_browse, [*browse.filters, browse.contains],
          [browse.table, browse.status], api_visibility="private")
    browse.table.select(on_browse_select, None, outputs, api_visibility="private").then(
        None, None, None, js=LINK_VIDEO_JS, api_visibility="private")


# ---------------------------------------------------------------------------- teach by example
def _wire_teach(ctx: Context, search: SearchTab, rec: RecordingTab, app: gr.Blocks, hide: list[str]) -> None:
    """Teaching a concept from the selected result cards or a recording's span, forgetting it,
    and the list of concepts to click."""
    concept_list, status = search.concept_list, search.teach_status

    def concept_samples():
        names = views.concept_names(ctx)
        return gr.Dataset(samples=[[n] for n in names], visible=bool(names))

    def list_concepts() -> dict:
        try:
            return {concept_list: concept_samples()}
        except Exception as exc:  # noqa: BLE001  # a damaged concepts file: one line, the page works on
            return {concept_list: gr.Dataset(samples=[], visible=False), status: message(exc, hide=hide)}

    def do_teach(name, picked_json) -> dict:
        try:
            text = views.teach(ctx, name, views.picked_windows(picked_json))
        except Exception as exc:  # noqa: BLE001  # refused in one line; the selection is kept
            return {status: message(exc, hide=hide), search.picked: picked_json or "[]"}
        return {status: text, concept_list: concept_samples(), search.picked: ""}

    def do_not_this(name, picked_json) -> dict:
        try:
            text = views.mark_not(ctx, name, views.picked_windows(picked_json))
        except Exception as exc:  # noqa: BLE001  # refused in one line; the selection is kept
            return {status: message(exc, hide=hide), search.picked: picked_json or "[]"}
        return {status: text, search.picked: ""}

    def do_forget(name) -> dict:
        try:
            return {status: views.forget(ctx, name), concept_list: concept_samples()}
        except Exception as exc:  # noqa: BLE001
            return {status: message(exc, hide=hide)}

    def do_teach_span(name, recording_id, t0, t1) -> dict:
        try:
            text = views.teach(ctx, name, views.span_windows(ctx, recording_id, t0, t1))
            return {rec.span_status: text, concept_list: concept_samples()}
        except Exception as exc:  # noqa: BLE001
            return {rec.span_status: message(exc, hide=hide)}

    app.load(list_concepts, None, [concept_list, status], api_visibility="private")
    search.concept_name.change(None, search.concept_name, search.teach_go, js=grid.TEACH_LABEL_JS,
                               api_visibility="private")
    gr.on([search.teach_go.click, search.concept_name.submit], do_teach, [search.concept_name, search.picked],
          [status, concept_list, search.picked], js=grid.PICKED_JS, api_visibility="private").then(
        None, search.picked, None, js=grid.CLEAR_PICKED_JS, api_visibility="private")
    search.not_go.click(do_not_this, [search.concept_name, search.picked], [status, search.picked], js=grid.PICKED_JS,
                        api_visibility="private").then(None, search.picked, None, js=grid.CLEAR_PICKED_JS,
                                                       api_visibility="private")
    search.forget_go.click(do_forget, search.concept_name, [status, concept_list], api_visibility="private")
    rec.span_go.click(do_teach_span, [rec.span_name, rec.pick, rec.span_from, rec.span_to],
                      [rec.span_status, concept_list], api_visibility="private")
    concept_list.click(lambda sample: sample[0] if sample else gr.skip(), concept_list, search.prompt,
                       api_visibility="private", queue=False)


def _sync_tab(ctx: Context) -> None:
    """The Sync tab, or why the query API cannot sync."""
    if not ctx.features.sync:
        gr.Markdown(ctx.features.unavailable.get("sync", "Temporal sync is not available."), elem_id="sync-unavailable")
        return
    sync_tab.build(ctx)


def _label_tab(ctx: Context) -> None:
    """The Label tab, or why the index's encoders cannot score names."""
    if "text" not in ctx.features.query_kinds:
        gr.Markdown(ctx.features.unavailable.get("text", "Labelling by name needs a text-aligned encoder."),
                    elem_id="label-unavailable")
        return
    label_tab.build(ctx)


def serve(index_dir: str | Path, host: str = "127.0.0.1", port: int | None = None, share: bool = False,
          max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, concurrency: int = DEFAULT_CONCURRENCY,
          block: bool = True, workdir: str | Path | None = None, max_body_mb: float = DEFAULT_MAX_BODY_MB,
          max_prompt_chars: int = views.MAX_PROMPT_CHARS, token: str | None = None):
    """Open the index, build the page and launch it. With block=False returns (app, url) and
    leaves the server running in a thread (tests, notebooks); call app.close() to stop it.

    Every request passes query.http_guard.Guard first: bodies over `max_body_mb` (uploads: over
    `max_upload_mb`) get 413 before they are read, and with a `token` every route needs it (the
    page: open it once as `/?token=...`)."""
    own_dir = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="motionsearch-ui-")).resolve()
    if own_dir:  # uploads and renders are per run: gone when the process ends
        atexit.register(shutil.rmtree, workdir, True)
    # Gradio keeps uploads and the files it serves in GRADIO_TEMP_DIR. Pointing it at our own
    # folder, and passing no allowed_paths, means the server hands out nothing but this app's
    # uploads and renders.
    os.environ["GRADIO_TEMP_DIR"] = str(workdir)
    index = open_index(index_dir)
    app = build_app(index, workdir, max_upload_mb, max_prompt_chars)
    # Gradio recomputes its queue statistics (a pandas table of up to 10,000 past events) after
    # every event, inside that event's concurrency slot: under load it cost more than the search.
    # Its own settings: recompute every 1,000 events, over the last 1,000.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
    app.queue(default_concurrency_limit=concurrency, max_size=64)
    # Gradio's upload route takes the files (it checks each against max_file_size itself, and the
    # multipart envelope adds a little); every other route, the queue's JSON included, takes
    # max_body_mb, so a 5 MB prompt is refused before it is read.
    limits = HttpLimits(max_body=int(max_body_mb * MB), max_upload=int(max_upload_mb * MB) + UPLOAD_ENVELOPE,
                        upload_paths=UPLOAD_PATHS, max_prompt_chars=max_prompt_chars, token=check_token(token),
                        open_paths=OPEN_PATHS)
    warning = warn_if_open("a public gradio.live link" if share else host, token)
    if warning:
        print(warning, file=sys.stderr)
    middleware = optional("starlette.middleware", "ui", "the web page").Middleware
    _, url, _ = app.launch(server_name=host, server_port=port, share=share, prevent_thread_lock=not block,
                           max_file_size=int(max_upload_mb * 1e6), show_error=False, quiet=not block,
                           footer_links=["api"], css=CSS, head=HEAD, theme=gr.themes.Soft(),
                           app_kwargs={"middleware": [middleware(Guard, limits=limits)]})
    # The page answers text searches already; the clip encoders (torch, seconds) and the
    # recording view's plotting load behind it, so that the first file search or opened
    # recording does not wait for them.
    threading.Thread(target=_warm, args=(index,), name="warm-up", daemon=True).start()
    return app, url


def _warm(index: Index) -> None:
    for encoder_id in index.encoder_ids():
        try:
            index.encoder(encoder_id)
        except Exception as exc:  # noqa: BLE001  # a search that needs it says why, in one line
            log.warning("encoder %s cannot be loaded: %s", encoder_id, exc)
    try:  # plotly builds its validators on the first figure (0.4 s of the first opened recording)
        first = index.recordings(columns=["id"]).head(1)["id"].to_list()
        if first:
            scene.recording_figure(index.load_recording(first[0]))
    except Exception as exc:  # noqa: BLE001  # only a warm-up: opening that recording will say what is wrong
        log.info("recording view warm-up skipped: %s", exc)
