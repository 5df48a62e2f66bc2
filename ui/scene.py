"""The recording view as one interactive plotly figure: a rotatable 3-D skeleton (or the 2-D image
plane for pose from video) beside zoomable IMU channels, with one playhead.

The playhead is the figure's own slider: each step restyles the skeleton and moves the line
on every IMU panel, in the browser, with no request to the server. (Gradio draws plotly
figures with `Plotly.react`, which drops animation frames; slider steps that `restyle` work.)

Play / pause / loop: the player bar (`player_html`, driven by `PLAYER_JS`) runs one clock at
real speed and draws it everywhere: the skeleton from the poses in the figure's
`layout.meta["player"]` (up to `PLAY_FPS` a second, finer than the slider's steps), the line on
every IMU panel, the slider's position and the video (kept within a quarter second of the
clock). Dragging the slider moves the clock.
"""
from __future__ import annotations

import numpy as np

from query import ImuStream, PoseStream, Recording, optional
from ui import render
from ui.grid import body_frame

MAX_STEPS = 120  # playhead positions; a long take is stepped more coarsely
IMU_POINTS = 4000  # per channel; longer recordings are decimated for the browser
PLAY_FPS = 15  # poses a second the player draws
PLAY_POSES = 1500  # at most, per recording (a long take is played with fewer poses a second)

PLAYER_CSS = """
.ms-player { display: flex; align-items: center; gap: 10px; flex-wrap: wrap; font-size: 0.9em; }
.ms-player button { padding: 3px 14px; border-radius: 6px; cursor: pointer; font-weight: 600;
                    border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); }
.ms-player .ms-clock { font-variant-numeric: tabular-nums; min-width: 9em; }
"""
# Runs once when the player bar is mounted; it finds the figure and the video when it needs
# them, since both are replaced each time a recording opens.
PLAYER_JS = """
const box = () => element.querySelector('.ms-player');
const plot = () => document.querySelector('#rec-plot .js-plotly-plot');
const video = () => document.querySelector('#rec-video video');
const meta = () => { const p = plot(); return p && p.layout && p.layout.meta ? p.layout.meta.player : null; };
let t = 0, playing = false, last = 0, drawn = 0, step = -1, frame = -1;
const span = (m) => {
  const b = box(), w = b && b.querySelector('[data-do=range]');
  return w && w.value === 'window' && m.window ? m.window : [0, m.duration];
};
const show = (force) => {
  const p = plot(), m = meta(), b = box();
  if (!p || !m || !b || !window.Plotly) return;
  const update = {x: [], y: [], z: []}, traces = [];
  if (m.pose) {
    const i = Math.max(0, Math.min(m.pose.n - 1, Math.round(t * m.pose.fps)));
    if (i !== frame || force) {
      frame = i;
      const f = m.pose.frames, J = m.pose.joints, D = m.pose.dims, base = i * J * D;
      const xs = [], ys = [], zs = [];
      for (const [a, c] of m.pose.bones) {
        xs.push(f[base + a * D], f[base + c * D], null);
        ys.push(f[base + a * D + 1], f[base + c * D + 1], null);
        if (D === 3) zs.push(f[base + a * D + 2], f[base + c * D + 2], null);
      }
      traces.push(m.pose.trace); update.x.push(xs); update.y.push(ys); update.z.push(D === 3 ? zs : null);
    }
  }
  for (const c of m.cursors) { traces.push(c.trace); update.x.push([t, t]); update.y.push(c.y); update.z.push(null); }
  if (!m.pose || m.pose.dims !== 3) delete update.z;
  if (traces.length) Plotly.restyle(p, update, traces);
  const n = Math.round(t / m.duration * (m.steps - 1));
  if (n !== step) { step = n; Plotly.relayout(p, {'sliders[0].active': n}); }
  p.dataset.playhead = t.toFixed(2);
  b.querySelector('.ms-clock').textContent = `${t.toFixed(1)} / ${m.duration.toFixed(1)} s`;
};
const follow = () => {  // the video keeps to the clock
  const v = video();
  if (!v) return;
  const inside = !isNaN(v.duration) ? t < v.duration : true;
  if (playing && inside) {
    if (Math.abs(v.currentTime - t) > 0.25) v.currentTime = t;
    if (v.paused) v.play().catch(() => {});
  } else {
    if (!v.paused) v.pause();
    if (!playing && Math.abs(v.currentTime - t) > 0.05) v.currentTime = t;
  }
};
const setState = (on) => {
  playing = on;
  const b = box();
  if (b) {
    b.dataset.state = on ? 'playing' : 'paused';
    const button = b.querySelector('[data-do=play]');
    button.textContent = on ? 'Pause' : 'Play';
    button.setAttribute('aria-pressed', String(on));
  }
  follow();
};
const tick = (now) => {
  if (!playing) return;
  const m = meta();
  if (!m) { setState(false); return; }
  t += (now - last) / 1000;
  last = now;
  const [a, z] = span(m);
  if (t >= z || t < a) {
    const b = box();
    if (b && b.querySelector('[data-do=loop]').checked) t = a + (t >= z ? Math.max(0, t - z) % Math.max(z - a, 1e-3) : 0);
    else { t = z; setState(false); }
  }
  if (now - drawn > 60 || !playing) { drawn = now; show(false); }  // about 15 draws a second
  follow();
  if (playing) requestAnimationFrame(tick);
};
const play = () => {
  const m = meta();
  if (!m) return;
  const [a, z] = span(m);
  if (t < a || t >= z - 1e-3) t = a;
  last = performance.now();
  setState(true);
  requestAnimationFrame(tick);
};
window.msPlayer = {
  seek: (value) => { t = Math.max(0, Number(value) || 0); last = performance.now(); show(true); follow(); },
};
element.addEventListener('click', (e) => {
  const b = e.target.closest('[data-do=play]');
  if (b) { if (playing) setState(false); else play(); }
});
element.addEventListener('change', (e) => {
  if (e.target.closest('[data-do=range]') && meta()) { t = span(meta())[0]; show(true); follow(); }
});
watch('value', () => { setState(false); t = 0; step = -1; frame = -1; });
"""


def _bones(frame: np.ndarray) -> tuple[list, list, list]:
    """One line trace for the skeleton: bone ends separated by None (plotly breaks the line)."""
    xs, ys, zs = [], [], []
    for a, b in render.BONE_INDEX:
        xs += [float(frame[a, 0]), float(frame[b, 0]), None]
        ys += [float(frame[a, 1]), float(frame[b, 1]), None]
        zs += [float(frame[a, 2]), float(frame[b, 2]), None] if frame.shape[1] == 3 else []
    return xs, ys, zs


def _play_poses(joints: np.ndarray, rate: float, duration: float, trace: int) -> dict:
    """The poses the player draws: (n, J, D) drawing coordinates at `fps`, flattened and rounded
    to the millimetre (or the pixel), with the bones to join and the trace to restyle."""
    fps = float(min(PLAY_FPS, rate, PLAY_POSES / max(duration, 1e-6)))
    times = np.arange(0.0, duration + 1e-9, 1.0 / fps)
    idx = np.clip(np.round(times * rate).astype(int), 0, len(joints) - 1)
    frames = np.round(joints[idx], 3)
    return {"fps": fps, "n": len(idx), "joints": int(joints.shape[1]), "dims": int(joints.shape[2]),
            "bones": render.BONE_INDEX.tolist(), "trace": trace, "frames": frames.reshape(-1).tolist()}


def player_html(duration: float | None = None, window: tuple[float, float] | None = None) -> str:
    """The player bar under the figure: play / pause, loop, what to play (the matched window when
    there is one, else or on request the whole recording) and the clock."""
    choice = ('<select data-do="range" aria-label="What to play"><option value="all">whole recording</option>'
              f'<option value="window" selected>matched window ({window[0]:.1f}–{window[1]:.1f} s)</option></select>'
              if window else "")
    return (f'<div class="ms-player" data-state="paused"><button data-do="play" aria-pressed="false">Play</button>'
            f'<label><input type="checkbox" data-do="loop" checked> Loop</label>{choice}'
            f'<span class="ms-clock">0.0 / {duration or 0:.1f} s</span></div>')


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
    fig, rows, cols = _subplots(subplots, pose, panels)
    moving: list[int] = []  # trace indices the playhead restyles, and their data per step
    steps_data: list[list[dict]] = [[] for _ in times]
    player: dict = {"duration": float(duration), "steps": len(times), "pose": None, "cursors": [],
                    "window": [float(highlight[0]), float(min(highlight[1], duration))] if highlight else None}
    if pose is not None:
        player["pose"] = _add_pose(go, fig, pose, times, duration, moving, steps_data)
    player["cursors"] = _add_imu(go, fig, panels, cols, times, highlight, moving, steps_data)
    fig.update_xaxes(title_text="time (s)", row=rows, col=cols)
    _add_playhead(fig, times, steps_data, moving, player, rows)
    return fig


def _subplots(subplots, pose: PoseStream | None, panels: list[tuple[ImuStream, str, list[int]]]):
    """(figure, rows, cols): the pose on the left across all rows, one IMU panel a row on the right."""
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
    return fig, rows, cols


def _add_pose(go, fig, pose: PoseStream, times: np.ndarray, duration: float, moving: list[int],
              steps_data: list[list[dict]]) -> dict:
    """The skeleton (3-D) or the image-plane pose at the playhead; returns the player's poses."""
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
    return _play_poses(joints, pose.rate, duration, len(fig.data) - 1)


def _add_imu(go, fig, panels: list[tuple[ImuStream, str, list[int]]], col: int, times: np.ndarray,
             highlight: tuple[float, float] | None, moving: list[int], steps_data: list[list[dict]]) -> list[dict]:
    """One row of IMU channels per panel, the matched window shaded, a playhead line on each;
    returns the player's cursors."""
    cursors = []
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
        cursors.append({"trace": len(fig.data) - 1, "y": [lo, hi]})
        for n, tt in enumerate(times):
            steps_data[n].append({"x": [float(tt), float(tt)], "y": [lo, hi]})
    return cursors


def _add_playhead(fig, times: np.ndarray, steps_data: list[list[dict]], moving: list[int], player: dict,
                  rows: int) -> None:
    """The slider that restyles the `moving` traces to each step's data, and the player's settings."""
    slider_steps = []
    for n, tt in enumerate(times):
        data = steps_data[n]
        keys = sorted({k for d in data for k in d})
        restyle = {k: [d.get(k) for d in data] for k in keys}
        slider_steps.append({"method": "restyle", "label": f"{tt:.1f}", "value": f"{tt:.2f}",
                             "args": [restyle, moving]})
    fig.update_layout(
        meta={"player": player},
        height=max(420, 170 * rows + 120), margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.06, "yanchor": "bottom", "font": {"size": 11}},
        sliders=[{"active": 0, "steps": slider_steps, "currentvalue": {"prefix": "playhead t = ", "suffix": " s"},
                  "pad": {"t": 50}, "name": "playhead"}])
