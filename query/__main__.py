"""python -m query: search a motion index from the command line.

Examples:
  python -m query imu clip.mat --target pose -k 10 --index ./utd-index --where "subject = 2"
  python -m query pose take.bvh --target imu --index ./demo-index
  python -m query window 42 --target pose --index ./demo-index
  python -m query recordings --index ./demo-index --where "dataset = 'demo'"
  python -m query sync imu.mat skeleton.mat --max-offset 10 --checkpoint checkpoints/utd-tokens
  python -m query locate snippet.mat -k 10 --index ./utd-token-index
  python -m query assign imu1.npy imu2.npy people.npy --rate 50 --pose-rate 30 --checkpoint CKPT
  python -m query text "waving" --target imu -k 10 --index ./demo-index
  python -m query video clip.mp4 --start 1 --end 4 --target imu --index ./utd-index
  python -m query imu wrist.mat --target video --index ./utd-index
  python -m query classify wrist.mat --labels "walking,jogging,waving" --index ./utd-index

The index defaults to $MOTIONSEARCH_INDEX, else ./demo-index. Filters (--where) are SQL
predicates over window columns: dataset, subject, recording_id, label, modality, body_part,
t_start, t_end.
"""
from __future__ import annotations

import argparse
import os
import sys

import polars as pl

from indexer.errors import BadInput

DEFAULT_INDEX = os.environ.get("MOTIONSEARCH_INDEX", "./demo-index")
COLUMNS = ["rank", "score", "recording_id", "label", "t_start", "t_end"]

# Subcommands register here: name -> (add_arguments, run). Each run returns a DataFrame to print.
COMMANDS: dict[str, tuple] = {}


def command(name: str, help: str):
    def register(fn):
        COMMANDS[name] = (help, fn)
        return fn
    return register


def _common(p: argparse.ArgumentParser, target: bool = True) -> None:
    p.add_argument("--index", default=DEFAULT_INDEX, help=f"index directory (default: {DEFAULT_INDEX})")
    if target:
        p.add_argument("--target", default="pose", help="modality to search: imu, pose, ... (default: pose)")
        p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--where", help="SQL filter, e.g. \"subject = 2 AND label = 'tennis serve'\"")
    p.add_argument("--json", action="store_true", help="print JSON rows instead of a table")


def _clip_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, help="sample rate in Hz (needed for .csv/.parquet/.npy)")
    p.add_argument("--start", type=float, help="use the clip from this second on")
    p.add_argument("--end", type=float, help="use the clip up to this second")


@command("imu", "search with an IMU clip (.mat, .csv, .parquet, .npy)")
def imu(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("file")
        _clip_args(p)
        p.add_argument("--placement", default="right_wrist", help="where the sensor was worn (default right_wrist)")
        p.add_argument("--acc-unit", default="m/s^2", help="accelerometer unit of the file: m/s^2 or g")
        p.add_argument("--gyr-unit", default="rad/s", help="gyroscope unit of the file: rad/s or deg/s")
        return
    return index.search_file(args.file, "imu", args.target, args.k, args.where, args.rate, args.start, args.end,
                             placement=args.placement, acc_unit=args.acc_unit, gyr_unit=args.gyr_unit)


@command("pose", "search with a pose / mocap clip (.bvh, UTD-MHAD skeleton .mat, .npy)")
def pose(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("file")
        _clip_args(p)
        return
    return index.search_file(args.file, "pose", args.target, args.k, args.where, args.rate, args.start, args.end)


@command("window", "search with a window already in the index (by its id)")
def window(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("window_id", type=int)
        return
    return index.search_window(args.window_id, args.target, args.k, args.where)


@command("recordings", "list the recordings in the index")
def recordings(p=None, args=None, index=None):
    if p is not None:
        return
    return index.recordings(args.where)


# Fine-grained time: sync, locate, assign (query/temporal_cli.py). sync and assign take no
# --target / -k and need no index when given a checkpoint ("standalone").
NO_TARGET = {"recordings"}
from query.temporal_cli import register as _register_temporal  # noqa: E402

_register_temporal(command, NO_TARGET)

# Text prompts, video clips and zero-shot classification (query/semantic_cli.py).
from query.semantic_cli import register as _register_semantic  # noqa: E402

_register_semantic(command, NO_TARGET)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m query", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, fn) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        _common(p, target=name not in NO_TARGET)
        fn(p=p)
    return parser


def print_frame(df: pl.DataFrame, as_json: bool) -> None:
    if as_json:
        print(df.write_json())
        return
    cols = [c for c in COLUMNS if c in df.columns] if "rank" in df.columns else df.columns
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(df.select(cols))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from query.api import open_index

    try:
        index = None if getattr(args, "standalone", False) else open_index(args.index)
        result = COMMANDS[args.command][1](args=args, index=index)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(result, pl.DataFrame):
        if result.height == 0:
            print("no results", file=sys.stderr)
        print_frame(result, args.json)
    elif result is not None:
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
