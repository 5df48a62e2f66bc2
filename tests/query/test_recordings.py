"""Index.load_recording: a recording read back from its sources equals what was indexed."""
from __future__ import annotations

import numpy as np
import pytest

from indexer.build import recording_row
from indexer.errors import BadInput
from indexer.importers import discover
from query import recordings


def _same(a, b) -> None:
    def meta(r):
        return r.id, r.dataset, r.subject, r.labels, r.modalities()

    assert meta(a) == meta(b)
    for x, y in zip(a.imu, b.imu):
        np.testing.assert_array_equal(x.data, y.data)
        assert (x.rate, x.channels, x.placement) == (y.rate, y.channels, y.placement)
    if a.pose is not None:
        np.testing.assert_array_equal(a.pose.data, b.pose.data)
        assert (a.pose.rate, a.pose.skeleton) == (b.pose.rate, b.pose.skeleton)
    assert (a.video.path if a.video else None) == (b.video.path if b.video else None)


def test_demo_recording_is_regenerated():
    entry = discover(None, "demo")[7]
    rec = entry.load()
    _same(recordings.load(recording_row(rec)), rec)


def test_utd_recording_is_reread(utd_dir):
    entry = next(e for e in discover(utd_dir) if e.id == "utd-mhad/a3_s4_t2")
    rec = entry.load()
    again = recordings.load(recording_row(rec))
    _same(again, rec)
    assert again.video is not None


def test_bvh_recording_is_reread(cmu_dir):
    rec = discover(cmu_dir)[0].load()
    _same(recordings.load(recording_row(rec)), rec)


def test_archive_recording_is_found_through_its_manifest(tmp_path):
    from indexer.importers import example

    example.write_example(tmp_path / "arch")
    for entry in discover(tmp_path / "arch"):
        rec = entry.load()
        _same(recordings.load(recording_row(rec)), rec)


def test_missing_sources_are_named(tmp_path):
    from indexer.importers import example

    example.write_example(tmp_path / "arch")
    rec = discover(tmp_path / "arch")[0].load()
    row = recording_row(rec)
    (tmp_path / "arch" / "imu" / "walk_01.csv").unlink()
    with pytest.raises(BadInput, match="walk_01.csv"):
        recordings.load(row)
    with pytest.raises(BadInput, match="no source files"):
        recordings.load({**row, "sources": []})


def test_index_load_recording(tmp_path, tiny_encoder):
    from indexer.build import build_path
    from query.api import open_index

    entries = discover(None, "demo")[:2]
    build_path(tmp_path / "ix", entries, tiny_encoder, progress=False)
    index = open_index(tmp_path / "ix")
    _same(index.load_recording(entries[1].id), entries[1].load())
    assert index.recording(entries[0].id)["dataset"] == "demo"
    assert index.indexed_modalities() == ["imu", "pose"]
    with pytest.raises(LookupError, match="no recording"):
        index.load_recording("demo/nothing")
