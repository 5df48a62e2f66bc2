"""`python -m query text|video|classify`: queries in the text-aligned space (query.semantic).

  python -m query text "waving" --target imu -k 10 --index ./demo-index
  python -m query video clip.mp4 --start 1 --end 4 --target imu --index ./utd-index
  python -m query imu wrist.mat --target video --index ./utd-index      (IMU -> video: no camera on the wearer)
  python -m query classify wrist.mat --labels "walking,jogging,tennis serve" --index ./utd-index
"""
from __future__ import annotations


def text_cmd(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("prompt", help='what to find, e.g. "tennis serve" or "a person waves"')
        p.add_argument("--raw", action="store_true",
                       help="embed the prompt as it is, not averaged over the prompt templates used in training")
        return
    if args.raw:
        from query.semantic import pick_encoder

        encoder = pick_encoder(index, "text", args.target)
        return index.search_vector(encoder.encode_text([args.prompt], templates=False)[0], args.target,
                                   args.k, args.where, encoder.id)
    return index.search_text(args.prompt, args.target, args.k, args.where)


def video_cmd(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("file", help="a video file (.mp4, .avi, ...); only the frames needed are decoded")
        p.add_argument("--start", type=float, help="use the video from this second on")
        p.add_argument("--end", type=float, help="use the video up to this second")
        return
    return index.search_file(args.file, "video", args.target, args.k, args.where, start=args.start, end=args.end)


def classify_cmd(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("file", help="the clip: IMU (.mat, .csv, .parquet, .npy), pose (.bvh, *_skeleton.mat) or video")
        p.add_argument("--labels", help='comma-separated candidate activities, e.g. "walking,jogging,waving"; '
                       "default: the labels of the index's windows (narrowed with --where)")
        p.add_argument("--modality", choices=["imu", "pose", "video"],
                       help="what the file holds (default: guessed from its name)")
        p.add_argument("--rate", type=float, help="sample rate in Hz (needed for .csv/.parquet/.npy)")
        p.add_argument("--start", type=float, help="use the clip from this second on")
        p.add_argument("--end", type=float, help="use the clip up to this second")
        return
    if args.labels and args.where:
        raise ValueError("--where picks the candidate labels from the index; give either --labels or --where")
    if args.labels:
        labels = [s for s in args.labels.split(",") if s.strip()]
    else:
        df = index.store.windows(args.where, ["label"])
        labels = sorted(set(df["label"].to_list())) if df.height else []
        if not labels:
            raise ValueError("no labels: give --labels, or index windows with labels (matching --where)")
    return index.classify(args.file, labels, args.modality, start=args.start, end=args.end, rate=args.rate)


def register(command, no_target: set[str]) -> None:
    """Add the commands to `python -m query` (its `command` decorator and its set of commands
    that take no --target / -k)."""
    command("text", "search with a text prompt (needs an index built with a text-aligned encoder)")(text_cmd)
    command("video", "search with a video clip (needs an encoder with a video tower)")(video_cmd)
    command("classify", "zero-shot activity recognition: score a clip against label prompts")(classify_cmd)
    no_target.add("classify")
