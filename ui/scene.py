"""The recording view as one interactive plotly figure: a rotatable 3-D skeleton (or the 2-D image
plane for pose from video) beside zoomable IMU channels, with one playhead.

The playhead is the figure's own slider: each step restyles the skeleton and moves the line
on every IMU panel, in the browser, with no request to the server. (Gradio draws plotly
figures with `Plotly.react`, which drops animation frames; slider steps that `restyle` work.)
"""
from __future__ import annotations

import numpy as np

from query import ImuStream, PoseStream, Recording, optional
from ui import render
from ui.grid import body_frame

MAX_STEPS = 120  # playhead positions; a long take is stepped more coarsely
IMU_POINTS = 4000  # per channel; longer recordings are decimated for the browser


def _bones(frame: np.ndarray) -> tuple[list, list, list]:
    """One line trace for the skeleton: bone ends separated by None (plotly breaks the line)."""
    xs, ys, zs = [], [], []
    for a, b in render.BONE_INDEX:
        xs += [float(frame[a, 0]), float(frame[b, 0]), None]
        ys += [float(frame[a, 1]), float(frame[b, 1]), None]
        zs += [float(frame[a, 2]), float(frame[b, 2]), None] if frame.shape[1] == 3 else []
    return xs, ys, zs


def _panels(streams: list[ImuStream]) -> list[tuple[ImuStream, str, list[int]]]:
    return [(s, name, cols) for s in streams for name, cols in render.channel_groups(s)]


def recording_figure(rec: Recording, highlight: tuple[float, float] | None = None):
    """The figure for one recording; `highlight` shades a matched window on the IMU panels."""
    go = optional("plotly.graph_objects", "ui", "the recording view")
    subplots = optional("plotly.subplots", "ui", "the recording view")
    pose: PoseStream | None = rec.pose
    panels = _panels(rec.imu) if rec.imu else []
    if pose is None and not panels:
        raise ValueError("this recording has neither pose nor IMU to draw")
    duration = rec.duration
    times = np.linspace(0.0, duration, min(MAX_STEPS, max(2, int(duration * 10) + 1)))
    rows = max(1, len(panels))
    specs, titles = [], []
    for r in range(rows):
        row = []
        if pose is not None:
            kind = "scene" if pose.canonical().shape[2] == 3 else "xy"
            row.append({"type": kind, "rowspan": rows} if r == 0 else None)
        if panels:
            row.append({"type": "xy"})
        specs.append(row)
    if pose is not None:
        titles.append("skeleton (drag to rotate)" if specs[0][0]["type"] == "scene" else "pose (image plane)")
    titles += [f"{s.placement}: {name}" for s, name, _ in panels]
    cols = len(specs[0])
    fig = subplots.make_subplots(rows=rows, cols=cols, specs=specs, subplot_titles=titles,
                                 column_widths=[0.42, 0.58] if cols == 2 else None, shared_xaxes=True,
                                 horizontal_spacing=0.04, vertical_spacing=0.06)
    moving = []  # trace indices the playhead restyles, and their data per step
    steps_data: list[list[dict]] = [[] for _ in times]
    if pose is not None:
        joints = pose.canonical()
        planar = joints.shape[2] == 2
        joints = joints * np.array([1.0, -1.0]) if planar else body_frame(joints)
        idx = np.clip(np.round(times * pose.rate).astype(int), 0, len(joints) - 1)
        xs, ys, zs = _bones(joints[idx[0]])
        line = {"color": "#333", "width": 5}
        if planar:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", line=line, name="pose", showlegend=False),
                          row=1, col=1)
            fig.update_yaxes(scaleanchor="x", row=1, col=1)
        else:
            # Left bones blue, right red, as in the grid's pictures (one value per vertex).
            sides = [0.0 if "left" in b else 1.0 if "right" in b else 0.5 for _, b in render.BONES for _ in range(3)]
            scale = [[0.0, render.SIDE_COLOURS["left"]], [0.5, render.SIDE_COLOURS["centre"]],
                     [1.0, render.SIDE_COLOURS["right"]]]
            line = {"color": sides, "colorscale": scale, "cmin": 0.0, "cmax": 1.0, "width": 6}
            fig.add_trace(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines+markers", line=line, marker={"size": 3},
                                       name="skeleton", showlegend=False), row=1, col=1)
            # A cube around all the poses, seen from the front (the person faces +z, see body_frame).
            lo, hi = joints.reshape(-1, 3).min(axis=0), joints.reshape(-1, 3).max(axis=0)
            mid, half = (lo + hi) / 2, float(max(hi - lo)) / 2 + 0.1
            fig.update_scenes(aspectmode="cube", camera={"up": {"x": 0, "y": 1, "z": 0}, "eye": {"x": 0.5, "y": 0.3, "z": 1.7}},
                              **{f"{a}axis": {"showticklabels": False, "title": a, "range": [mid[i] - half, mid[i] + half]}
                                 for i, a in enumerate("xyz")})
        moving.append(len(fig.data) - 1)
        for n, i in enumerate(idx):
            xs, ys, zs = _bones(joints[i])
            steps_data[n].append({"x": xs, "y": ys, **({} if planar else {"z": zs})})
    col = cols
    for r, (stream, _, chans) in enumerate(panels, start=1):
        step = max(1, len(stream.data) // IMU_POINTS)
        t = np.arange(0, len(stream.data), step) / stream.rate
        for c in chans:
            fig.add_trace(go.Scattergl(x=t, y=stream.data[::step, c], mode="lines", name=stream.channels[c],
                                       line={"width": 1}, legendgroup=f"p{r}", showlegend=True), row=r, col=col)
        lo, hi = float(np.nanmin(stream.data[:, chans])), float(np.nanmax(stream.data[:, chans]))
        if highlight is not None:  # a filled trace: add_vrect fails on a figure with a 3-D scene
            a, b = highlight
            fig.add_trace(go.Scatter(x=[a, b, b, a, a], y=[lo, lo, hi, hi, lo], fill="toself", mode="none",
                                     fillcolor=render.HIGHLIGHT, opacity=0.3, name="matched window",
                                     showlegend=r == 1, hoverinfo="skip"), row=r, col=col)
        fig.add_trace(go.Scatter(x=[0, 0], y=[lo, hi], mode="lines", line={"color": "#d62728", "width": 2},
                                 name="playhead", showlegend=False, hoverinfo="skip"), row=r, col=col)
        moving.append(len(fig.data) - 1)
        for n, tt in enumerate(times):
            steps_data[n].append({"x": [float(tt), float(tt)], "y": [lo, hi]})
    fig.update_xaxes(title_text="time (s)", row=rows, col=col)
    slider_steps = []
    for n, tt in enumerate(times):
        data = steps_data[n]
        keys = sorted({k for d in data for k in d})
        restyle = {k: [d.get(k) for d in data] for k in keys}
        slider_steps.append({"method": "restyle", "label": f"{tt:.1f}", "value": f"{tt:.2f}",
                             "args": [restyle, moving]})
    fig.update_layout(
        height=max(420, 170 * rows + 120), margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.06, "yanchor": "bottom", "font": {"size": 11}},
        sliders=[{"active": 0, "steps": slider_steps, "currentvalue": {"prefix": "playhead t = ", "suffix": " s"},
                  "pad": {"t": 50}, "name": "playhead"}])
    return fig
