"""python -m query: search a motion index from the command line.

Examples:
  python -m query imu clip.mat --target pose -k 10 --index ./utd-index --where "subject = 2"
  python -m query imu watch.csv --time-column timestamp --time-unit ms --acc-unit g --target imu
  python -m query imu wrist.csv ankle.csv --placement right_wrist,left_ankle --rate 50 --target imu
      (two sensors worn together: moments where both move alike)
  python -m query pose kinect.npy --rate 30 --joints "$(cat joints.txt)" --joint-map map.json --units mm --up -y
  python -m query pose take.bvh --target imu --index ./demo-index
  python -m query window 42 --target pose --index ./demo-index
  python -m query recordings --index ./demo-index --where "dataset = 'demo'"
  python -m query text "waving" --target imu -k 10 --index ./demo-index
  python -m query video clip.mp4 --start 1 --end 4 --target imu --index ./utd-index
  python -m query imu wrist.mat --target video --index ./utd-index      (IMU -> video: no camera on the wearer)
  python -m query classify wrist.mat --labels "walking,jogging,waving" --index ./utd-index
  python -m query label --labels "walking,jogging,waving" --refine --index ./utd-index
  python -m query teach "my squat" --windows 12 40 77 --index ./demo-index   (then: query text "my squat")
  python -m query concepts --index ./demo-index
  python -m query teach "my squat" --forget --index ./demo-index
  python -m query sync imu.mat skeleton.mat --max-offset 10 --checkpoint checkpoints/utd-tokens
  python -m query locate snippet.mat -k 10 --index ./utd-token-index
  python -m query assign imu1.npy imu2.npy people.npy --rate 50 --pose-rate 30 --checkpoint CKPT

The index defaults to $MOTIONSEARCH_INDEX, else ./demo-index. Filters (--where) are SQL
predicates over window columns: dataset, subject, recording_id, label, modality, body_part,
t_start, t_end. Every command that reads a query file takes the same reading options (see
"reading the query files" in each command's --help).
"""
# Each command declares the option groups it uses (the functions below); its handler imports the
# query API only once the arguments are parsed, so --help and a mistyped command answer before
# torch is loaded.
from __future__ import annotations

import argparse
import os
import sys

from indexer import bounds
from indexer.bodyparts import DEFAULT_PLACEMENT, canonical_placement
from indexer.bounds import PORT_RANGE, bounded, positive_int
from indexer.commands import command_parser
from indexer.importers.readers import add_reading_options, options_from_args
from indexer.model import MODALITIES
from query.http_guard import (
    DEFAULT_MAX_BODY_MB,
    DEFAULT_MAX_PROMPT_CHARS,
    DEFAULT_MAX_UPLOAD_MB,
    MB,
    TOKEN_ENV,
    HttpLimits,
    check_token,
    env_default,
)

DEFAULT_INDEX = os.environ.get("MOTIONSEARCH_INDEX", "./demo-index")
SPREAD_NOTE_ABOVE = 20_000  # label --spread says what it is doing first above this many windows
COLUMNS = ["rank", "score", "match", "recording_id", "body_part", "label", "t_start", "t_end", "ties", "concept"]


# ---- option groups -------------------------------------------------------------------------------
def index_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", default=DEFAULT_INDEX, help=f"index directory (default: {DEFAULT_INDEX})")


def output_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON rows instead of a table")


def where_option(p: argparse.ArgumentParser, what: str = "windows searched") -> None:
    p.add_argument("--where", help=f"SQL filter over the {what}, e.g. \"subject = 2 AND label = 'tennis serve'\"")


def target_options(p: argparse.ArgumentParser, joined: bool = False) -> None:
    what = ("modality to search: imu, pose, ...; imu+pose finds moments by sensor and skeleton together, one "
            "hit per time span (on the demo each of its six action sentences finds its action first that way, "
            "4 of 6 by either alone; docs/words.md). Default: imu+pose where the index holds both, else imu"
            if joined else "modality to search: imu, pose, .... Default, where the index holds it: an IMU clip "
            "finds pose, a pose or video clip finds imu, a window finds pose; else what the index holds")
    p.add_argument("--target", help=what)
    p.add_argument("-k", type=positive_int, default=10, help="number of results (default 10)")


def range_options(p: argparse.ArgumentParser, what: str = "clip") -> None:
    p.add_argument("--start", type=bounds.seconds, help=f"use the {what} from this second on")
    p.add_argument("--end", type=bounds.seconds, help=f"use the {what} up to this second")


def reading_options(p: argparse.ArgumentParser, rate: str = "sample rate of an IMU file or frame rate of a pose "
                    ".npy") -> None:
    """How to read a query file that does not say it itself: one group, the same in every command."""
    g = p.add_argument_group("reading the query files", "What a file does not say about itself. UTD-MHAD .mat "
                             "and .bvh files carry their own rate, units and joints; .csv, .parquet and .npy "
                             "files need some of these.")
    add_reading_options(g, rate)


def checkpoint_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="token (or clip-level) checkpoint folder; default: the index's "
                                        "token encoder (with a checkpoint no index is needed)")


def method_option(p: argparse.ArgumentParser, tokens: str, xcorr: str, auto: str | None = None) -> None:
    choices, default = (["auto", "tokens", "xcorr"], "auto") if auto else (["tokens", "xcorr"], "tokens")
    p.add_argument("--method", choices=choices, default=default,
                   help=(f"auto: {auto} (default); " if auto else "") + f"tokens: {tokens}"
                        + ("" if auto else " (default)") + f"; xcorr: {xcorr}, no model")


def recording_source_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--recording", metavar="ID", help=f"{what} (read again from the index's stored sources; "
                                                      "needs --index)")


def _recording(args):
    """The --recording of the --index, re-read from its sources."""
    return _index(args).load_recording(args.recording)


def _recording_imu(rec, args):
    """The recording's IMU at --placement (default its first)."""
    if not rec.imu:
        raise ValueError(f"recording {rec.id!r} has no IMU stream")
    if args.placement is None:
        return rec.imu[0]
    want = canonical_placement(_placements(args, 1)[0])
    for s in rec.imu:
        if s.placement == want:
            return s
    raise ValueError(f"recording {rec.id!r} has no IMU at {want}; it has {', '.join(s.placement for s in rec.imu)}")


def search_options(p: argparse.ArgumentParser, joined: bool = False) -> None:
    """What every search of the index takes (`joined`: the target may be several modalities)."""
    index_option(p)
    target_options(p, joined)
    where_option(p)
    output_option(p)
    g = p.add_argument_group("approximate indexes (IVF, HNSW; an exact index ignores these)")
    g.add_argument("--nprobe", type=positive_int, help="IVF lists to search (default: tuned at build for R@10 >= 0.95)")
    g.add_argument("--ef-search", type=positive_int, dest="efSearch", help="HNSW candidate list size (default: tuned at build)")


# ---- helpers the handlers share --------------------------------------------------------------------
def _index(args, kind: str | None = None):
    """The index of --index; with a search `kind` ("text", "imu", ...), --target set to what such a
    search finds unless told (query.searcher.default_target)."""
    from query import open_index

    index = open_index(args.index)
    index.search_params = {k: v for k in ("nprobe", "efSearch") if (v := getattr(args, k, None))}
    if kind is not None and getattr(args, "target", "") is None:
        args.target = index.default_target(kind)
    return index


def _placements(args, n: int, each: bool = False) -> list[str]:
    """--placement for `n` IMU files: one per file, or one for all (`each`: one per file required)."""
    given = [p.strip() for p in (args.placement or DEFAULT_PLACEMENT).split(",") if p.strip()]
    if len(given) == n or (len(given) == 1 and not each):
        return given * (n // len(given))
    if each and args.placement is None:
        raise ValueError(f"{n} IMU files: say where each was worn, e.g. --placement right_wrist,left_ankle")
    raise ValueError(f"{n} IMU file(s) but {len(given)} placements ({args.placement}): give one per file")


def _imu_kw(args, placement: str | None = None) -> dict:
    """read_imu's options from the reading group (`placement`: this file's)."""
    return {**options_from_args(args, "imu"), "placement": placement or _placements(args, 1)[0]}


def _pose_kw(args, rate: float | None) -> dict:
    """read_pose's options from the reading group (`rate`: the pose file's frame rate)."""
    return {**options_from_args(args, "pose"), "rate": rate}


def _read_imu(path, args, placement: str | None = None):
    from query import read_imu

    return read_imu(path, **_imu_kw(args, placement))


def _sync_encoder(args):
    """--checkpoint, else the index's token encoder."""
    if args.checkpoint:
        from encoders import load_checkpoint

        return load_checkpoint(args.checkpoint)
    return _index(args).encoder(query="tokens")


# ---- commands: each is (add its options, run it) ---------------------------------------------------
def imu_options(p):
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="IMU clip (.mat, .csv, .parquet, .npy); several files are sensors worn together (give "
                        "--placement for each): each searches the index's windows of its own placement, and "
                        "the moments where all of them match come back, scored by the sum of their similarities")
    search_options(p)
    p.add_argument("--candidates", type=positive_int,
                   help="several sensors: nearest windows fetched per sensor before they are combined "
                        "(default max(200, 20 k))")
    range_options(p)
    reading_options(p, "IMU sample rate")


def imu_cmd(args):
    # The files are read before the index is opened: a mistake in them is named at once.
    if len(args.files) == 1:
        stream = _read_imu(args.files[0], args)
        return _index(args, "imu").search_stream(stream, args.target, args.k, args.where, args.start, args.end)
    streams = [_read_imu(f, args, p) for f, p in zip(args.files, _placements(args, len(args.files), each=True))]
    return _index(args, "imu").search_sensors(streams, args.target, args.k, args.where, candidates=args.candidates,
                                       start=args.start, end=args.end)


def pose_options(p):
    p.add_argument("file", help="pose clip (.bvh, UTD-MHAD skeleton .mat, .npy)")
    search_options(p)
    range_options(p)
    reading_options(p, "pose frame rate of a .npy")


def pose_cmd(args):
    from query import read_pose

    stream = read_pose(args.file, **_pose_kw(args, args.rate))  # before the index: file mistakes first
    return _index(args, "pose").search_stream(stream, args.target, args.k, args.where, args.start, args.end)


def window_options(p):
    p.add_argument("window_id", type=int)
    search_options(p)


def window_cmd(args):
    return _index(args, "window").search_window(args.window_id, args.target, args.k, args.where)


def recordings_options(p):
    index_option(p)
    where_option(p, "recordings (id, dataset, subject, trial, text, duration)")
    output_option(p)


def recordings_cmd(args):
    return _index(args).recordings(args.where)


def text_options(p):
    p.add_argument("prompt", help='what to find, e.g. "tennis serve" or "a person waves"; when its words cannot '
                   'tell a direction apart here ("swipe to the left" finds the same windows as "... to the right"), '
                   'a note on stderr says so')
    p.add_argument("--raw", action="store_true",
                   help="embed the prompt as it is, not averaged over the prompt templates used in training")
    p.add_argument("--no-expand", dest="expand", action="store_false",
                   help="search with the prompt alone; by default the prompt's vector is joined by the mean of its "
                        "5 best windows and searched again, which ranks more of the prompt's own action first on "
                        "most archives measured (docs/words.md)")
    search_options(p, joined=True)


def text_cmd(args):
    from query.wording import note

    index = _index(args, "text")
    hits = index.search_text(args.prompt, args.target, args.k, args.where, templates=not args.raw, expand=args.expand)
    said = note(index.check_wording(args.prompt, args.target, args.k, args.where, templates=not args.raw))
    if said:  # stderr: the results on stdout stay what scripts read
        print(said, file=sys.stderr)
    return hits


def video_options(p):
    p.add_argument("file", help="a video file (.mp4, .avi, ...); only the frames needed are decoded")
    search_options(p)
    range_options(p, "video")


def video_cmd(args):
    from indexer.video import probe_video

    probe_video(args.file)  # a file that is not a video is named before the index is opened
    return _index(args, "video").search_file(args.file, "video", args.target, args.k, args.where, start=args.start,
                                    end=args.end)


def classify_options(p):
    p.add_argument("file", help="the clip: IMU (.mat, .csv, .parquet, .npy), pose (.bvh, *_skeleton.mat) or video")
    p.add_argument("--labels", help='comma-separated candidate activities, e.g. "walking,jogging,waving"; '
                   "default: the labels of the index's windows (narrowed with --where)")
    p.add_argument("--modality", choices=MODALITIES,
                   help="what the file holds (default: guessed from its name)")
    p.add_argument("--refine", action="store_true",
                   help="refine the label vectors by the index's own windows first (each moves a little toward "
                        "the mean window leaning to it): better when the labels name what the index holds, "
                        "can be worse when they name a few of many activities it holds (docs/words.md)")
    p.add_argument("--refine-where", metavar="FILTER",
                   help="--refine by the windows this filter admits only, e.g. \"body_part = 'right_thigh'\" "
                        "when the labels name what is worn there")
    index_option(p)
    where_option(p, "windows whose labels are the candidates")
    output_option(p)
    range_options(p)
    reading_options(p)


def classify_cmd(args):
    if args.labels and args.where:
        raise ValueError("--where picks the candidate labels from the index; give either --labels or --where")
    index = _index(args)
    labels = _candidate_labels(index, args.labels, args.where)
    read_kw = {**_imu_kw(args), **_pose_kw(args, None)}
    read_kw.pop("rate")
    refine = args.refine_where or args.refine
    return index.classify(args.file, labels, args.modality, start=args.start, end=args.end, rate=args.rate,
                          refine=refine, **read_kw)


def label_options(p):
    p.add_argument("--labels", help='comma-separated candidate activities, e.g. "walking,jogging,waving"; '
                   "default: the labels of the index's windows")
    p.add_argument("--modality", choices=MODALITIES, nargs="+",
                   help="whose windows to label; several, e.g. --modality imu pose: one row per recording, named "
                        "by all it holds (a sensor and a skeleton see different things: on UTD-MHAD words alone score a "
                        "macro-F1 of 0.157 by the sensor, 0.267 by both; docs/words.md). Default: imu pose where "
                        "the index holds both, else imu; with --spread, imu")
    p.add_argument("--refine", action="store_true",
                   help="refine the label vectors by the windows labelled first (each moves a little toward the "
                        "mean window leaning to it): for labels that name what those windows hold (docs/words.md)")
    p.add_argument("--spread", action="store_true",
                   help="spread the windows' scores over the graph of their nearest windows, the examples of taught "
                        "concepts held to their concept: for labelling an archive from concepts taught with a few "
                        "examples each (`query teach`); holds the windows' vectors in memory (at most 1,000,000; "
                        "their neighbour search takes about 15 s for 100,000 and 10 min for 1,000,000 on one core)")
    p.add_argument("--balance", action="store_true",
                   help="make the recordings share the labels equally before each takes its best: for an archive "
                        "whose activities are about equally common (a lab protocol), where words alone pile most "
                        "recordings onto a few labels; it misleads where some activities are much rarer "
                        "(docs/words.md)")
    index_option(p)
    where_option(p, "windows labelled (their recordings are the rows)")
    output_option(p)


def label_cmd(args):
    index = _index(args)
    labels = _candidate_labels(index, args.labels)
    if args.modality is None:  # what the index holds, as label_recordings would pick it
        args.modality = index.default_label_target(args.spread).split("+")
    if args.spread and len(args.modality) == 1:  # the one slow step: say so before it starts (a refusal above
        from query.searcher import MAX_SPREAD_WINDOWS  # the limit, or of several modalities, says its own line)

        n = index.searched_count(index.pick_encoder_id("text", args.modality[0]), args.modality[0], args.where)
        if SPREAD_NOTE_ABOVE < n <= MAX_SPREAD_WINDOWS:
            print(f"--spread: finding the nearest windows of each of {n:,} windows first (about 15 s for 100,000 "
                  "and 10 min for 1,000,000 on one core)", file=sys.stderr)
    from query.text_aligned import agreement

    df = index.label_recordings(labels, args.modality, args.where, refine=args.refine, spread=args.spread,
                                balance=args.balance)
    print_frame(df, args.json)
    agree = agreement(df, labels)
    if agree is not None:  # below the table; beside JSON rows, on stderr
        print(agreement_line(agree), file=sys.stderr if args.json else sys.stdout)
    return None


def agreement_line(agree: dict) -> str:
    """The sentence `query label` ends with where recordings carry their own labels."""
    line = (f"named as their own labels say: {agree['right']} of {agree['recordings']} recordings (accuracy "
            f"{agree['accuracy']:.3f}, macro-F1 {agree['macro_f1']:.3f} over {agree['labels']} labels)")
    if agree["left_out"]:
        line += f"; {agree['left_out']} with no own label among the names not counted"
    return line


def _candidate_labels(index, given: str | None, where: str | None = None) -> list[str]:
    """The comma-separated `given` labels, else those of the index's windows (that `where` admits)."""
    if given:
        return [s for s in given.split(",") if s.strip()]
    df = index.windows(where, ["label"])
    labels = sorted({s for s in df["label"].to_list() if s}) if df.height else []
    if not labels:
        raise ValueError("no labels: give --labels, or index windows with labels" + (" (matching --where)" if where else ""))
    return labels


def sync_options(p):
    p.add_argument("imu_file", nargs="?", help="IMU recording (.mat, .csv, .parquet, .npy); with --recording, "
                                               "leave out to use the recording's own IMU")
    p.add_argument("other_file", nargs="?", help="pose (.bvh, UTD-MHAD skeleton .mat, .npy), a video (2-D pose via "
                                                 "mediapipe; needs a 2-D token checkpoint) or another IMU; with "
                                                 "--recording, leave out to use the recording's pose")
    recording_source_option(p, "sync the streams of this indexed recording: its IMU (the one at --placement) "
                               "against its pose; a given IMU file is synced against the recording's pose")
    p.add_argument("--max-offset", type=bounds.seconds, default=10.0, help="largest offset to consider, seconds (default 10)")
    p.add_argument("--top-k", type=positive_int, default=5, help="tokens: mutual top-k matches that vote (default 5)")
    p.add_argument("--segment", type=bounds.seconds, metavar="S",
                   help="sync piecewise in segments of S seconds and fit a drift (offset at the start and end, "
                        "s/hour); recordings over 20 min are synced piecewise in 120 s segments anyway")
    p.add_argument("--other-rate", type=bounds.rate, help="frame rate of a .npy pose file (or rate of a second IMU "
                                                    "file), Hz; the pose options below apply to this file")
    method_option(p, "dense embedding + offset voting", "cross-correlate |specific force| and |angular velocity| "
                  "with a virtual IMU on the pose", "both (tokens only with a token checkpoint: --checkpoint or "
                  "the index's), one offset with a calibrated confidence: 'reliable' is right within 0.2 s "
                  ">= 95 %% of the times it is said")
    reading_options(p, "IMU sample rate of the first file")
    checkpoint_option(p)
    index_option(p)
    output_option(p)


def _other_stream(path, args):
    """The second file of sync; a missing rate is asked for as --other-rate, the option that sets it."""
    from query import BadInput, as_motion

    try:
        return as_motion(path, **{**_pose_kw(args, args.other_rate), "rate": args.other_rate})
    except BadInput as exc:
        if "(--rate)" in exc.reason:
            raise BadInput(exc.path, exc.reason.replace("(--rate)", "(--other-rate)")) from None
        raise


def _auto_encoder(args):
    """auto: the token encoder when one is at hand (--checkpoint, else the index's), else None."""
    if args.checkpoint:
        return _sync_encoder(args)
    try:
        return _index(args).encoder(query="tokens")
    except (LookupError, OSError, ValueError):
        return None


def sync_cmd(args):
    from query import xcorr_sync
    from query.dense_sync import auto_sync, piecewise_sync, sync

    if args.recording:
        rec = _recording(args)
        imu = _read_imu(args.imu_file, args) if args.imu_file else _recording_imu(rec, args)
        if args.other_file:
            raise ValueError("with --recording, give at most the IMU file: the other stream is the recording's pose")
        if rec.pose is None:
            raise ValueError(f"recording {rec.id!r} has no pose stream to sync against")
        other = rec.pose
    else:
        if not args.imu_file or not args.other_file:
            raise ValueError("give the IMU file and the other file, or --recording ID --index DIR")
        imu = _read_imu(args.imu_file, args)
        other = _other_stream(args.other_file, args)
    if args.method == "xcorr":
        run = lambda a, b, m: xcorr_sync(a, b, m)  # noqa: E731
    elif args.method == "tokens":
        encoder = _sync_encoder(args)
        run = lambda a, b, m: sync(a, b, encoder, max_offset=m, k=args.top_k)  # noqa: E731
    else:
        encoder = _auto_encoder(args)
        run = lambda a, b, m: auto_sync(a, b, encoder, max_offset=m, k=args.top_k)  # noqa: E731
    if args.segment:
        result = piecewise_sync(imu, other, run, segment=args.segment, max_offset=args.max_offset)
    else:
        result = run(imu, other, args.max_offset)
    return result.to_frame() if args.json else str(result)


def locate_options(p):
    p.add_argument("imu_snippet", nargs="?", help="IMU snippet (.mat, .csv, .parquet, .npy); or --from-recording")
    p.add_argument("--recording", help="search only this recording (its id)")
    p.add_argument("--from-recording", metavar="ID", help="take the snippet from this indexed recording's IMU "
                   "(at --placement; cut with --start/--end), read again from its stored sources")
    p.add_argument("--candidates", type=positive_int, default=100,
                   help="stored windows fetched per query window before refinement (default 100)")
    p.add_argument("--method", choices=["auto", "tokens", "xcorr"], default="auto",
                   help="tokens: the index's token vectors; xcorr: the physical baseline, no model (the snippet "
                        "against a virtual sensor on each pose recording, re-read from its sources); auto "
                        "(default): tokens when the index has them, else xcorr")
    search_options(p)
    range_options(p, "file")
    reading_options(p, "IMU sample rate")


def locate_cmd(args):
    from query import crop_stream

    if args.from_recording:
        if args.imu_snippet:
            raise ValueError("give the snippet file or --from-recording, not both")
        imu = _recording_imu(_index(args).load_recording(args.from_recording), args)
    elif args.imu_snippet:
        imu = _read_imu(args.imu_snippet, args)
    else:
        raise ValueError("give the IMU snippet file, or --from-recording ID")
    if args.start is not None or args.end is not None:
        imu = crop_stream(imu, args.start or 0.0, args.end)
    return _index(args, "imu").locate(imu, k=args.k, recording=args.recording, target=args.target,
                               candidates=args.candidates, where=args.where, method=args.method)


def assign_options(p):
    p.add_argument("files", nargs="*", metavar="FILE",
                   help="IMU files, then one pose file with everyone in the scene: a .npy of shape "
                        "(people, frames, joints, 2|3) (Kinect-20, COCO-17 or canonical-16 joints), or "
                        "a single-person pose file")
    recording_source_option(p, "use this indexed recording: all its IMUs against its pose (files given are "
                               "extra IMUs)")
    p.add_argument("--any-part", action="store_true",
                   help="placements unknown: each IMU may go to any body part compared, not only its --placement")
    p.add_argument("--pose-rate", type=bounds.rate, help="frame rate of a .npy pose file, Hz; the pose options below "
                                                   "apply to this file")
    method_option(p, "token + window similarity", "zero-lag correlation of |acc| and |gyr| with a virtual IMU "
                  "on each part (default when no token checkpoint is at hand)", "xcorr, or tokens with a token "
                  "checkpoint (--checkpoint or the index's)")
    reading_options(p, "IMU sample rate")
    checkpoint_option(p)
    index_option(p)
    output_option(p)


def assign_cmd(args):
    from query import assign, read_people

    if args.recording:
        rec = _recording(args)
        if rec.pose is None or not rec.imu:
            raise ValueError(f"recording {rec.id!r} needs IMU and pose streams to assign")
        imus = list(rec.imu) + [_read_imu(f, args, p) for f, p in zip(args.files, _placements(args, len(args.files)))]
        people = [rec.pose]
    else:
        if len(args.files) < 2:
            raise ValueError("give at least one IMU file and then the pose file (or --recording ID --index DIR)")
        imus = [_read_imu(f, args, p) for f, p in zip(args.files[:-1], _placements(args, len(args.files) - 1))]
        pose_kw = _pose_kw(args, args.pose_rate)
        try:
            people = read_people(args.files[-1], pose_kw.pop("rate"), pose_kw.pop("skeleton"), **pose_kw)
        except ValueError as exc:
            raise ValueError(str(exc).replace("(--rate)", "(--pose-rate)")) from None
    if args.method == "xcorr":
        encoder = "xcorr"
    elif args.method == "tokens":
        encoder = _sync_encoder(args)
    else:
        encoder = _auto_encoder(args) or "xcorr"
    return assign(imus, people, encoder, placement_known=not args.any_part)


def teach_options(p):
    p.add_argument("name", help="the phrase the examples show, e.g. \"left hook\"; a text search or classify label "
                                "that is this phrase (case aside) then uses the examples instead of the words")
    p.add_argument("--windows", nargs="+", default=[], metavar="ID",
                   help="example windows of the index, by id (the window_id column of any search's --json output)")
    p.add_argument("--files", nargs="+", default=[], metavar="PATH",
                   help="example query files (IMU, pose or video clips, read like `query imu/pose/video` reads them)")
    p.add_argument("--modality", choices=MODALITIES, help="what --files hold (default: guessed from "
                                                                        "each file's name)")
    p.add_argument("--not-windows", nargs="+", default=[], metavar="ID",
                   help="windows that do not show it (e.g. wrong hits of a search for it): its search leans away "
                        "from them and leaves them out; given alone, they are added to the concept already taught")
    p.add_argument("--forget", action="store_true", help="remove the concept NAME instead of teaching it")
    index_option(p)
    output_option(p)
    reading_options(p)


def teach_cmd(args):
    index = _index(args)
    if args.forget:
        if args.windows or args.files or args.not_windows:
            raise ValueError("--forget takes no --windows, --files or --not-windows")
        gone = index.forget(args.name)
        return f"forgot concept {gone['name']!r}"
    read_kw = {**_imu_kw(args), **_pose_kw(args, None)}
    read_kw["rate"] = args.rate
    concept = index.teach(args.name, window_ids=args.windows, files=args.files, modality=args.modality,
                          not_windows=args.not_windows, **read_kw)
    if args.json:
        return index.concepts().filter(index.concepts()["name"] == concept["name"])
    n = len(concept["windows"]) + len(concept["files"])
    labels = ", ".join(list(concept["labels"])[:3])
    nots = len(concept.get("not_windows", []))
    return (f"taught concept {concept['name']!r} from {n} example(s)" + (f" (labelled {labels})" if labels else "")
            + (f" and {nots} counter-example(s)" if nots else "")
            + f"; search it with: python -m query text {concept['name']!r} --index {args.index}")


def concepts_options(p):
    index_option(p)
    output_option(p)


def concepts_cmd(args):
    return _index(args).concepts()


def serve_options(p):
    index_option(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; "
                                                       "beyond it, set a --token)")
    p.add_argument("--port", type=bounded(*PORT_RANGE, kind=int), default=8000, help="port (default 8000)")
    limits = p.add_argument_group("limits (each also read from the environment variable named)")
    limits.add_argument("--max-body-mb", type=bounded(0.001, 1000.0), metavar="MB",
                        default=env_default("MOTIONSEARCH_MAX_BODY_MB", DEFAULT_MAX_BODY_MB),
                        help=f"largest JSON request body; larger ones get 413 before they are read "
                             f"(default {DEFAULT_MAX_BODY_MB:g}; $MOTIONSEARCH_MAX_BODY_MB)")
    limits.add_argument("--max-upload-mb", type=bounded(0.001, 1000.0), metavar="MB",
                        default=env_default("MOTIONSEARCH_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB),
                        help=f"largest body of the routes that carry samples (/search/imu, /search/sensors, /sync) "
                             f"(default {DEFAULT_MAX_UPLOAD_MB:g}, about 25 min of 6-channel IMU at 50 Hz; "
                             "$MOTIONSEARCH_MAX_UPLOAD_MB)")
    limits.add_argument("--max-prompt-chars", type=bounded(1, 1_000_000, kind=int), metavar="N",
                        default=env_default("MOTIONSEARCH_MAX_PROMPT_CHARS", DEFAULT_MAX_PROMPT_CHARS),
                        help=f"longest text prompt; longer ones get 400 (default {DEFAULT_MAX_PROMPT_CHARS}; "
                             "$MOTIONSEARCH_MAX_PROMPT_CHARS)")
    limits.add_argument("--token", default=os.environ.get(TOKEN_ENV) or None,
                        help=f"require 'Authorization: Bearer TOKEN' on every route (401 otherwise); prefer "
                             f"${TOKEN_ENV}, which other users of this machine cannot read in the process list")
    limits.add_argument("--show-paths", action="store_true",
                        default=os.environ.get("MOTIONSEARCH_SHOW_PATHS", "") not in ("", "0"),
                        help="answer with full server paths (/health's index, /recordings' sources, messages); "
                             "off: file and folder names only ($MOTIONSEARCH_SHOW_PATHS=1)")


def serve_cmd(args):
    from query.serve import UPLOAD_PATHS, serve

    limits = HttpLimits(max_body=int(args.max_body_mb * MB), max_upload=int(args.max_upload_mb * MB),
                        upload_paths=UPLOAD_PATHS, max_prompt_chars=args.max_prompt_chars,
                        token=check_token(args.token))
    print(f"serving {args.index} on http://{args.host}:{args.port} (JSON; routes at /docs); Ctrl-C stops")
    serve(args.index, args.host, args.port, limits, args.show_paths)


# name -> (help, add its options, run it); the run returns a DataFrame or text to print.
COMMANDS = {
    "imu": ("search with an IMU clip (.mat, .csv, .parquet, .npy)", imu_options, imu_cmd),
    "pose": ("search with a pose / mocap clip (.bvh, UTD-MHAD skeleton .mat, .npy)", pose_options, pose_cmd),
    "window": ("search with a window already in the index (by its id)", window_options, window_cmd),
    "recordings": ("list the recordings in the index", recordings_options, recordings_cmd),
    "text": ("search with a text prompt (needs an index built with a text-aligned encoder)", text_options,
             text_cmd),
    "video": ("search with a video clip (needs an encoder with a video tower)", video_options, video_cmd),
    "classify": ("zero-shot activity recognition: score a clip against label prompts", classify_options,
                 classify_cmd),
    "label": ("zero-shot labels for every recording of the index among label prompts (best, runner-up, margin)",
              label_options, label_cmd),
    "sync": ("offset between an IMU stream and a pose stream / video (positive: the second lags)", sync_options,
             sync_cmd),
    "locate": ("where in the archive an IMU snippet's motion happens, to 0.2 s", locate_options, locate_cmd),
    "assign": ("which person and body part wears each IMU in a multi-person pose stream", assign_options,
               assign_cmd),
    "teach": ("teach the index a phrase by example windows or files (--forget removes it)", teach_options,
              teach_cmd),
    "concepts": ("list the concepts taught to the index (query teach)", concepts_options, concepts_cmd),
    "serve": ("answer searches over HTTP with JSON, the index kept loaded (for scripts and other tools)",
              serve_options, serve_cmd),
}


def print_frame(df, as_json: bool) -> None:
    import polars as pl

    if as_json:
        print(df.write_json())
        return
    if "rank" in df.columns:  # a search: the columns a person reads, then each sensor's own score
        cols = [c for c in COLUMNS if c in df.columns] + [c for c in df.columns if c.startswith("score_")]
    else:
        cols = df.columns
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(df.select(cols))


def build_parser() -> argparse.ArgumentParser:
    return command_parser("python -m query", __doc__, COMMANDS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import logging

    import polars as pl

    # What reading repaired or chose (a clock gap, samples out of order) goes to stderr.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")

    from query import BadInput

    try:
        result = COMMANDS[args.command][2](args)
    except (BadInput, FileNotFoundError, ValueError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the machine (disk, permissions), not the query
        print(f"error: {exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", file=sys.stderr)
        return 1
    if isinstance(result, pl.DataFrame):
        if result.height == 0:
            print("no results", file=sys.stderr)
        print_frame(result, args.json)
    elif result is not None:
        print(result)
    return 0
