"""Read a recording of an index back from its sources, to look at it whole.

The index keeps vectors and metadata, not the signals; the `recordings` table remembers which
files (`sources`) each recording came from and which importer read them (`dataset` and the
file kinds). Re-reading goes through the same importer, so what is shown is exactly what was
indexed: same units, same skeleton mapping, same rates.
"""
from __future__ import annotations

import re
from pathlib import Path

from indexer import BadInput, Recording
from indexer.importers import archive, bvh, demo, utd_mhad

DEMO_PREFIX = "demo://"
_UTD_INERTIAL = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_inertial\.mat$")
# How far above a stream file an archive manifest may sit (archives keep streams in subfolders).
_MANIFEST_LEVELS = 4


def _demo(row: dict) -> Recording:
    labels = list(row.get("labels") or [])
    if not labels or labels[0] not in demo.ACTIONS or not row.get("subject") or not row.get("trial"):
        raise BadInput(row["sources"][0], "demo recording without a known action, subject and trial")
    return demo.make_recording(labels[0], str(row["subject"]), str(row["trial"]))


def _utd(row: dict, inertial: Path) -> Recording:
    m = _UTD_INERTIAL.match(inertial.name)
    root = inertial.parent.parent
    return utd_mhad.load_recording(root, int(m.group(1)), m.group(2), m.group(3), utd_mhad.read_actions(root))


def _bvh(row: dict, path: Path) -> Recording:
    info = bvh.read_descriptions(path.parent).get(path.stem)
    return bvh.load_recording(path, row["dataset"], info)


def _archive(row: dict, first: Path) -> Recording:
    folder = first.parent
    for _ in range(_MANIFEST_LEVELS):
        if archive.find_manifest(folder) is not None:
            for rec_id, spec in archive.read_manifest(folder):
                if rec_id == row["id"]:
                    if isinstance(spec, BadInput):
                        raise spec
                    return archive.load_recording(spec)
            raise BadInput(str(archive.find_manifest(folder)), f"no longer lists recording {row['id']!r}")
        if folder.parent == folder:
            break
        folder = folder.parent
    raise BadInput(str(first), f"no archive manifest found within {_MANIFEST_LEVELS} folders above it")


def load(row: dict) -> Recording:
    """The recording a `recordings` row describes, read again through its importer.

    Raises BadInput naming the file when a source has gone or changed so it no longer reads.
    """
    sources = list(row.get("sources") or [])
    if not sources:
        raise BadInput(row["id"], "the index lists no source files for this recording")
    first = sources[0]
    if first.startswith(DEMO_PREFIX):
        rec = _demo(row)
    else:
        path = Path(first)
        if not path.exists():
            raise BadInput(first, "source file is gone (moved or deleted since the index was built)")
        if _UTD_INERTIAL.match(path.name) and path.parent.name == "inertial":
            rec = _utd(row, path)
        elif path.suffix.lower() == ".bvh":
            rec = _bvh(row, path)
        else:
            rec = _archive(row, path)
    if rec.id != row["id"]:
        raise BadInput(first, f"re-reading gave recording {rec.id!r}, not {row['id']!r}")
    return rec
