"""The generic archive layout: a folder any user can produce, described by one manifest.

`manifest.toml` (one `[[recording]]` table per recording, with `[[recording.imu]]`,
`[recording.pose]`, `[recording.video]` and `[recording.text]` sub-tables) or `manifest.csv`
(one row per recording, one IMU at most). Stream files are named relative to the manifest.
See docs/archive-format.md for every key and examples.

- IMU: any subset of the acc_*, gyr_*, mag_*, quat_* channels (`indexer.units.IMU_CHANNELS`),
  from a `rate` or from a `time_column` (s, ms, us, ns or ISO 8601): timestamped samples are put
  on a uniform grid and split where the clock stops for longer than `max_gap`
  (`indexer.clocks.regularise`); one sensor may be spread over several files (`file = [...]`)
  with their own clocks, merged on their common span. A recording's time starts at the earliest
  timestamp of its timestamped streams unless a stream gives its own `offset`.
- Pose: a known skeleton, or any skeleton through a `joint_map` onto the canonical joints, with
  its vertical axis named by `up`.
- Recordings carry `subject` and `split` on their `Entry`, so `importers.select` filters before
  any file is read.

`discover` parses the manifest eagerly, so a manifest that cannot be read fails at once, naming
itself. Anything wrong with one recording (a missing file, an unknown rate, a bad shape) is
raised by that recording's `Entry.load` as one BadInput naming the file, so the rest of the
archive still builds. What an import repairs (unsorted or repeated timestamps, a stream split at
a gap, joints a joint_map ignores) is logged on the `indexer.importers.archive` logger as
warnings, one line per note naming the file.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import tomllib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from indexer.bodyparts import (
    CANONICAL_JOINTS,
    COCO17_JOINTS,
    KINECT20_JOINTS,
    SKELETONS,
    UP_AXES,
    apply_joint_map,
    canonical_joint_positions,
    canonical_placement,
    missing_canonical_joints,
    orient_up,
)
from indexer.bounds import MAX_DURATION, check_imu_values, check_stream_length
from indexer.clocks import DEFAULT_MAX_GAP, TIME_UNITS, parse_times, regularise
from indexer.errors import BadInput
from indexer.model import Entry, ImuStream, PoseStream, Recording, TextSpan, VideoStream
from indexer.units import ACC_UNITS, GYR_UNITS, IMU_CHANNELS, imu_channels_to_si, length_to_si
from indexer.video import probe_video

log = logging.getLogger(__name__)

MANIFESTS = ("manifest.toml", "manifest.csv")

# Skeletons whose joint order is fixed enough to be the default when `joints` is not given.
DEFAULT_JOINTS = {"canonical": CANONICAL_JOINTS, "kinect20": KINECT20_JOINTS, "coco17": COCO17_JOINTS}
# 2-D keypoints are often in pixels or normalised image coordinates; those are left as they are.
IMAGE_UNITS = ("px", "pixels", "normalized", "normalised")

RECORDING_KEYS = {"id", "dataset", "subject", "trial", "split", "labels", "imu", "pose", "video", "text"}
STREAM_KEYS = {
    "imu": {"file", "rate", "channels", "placement", "acc_unit", "gyr_unit",
            "time_column", "time_columns", "time_unit", "max_gap", "offset"},
    "pose": {"file", "fps", "skeleton", "joints", "units", "offset", "up", "joint_map"},
    "video": {"file", "offset", "duration"},
    "text": {"file"},
}
CSV_COLUMNS = [
    "id", "dataset", "subject", "trial", "split", "labels",
    "imu_file", "imu_rate", "imu_channels", "imu_placement", "imu_acc_unit", "imu_gyr_unit",
    "imu_time_column", "imu_time_unit", "imu_max_gap", "imu_offset",
    "pose_file", "pose_fps", "pose_skeleton", "pose_joints", "pose_units", "pose_offset", "pose_up",
    "video_file", "video_offset", "video_duration",
    "text_file",
]


# ----------------------------------------------------------------------------- specs


@dataclass
class ImuSpec:
    """One sensor: one file, or several files (acc in one, gyro in another) merged into one stream."""

    files: list[Path]
    rate: float | None  # None: the median rate of the timestamps
    channels: list[str] | None
    placement: str
    acc_unit: str
    gyr_unit: str
    time_columns: list[str] | None = None  # one per file; None: samples are `rate` apart
    time_unit: str = "s"
    max_gap: float = DEFAULT_MAX_GAP
    offset: float | None = None  # recording time of the first sample; None: from the clocks (or 0)

    @property
    def file(self) -> Path:
        return self.files[0]


@dataclass
class PoseSpec:
    file: Path
    fps: float
    skeleton: str
    joints: list[str]
    units: str
    offset: float = 0.0
    up: str = "y"
    joint_map: dict[str, str] | None = None


@dataclass
class VideoSpec:
    file: Path
    offset: float = 0.0
    duration: float | None = None


@dataclass
class RecordingSpec:
    """One recording as the manifest describes it; files are not read yet."""

    id: str  # "<dataset>/<id>"
    dataset: str
    subject: str | None
    trial: str | None
    labels: list[str]
    imu: list[ImuSpec] = field(default_factory=list)
    pose: PoseSpec | None = None
    video: VideoSpec | None = None
    text: list[Path] = field(default_factory=list)
    split: str | None = None

    def files(self) -> list[Path]:
        out = [f for s in self.imu for f in s.files]
        out += [s.file for s in (self.pose, self.video) if s is not None]
        return out + self.text


class _Where:
    """Builds BadInputs that point at the manifest and say which recording/stream is wrong."""

    def __init__(self, manifest: Path, rec_id: str, stream: str = ""):
        self.manifest, self.rec_id, self.stream = manifest, rec_id, stream

    def at(self, stream: str) -> _Where:
        return _Where(self.manifest, self.rec_id, stream)

    def error(self, reason: str) -> BadInput:
        prefix = f"recording {self.rec_id!r}" + (f", {self.stream}" if self.stream else "")
        return BadInput(str(self.manifest), f"{prefix}: {reason}")


def _text(value: Any) -> str | None:
    """A cell or TOML value as a stripped string; empty means absent."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _names(value: Any) -> list[str] | None:
    """A list, or a ";"-separated string, of names."""
    if value is None:
        return None
    items = value if isinstance(value, list) else str(value).split(";")
    names = [str(x).strip() for x in items if str(x).strip()]
    return names or None


def _number(value: Any) -> float:
    # bool is an int in Python; `rate = true` is a typo, not 1 Hz.
    try:
        return float(value) if value is not None and not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        return math.nan


def _positive(value: Any, what: str, where: _Where, unit: str = "Hz") -> float:
    number = _number(value)
    if not math.isfinite(number) or number <= 0:
        raise where.error(f"unknown {what} {value!r} (must be a positive number of {unit})")
    return number


def _offset(value: Any, where: _Where) -> float | None:
    """An `offset`: the recording time (s) of a stream's first sample, finite and not negative."""
    if _text(value) is None:
        return None
    number = _number(value)
    if not math.isfinite(number) or number < 0:
        raise where.error(f"offset {value!r} must be a number of seconds >= 0 "
                          "(the recording time of the stream's first sample)")
    return number


def _file(value: Any, root: Path, where: _Where) -> Path:
    name = _text(value)
    if name is None:
        raise where.error("no `file` given")
    path = Path(name).expanduser()
    return path if path.is_absolute() else root / path


def _unknown_keys(table: dict, known: set[str], where: _Where) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise where.error(f"unknown key(s) {extra}; known: {sorted(known)}")


def _tables(value: Any, where: _Where) -> list[dict]:
    """A sub-table given once ([recording.x]) or repeated ([[recording.x]])."""
    if value is None:
        return []
    tables = value if isinstance(value, list) else [value]
    if not all(isinstance(t, dict) for t in tables):
        raise where.error("must be a table with a `file` key")
    return tables


def _imu_spec(table: dict, root: Path, where: _Where) -> ImuSpec:
    _unknown_keys(table, STREAM_KEYS["imu"], where)
    names = _names(table.get("file"))
    if names is None:
        raise where.error("no `file` given")
    files = [_file(n, root, where) for n in names]
    where = where.at(f"{where.stream} ({', '.join(n for n in names)})")
    placement = _text(table.get("placement")) or "right_wrist"
    acc_unit = _text(table.get("acc_unit")) or "m/s^2"
    gyr_unit = _text(table.get("gyr_unit")) or "rad/s"
    try:
        placement = canonical_placement(placement)
    except ValueError as exc:
        raise where.error(str(exc)) from None
    if acc_unit.lower() not in ACC_UNITS:
        raise where.error(f"unknown acc_unit {acc_unit!r}; known: {', '.join(ACC_UNITS)}")
    if gyr_unit.lower() not in GYR_UNITS:
        raise where.error(f"unknown gyr_unit {gyr_unit!r}; known: {', '.join(GYR_UNITS)}")

    column, columns = _text(table.get("time_column")), _names(table.get("time_columns"))
    if column and columns:
        raise where.error("give `time_column` (one name for every file) or `time_columns` (one per file), not both")
    if column:
        columns = [column] * len(files)
    if columns is not None and len(columns) != len(files):
        raise where.error(f"{len(columns)} time_columns for {len(files)} files")
    unit = (_text(table.get("time_unit")) or "s").lower()
    if unit not in TIME_UNITS:
        raise where.error(f"unknown time_unit {unit!r}; known: {', '.join(TIME_UNITS)}")
    if columns is None:
        for key in ("time_unit", "max_gap"):
            if _text(table.get(key)) is not None:
                raise where.error(f"`{key}` given but no `time_column` (samples then come at `rate`)")
        rate = _positive(table.get("rate"), "rate", where)
    else:
        rate = _positive(table.get("rate"), "rate", where) if _text(table.get("rate")) else None
    max_gap = DEFAULT_MAX_GAP
    if _text(table.get("max_gap")) is not None:
        max_gap = _positive(table.get("max_gap"), "max_gap", where, "seconds")

    channels = _names(table.get("channels"))
    return ImuSpec(
        files=files,
        rate=rate,
        channels=[c.lower() for c in channels] if channels else None,
        placement=placement,
        acc_unit=acc_unit,
        gyr_unit=gyr_unit,
        time_columns=[c.lower() for c in columns] if columns else None,
        time_unit=unit,
        max_gap=max_gap,
        offset=_offset(table.get("offset"), where),
    )


def _joint_map(value: Any, where: _Where) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise where.error('joint_map must be a table of the file\'s joint names to canonical ones, '
                          'e.g. joint_map = { PELVIS = "pelvis", HEAD = "head" }')
    return {k.strip(): v.strip().lower() for k, v in value.items()}


def _pose_spec(table: dict, root: Path, where: _Where) -> PoseSpec:
    _unknown_keys(table, STREAM_KEYS["pose"], where)
    file = _file(table.get("file"), root, where)
    where = where.at(f"{where.stream} ({_text(table.get('file'))})")
    joint_map = _joint_map(table.get("joint_map"), where)
    skeleton = _text(table.get("skeleton")) or ("custom" if joint_map else "canonical")
    if joint_map is None and skeleton not in SKELETONS:
        raise where.error(f"unknown skeleton {skeleton!r}; known: {', '.join(SKELETONS)} "
                          "(or give a joint_map onto the canonical joints)")
    joints = _names(table.get("joints")) or DEFAULT_JOINTS.get(skeleton)
    if joints is None:
        if joint_map is not None:
            raise where.error("a joint_map needs `joints`: the file's joint names in column order")
        raise where.error(f"skeleton {skeleton!r} has no default joint order; list its `joints`")
    if joint_map is not None:
        try:
            apply_joint_map(list(joints), joint_map)
        except ValueError as exc:
            raise where.error(str(exc)) from None
    up = (_text(table.get("up")) or "y").lower()
    if up not in UP_AXES:
        raise where.error(f"unknown up axis {up!r}; known: {', '.join(UP_AXES)}")
    return PoseSpec(
        file=file,
        fps=_positive(table.get("fps"), "frame rate (fps)", where),
        skeleton=skeleton,
        joints=list(joints),
        units=_text(table.get("units")) or "m",
        offset=_offset(table.get("offset"), where) or 0.0,
        up=up,
        joint_map=joint_map,
    )


def _video_spec(table: dict, root: Path, where: _Where) -> VideoSpec:
    _unknown_keys(table, STREAM_KEYS["video"], where)
    duration = None
    if _text(table.get("duration")) is not None:
        duration = _number(table.get("duration"))
        if not 0 < duration <= MAX_DURATION:  # NaN fails too
            raise where.error(f"video duration must be a number of seconds between 0 and {MAX_DURATION:g}, "
                              f"got {table.get('duration')!r}")
    return VideoSpec(_file(table.get("file"), root, where), _offset(table.get("offset"), where) or 0.0, duration)


def recording_spec(raw: dict, root: Path, manifest: Path, default_dataset: str) -> RecordingSpec:
    """Check one recording's manifest entry (types, units, names) without reading its files."""
    rec_id = _text(raw.get("id")) or "?"
    where = _Where(manifest, rec_id)
    _unknown_keys(raw, RECORDING_KEYS, where)
    dataset = _text(raw.get("dataset")) or default_dataset
    spec = RecordingSpec(
        id=f"{dataset}/{rec_id}",
        dataset=dataset,
        subject=_text(raw.get("subject")),
        trial=_text(raw.get("trial")),
        labels=_names(raw.get("labels")) or [],
        split=_text(raw.get("split")),
    )
    for n, table in enumerate(_tables(raw.get("imu"), where.at("imu")), start=1):
        spec.imu.append(_imu_spec(table, root, where.at(f"imu #{n}")))
    poses = _tables(raw.get("pose"), where.at("pose"))
    videos = _tables(raw.get("video"), where.at("video"))
    if len(poses) > 1 or len(videos) > 1:
        raise where.error("a recording holds at most one pose stream and one video")
    if poses:
        spec.pose = _pose_spec(poses[0], root, where.at("pose"))
    if videos:
        spec.video = _video_spec(videos[0], root, where.at("video"))
    for table in _tables(raw.get("text"), where.at("text")):
        _unknown_keys(table, STREAM_KEYS["text"], where.at("text"))
        spec.text.append(_file(table.get("file"), root, where.at("text")))
    if not spec.files():
        raise where.error("has no stream (imu, pose, video or text); nothing to index")
    return spec


# ----------------------------------------------------------------------------- manifests


def _read_toml(manifest: Path) -> tuple[list[dict], str | None]:
    try:
        with open(manifest, "rb") as f:
            doc = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(str(manifest), f"not valid TOML ({exc})") from None
    extra = sorted(set(doc) - {"recording", "dataset", "allow_outside"})
    if extra:
        raise BadInput(str(manifest), f"unknown top-level key(s) {extra}; expected [[recording]] tables")
    if not isinstance(doc.get("allow_outside", False), bool):
        raise BadInput(str(manifest), "allow_outside must be true or false")
    records = doc.get("recording")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BadInput(str(manifest), "expected [[recording]] tables")
    return records, _text(doc.get("dataset"))


def _allows_outside(manifest: Path) -> bool:
    if manifest.suffix != ".toml":
        return False
    with open(manifest, "rb") as f:
        return tomllib.load(f).get("allow_outside") is True


def _outside(spec: RecordingSpec, root: Path) -> Path | None:
    """The first stream file of `spec` that lies outside `root` once links are resolved."""
    files = spec.files()
    inside = root.resolve()
    return next((f for f in files if not f.resolve().is_relative_to(inside)), None)


def _csv_row_to_table(row: dict[str, str]) -> dict:
    """A manifest.csv row -> the same shape as a TOML [[recording]] table."""
    cells = {k: v for k, v in row.items() if _text(v) is not None}
    table: dict[str, Any] = {k: cells[k] for k in ("id", "dataset", "subject", "trial", "split", "labels")
                             if k in cells}
    for stream in STREAM_KEYS:
        # Any imu_* cell makes an imu stream, so `imu_rate` without `imu_file` is reported, not lost.
        sub = {k[len(stream) + 1:]: v for k, v in cells.items() if k.startswith(stream + "_")}
        if sub:
            table[stream] = [sub] if stream == "imu" else sub
    return table


def _read_csv(manifest: Path) -> list[dict]:
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            raw_rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BadInput(str(manifest), f"not a readable CSV ({exc})") from None
    if not columns:
        raise BadInput(str(manifest), "manifest is empty (expected a header row starting with id)")
    if "id" not in columns:
        raise BadInput(str(manifest), f"no `id` column; columns are {columns}")
    extra = [c for c in columns if c not in CSV_COLUMNS]
    if extra:
        raise BadInput(str(manifest), f"unknown column(s) {extra}; known: {', '.join(CSV_COLUMNS)}")
    # DictReader files surplus cells under the key None and pads short rows with None.
    ragged = [n for n, row in enumerate(raw_rows, start=2) if None in row or None in row.values()]
    if ragged:
        raise BadInput(str(manifest), f"row(s) {ragged} do not have as many cells as the header")
    return [_csv_row_to_table({k.strip(): v for k, v in row.items()}) for row in raw_rows]


def find_manifest(path: Path) -> Path | None:
    path = Path(path)
    if path.is_file():
        return path if path.name in MANIFESTS else None
    found = [path / name for name in MANIFESTS if (path / name).is_file()]
    if len(found) > 1:
        raise BadInput(str(path), "holds both manifest.toml and manifest.csv; keep one")
    return found[0] if found else None


def read_manifest(path: Path) -> list[tuple[str, RecordingSpec | BadInput]]:
    """(record id, spec or the reason it is unusable) per recording, in manifest order.

    Raises BadInput for the manifest itself when it cannot be parsed, holds no recording, a
    recording has no id, or two recordings share an id.
    """
    return [(rec_id, spec) for rec_id, _, spec in _read_manifest(path)]


def _read_manifest(path: Path) -> list[tuple[str, dict, RecordingSpec | BadInput]]:
    """read_manifest, with each recording's raw table (its subject and split list it even when
    the rest of it is unusable)."""
    manifest = find_manifest(path)
    if manifest is None:
        raise BadInput(str(path), f"no {' or '.join(MANIFESTS)} here")
    if manifest.stat().st_size == 0:
        raise BadInput(str(manifest), "manifest is empty")
    root = manifest.parent
    if manifest.suffix == ".toml":
        raw, dataset = _read_toml(manifest)
    else:
        raw, dataset = _read_csv(manifest), None
    if not raw:
        raise BadInput(str(manifest), "manifest lists no recordings")
    default_dataset = dataset or root.resolve().name

    # Stream files stay inside the archive folder (`../x.csv` or a link out of it would read
    # whatever the manifest's author points at), unless the manifest says allow_outside = true.
    confined = not _allows_outside(manifest)
    out: list[tuple[str, dict, RecordingSpec | BadInput]] = []
    for n, table in enumerate(raw, start=1):
        rec_id = _text(table.get("id"))
        if rec_id is None:
            raise BadInput(str(manifest), f"recording #{n} has no id")
        full_id = f"{_text(table.get('dataset')) or default_dataset}/{rec_id}"
        try:
            spec = recording_spec(table, root, manifest, default_dataset)
            if confined and (escape := _outside(spec, root)) is not None:
                raise BadInput(str(escape), f"outside the archive folder {root.resolve()} (named in {manifest.name}; "
                                            "set allow_outside = true in manifest.toml to allow it)")
            out.append((full_id, table, spec))
        except BadInput as exc:
            out.append((full_id, table, exc))
    ids = [rec_id for rec_id, _, _ in out]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise BadInput(str(manifest), f"duplicate recording id(s) {duplicates}")
    return out


# ----------------------------------------------------------------------------- loading


def _existing(path: Path, what: str = "stream file") -> Path:
    if not path.is_file():
        raise BadInput(str(path), f"missing {what} (named in the manifest)")
    if path.stat().st_size == 0:
        raise BadInput(str(path), f"{what} is empty")
    return path


def _read_table(path: Path, time_column: str | None = None) -> tuple[list[str] | None, np.ndarray, list | None]:
    """(column names or None, float64 values, raw time column or None) from a CSV, Parquet or
    NPY file. The time column (by name, any case) is taken out of the values as it is, since
    it may be ISO text."""
    import polars as pl

    suffix = path.suffix.lower()
    if suffix == ".npy":
        return None, read_npy(path), None
    try:
        if suffix == ".csv":
            # Read as text and cast, so a stray word is reported by column instead of turning
            # the column into strings.
            df = pl.read_csv(path, infer_schema_length=0)
            df = df.select(pl.col(c).str.strip_chars() for c in df.columns)
        elif suffix in (".parquet", ".pq"):
            df = pl.read_parquet(path)
        else:
            raise BadInput(str(path), f"unknown IMU file type {suffix!r}; use .csv, .parquet or .npy")
        nulls = int(sum(df.null_count().row(0)))
        if nulls:
            raise BadInput(str(path), f"{nulls} empty cell(s)")
        times = None
        if time_column is not None:
            by_name = {c.strip().lower(): c for c in df.columns}
            if time_column not in by_name:
                raise BadInput(str(path), f"no time column {time_column!r}; columns are "
                                          f"{[c.strip() for c in df.columns]}")
            column = df[by_name[time_column]]
            if column.dtype.is_temporal():
                column = column.cast(pl.Utf8)  # ISO text; parse_times reads it with time_unit = "iso"
            times = column.to_list()
            df = df.drop(by_name[time_column])
        values = df.select(pl.all().cast(pl.Float64, strict=True)).to_numpy()
    except pl.exceptions.PolarsError as exc:
        raise BadInput(str(path), f"unreadable table ({str(exc).splitlines()[0]})") from None
    return [c.strip().lower() for c in df.columns], values, times


def read_npy(path: Path) -> np.ndarray:
    """A numeric .npy array as float64; BadInput naming the file otherwise (archives and
    query files alike)."""
    try:
        # Never unpickle: archives may come from anyone.
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, UnpicklingError...
        raise BadInput(str(path), f"not a readable .npy array ({exc})") from None
    if not np.issubdtype(array.dtype, np.number):
        raise BadInput(str(path), f"array holds {array.dtype}, not numbers")
    return np.asarray(array, dtype=np.float64)


def _pick_channels(path: Path, names: list[str] | None, data: np.ndarray, wanted: list[str] | None):
    """(channels, columns): named columns when the header has them all, else by position."""
    if data.ndim != 2:
        raise BadInput(str(path), f"IMU data must be 2-D (samples x channels), got shape {data.shape}")
    if wanted is None:
        if names is None:
            raise BadInput(str(path), "an .npy IMU file needs `channels` in the manifest")
        wanted = names
    if len(set(wanted)) != len(wanted):
        raise BadInput(str(path), f"repeated channel names {wanted}")
    if names is not None and set(wanted) <= set(names):
        # Lets a table carry extra columns (a timestamp, say) and any column order.
        return wanted, data[:, [names.index(c) for c in wanted]]
    if len(wanted) != data.shape[1]:
        header = f" ({', '.join(names)})" if names else ""
        raise BadInput(
            str(path), f"file has {data.shape[1]} columns{header} but {len(wanted)} channels are named {wanted}"
        )
    return wanted, data


@dataclass
class _Part:
    """One IMU file as read: its channels and, with a time column, its clock in seconds."""

    path: Path
    channels: list[str]
    data: np.ndarray
    times: np.ndarray | None


def _read_part(spec: ImuSpec, path: Path, time_column: str | None) -> _Part:
    path = _existing(path)
    several = len(spec.files) > 1
    names, values, raw_times = _read_table(path, time_column)
    wanted = [c for c in spec.channels if c != time_column] if spec.channels else None
    if names is None:  # .npy: `channels` names its columns in order, the time column included
        if several:
            raise BadInput(str(path), "the files of one sensor given as a list need a header naming their "
                                      "columns (.csv or .parquet), not .npy")
        if time_column is not None:
            if values.ndim != 2 or not spec.channels or time_column not in spec.channels:
                raise BadInput(str(path), f"time_column {time_column!r} must be one of `channels`, which name "
                                          "the .npy's columns in order")
            if len(spec.channels) != values.shape[1]:
                raise BadInput(str(path), f"file has {values.shape[1]} columns but `channels` names "
                                          f"{len(spec.channels)}: {spec.channels}")
            column = spec.channels.index(time_column)
            raw_times, values = values[:, column], np.delete(values, column, axis=1)
    elif several and wanted is not None:
        # Each file holds some of the listed channels.
        wanted = [c for c in wanted if c in names]
        if not wanted:
            raise BadInput(str(path), f"holds none of the channels {spec.channels}; its columns are {names}")
    channels, data = _pick_channels(path, names, values, wanted)
    times = parse_times(raw_times, spec.time_unit, str(path), epoch=True) if time_column is not None else None
    return _Part(path, channels, data, times)


def read_imu_parts(spec: ImuSpec) -> list[_Part]:
    """The files of one sensor, read and checked (channel names, units), not yet put on a grid."""
    columns = spec.time_columns or [None] * len(spec.files)
    parts = [_read_part(spec, path, column) for path, column in zip(spec.files, columns)]
    channels = [c for p in parts for c in p.channels]
    first = str(parts[0].path)
    twice = sorted({c for c in channels if channels.count(c) > 1})
    if twice:
        raise BadInput(first, f"channel(s) {twice} come from more than one of the files {[p.path.name for p in parts]}")
    if spec.channels is not None and len(parts) > 1:
        absent = [c for c in spec.channels if c not in channels and c not in (spec.time_columns or [])]
        if absent:
            raise BadInput(first, f"channel(s) {absent} are in none of the files {[p.path.name for p in parts]}")
    # A unit only converts acc_*/gyr_* columns; with other names it would silently do nothing.
    for prefix, unit, si in (("acc", spec.acc_unit, "m/s^2"), ("gyr", spec.gyr_unit, "rad/s")):
        if unit.lower() != si and not any(c.startswith(prefix) for c in channels):
            raise BadInput(first, f"{prefix}_unit {unit!r} given but no {prefix}_* channel in {channels}")
    for part in parts:
        unknown = [c for c in part.channels if c not in IMU_CHANNELS]
        if unknown:
            hint = (" (a time column? name it with time_column, or list the sensor columns in `channels`)"
                    if any("time" in c or c in ("t", "ts") for c in unknown) else "")
            raise BadInput(str(part.path), f"unknown channel name(s) {unknown}; known: {', '.join(IMU_CHANNELS)}{hint}")
    return parts


def _clock_start(spec: ImuSpec, parts: list[_Part]) -> float | None:
    """The first timestamp of a timestamped stream (None for one at a fixed rate)."""
    if spec.time_columns is None:
        return None
    starts = [float(p.times.min()) for p in parts if p.times is not None and len(p.times)]
    return min(starts) if starts else None


def imu_streams(spec: ImuSpec, parts: list[_Part], origin: float | None = None) -> list[ImuStream]:
    """One sensor's streams: one at a fixed rate, or one per gap-free segment of its clock.
    `origin` is the recording's time zero on that clock (default: the stream's first timestamp)."""
    channels = [c for p in parts for c in p.channels]
    source = str(parts[0].path)

    def stream(data: np.ndarray, rate: float, offset: float) -> ImuStream:
        made = ImuStream(data=imu_channels_to_si(data, channels, spec.acc_unit, spec.gyr_unit), rate=rate,
                         channels=channels, placement=spec.placement, source=source, offset=offset)
        check_imu_values(source, made.data, channels)  # after ImuStream has named any NaN
        return made

    if spec.time_columns is None:
        rows = {len(p.data) for p in parts}
        if len(rows) > 1:
            counts = ", ".join(f"{p.path.name}: {len(p.data)}" for p in parts)
            raise BadInput(source, f"the files of one sensor have different numbers of rows ({counts}); "
                                   "without time columns their rows must line up")
        made = stream(np.concatenate([p.data for p in parts], axis=1), spec.rate, spec.offset or 0.0)
        check_stream_length(source, len(made.data), made.rate)
        return [made]
    # With its own `offset`, a stream's first timestamp is at that recording time.
    start = _clock_start(spec, parts) if spec.offset is not None or origin is None else origin
    where = " + ".join(str(p.path) for p in parts)
    segments, notes = regularise([(p.times, p.data) for p in parts], where, rate=spec.rate, max_gap=spec.max_gap,
                                 origin=start, part_names=[str(p.path) for p in parts])
    for note in notes:
        log.warning(note)
    # Short pieces between clock gaps are kept (they are real samples); the sensor as a whole must
    # hold one stretch long enough to be a motion.
    longest = max(segments, key=lambda seg: len(seg.data))
    check_stream_length(where, len(longest.data), longest.rate)
    return [stream(seg.data, seg.rate, seg.offset + (spec.offset or 0.0)) for seg in segments]


def load_pose(spec: PoseSpec) -> PoseStream:
    path = _existing(spec.file)
    if path.suffix.lower() != ".npy":
        raise BadInput(str(path), "pose files must be .npy arrays (frames x joints x 2|3)")
    data = read_npy(path)
    if data.ndim == 3 and data.shape[2] == 2 and spec.units.lower() in IMAGE_UNITS:
        pass  # image coordinates have no metric scale to convert to
    else:
        try:
            data = length_to_si(data, spec.units)
        except ValueError as exc:
            raise BadInput(str(path), str(exc)) from None
    if data.ndim == 3 and data.shape[2] == 3:
        data = orient_up(data, spec.up)
    skeleton, joints = spec.skeleton, spec.joints
    if spec.joint_map is not None:
        if data.ndim != 3 or data.shape[1] != len(joints):
            raise BadInput(str(path), f"pose data of shape {data.shape} does not hold the {len(joints)} "
                                      "joints `joints` names (frames x joints x 2|3)")
        keep, joints, ignored = apply_joint_map(spec.joints, spec.joint_map)
        data, skeleton = data[:, keep], "canonical"
        if ignored:
            log.warning(f"{path}: {len(ignored)} joint(s) not in the joint_map are ignored: {', '.join(ignored)}")
        missing = missing_canonical_joints(set(joints))
        if missing:
            raise BadInput(str(path), f"the joint_map gives no {missing}, and they cannot be derived "
                                      "(pelvis comes from both hips, neck from both shoulders, chest from "
                                      "pelvis and neck); map them")
    pose = PoseStream(data=data, rate=spec.fps, skeleton=skeleton, joints=joints, source=str(path),
                      offset=spec.offset)
    try:
        # Fail here, naming the file, rather than later in a pose encoder.
        canonical_joint_positions(pose.data[:1], pose.skeleton, pose.joints)
    except BadInput as exc:
        raise BadInput(str(path), exc.reason) from None
    return pose


def load_video(spec: VideoSpec) -> VideoStream:
    path = _existing(spec.file, "video file")
    info = probe_video(path)  # the container header only: garbage bytes are named here, not indexed as a video
    return VideoStream(path=str(path), duration=spec.duration or info.duration, offset=spec.offset)


def _span(path: Path, where: str, row: Any) -> TextSpan:
    if not isinstance(row, dict):
        raise BadInput(str(path), f"{where}: expected an object with start, end, text")
    missing = [k for k in ("start", "end", "text") if row.get(k) in (None, "")]
    if missing:
        raise BadInput(str(path), f"{where}: missing {missing}")
    try:
        start, end = float(row["start"]), float(row["end"])
    except (TypeError, ValueError):
        raise BadInput(str(path), f"{where}: start/end must be numbers of seconds") from None
    if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
        raise BadInput(str(path), f"{where}: need 0 <= start <= end, got {start}..{end}")
    text = str(row["text"]).strip()
    if not text:
        raise BadInput(str(path), f"{where}: empty text")
    return TextSpan(start, end, text)


def load_text(path: Path) -> list[TextSpan]:
    path = _existing(path, "text file")
    suffix = path.suffix.lower()
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise BadInput(str(path), f"not UTF-8 text ({exc})") from None
    if suffix in (".jsonl", ".ndjson"):
        spans = []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(str(path), f"line {n}: not JSON ({exc.msg})") from None
            spans.append(_span(path, f"line {n}", row))
    elif suffix == ".csv":
        reader = csv.DictReader(lines)
        if not {"start", "end", "text"} <= set(reader.fieldnames or []):
            raise BadInput(str(path), f"text CSV needs columns start,end,text; has {reader.fieldnames}")
        spans = [_span(path, f"row {n}", row) for n, row in enumerate(reader, start=2)]
    else:
        raise BadInput(str(path), f"unknown text file type {suffix!r}; use .csv or .jsonl")
    if not spans:
        raise BadInput(str(path), "text file holds no spans")
    ordered = sorted(spans, key=lambda sp: (sp.start, sp.end))
    overlaps = sum(b.start < a.end for a, b in zip(ordered, ordered[1:]))
    if overlaps:  # kept (annotations may overlap), but said: a window takes the span covering most of it
        log.warning(f"{path}: {overlaps} text span(s) overlap the one before; each window is labelled with the "
                    "span covering most of it")
    return spans


def load_recording(spec: RecordingSpec) -> Recording:
    text = [span for path in spec.text for span in load_text(path)]
    parts = [read_imu_parts(s) for s in spec.imu]
    # Time zero is the earliest timestamp of the streams that have a clock and no offset of
    # their own, so sensors logging to separate files on one clock stay aligned.
    starts = [_clock_start(s, p) for s, p in zip(spec.imu, parts) if s.offset is None]
    starts = [t for t in starts if t is not None]
    origin = min(starts) if starts else None
    return Recording(
        id=spec.id,
        dataset=spec.dataset,
        subject=spec.subject,
        trial=spec.trial,
        labels=list(spec.labels),
        imu=[stream for s, p in zip(spec.imu, parts) for stream in imu_streams(s, p, origin)],
        pose=load_pose(spec.pose) if spec.pose else None,
        video=load_video(spec.video) if spec.video else None,
        text=sorted(text, key=lambda s: (s.start, s.end)),  # overlapping spans are all kept
        sources=[str(p) for p in spec.files()],
    )


# ----------------------------------------------------------------------------- importer API


def detect(path: Path) -> bool:
    try:
        return find_manifest(Path(path)) is not None
    except BadInput:
        return True  # it is an archive; discover will say what is wrong with it


def _raise(error: BadInput) -> Recording:
    raise error


def discover(path: Path) -> list[Entry]:
    """One Entry per manifest recording, in manifest order."""
    entries = []
    for rec_id, raw, spec in _read_manifest(Path(path)):
        # The listing tells subject and split, so a selection needs no file read.
        subject, split = _text(raw.get("subject")), _text(raw.get("split"))
        if isinstance(spec, BadInput):
            entries.append(Entry(id=rec_id, sources=[spec.path], load=partial(_raise, spec),
                                 subject=subject, split=split))
        else:
            entries.append(Entry(id=rec_id, sources=[str(p) for p in spec.files()],
                                 load=partial(load_recording, spec), subject=subject, split=split))
    return entries


# ----------------------------------------------------------------------------- example


def _example_pose(frames: int, fps: float, phase: float) -> np.ndarray:
    """(frames, 16, 3) canonical joints in metres: a person walking forward along +z."""
    rest = {
        "pelvis": (0, 1.0, 0), "chest": (0, 1.3, 0), "neck": (0, 1.5, 0), "head": (0, 1.65, 0),
        "left_shoulder": (0.18, 1.45, 0), "left_elbow": (0.2, 1.17, 0), "left_wrist": (0.22, 0.92, 0),
        "right_shoulder": (-0.18, 1.45, 0), "right_elbow": (-0.2, 1.17, 0), "right_wrist": (-0.22, 0.92, 0),
        "left_hip": (0.1, 0.95, 0), "left_knee": (0.1, 0.52, 0), "left_ankle": (0.1, 0.08, 0),
        "right_hip": (-0.1, 0.95, 0), "right_knee": (-0.1, 0.52, 0), "right_ankle": (-0.1, 0.08, 0),
    }
    t = np.arange(frames) / fps
    pose = np.tile(np.array([rest[j] for j in CANONICAL_JOINTS], dtype=np.float64), (frames, 1, 1))
    swing = 0.15 * np.sin(2 * np.pi * 1.0 * t + phase)
    for joint, sign, gain in (("wrist", 1, 1.0), ("elbow", 1, 0.5), ("ankle", -1, 1.0), ("knee", -1, 0.5)):
        pose[:, CANONICAL_JOINTS.index(f"left_{joint}"), 2] += sign * gain * swing
        pose[:, CANONICAL_JOINTS.index(f"right_{joint}"), 2] -= sign * gain * swing
    pose[:, :, 2] += 1.2 * t[:, None]  # walking forward at 1.2 m/s
    return pose


def _example_imu(samples: int, rate: float, phase: float) -> np.ndarray:
    """(samples, 6): acc in g (gravity on z) and gyro in deg/s of a swinging wrist."""
    t = np.arange(samples) / rate
    swing = np.sin(2 * np.pi * 1.0 * t + phase)
    acc = np.stack([0.3 * swing, 0.1 * np.cos(2 * np.pi * t), 1.0 + 0.05 * swing], axis=1)
    gyr = np.stack([90.0 * np.cos(2 * np.pi * t + phase), 10.0 * swing, np.zeros_like(t)], axis=1)
    return np.concatenate([acc, gyr], axis=1)


_EXAMPLE_TOML = """\
# A tiny example archive (see docs/archive-format.md).
dataset = "example"

[[recording]]
id = "walk_01"
subject = "s1"
split = "train"
labels = ["walk", "outdoor"]

[[recording.imu]]
file = "imu/walk_01.csv"
rate = 100
placement = "right_wrist"
acc_unit = "g"
gyr_unit = "deg/s"

[recording.pose]
file = "pose/walk_01.npy"
fps = 30
skeleton = "canonical"

[recording.text]
file = "text/walk_01.csv"

[[recording]]
id = "wave_01"
subject = "s2"
split = "test"
labels = "wave;greeting"

[[recording.imu]]
file = "imu/wave_01.csv"
rate = 100
placement = "left wrist"
acc_unit = "g"
gyr_unit = "deg/s"

[recording.pose]
file = "pose/wave_01.npy"
fps = 30

[recording.text]
file = "text/wave_01.jsonl"
"""

_EXAMPLE_CSV = """\
id,dataset,subject,split,labels,imu_file,imu_rate,imu_placement,imu_acc_unit,imu_gyr_unit,pose_file,pose_fps,pose_skeleton,text_file
walk_01,example,s1,train,walk;outdoor,imu/walk_01.csv,100,right_wrist,g,deg/s,pose/walk_01.npy,30,canonical,text/walk_01.csv
wave_01,example,s2,test,wave;greeting,imu/wave_01.csv,100,left wrist,g,deg/s,pose/wave_01.npy,30,,text/wave_01.jsonl
"""


def write_example(folder: Path, form: str = "toml") -> Path:
    """Write a tiny valid archive (two recordings) into `folder`; returns the manifest path.

    `form` is "toml" or "csv" (the same recordings either way: subjects s1 and s2, splits
    "train" and "test", a wrist IMU in g and deg/s at 100 Hz, a canonical pose, text spans).
    """
    if form not in ("toml", "csv"):
        raise ValueError(f"form must be 'toml' or 'csv', not {form!r}")
    folder = Path(folder)
    for sub in ("imu", "pose", "text"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    header = "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"
    for name, phase in (("walk_01", 0.0), ("wave_01", 1.0)):
        np.savetxt(folder / "imu" / f"{name}.csv", _example_imu(300, 100.0, phase),
                   delimiter=",", header=header, comments="", fmt="%.6f")
        np.save(folder / "pose" / f"{name}.npy", _example_pose(90, 30.0, phase).astype(np.float32))
    (folder / "text" / "walk_01.csv").write_text(
        'start,end,text\n0.0,1.5,"walks forward, arms swinging"\n1.5,3.0,keeps walking\n'
    )
    (folder / "text" / "wave_01.jsonl").write_text(
        json.dumps({"start": 0.0, "end": 2.0, "text": "waves with the left hand"}) + "\n"
        + json.dumps({"start": 2.0, "end": 3.0, "text": "lowers the arm"}) + "\n"
    )
    manifest = folder / f"manifest.{form}"
    manifest.write_text(_EXAMPLE_TOML if form == "toml" else _EXAMPLE_CSV)
    return manifest
