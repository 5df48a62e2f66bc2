"""The result grid and the query panel as HTML: small inline SVGs (skeleton, IMU sparkline, the
recording's timeline), no files, so a page of cards is one answer of the server.

Each card plays its matched window in a loop at real speed: the skeleton's poses through the
window travel in the SVG's `data-poses` (a few per second, joint coordinates in the SVG's own
units) and the page's script (`GRID_JS`) moves the bones between them; an IMU-only card sweeps
a cursor across the window instead, and the card's timeline shows the same moment. Only cards
on screen are animated (an IntersectionObserver), so a page of 40 cards stays light.

A card's buttons carry `data-action` ("open", "similar", "pick") and `data-rank`; the page's
script (`GRID_JS`, run by the grid's gr.HTML) turns "open" and "similar" into that component's
`select` event. "pick" stays in the browser: it adds the card's window (`data-window`) to the
page's selection (`window.msPicked`, kept across searches and pages of cards), which the
"Teach as ..." button sends (`PICKED_JS`).
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from query import CANONICAL_JOINTS, ImuStream, PoseStream
from ui import render

# Runs once when the grid is mounted; the listener sits on the grid's element, so it serves
# every set of cards the server sends later.
GRID_JS = """
window.msPicked = window.msPicked || new Set();
const paint = () => {
  for (const card of element.querySelectorAll('.ms-card')) {
    const on = window.msPicked.has(card.dataset.window);
    card.classList.toggle('ms-picked', on);
    const b = card.querySelector('[data-action=pick]');
    if (b) { b.textContent = on ? 'Selected \u2713' : 'Select'; b.setAttribute('aria-pressed', String(on)); }
  }
  const n = window.msPicked.size;
  const out = document.querySelector('#teach-count');
  if (out) out.textContent = n ? `${n} window${n > 1 ? 's' : ''} selected` : 'No window selected.';
};
window.msPaint = paint;
element.addEventListener('click', (e) => {
  const b = e.target.closest('[data-action]');
  if (!b) return;
  if (b.dataset.action === 'pick') {
    const id = b.closest('.ms-card').dataset.window;
    if (window.msPicked.has(id)) window.msPicked.delete(id); else window.msPicked.add(id);
    paint();
    return;
  }
  trigger('select', {index: Number(b.dataset.rank) - 1, value: b.dataset.action});
});
watch('value', paint);

// Each card loops its window at real speed (`data-dur` seconds); only cards on screen move.
// A card's skeleton: `data-poses` holds n poses of `data-joints` (x, y) pairs, bones are the
// lines' `data-a`/`data-b` joints; cursors (`.ms-cursor`) sweep from x = data-a to data-b.
const onScreen = new Set();
const started = performance.now();
let timer = null;
const poses = (svg) => {
  if (!svg._poses) svg._poses = Float32Array.from(svg.dataset.poses.split(',').map(Number));
  return svg._poses;
};
const draw = (card, now) => {
  const dur = Number(card.dataset.dur) || 1;
  const phase = (((now - started) / 1000) % dur) / dur;
  const svg = card.querySelector('svg[data-poses]');
  if (svg) {
    const p = poses(svg), n = Number(svg.dataset.n), j2 = 2 * Number(svg.dataset.joints);
    const f = phase * (n - 1), i = Math.min(Math.floor(f), n - 2), w = f - i;
    const at = (joint, k) => (1 - w) * p[i * j2 + 2 * joint + k] + w * p[(i + 1) * j2 + 2 * joint + k];
    for (const bone of svg.querySelectorAll('line[data-b]')) {
      const a = Number(bone.dataset.a), b = Number(bone.dataset.b);
      bone.setAttribute('x1', at(a, 0).toFixed(1)); bone.setAttribute('y1', at(a, 1).toFixed(1));
      bone.setAttribute('x2', at(b, 0).toFixed(1)); bone.setAttribute('y2', at(b, 1).toFixed(1));
    }
    svg.dataset.frame = String(Math.round(f));
  }
  for (const c of card.querySelectorAll('.ms-cursor')) {
    const x = (Number(c.dataset.a) + phase * (Number(c.dataset.b) - Number(c.dataset.a))).toFixed(1);
    c.setAttribute('x1', x); c.setAttribute('x2', x);
  }
  card.dataset.phase = phase.toFixed(3);
};
const tick = () => {
  const now = performance.now();
  for (const card of onScreen) if (card.isConnected) draw(card, now); else onScreen.delete(card);
  if (!onScreen.size) { clearInterval(timer); timer = null; }
};
const seen = new IntersectionObserver((entries) => {
  for (const e of entries) {
    e.target.dataset.playing = e.isIntersecting ? '1' : '0';
    if (e.isIntersecting) onScreen.add(e.target); else onScreen.delete(e.target);
  }
  if (onScreen.size && !timer) timer = setInterval(tick, 50);
});
const observe = () => {
  seen.disconnect();
  onScreen.clear();
  for (const card of element.querySelectorAll('.ms-card[data-dur]')) seen.observe(card);
};
watch('value', observe);
observe();
"""
# The "Teach as ..." button's inputs: the name as typed and the selected windows' ids (JSON).
PICKED_JS = "(name, picked) => [name, JSON.stringify(Array.from(window.msPicked || []))]"
# After teaching: an empty `picked` means the windows were taught, so the selection is cleared.
CLEAR_PICKED_JS = """(picked) => {
  if (!picked && window.msPicked) { window.msPicked.clear(); if (window.msPaint) window.msPaint(); }
  return [];
}"""
# The button says what it will do as the name is typed.
TEACH_LABEL_JS = "(name) => (name || '').trim() ? `Teach as \u201c${name.trim()}\u201d` : 'Teach as \u2026'"
CSS = """
.ms-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 10px; }
.ms-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px;
           display: flex; flex-direction: column; gap: 4px; background: var(--background-fill-primary); }
.ms-thumb svg { width: 100%; height: 120px; display: block; }
.ms-title { font-weight: 600; }
.ms-cue { font-size: 0.8em; font-weight: 600; padding: 1px 6px; border-radius: 8px; margin-left: 4px; }
.ms-strong { background: #2a9d8f; color: white; } .ms-fair { background: #e9c46a; color: black; }
.ms-weak { background: #e76f51; color: white; }
.ms-score, .ms-meta { font-size: 0.82em; color: var(--body-text-color-subdued); }
.ms-timeline svg { width: 100%; height: 14px; display: block; }
.ms-actions { display: flex; gap: 6px; flex-wrap: wrap; }
.ms-actions button { font-size: 0.8em; padding: 2px 8px; border-radius: 6px; cursor: pointer;
                     border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); }
.ms-card.ms-picked { outline: 3px solid var(--color-accent); outline-offset: -1px; }
.ms-card.ms-picked [data-action=pick] { background: var(--color-accent); color: white; }
.ms-query { border: 2px dashed var(--color-accent); border-radius: 10px; padding: 8px; }
.ms-query svg { width: 100%; max-width: 420px; height: 120px; display: block; }
.ms-pager { margin-top: 8px; font-size: 0.9em; }
"""
_LINE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
_HIP = CANONICAL_JOINTS.index("left_hip"), CANONICAL_JOINTS.index("right_hip")
_PELVIS = CANONICAL_JOINTS.index("pelvis")
CARD_FPS = 8  # poses a second a card carries; the page moves the bones smoothly between them


def esc(value) -> str:
    return html.escape(str(value), quote=True)


# ----------------------------------------------------------------------------- pictures


def body_frame(joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) poses (y up) turned so the person faces the viewer: x to the viewer's right
    (the person's left), y up, z towards the viewer. Skeleton formats disagree on which way x
    points; the hips say where the person's right is."""
    across = (joints[:, _HIP[1]] - joints[:, _HIP[0]]).mean(axis=0)  # left hip -> right hip
    across[1] = 0.0
    norm = float(np.linalg.norm(across))
    if norm < 1e-9:
        return joints
    right = across / norm
    up = np.array([0.0, 1.0, 0.0])
    facing = np.cross(up, right)
    return np.stack([joints @ -right, joints @ up, joints @ facing], axis=-1)


def _fit(points: np.ndarray, width: float, height: float, pad: float = 6.0):
    lo, hi = points.min(axis=0), points.max(axis=0)
    scale = min((width - 2 * pad) / max(hi[0] - lo[0], 1e-6), (height - 2 * pad) / max(hi[1] - lo[1], 1e-6))
    mid = (lo + hi) / 2
    return lambda p: (width / 2 + (p[..., 0] - mid[0]) * scale, height / 2 - (p[..., 1] - mid[1]) * scale)


def skeleton_svg(frames: np.ndarray, width: int = 240, height: int = 120) -> str:
    """A few poses (n, J, 2 or 3) side by side in front view, the last one solid."""
    frames = _planar(frames)
    n = len(frames)
    slot = width / n
    parts = []
    for i, frame in enumerate(frames):
        x, y = _fit(frame, slot, height)(frame)
        x = x + i * slot
        opacity = 1.0 if i == n - 1 else 0.35 + 0.5 * i / max(n - 1, 1)
        for (a, b), colour in zip(render.BONE_INDEX, render.BONE_COLOURS):
            parts.append(f'<line x1="{x[a]:.1f}" y1="{y[a]:.1f}" x2="{x[b]:.1f}" y2="{y[b]:.1f}" '
                         f'stroke="{colour}" stroke-width="2.4" stroke-linecap="round" opacity="{opacity:.2f}"/>')
    return f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet">{"".join(parts)}</svg>'


def _planar(joints: np.ndarray) -> np.ndarray:
    """(T, J, 2|3) poses as (T, J, 2) drawing coordinates, y up, front view."""
    if joints.shape[-1] == 3:
        return body_frame(joints)[..., :2]
    return joints * np.array([1.0, -1.0])  # image coordinates grow downwards


def animated_skeleton_svg(frames: np.ndarray, width: int = 480, height: int = 240) -> str:
    """Poses (n, J, 2 or 3) through a window as one skeleton that the page's script moves from
    pose to pose (`data-poses`); the first pose is drawn, so the picture stands without it.

    The person is kept in place across (the pelvis at the centre, as on a treadmill) but not up
    and down, and all poses share one scale: a jump rises, a squat sinks, walking steps in place.
    Coordinates are whole SVG units (the box is twice the card's size, so half a pixel), which
    keeps a 5 s window at about 5 kB."""
    flat = _planar(np.asarray(frames, np.float64))
    flat = flat - np.stack([flat[:, _PELVIS, 0], np.zeros(len(flat))], axis=-1)[:, None, :]
    x, y = _fit(flat.reshape(-1, 2), width, height, pad=10.0)(flat)
    xy = np.round(np.stack([x, y], axis=-1)).astype(int)  # (n, J, 2), SVG units
    data = ",".join(map(str, xy.reshape(-1)))
    bones = "".join(
        f'<line data-a="{a}" data-b="{b}" x1="{xy[0, a, 0]}" y1="{xy[0, a, 1]}" x2="{xy[0, b, 0]}" '
        f'y2="{xy[0, b, 1]}" stroke="{colour}" stroke-width="5" stroke-linecap="round"/>'
        for (a, b), colour in zip(render.BONE_INDEX, render.BONE_COLOURS))
    return (f'<svg class="ms-skeleton" viewBox="0 0 {width} {height}" preserveAspectRatio="xMidYMid meet" '
            f'data-n="{len(xy)}" data-joints="{xy.shape[1]}" data-frame="0" data-poses="{data}">{bones}</svg>')


def sparkline_svg(t: np.ndarray, series: list[np.ndarray], span: tuple[float, float] | None = None,
                  width: int = 240, height: int = 120, cursor: bool = False) -> str:
    """Lines over time (one per series, stacked in one box) with `span` shaded; with `cursor`, a
    line at the span's start that the page's script sweeps across it."""
    t0, t1 = float(t[0]), float(t[-1]) if t[-1] > t[0] else float(t[0]) + 1.0
    def sx(v):
        return (np.asarray(v) - t0) / (t1 - t0) * width

    parts = []
    if span is not None:
        a, b = np.clip(sx(span), 0, width)
        parts.append(f'<rect x="{a:.1f}" y="0" width="{max(b - a, 1):.1f}" height="{height}" '
                     f'fill="{render.HIGHLIGHT}" opacity="0.35"/>')
    step = max(1, len(t) // 300)  # a few hundred points draw as fast as thousands look
    for i, values in enumerate(series):
        v = np.asarray(values, np.float64)[::step]
        lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
        y = height - 4 - (v - lo) / max(hi - lo, 1e-9) * (height - 8)
        pts = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in zip(sx(t[::step]), y))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{_LINE_COLOURS[i % 6]}" stroke-width="1.2"/>')
    if cursor and span is not None:
        parts.append(_cursor(a, b, height))
    return f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="none">{"".join(parts)}</svg>'


def _cursor(a: float, b: float, height: float) -> str:
    """A vertical line the page's script moves from x = a to x = b as the card's window plays."""
    return (f'<line class="ms-cursor" data-a="{a:.1f}" data-b="{b:.1f}" x1="{a:.1f}" y1="0" x2="{a:.1f}" '
            f'y2="{height}" stroke="#d62728" stroke-width="1.5"/>')


def timeline_svg(duration: float, t_start: float, t_end: float, width: int = 240, window: float | None = None) -> str:
    """The recording as a bar (one tick a second, or a coarser round step), the matched window on
    it, and a cursor that follows the card's animation through the window.

    `window`: the encoder's window length. A clip shorter than that fills its one window: the
    bar is then drawn to the window's length, the clip solid and the rest of the window dashed
    (what the encoder saw as padding), so a 2.6 s clip does not look like a full bar."""
    duration = max(duration, t_end, 1e-6)
    scale = max(duration, t_start + window) if window else duration
    def sx(v):
        return v / scale * width

    a, b = sx(t_start), sx(min(t_end, duration))
    tick = next((s for s in (1, 2, 5, 10, 30, 60, 300, 600, 1800, 3600) if scale / s <= 40), 3600)
    ticks = "".join(f'<line x1="{sx(v):.1f}" y1="4" x2="{sx(v):.1f}" y2="10" stroke="#90a4ae" stroke-width="0.8"/>'
                    for v in np.arange(tick, duration, tick))
    padded = ""
    if scale > duration + 1e-6:
        padded = (f'<rect class="ms-padding" x="{sx(duration):.1f}" y="1.5" width="{sx(scale) - sx(duration) - 0.5:.1f}" '
                  f'height="11" rx="2" fill="none" stroke="{render.HIGHLIGHT}" stroke-dasharray="3 2"/>')
    title = (f"the whole clip, {duration:.1f} s, shorter than a {window:g} s window" if padded and t_start <= 0
             else f"{t_start:.1f}-{t_end:.1f} s of {duration:.1f} s")
    return (f'<svg viewBox="0 0 {width} 14" preserveAspectRatio="none"><title>{title}</title>'
            f'<rect x="0" y="5" width="{sx(duration):.1f}" height="4" rx="2" fill="#cfd8dc"/>'
            f'<rect class="ms-window" x="{a:.1f}" y="1.5" width="{max(b - a, 2):.1f}" height="11" rx="2" '
            f'fill="{render.HIGHLIGHT}"/>{padded}{ticks}{_cursor(a, b, 14)}</svg>')


def _acc_magnitude(stream: ImuStream) -> np.ndarray:
    cols = [i for i, c in enumerate(stream.channels) if c.lower().startswith("acc")] or list(range(stream.data.shape[1]))
    return np.linalg.norm(stream.data[:, cols], axis=1)


def window_picture(pose: PoseStream | None, imu: list[ImuStream], t0: float, t1: float, duration: float) -> str:
    """A card's picture: the skeleton through the window (front view, `CARD_FPS` poses a second,
    played by the page), else the IMU around the window with a cursor sweeping it."""
    if pose is not None:
        joints = pose.canonical()
        end = min(t1, duration)
        times = np.linspace(t0, end, max(2, int(round((end - t0) * CARD_FPS)) + 1))
        idx = np.clip(np.round(times * pose.rate).astype(int), 0, len(joints) - 1)
        return animated_skeleton_svg(joints[idx])
    if imu:
        s = imu[0]
        lo, hi = max(0.0, t0 - (t1 - t0) / 2), min(duration, t1 + (t1 - t0) / 2)
        i0, i1 = int(lo * s.rate), max(int(lo * s.rate) + 2, int(np.ceil(hi * s.rate)))
        t = np.arange(i0, min(i1, len(s.data))) / s.rate
        if len(t) < 2:
            raise ValueError("the window holds no IMU samples")
        return sparkline_svg(t, [_acc_magnitude(s)[i0:i0 + len(t)]], (t0, t1), cursor=True)
    return ""


# ----------------------------------------------------------------------------- cards


def cue_badge(word: str) -> str:
    return f'<span class="ms-cue ms-{word.split()[0]}">{esc(word)}</span>' if word else ""


def card_html(hit: dict, picture: str, duration: float, cue: tuple[str, str], others: int = 0,
              note: str = "", window: float | None = None) -> str:
    """One hit's card; `window`: the encoder's window length (a clip shorter than it is drawn so)."""
    word, detail = cue
    t0, t1 = float(hit["t_start"]), float(hit["t_end"])
    more = f" · +{others} more windows here" if others else ""
    short = window is not None and t0 <= 0 and t1 >= duration - 1e-6 and duration < window
    where = f"the whole {duration:.1f} s clip" if short else f"{t0:.1f}–{t1:.1f} s of {duration:.1f} s"
    return (
        f'<div class="ms-card" data-rank="{hit["rank"]}" data-recording="{esc(hit["recording_id"])}" '
        f'data-modality="{esc(hit["modality"])}" data-window="{esc(hit.get("window_id", ""))}" '
        f'data-dur="{max(min(t1, duration) - t0, 0.2):.2f}">'
        f'<div class="ms-thumb">{picture or esc(note)}</div>'
        f'<div class="ms-title">{hit["rank"]}. {esc(hit["label"] or "(no label)")}{cue_badge(word)}</div>'
        f'<div class="ms-score">score {hit["score"]:.3f}{" · " + esc(detail) if detail else ""}</div>'
        f'<div class="ms-timeline">{timeline_svg(duration, t0, t1, window=window)}</div>'
        f'<div class="ms-meta"><code>{esc(hit["recording_id"])}</code> · {esc(hit["modality"])} '
        f'({esc(hit["body_part"])}) · {where} · subject '
        f'{esc(hit["subject"] or "?")} · {esc(hit["dataset"])}{more}</div>'
        f'<div class="ms-actions"><button data-action="open" data-rank="{hit["rank"]}">Open recording</button>'
        f'<button data-action="similar" data-rank="{hit["rank"]}">Search with this window</button>'
        f'<button data-action="pick" data-rank="{hit["rank"]}" aria-pressed="false" '
        f'title="Select as an example of a concept to teach">Select</button></div></div>')


def grid_html(cards: list[str], total: int) -> str:
    if not cards:
        return ""
    pager = f"Showing {len(cards)} of {total}." + (" Press <b>More results</b> for the next page." if len(cards) < total else "")
    return f'<div class="ms-grid" id="ms-grid">{"".join(cards)}</div><div class="ms-pager">{pager}</div>'


def query_html(title: str, picture: str = "", caption: str = "") -> str:
    return (f'<div class="ms-query"><b>Query:</b> {title}{picture}'
            f'{f"<div class=ms-meta>{caption}</div>" if caption else ""}</div>')


def file_name(path: str | None) -> str:
    return esc(Path(path).name) if path else ""
