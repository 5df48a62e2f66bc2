"""Importers: turn a source (a folder, a manifest, ...) into `Entry`s that load `Recording`s.

Each importer module exposes `detect(path) -> bool` and `discover(path) -> list[Entry]`.
`discover` only lists (cheap); `Entry.load()` reads and validates one recording and raises
`BadInput` naming the file and the reason when it cannot.
"""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from indexer.model import Entry

# Format name -> module. Order matters for auto-detection: the most specific layout first.
IMPORTERS: dict[str, str] = {
    "utd-mhad": "indexer.importers.utd_mhad",
    "archive": "indexer.importers.archive",
    "bvh": "indexer.importers.bvh",
    "demo": "indexer.importers.demo",
}


def importer(fmt: str) -> ModuleType:
    if fmt not in IMPORTERS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(IMPORTERS)}")
    return importlib.import_module(IMPORTERS[fmt])


def detect_format(source: str | Path) -> str:
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"{path}: source does not exist")
    for name in IMPORTERS:
        if name != "demo" and importer(name).detect(path):
            return name
    raise ValueError(
        f"{path}: not a layout any importer knows. Expected a UTD-MHAD folder (inertial/, skeleton/), "
        "an archive manifest (manifest.toml / manifest.csv, see README), or a folder of .bvh files."
    )


def discover(source: str | Path | None, fmt: str | None = None) -> list[Entry]:
    """The recordings of `source`. Paths are made absolute first, so an index stores source
    files that still resolve when it is opened from another directory."""
    fmt = fmt or detect_format(source)
    # abspath, not resolve: a path through a symlinked folder stays the path the user gave
    return importer(fmt).discover(Path(os.path.abspath(source)) if source is not None else None)


def select(entries: list[Entry], subjects: set[str] | None = None, exclude: set[str] | None = None,
           split: str | None = None) -> list[Entry]:
    """The entries of the chosen subjects / split, decided from the listing alone (before any
    file is read). An entry whose listing does not tell its subject is kept: its recording is
    checked once loaded (see `keeps`)."""
    out = []
    for e in entries:
        if split is not None and e.split is not None and e.split != split:
            continue
        if e.subject is not None and not keeps(e.subject, subjects, exclude):
            continue
        out.append(e)
    return out


def keeps(subject: str | None, subjects: set[str] | None = None, exclude: set[str] | None = None) -> bool:
    """Whether a recording of `subject` is in a selection (`subjects`: only these; `exclude`: not these)."""
    if subjects is not None and subject not in subjects:
        return False
    return not (exclude and subject in exclude)
