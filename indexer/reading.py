"""Reading and windowing recordings for a build, in this process or in worker processes.

`read_and_cut` turns an Entry into a Cut: the recording and its windows, or the file and the
reason it is skipped. `cuts` does it for a whole archive, in order; with workers it runs in
spawned processes, a few recordings a task, a bounded number of tasks ahead of the caller, so
memory stays bounded however large the archive. This module imports nothing heavy (no
LanceDB, no torch): it is what every worker process imports.

Workers are not forked from the build: a fork copies the parent's LanceDB, polars and torch
thread pools in whatever state they are in, and a polars read in such a child was seen to hang.
They fork from a fresh `forkserver` process that has imported only the reading code (numpy,
scipy, the importer), so a worker starts in milliseconds and never sees the model. What a task
carries must therefore pickle: the entries (the importers' loaders are functools.partial of
module functions) and `Embedder.window_cutter()` (the windowing of a checkpoint, without its
model). Entries that do not pickle (a loader closure of one's own) are read in this process.
"""
from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import multiprocessing
import os
import pickle
import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from indexer.errors import BadInput
from indexer.importers import keeps, select
from indexer.model import Entry, Recording

log = logging.getLogger(__name__)

PARALLEL_MIN = 64  # recordings to read below which starting worker processes costs more than it saves
CHUNK = 8  # recordings a worker reads per task (one a task spent more on the hand-over than on small files)
READ_AHEAD_BYTES = 256 << 20  # windows read ahead of the embedding, at most (about one embedding batch of video)
MAX_AHEAD = 256  # chunks read ahead, at most


@dataclass
class Selection:
    """Which recordings of an archive to index: only `subjects`, not `exclude`, only `split`
    (None: no restriction). Decided from the listing where it tells, else once loaded."""

    subjects: set[str] | None = None
    exclude: set[str] | None = None
    split: str | None = None

    def pick(self, entries: list[Entry]) -> list[Entry]:
        return select(entries, self.subjects, self.exclude, self.split)

    def keeps(self, rec: Recording) -> bool:
        return keeps(rec.subject, self.subjects, self.exclude)


@dataclass
class Cut:
    """One recording read and windowed (`rec`, `windows`), or why not: `skipped` is (file, reason);
    `not_selected` when the loaded recording's subject is left out by the selection. `embed_cuts`
    then replaces `windows` by `embedded` (EmbeddedWindows). `source` names the recording's file."""

    source: str
    rec: Recording | None = None
    windows: list = field(default_factory=list)
    skipped: tuple[str, str] | None = None
    not_selected: bool = False
    embedded: list | None = None
    notes: list[str] = field(default_factory=list)  # what the importer repaired, one line each (`importer_notes`)


@dataclass(frozen=True)
class Reader:
    """What reading needs of a build: the encoder's `window_cutter()`, the modalities it reads
    (to say so when a recording has none of them) and the selection. Picklable."""

    cut: Callable[[Recording], list]
    modalities: tuple[str, ...]
    selection: Selection = field(default_factory=Selection)

    def __call__(self, entry: Entry) -> Cut:
        return read_and_cut(entry, self)


def where(entry: Entry) -> str:
    """The file a skipped recording is named by when the error does not name one."""
    return entry.sources[0] if entry.sources else entry.id


class _Notes(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def importer_notes() -> Iterator[list[str]]:
    """The importers' warnings while a recording loads (a repaired clock, ignored joints: one line
    naming the file each), kept instead of printed: they ride back with the Cut, from a worker
    too, and the build prints a few of each kind and counts the rest (indexer.build)."""
    logger = logging.getLogger("indexer.importers")
    handler, propagate = _Notes(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


NOTES_SHOWN = 3  # an importer's notes of one kind printed as they come; the rest are counted


def note_kind(note: str) -> str:
    """What a note says without the file it names or its numbers ("N timestamp(s) went
    backwards; samples sorted by time"), so that one repair over many files reads as one line."""
    return re.sub(r"\d+(\.\d+)?", "N", note.split(": ", 1)[-1])


class NotePrinter:
    """A build's importer notes: each kept in `kept`, the first NOTES_SHOWN of a kind printed as
    they come (`write`), so a repair made to every file of an archive costs a few lines, not one
    per file; the summary counts them all (`BuildSummary.format`, `more`)."""

    def __init__(self, kept: list[str], write):
        self.kept, self.write, self.seen = kept, write, collections.Counter()

    def add(self, lines: list[str]) -> None:
        for line in lines:
            self.kept.append(line)
            kind = note_kind(line)
            self.seen[kind] += 1
            if self.seen[kind] <= NOTES_SHOWN:
                self.write(f"note: {line}")

    def more(self) -> list[str]:
        """One line per kind with more notes than were printed, counting the rest."""
        return [f"... and {n - NOTES_SHOWN} more: {kind}" for kind, n in self.seen.items() if n > NOTES_SHOWN]


def read_and_cut(entry: Entry, reader: Reader) -> Cut:
    """Load one recording and cut its windows; bad input becomes a Cut naming the file and the
    reason instead of an exception, so that it can come back from a worker. The importer's
    notes on what it repaired come back with it (`importer_notes`)."""
    with importer_notes() as notes:
        cut = _read_and_cut(entry, reader)
    cut.notes = list(notes)
    return cut


def _read_and_cut(entry: Entry, reader: Reader) -> Cut:
    try:
        rec = entry.load()
        if not reader.selection.keeps(rec):  # the listing did not tell the subject; the recording does
            return Cut(where(entry), not_selected=True)
        windows = reader.cut(rec)
        if not windows:
            raise BadInput(where(entry), f"no stream the encoder reads (it needs {', '.join(reader.modalities)}; "
                                         f"the recording has {', '.join(rec.modalities()) or 'none'})")
    except BadInput as exc:
        return Cut(where(entry), skipped=(exc.path or where(entry), exc.reason))
    except Exception as exc:  # an importer bug must not kill a long build either; it is reported
        return Cut(where(entry), skipped=(where(entry), f"unexpected {type(exc).__name__}: {exc}"))
    return Cut(where(entry), rec, windows)


def embed_cuts(encoder, batch: list[Cut]) -> None:
    """Embed the windows of every readable Cut of `batch` in one `encoder.embed_windows` call
    (large batches across recordings run at the model's speed), in place. A model that fails
    on them skips each of their recordings, named."""
    ready = [c for c in batch if c.windows]
    try:
        embedded = encoder.embed_windows([c.windows for c in ready]) if ready else []
    except Exception as exc:  # a model that cannot read this data: each recording is named
        for c in ready:
            c.skipped = (c.source, f"unexpected {type(exc).__name__} while embedding: {exc}")
        embedded = [None] * len(ready)
    for c, e in zip(ready, embedded):
        c.embedded, c.windows = e, []


def batches(cuts: Iterator[Cut], windows: int, nbytes: int) -> Iterator[list[Cut]]:
    """Consecutive Cuts, grouped until their windows reach `windows` or their samples `nbytes`."""
    batch: list[Cut] = []
    held = [0, 0]
    for cut in cuts:
        batch.append(cut)
        held[0] += len(cut.windows)
        held[1] += sum(w.data.nbytes for w in cut.windows)
        if held[0] >= windows or held[1] >= nbytes:
            yield batch
            batch, held = [], [0, 0]
    if batch:
        yield batch


def _read_all(reader: Reader, entries: list[Entry]) -> list[Cut]:
    return [read_and_cut(entry, reader) for entry in entries]


def default_workers() -> int:
    """Reading processes: one per core this process may use but the one that embeds, and none
    on two cores or fewer: there the workers' start (a fresh interpreter importing scipy) and
    three processes sharing two cores cost more than the overlap saved (docs/bench.md: 0.22 of
    the encoder's speed with two workers against 0.46 in process on UTD-MHAD)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return cores - 1 if cores > 2 else 0


def _picklable(payload) -> bool:
    try:
        pickle.dumps(payload)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        log.info("reading in this process: the entries cannot go to worker processes (%s)", exc)
        return False
    return True


def _context(reader: Reader, sample: list[Entry]):
    """The forkserver context, its server preloading the modules the tasks run (this one, the
    cutter's, the importers' of `sample`); spawn where there is no forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    loaders = (getattr(e.load, "func", e.load) for e in sample)
    modules = {__name__, type(reader.cut).__module__, *(getattr(f, "__module__", None) for f in loaders)}
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(sorted(m for m in modules if m and m != "__main__"))
    return context


def _ready() -> bool:
    return True


def _start(pool: ProcessPoolExecutor, started: Future) -> None:
    try:
        started.set_result(pool.submit(_ready).result())
    except BaseException as exc:  # handed to the reading loop, which raises it
        started.set_exception(exc)


def _nbytes(cuts: list[Cut]) -> int:
    return sum(w.data.nbytes for c in cuts for w in c.windows) + 1


def cuts(entries: list[Entry], reader: Reader, workers: int | None = None) -> Iterator[Cut]:
    """`read_and_cut` of each entry, in the order of `entries`. `workers`: processes reading
    (None: `default_workers()`; 0, or fewer than PARALLEL_MIN entries: this process).

    While the workers start (their server imports numpy and scipy afresh), this process reads
    the first chunks itself. Then the workers read ahead of the caller as many chunks as fit
    in READ_AHEAD_BYTES (measured on the chunks already handed over), at least two per worker:
    enough to keep reading while the caller embeds a whole batch, never the whole archive."""
    workers = default_workers() if workers is None else workers
    if workers <= 0 or len(entries) < PARALLEL_MIN or not _picklable((reader, entries[:CHUNK])):
        for entry in entries:
            yield read_and_cut(entry, reader)
        return
    tasks = (entries[i : i + CHUNK] for i in range(0, len(entries), CHUNK))
    with ProcessPoolExecutor(workers, mp_context=_context(reader, entries[:CHUNK])) as pool:
        # The first submit blocks until the workers exist: a thread makes it, and this process
        # reads meanwhile (at least one chunk, so a pool that fails to start fails here).
        started = Future()
        threading.Thread(target=_start, args=(pool, started), name="start-readers", daemon=True).start()
        for task in tasks:
            yield from _read_all(reader, task)
            if started.done():
                break
        started.result()
        pending: collections.deque = collections.deque()
        chunk_bytes = 0.0  # running mean of a chunk's windows, in bytes
        while True:
            ahead = max(2 * workers, min(MAX_AHEAD, int(READ_AHEAD_BYTES / max(chunk_bytes, 1.0))))
            pending.extend(pool.submit(_read_all, reader, t) for t in itertools.islice(tasks, max(0, ahead - len(pending))))
            if not pending:
                return
            done = pending.popleft().result()
            chunk_bytes = _nbytes(done) if not chunk_bytes else 0.8 * chunk_bytes + 0.2 * _nbytes(done)
            yield from done
