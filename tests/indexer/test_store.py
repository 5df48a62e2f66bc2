"""IndexStore: the on-disk index (LanceDB tables + FAISS accelerators) on a tmp directory."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from indexer import locks, sql, vectors
from indexer.errors import IndexLocked
from indexer.faiss_files import FaissFiles
from indexer.schema import normalize_where
from indexer.store import IndexStore

ENC = "tiny@0123456789ab"
DIM = 8


def unit_vectors(n: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def window_rows(rec_id: str, subject: str, first_id: int, vecs: np.ndarray, modality: str = "imu",
                encoder: str = ENC) -> list[dict]:
    return [{
        "id": first_id + i, "recording_id": rec_id, "dataset": "lab", "subject": subject,
        "modality": modality, "body_part": "right_wrist" if modality == "imu" else "all",
        "t_start": float(i), "t_end": float(i) + 5.0, "label": f"label of {rec_id}",
        "encoder_id": encoder, "vector": v.tolist(),
    } for i, v in enumerate(vecs)]


def recording_row(rec_id: str, subject: str) -> dict:
    return {"id": rec_id, "dataset": "lab", "subject": subject, "trial": "1", "labels": ["walk", "fast"],
            "text": "walk; fast", "duration": 9.5, "modalities": ["imu", "pose"], "sources": [f"/data/{rec_id}.csv"]}


@pytest.fixture
def store(tmp_path) -> IndexStore:
    """Three complete recordings (subjects 1, 2, 2), four IMU windows each, ids 0..11."""
    s = IndexStore(tmp_path / "index", create=True)
    vecs = unit_vectors(12)
    for n, (rec, subject) in enumerate([("lab/a", "1"), ("lab/b", "2"), ("lab/c", "2")]):
        s.commit(window_rows(rec, subject, 4 * n, vecs[4 * n : 4 * n + 4]), [recording_row(rec, subject)],
                 [(rec, ENC, 4)])
    return s


def test_commit_then_read_back(store, tmp_path):
    reopened = IndexStore(tmp_path / "index")  # a fresh handle sees what was committed
    recs = reopened.recordings()
    assert isinstance(recs, pl.DataFrame)
    assert sorted(recs["id"].to_list()) == ["lab/a", "lab/b", "lab/c"]
    row = recs.filter(pl.col("id") == "lab/b").row(0, named=True)
    assert row == recording_row("lab/b", "2")

    windows = reopened.windows()
    assert windows.height == 12 and sorted(windows["id"].to_list()) == list(range(12))
    w5 = windows.filter(pl.col("id") == 5).row(0, named=True)
    assert (w5["recording_id"], w5["subject"], w5["t_start"], w5["t_end"]) == ("lab/b", "2", 1.0, 6.0)

    ids, vecs = reopened.vectors(ENC, "imu")
    order = np.argsort(ids)
    np.testing.assert_array_equal(ids[order], np.arange(12))
    np.testing.assert_allclose(vecs[order], unit_vectors(12), rtol=0, atol=0)
    assert vecs.dtype == np.float32 and vecs.shape == (12, DIM)

    assert reopened.indexed_ids(ENC) == {"lab/a", "lab/b", "lab/c"}
    assert reopened.indexed_ids("other@x") == set()
    assert reopened.encoders() == [ENC]
    assert reopened.next_window_id() == 12
    assert reopened.vectors(ENC, "pose")[0].size == 0  # nothing of that modality


def test_a_recording_is_stored_once_even_if_committed_again(store):
    store.commit([], [recording_row("lab/a", "1"), recording_row("lab/d", "3")], [])
    assert sorted(store.table("recordings")["id"].to_list()) == ["lab/a", "lab/b", "lab/c", "lab/d"]
    # lab/d has no commit-log row: readers do not see it until one is written
    assert sorted(store.recordings()["id"].to_list()) == ["lab/a", "lab/b", "lab/c"]
    store.commit([], [], [("lab/d", ENC, 0)])
    assert sorted(store.recordings()["id"].to_list()) == ["lab/a", "lab/b", "lab/c", "lab/d"]


def test_opening_a_folder_that_is_not_an_index_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a motionsearch index"):
        IndexStore(tmp_path / "nothing-here")


# ----------------------------------------------------------------------------- crash recovery


def test_remove_incomplete_deletes_windows_without_an_indexed_row(store, tmp_path):
    # A build died between writing lab/d's windows and its `indexed` row.
    store.commit(window_rows("lab/d", "3", 12, unit_vectors(3, seed=1)), [], [])
    # ...and another encoder's windows of an already complete recording also never got committed.
    store.commit(window_rows("lab/a", "1", 15, unit_vectors(2, seed=2), encoder="other@x"), [], [])
    assert store.count("windows") == 17
    reopened = IndexStore(tmp_path / "index")
    assert reopened.remove_incomplete() == 5
    left = reopened.windows()
    assert left.height == 12 and sorted(left["id"].to_list()) == list(range(12))
    assert set(left["encoder_id"].to_list()) == {ENC}
    assert reopened.remove_incomplete() == 0  # nothing more to clean


# ----------------------------------------------------------------------------- FAISS


def test_write_faiss_then_search_finds_the_right_window(store, tmp_path):
    manifest = store.write_faiss(ENC, "imu", "sha-of-weights")
    assert manifest["count"] == 12 and manifest["dimension"] == DIM and manifest["index_type"] == "Flat"
    assert manifest["encoder_checksum"] == "sha-of-weights" and manifest["metric"] == "inner_product"
    on_disk = json.loads(next((tmp_path / "index" / "faiss").glob("*.imu.json")).read_text())
    assert on_disk == manifest
    assert store.faiss_manifests() == [manifest]

    entry = IndexStore(tmp_path / "index").faiss(ENC, "imu")
    assert "rebuilt_in_memory" not in entry.manifest  # the file was used as written
    query = unit_vectors(12)[7]
    scores, ids = vectors.search(entry.index, query, k=3)
    assert ids[0][0] == 7 and scores[0][0] == pytest.approx(1.0, abs=1e-5)
    assert list(scores[0]) == sorted(scores[0], reverse=True)


def _corrupt(path: Path) -> None:
    path.write_bytes(b"\x00garbage" * 10)


@pytest.mark.parametrize("damage", ["garbage index", "truncated index", "garbage manifest", "missing index"])
def test_a_damaged_faiss_file_is_rebuilt_from_lancedb(store, tmp_path, damage):
    store.write_faiss(ENC, "imu", "sha")
    faiss_file = next((tmp_path / "index" / "faiss").glob("*.imu.faiss"))
    before = vectors.search(IndexStore(tmp_path / "index").faiss(ENC, "imu").index, unit_vectors(12)[3], k=5)
    if damage == "garbage index":
        _corrupt(faiss_file)
    elif damage == "truncated index":
        faiss_file.write_bytes(faiss_file.read_bytes()[:100])
    elif damage == "garbage manifest":
        _corrupt(faiss_file.with_suffix(".json"))
    else:
        faiss_file.unlink()
    entry = IndexStore(tmp_path / "index").faiss(ENC, "imu")
    assert entry.manifest.get("rebuilt_in_memory") is True
    after = vectors.search(entry.index, unit_vectors(12)[3], k=5)
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_allclose(after[0], before[0], atol=1e-6)


def test_a_stale_faiss_file_is_rebuilt_with_the_new_windows(store, tmp_path):
    store.write_faiss(ENC, "imu", "sha")
    new = unit_vectors(1, seed=9)
    store.commit(window_rows("lab/d", "3", 12, new), [recording_row("lab/d", "3")], [("lab/d", ENC, 1)])
    entry = IndexStore(tmp_path / "index").faiss(ENC, "imu")
    assert entry.manifest.get("rebuilt_in_memory") is True and entry.index.ntotal == 13
    assert vectors.search(entry.index, new[0], k=1)[1][0][0] == 12


def test_faiss_for_a_modality_with_no_windows_is_a_clear_error(store):
    with pytest.raises(LookupError, match="no 'pose' windows"):
        store.faiss(ENC, "pose")


# ----------------------------------------------------------------------------- filters


def test_subject_as_a_number_works_on_the_string_column(store):
    assert normalize_where("subject = 2") == "subject = '2'"
    assert normalize_where("trial != 3 AND subject = '1'") == "trial != '3' AND subject = '1'"
    assert normalize_where("subject IN (1, 2)") == "subject IN ('1', '2')"
    assert normalize_where("t_start >= 2") == "t_start >= 2"  # numeric columns are left alone
    assert set(store.windows("subject = 2")["recording_id"].to_list()) == {"lab/b", "lab/c"}
    assert store.windows("subject NOT IN (2)").height == 4
    assert store.recordings("subject = 1")["id"].to_list() == ["lab/a"]
    ids, _ = store.vectors(ENC, "imu", "subject = 2 AND t_start >= 2")
    assert sorted(ids.tolist()) == [6, 7, 10, 11]


@pytest.mark.parametrize("where", ["subjct = 2", "subject = = 2", "label LIKE"])
def test_a_bad_filter_is_a_value_error_naming_it(store, where):
    with pytest.raises(ValueError, match="invalid filter") as info:
        store.windows(where)
    assert where.split()[0] in str(info.value)


def test_optimize_compacts_many_small_commits_and_indexes_the_lookup_columns(store, tmp_path):
    """A build commits in pieces; optimize leaves one fragment per table and scalar indexes on
    the columns every search looks up, with the same rows as before."""
    vecs = unit_vectors(40, seed=3)
    for n in range(10):  # ten more one-recording commits, as a slow trickle of builds makes
        rec = f"lab/x{n}"
        store.commit(window_rows(rec, "3", 12 + 4 * n, vecs[4 * n : 4 * n + 4]), [recording_row(rec, "3")],
                     [(rec, ENC, 4)])
    before = store.windows(columns=["id", "recording_id", "subject"]).sort("id")
    assert store.tables["windows"].stats()["fragment_stats"]["num_fragments"] == 13
    store.optimize()
    reopened = IndexStore(tmp_path / "index")
    windows = reopened.tables["windows"]
    assert windows.stats()["fragment_stats"]["num_fragments"] == 1
    assert {tuple(ix.columns) for ix in windows.list_indices()} >= {("id",), ("recording_id",), ("encoder_id",)}
    assert reopened.windows(columns=["id", "recording_id", "subject"]).sort("id").equals(before)
    assert reopened.windows_by_id([13, 50], ["id", "recording_id"]).sort("id")["recording_id"].to_list() == [
        "lab/x0", "lab/x9"]
    store.optimize()  # again: nothing to add, nothing lost
    assert IndexStore(tmp_path / "index").count("windows") == 52


def test_admitted_ids_are_kept_until_the_table_changes(store):
    scope = sql.scope(encoder=ENC, modality="imu")
    first = store.admitted_ids("subject = 2", scope)
    assert first.tolist() == list(range(4, 12))
    assert store.admitted_ids("subject = 2", scope) is first  # evaluated once
    store.commit(window_rows("lab/d", "2", 12, unit_vectors(2, seed=9)), [recording_row("lab/d", "2")],
                 [("lab/d", ENC, 2)])
    assert store.admitted_ids("subject = 2", scope).tolist() == list(range(4, 14))  # the new version is read


def test_hits_are_joined_from_an_in_memory_copy_that_follows_new_commits(store):
    cols = ["id", "recording_id", "subject", "t_start"]
    first = store.windows_by_id([5, 0, 11, 99], cols).sort("id")
    assert first.equals(store.table("windows", "id IN (0, 5, 11)", cols).sort("id"))  # unknown ids left out
    store.commit(window_rows("lab/d", "3", 12, unit_vectors(2, seed=5)), [recording_row("lab/d", "3")],
                 [("lab/d", ENC, 2)])
    assert store.windows_by_id([13], cols)["recording_id"].to_list() == ["lab/d"]  # the new version is read
    assert store.windows_by_id([13], ["id", "vector"]).height == 1  # vectors still come from LanceDB


@pytest.mark.parametrize("craft", ["foreign ids", "other dimension", "unloadable bytes"])
def test_a_faiss_file_whose_checksum_matches_but_holds_other_windows_is_rebuilt(store, tmp_path, craft):
    """A FAISS file may come from elsewhere: a matching checksum and count are not enough, it must
    load and hold exactly the committed windows, or hits would name windows that do not exist."""
    store.write_faiss(ENC, "imu", "sha")
    faiss_file = next((tmp_path / "index" / "faiss").glob("*.imu.faiss"))
    if craft == "foreign ids":
        blob = vectors.to_bytes(vectors.build(unit_vectors(12), np.arange(1000, 1012)))
    elif craft == "other dimension":
        blob = vectors.to_bytes(vectors.build(np.eye(12, 4, dtype=np.float32), np.arange(12)))
    else:
        blob = b"\0" * 64
    faiss_file.write_bytes(blob)
    manifest_file = faiss_file.with_suffix(".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["index_sha256"] = __import__("hashlib").sha256(blob).hexdigest()
    manifest_file.write_text(json.dumps(manifest))
    entry = IndexStore(tmp_path / "index").faiss(ENC, "imu")
    assert entry.manifest.get("rebuilt_in_memory") is True
    _, ids = vectors.search(entry.index, unit_vectors(12)[3], k=12)
    assert sorted(ids[0].tolist()) == list(range(12))


# ----------------------------------------------------------------------------- FAISS builds at scale
def test_write_faiss_streams_lancedb_in_batches_without_reading_all_vectors_at_once(store, monkeypatch):
    from indexer import faiss_files

    monkeypatch.setattr(faiss_files, "SCAN_BATCH", 5)
    monkeypatch.setattr(IndexStore, "vectors", lambda *a, **k: pytest.fail("read every vector into memory"))
    batches = []
    real = FaissFiles.vector_batches

    def counted(self, *a, **k):
        for ids, vecs in real(self, *a, **k):
            batches.append(len(ids))
            yield ids, vecs
    monkeypatch.setattr(FaissFiles, "vector_batches", counted)
    manifest = store.write_faiss(ENC, "imu", "sha")
    assert manifest["mode"] == "full" and manifest["count"] == 12 and max(batches) <= 5
    assert vectors.search(store.faiss(ENC, "imu").index, unit_vectors(12)[7], k=1)[1][0][0] == 7


def test_a_build_adds_only_the_new_windows_to_the_faiss_files(store, tmp_path, monkeypatch):
    """New windows go to the delta file (the main one is not even read); past DELTA_MAX_SHARE
    the delta is merged into the main index. Either way only the new rows come from LanceDB."""
    from indexer import faiss_files

    first = store.write_faiss(ENC, "imu", "sha")
    assert (first["mode"], first["main_count"], first["delta_count"]) == ("full", 12, 0)
    read = []
    real = FaissFiles.vector_batches
    monkeypatch.setattr(FaissFiles, "vector_batches",
                        lambda self, *a, **k: (read.extend(b[0].tolist()) or b for b in real(self, *a, **k)))
    monkeypatch.setattr(faiss_files, "DELTA_MAX_SHARE", 0.4)  # a delta of up to 4.8 windows
    opened = []
    real_read = FaissFiles._read_index_file
    monkeypatch.setattr(FaissFiles, "_read_index_file", lambda self, path, sha: opened.append(path.rsplit(".", 2)[-2])
                        or real_read(self, path, sha))
    new = unit_vectors(5, seed=9)
    store.commit(window_rows("lab/d", "3", 12, new[:3]), [recording_row("lab/d", "3")], [("lab/d", ENC, 3)])
    second = store.write_faiss(ENC, "imu", "sha")
    assert opened == ["delta"]  # the main file is not even read
    assert (second["mode"], second["added"], second["count"], second["main_count"], second["delta_count"]) == \
        ("delta", 3, 15, 12, 3)
    assert sorted(read) == [12, 13, 14] and second["index_sha256"] == first["index_sha256"]
    entry = IndexStore(tmp_path / "index").faiss(ENC, "imu")
    assert "rebuilt_in_memory" not in entry.manifest  # main + delta, searched as one
    assert vectors.held_ids(entry.index).tolist() == list(range(15))
    assert vectors.search(entry.index, new[1], k=1)[1][0][0] == 13
    assert vectors.search(entry.index, unit_vectors(12)[4], k=1)[1][0][0] == 4

    read.clear()
    store.commit(window_rows("lab/e", "3", 15, new[3:]), [recording_row("lab/e", "3")], [("lab/e", ENC, 2)])
    third = store.write_faiss(ENC, "imu", "sha")  # 3 + 2 > 0.4 x 12: merged into the main index
    assert (third["mode"], third["added"], third["count"], third["main_count"], third["delta_count"]) == \
        ("compacted", 2, 17, 17, 0)
    assert sorted(read) == [12, 13, 14, 15, 16]  # the delta's rows and the new ones, not the first 12
    entry = IndexStore(tmp_path / "index").faiss(ENC, "imu")
    assert "rebuilt_in_memory" not in entry.manifest and vectors.held_ids(entry.index).tolist() == list(range(17))
    assert vectors.search(entry.index, new[4], k=1)[1][0][0] == 16


def test_a_damaged_delta_file_means_a_full_build_and_an_in_memory_rebuild(store, tmp_path):
    store.write_faiss(ENC, "imu", "sha")
    delta = next((tmp_path / "index" / "faiss").glob("*.imu.delta.faiss"))
    delta.write_bytes(delta.read_bytes()[:-3])
    assert IndexStore(tmp_path / "index").faiss(ENC, "imu").manifest.get("rebuilt_in_memory") is True
    assert store.write_faiss(ENC, "imu", "sha")["mode"] == "full"
    assert "rebuilt_in_memory" not in IndexStore(tmp_path / "index").faiss(ENC, "imu").manifest


def test_an_ivf_index_is_retrained_once_it_outgrows_its_training(tmp_path):
    s = IndexStore(tmp_path / "ix", create=True)
    vecs = unit_vectors(400, seed=3)
    s.commit(window_rows("lab/a", "1", 0, vecs[:100]), [recording_row("lab/a", "1")], [("lab/a", ENC, 100)])
    assert s.write_faiss(ENC, "imu", "sha", "IVF4,Flat")["trained_count"] == 100
    s.commit(window_rows("lab/b", "1", 100, vecs[100:200]), [recording_row("lab/b", "1")], [("lab/b", ENC, 100)])
    grown = s.write_faiss(ENC, "imu", "sha", "IVF4,Flat")
    assert (grown["mode"], grown["count"], grown["trained_count"]) == ("compacted", 200, 100)  # 2x: still fits
    s.commit(window_rows("lab/c", "1", 200, vecs[200:201]), [recording_row("lab/c", "1")], [("lab/c", ENC, 1)])
    past = s.write_faiss(ENC, "imu", "sha", "IVF4,Flat")
    assert (past["mode"], past["count"], past["trained_count"]) == ("full", 201, 201)
    assert s.write_faiss(ENC, "imu", "sha", "Flat")["mode"] == "full"  # another type asked for


def test_hits_are_joined_in_their_own_order_with_repeats(store):
    cols = ["recording_id", "t_start"]
    got = store.windows_at(np.array([5, 0, 5, 11]), cols)
    assert got.columns == cols and got["recording_id"].to_list() == ["lab/b", "lab/a", "lab/b", "lab/c"]
    assert got["t_start"].to_list() == [1.0, 0.0, 1.0, 3.0]
    unknown = store.windows_at(np.array([99, 4]), cols)  # not in the metadata: a null row, order kept
    assert unknown["recording_id"].to_list() == [None, "lab/b"]


# ----------------------------------------------------------------------------- the writer lock (indexer.locks)
def test_the_writer_lock_is_chosen_by_uri(tmp_path, caplog):
    assert isinstance(locks.writer_lock(str(tmp_path)), locks.FileLock)
    unlocked = locks.writer_lock("gs://bucket/index")
    assert isinstance(unlocked, locks.Unlocked)
    with caplog.at_level("WARNING", logger="indexer.locks"):
        unlocked.acquire()
    assert "no writer lock on this object store" in caplog.text and "gs://bucket/index" in caplog.text
    first, second = locks.FileLock(str(tmp_path)), locks.FileLock(str(tmp_path))
    first.acquire()
    with pytest.raises(IndexLocked, match=f"being written by pid {os.getpid()}"):
        second.acquire()
    first.release()
    second.acquire()  # free again
    second.release()
