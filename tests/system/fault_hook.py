"""Run `python -m indexer ...` with a pause at a named phase of the build, so a test can kill it
there with SIGKILL from outside (tests/system/test_faults.py).

    python tests/system/fault_hook.py PHASE N MARK -- build SOURCE --out DIR ...

When the build reaches PHASE for the N-th time, this writes PHASE to the file MARK and waits
(until killed, or until the file MARK.release appears, then it goes on). Phases, each at a real
write of the index (indexer.store, indexer.sidefiles, indexer.faiss_files):

    before-add:<table>   just before a LanceDB append to <table> (windows, indexed, recordings, tokens)
    after-add:<table>    just after it
    tmp-written:<kind>   a side file (kind faiss, json, encoder) written under its temporary name,
                         before the rename into place
    after-faiss          FaissFiles.write returned (one modality's accelerator in place)
    after-optimize:<table>  one table compacted

The build commits every COMMIT_EVERY recordings; MOTIONSEARCH_TEST_COMMIT_EVERY sets it (and the
embedding batch) small, so a tiny archive makes several commits. Nothing here changes what the
build writes: the hooks only wait.
"""
from __future__ import annotations

import importlib
import os
import runpy
import sys
import time
from pathlib import Path


def main() -> None:
    phase, nth, mark = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    assert sys.argv[4] == "--"
    sys.argv = ["python -m indexer", *sys.argv[5:]]
    seen: dict[str, int] = {}

    def reach(name: str) -> None:
        seen[name] = seen.get(name, 0) + 1
        if name != phase or seen[name] != nth:
            return
        mark.write_text(name)
        release = mark.with_name(mark.name + ".release")
        while not release.exists():
            time.sleep(0.05)

    build_module = importlib.import_module("indexer.build")  # the module (indexer.build is also a function)
    store_module = importlib.import_module("indexer.store")
    sidefiles = importlib.import_module("indexer.sidefiles")
    faiss_files = importlib.import_module("indexer.faiss_files")

    every = os.environ.get("MOTIONSEARCH_TEST_COMMIT_EVERY")
    if every:
        build_module.COMMIT_EVERY = int(every)
        build_module.EMBED_BATCH = 1  # embed recording by recording, so commits come every N recordings

    Store = store_module.IndexStore
    original_init = Store.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        for name, table in self.tables.items():
            add, optimize = table.add, table.optimize

            def hooked_add(data, *a, _add=add, _name=name, **k):
                reach(f"before-add:{_name}")
                out = _add(data, *a, **k)
                reach(f"after-add:{_name}")
                return out

            def hooked_optimize(*a, _optimize=optimize, _name=name, **k):
                out = _optimize(*a, **k)
                reach(f"after-optimize:{_name}")
                return out

            table.add, table.optimize = hooked_add, hooked_optimize

    def write_atomic(fs, path: str, content):  # sidefiles.write_atomic, with a pause inside
        write = content if callable(content) else (lambda f: f.write(content))
        tmp = f"{path}.tmp-{time.time_ns()}"
        with fs.open_output_stream(tmp) as f:
            out = write(f)
        kind = "faiss" if path.endswith(".faiss") else "json" if "/faiss/" in path else "encoder"
        reach(f"tmp-written:{kind}")
        fs.move(tmp, path)
        return out

    original_write_faiss = faiss_files.FaissFiles.write

    def write_faiss(self, *args, **kwargs):
        out = original_write_faiss(self, *args, **kwargs)
        reach("after-faiss")
        return out

    Store.__init__, sidefiles.write_atomic, faiss_files.FaissFiles.write = init, write_atomic, write_faiss
    runpy.run_module("indexer", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
