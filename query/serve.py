"""A JSON HTTP API over one opened index, for scripts and other tools (`python -m query serve`).

The index, its encoders and its FAISS files are loaded once and stay warm, so a request costs a
search, not a cold start. Every answer is JSON; a refused request is a 4xx with
{"error": "<one line>"} and one line in the server log: 400 for a bad request (unknown column in
`where`, empty or too long prompt, wrong vector length, a missing field, `k` out of range, ...),
401 without the token when one is set, 404 for an unknown route, 413 for a body over the limit
(query.http_guard: 1 MB, more for the routes that carry samples). No answer names a server
path unless the operator asks (`show_paths`).

    GET  /health                      the index, its encoders and searchable modalities
    GET  /recordings?where=...        recording metadata rows
    POST /search/text    {"prompt": "waving", "target": "imu", "k": 10, "where": "subject = 2"}
                                      ("target": "imu+pose": one hit per moment, scored by both; left
                                      out: that where the index holds both, else imu)
                                      (a prompt whose words cannot tell a direction apart here, e.g.
                                      "swipe to the left" finding the windows of "... to the right",
                                      adds the header X-Wording: the JSON of query.wording's check)
    POST /search/vector  {"vector": [...], "target": "pose", "k": 10, "where": ..., "nprobe": 8}
                                      (nprobe / efSearch override an approximate index's tuning)
    POST /search/window  {"window_id": 42, "target": "pose", "k": 10}
    POST /teach          {"name": "my squat", "window_ids": [12, 40, 77], "not_window_ids": [5]}
                                      (query.concepts; a text search or classify label naming it then
                                      uses the examples; not_window_ids: counter-examples)
    GET  /concepts                    the concepts taught; DELETE /concepts/{name} forgets one
    POST /label          {"labels": ["my squat", "a person walks"], "modality": "imu" (or ["imu", "pose"]), "where": ...,
                          "refine": false, "spread": false, "balance": false}  every recording's best
                                      label among words and concepts (Index.label_recordings; each row with
                                      the recording's own labels, "given"); without "modality": sensor and
                                      skeleton together where the index holds both
    POST /search/imu     {"data": [[ax, ay, az, gx, gy, gz], ...], "rate": 50, "target": "pose",
                          "placement": "left_wrist", "channels": ["acc_x", ...], "acc_unit": "g"}
                                      (channels: any subset, default acc then gyr by column count)
    POST /search/sensors {"sensors": [{"data": ..., "rate": 50, "placement": "right_wrist"}, ...],
                          "target": "imu", "k": 10}  sensors worn together (see query.sensors)

The same answers as the web UI's named Gradio endpoints (`ui.api`), with the same JSON:

    POST /search         {"query": "a person walking", "target": "imu", "k": 10, "filter": ""}
                                      -> {"hits": [{"rank", "score", "match", "recording_id", "label", "t_start",
                                          "t_end", "body_part", "modality", "window_id", "dataset", "subject"}],
                                          "wording": null or {"prompt", "opposite", "shared", "of", "cosine"}}
                                      (wording: query.wording's check, when the words cannot tell a
                                      direction apart here)
    GET  /recording/{id} one recording: metadata, its streams, its windows
    POST /sync           {"imu": {"data": ..., "rate": 50, "placement": "right_wrist"},
                          "pose": {"data": [[[x, y, z], ...], ...], "rate": 30}, "max_offset": 10}
                                      -> {"offset", "confidence", "reliable", "matches", "method", "notes"}

FastAPI comes with the `ui` extra (Gradio depends on it); uvicorn serves it.
"""
# No `from __future__ import annotations`: FastAPI reads the request models of the routes below
# from their annotations, which must be real classes, not strings naming locals.
import contextlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl

from indexer import BadInput
from indexer.bodyparts import DEFAULT_PLACEMENT
from indexer.imports import optional
from query import dense_sync
from query.api import Index
from query.http_guard import (
    DEFAULT_MAX_UPLOAD_MB,
    MAX_FILTER_CHARS,
    MB,
    Guard,
    HttpLimits,
    one_line,
    refused,
    strip_paths,
    warn_if_open,
)
from query.inputs import imu_from_array, pose_from_array
from query.sync_result import SyncResult
from query.xcorr import xcorr_sync

EXPECTED = (BadInput, ValueError, LookupError, FileNotFoundError)
# The routes whose body carries samples (a query clip): they take HttpLimits.max_upload.
UPLOAD_PATHS = ("/search/imu", "/search/sensors", "/sync")


# POST /search/text's header carrying query.wording's check, when it fires
WORDING_HEADER = "X-Wording"
HIT_FIELDS = ["rank", "score", "match", "recording_id", "label", "t_start", "t_end", "body_part", "modality", "window_id",
              "dataset", "subject"]


def _rows(df: pl.DataFrame) -> list[dict]:
    return df.to_dicts()


def hits_json(hits: pl.DataFrame) -> dict:
    """{"hits": [{rank, score, match, recording_id, label, t_start, t_end, body_part, ...}, ...]};
    `match`: the hit's calibrated probability of being relevant (query.match_score), null where
    there is none."""
    # the columns by name, not `select`: that goes through polars' query engine and its thread
    # pool, which on a busy 2-core machine cost more than the search it answers
    fields = [c for c in HIT_FIELDS if c in hits.columns]
    return {"hits": [dict(zip(fields, row)) for row in zip(*(hits[c].to_list() for c in fields))]}


def check_prompt(prompt: str, max_chars: int) -> str:
    """`prompt` stripped, or ValueError when it is empty or longer than `max_chars` (a text tower
    reads its first 77 tokens; a longer prompt only costs the server time and memory)."""
    prompt = (prompt or "").strip()
    if not prompt:
        raise ValueError("the query text is empty: describe the motion to find")
    if len(prompt) > max_chars:
        raise ValueError(f"the prompt is {len(prompt):,} characters; the limit is {max_chars:,} "
                         "(the operator sets it with --max-prompt-chars)")
    return prompt


def check_filter(where: str | None) -> str | None:
    """`where`, or ValueError when it is longer than MAX_FILTER_CHARS."""
    if where and len(where) > MAX_FILTER_CHARS:
        raise ValueError(f"the filter is {len(where):,} characters; the limit is {MAX_FILTER_CHARS:,}")
    return where


def search_json(index: Index, query: str, target: str = "imu", k: int = 10, where: str | None = None,
                max_chars: int = HttpLimits.max_prompt_chars) -> dict:
    """A text search as JSON (the web UI's /search and this server's POST /search): the hits, and
    `wording`, query.wording's direction check (null when the words tell the directions apart or
    name none)."""
    prompt = check_prompt(query, max_chars)
    where = check_filter(where) or None
    out = hits_json(index.search_text(prompt, target, int(k), where))
    return {**out, "wording": index.check_wording(prompt, target, int(k), where)}


def recording_json(index: Index, recording_id: str) -> dict:
    """One recording: its metadata, the streams it holds (rates, channels, lengths) and its windows."""
    row = index.recording(recording_id)
    rec = index.load_recording(recording_id)
    windows = index.windows(columns=["id", "modality", "body_part", "t_start", "t_end"], recording=recording_id)
    pose = None if rec.pose is None else rec.pose.canonical()
    return {
        "id": rec.id, "dataset": rec.dataset, "subject": rec.subject, "trial": rec.trial, "label": rec.label_text(),
        "duration": rec.duration, "modalities": rec.modalities(),
        "sources": [Path(s).name for s in row.get("sources") or []],  # names only: no server paths
        "imu": [{"placement": s.placement, "rate": s.rate, "channels": list(s.channels), "samples": len(s.data)}
                for s in rec.imu],
        "pose": None if pose is None else {"rate": rec.pose.rate, "frames": int(pose.shape[0]), "dims": int(pose.shape[2])},
        "video": rec.video is not None,
        "windows": windows.rename({"id": "window_id"}).sort(["t_start", "window_id"]).to_dicts(),
    }


def sync_json(result: SyncResult) -> dict:
    """The parts of a SyncResult a caller acts on."""
    return {"offset": float(result.offset), "confidence": float(result.confidence), "reliable": bool(result.reliable),
            "matches": int(result.matches), "method": result.method, "notes": list(result.notes)}


def validation_message(errors: list[dict]) -> str:
    """FastAPI's list of validation errors as one line naming the first field and what is wrong."""
    if not errors:
        return "the request does not match the route's fields (see /docs)"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON ({first.get('ctx', {}).get('error', 'decode error')})"
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    if not where and first.get("type") == "missing":
        return "the request needs a JSON body (its fields are listed at /docs)"
    msg = str(first.get("msg", "invalid value"))
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{where or 'the body'}: {msg[:1].lower()}{msg[1:]}{more}"


def request_models() -> SimpleNamespace:
    """The routes' request bodies as pydantic models, by class name (built with the app: pydantic
    comes with the `ui` extra)."""
    pydantic = optional("pydantic", "ui", "the JSON HTTP API")
    BaseModel, Field = pydantic.BaseModel, pydantic.Field

    class Search(BaseModel):
        target: str = "imu"
        k: int = Field(10, ge=1, le=10_000)
        where: str | None = Field(None, max_length=MAX_FILTER_CHARS)

    class TextSearch(Search):
        target: str | None = None  # None: what `query text` finds unless told (imu+pose where held, else imu)
        prompt: str
        expand: bool = True  # False: the prompt alone, not joined by its first hits (docs/words.md, section 10)

    class VectorSearch(Search):
        vector: list[float]
        encoder_id: str | None = None
        nprobe: int | None = Field(None, ge=1)  # approximate indexes: override the tuned setting
        efSearch: int | None = Field(None, ge=1)

        def params(self) -> dict:
            return {n: v for n in ("nprobe", "efSearch") if (v := getattr(self, n)) is not None}

    class WindowSearch(Search):
        window_id: int

    class Sensor(BaseModel):
        data: list[list[float]]
        rate: float
        placement: str = DEFAULT_PLACEMENT
        channels: list[str] | None = None
        acc_unit: str = "m/s^2"
        gyr_unit: str = "rad/s"

        def stream(self):
            return imu_from_array(np.asarray(self.data, np.float64), self.rate, self.channels, self.placement,
                                  self.acc_unit, self.gyr_unit, source="request")

    class ImuSearch(Search, Sensor):
        pass

    class SensorsSearch(Search):
        sensors: list[Sensor] = Field(..., min_length=1)
        candidates: int | None = Field(None, ge=1, le=10_000)

    class UiSearch(BaseModel):
        query: str
        target: str | None = None  # as TextSearch
        k: int = Field(10, ge=1, le=10_000)
        filter: str = Field("", max_length=MAX_FILTER_CHARS)

    class Teach(BaseModel):
        name: str = Field(..., max_length=1000)
        window_ids: list[int] = Field([], max_length=1000)
        not_window_ids: list[int] = Field([], max_length=1000)  # counter-examples (alone: added to the concept's)

    class Label(BaseModel):
        labels: list[str] = Field(..., min_length=2, max_length=1000)
        # several ("imu+pose" or a list): each recording by all it holds; None: what the index holds,
        # a sensor and a skeleton together where it holds both, else imu (with spread: imu)
        modality: str | list[str] | None = None
        where: str | None = Field(None, max_length=MAX_FILTER_CHARS)
        refine: bool = False
        spread: bool = False
        balance: bool = False

    class Pose(BaseModel):
        data: list[list[list[float]]]  # frames x canonical joints x 3, metres
        rate: float

    class SyncRequest(BaseModel):
        imu: Sensor
        pose: Pose
        max_offset: float = Field(10.0, gt=0)

    return SimpleNamespace(**{m.__name__: m for m in (
        Search, TextSearch, VectorSearch, WindowSearch, Sensor, ImuSearch, SensorsSearch, UiSearch, Teach, Label,
        Pose, SyncRequest)})


def create_app(index: Index, limits: HttpLimits | None = None, show_paths: bool = False):
    """A FastAPI app answering searches on `index` (see the module doc for the routes), within
    `limits` (default: HttpLimits() with UPLOAD_PATHS at DEFAULT_MAX_UPLOAD_MB). `show_paths`:
    answer with the index's and the recordings' full server paths (off: names only)."""
    fastapi = optional("fastapi", "ui", "the JSON HTTP API")
    if limits is None:
        limits = HttpLimits(max_upload=int(DEFAULT_MAX_UPLOAD_MB * MB), upload_paths=UPLOAD_PATHS)
    models = request_models()
    app = fastapi.FastAPI(title="motionsearch", description=__doc__, lifespan=_few_threads)
    app.add_middleware(Guard, limits=limits)  # token and body size, before any route reads a byte
    install_error_handlers(app, show_paths)
    _add_index_routes(app, fastapi, index, show_paths)
    _add_search_routes(app, fastapi, models, index, limits)
    _add_concept_routes(app, models, index)
    _add_recording_routes(app, models, index)
    return app


def _add_index_routes(app, fastapi, index: Index, show_paths: bool) -> None:
    """GET /health and /recordings: what the index holds."""

    @app.get("/health")
    def health() -> dict:
        where = index.uri if show_paths else Path(index.uri.rstrip("/")).name
        return {"index": where, "encoders": index.encoder_ids(), "modalities": index.indexed_modalities()}

    @app.get("/recordings")
    def recordings(where: str | None = fastapi.Query(None, max_length=MAX_FILTER_CHARS)) -> list[dict]:
        rows = _rows(index.recordings(where))
        if not show_paths:  # the files each recording came from, by name: no server folders
            for row in rows:
                row["sources"] = [strip_paths(s) for s in row.get("sources") or []]
        return rows


def _add_search_routes(app, fastapi, models: SimpleNamespace, index: Index, limits: HttpLimits) -> None:
    """POST /search/text, /search/vector, /search/window, /search/imu, /search/sensors and /search."""

    @app.post("/search/text")
    def search_text(req: models.TextSearch, response: fastapi.Response) -> list[dict]:
        prompt = check_prompt(req.prompt, limits.max_prompt_chars)
        target = req.target or index.default_target("text")
        rows = _rows(index.search_text(prompt, target, req.k, req.where, expand=req.expand))
        # a header, as the body is a bare list of hits that clients already read as it is
        check = index.check_wording(prompt, target, req.k, req.where)
        if check is not None:
            response.headers[WORDING_HEADER] = json.dumps(check)
        return rows

    @app.post("/search/vector")
    def search_vector(req: models.VectorSearch) -> list[dict]:
        vector = np.asarray(req.vector, np.float32)
        encoder = index.encoder(req.encoder_id, modality=req.target)
        if vector.shape != (encoder.config.embed_dim,):
            raise ValueError(f"vector has {vector.size} values; encoder {encoder.id} embeds into "
                             f"{encoder.config.embed_dim} dimensions")
        return _rows(index.search_vector(vector, req.target, req.k, req.where, encoder.id, **req.params()))

    @app.post("/search/window")
    def search_window(req: models.WindowSearch) -> list[dict]:
        return _rows(index.search_window(req.window_id, req.target, req.k, req.where))

    @app.post("/search/imu")
    def search_imu(req: models.ImuSearch) -> list[dict]:
        data = np.asarray(req.data, np.float32)
        if data.ndim != 2 or (req.channels is None and data.shape[1] not in (3, 6)):
            raise ValueError(f"data must be samples x 3 or 6 channels (acc, then gyr), or name its columns in "
                             f"`channels`; got shape {data.shape}")
        return _rows(index.search_stream(req.stream(), req.target, req.k, req.where))

    @app.post("/search/sensors")
    def search_sensors(req: models.SensorsSearch) -> list[dict]:
        return _rows(index.search_sensors([s.stream() for s in req.sensors], req.target, req.k, req.where,
                                          candidates=req.candidates))

    @app.post("/search")
    def search(req: models.UiSearch) -> dict:
        return search_json(index, req.query, req.target or index.default_target("text"), req.k, req.filter,
                           limits.max_prompt_chars)


def _add_concept_routes(app, models: SimpleNamespace, index: Index) -> None:
    """POST /teach, GET /concepts, DELETE /concepts/{name}, POST /label."""

    @app.post("/teach")
    def teach(req: models.Teach) -> dict:  # examples from the index's windows (files stay with the CLI and Python)
        concept = index.teach(req.name, window_ids=req.window_ids, not_windows=req.not_window_ids)
        return {key: concept[key] for key in ("name", "windows", "not_windows", "labels", "examples")}

    @app.get("/concepts")
    def concepts() -> list[dict]:
        return _rows(index.concepts())

    @app.delete("/concepts/{name:path}")
    def forget(name: str) -> dict:
        return {"forgot": index.forget(name)["name"]}

    @app.post("/label")
    def label(req: models.Label) -> list[dict]:
        return _rows(index.label_recordings(req.labels, req.modality, check_filter(req.where) or None,
                                            refine=req.refine, spread=req.spread, balance=req.balance))


def _add_recording_routes(app, models: SimpleNamespace, index: Index) -> None:
    """GET /recording/{id} and POST /sync, as the web UI's named endpoints answer them."""

    @app.get("/recording/{recording_id:path}")
    def recording(recording_id: str) -> dict:
        return recording_json(index, recording_id)

    @app.post("/sync")
    def sync(req: models.SyncRequest) -> dict:
        pose = pose_from_array(np.asarray(req.pose.data, np.float64), req.pose.rate, source="request")
        return sync_json(sync_pair(index, req.imu.stream(), pose, req.max_offset))


WORKER_THREADS = 4  # routes running at once; the others wait their turn in the event loop


@contextlib.asynccontextmanager
async def _few_threads(app):
    """Run the routes in WORKER_THREADS threads, not AnyIO's default 40: a search holds the GIL
    for its whole sub-millisecond run, and 32 concurrent users in 32 threads took turns on the GIL
    (p95 several times p50); in a few threads the rest queue in order and the tail stays short."""
    optional("anyio.to_thread", "ui", "the JSON HTTP API").current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


def install_error_handlers(app, show_paths: bool = False) -> None:
    """Every refusal of `app` as a 4xx with {"error": "<one line>"} and one log line (FastAPI's
    own answers included: validation errors, unknown routes); anything unexpected as a 500 with
    one line, its traceback in the log. Server paths in messages are cut to their last part
    unless `show_paths`."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def answer(request, status: int, message: str):
        refused(request.method, request.url.path, status, message)
        return JSONResponse(status_code=status, content={"error": message})

    async def expected(request, exc):  # a bad request, in the words of the code that refused it
        text = one_line(str(exc) or type(exc).__name__)
        return answer(request, 400, text if show_paths else strip_paths(text))

    async def invalid(request, exc):  # FastAPI's 422 with a nested `detail`, as the one documented line
        return answer(request, 400, validation_message(exc.errors()))

    async def http_error(request, exc):
        if exc.status_code == 404 and exc.detail == "Not Found":
            text = f"no route {request.method} {request.url.path}; the routes are listed at /docs"
        elif exc.status_code == 405:
            text = f"{request.method} is not allowed on {request.url.path}; the routes are listed at /docs"
        else:
            text = one_line(str(exc.detail))
        response = answer(request, exc.status_code, text)
        response.headers.update(getattr(exc, "headers", None) or {})
        return response

    async def unexpected(request, exc):  # a bug, not a refusal: the details stay in the log
        return JSONResponse(status_code=500, content={
            "error": f"internal error ({type(exc).__name__}); the server log has the details"})

    for kind in EXPECTED:
        app.add_exception_handler(kind, expected)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def sync_pair(index: Index, imu, other, max_offset: float = 10.0) -> SyncResult:
    """Index.sync (the token encoder); an index without one syncs with its clip-level encoder
    through the same voting, or, for clips shorter than its window, by the physical baseline
    (query.xcorr_sync). The result's notes say which."""
    try:
        return index.sync(imu, other, max_offset=max_offset)
    except LookupError as exc:
        why = str(exc).replace(index.uri, Path(index.uri).name)
    encoder = index.encoder(modality="imu")
    if min(imu.duration, other.duration) < encoder.window.length:
        result = xcorr_sync(imu, other, max_offset=max_offset)
        result.notes.append(f"{why}; the clips are shorter than the {encoder.window.length:g} s window of the "
                            "clip-level encoder, so the physical baseline (acceleration cross-correlation) answered")
        return result
    result = dense_sync.sync(imu, other, encoder, max_offset=max_offset)
    result.notes.append(f"{why}; used the clip-level encoder instead (coarser)")
    return result


KEEP_ALIVE_S = 75  # seconds an idle connection stays open


def serve(index_path: str, host: str = "127.0.0.1", port: int = 8000, limits: HttpLimits | None = None,
          show_paths: bool = False) -> None:
    """Open the index once and answer HTTP requests until interrupted (a warning first when it
    listens beyond this machine without a token)."""
    uvicorn = optional("uvicorn", "ui", "the JSON HTTP API")
    warning = warn_if_open(host, limits.token if limits else None)
    if warning:
        print(warning, file=sys.stderr)
    # A client that pools connections may reuse one at the moment the server's keep-alive timer
    # closes it, and then reads a reset instead of an answer (1 request in 20,000 under the load
    # bench, with uvicorn's 5 s): keep idle connections longer than clients usually do.
    uvicorn.run(create_app(Index(index_path), limits, show_paths), host=host, port=port, log_level="warning",
                timeout_keep_alive=KEEP_ALIVE_S)
