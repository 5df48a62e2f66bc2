"""python -m ui: a web page to search a motion index without writing code.

Examples:
  python -m ui --demo                       build ./demo-index if it is missing, then serve it
  python -m ui --index ./utd-index          serve an index built with `python -m indexer build`
  python -m ui --index ./utd-index --host 0.0.0.0 --port 8080 --max-upload-mb 20
      (with $MOTIONSEARCH_TOKEN set: open the page once as http://HOST:8080/?token=TOKEN; API
      clients send 'Authorization: Bearer TOKEN')

Then open the printed URL (default http://127.0.0.1:7860). Tabs:
  Search     by text prompt, IMU file, pose/BVH file or video; pick the target modality, how
             many results and filters; the hits are a grid of cards (poses or IMU of the
             window, score cue, timeline); the query is kept in the address bar
  Recording  one whole recording: a 3-D skeleton, the IMU channels, the video, one playhead
  Sync       estimated offset between an IMU file and a video or pose file (when an encoder
             of the index has an IMU tower)
  Label      every recording given its best name among names you type (words, or concepts
             taught by example), and how often that agrees with its own labels
  Browse     the index's recordings (natural id order) as a filterable table; select a row
             to open it
"""
# Gradio loads only once the arguments are parsed, so --help answers at once.
from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from query.http_guard import DEFAULT_MAX_BODY_MB, DEFAULT_MAX_PROMPT_CHARS, TOKEN_ENV, check_token, env_default
from ui.defaults import CONCURRENCY as DEFAULT_CONCURRENCY
from ui.defaults import MAX_UPLOAD_MB as DEFAULT_MAX_UPLOAD_MB

DEMO_DIR = Path("./demo-index")


def ensure_demo(folder: Path) -> None:
    """Build the demo index the way the README does (`python -m indexer build --demo`)."""
    from query import is_index

    if is_index(folder):
        return
    print(f"{folder} is missing: building the demo index (trains a small encoder, about a minute)")
    done = subprocess.run([sys.executable, "-m", "indexer", "build", "--demo", str(folder), "--quiet"], check=False)
    if done.returncode != 0:
        raise SystemExit(f"error: building the demo index failed (exit {done.returncode})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--index", metavar="DIR", help="index directory (or its URI) to serve")
    where.add_argument("--demo", action="store_true",
                       help=f"serve the demo index in {DEMO_DIR} (built first if it is missing)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for other machines)")
    parser.add_argument("--port", type=int, help="port (default: first free from 7860)")
    parser.add_argument("--share", action="store_true",
                        help="also open a public gradio.live link (off by default: it exposes the index)")
    parser.add_argument("--max-upload-mb", type=float, default=DEFAULT_MAX_UPLOAD_MB,
                        help=f"largest query file accepted, in MB (default {DEFAULT_MAX_UPLOAD_MB})")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                        help=f"requests processed at once; others wait in the queue (default {DEFAULT_CONCURRENCY})")
    parser.add_argument("--max-body-mb", type=float, default=env_default("MOTIONSEARCH_MAX_BODY_MB", DEFAULT_MAX_BODY_MB),
                        help=f"largest request body other than an upload; larger ones get 413 before they are read "
                             f"(default {DEFAULT_MAX_BODY_MB:g}; $MOTIONSEARCH_MAX_BODY_MB)")
    parser.add_argument("--max-prompt-chars", type=int,
                        default=env_default("MOTIONSEARCH_MAX_PROMPT_CHARS", DEFAULT_MAX_PROMPT_CHARS),
                        help=f"longest text prompt (default {DEFAULT_MAX_PROMPT_CHARS}; $MOTIONSEARCH_MAX_PROMPT_CHARS)")
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                        help=f"require this token on every request: 'Authorization: Bearer TOKEN' from API clients, "
                             f"/?token=TOKEN once in a browser (it sets a cookie); prefer ${TOKEN_ENV}, which "
                             "other users of this machine cannot read in the process list")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.max_upload_mb <= 0 or args.concurrency < 1 or args.max_body_mb <= 0 or args.max_prompt_chars < 1:
        parser.error("--max-upload-mb and --max-body-mb must be positive, --concurrency and --max-prompt-chars "
                     "at least 1")
    try:
        check_token(args.token)
    except ValueError as exc:
        parser.error(f"--token: {exc}")
    folder = DEMO_DIR if args.demo else args.index  # a path or a URI, as the user wrote it
    if args.demo:
        ensure_demo(folder)
    from ui.app import serve

    # A plain `kill` stops the server like Ctrl-C: Gradio closes it on KeyboardInterrupt.
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="motionsearch-ui-"))  # uploads and renders of this run
    try:
        serve(folder, host=args.host, port=args.port, share=args.share, max_upload_mb=args.max_upload_mb,
              concurrency=args.concurrency, workdir=workdir, max_body_mb=args.max_body_mb,
              max_prompt_chars=args.max_prompt_chars, token=args.token)
    except (FileNotFoundError, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    # The server is closed and nothing is left to write; skip the interpreter's teardown of the
    # native libraries (torch, LanceDB), which took 7-9 s of a 9 s shutdown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt
