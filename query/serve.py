"""A JSON HTTP API over one opened index, for scripts and other tools (`python -m query serve`).

The index, its encoders and its FAISS files are loaded once and stay warm, so a request costs a
search, not a cold start. Every answer is JSON; a bad request (unknown column in `where`, empty
prompt, wrong vector length, ...) is HTTP 400 with {"error": "<one line>"}.

    GET  /health                      the index, its encoders and searchable modalities
    GET  /recordings?where=...        recording metadata rows
    POST /search/text    {"prompt": "waving", "target": "imu", "k": 10, "where": "subject = 2"}
    POST /search/vector  {"vector": [...], "target": "pose", "k": 10, "where": ..., "nprobe": 8}
                                      (nprobe / efSearch override an approximate index's tuning)
    POST /search/window  {"window_id": 42, "target": "pose", "k": 10}
    POST /search/imu     {"data": [[ax, ay, az, gx, gy, gz], ...], "rate": 50, "target": "pose",
                          "placement": "left_wrist", "channels": ["acc_x", ...], "acc_unit": "g"}
                                      (channels: any subset, default acc then gyr by column count)
    POST /search/sensors {"sensors": [{"data": ..., "rate": 50, "placement": "right_wrist"}, ...],
                          "target": "imu", "k": 10}  sensors worn together (see query.sensors)

FastAPI comes with the `ui` extra (Gradio depends on it); uvicorn serves it.
"""
# No `from __future__ import annotations`: FastAPI reads the request models of the routes below
# from their annotations, which must be real classes, not strings naming locals.
import numpy as np
import polars as pl

from indexer import BadInput
from indexer.imports import optional
from query.api import Index
from query.inputs import imu_from_array

EXPECTED = (BadInput, ValueError, LookupError, FileNotFoundError)


def _rows(df: pl.DataFrame) -> list[dict]:
    return df.to_dicts()


def create_app(index: Index):
    """A FastAPI app answering searches on `index` (see the module doc for the routes)."""
    fastapi = optional("fastapi", "ui", "the JSON HTTP API")
    pydantic = optional("pydantic", "ui", "the JSON HTTP API")
    BaseModel, Field = pydantic.BaseModel, pydantic.Field

    class Search(BaseModel):
        target: str = "imu"
        k: int = Field(10, ge=1, le=10_000)
        where: str | None = None

    class TextSearch(Search):
        prompt: str

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
        placement: str = "right_wrist"
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

    app = fastapi.FastAPI(title="motionsearch", description=__doc__)

    async def bad_request(request, exc):  # one line, like the CLI's `error: ...`
        return fastapi.responses.JSONResponse(status_code=400, content={"error": str(exc).splitlines()[0]})

    for kind in EXPECTED:
        app.add_exception_handler(kind, bad_request)

    @app.get("/health")
    def health() -> dict:
        return {"index": index.store.uri, "encoders": index.encoder_ids(), "modalities": index.indexed_modalities()}

    @app.get("/recordings")
    def recordings(where: str | None = None) -> list[dict]:
        return _rows(index.recordings(where))

    @app.post("/search/text")
    def search_text(req: TextSearch) -> list[dict]:
        return _rows(index.search_text(req.prompt, req.target, req.k, req.where))

    @app.post("/search/vector")
    def search_vector(req: VectorSearch) -> list[dict]:
        vector = np.asarray(req.vector, np.float32)
        encoder = index.encoder(req.encoder_id, modality=req.target)
        if vector.shape != (encoder.config["embed_dim"],):
            raise ValueError(f"vector has {vector.size} values; encoder {encoder.id} embeds into "
                             f"{encoder.config['embed_dim']} dimensions")
        return _rows(index.search_vector(vector, req.target, req.k, req.where, encoder.id, **req.params()))

    @app.post("/search/window")
    def search_window(req: WindowSearch) -> list[dict]:
        return _rows(index.search_window(req.window_id, req.target, req.k, req.where))

    @app.post("/search/imu")
    def search_imu(req: ImuSearch) -> list[dict]:
        data = np.asarray(req.data, np.float32)
        if data.ndim != 2 or (req.channels is None and data.shape[1] not in (3, 6)):
            raise ValueError(f"data must be samples x 3 or 6 channels (acc, then gyr), or name its columns in "
                             f"`channels`; got shape {data.shape}")
        return _rows(index.search_stream(req.stream(), req.target, req.k, req.where))

    @app.post("/search/sensors")
    def search_sensors(req: SensorsSearch) -> list[dict]:
        return _rows(index.search_sensors([s.stream() for s in req.sensors], req.target, req.k, req.where,
                                          candidates=req.candidates))

    return app


def serve(index_path: str, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Open the index once and answer HTTP requests until interrupted."""
    uvicorn = optional("uvicorn", "ui", "the JSON HTTP API")
    uvicorn.run(create_app(Index(index_path)), host=host, port=port, log_level="warning")
