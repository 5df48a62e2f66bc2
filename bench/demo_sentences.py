"""The demo's six example sentences, each searched as a user searches them: an index of the
built-in demo archive (all four subjects) built with the checkpoint, `search_text(sentence,
"imu+pose", 10)` (the sensor and the skeleton together, what the page and `query text` do where
an index holds both), and the action of the first hit. One of the issue's bars: each sentence
finds its own action first (docs/words.md, sections 18 and 21).

  python bench/demo_sentences.py --checkpoint builtin --checkpoint mine=checkpoints/pretrained --json runs/demo.json

Prints one line per checkpoint (found first, of 6, and the sentences that missed with what
they found); `--json` writes {"checkpoints": {name: {"found": n, "of": 6, "first": {action:
action found}}}}.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def first_hits(checkpoint: str, target: str = "imu+pose") -> dict[str, str]:
    """{action: the action of the first hit of its sentence} over an index of the demo archive."""
    from encoders.factory import load_checkpoint
    from indexer.build import build
    from indexer.importers import discover
    from indexer.importers.demo import ACTIONS
    from indexer.store import IndexStore
    from query.api import open_index

    with tempfile.TemporaryDirectory() as tmp:
        build(discover(None, "demo"), IndexStore(tmp, create=True), load_checkpoint(checkpoint), progress=False)
        index = open_index(tmp)
        return {action: index.search_text(sentence, target, 10)["label"][0] for action, sentence in ACTIONS.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", action="append", required=True, metavar="[NAME=]DIR",
                   help="a checkpoint folder, or builtin / builtin-unrestricted; repeat to compare")
    p.add_argument("--target", default="imu+pose", help="what the sentences search (default imu+pose)")
    p.add_argument("--json", type=Path, help="write the figures here")
    args = p.parse_args(argv)
    report = {}
    for given in args.checkpoint:
        name, _, folder = given.rpartition("=")
        first = first_hits(folder, args.target)
        found = sum(a == b for a, b in first.items())
        report[name or folder] = {"found": found, "of": len(first), "first": first}
        missed = ", ".join(f"{a} -> {b}" for a, b in first.items() if a != b) or "none"
        print(f"{name or folder}: {found} of {len(first)} sentences find their action first (missed: {missed})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"target": args.target, "checkpoints": report}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
