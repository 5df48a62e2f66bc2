"""The form every package's command line takes (`python -m indexer|encoders|query`): a table of
commands, name -> (help, a function adding its options to its parser, a function running it),
and the one option group that chooses an archive's recordings.

Only argparse is imported here, so that `--help` and a mistyped command answer before any
heavy library loads.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], Any]]


def command_parser(prog: str, description: str | None, commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    """The parser of `prog`: one subcommand per entry of `commands`, its help as its description
    (an options function may set a longer one); the chosen name is `args.command`."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_options, _) in commands.items():
        add_options(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def selection_options(p: argparse.ArgumentParser, subjects_help: str) -> None:
    """--subjects / --exclude-subjects / --split, the one way every command that reads an archive
    chooses recordings (`indexer.importers.select`); `subjects_help` says what the command does
    with them."""
    g = p.add_argument_group("choosing recordings (decided from the listing where it can, so left-out "
                             "files are not read)")
    g.add_argument("--subjects", metavar="A,B,...", help=subjects_help)
    g.add_argument("--exclude-subjects", metavar="A,B,...",
                   help="leave these subjects out (applied after --subjects), e.g. to keep them for testing")
    g.add_argument("--split", metavar="NAME",
                   help="only the recordings of this split of the manifest's `split` column (e.g. train, test); "
                        "recordings without a split are kept")
