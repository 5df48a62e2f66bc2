"""python -m indexer build|info: embed a motion archive into a searchable index.

Examples:
  python -m indexer build --demo ./demo-index
      builds the synthetic demo archive with the built-in pretrained model (no training)
  python -m indexer build ARCHIVE ./my-index      (or: build ARCHIVE --out ./my-index)
      any archive, searchable by text, IMU and pose at once with the built-in model
  python -m indexer build ../shared/data/utd-mhad --out ./utd-index --checkpoint ckpt/utd-cnn-gru
  python -m indexer build ARCHIVE --out ./train-index --checkpoint CKPT --split train --exclude-subjects 7,8
      only the manifest's `train` rows, leaving out subjects 7 and 8 (their files are never read)
  python -m indexer info ./utd-index
"""
# This is the one module of `indexer` that knows concrete encoders: it loads (or, for the demo,
# trains) one and hands it to `indexer.build`, which only sees the `indexer.embedder` protocol.
# torch is imported after the arguments are parsed, so `--help` and typos answer at once.
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from indexer.bounds import count, positive_int
from indexer.commands import command_parser, selection_options


def _names(text: str | None) -> set[str] | None:
    """`--subjects 1,2, s3` -> {"1", "2", "s3"}; None when the option is not given."""
    if text is None:
        return None
    names = {n.strip() for n in text.split(",") if n.strip()}
    if not names:
        raise ValueError("give at least one subject, e.g. --subjects 1,2")
    return names


def cmd_build(args) -> int:
    # torch and lancedb load here, once the arguments are known, not before `--help` or a typo
    from encoders import demo_encoder, load_checkpoint
    from encoders.checkpoint import WEIGHTS
    from indexer import vectors
    from indexer.build import Selection, build
    from indexer.distributed import RayRunner
    from indexer.importers import detect_format, discover, select
    from indexer.store import IndexStore

    if args.demo:
        if args.source or args.index:
            print(f"error: --demo builds the built-in demo archive into {args.demo}; give no archive "
                  f"({args.source}) with it", file=sys.stderr)
            return 2
        out = args.demo  # a local path or an object-store URI, as with --out
        entries = discover(None, "demo")
    else:
        if args.index and args.out and args.index != args.out:
            print(f"error: two index directories given ({args.index} and --out {args.out}); give one", file=sys.stderr)
            return 2
        if not args.source or not (args.out or args.index):
            print("error: give SOURCE and the index directory (SOURCE INDEX, or SOURCE --out INDEX; or --demo DIR)",
                  file=sys.stderr)
            return 2
        out = args.out or args.index  # a local path or an object-store URI: kept as the user wrote it
        entries = discover(args.source, args.format or detect_format(args.source))
    if args.train_demo_encoder and args.demo:
        if "://" in out:
            print("error: --train-demo-encoder keeps the encoder in a local DIR; give --demo a local folder", file=sys.stderr)
            return 2
        ckpt = Path(out) / "demo-encoder"  # trained once, kept with the demo index
        encoder = load_checkpoint(ckpt) if (ckpt / WEIGHTS).exists() else demo_encoder(ckpt, progress=not args.quiet)
    else:
        encoder = load_checkpoint(args.checkpoint)
    selection = Selection(_names(args.subjects), _names(args.exclude_subjects), args.split)
    if entries and not select(entries, selection.subjects, selection.exclude, selection.split):
        subjects = sorted({e.subject for e in entries if e.subject is not None})
        splits = sorted({e.split for e in entries if e.split is not None})
        print(f"error: the selection leaves none of the {len(entries)} recordings (the archive's subjects: "
              f"{', '.join(subjects) or 'not named'}; splits: {', '.join(splits) or 'none'})", file=sys.stderr)
        return 2
    if args.limit:
        entries = selection.pick(entries)[: args.limit]  # the first N selected, not the first N found
    vectors.check_factory(args.index_type, int(encoder.config.embed_dim))  # before anything is written
    runner = RayRunner(args.ray_address) if args.ray or args.ray_address else None
    if runner:
        runner.start()
    store = IndexStore(out, create=True)
    print(f"indexing {len(entries)} recordings into {store.uri} with encoder {encoder.id}")
    summary = build(entries, store, encoder, progress=not args.quiet, index_type=args.index_type, wait=args.wait,
                    selection=selection, workers=args.workers, ray=runner)
    print(summary.format())
    if not summary.windows_written and not summary.already_indexed:
        # An empty index is not a result: say so in the exit code, so a script stops here.
        why = f"all {len(summary.skipped)} were skipped (listed above)" if summary.skipped else "none was selected"
        print(f"error: nothing was indexed: {why}", file=sys.stderr)
        return 1
    return 0


def cmd_info(args) -> int:
    from indexer.store import IndexStore

    store = IndexStore(args.index)
    recs = store.recordings()
    print(f"index {store.uri}")
    print(f"recordings: {recs.height}")
    if recs.height:
        by = recs.group_by("dataset").len().sort("dataset")
        for row in by.iter_rows(named=True):
            print(f"  {row['dataset']}: {row['len']}")
    windows = store.windows(columns=["encoder_id", "modality", "body_part"])
    print(f"windows: {windows.height}")
    if windows.height:
        counts = windows.group_by(["encoder_id", "modality", "body_part"]).len().sort(["encoder_id", "modality"])
        for row in counts.iter_rows(named=True):
            print(f"  {row['encoder_id']}  {row['modality']:<6} {row['body_part']:<12} {row['len']}")
    if store.has_tokens():  # MoBind token encoders: one vector per 0.2 s
        tokens = store.table("tokens", columns=["encoder_id", "modality"])
        for row in tokens.group_by(["encoder_id", "modality"]).len().sort(["encoder_id", "modality"]).iter_rows(named=True):
            print(f"tokens: {row['encoder_id']}  {row['modality']:<6} {row['len']}")
    for m in sorted(store.faiss_files.manifests(), key=lambda m: (m["encoder_id"], m.get("table", ""), m["modality"])):
        kind = m["modality"] if m.get("table", "windows") == "windows" else f"{m['table']} {m['modality']}"
        print(f"faiss: {m['encoder_id']} / {kind}: {m['count']} x {m['dimension']} ({m['index_type']})")
    return 0


def build_options(b: argparse.ArgumentParser) -> None:
    b.add_argument("source", nargs="?", help="archive: a UTD-MHAD folder, a folder with manifest.toml/.csv, "
                   "or a folder of .bvh files")
    b.add_argument("index", nargs="?", metavar="INDEX", help="index directory, the same as --out")
    b.add_argument("--out", help="index directory (local path or s3:// URI); created if absent")
    b.add_argument("--demo", metavar="DIR", help="build the built-in synthetic demo archive into DIR")
    b.add_argument("--checkpoint", default="builtin",
                   help="encoder checkpoint folder (safetensors + config.json); default `builtin`, the pretrained "
                        "motion-text model shipped in the package (trained on public mocap only, CC BY-NC 4.0)")
    b.add_argument("--train-demo-encoder", action="store_true",
                   help="with --demo: train a small encoder on the demo archive itself (~1 min) instead of "
                        "using the built-in model; kept in DIR/demo-encoder")
    b.add_argument("--format", help="importer (default: detected): utd-mhad, archive, bvh")
    b.add_argument("--index-type", default="auto",
                   help="FAISS factory string, e.g. Flat, HNSW32, IVF1024,Flat (default: exact Flat up to 50k vectors, IVF beyond)")
    selection_options(b, "index only these subjects (comma-separated, as `python -m query recordings` shows them)")
    b.add_argument("--limit", type=positive_int, help="index only the first N recordings (for trying things out)")
    g = b.add_argument_group("speed and scale")
    g.add_argument("--workers", type=count, metavar="N",
                   help="processes that read and window recordings while the model embeds (default: one per core but "
                        "one, none on 2 cores or fewer; 0: all in the building process); the index is the same "
                        "whatever N")
    g.add_argument("--ray", action="store_true",
                   help="read, window and embed on a Ray cluster (Ray Data; pip install 'motionsearch[scale]'); "
                        "rows are written here, equal to a local build's")
    g.add_argument("--ray-address", metavar="ADDR",
                   help="the Ray cluster for --ray (implies it): ray://HOST:10001, or auto; default: a local Ray "
                        "instance. Its nodes need motionsearch installed and the archive's files at the same paths")
    b.add_argument("--wait", action="store_true",
                   help="if another build is writing to the index, wait for it instead of stopping")
    b.add_argument("--quiet", action="store_true", help="no progress bar")


def info_options(i: argparse.ArgumentParser) -> None:
    i.add_argument("index", help="index directory")


# name -> (help, add its options, run it), as in every package's command line.
COMMANDS = {
    "build": ("embed an archive into an index directory (incremental)", build_options, cmd_build),
    "info": ("print what an index holds", info_options, cmd_info),
}


def build_parser() -> argparse.ArgumentParser:
    return command_parser("python -m indexer", __doc__, COMMANDS)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return COMMANDS[args.command][2](args)
    except (FileNotFoundError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # disk full, permissions, a vanished mount: the machine, not the input
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc} (the index keeps its last complete build)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
