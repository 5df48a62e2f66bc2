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
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

from indexer.bounds import MAX_DURATION
from indexer.errors import BadInput
from indexer.importers import readers
from indexer.importers.readers import ImuFileSpec, PoseFileSpec, names, number, text
from indexer.model import Entry, ImuStream, PoseStream, Recording, TextSpan, VideoStream
from indexer.video import probe_video

log = logging.getLogger(__name__)

MANIFESTS = ("manifest.toml", "manifest.csv")


@dataclass
class VideoSpec:
    file: Path
    offset: float = 0.0
    duration: float | None = None


RECORDING_KEYS = {"id", "dataset", "subject", "trial", "split", "labels", "imu", "pose", "video", "text"}
# Each stream's keys are its spec's fields (indexer.importers.readers declares the IMU and pose ones).
STREAM_KEYS = {
    "imu": set(readers.manifest_keys("imu")),
    "pose": set(readers.manifest_keys("pose")),
    "video": {f.name for f in fields(VideoSpec)},
    "text": {"file"},
}
CSV_COLUMNS = ["id", "dataset", "subject", "trial", "split", "labels"] + [
    f"{stream}_{key}" for stream, keys in (("imu", readers.manifest_keys("imu", csv=True)),
                                           ("pose", readers.manifest_keys("pose", csv=True)),
                                           ("video", [f.name for f in fields(VideoSpec)]), ("text", ["file"]))
    for key in keys]


# ----------------------------------------------------------------------------- specs


@dataclass
class RecordingSpec:
    """One recording as the manifest describes it; files are not read yet."""

    id: str  # "<dataset>/<id>"
    dataset: str
    subject: str | None
    trial: str | None
    labels: list[str]
    imu: list[ImuFileSpec] = field(default_factory=list)
    pose: PoseFileSpec | None = None
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


def _file(value: Any, root: Path, where: _Where) -> Path:
    name = text(value)
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


def _imu_spec(table: dict, root: Path, where: _Where) -> ImuFileSpec:
    _unknown_keys(table, STREAM_KEYS["imu"], where)
    files = names(table.get("file"), ";")
    if files is None:
        raise where.error("no `file` given")
    where = where.at(f"{where.stream} ({', '.join(files)})")
    paths = [_file(n, root, where) for n in files]
    try:
        return readers.imu_file_spec(table, paths)
    except ValueError as exc:
        raise where.error(str(exc)) from None


def _pose_spec(table: dict, root: Path, where: _Where) -> PoseFileSpec:
    _unknown_keys(table, STREAM_KEYS["pose"], where)
    file = _file(table.get("file"), root, where)
    where = where.at(f"{where.stream} ({text(table.get('file'))})")
    if table.get("joint_map") is not None and not isinstance(table["joint_map"], dict):
        raise where.error('joint_map must be a table of the file\'s joint names to canonical ones, '
                          'e.g. joint_map = { PELVIS = "pelvis", HEAD = "head" }')
    try:
        return readers.pose_file_spec(table, file, default_skeleton="canonical")
    except ValueError as exc:
        raise where.error(str(exc)) from None


def _video_spec(table: dict, root: Path, where: _Where) -> VideoSpec:
    _unknown_keys(table, STREAM_KEYS["video"], where)
    duration = None
    if text(table.get("duration")) is not None:
        duration = number(table.get("duration"))
        if not 0 < duration <= MAX_DURATION:  # NaN fails too
            raise where.error(f"video duration must be a number of seconds between 0 and {MAX_DURATION:g}, "
                              f"got {table.get('duration')!r}")
    try:
        offset = readers.offset(table.get("offset")) or 0.0
    except ValueError as exc:
        raise where.error(str(exc)) from None
    return VideoSpec(_file(table.get("file"), root, where), offset, duration)


def recording_spec(raw: dict, root: Path, manifest: Path, default_dataset: str) -> RecordingSpec:
    """Check one recording's manifest entry (types, units, names) without reading its files."""
    rec_id = text(raw.get("id")) or "?"
    where = _Where(manifest, rec_id)
    _unknown_keys(raw, RECORDING_KEYS, where)
    dataset = text(raw.get("dataset")) or default_dataset
    spec = RecordingSpec(
        id=f"{dataset}/{rec_id}",
        dataset=dataset,
        subject=text(raw.get("subject")),
        trial=text(raw.get("trial")),
        labels=names(raw.get("labels"), ";") or [],
        split=text(raw.get("split")),
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
    return records, text(doc.get("dataset"))


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
    cells = {k: v for k, v in row.items() if text(v) is not None}
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
        rec_id = text(table.get("id"))
        if rec_id is None:
            raise BadInput(str(manifest), f"recording #{n} has no id")
        full_id = f"{text(table.get('dataset')) or default_dataset}/{rec_id}"
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


def read_imu_parts(spec: ImuFileSpec) -> list[readers.ImuPart]:
    """The files of one sensor, read and checked (channel names, units), not yet put on a grid."""
    for path in spec.files:
        _existing(path)
    return readers.read_imu_parts(spec)


def imu_streams(spec: ImuFileSpec, parts: list[readers.ImuPart], origin: float | None = None) -> list[ImuStream]:
    """One sensor's streams (see readers.imu_streams); repairs are noted on this module's logger."""
    return readers.imu_streams(spec, parts, origin, notes_to=log)


def load_pose(spec: PoseFileSpec) -> PoseStream:
    _existing(spec.file)
    return readers.read_pose(spec, notes_to=log)


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
    said = str(row["text"]).strip()
    if not said:
        raise BadInput(str(path), f"{where}: empty text")
    return TextSpan(start, end, said)


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
    text_spans = [span for path in spec.text for span in load_text(path)]
    parts = [read_imu_parts(s) for s in spec.imu]
    # Time zero is the earliest timestamp of the streams that have a clock and no offset of
    # their own, so sensors logging to separate files on one clock stay aligned.
    starts = [readers.clock_start(s, p) for s, p in zip(spec.imu, parts) if s.offset is None]
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
        text=sorted(text_spans, key=lambda s: (s.start, s.end)),  # overlapping spans are all kept
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
        subject, split = text(raw.get("subject")), text(raw.get("split"))
        if isinstance(spec, BadInput):
            entries.append(Entry(id=rec_id, sources=[spec.path], load=partial(_raise, spec),
                                 subject=subject, split=split))
        else:
            entries.append(Entry(id=rec_id, sources=[str(p) for p in spec.files()],
                                 load=partial(load_recording, spec), subject=subject, split=split))
    return entries
