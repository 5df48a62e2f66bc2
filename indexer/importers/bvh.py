"""BVH motion capture: a folder of .bvh files (e.g. the CMU takes), parsed by hand with numpy.

A BVH file holds a joint hierarchy (offsets from each parent, and which Euler channels each
joint animates, in which order) followed by one row of channel values per frame. We run forward
kinematics to get global joint positions in metres, which is what every pose consumer expects.

An optional `descriptions.csv` next to the files (columns file,subject,description) supplies the
subject and the description used as label and as a text span over the whole take.
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from indexer.bodyparts import SKELETONS, canonical_joint_positions
from indexer.errors import BadInput
from indexer.model import Entry, PoseStream, Recording, TextSpan
from indexer.units import length_to_si

SKELETON = "cmu-bvh"
CMU_INDEX = "cmu-descriptions.csv"
DESCRIPTIONS = "descriptions.csv"
CMU_NAME = re.compile(r"^(\d+)_(\d+)$")

# BVH has no unit field. "auto" picks, per file, the unit below that makes the rest pose about
# as tall as an adult. It is needed because the CMU folder mixes two conversions whose numbers
# do not match its README ("inches" would make the walkers 3.8 m tall):
#   - the DAZ-named takes (hip, abdomen, lShldr, ...) are in centimetres (DAZ Studio's unit):
#     hip about 0.85 m, head joint about 1.5 m;
#   - the ASF-named takes (lhipjoint, lfemur, ...) keep the CMU ASF scale of 0.45 units per
#     inch: hip about 1.0 m.
# Pass an explicit unit (a name or metres per file unit) whenever it is known.
DEFAULT_UNITS = "auto"
CMU_ASF_UNIT = 0.0254 / 0.45  # metres per unit in CMU's ASF/AMC-derived files
AUTO_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "in": 0.0254, "cmu-asf": CMU_ASF_UNIT}
TYPICAL_HEIGHT = 1.7  # metres; only used to choose among AUTO_UNITS, which differ by >= 2.2x

_ROTATION = {"Xrotation": 0, "Yrotation": 1, "Zrotation": 2}
_POSITION = {"Xposition": 0, "Yposition": 1, "Zposition": 2}


@dataclass
class BvhMotion:
    """A parsed BVH file. Lengths are in metres; End Sites are not joints here."""

    joint_names: list[str]
    parents: list[int]  # index into joint_names, -1 for a root
    offsets: np.ndarray  # (J, 3) rest offsets from the parent, metres
    positions: np.ndarray  # (T, J, 3) global joint positions, metres
    frame_time: float  # seconds per frame
    units: str = "m"  # the file's length unit as resolved (useful when "auto" chose it)

    @property
    def rate(self) -> float:
        rate = 1.0 / self.frame_time
        # Frame times are written truncated (0.00833333 for 120 Hz, 0.033333 for 30 Hz); the
        # capture ran at the whole rate, so snap to it instead of carrying 120.000048 around.
        nearest = round(rate)
        return float(nearest) if nearest > 0 and abs(rate - nearest) < 1e-4 * rate else rate

    def __iter__(self):
        # Lets callers unpack it as the tuple (joint_names, parents, offsets, positions, frame_time).
        return iter((self.joint_names, self.parents, self.offsets, self.positions, self.frame_time))


@dataclass
class _Joint:
    name: str
    parent: int
    offset: np.ndarray  # (3,), file units
    channels: list[str]
    first_column: int  # where this joint's channels start in a frame row
    end_sites: list[np.ndarray] = field(default_factory=list)  # (3,) offsets, file units


# ----------------------------------------------------------------------------- parsing


def _tokens(lines: list[str]) -> list[tuple[str, int]]:
    """Whitespace tokens with their 1-based line numbers (for error messages)."""
    out = []
    for number, line in enumerate(lines, start=1):
        # Braces are sometimes glued to names ("hip{"), so split them off.
        for tok in line.replace("{", " { ").replace("}", " } ").split():
            out.append((tok, number))
    return out


class _Cursor:
    """Walks the hierarchy tokens; every failure names the file and the line."""

    def __init__(self, path: str, tokens: list[tuple[str, int]]):
        self.path, self.tokens, self.i = path, tokens, 0

    def fail(self, reason: str) -> BadInput:
        line = self.tokens[min(self.i, len(self.tokens) - 1)][1] if self.tokens else 0
        return BadInput(self.path, f"{reason} (line {line})")

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self, what: str = "a token") -> str:
        if self.i >= len(self.tokens):
            raise self.fail(f"hierarchy ends early: expected {what}")
        tok = self.tokens[self.i][0]
        self.i += 1
        return tok

    def expect(self, word: str) -> None:
        tok = self.take(repr(word))
        if tok != word:
            self.i -= 1
            raise self.fail(f"expected {word!r}, found {tok!r}")

    def number(self, what: str) -> float:
        tok = self.take(what)
        try:
            return float(tok)
        except ValueError:
            self.i -= 1
            raise self.fail(f"non-numeric {what} {tok!r}") from None


def _parse_joint(cur: _Cursor, name: str, parent: int, joints: list[_Joint], columns: int) -> int:
    """Parse one `{ OFFSET .. CHANNELS .. children }` block; returns the next free column."""
    cur.expect("{")
    cur.expect("OFFSET")
    offset = np.array([cur.number("OFFSET value") for _ in range(3)])
    channels: list[str] = []
    if cur.peek() == "CHANNELS":
        cur.take()
        count = cur.number("CHANNELS count")
        if count != int(count) or count < 0:
            raise cur.fail(f"bad CHANNELS count {count}")
        for _ in range(int(count)):
            ch = cur.take("a channel name")
            if ch not in _ROTATION and ch not in _POSITION:
                cur.i -= 1
                raise cur.fail(f"unknown channel {ch!r}")
            channels.append(ch)
    index = len(joints)
    joints.append(_Joint(name, parent, offset, channels, columns))
    columns += len(channels)
    while True:
        tok = cur.take("'}'")
        if tok == "}":
            return columns
        if tok == "JOINT":
            columns = _parse_joint(cur, cur.take("a joint name"), index, joints, columns)
        elif tok == "End":
            cur.expect("Site")
            _parse_end_site(cur, index, joints)
        else:
            cur.i -= 1
            raise cur.fail(f"unexpected {tok!r} inside joint {name!r}")


def _parse_end_site(cur: _Cursor, parent: int, joints: list[_Joint]) -> None:
    # End Sites only mark where the last bone ends (head top, toes): no channels, not a joint,
    # but kept on the parent for measuring the rest pose.
    cur.expect("{")
    cur.expect("OFFSET")
    joints[parent].end_sites.append(np.array([cur.number("OFFSET value") for _ in range(3)]))
    cur.expect("}")


def _parse_hierarchy(path: str, lines: list[str]) -> tuple[list[_Joint], int]:
    """Joints in file order and the number of values a frame row must hold."""
    cur = _Cursor(path, _tokens(lines))
    if cur.peek() != "HIERARCHY":
        raise BadInput(path, "missing HIERARCHY: not a BVH file")
    cur.take()
    joints: list[_Joint] = []
    columns = 0
    while cur.peek() == "ROOT":
        cur.take()
        columns = _parse_joint(cur, cur.take("a root name"), -1, joints, columns)
    if not joints:
        raise cur.fail("HIERARCHY has no ROOT joint")
    if cur.peek() is not None:
        raise cur.fail(f"unexpected {cur.peek()!r} after the hierarchy")
    return joints, columns


def _header_value(path: str, line: str, key: str, number: int) -> str:
    if not line.strip().startswith(key):
        raise BadInput(path, f"expected '{key}' on line {number}, found {line.strip()[:40]!r}")
    return line.strip()[len(key):].strip()


def _parse_motion(path: str, lines: list[str], first: int, columns: int) -> tuple[np.ndarray, float]:
    """(T, columns) channel values and the frame time, from the lines after MOTION."""
    header = [(n, ln) for n, ln in enumerate(lines[first:], start=first + 1) if ln.strip()]
    if len(header) < 2:
        raise BadInput(path, "MOTION section lacks 'Frames:' and 'Frame Time:'")
    (n1, frames_line), (n2, time_line) = header[0], header[1]
    try:
        frames = int(_header_value(path, frames_line, "Frames:", n1))
    except ValueError:
        raise BadInput(path, f"bad frame count on line {n1}: {frames_line.strip()!r}") from None
    try:
        frame_time = float(_header_value(path, time_line, "Frame Time:", n2))
    except ValueError:
        raise BadInput(path, f"bad Frame Time on line {n2}: {time_line.strip()!r}") from None
    if not np.isfinite(frame_time) or frame_time <= 0:
        raise BadInput(path, f"bad Frame Time {frame_time} (must be > 0 seconds)")
    if frames <= 0:
        raise BadInput(path, f"MOTION says Frames: {frames}; a take needs at least one frame")

    rows = header[2:]
    if len(rows) < frames:
        raise BadInput(path, f"truncated MOTION: 'Frames: {frames}' but only {len(rows)} frame rows")
    if len(rows) > frames:
        # Refuse rather than silently drop frames: the header or the data is wrong.
        raise BadInput(path, f"MOTION has {len(rows)} frame rows but 'Frames: {frames}'")
    values = np.empty((frames, columns), dtype=np.float64)
    for row, (number, line) in enumerate(rows):
        fields = line.split()
        if len(fields) != columns:
            raise BadInput(
                path, f"frame row on line {number} has {len(fields)} values; the hierarchy needs {columns}"
            )
        try:
            values[row] = [float(x) for x in fields]
        except ValueError:
            bad = next(x for x in fields if not _is_float(x))
            raise BadInput(path, f"non-numeric value {bad!r} in frame row on line {number}") from None
    if not np.isfinite(values).all():
        raise BadInput(path, "MOTION holds NaN/inf values")
    return values, frame_time


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# ----------------------------------------------------------------------------- kinematics


def _axis_rotations(axis: int, degrees: np.ndarray) -> np.ndarray:
    """(T, 3, 3) right-handed rotations about one axis."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]  # the plane the axis rotates
    out[:, axis, axis] = 1.0
    out[:, i, i], out[:, i, j] = c, -s
    out[:, j, i], out[:, j, j] = s, c
    return out


def _local_transform(joint: _Joint, values: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3, 3) local rotation and (T, 3) local translation in metres for one joint."""
    frames = values.shape[0]
    rotation = np.broadcast_to(np.eye(3), (frames, 3, 3)).copy()
    translation = np.broadcast_to(joint.offset * scale, (frames, 3)).copy()
    for k, channel in enumerate(joint.channels):
        column = values[:, joint.first_column + k]
        if channel in _ROTATION:
            # Channels listed c1 c2 c3 compose as R_c1 @ R_c2 @ R_c3 (the BVH convention).
            rotation = rotation @ _axis_rotations(_ROTATION[channel], column)
        else:
            # Position channels give the joint's translation outright (the root's offset is
            # normally zero; exporters that animate every joint write the full offset here).
            translation[:, _POSITION[channel]] = column * scale
    return rotation, translation


def forward_kinematics(joints: list[_Joint], values: np.ndarray, scale: float) -> np.ndarray:
    """(T, J, 3) global positions: global = parent_global @ (T(offset) * R_local)."""
    frames = values.shape[0]
    rotations = np.empty((frames, len(joints), 3, 3))
    positions = np.empty((frames, len(joints), 3))
    for j, joint in enumerate(joints):  # file order puts every parent before its children
        local_r, local_t = _local_transform(joint, values, scale)
        if joint.parent < 0:
            rotations[:, j], positions[:, j] = local_r, local_t
        else:
            parent_r = rotations[:, joint.parent]
            rotations[:, j] = parent_r @ local_r
            positions[:, j] = positions[:, joint.parent] + np.einsum("tab,tb->ta", parent_r, local_t)
    return positions


def rest_positions(joints: list[_Joint]) -> np.ndarray:
    """(N, 3) rest-pose positions of all joints and End Sites, in file units."""
    at = np.zeros((len(joints), 3))
    points = []
    for j, joint in enumerate(joints):
        at[j] = joint.offset + (at[joint.parent] if joint.parent >= 0 else 0.0)
        points.append(at[j])
        points.extend(at[j] + site for site in joint.end_sites)
    return np.array(points)


def resolve_units(joints: list[_Joint], units: str | float) -> tuple[str, float]:
    """(unit name, metres per file unit); "auto" measures the rest pose (see DEFAULT_UNITS)."""
    if isinstance(units, (int, float)):
        return f"{float(units)} m", float(units)
    if units != "auto":
        if units in AUTO_UNITS:
            return units, AUTO_UNITS[units]
        return units, float(length_to_si(1.0, units))  # ValueError for an unknown unit
    rest = rest_positions(joints)
    height = float((rest.max(axis=0) - rest.min(axis=0)).max())
    if height <= 0:
        return "m", 1.0  # a single point: nothing to measure, nothing to scale
    name = min(AUTO_UNITS, key=lambda u: abs(np.log(height * AUTO_UNITS[u] / TYPICAL_HEIGHT)))
    return name, AUTO_UNITS[name]


def _read_text(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig", errors="replace")
    except OSError as exc:
        raise BadInput(path, f"cannot read file ({exc.strerror or exc})") from None
    if not text.strip():
        raise BadInput(path, "file is empty")
    return text.splitlines()


def parse_bvh(path: str | Path, units: str | float = DEFAULT_UNITS) -> BvhMotion:
    """Parse a BVH file into joint names, parents, offsets and global positions in metres.

    `units` is the length unit of the file's offsets and position channels: a name from
    `indexer.units.LENGTH_UNITS` ("in", "cm", "m", ...), "cmu-asf", metres per unit as a
    number, or "auto" (see DEFAULT_UNITS). Raises BadInput naming the file and the reason for
    anything it cannot use.
    """
    path = str(path)
    lines = _read_text(path)
    if lines and not next(ln for ln in lines if ln.strip()).strip().startswith("HIERARCHY"):
        raise BadInput(path, "missing HIERARCHY: not a BVH file")
    motion_at = next((i for i, ln in enumerate(lines) if ln.strip() == "MOTION"), None)
    if motion_at is None:
        raise BadInput(path, "missing MOTION section (file truncated?)")
    joints, columns = _parse_hierarchy(path, lines[:motion_at])
    values, frame_time = _parse_motion(path, lines, motion_at + 1, columns)
    try:
        unit_name, scale = resolve_units(joints, units)
    except ValueError as exc:
        raise BadInput(path, str(exc)) from None
    return BvhMotion(
        joint_names=[j.name for j in joints],
        parents=[j.parent for j in joints],
        offsets=np.stack([j.offset for j in joints]) * scale,
        positions=forward_kinematics(joints, values, scale),
        frame_time=frame_time,
        units=unit_name,
    )


# ----------------------------------------------------------------------------- importer


def _bvh_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() == ".bvh" else []
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".bvh")
    return []


def detect(path: Path) -> bool:
    return bool(_bvh_files(Path(path)))


def _csv_rows(table: Path, required: set[str], what: str) -> list[dict]:
    """The rows of a CSV side table; BadInput naming it when unreadable or missing columns."""
    try:
        with open(table, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = required - set(reader.fieldnames or [])
            if missing:
                raise BadInput(str(table), f"missing column(s) {sorted(missing)} of the {what}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BadInput(str(table), f"unreadable {what} ({exc})") from None


def read_descriptions(folder: Path) -> dict[str, tuple[str | None, str]]:
    """file stem -> (subject, description) from descriptions.csv; else from the CMU database's
    index (cmu-descriptions.csv here or one folder up); {} when there is neither. Takes with a
    JSON side file ({"content": i, "style": j}) are described by `labelled_takes` instead."""
    table = folder / DESCRIPTIONS
    if not table.exists():
        index = next((f for f in (folder / CMU_INDEX, folder.parent / CMU_INDEX) if f.is_file()), None)
        return read_cmu_index(index) if index else {}
    rows = _csv_rows(table, {"file", "description"}, "descriptions table (need file,subject,description)")
    out = {}
    for row in rows:
        name = (row.get("file") or "").strip()
        if not name:
            continue
        subject = (row.get("subject") or "").strip() or None
        out[Path(name).stem] = (subject, (row.get("description") or "").strip())
    return out


def skeleton_for(path: Path, motion: BvhMotion) -> str:
    """The SKELETONS entry that maps this file's joints onto the canonical set ("cmu-bvh" first).

    Checked at load so a file no pose encoder could read is reported here, by name, instead of
    failing later without one.
    """
    for name in [SKELETON] + [k for k in SKELETONS if k != SKELETON]:
        try:
            canonical_joint_positions(motion.positions[:1], name, motion.joint_names)
            return name
        except BadInput:
            continue
    raise BadInput(
        str(path),
        f"its joints ({', '.join(motion.joint_names[:6])}, ...) fit no skeleton in "
        "indexer.bodyparts.SKELETONS; add a mapping there to index this file",
    )


def read_cmu_index(table: Path) -> dict[str, tuple[str | None, str]]:
    """The CMU database's own index (Subject, Trial #, Motion Description) -> "SSS_TT" entries."""
    rows = _csv_rows(table, {"Subject", "Trial #", "Motion Description"}, "CMU index")
    out = {}
    for row in rows:
        try:
            subject, trial = int(row["Subject"]), int(row["Trial #"])
        except (TypeError, ValueError):
            continue
        out[f"{subject:03d}_{trial:02d}"] = (str(subject), (row["Motion Description"] or "").strip())
        out[f"{subject:02d}_{trial:02d}"] = out[f"{subject:03d}_{trial:02d}"]
    return out


def labelled_takes(folder: Path) -> dict[str, tuple[str, str]]:
    """file stem -> (content, style) for takes with a JSON side file indexing the label lists in
    ../cfg/content_label.txt and style_label.txt (the Bandai Namco layout); {} otherwise."""
    cfg = folder.parent / "cfg"
    lists = {}
    for kind in ("content", "style"):
        f = cfg / f"{kind}_label.txt"
        if not f.is_file():
            return {}
        # names carry the dataset as prefix ("dataset-2_wave-left-hand")
        lists[kind] = [line.strip().split("_", 1)[-1].replace("-", " ")
                       for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    out = {}
    for side in sorted(folder.glob("*.json")):
        try:
            info = json.loads(side.read_text(encoding="utf-8"))
            out[side.stem] = (lists["content"][int(info["content"])], lists["style"][int(info["style"])])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue  # a take without a readable side file is described by its name alone
    return out


def _cmu_name(stem: str) -> tuple[str | None, str | None]:
    # CMU takes are named <subject>_<trial>; used when descriptions.csv does not list a file.
    m = CMU_NAME.match(stem)
    return (str(int(m.group(1))), m.group(2)) if m else (None, None)


def load_recording(
    path: Path, dataset: str, info: tuple[str | None, str] | None, units: str | float = DEFAULT_UNITS,
    style: tuple[str, str] | None = None,
) -> Recording:
    motion = parse_bvh(path, units)
    pose = PoseStream(
        data=motion.positions,
        rate=motion.rate,
        skeleton=skeleton_for(path, motion),
        joints=motion.joint_names,
        source=str(path),
    )
    subject, trial = _cmu_name(path.stem)
    description = ""
    labels: list[str] = []
    if info:
        subject = info[0] or subject
        description = info[1]
        labels = [description] if description else []
    if style:  # a stylised take: its content is the label, the caption says the style too
        content, how = style
        labels, description = [content, how], f"{content}, {how} style"
    return Recording(
        id=f"{dataset}/{path.stem}",
        dataset=dataset,
        subject=subject,
        trial=trial,
        labels=labels,
        pose=pose,
        text=[TextSpan(0.0, pose.duration, description)] if description else [],
        sources=[str(path)],
    )


def discover(path: Path, units: str | float = DEFAULT_UNITS) -> list[Entry]:
    """One Entry per .bvh file, sorted by file name; the dataset is the folder's name."""
    path = Path(path)
    files = _bvh_files(path)
    folder = path if path.is_dir() else path.parent
    dataset = folder.resolve().name
    descriptions = read_descriptions(folder)
    styles = labelled_takes(folder)
    return [
        Entry(
            id=f"{dataset}/{f.stem}",
            sources=[str(f)],
            load=partial(load_recording, f, dataset, descriptions.get(f.stem), units, styles.get(f.stem)),
        )
        for f in files
    ]
