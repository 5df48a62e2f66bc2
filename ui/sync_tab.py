"""The Sync tab: how far an IMU file and a video or pose file are out of step.

The offset comes from the query API (`Index.sync`: dense windows, mutual top-k matches,
offset voting). An index without a token encoder is synced with its clip-level encoder
through the same `query.sync` (clips shorter than its window by the physical baseline,
`query.xcorr_sync`), and the page says so. The overlay shows the two streams'
activity signals (`query.imu_activity` / `pose_activity`) before and after the shift, so a
person can see whether the estimate lines the motion up.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from query import (
    ACTIVITY_RATE,
    DEFAULT_PLACEMENT,
    PoseStream,
    as_motion,
    imu_activity,
    optional,
    pose_activity,
    read_imu,
    read_pose,
)
from query.serve import sync_json, sync_pair
from ui import render
from ui.errors import UserError, safely, shorten
from ui.views import PLACEMENTS, UPLOAD_TYPES, Context, check_upload

gr = optional("gradio", "ui", "the web page")

DEFAULT_MAX_OFFSET = 10.0


@dataclass
class SyncView:
    summary: str  # Markdown
    votes: object  # Figure
    overlay: object | None  # Figure, None when the activity signals cannot be computed
    offset: float
    answer: dict  # query.serve.sync_json: what the API returns


def _other_stream(path: Path, rate):
    if path.suffix.lower() in UPLOAD_TYPES["video"]:
        return as_motion(path)  # 2-D pose from the video (mediapipe)
    return read_pose(path, rate)


def run_sync(ctx: Context, imu_path: str | None, imu_rate, placement: str | None, other_path: str | None,
             other_rate, max_offset) -> SyncView:
    imu_file = check_upload(imu_path, "imu", ctx.max_upload_bytes)
    if not other_path:
        raise UserError("upload a video or pose file to sync the IMU with")
    kind = "video" if Path(other_path).suffix.lower() in UPLOAD_TYPES["video"] else "pose"
    other_file = check_upload(other_path, kind, ctx.max_upload_bytes)
    max_offset = float(max_offset or DEFAULT_MAX_OFFSET)
    if max_offset <= 0:
        raise UserError("the largest offset to consider must be positive")
    imu = read_imu(imu_file, None if imu_rate in (None, "", 0) else float(imu_rate),
                          placement=placement or DEFAULT_PLACEMENT)
    other = _other_stream(other_file, None if other_rate in (None, "", 0) else float(other_rate))
    # No token encoder: the clip-level encoder, or for clips shorter than its window the physical
    # baseline, answers; the result's notes say which.
    result = sync_pair(ctx.index, imu, other, max_offset)
    lag = "lags" if result.offset >= 0 else "leads"
    summary = (f"**Offset {result.offset:+.2f} s**: the {kind} {lag} the IMU by {abs(result.offset):.2f} s "
               f"(confidence {result.confidence:.2f}, {'reliable' if result.reliable else 'not reliable'}; "
               f"{result.matches} {result.evidence}; `{result.method}`). Clips: IMU {imu.duration:.1f} s, "
               f"{kind} {other.duration:.1f} s.")
    notes = [shorten(n, [ctx.index.uri]) for n in result.notes]
    if not result.reliable:
        notes.append("low confidence: the streams may not show the same motion, or may not overlap; "
                     "longer clips of the same activity (a few seconds of clear motion each) sync better")
    overlay = None
    try:
        a = imu_activity(imu)
        b = pose_activity(other, imu.placement) if isinstance(other, PoseStream) else imu_activity(other)
        overlay = render.overlay_figure(a, b, ACTIVITY_RATE, result.offset,
                                        (f"IMU ({imu.placement}) acceleration", f"{kind} joint acceleration"))
    except (ValueError, LookupError) as exc:
        notes.append(f"overlay not shown: {exc}")
    summary += "".join(f"\n\n*{n}*" for n in notes)
    return SyncView(summary, render.vote_figure(result.candidate_offsets, result.votes, result.offset),
                    overlay, float(result.offset), sync_json(result))


def build(ctx: Context) -> None:
    """The tab's widgets and wiring (called inside the tab's `with` block)."""
    gr.Markdown("Upload an IMU clip and a video or pose file of the same activity; the page estimates how "
                "late the second one is. Positive offset: the second stream lags the IMU.")
    with gr.Row():
        with gr.Column():
            imu_file = gr.File(label=f"IMU file ({' '.join(UPLOAD_TYPES['imu'])})", type="filepath",
                               elem_id="sync-imu")
            with gr.Row():
                imu_rate = gr.Number(None, label="IMU rate (Hz)", minimum=0, info="needed for .csv / .parquet / .npy")
                placement = gr.Dropdown(PLACEMENTS, value=DEFAULT_PLACEMENT, label="Sensor placement",
                                        allow_custom_value=True)
        with gr.Column():
            other_file = gr.File(label=f"Video or pose file ({' '.join(UPLOAD_TYPES['video'] + UPLOAD_TYPES['pose'])})",
                                 type="filepath", elem_id="sync-other")
            other_rate = gr.Number(None, label="Pose rate (Hz)", minimum=0, info="needed for .npy poses")
    max_offset = gr.Slider(1, 60, value=DEFAULT_MAX_OFFSET, step=1, label="Largest offset to consider (s)")
    go = gr.Button("Estimate offset", variant="primary", elem_id="sync-button")
    status = gr.Markdown(elem_id="sync-status")
    votes = gr.Plot(label="Vote curve")
    overlay = gr.Plot(label="Both signals, before and after alignment")

    @safely(3, on_error=[None, None], hide=[ctx.index.uri])
    def do_sync(imu_path, imu_rate, placement, other_path, other_rate, max_offset):
        view = run_sync(ctx, imu_path, imu_rate, placement, other_path, other_rate, max_offset)
        return view.summary, view.votes, view.overlay

    go.click(do_sync, [imu_file, imu_rate, placement, other_file, other_rate, max_offset],
             [status, votes, overlay], api_visibility="private")
