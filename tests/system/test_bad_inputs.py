"""A corpus of bad input, as a new user (or a file from elsewhere) gives it: importers (CSV,
Parquet, NPY, BVH, manifests, video, text, UTD .mat), CLI numbers and filters, checkpoints, index
files and paths leaving the archive. Each kind must end in one line naming the file (or option)
and the reason, never a traceback; CLIs exit non-zero; a batch build skips the recording and goes
on with the rest.

One archive holds a recording per importer kind next to good ones and is built once (the module
fixture); the CLI, checkpoint and index-file kinds run the CLI main functions in process against
that index (or a copy of it, for the kinds that damage it).
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tiny_encoder
from test_build import IMU_HEADER, _bvh, add_good_recording, imu_signal, pose_signal

from indexer import cli as indexer_cli
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.build import build_path
from indexer.importers import discover
from indexer.importers.example import write_example
from indexer.store import IndexStore

CHANNELS = IMU_HEADER.replace(",", ";")
GOOD = {"example/walk_01", "example/wave_01", "example/good_a", "example/good_b"}


# ----------------------------------------------------------------------------- importer kinds
# name -> (files to write {relative path: bytes or array}, the recording's TOML after its id,
#          the file the skip must name (relative; "manifest.toml" for manifest values), reason regex)
def _csv(data: np.ndarray) -> bytes:
    rows = "\n".join(",".join(f"{v:.5f}" for v in row) for row in data)
    return (IMU_HEADER + "\n" + rows + "\n").encode()


def _npy(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _parquet(columns: dict) -> bytes:
    import io

    import polars as pl

    buf = io.BytesIO()
    pl.DataFrame(columns).write_parquet(buf)
    return buf.getvalue()


IMU = imu_signal(6.0, 50.0, 3)
GOOD_CSV = _csv(IMU)
POSE = pose_signal(6.0, 30.0, 3)


def _imu(file: str, extra: str = "rate = 50") -> str:
    return f'[[recording.imu]]\nfile = "{file}"\n{extra}\n'


def _pose(file: str, extra: str = "fps = 30") -> str:
    return f'[recording.pose]\nfile = "{file}"\n{extra}\n'


nan_imu = IMU.copy()
nan_imu[5, 2] = np.nan
nan_pose = POSE.copy()
nan_pose[2, 3, 1] = np.inf
huge_imu = IMU.copy()
huge_imu[10, 1] = 1e30
word_csv = GOOD_CSV.replace(b"\n", b"\n0,0,oops,0,0,0\n", 1)
overlap_text = b"start,end,text\n0,4,walks\n2,6,waves\n"

IMPORTER_KINDS = {
    # tables
    "csv garbage bytes": ({"imu/g.csv": IMU_HEADER.encode() + b"\n\x00\xff\xfe,1,\x01\n" * 4}, _imu("imu/g.csv"),
                          "imu/g.csv", "unreadable table|non-numeric"),
    "csv word in a cell": ({"imu/w.csv": word_csv}, _imu("imu/w.csv"), "imu/w.csv", "acc_z.*oops"),
    "csv empty file": ({"imu/e.csv": b""}, _imu("imu/e.csv"), "imu/e.csv", "empty"),
    "csv header only": ({"imu/h.csv": IMU_HEADER.encode() + b"\n"}, _imu("imu/h.csv"), "imu/h.csv", "empty|0 samples"),
    "csv NaN": ({"imu/n.csv": _csv(nan_imu)}, _imu("imu/n.csv"), "imu/n.csv", "NaN"),
    "csv ragged rows": ({"imu/r.csv": GOOD_CSV + b"1,2,3\n"}, _imu("imu/r.csv"), "imu/r.csv", "."),
    "csv unknown channel": ({"imu/u.csv": GOOD_CSV.replace(b"gyr_z", b"gyro_z")}, _imu("imu/u.csv"), "imu/u.csv",
                            "unknown channel.*gyro_z"),
    "parquet truncated": ({"imu/t.parquet": _parquet({c: IMU[:, i] for i, c in enumerate(IMU_HEADER.split(","))})[:300]},
                          _imu("imu/t.parquet"), "imu/t.parquet", "."),
    "parquet text column": ({"imu/s.parquet": _parquet({"acc_x": ["a"] * 10, "acc_y": [1.0] * 10, "acc_z": [1.0] * 10})},
                            _imu("imu/s.parquet"), "imu/s.parquet", "."),
    "npy truncated": ({"imu/t.npy": _npy(IMU)[:400]}, _imu("imu/t.npy", f'rate = 50\nchannels = "{CHANNELS}"'),
                      "imu/t.npy", "not a readable .npy"),
    "npy pickled objects": ({"imu/p.npy": _npy(np.array([{"a": 1}] * 3, dtype=object))},
                            _imu("imu/p.npy", f'rate = 50\nchannels = "{CHANNELS}"'), "imu/p.npy", "."),
    # physically absurd values (indexer.bounds)
    "IMU 1e30 m/s^2": ({"imu/huge.csv": _csv(huge_imu)}, _imu("imu/huge.csv"), "imu/huge.csv",
                       r"acceleration of 1e\+30 m/s\^2 in acc_y, beyond the 100 g"),
    "gyro in deg/s read as rad/s": ({"imu/deg.csv": _csv(IMU * [1, 1, 1, 57.3, 57.3, 57.3])}, _imu("imu/deg.csv"),
                                    "imu/deg.csv", r"angular rate of .* rad/s in gyr_x, beyond the 100 rad/s.*gyr_unit"),
    "IMU one sample": ({"imu/one.csv": _csv(IMU[:1])}, _imu("imu/one.csv"), "imu/one.csv",
                       r"1 sample\(s\) .* at least 2 samples and 0\.1 s"),
    "IMU 0.06 s": ({"imu/short.csv": _csv(IMU[:3])}, _imu("imu/short.csv"), "imu/short.csv", r"last 0\.06 s"),
    "IMU one gyroscope axis": ({"imu/gx.csv": _csv(IMU[:, :4]).replace(IMU_HEADER.encode(), b"acc_x,acc_y,acc_z,gyr_x")},
                               _imu("imu/gx.csv"), "imu/gx.csv", r"incomplete gyroscope: gyr_x .*lack \['gyr_y', 'gyr_z'\]"),
    "npy 3-D for an IMU": ({"imu/3d.npy": _npy(np.zeros((10, 6, 2)))}, _imu("imu/3d.npy", f'rate = 50\nchannels = "{CHANNELS}"'),
                           "imu/3d.npy", "2-D|shape"),
    # numbers in the manifest
    "rate 1e-6": ({"imu/r1.csv": GOOD_CSV}, _imu("imu/r1.csv", "rate = 1e-6"), "imu/r1.csv",
                  r"outside 0\.1-100000 Hz"),
    "rate 1e9": ({"imu/r2.csv": GOOD_CSV}, _imu("imu/r2.csv", "rate = 1e9"), "imu/r2.csv", r"outside 0\.1-100000 Hz"),
    "rate negative": ({"imu/r3.csv": GOOD_CSV}, _imu("imu/r3.csv", "rate = -50"), "manifest.toml", "rate -50"),
    "rate a word": ({"imu/r4.csv": GOOD_CSV}, _imu("imu/r4.csv", 'rate = "fast"'), "manifest.toml", "rate 'fast'"),
    "rate true": ({"imu/r5.csv": GOOD_CSV}, _imu("imu/r5.csv", "rate = true"), "manifest.toml", "rate True"),
    "rate nan": ({"imu/r6.csv": GOOD_CSV}, _imu("imu/r6.csv", "rate = nan"), "manifest.toml", "rate nan"),
    "fps 0": ({"pose/f0.npy": _npy(POSE)}, _pose("pose/f0.npy", "fps = 0"), "manifest.toml", "frame rate"),
    "fps 1e9": ({"pose/f1.npy": _npy(POSE)}, _pose("pose/f1.npy", "fps = 1e9"), "pose/f1.npy", "outside"),
    "max_gap negative": ({"imu/mg.csv": b"t," + GOOD_CSV}, _imu("imu/mg.csv", 'time_column = "t"\nmax_gap = -1'),
                         "manifest.toml", "max_gap"),
    "offset negative": ({"imu/o1.csv": GOOD_CSV}, _imu("imu/o1.csv", "rate = 50\noffset = -5"), "manifest.toml",
                        "offset"),
    "offset 1e12": ({"imu/o2.csv": GOOD_CSV}, _imu("imu/o2.csv", "rate = 50\noffset = 1e12"), "imu/o2.csv",
                    "offset"),
    "video duration a word": ({"video/d.mp4": b"x" * 100}, '[recording.video]\nfile = "video/d.mp4"\nduration = "long"\n',
                              "manifest.toml", "duration"),
    "video duration negative": ({"video/dn.mp4": b"x" * 100},
                                '[recording.video]\nfile = "video/dn.mp4"\nduration = -3\n', "manifest.toml",
                                "duration"),
    # names and units
    "acc_unit unknown": ({"imu/au.csv": GOOD_CSV}, _imu("imu/au.csv", 'rate = 50\nacc_unit = "furlong"'),
                         "manifest.toml", "acc_unit 'furlong'"),
    "placement unknown": ({"imu/pl.csv": GOOD_CSV}, _imu("imu/pl.csv", 'rate = 50\nplacement = "tail"'),
                          "manifest.toml", "tail"),
    "time_unit unknown": ({"imu/tu.csv": GOOD_CSV}, _imu("imu/tu.csv", 'time_column = "t"\ntime_unit = "fortnight"'),
                          "manifest.toml", "time_unit"),
    "time column of garbage": ({"imu/tg.csv": b"t," + GOOD_CSV.replace(b"\n", b"\nxx,", 1).split(b"\n", 1)[0] + b"\n"
                                + b"\n".join(b"zz," + line for line in GOOD_CSV.split(b"\n")[1:] if line) + b"\n"},
                               _imu("imu/tg.csv", 'time_column = "t"'), "imu/tg.csv", "."),
    "unknown key": ({"imu/k.csv": GOOD_CSV}, _imu("imu/k.csv", "rate = 50\nsamplerate = 50"), "manifest.toml",
                    "unknown key"),
    "pose wrong joints": ({"pose/j.npy": _npy(POSE[:, :5])}, _pose("pose/j.npy"), "pose/j.npy", "joint"),
    "pose NaN/inf": ({"pose/n.npy": _npy(nan_pose)}, _pose("pose/n.npy"), "pose/n.npy", "NaN"),
    "pose as csv": ({"pose/p.csv": b"1,2,3\n"}, _pose("pose/p.csv"), "pose/p.csv", r"\.npy"),
    "pose units unknown": ({"pose/u.npy": _npy(POSE)}, _pose("pose/u.npy", 'fps = 30\nunits = "furlong"'),
                           "pose/u.npy", "furlong"),
    "pose skeleton unknown": ({"pose/s.npy": _npy(POSE)}, _pose("pose/s.npy", 'fps = 30\nskeleton = "octopus"'),
                              "manifest.toml", "octopus"),
    # files
    "missing file": ({}, _imu("imu/none.csv"), "imu/none.csv", "missing stream file"),
    "video garbage bytes": ({"video/g.mp4": b"\x00garbage, not a video\xff" * 50, "imu/v.csv": GOOD_CSV},
                            _imu("imu/v.csv") + '[recording.video]\nfile = "video/g.mp4"\n', "video/g.mp4", "video"),
    "video missing": ({}, '[recording.video]\nfile = "video/none.mp4"\n', "video/none.mp4", "missing"),
    "text end before start": ({"text/e.csv": b"start,end,text\n3,1,backwards\n"}, '[recording.text]\nfile = "text/e.csv"\n',
                              "text/e.csv", "start <= end"),
    "text bad json": ({"text/j.jsonl": b'{"start": 0, "end": 1, "text": "a"}\n{oops\n'},
                      '[recording.text]\nfile = "text/j.jsonl"\n', "text/j.jsonl", "not JSON"),
    "text csv columns": ({"text/c.csv": b"from,to,words\n0,1,a\n"}, '[recording.text]\nfile = "text/c.csv"\n',
                         "text/c.csv", "start,end,text"),
    "text not utf-8": ({"text/u.csv": b"start,end,text\n0,1,\xff\xfe\xfa\n"}, '[recording.text]\nfile = "text/u.csv"\n',
                       "text/u.csv", "UTF-8"),
    "no stream": ({}, "", "manifest.toml", "no stream"),
    # paths leaving the archive
    "path ../outside": ({"../outside.csv": GOOD_CSV}, _imu("../outside.csv"), "../outside.csv", "outside the archive"),
    "absolute path outside": ({"../abs.csv": GOOD_CSV}, "ABSOLUTE", "../abs.csv", "outside the archive"),
    "symlink out of the archive": ({"../target.csv": GOOD_CSV}, _imu("imu/link.csv"), "imu/link.csv",
                                   "outside the archive"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The messy archive, built once with a tiny encoder: {"archive", "index", "summary", "encoder"}."""
    root = tmp_path_factory.mktemp("corpus")
    folder = root / "archive"
    write_example(folder)
    add_good_recording(folder, "good_a", 7.0, seed=1)
    add_good_recording(folder, "good_b", 6.0, seed=2, subject="s8")
    text = ""
    for n, (name, (files, toml, _, _)) in enumerate(IMPORTER_KINDS.items()):
        for rel, blob in files.items():
            path = (folder / rel).resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        if toml == "ABSOLUTE":
            toml = _imu(str((folder / "../abs.csv").resolve()))
        if name == "symlink out of the archive":
            os.symlink((folder / "../target.csv").resolve(), folder / "imu" / "link.csv")
        text += f'\n[[recording]]\nid = "bad_{n:02d}"\nsubject = "s7"\nlabels = ["{name}"]\n{toml}'
    with open(folder / "manifest.toml", "a") as f:
        f.write(text)
    encoder = make_tiny_encoder(root / "ckpt")
    summary = build_path(root / "index", discover(folder), encoder, progress=False)
    return {"root": root, "archive": folder, "index": root / "index", "summary": summary, "encoder": encoder}


def test_the_corpus_holds_at_least_60_kinds():
    groups = (IMPORTER_KINDS, MANIFEST_KINDS, BVH_KINDS, CLI_KINDS, CHECKPOINT_KINDS, INDEX_KINDS)
    assert sum(len(g) for g in groups) >= 60  # each kind is a case below


def test_the_batch_went_on_with_every_good_recording(corpus):
    summary = corpus["summary"]
    assert summary.found == len(GOOD) + len(IMPORTER_KINDS)
    assert summary.read == len(GOOD) and len(summary.skipped) == len(IMPORTER_KINDS)
    store = IndexStore(corpus["index"])
    assert store.indexed_ids(corpus["encoder"].id) == GOOD
    assert set(store.windows(columns=["recording_id"])["recording_id"].to_list()) == GOOD


@pytest.mark.parametrize("name", list(IMPORTER_KINDS))
def test_an_importer_kind_is_skipped_with_one_line_naming_its_file(corpus, name):
    n = list(IMPORTER_KINDS).index(name)
    _, _, named, reason = IMPORTER_KINDS[name]
    path = str(corpus["archive"] / named)
    if name == "absolute path outside":
        path = str((corpus["archive"] / named).resolve())
    line = corpus["summary"].format()
    entries = [(p, r) for p, r in corpus["summary"].skipped if p == path]
    assert entries, f"{path} not named; skipped: {corpus['summary'].skipped}"
    if named == "manifest.toml":  # a value in the manifest: the reason names the recording
        entries = [(p, r) for p, r in entries if f"'bad_{n:02d}'" in r]
        assert entries, corpus["summary"].skipped
    p, r = entries[0]
    assert re.search(reason, r), r
    assert "\n" not in r and "Traceback" not in r and not r.startswith("unexpected"), r
    assert f"{p}: {r}" in line


# ----------------------------------------------------------------------------- manifests that fail whole
MANIFEST_KINDS = {
    "toml syntax error": ("manifest.toml", b'[[recording]]\nid = "a\n', "not valid TOML"),
    "duplicate ids": ("manifest.toml", b'[[recording]]\nid = "a"\n[recording.text]\nfile = "t.csv"\n'
                      b'[[recording]]\nid = "a"\n[recording.text]\nfile = "t.csv"\n', "duplicate recording id"),
    "allow_outside not a bool": ("manifest.toml", b'allow_outside = "yes"\n[[recording]]\nid = "a"\n',
                                 "allow_outside must be true or false"),
    "csv manifest unknown column": ("manifest.csv", b"id,imu_file,colour\na,x.csv,red\n", "unknown column"),
    "csv manifest ragged": ("manifest.csv", b"id,imu_file\na,x.csv,extra\n", "cells"),
    "csv manifest no id": ("manifest.csv", b"name,imu_file\na,x.csv\n", "no `id` column"),
    "empty manifest": ("manifest.toml", b"", "empty"),
    "recording without id": ("manifest.toml", b'[[recording]]\nsubject = "1"\n', "has no id"),
}


@pytest.mark.parametrize("name", list(MANIFEST_KINDS))
def test_a_manifest_that_cannot_be_read_is_one_line_and_exit_2(tmp_path, corpus, name, capsys):
    manifest, blob, reason = MANIFEST_KINDS[name]
    (tmp_path / "arch").mkdir()
    (tmp_path / "arch" / manifest).write_bytes(blob)
    code = indexer_cli.main(["build", str(tmp_path / "arch"), "--out", str(tmp_path / "ix"), "--checkpoint",
                             corpus["encoder"].source, "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert str(tmp_path / "arch" / manifest) in err[0] and reason in err[0]
    assert not (tmp_path / "ix" / "windows.lance").exists()


# ----------------------------------------------------------------------------- BVH folder kinds
BVH_KINDS = {
    "bvh truncated": lambda t: t[: len(t) // 2],
    "bvh garbage": lambda t: "\x00\x01 not a bvh \xff" * 50,
    "bvh Frame Time 0": lambda t: re.sub(r"Frame Time: \S+", "Frame Time: 0", t),
    "bvh Frame Time 1e-9": lambda t: re.sub(r"Frame Time: \S+", "Frame Time: 0.000000001", t),
    "bvh Frames says more": lambda t: re.sub(r"Frames: \d+", "Frames: 1000000000000", t),
    "bvh Frames a word": lambda t: re.sub(r"Frames: \d+", "Frames: many", t),
    "bvh word in a frame row": lambda t: t.replace("\n0.0000 ", "\nabc ", 1),
    "bvh no MOTION": lambda t: t.split("MOTION")[0],
}


@pytest.fixture(scope="module")
def bvh_build(corpus):
    folder = corpus["root"] / "mocap"
    folder.mkdir()
    good = _bvh(180, 30.0)
    (folder / "fine.bvh").write_text(good)
    for n, damage in enumerate(BVH_KINDS.values()):
        (folder / f"bad_{n}.bvh").write_text(damage(good), encoding="utf-8", errors="surrogateescape")
    summary = build_path(corpus["root"] / "bvh-index", discover(folder), corpus["encoder"], progress=False)
    return folder, summary


@pytest.mark.parametrize("name", list(BVH_KINDS))
def test_a_bad_bvh_is_skipped_naming_it_and_the_folder_goes_on(bvh_build, name):
    folder, summary = bvh_build
    assert summary.read == 1  # fine.bvh
    path = str(folder / f"bad_{list(BVH_KINDS).index(name)}.bvh")
    reasons = [r for p, r in summary.skipped if p == path]
    assert reasons, summary.skipped
    assert "\n" not in reasons[0] and not reasons[0].startswith("unexpected"), reasons[0]


# ----------------------------------------------------------------------------- CLI kinds
def _run(main, argv, capsys) -> tuple[int, list[str]]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's refusals
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines()


def _one_line(code: int, err: list[str], reason: str) -> None:
    assert code not in (0, None), err
    assert err and "Traceback" not in "\n".join(err), err
    last = err[-1]
    # argparse prints its usage before the error line; everything else is the one line
    assert len(err) == 1 or err[0].startswith("usage:"), err
    assert re.search(reason, last), last


def _query_file(tmp: Path, kind: str) -> str:
    if kind == "npy":
        np.save(tmp / "q.npy", IMU.astype(np.float32))
        return str(tmp / "q.npy")
    if kind == "huge.npy":  # 1e30 m/s^2 in one sample
        np.save(tmp / "huge.npy", huge_imu)
        return str(tmp / "huge.npy")
    if kind == "one.npy":
        np.save(tmp / "one.npy", IMU[:1])
        return str(tmp / "one.npy")
    if kind == "gx.csv":  # a gyroscope with one axis
        (tmp / "gx.csv").write_bytes(_csv(IMU[:, :4]).replace(IMU_HEADER.encode(), b"acc_x,acc_y,acc_z,gyr_x"))
        return str(tmp / "gx.csv")
    if kind == "garbage.mat":
        (tmp / "a1_s1_t1_inertial.mat").write_bytes(b"MATLAB 5.0 garbage" * 20)
        return str(tmp / "a1_s1_t1_inertial.mat")
    if kind == "truncated.parquet":
        blob = _parquet({c: IMU[:, i] for i, c in enumerate(IMU_HEADER.split(","))})
        (tmp / "t.parquet").write_bytes(blob[: len(blob) // 2])
        return str(tmp / "t.parquet")
    if kind == "garbage.bvh":
        (tmp / "g.bvh").write_bytes(b"HIERARCHY\nROOT x {\n garbage")
        return str(tmp / "g.bvh")
    if kind == "garbage.mp4":
        (tmp / "g.mp4").write_bytes(b"\x00not a video" * 100)
        return str(tmp / "g.mp4")
    raise KeyError(kind)


IMU_Q = ["--channels", IMU_HEADER]
# name -> (program, argv with {index}, {file:kind}, {out}; reason regex)
CLI_KINDS = {
    "k 0": ("query", ["window", "0", "-k", "0"], r"-k: must be at least 1"),
    "k negative": ("query", ["window", "0", "-k", "-5"], r"-k: must be at least 1"),
    "k huge": ("query", ["window", "0", "-k", "100000"], r"k must be between 1 and 10000"),
    "k not a number": ("query", ["window", "0", "-k", "ten"], r"not a whole number"),
    "where breaking out of the scope": ("query", ["window", "0", "--where", "1=1) OR (1=1"], r"invalid filter"),
    "where on the store's own column": ("query", ["window", "0", "--where", "encoder_id = 'x'"], r"unknown column 'encoder_id'"),
    "where with a second statement": ("query", ["window", "0", "--where", "subject = 1; DROP TABLE windows"],
                                      r"one condition"),
    "where with a subquery": ("query", ["window", "0", "--where", "id IN (SELECT id FROM windows)"],
                              r"subquery|unknown column"),
    "where unterminated string": ("query", ["window", "0", "--where", "label = 'walk"], r"invalid filter"),
    "where not a condition": ("query", ["window", "0", "--where", "subject"], r"not a condition"),
    "where unknown column": ("query", ["recordings", "--where", "colour = 'red'"], r"unknown column 'colour'"),
    "window id of no window": ("query", ["window", "123456789"], r"no window with id 123456789"),
    "window id too big for int64": ("query", ["window", "99999999999999999999999"], r"."),
    "target unknown": ("query", ["window", "0", "--target", "smell"], r"smell"),
    "index missing": ("query", ["recordings", "--index", "{missing}"], r"not a motionsearch index"),
    "index is a file": ("query", ["recordings", "--index", "{afile}"], r"is a file, not an index directory"),
    "query rate 1e-6": ("query", ["imu", "{file:npy}", "--rate", "1e-6", *IMU_Q], r"--rate: must be between 0.1 and 100000"),
    "query rate 1e9": ("query", ["imu", "{file:npy}", "--rate", "1e9", *IMU_Q], r"--rate: must be between"),
    "query rate nan": ("query", ["imu", "{file:npy}", "--rate", "nan", *IMU_Q], r"--rate: must be between"),
    "query max-gap negative": ("query", ["imu", "{file:npy}", "--rate", "50", "--max-gap=-1", *IMU_Q], r"--max-gap"),
    "query start negative": ("query", ["imu", "{file:npy}", "--rate", "50", "--start=-3", *IMU_Q], r"--start"),
    "query end before start": ("query", ["imu", "{file:npy}", "--rate", "50", "--start", "5", "--end", "1", *IMU_Q],
                               r"q\.npy: .*empty"),
    "query nprobe 0": ("query", ["window", "0", "--nprobe", "0"], r"--nprobe: must be at least 1"),
    "query candidates negative": ("query", ["locate", "{file:npy}", "--rate", "50", "--candidates=-3", *IMU_Q],
                                  r"--candidates"),
    "sync max-offset 1e12": ("query", ["sync", "{file:npy}", "{file:npy}", "--max-offset", "1e12"], r"--max-offset"),
    "sync top-k 0": ("query", ["sync", "{file:npy}", "{file:npy}", "--top-k", "0"], r"--top-k"),
    "serve port 99999": ("query", ["serve", "--port", "99999"], r"--port: must be between 1 and 65535"),
    "query IMU 1e30 m/s^2": ("query", ["imu", "{file:huge.npy}", "--rate", "50", *IMU_Q],
                             r"huge\.npy: acceleration of 1e\+30 m/s\^2"),
    "query IMU one sample": ("query", ["imu", "{file:one.npy}", "--rate", "50", *IMU_Q],
                             r"one\.npy: 1 sample\(s\) .* at least 2 samples"),
    "query IMU one gyroscope axis": ("query", ["imu", "{file:gx.csv}", "--rate", "50"],
                                     r"gx\.csv: incomplete gyroscope"),
    "query garbage UTD .mat": ("query", ["imu", "{file:garbage.mat}"], r"a1_s1_t1_inertial\.mat"),
    "query truncated parquet": ("query", ["imu", "{file:truncated.parquet}", "--rate", "50"], r"t\.parquet"),
    "query garbage bvh": ("query", ["pose", "{file:garbage.bvh}"], r"g\.bvh"),
    "query garbage video": ("query", ["video", "{file:garbage.mp4}"], r"g\.mp4"),
    "build limit -1": ("indexer", ["build", "{archive}", "--out", "{out}", "--limit", "-1"], r"--limit: must be at least 1"),
    "build limit 0": ("indexer", ["build", "{archive}", "--out", "{out}", "--limit", "0"], r"--limit: must be at least 1"),
    "build out names a file": ("indexer", ["build", "{archive}", "--out", "{afile}"], r"is a file, not an index"),
    "build index-type bogus": ("indexer", ["build", "{archive}", "--out", "{out}", "--index-type", "IVFxx,Flat"],
                               r"--index-type 'IVFxx,Flat' is not a FAISS index"),
    "build source missing": ("indexer", ["build", "{missing}", "--out", "{out}"], r"no-such-thing: source does not exist"),
    "build subjects none match": ("indexer", ["build", "{archive}", "--out", "{out}", "--subjects", "nobody"],
                                  r"the selection leaves none"),
    "info of no index": ("indexer", ["info", "{missing}"], r"not a motionsearch index"),
    "train window 1e9": ("encoders", ["train", "--demo", "--out", "{out}", "--window", "1e9"], r"--window: must be between"),
    "train hop 0": ("encoders", ["train", "--demo", "--out", "{out}", "--hop", "0"], r"--hop: must be between"),
    "train dim 0": ("encoders", ["train", "--demo", "--out", "{out}", "--dim", "0"], r"--dim: must be between"),
    "train batch 1e9": ("encoders", ["train", "--demo", "--out", "{out}", "--batch", "1000000000"], r"--batch"),
    "train-tokens dim 1e12": ("encoders", ["train-tokens", "--demo", "--out", "{out}", "--dim", "1000000000000"],
                              r"--dim: must be between 1 and 16384"),
    "train lr negative": ("encoders", ["train", "--demo", "--out", "{out}", "--lr=-1"], r"--lr"),
    "train tower-params not JSON": ("encoders", ["train", "--demo", "--out", "{out}", "--tower-params", "wide"],
                                    r"--tower-params: not JSON"),
    "train tower-params a list": ("encoders", ["train", "--demo", "--out", "{out}", "--tower-params", "[1, 2]"],
                                  r"--tower-params: must be a JSON object"),
    "train tower-params unknown": ("encoders", ["train", "--demo", "--quiet", "--out", "{out}", "--epochs", "1", "--tower-params",
                                                '{"bogus": 1}'], r"unexpected keyword argument 'bogus'"),
    "train tower-params width 1e9": ("encoders", ["train", "--demo", "--quiet", "--out", "{out}", "--epochs", "1",
                                                  "--tower-params", '{"width": 1000000000}'],
                                     r"towers.imu.params.width must be between 0 and 65536"),
}


def _main(program: str):
    if program == "query":
        from query import cli

        return cli.main
    if program == "encoders":
        from encoders import cli

        return cli.main
    return indexer_cli.main


def _fill(argv: list[str], corpus, tmp: Path) -> list[str]:
    afile = tmp / "a-file.txt"
    afile.write_text("not an index")
    out = []
    for a in argv:
        if a.startswith("{file:"):
            out.append(_query_file(tmp, a[6:-1]))
            continue
        for key, value in {"index": corpus["index"], "archive": corpus["archive"], "out": tmp / "out",
                           "afile": afile, "missing": tmp / "no-such-thing"}.items():
            a = a.replace("{" + key + "}", str(value))
        out.append(a)
    return out


@pytest.mark.parametrize("name", list(CLI_KINDS))
def test_a_cli_kind_is_one_line_and_a_nonzero_exit(corpus, tmp_path, name, capsys):
    program, argv, reason = CLI_KINDS[name]
    argv = _fill(argv, corpus, tmp_path)
    if program == "query" and argv[0] not in ("serve",) and "--index" not in argv:
        argv += ["--index", str(corpus["index"])]
    if program == "indexer" and argv[0] == "build":
        argv += ["--checkpoint", corpus["encoder"].source, "--quiet"]
    code, err = _run(_main(program), argv, capsys)
    _one_line(code, err, reason)
    if program == "indexer" and argv[0] == "build":
        assert not (tmp_path / "out" / "windows.lance").exists()  # refused before anything was written


# ----------------------------------------------------------------------------- checkpoint kinds
def _config(c: dict, change: str) -> None:
    exec(change, {"c": c})  # noqa: S102 - the test's own one-line edits of a config


CHECKPOINT_KINDS = {
    "window length 1e9": ('c["window"]["length"] = 1e9', r"window.length \(seconds\) must be between 0.2 and 3600"),
    "window hop negative": ('c["window"]["hop"] = -1', r"window.hop"),
    "window length a word": ('c["window"]["length"] = "long"', r"window.length"),
    "embed_dim 1e12": ('c["embed_dim"] = 10**12', r"embed_dim must be between 1 and 16384"),
    "embed_dim a float": ('c["embed_dim"] = 16.5', r"embed_dim"),
    "tower rate 1e9": ('c["towers"]["imu"]["rate"] = 1e9', r"towers.imu.rate \(Hz\) must be between"),
    "tower rate 0": ('c["towers"]["pose"]["rate"] = 0', r"towers.pose.rate"),
    "window samples too many": ('c["window"]["length"] = 3600; c["towers"]["imu"]["rate"] = 1000', r"samples"),
    "tower width 1e9": ('c["towers"]["imu"]["params"]["width"] = 10**9', r"towers.imu.params.width"),
    "model of 400 GiB": ('c["towers"]["imu"]["params"]["width"] = 60000', r"GiB, more than the 8 GiB"),
    "model larger than its weights": ('c["embed_dim"] = 16000', r"does not fit the weights"),
    "weights of another shape": ('c["embed_dim"] = 32', r"weights do not match"),
    "unknown architecture": ('c["towers"]["imu"]["architecture"] = "abacus"', r"unknown architecture 'abacus'"),
    "no towers": ('del c["towers"]', r"no `towers`"),
    "config a list": ("c.clear(); c['__list__'] = True", r"not a motionsearch encoder config|towers"),
    "config not JSON": ("NOT JSON", r"not valid JSON"),
    "weights truncated": ("TRUNCATE", r"not a readable safetensors file"),
    "weights a pickle": ("PICKLE", r"not a readable safetensors file"),
    "weights missing": ("NO WEIGHTS", r"model.safetensors: missing"),
}


@pytest.mark.parametrize("name", list(CHECKPOINT_KINDS))
def test_a_bad_checkpoint_is_one_line_naming_its_file(corpus, tmp_path, name, capsys):
    change, reason = CHECKPOINT_KINDS[name]
    ckpt = tmp_path / "ckpt"
    shutil.copytree(corpus["encoder"].source, ckpt)
    config_path, weights = ckpt / "config.json", ckpt / "model.safetensors"
    if change == "NOT JSON":
        config_path.write_text("{ not json")
    elif change == "TRUNCATE":
        weights.write_bytes(weights.read_bytes()[:100])
    elif change == "PICKLE":
        import pickle

        weights.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    elif change == "NO WEIGHTS":
        weights.unlink()
    else:
        config = json.loads(config_path.read_text())
        _config(config, change)
        config_path.write_text(json.dumps([] if config.get("__list__") else config))
    code, err = _run(indexer_cli.main, ["build", str(corpus["archive"]), "--out", str(tmp_path / "ix"),
                                        "--checkpoint", str(ckpt), "--quiet"], capsys)
    _one_line(code, err, reason)
    assert str(ckpt) in err[-1]
    assert not (tmp_path / "ix" / "windows.lance").exists()


# ----------------------------------------------------------------------------- index-file kinds
def _faiss_file(index: Path) -> Path:
    return next((index / "faiss").glob("*.imu.faiss"))


def _truncate_faiss(index: Path) -> None:
    f = _faiss_file(index)
    f.write_bytes(f.read_bytes()[:64])


def _crafted_faiss(index: Path) -> None:
    """A FAISS file holding ids of no window, its manifest's checksum and count made to match."""
    import hashlib

    from indexer import vectors

    f = _faiss_file(index)
    manifest_path = f.with_suffix(".json")
    manifest = json.loads(manifest_path.read_text())
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(manifest["count"], manifest["dimension"])).astype(np.float32) * 3  # not unit norm
    blob = vectors.to_bytes(vectors.build(vecs, np.arange(10_000, 10_000 + manifest["count"])))
    f.write_bytes(blob)
    manifest["index_sha256"] = hashlib.sha256(blob).hexdigest()
    manifest_path.write_text(json.dumps(manifest))


def _garbage_manifest(index: Path) -> None:
    _faiss_file(index).with_suffix(".json").write_text("{ not json")


def _list_manifest(index: Path) -> None:
    _faiss_file(index).with_suffix(".json").write_text("[1, 2, 3]")


def _leftover_tmp(index: Path) -> None:
    (index / "faiss" / "x.imu.faiss.tmp-123").write_bytes(b"half")


def _faiss_deleted(index: Path) -> None:
    _faiss_file(index).unlink()


def _damage_table(name: str):
    def damage(index: Path) -> None:
        biggest = max((index / f"{name}.lance" / "data").glob("*.lance"), key=lambda p: p.stat().st_size)
        biggest.write_bytes(biggest.read_bytes()[:100])
    return damage


def _drop_table(name: str):
    def damage(index: Path) -> None:
        shutil.rmtree(index / f"{name}.lance")
    return damage


def _no_encoder_config(index: Path) -> None:
    next((index / "encoders").glob("*/config.json")).unlink()


# name -> (damage, whether a search still answers (from LanceDB) or fails in one line, reason[, the
# command that reads the damaged part: default a window search])
INDEX_KINDS = {
    "faiss truncated": (_truncate_faiss, True, None),
    "faiss crafted, checksum matching, ids of no window": (_crafted_faiss, True, None),
    "faiss manifest not JSON": (_garbage_manifest, True, None),
    "faiss manifest a list": (_list_manifest, True, None),
    "faiss file deleted": (_faiss_deleted, True, None),
    "faiss temp file left by a kill": (_leftover_tmp, True, None),
    "windows table truncated": (_damage_table("windows"), False, r"the windows table cannot be read.*Table.restore"),
    "indexed table truncated": (_damage_table("indexed"), False, r"the indexed table cannot be read"),
    "recordings table truncated": (_damage_table("recordings"), False, r"the recordings table cannot be read",
                                   ["recordings"]),
    "indexed table deleted": (_drop_table("indexed"), False, r"index has no 'indexed' table"),
    "encoder config deleted": (_no_encoder_config, False, r"config.json: missing",
                               ["imu", "{file:npy}", "--rate", "50", *IMU_Q]),
}


@pytest.mark.parametrize("name", list(INDEX_KINDS))
def test_a_damaged_index_file_is_rebuilt_from_lancedb_or_named_in_one_line(corpus, tmp_path, name, capsys):
    from query import cli as query_cli

    damage, answers, reason, *command = INDEX_KINDS[name]
    index = tmp_path / "index"
    shutil.copytree(corpus["index"], index)
    damage(index)
    argv = _fill(command[0], corpus, tmp_path) if command else ["window", "0", "--target", "imu", "-k", "50", "--json"]
    code, err = _run(query_cli.main, [*argv, "--index", str(index)], capsys)
    if not answers:
        _one_line(code, err, reason)
        assert str(index) in err[-1]
        if "table" in name:
            assert "rebuild" in err[-1]  # how to recover
        return
    assert code == 0, err
    from query import open_index

    hits = open_index(index).search_window(0, "imu", k=50)
    want = IndexStore(corpus["index"]).committed_ids(corpus["encoder"].id, "imu")
    assert sorted(hits["window_id"].to_list()) == sorted(want.tolist())  # every window, each once
    assert hits["recording_id"].null_count() == 0 and hits["score"].max() <= 1.0 + 1e-5
    # the next build puts the side file right (and removes leftovers)
    assert indexer_cli.main(["build", str(corpus["archive"]), "--out", str(index), "--checkpoint",
                             corpus["encoder"].source, "--quiet"]) == 0
    capsys.readouterr()
    assert not list((index / "faiss").glob("*.tmp-*"))
    assert "rebuilt_in_memory" not in IndexStore(index).faiss(corpus["encoder"].id, "imu").manifest


def test_overlapping_text_spans_are_kept_and_said(tmp_path, caplog):
    """Overlapping annotations are legitimate (two people describe one moment), so they are
    kept, but a warning names the file: a window is labelled with the span covering most of it."""
    from indexer.importers.archive import load_text

    path = tmp_path / "spans.csv"
    path.write_bytes(overlap_text)
    with caplog.at_level("WARNING", logger="indexer.importers.archive"):
        spans = load_text(path)
    assert [s.text for s in spans] == ["walks", "waves"]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith(f"{path}: 1 text span(s) overlap")


def test_a_sparse_stream_stretched_over_a_week_is_refused_before_resampling():
    """A week of pose at 0.1 fps (12 MB) would be 5.8 GB at a 25 Hz tower: refused by estimate."""
    from indexer.errors import BadInput
    from indexer.model import PoseStream, Recording
    from indexer.windows import WindowSpec, recording_windows

    frames = 60_000
    pose = PoseStream(np.tile(POSE[:1], (frames, 1, 1)), 0.1, "canonical", list(CANONICAL_JOINTS), "week.npy")
    rec = Recording("lab/week", "lab", pose=pose)
    with pytest.raises(BadInput, match=r"week.npy: 60000 samples at 0.1 Hz resampled to 25 Hz would take 5.4 GiB"):
        recording_windows(rec, WindowSpec(), {"pose": 25.0})
