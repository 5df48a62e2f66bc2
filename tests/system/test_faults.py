"""Fault injection on real `python -m indexer build` processes: SIGKILL at named phases of the
build (tests/system/fault_hook.py pauses the process there, then the test kills it from outside), two
builds into one index at once, and a disk that fills up (a small tmpfs in a user namespace where
the machine allows one, and an injected ENOSPC everywhere).

After each kill: a reader of the index as the kill left it sees only committed windows (FAISS,
its in-memory rebuild, metadata, recordings), and a rerun gives an index equal to an
uninterrupted build (the same window rows, ids and vectors, recordings and commit log).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import make_tiny_encoder
from test_build import add_good_recording, write_example

from indexer import cli as indexer_cli
from indexer.store import IndexStore

REPO = Path(__file__).resolve().parents[2]
HOOK = Path(__file__).with_name("fault_hook.py")
RECORDINGS = 8
COMMIT_EVERY = 2  # 8 recordings -> 4 commits in the killed builds

# (phase, n-th time it is reached): where the build is killed, from its first write to its last.
PHASES = [
    ("tmp-written:encoder", 1),  # the checkpoint kept with the index, half written
    ("after-add:windows", 1),  # first commit: windows written, no recording or commit-log row yet
    ("after-add:recordings", 1),  # first commit: everything but its commit-log row
    ("after-add:indexed", 1),  # one commit complete, three to go
    ("before-add:indexed", 3),  # two commits complete, the third's windows and recordings written
    ("tmp-written:faiss", 1),  # LanceDB complete; a FAISS file written under its temporary name
    ("after-faiss", 1),  # one modality's FAISS file in place, the other's not
    ("after-optimize:windows", 1),  # compaction under way
]


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
            "MOTIONSEARCH_TEST_COMMIT_EVERY": str(COMMIT_EVERY)}


def _build_argv(archive: Path, out: Path, ckpt: Path, *extra: str) -> list[str]:
    return ["build", str(archive), "--out", str(out), "--checkpoint", str(ckpt), "--quiet", *extra]


def _paused(phase: str, nth: int, mark: Path, argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HOOK), phase, str(nth), str(mark), "--", *argv], cwd=REPO,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(mark: Path, proc: subprocess.Popen, timeout: float = 240.0) -> None:
    end = time.time() + timeout
    while not mark.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the build ended (exit {proc.returncode}) before reaching {mark.name}:\n{out}\n{err}")
        if time.time() > end:
            proc.kill()
            pytest.fail(f"the build did not reach {mark.name} in {timeout:.0f} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The archive, a tiny checkpoint, an uninterrupted reference build, and one build per
    phase started at once (each pauses at its phase; the tests kill them)."""
    root = tmp_path_factory.mktemp("faults")
    archive = root / "archive"
    write_example(archive)
    for n in range(RECORDINGS - 2):
        add_good_recording(archive, f"long_{n:02d}", 6.0 + n % 3, seed=n, subject=f"s{n % 3}")
    ckpt = root / "ckpt"
    encoder = make_tiny_encoder(ckpt)
    reference = root / "reference"
    assert indexer_cli.main(_build_argv(archive, reference, ckpt)) == 0
    return {"root": root, "archive": archive, "ckpt": ckpt, "encoder": encoder, "reference": reference}


@pytest.fixture(scope="module")
def paused_builds(world):
    """One build per phase, all started at once (their start-up, mostly importing torch, then
    overlaps); each pauses at its phase for a test to kill it there."""
    procs = {}
    for phase, nth in PHASES:
        name = f"{phase.replace(':', '-')}-{nth}"
        mark = world["root"] / f"{name}.mark"
        argv = _build_argv(world["archive"], world["root"] / name, world["ckpt"])
        procs[(phase, nth)] = (_paused(phase, nth, mark, argv), mark, world["root"] / name)
    yield procs
    for proc, _, _ in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _contents(out: Path) -> dict:
    """What an index holds, the part a rerun must reproduce (times of writing aside)."""
    store = IndexStore(out)
    windows = store.table("windows").sort("id")
    return {
        "windows": windows.drop("vector"),
        "vectors": np.stack(windows["vector"].to_numpy()),
        "recordings": store.table("recordings").sort("id"),
        "indexed": store.table("indexed").drop("built_at").sort(["recording_id", "encoder_id"]),
        "faiss": sorted((m["modality"], m["count"], m["index_type"]) for m in store.faiss_manifests()),
    }


def _assert_only_committed(out: Path, encoder_id: str) -> int:
    """A reader of the index as the kill left it: nothing it serves comes from uncommitted rows.
    Returns how many windows were committed."""
    from query import open_index

    store = IndexStore(out)
    log = store.table("indexed")
    committed = set(log["recording_id"].to_list())
    n_committed = int(log["windows"].sum() or 0)
    raw = store.table("windows", columns=["id", "recording_id"])
    seen = store.windows(columns=["id", "recording_id"])
    assert set(seen["recording_id"].to_list()) <= committed and seen.height == n_committed
    assert set(store.recordings()["id"].to_list()) == committed
    uncommitted = raw.filter(~pl.col("recording_id").is_in(list(committed)))
    index = open_index(out)
    for modality in ("imu", "pose"):
        want = set(store.committed_ids(encoder_id, modality).tolist())
        if not want:
            with pytest.raises(LookupError):
                store.faiss(encoder_id, modality)
            continue
        entry = store.faiss(encoder_id, modality)  # the file the kill left, or rebuilt in memory from LanceDB
        import faiss

        held = set(faiss.vector_to_array(faiss.downcast_index(entry.index).id_map).tolist())
        assert held == want
        hits = index.search_vector(np.ones(16, np.float32) / 4, modality, k=100, encoder_id=encoder_id)
        assert hits.height == len(want) and set(hits["recording_id"].to_list()) <= committed
        assert hits["recording_id"].null_count() == 0
    if uncommitted.height:  # a window written but not committed is not there for a reader
        with pytest.raises(LookupError, match="no window with id"):
            index.search_window(int(uncommitted["id"][0]), "pose", k=3)
    return n_committed


KILLED: list[tuple[str, int, int]] = []  # (phase, windows committed when killed, rerun equal)


@pytest.mark.slow
@pytest.mark.parametrize("phase, nth", PHASES, ids=[f"{p}#{n}" for p, n in PHASES])
def test_a_build_killed_at_a_phase_serves_only_commits_and_reruns_to_the_same_index(world, paused_builds, phase, nth,
                                                                                    capsys):
    proc, mark, out = paused_builds[(phase, nth)]
    _wait_for(mark, proc)
    assert proc.poll() is None  # paused at the phase, not finished
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    committed = _assert_only_committed(out, world["encoder"].id)

    assert indexer_cli.main(_build_argv(world["archive"], out, world["ckpt"])) == 0
    assert "Traceback" not in capsys.readouterr().err
    got, want = _contents(out), _contents(world["reference"])
    assert got["windows"].equals(want["windows"])  # same ids, recordings, times, labels
    np.testing.assert_allclose(got["vectors"], want["vectors"], rtol=0, atol=1e-6)
    for part in ("recordings", "indexed"):
        assert got[part].equals(want[part]), part
    assert got["faiss"] == want["faiss"]
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # no half-written side file left
    assert "rebuilt_in_memory" not in IndexStore(out).faiss(world["encoder"].id, "imu").manifest
    KILLED.append((phase, committed, 1))


def test_the_kills_covered_every_phase(world):
    """The counts the hardening note reports: every phase killed, every rerun equal."""
    assert len(KILLED) == len(PHASES)
    print(json.dumps({"phases_killed": len(KILLED), "reruns_equal": sum(k[2] for k in KILLED),
                      "committed_windows_at_kill": {k[0]: k[1] for k in KILLED}}))


@pytest.mark.slow
def test_two_builds_at_once_one_waits_or_fails_naming_the_holder(world):
    """The first build holds the index (paused after its first commit). A second fails at once
    with one line naming the first one's pid; a third with --wait waits and then adds nothing."""
    root, archive, ckpt = world["root"], world["archive"], world["ckpt"]
    out, mark = root / "concurrent", root / "concurrent.mark"
    first = _paused("after-add:indexed", 1, mark, _build_argv(archive, out, ckpt))
    _wait_for(mark, first)
    second = subprocess.run([sys.executable, "-m", "indexer", *_build_argv(archive, out, ckpt)], cwd=REPO,
                            env=_env(), capture_output=True, text=True, timeout=240)
    err = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(err) == 1, second.stderr
    assert f"is being written by pid {first.pid}" in err[0] and str(out) in err[0]
    waiting = subprocess.Popen([sys.executable, "-m", "indexer", *_build_argv(archive, out, ckpt, "--wait")],
                               cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    assert waiting.poll() is None  # waiting for the lock
    mark.with_name(mark.name + ".release").write_text("go on")
    assert first.wait(timeout=240) == 0
    stdout, stderr = waiting.communicate(timeout=240)
    assert waiting.returncode == 0, stderr
    assert f"already indexed: {RECORDINGS}" in stdout and "windows written: 0" in stdout
    got, want = _contents(out), _contents(world["reference"])
    assert got["windows"].equals(want["windows"]) and got["indexed"].equals(want["indexed"])
    assert got["windows"]["id"].n_unique() == got["windows"].height  # no colliding window ids


# ----------------------------------------------------------------------------- a full disk

_FILL = textwrap.dedent("""
    import contextlib, io, json, subprocess, sys
    sys.path.insert(0, {repo!r})
    from indexer import cli
    results = []
    for n, size in enumerate({sizes!r}):
        mount = f"{root}/disk{{n}}"
        subprocess.run(["mkdir", "-p", mount], check=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={{size}}", "tmpfs", mount], check=True)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(["build", {archive!r}, "--out", f"{{mount}}/ix", "--checkpoint", {ckpt!r}, "--quiet"])
        reader = io.StringIO()
        from query import cli as qcli
        with contextlib.redirect_stderr(reader), contextlib.redirect_stdout(io.StringIO()):
            read = qcli.main(["recordings", "--index", f"{{mount}}/ix"])
        results.append({{"size": size, "code": code, "err": err.getvalue(), "read": read,
                         "read_err": reader.getvalue(), "mount": mount}})
    print(json.dumps(results))
""")


@pytest.mark.slow
def test_a_disk_that_fills_up_is_one_line_naming_the_file(world, tmp_path):
    """Real ENOSPC from a small tmpfs (mounted in a user namespace: no root needed), at sizes that
    run out in different writes: the encoder copy, a LanceDB table, a FAISS file."""
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("no user namespaces here to mount a small filesystem in")
    full = sum(p.stat().st_blocks * 512 for p in world["reference"].rglob("*") if p.is_file())  # what tmpfs counts
    sizes = sorted({max(16, int(full * f / 4096)) * 4096 for f in (0.1, 0.3, 0.5, 0.7)})
    script = _FILL.format(repo=str(REPO), sizes=sizes, root=str(tmp_path), archive=str(world["archive"]),
                          ckpt=str(world["ckpt"]))
    run = subprocess.run(["unshare", "-rm", sys.executable, "-c", script], cwd=REPO, env=_env(),
                         capture_output=True, text=True, timeout=400)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout.strip().splitlines()[-1])
    named = set()
    for r in results:
        if r["code"] == 0:
            continue
        lines = r["err"].strip().splitlines()
        assert r["code"] == 1 and len(lines) == 1, r
        assert "No space left on device" in lines[0] and "Traceback" not in r["err"]
        path = lines[0].removeprefix("error: ").split(": No space")[0]
        assert path.startswith(r["mount"] + "/ix"), lines[0]  # names the file (or table) that did not fit
        named.add(path.split("/ix/", 1)[1].split("/")[0])
        assert r["read"] in (0, 2) and len(r["read_err"].strip().splitlines()) <= 1  # a reader is not broken by it
    assert len(named) >= 2, results  # the disk ran out in more than one kind of write


def test_an_injected_enospc_in_lancedb_or_a_side_file_names_it(world, tmp_path, monkeypatch, capsys):
    """The forms a full disk takes where no small filesystem can be mounted: LanceDB's
    RuntimeError (its own Rust source path in it) and pyarrow's OSError naming no file."""
    import lancedb.table

    out = tmp_path / "ix"
    lance_full = RuntimeError("lance error: LanceError(IO): Generic LocalFileSystem error: Unable to copy data to "
                              "file: No space left on device (os error 28), /root/.cargo/registry/src/lance/io.rs:1:2")

    def no_space(*args, **kwargs):
        raise lance_full

    monkeypatch.setattr(lancedb.table.LanceTable, "add", no_space)
    assert indexer_cli.main(_build_argv(world["archive"], out, world["ckpt"])) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out}/windows.lance: No space left on device (the index keeps its last complete build)"]
    monkeypatch.undo()

    class FullDisk:  # the store's filesystem, every new file failing as pyarrow fails on a full disk
        def __init__(self, fs):
            self._fs = fs

        def __getattr__(self, name):
            return getattr(self._fs, name)

        def open_output_stream(self, path, *args, **kwargs):
            raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")

    opened = IndexStore.__init__

    def init(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        self.fs = FullDisk(self.fs)

    monkeypatch.setattr(IndexStore, "__init__", init)
    assert indexer_cli.main(_build_argv(world["archive"], tmp_path / "ix2", world["ckpt"])) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {tmp_path / 'ix2'}/encoders/")
    assert "model.safetensors: No space left on device" in err[0]
    monkeypatch.undo()
    assert not [p for p in (tmp_path / "ix2").rglob("*") if ".tmp-" in p.name]
