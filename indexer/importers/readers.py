"""The one reader of the stream files an archive and a query share.

A file means the same whether a manifest names it or a user drops it in as a query: both
describe it with an `ImuFileSpec` or a `PoseFileSpec`, and both read it here. Each spec is
declared once, as a dataclass whose fields carry the reading vocabulary (manifest keys, the
options of `query.read_imu` / `read_pose` and the command line's reading group are derived
from them), and built by one validator (`imu_file_spec`, `pose_file_spec`) from the values a
manifest or a caller gives.

Formats: IMU as .csv / .parquet tables (columns named by channel, an optional time column),
.npy (columns named by `channels`) or a UTD-MHAD inertial .mat (acc in g, gyro in deg/s,
50 Hz); pose as .npy (frames x joints x 2|3), .bvh (units measured from the rest pose unless
given) or a UTD-MHAD skeleton .mat (Kinect-20). Values are converted to m/s^2, rad/s and
metres, poses turned y-up, skeletons mapped onto the canonical joints through `joint_map`.
What a reading repairs (timestamps, joints a joint map ignores) is logged on the caller's
logger, one line per note naming the file.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from indexer import bounds
from indexer.bodyparts import (
    CANONICAL_JOINTS,
    COCO17_JOINTS,
    DEFAULT_PLACEMENT,
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
from indexer.importers import bvh
from indexer.importers.utd_mhad import IMU_RATE, read_mat, read_skeleton_frames
from indexer.model import ImuStream, PoseStream
from indexer.units import ACC_UNITS, GYR_UNITS, IMU6_CHANNELS, IMU_CHANNELS, imu_channels_to_si, length_to_si

log = logging.getLogger(__name__)

IMU_SUFFIXES = (".csv", ".parquet", ".pq", ".npy", ".mat")
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
POSE_SUFFIXES = (".npy", ".bvh", ".mat")
# Files that carry their own rate (and, for pose, their joints).
SELF_TIMED = (".mat", ".bvh")
# Skeletons whose joint order is fixed: the joints of a nameless array (.npy), by name or by count.
JOINT_ORDERS = {"canonical": CANONICAL_JOINTS, "kinect20": KINECT20_JOINTS, "coco17": COCO17_JOINTS}
_BY_COUNT = {len(joints): name for name, joints in JOINT_ORDERS.items()}
# Columns a table may hold besides its channels, left out unless named as the time column.
TIME_NAMES = ("t", "time", "timestamp")
# 2-D keypoints are often in pixels or normalised image coordinates; those are left as they are.
IMAGE_UNITS = ("px", "pixels", "normalized", "normalised")
LENGTH_UNITS = ("m", "cm", "mm")  # the command line's choice; a manifest may also say `in`


# ----------------------------------------------------------------------------- the vocabulary


def _option(default: Any = None, help: str = "", *, keys: tuple[str, ...] = (), option: str | None = None,
            cli: dict | None = None, csv: bool = True) -> Any:
    """A spec field. `keys`: its manifest keys (default its name); `option`: its name among the
    query readers' keyword options and on the command line (None: not an option there); `cli`:
    argparse keywords of that option (with `help`); `csv`: whether manifest.csv has a column."""
    meta = {"keys": keys, "option": option, "cli": cli, "help": help, "csv": csv}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


_RATE_HELP = "in Hz (with --time-column: the rate to resample to; default the clock's median rate)"


@dataclass
class ImuFileSpec:
    """One sensor's file, or several files of one sensor (acc in one, gyro in another)."""

    files: list[Path] = _option([], keys=("file",))
    rate: float | None = _option(None, _RATE_HELP, option="rate", cli={"type": bounds.rate, "metavar": "HZ"})
    time_columns: list[str] | None = _option(
        None, "IMU table column holding each sample's time, instead of --rate: irregular or bursty samples are "
              "put on a uniform grid; a column named t, time or timestamp is otherwise ignored",
        keys=("time_column", "time_columns"), option="time_column", cli={"metavar": "NAME"})
    time_unit: str = _option(
        "s", "unit of --time-column: s, ms, us, ns, or iso for ISO 8601 text (default s)",
        option="time_unit", cli={"choices": list(TIME_UNITS)})
    max_gap: float = _option(
        DEFAULT_MAX_GAP, f"seconds without a sample that count as a gap (default {DEFAULT_MAX_GAP:g}); a query with "
                         "gaps uses its longest gap-free part and says so on stderr",
        option="max_gap", cli={"type": bounds.bounded(0.001, MAX_DURATION), "metavar": "S"})
    placement: str = _option(
        DEFAULT_PLACEMENT, "where each IMU was worn, e.g. right_wrist, left_ankle, pelvis, chest (aliases such as "
                           f"'wrist' or 'lower back' work); one per IMU file, comma-separated (default {DEFAULT_PLACEMENT})",
        option="placement", cli={"metavar": "PART[,PART...]"})
    channels: list[str] | None = _option(
        None, "channel names of an IMU .npy's columns (or, in order, a table's), from acc_x acc_y acc_z gyr_x gyr_y "
              "gyr_z mag_x mag_y mag_z quat_w quat_x quat_y quat_z; a table's columns are otherwise matched by their "
              "names, and any subset (acc only, say) is fine",
        option="channels", cli={"metavar": "A,B,..."})
    acc_unit: str = _option("m/s^2", "accelerometer unit of the file: m/s^2, g or mg (default m/s^2)",
                            option="acc_unit", cli={})
    gyr_unit: str = _option("rad/s", "gyroscope unit of the file: rad/s or deg/s (default rad/s)",
                            option="gyr_unit", cli={})
    offset: float | None = _option(None)  # recording time of the first sample; None: from the clocks (or 0)

    @property
    def file(self) -> Path:
        return self.files[0]


@dataclass
class PoseFileSpec:
    """One pose file."""

    file: Path | None = _option(None)
    fps: float | None = _option(None, option="rate")  # None: the file's own (.bvh, .mat)
    skeleton: str | None = _option(
        None, "skeleton of a pose .npy: kinect20, coco17, canonical, cmu-bvh, ... (default: by joint count: "
              "20 Kinect, 17 COCO, 16 canonical)", option="skeleton", cli={})
    joints: list[str] | None = _option(
        None, "the joint names of a pose .npy, comma-separated in column order (for --joint-map or a skeleton "
              "without a known joint count)", option="joints", cli={"metavar": "A,B,..."})
    joint_map: dict[str, str] | None = _option(
        None, "for a skeleton the engine does not know: which of the file's joints is which canonical joint, as a "
              "JSON object, a .json file, or pairs like PELVIS=pelvis,HEAD=head; the canonical joints are pelvis "
              "chest neck head and left_/right_ shoulder elbow wrist hip knee ankle (chest, neck and pelvis can be "
              "left out when their neighbours are mapped)",
        option="joint_map", cli={"metavar": "MAP"}, csv=False)
    units: str | None = _option(
        None, "length unit of 3-D pose positions (default m; a .bvh's is measured from its rest pose)",
        option="units", cli={"choices": LENGTH_UNITS})
    up: str = _option(
        "y", "axis of the pose file that points up (default y; -y for camera coordinates such as Azure Kinect's, "
             "z for most mocap exports)", option="up", cli={"choices": UP_AXES})
    offset: float = _option(0.0)  # recording time of the first frame


SPECS = {"imu": ImuFileSpec, "pose": PoseFileSpec}


def manifest_keys(kind: str, csv: bool = False) -> list[str]:
    """The manifest keys of a stream kind ("imu", "pose"), in declaration order (`csv`: those
    manifest.csv has columns for)."""
    return [key for f in fields(SPECS[kind]) if not csv or f.metadata["csv"]
            for key in (f.metadata["keys"] or (f.name,))]


def read_options(kind: str) -> tuple[str, ...]:
    """The keyword options of the query reader of `kind` (query.read_imu / read_pose)."""
    return tuple(f.metadata["option"] for f in fields(SPECS[kind]) if f.metadata["option"])


def add_reading_options(group: argparse._ArgumentGroup, rate: str) -> None:
    """The command line's reading options, one per option of both readers (`rate`: what --rate
    is in this command). Unset options are None, so the spec's defaults apply."""
    seen = set()
    for f in (f for spec in SPECS.values() for f in fields(spec)):
        name, cli = f.metadata["option"], f.metadata["cli"]
        if cli is None or name in seen:
            continue
        seen.add(name)
        help_ = f"{rate}, {f.metadata['help']}" if name == "rate" else f.metadata["help"]
        group.add_argument("--" + name.replace("_", "-"), help=help_, **cli)


def options_from_args(args: argparse.Namespace, kind: str) -> dict:
    """The reader options of `kind` that the command line gave (the others stay unset)."""
    return {name: getattr(args, name) for name in read_options(kind) if getattr(args, name, None) is not None}


# ----------------------------------------------------------------------------- values -> specs


def text(value: Any) -> str | None:
    """A cell, TOML value or option as a stripped string; empty means absent."""
    if value is None:
        return None
    out = str(value).strip()
    return out or None


def names(value: Any, seps: str = ";,") -> list[str] | None:
    """A list, or a string separated by any of `seps`, of names; None when there are none."""
    if value is None:
        return None
    items = value if isinstance(value, (list, tuple)) else re.split(f"[{re.escape(seps)}]", str(value))
    out = [str(x).strip() for x in items if str(x).strip()]
    return out or None


def number(value: Any) -> float:
    # bool is an int in Python; `rate = true` is a typo, not 1 Hz.
    try:
        return float(value) if value is not None and not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        return math.nan


def positive(value: Any, what: str, unit: str = "Hz") -> float:
    out = number(value)
    if not math.isfinite(out) or out <= 0:
        raise ValueError(f"unknown {what} {value!r} (must be a positive number of {unit})")
    return out


def offset(value: Any) -> float | None:
    """An `offset`: the recording time (s) of a stream's first sample, finite and not negative."""
    if text(value) is None:
        return None
    out = number(value)
    if not math.isfinite(out) or out < 0:
        raise ValueError(f"offset {value!r} must be a number of seconds >= 0 "
                         "(the recording time of the stream's first sample)")
    return out


def parse_joint_map(value: str | dict | None) -> dict[str, str] | None:
    """A joint map from the file's joint names to canonical ones: a dict (a TOML table), a JSON
    object (inline or a .json file), or "a=b,c=d" pairs. ValueError in one line otherwise."""
    if value is None or isinstance(value, dict):
        mapping = value
    elif isinstance(value, str):
        raw = value.strip()
        if raw.lower().endswith(".json") and Path(raw).is_file():
            raw = Path(raw).read_text(encoding="utf-8")
        if raw.startswith("{"):
            try:
                mapping = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"joint map is not valid JSON ({exc})") from None
        else:
            pairs = [p.strip() for p in raw.split(",") if p.strip()]
            bad = [p for p in pairs if p.count("=") != 1 or not all(s.strip() for s in p.split("="))]
            if bad or not pairs:
                raise ValueError(f"joint map {value!r}: expected a JSON object or FILE_NAME=canonical_name pairs "
                                 f"separated by commas (e.g. PELVIS=pelvis,HEAD=head); cannot read {bad or [raw]}")
            mapping = dict(tuple(s.strip() for s in p.split("=")) for p in pairs)
    else:
        mapping = value
    if mapping is None:
        return None
    if not isinstance(mapping, dict) or not mapping or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ValueError("joint_map must map the file's joint names (text) to canonical ones (text), "
                         'e.g. joint_map = { PELVIS = "pelvis", HEAD = "head" } or PELVIS=pelvis,HEAD=head')
    return {k.strip(): v.strip().lower() for k, v in mapping.items()}


def _manifest_name(key: str) -> str:
    return f"`{key}`"


def imu_file_spec(values: Mapping[str, Any], files: list[Path],
                  say: Callable[[str], str] = _manifest_name) -> ImuFileSpec:
    """Check an IMU file's reading values (manifest keys; None or absent: not given) without
    reading the files. ValueError in one line naming what is wrong; `say` names a key the way
    the caller's user gave it (a manifest key, a command-line option)."""
    placement = text(values.get("placement")) or DEFAULT_PLACEMENT
    acc_unit = text(values.get("acc_unit")) or "m/s^2"
    gyr_unit = text(values.get("gyr_unit")) or "rad/s"
    placement = canonical_placement(placement)
    if acc_unit.lower() not in ACC_UNITS:
        raise ValueError(f"unknown acc_unit {acc_unit!r}; known: {', '.join(ACC_UNITS)}")
    if gyr_unit.lower() not in GYR_UNITS:
        raise ValueError(f"unknown gyr_unit {gyr_unit!r}; known: {', '.join(GYR_UNITS)}")
    column, columns = text(values.get("time_column")), names(values.get("time_columns"))
    if column and columns:
        raise ValueError("give `time_column` (one name for every file) or `time_columns` (one per file), not both")
    if column:
        columns = [column] * len(files)
    if columns is not None and len(columns) != len(files):
        raise ValueError(f"{len(columns)} time_columns for {len(files)} files")
    unit = (text(values.get("time_unit")) or "s").lower()
    if unit not in TIME_UNITS:
        raise ValueError(f"unknown time_unit {unit!r}; known: {', '.join(TIME_UNITS)}")
    suffix = files[0].suffix.lower() if files else ""
    if columns is not None and suffix not in TABLE_SUFFIXES + (".npy",):
        raise ValueError(f"a time column can only be read from a .csv, .parquet or .npy file, not {suffix!r}")
    given_rate = text(values.get("rate")) is not None
    if columns is None:
        for key in ("time_unit", "max_gap"):
            if text(values.get(key)) is not None:
                raise ValueError(f"{say(key)} given but no {say('time_column')} (samples then come at "
                                 f"{say('rate')})")
        if not given_rate and suffix not in SELF_TIMED:
            hint = f", or the column holding timestamps ({say('time_column')}, with {say('time_unit')})" \
                if suffix in TABLE_SUFFIXES else ""
            raise ValueError(f"unknown rate None: give the IMU sample rate in Hz ({say('rate')}){hint}")
    rate = positive(values.get("rate"), "rate") if given_rate else None
    max_gap = DEFAULT_MAX_GAP
    if text(values.get("max_gap")) is not None:
        max_gap = positive(values.get("max_gap"), "max_gap", "seconds")
    channels = names(values.get("channels"))
    return ImuFileSpec(
        files=list(files),
        rate=rate,
        channels=[c.lower() for c in channels] if channels else None,
        placement=placement,
        acc_unit=acc_unit,
        gyr_unit=gyr_unit,
        time_columns=[c.lower() for c in columns] if columns else None,
        time_unit=unit,
        max_gap=max_gap,
        offset=offset(values.get("offset")),
    )


def pose_file_spec(values: Mapping[str, Any], file: Path, say: Callable[[str], str] = _manifest_name,
                   default_skeleton: str | None = None) -> PoseFileSpec:
    """Check a pose file's reading values (manifest keys, as `imu_file_spec`) without reading
    it. `default_skeleton`: the skeleton of a nameless array (.npy) with no `skeleton` and no
    joint map (None: told by its joint count once read)."""
    suffix = file.suffix.lower()
    joint_map = parse_joint_map(values.get("joint_map"))
    skeleton = text(values.get("skeleton"))
    if joint_map is None and skeleton is None and suffix == ".npy":
        skeleton = default_skeleton
    if joint_map is None and skeleton is not None and skeleton not in SKELETONS:
        raise ValueError(f"unknown skeleton {skeleton!r}; known: {', '.join(SKELETONS)} "
                         "(or give a joint_map onto the canonical joints)")
    joints = names(values.get("joints"))
    if joints is None and suffix not in SELF_TIMED:
        if joint_map is not None:
            raise ValueError(f"a joint_map needs {say('joints')}: the file's joint names in column order")
        if skeleton is not None and skeleton not in JOINT_ORDERS:
            raise ValueError(f"skeleton {skeleton!r} has no default joint order; list its {say('joints')}")
    if joint_map is not None and joints is not None:
        apply_joint_map(list(joints), joint_map)
    up = (text(values.get("up")) or "y").lower()
    if up not in UP_AXES:
        raise ValueError(f"unknown up axis {up!r}; known: {', '.join(UP_AXES)}")
    fps = None
    if text(values.get("fps")) is not None or suffix not in SELF_TIMED:
        if text(values.get("fps")) is None:
            raise ValueError(f"unknown frame rate (fps) None: give the pose frame rate in Hz ({say('fps')})")
        fps = positive(values.get("fps"), "frame rate (fps)")
    return PoseFileSpec(
        file=file,
        fps=fps,
        skeleton=skeleton if joint_map is None else skeleton or "custom",
        joints=list(joints) if joints else None,
        joint_map=joint_map,
        units=text(values.get("units")),
        up=up,
        offset=offset(values.get("offset")) or 0.0,
    )


# ----------------------------------------------------------------------------- tables and arrays


def read_npy(path: Path) -> np.ndarray:
    """A numeric .npy array as float64; BadInput naming the file otherwise."""
    try:
        # Never unpickle: archives and query files may come from anyone.
        array = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, UnpicklingError...
        raise BadInput(str(path), f"not a readable .npy array ({exc})") from None
    if not np.issubdtype(array.dtype, np.number):
        raise BadInput(str(path), f"array holds {array.dtype}, not numbers")
    return np.asarray(array, dtype=np.float64)


def read_table(path: Path, time_column: str | None = None) -> tuple[list[str] | None, np.ndarray, list | None]:
    """(column names or None, float64 values, raw time column or None) from a CSV, Parquet or
    NPY file. The time column (by name, any case) is taken out of the values as it is, since
    it may be ISO text; without one, columns named t, time or timestamp are left out."""
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
            raise BadInput(str(path), f"unknown IMU file type {suffix!r}; use .csv, .parquet, .npy or .mat")
    except pl.exceptions.PolarsError as exc:
        raise BadInput(str(path), f"unreadable table ({str(exc).splitlines()[0]})") from None
    nulls = int(sum(df.null_count().row(0)))
    if nulls:
        raise BadInput(str(path), f"{nulls} empty cell(s)")
    by_name = {c.strip().lower(): c for c in df.columns}
    times = None
    if time_column is not None:
        if time_column not in by_name:
            raise BadInput(str(path), f"no time column {time_column!r}; columns are {[c.strip() for c in df.columns]}")
        column = df[by_name[time_column]]
        if column.dtype.is_temporal():
            column = column.cast(pl.Utf8)  # ISO text; parse_times reads it with time_unit = "iso"
        times = column.to_list()
        df = df.drop(by_name[time_column])
    else:
        df = df.drop([by_name[n] for n in TIME_NAMES if n in by_name])
    try:
        # Cast every column instead of keeping the numeric ones: dropping a column holding a
        # stray word would silently shift the channels.
        values = df.select(pl.all().cast(pl.Float64, strict=True)).to_numpy()
    except pl.exceptions.PolarsError as exc:
        raise BadInput(str(path), f"non-numeric values ({str(exc).splitlines()[0]})") from None
    return [c.strip().lower() for c in df.columns], values, times


# ----------------------------------------------------------------------------- IMU


@dataclass
class ImuPart:
    """One IMU file as read: its channels and, with a time column, its clock in seconds."""

    path: Path
    channels: list[str]
    data: np.ndarray
    times: np.ndarray | None
    acc_unit: str
    gyr_unit: str


def _pick_channels(path: Path, names_: list[str] | None, data: np.ndarray, wanted: list[str] | None):
    """(channels, columns): named columns when the header has them all, else by position."""
    if data.ndim != 2:
        raise BadInput(str(path), f"IMU data must be 2-D (samples x channels), got shape {data.shape}")
    if wanted is None:
        if names_ is None:
            raise BadInput(str(path), "an .npy IMU file needs `channels` (the names of its columns, in order)")
        wanted = names_
    if len(set(wanted)) != len(wanted):
        raise BadInput(str(path), f"repeated channel names {wanted}")
    if names_ is not None and set(wanted) <= set(names_):
        # Lets a table carry extra columns (a counter, say) and any column order.
        return wanted, data[:, [names_.index(c) for c in wanted]]
    if len(wanted) != data.shape[1]:
        header = f" ({', '.join(names_)})" if names_ else ""
        raise BadInput(
            str(path), f"file has {data.shape[1]} columns{header} but {len(wanted)} channels are named {wanted}"
        )
    return wanted, data


def _read_part(spec: ImuFileSpec, path: Path, time_column: str | None) -> ImuPart:
    several = len(spec.files) > 1
    acc_unit, gyr_unit = spec.acc_unit, spec.gyr_unit
    if path.suffix.lower() == ".mat":  # UTD-MHAD inertial: its own channels, units and rate
        data = read_mat(path, "d_iner")
        if data.ndim != 2 or data.shape[1] != len(IMU6_CHANNELS):
            raise BadInput(str(path), f"expected d_iner of shape (samples, 6), got {data.shape}")
        return ImuPart(path, list(IMU6_CHANNELS), data, None, "g", "deg/s")
    names_, values, raw_times = read_table(path, time_column)
    wanted = [c for c in spec.channels if c != time_column] if spec.channels else None
    if names_ is None:  # .npy: `channels` names its columns in order, the time column included
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
        wanted = [c for c in wanted if c in names_]
        if not wanted:
            raise BadInput(str(path), f"holds none of the channels {spec.channels}; its columns are {names_}")
    channels, data = _pick_channels(path, names_, values, wanted)
    times = parse_times(raw_times, spec.time_unit, str(path), epoch=True) if time_column is not None else None
    return ImuPart(path, channels, data, times, acc_unit, gyr_unit)


def read_imu_parts(spec: ImuFileSpec) -> list[ImuPart]:
    """The files of one sensor, read and checked (channel names, units), not yet put on a grid.
    The files are expected to exist (each caller says in its own words when one does not)."""
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
            raise BadInput(str(part.path), f"unknown channel name(s) {unknown}; known: {', '.join(IMU_CHANNELS)} "
                                           "(rename the columns, name them in order with `channels`, or name "
                                           "a time column with `time_column`)")
    return parts


def clock_start(spec: ImuFileSpec, parts: list[ImuPart]) -> float | None:
    """The first timestamp of a timestamped stream (None for one at a fixed rate)."""
    if spec.time_columns is None:
        return None
    starts = [float(p.times.min()) for p in parts if p.times is not None and len(p.times)]
    return min(starts) if starts else None


def imu_streams(spec: ImuFileSpec, parts: list[ImuPart], origin: float | None = None,
                notes_to: logging.Logger = log) -> list[ImuStream]:
    """One sensor's streams: one at a fixed rate, or one per gap-free segment of its clock.
    `origin` is the recording's time zero on that clock (default: the stream's first timestamp)."""
    channels = [c for p in parts for c in p.channels]
    source = str(parts[0].path)
    acc_unit, gyr_unit = parts[0].acc_unit, parts[0].gyr_unit

    def stream(data: np.ndarray, rate: float, start: float) -> ImuStream:
        made = ImuStream(data=imu_channels_to_si(data, channels, acc_unit, gyr_unit), rate=rate,
                         channels=channels, placement=spec.placement, source=source, offset=start)
        check_imu_values(source, made.data, channels)  # after ImuStream has named any NaN
        return made

    if spec.time_columns is None:
        rows = {len(p.data) for p in parts}
        if len(rows) > 1:
            counts = ", ".join(f"{p.path.name}: {len(p.data)}" for p in parts)
            raise BadInput(source, f"the files of one sensor have different numbers of rows ({counts}); "
                                   "without time columns their rows must line up")
        rate = spec.rate or (IMU_RATE if parts[0].path.suffix.lower() == ".mat" else None)
        if rate is None:
            raise BadInput(source, "unknown rate: give the IMU sample rate in Hz")
        made = stream(np.concatenate([p.data for p in parts], axis=1), rate, spec.offset or 0.0)
        check_stream_length(source, len(made.data), made.rate)
        return [made]
    # With its own `offset`, a stream's first timestamp is at that recording time.
    start = clock_start(spec, parts) if spec.offset is not None or origin is None else origin
    where = " + ".join(str(p.path) for p in parts)
    segments, notes = regularise([(p.times, p.data) for p in parts], where, rate=spec.rate, max_gap=spec.max_gap,
                                 origin=start, part_names=[str(p.path) for p in parts])
    for note in notes:
        notes_to.warning(note)
    # Short pieces between clock gaps are kept (they are real samples); the sensor as a whole must
    # hold one stretch long enough to be a motion.
    longest = max(segments, key=lambda seg: len(seg.data))
    check_stream_length(where, len(longest.data), longest.rate)
    return [stream(seg.data, seg.rate, seg.offset + (spec.offset or 0.0)) for seg in segments]


def read_imu(spec: ImuFileSpec, notes_to: logging.Logger = log) -> list[ImuStream]:
    """The streams of one sensor's file(s): one, or one per gap-free part of a clock."""
    return imu_streams(spec, read_imu_parts(spec), notes_to=notes_to)


# ----------------------------------------------------------------------------- pose


def utd_skeleton_rate(path: Path, frames: int) -> float:
    """UTD-MHAD's Kinect dropped frames, so a skeleton is timed by its inertial clip (the frames
    spread evenly over it, as the UTD-MHAD importer does) when that file sits in the dataset's
    layout; a lone skeleton file gets the nominal 20 fps."""
    inertial = path.parent.parent / "inertial" / path.name.replace("_skeleton.mat", "_inertial.mat")
    if inertial != path and inertial.exists():
        try:
            return frames / (read_mat(inertial, "d_iner").shape[0] / IMU_RATE)
        except BadInput:
            pass  # an unreadable neighbour says nothing about this file's timing
    return 20.0


def _guess_skeleton(data: np.ndarray, joints: list[str], where: str) -> str:
    """The known skeleton whose joint names these are (enough of them to map every canonical joint)."""
    for name in SKELETONS:
        try:
            canonical_joint_positions(data[:1], name, joints)
            return name
        except BadInput:
            continue
    raise BadInput(where, f"joints {joints} are not a skeleton this reader knows ({', '.join(SKELETONS)}); "
                          "map them onto canonical joints with a joint map")


def pose_stream(data: np.ndarray, rate: float, skeleton: str | None = None, joints: list[str] | None = None,
                joint_map: dict[str, str] | None = None, units: str | None = None, up: str = "y",
                source: str = "array", offset: float = 0.0, notes_to: logging.Logger = log) -> PoseStream:
    """A pose clip (T, J, 2|3) as a stream: metres, y up, and mapped onto the canonical joints
    when `joint_map` is given. `joints` default to `skeleton`'s order, else to the Kinect-20,
    COCO-17 or canonical-16 names by joint count."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 3 or data.shape[2] not in (2, 3):
        raise BadInput(source, f"pose data must be (frames, joints, 2|3), got shape {data.shape}")
    if not (data.shape[2] == 2 and (units or "").lower() in IMAGE_UNITS):  # image coordinates: no metric scale
        try:
            data = length_to_si(data, units or "m")
        except ValueError as exc:
            raise BadInput(source, str(exc)) from None
    try:
        data = orient_up(data, up)
    except ValueError as exc:
        raise BadInput(source, str(exc)) from None
    if joints is None:
        name = skeleton if skeleton in JOINT_ORDERS else _BY_COUNT.get(data.shape[1])
        if name is None or (skeleton is not None and skeleton != name) or joint_map is not None:
            why = "a joint map names the file's joints" if joint_map is not None else \
                f"{data.shape[1]} joints are not a skeleton this reader knows (20 Kinect, 17 COCO, 16 canonical)"
            raise BadInput(source, f"{why}: give the joint names in column order")
        skeleton, joints = skeleton or name, list(JOINT_ORDERS[name])
    joints = list(joints)
    if joint_map is not None:
        if data.shape[1] != len(joints):
            raise BadInput(source, f"pose data of shape {data.shape} does not hold the {len(joints)} joints "
                                   "`joints` names (frames x joints x 2|3)")
        try:
            keep, joints, ignored = apply_joint_map(joints, joint_map)
        except ValueError as exc:
            raise BadInput(source, str(exc)) from None
        data, skeleton = data[:, keep], "canonical"
        if ignored:
            notes_to.warning(f"{source}: {len(ignored)} joint(s) not in the joint_map are ignored: {', '.join(ignored)}")
        missing = missing_canonical_joints(set(joints))
        if missing:
            raise BadInput(source, f"the joint_map gives no {missing}: the mapped skeleton lacks canonical joints "
                                   "that cannot be derived (pelvis comes from both hips, neck from both shoulders, "
                                   "chest from pelvis and neck); map them")
    if skeleton is None and data.shape[1] == len(joints):
        skeleton = _guess_skeleton(data, joints, source)
    pose = PoseStream(data=data, rate=float(rate), skeleton=skeleton or "canonical", joints=joints, source=source,
                      offset=offset)
    try:
        # Fail here, naming the file, rather than later in a pose encoder.
        canonical_joint_positions(pose.data[:1], pose.skeleton, pose.joints)
    except BadInput as exc:
        raise BadInput(source, exc.reason + "; map them with a joint map") from None
    return pose


def read_pose(spec: PoseFileSpec, notes_to: logging.Logger = log) -> PoseStream:
    """The pose stream of a .npy, .bvh or UTD-MHAD skeleton .mat file."""
    path = spec.file
    suffix = path.suffix.lower()
    skeleton, joints, units, rate = spec.skeleton, spec.joints, spec.units, spec.fps
    if suffix == ".npy":
        data = read_npy(path)
    elif suffix == ".mat":
        data = read_skeleton_frames(path)
        rate = rate or utd_skeleton_rate(path, len(data))
        if spec.joint_map is None:
            skeleton = skeleton or "kinect20"
        joints = joints or list(KINECT20_JOINTS)
    elif suffix == ".bvh":
        try:
            motion = bvh.parse_bvh(path, units or bvh.DEFAULT_UNITS)
        except ValueError as exc:
            raise BadInput(str(path), str(exc)) from None
        data, rate, units = motion.positions, rate or motion.rate, None
        file_skeleton = bvh.skeleton_for(path, motion)
        if spec.joint_map is None and joints is None:
            skeleton = skeleton or file_skeleton
        joints = joints or motion.joint_names
    else:
        raise BadInput(str(path), f"unknown pose file type {suffix!r}; use .npy, .bvh or .mat")
    if rate is None:
        raise BadInput(str(path), "unknown rate: give the pose frame rate in Hz")
    return pose_stream(data, rate, skeleton, joints, spec.joint_map, units, spec.up, str(path), spec.offset,
                       notes_to=notes_to)
