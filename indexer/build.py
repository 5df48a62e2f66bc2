"""archive -> windows -> vectors -> LanceDB tables + FAISS indexes.

A build reads only recordings the index does not hold yet for this encoder, so running it
again does no repeated work and adding recordings to a source adds only those. Each recording
is read, windowed and embedded in memory before anything is written, so bad input never
leaves half a recording behind; the file and the reason are reported and the build goes on.

Reading and windowing (indexer.reading) run in worker processes while this one embeds what
they hand back in large batches across recordings and writes large commits, so the build runs
at about the encoder's own speed. Their results come back in the archive's order: window ids,
and so the whole index, do not depend on how many workers ran.
"""
from __future__ import annotations

import collections
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from indexer.embedder import EmbeddedWindow, Embedder
from indexer.model import Entry, Recording
from indexer.reading import NOTES_SHOWN, Cut, NotePrinter, Reader, Selection, batches, cuts, embed_cuts, note_kind
from indexer.store import IndexStore

log = logging.getLogger(__name__)

# A LanceDB write once this many recordings or windows are pending, whichever comes first:
# few, large fragments, while the rows held in memory stay bounded.
COMMIT_EVERY = 1024
COMMIT_WINDOWS = 8192
EMBED_BATCH = 512  # windows embedded together, across recordings: the encoder runs at batch speed
EMBED_BYTES = 256 << 20  # ... unless their samples or frames reach this many bytes first (video)


@dataclass
class BuildSummary:
    found: int = 0
    not_selected: int = 0  # left out by --subjects / --exclude-subjects / --split: not errors
    already_indexed: int = 0
    read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the importers repaired (indexer.reading.importer_notes)
    windows_written: int = 0
    tokens_written: int = 0
    removed_incomplete: int = 0
    faiss: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def format(self) -> str:
        chosen = f", not selected: {self.not_selected}" if self.not_selected else ""
        lines = [
            f"recordings found: {self.found}{chosen}, already indexed: {self.already_indexed}, "
            f"read: {self.read}, skipped: {len(self.skipped)}",
            f"windows written: {self.windows_written} in {self.seconds:.1f} s",
        ]
        if self.tokens_written:
            lines.append(f"tokens written: {self.tokens_written} (0.2 s each)")
        if self.removed_incomplete:
            lines.append(f"removed {self.removed_incomplete} windows left by an interrupted build")
        for m in self.faiss:
            kind = m["modality"] if m.get("table", "windows") == "windows" else f"{m['table']} {m['modality']}"
            lines.append(f"faiss index {m['encoder_id']} / {kind}: {m['count']} vectors, "
                         f"dim {m['dimension']}, {m['index_type']}")
        kinds = collections.Counter(map(note_kind, self.notes))
        if any(count > NOTES_SHOWN for count in kinds.values()):
            lines.append(f"notes: {len(self.notes)} on what the importer repaired; of each kind the first "
                         f"{NOTES_SHOWN} were printed above:")
            lines.extend(f"  {count} x {kind}" for kind, count in kinds.items())
        if self.skipped:
            lines.append("skipped:")
            lines.extend(f"  {path}: {reason}" for path, reason in self.skipped)
        return "\n".join(lines)


def recording_row(rec: Recording) -> dict:
    return {
        "id": rec.id, "dataset": rec.dataset, "subject": rec.subject, "trial": rec.trial,
        "labels": list(rec.labels), "text": rec.label_text(), "duration": float(rec.duration),
        "modalities": rec.modalities(), "sources": list(rec.sources),
    }


def rows_of(rec: Recording, embedded: list[EmbeddedWindow], encoder_id: str, next_window_id: int,
            next_token_id: int) -> tuple[list[dict], list[dict]]:
    """LanceDB rows (windows, tokens) of one recording's embedded windows; window ids start at
    `next_window_id`, token ids at `next_token_id`, and each token row names its window. A
    window's label is the text span covering most of it (else the recording's labels), so a
    filter on `label` finds the moments of a long annotated recording, not all of it."""
    rows: list[dict] = []
    tokens: list[dict] = []
    for w in embedded:
        window_id = next_window_id + len(rows)
        rows.append({
            "id": window_id, "recording_id": rec.id, "dataset": rec.dataset, "subject": rec.subject,
            "modality": w.modality, "body_part": w.body_part, "t_start": w.t_start, "t_end": w.t_end,
            "label": rec.window_label(w.t_start, w.t_end), "encoder_id": encoder_id, "vector": np.asarray(w.vector).tolist(),
        })
        for t0, t1, vec in w.tokens:
            tokens.append({
                "id": next_token_id + len(tokens), "window_id": window_id, "recording_id": rec.id,
                "encoder_id": encoder_id, "modality": w.modality, "body_part": w.body_part,
                "t_start": float(t0), "t_end": float(t1), "vector": np.asarray(vec).tolist(),
            })
    return rows, tokens


def embedded_here(cuts: Iterator[Cut], encoder: Embedder) -> Iterator[Cut]:
    """The Cuts, embedded in this process in batches of about EMBED_BATCH windows, in order."""
    for batch in batches(cuts, EMBED_BATCH, EMBED_BYTES):
        embed_cuts(encoder, batch)
        yield from batch


def build(entries: list[Entry], store: IndexStore, encoder: Embedder, progress: bool = True,
          index_type: str | None = None, wait: bool = False, selection: Selection | None = None,
          workers: int | None = None, ray=None) -> BuildSummary:
    """Embed the recordings of `entries` the index does not hold yet for `encoder` and write
    them, holding the index's writer lock throughout (`wait`: wait for another writer instead
    of failing with IndexLocked). `selection` leaves recordings out before their files are read
    where the listing names their subject / split, else right after loading; they are counted
    as not selected, not as skipped. `workers`: processes that read and window (None:
    `indexer.reading.default_workers()`; 0: all in this process). `ray`: an `indexer.distributed.RayRunner`, which reads, windows
    and embeds on a Ray cluster instead. The index is the same either way."""
    with store.writer(wait=wait):
        return _build(entries, store, encoder, progress, index_type, selection or Selection(), workers, ray)


def _build(entries: list[Entry], store: IndexStore, encoder: Embedder, progress: bool,
           index_type: str | None, selection: Selection, workers: int | None, ray) -> BuildSummary:
    start = time.time()
    summary = BuildSummary(found=len(entries))
    chosen = selection.pick(entries)
    summary.not_selected = len(entries) - len(chosen)
    summary.removed_incomplete = store.remove_incomplete()
    store.kept.save_encoder(encoder.id, encoder.checkpoint_files)
    done = store.indexed_ids(encoder.id)
    todo = [e for e in chosen if e.id not in done]
    summary.already_indexed = len(chosen) - len(todo)
    next_id = store.next_window_id()
    with_tokens = encoder.has_tokens  # a MoBind token checkpoint
    next_token = store.next_token_id() if with_tokens else 0
    pending_tokens: list[dict] = []
    pending_rows: list[dict] = []
    pending_recs: list[dict] = []
    pending_done: list[tuple[str, str, int]] = []
    touched: set[str] = set()

    def flush() -> None:
        store.commit(pending_rows, pending_recs, pending_done, tokens=pending_tokens)
        for pending in (pending_tokens, pending_rows, pending_recs, pending_done):
            pending.clear()

    bar = tqdm(total=len(todo), desc="indexing", unit="rec", disable=not progress)

    def skip(path: str, reason: str) -> None:
        summary.skipped.append((path, reason))
        bar.write(f"skipped {path}: {reason}")

    notes = NotePrinter(summary.notes, bar.write)

    reader = Reader(encoder.window_cutter(), tuple(encoder.modalities), selection)
    if ray is not None:
        embedded = ray.embedded(todo, reader, encoder)
    else:
        embedded = embedded_here(cuts(todo, reader, workers), encoder)
    for cut in embedded:  # in the order of `todo`, whoever read and embedded them
        bar.update(1)
        notes.add(cut.notes)
        if cut.not_selected:
            summary.not_selected += 1
            continue
        if cut.skipped:
            skip(*cut.skipped)
            continue
        rec = cut.rec
        rows, tokens = rows_of(rec, cut.embedded, encoder.id, next_id, next_token)
        next_id += len(rows)
        next_token += len(tokens)
        pending_tokens.extend(tokens)
        summary.tokens_written += len(tokens)
        summary.read += 1
        summary.windows_written += len(rows)
        touched.update(r["modality"] for r in rows)
        pending_rows.extend(rows)
        pending_recs.append(recording_row(rec))
        pending_done.append((rec.id, encoder.id, len(rows)))
        bar.set_postfix(windows=summary.windows_written,
                        windows_per_s=f"{summary.windows_written / max(1e-9, time.time() - start):.0f}", refresh=False)
        if len(pending_done) >= COMMIT_EVERY or len(pending_rows) >= COMMIT_WINDOWS:
            flush()
    bar.close()
    flush()
    for table in ("windows", "tokens") if with_tokens else ("windows",):
        summary.faiss += store.faiss_files.refresh(table, encoder.id, encoder.modalities, encoder.checksum, touched,
                                                   index_type)
    if summary.read or summary.removed_incomplete:
        store.optimize()
    summary.seconds = time.time() - start
    return summary


def build_path(out: str | Path, entries: list[Entry], encoder: Embedder, **kw) -> BuildSummary:
    return build(entries, IndexStore(out, create=True), encoder, **kw)
