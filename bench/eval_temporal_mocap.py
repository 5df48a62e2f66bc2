"""Sync and assign on multi-IMU 3-D data built from the public mocap in ../shared/data, and the
calibration of `--method auto`'s confidence.

Scenes: mocap takes (BVH: CMU, CMU-iClone, Bandai-Namco) resampled to 30 Hz on the canonical
joints and chained into continuous streams (each take moved to where the last one ended, a
0.5 s cross-fade between them). Each scene is worn by virtual IMUs (`indexer.virtual_imu`) at
several placements, made as a real sensor would be wrong: a random mounting rotation, a
+-3 % scale error, a constant bias (+-0.3 m/s^2, +-0.05 rad/s), white noise (0.15 m/s^2,
0.02 rad/s), sampled at 50 Hz, and the pose keeps 5 mm of marker jitter. A share of the
sensors is accelerometer-only. Takes are split by a hash of their id (`encoders.pretrain.mocap_split`):
`--split calib` (the takes `EVIDENCE_CALIBRATION` in query/dense_sync.py was fitted on),
`--split eval` (the default, for figures) and a "train" share that only
`python -m encoders pretrain-tokens` reads, so a token model pretrained on mocap is scored here
on takes it never saw.

  sync     IMU excerpt of --length s against the pose excerpt shifted by U(+-max_shift):
           MAE, within 0.1 / 0.2 / 0.5 s per method (xcorr: the physical baseline; tokens:
           with --tokens; auto); for auto, the share of "reliable" claims within 0.2 s, on
           these trials plus as many unrelated pairs (IMU of one scene, pose of another).
  assign   P people (one scene each) wearing the same placements; every IMU is assigned to
           a (person, placement) by the Hungarian algorithm: accuracy of person and of part.
  locate   IMU snippets (3 and 6 s) cut from an archive of 20 one-minute scenes: is the top
           answer the right scene, within 0.2 / 0.5 s (the physical locate, `--method xcorr`).
  calibrate  the table confidence bin -> share within 0.2 s (and count), and the lowest margin
           from which the answers are right >= 97 %.
  --pose2d   every pose seen through a random pinhole camera (2-D pixels, jitter): the same
           sync / assign / locate against 2-D pose.

Usage (from the repository root):
  python bench/eval_temporal_mocap.py ../shared/data --json runs/temporal-mocap.json
  python bench/eval_temporal_mocap.py ../shared/data --split calib --calibrate --json runs/calibration.json
  python bench/eval_temporal_mocap.py ../shared/data --pose2d --json runs/temporal-mocap-2d.json
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import query
from encoders import load_checkpoint
from encoders.pretrain import mocap_split
from indexer import PoseStream
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.importers import bvh
from indexer.model import ImuStream
from indexer.units import IMU6_CHANNELS
from indexer.virtual_imu import random_mount, virtual_imu
from indexer.windows import resample
from query.dense_sync import RELIABLE_EVIDENCE, auto_sync, calibrated_confidence, sync
from query.xcorr import xcorr_sync

FOLDERS = ("bandai-namco/dataset-1/data", "bandai-namco/dataset-2/data", "cmu-mocap-iclone/bvh", "cmu-mocap")
POSE_RATE = 30.0
IMU_RATE = 50.0
PLACEMENTS = ("right_wrist", "left_wrist", "right_forearm", "left_upper_arm", "right_thigh", "left_thigh",
              "right_shin", "left_ankle", "right_foot", "pelvis", "chest", "head", "right_hand", "left_knee",
              "right_elbow", "left_shoulder", "neck", "left_hip", "right_upper_arm", "left_shin")
ASSIGN_PLACEMENTS = ("right_wrist", "left_ankle", "pelvis")
FADE = 0.5  # s of cross-fade between chained takes


def split_of(take_id: str) -> str:
    """calib for a third of the takes (a fixed hash of the id), train (pretrain-tokens' only
    takes) for a quarter of the rest, eval for the others."""
    return mocap_split(take_id)


def load_takes(root: Path, split: str | tuple[str, ...], folders=FOLDERS, limit: int | None = None) -> list[np.ndarray]:
    """(T, 16, 3) canonical joints at POSE_RATE of every take of `split` (or of any of several
    splits; takes under 1 s left out)."""
    splits = (split,) if isinstance(split, str) else tuple(split)
    out = []
    for folder in folders:
        if not (root / folder).exists():
            continue
        for entry in bvh.discover(root / folder):
            if split_of(entry.id) not in splits:
                continue
            pose = entry.load().pose
            if pose is None or pose.duration < 1.0:
                continue
            out.append(resample(pose.canonical().reshape(len(pose.data), -1), pose.rate, POSE_RATE).reshape(-1, 16, 3))
            if limit and len(out) >= limit:
                return out
    return out


def chain_takes(takes: list[np.ndarray], seconds: float, rng) -> np.ndarray:
    """A continuous (T, 16, 3) stream of at least `seconds`: random takes, each moved so its
    pelvis starts where the last one ended (on the floor plane), joined by a cross-fade."""
    parts, total, last = [], 0, None
    while total < seconds * POSE_RATE:
        take = takes[int(rng.integers(len(takes)))].astype(np.float64).copy()
        if last is not None:
            shift = last[0] - take[0, 0]
            shift[1] = 0.0  # keep heights
            take += shift
            n = int(FADE * POSE_RATE)
            w = np.linspace(0, 1, n + 2)[1:-1, None, None]
            parts.append((1 - w) * last + w * take[0])
        parts.append(take)
        total = sum(len(p) for p in parts)
        last = take[-1]
    return np.concatenate(parts)[: int(seconds * POSE_RATE) + 1]


def pose_stream(canon: np.ndarray, rng, jitter: float = 0.005, source: str = "mocap") -> PoseStream:
    return PoseStream(canon + rng.normal(0, jitter, canon.shape), POSE_RATE, "canonical", list(CANONICAL_JOINTS),
                      source=source)


def virtual_sensor(canon: np.ndarray, placement: str, rng, acc_only: bool = False, source: str = "") -> ImuStream:
    """What a real sensor at `placement` would record: mounted at a random rotation, with
    scale error, bias and noise, at IMU_RATE."""
    imu6 = virtual_imu(canon, POSE_RATE, placement, random_mount(rng)).astype(np.float64)
    imu6 = resample(imu6, POSE_RATE, IMU_RATE)
    imu6 *= rng.uniform(0.97, 1.03, 6)
    imu6 += np.concatenate([rng.uniform(-0.3, 0.3, 3), rng.uniform(-0.05, 0.05, 3)])
    imu6 += rng.normal(0, 1, imu6.shape) * np.array([0.15] * 3 + [0.02] * 3)
    channels = list(IMU6_CHANNELS)
    if acc_only:
        imu6, channels = imu6[:, :3], channels[:3]
    return ImuStream(imu6, IMU_RATE, channels, placement, source=source or f"virtual {placement}")


def camera_view(pose: PoseStream, rng, focal: float = 1000.0, pixel_noise: float = 3.0) -> PoseStream:
    """The pose as a 2-D pose estimator would report it from a video: a pinhole camera (focal
    length in pixels) standing 3-6 m from where the person starts, at a random bearing, 0.8-2 m
    high and level, aimed at 1 m above the floor there; image coordinates in pixels, y up, with
    `pixel_noise` px of jitter per joint and frame."""
    canon = pose.canonical().astype(np.float64)
    start = canon[0, CANONICAL_JOINTS.index("pelvis")].copy()
    bearing, distance = rng.uniform(0, 2 * np.pi), rng.uniform(3.0, 6.0)
    eye = start + distance * np.array([np.sin(bearing), 0.0, np.cos(bearing)])
    eye[1] = rng.uniform(0.8, 2.0)
    forward = np.array([start[0], 1.0, start[2]]) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    rel = canon - eye
    depth = np.maximum(rel @ forward, 0.5)  # a joint behind the camera would not be seen; clamp
    xy = focal * np.stack([rel @ right, rel @ up], axis=-1) / depth[..., None]
    xy += rng.normal(0, pixel_noise, xy.shape)
    return PoseStream(xy.astype(np.float32), pose.rate, "canonical", list(CANONICAL_JOINTS),
                      source=(pose.source or "mocap") + " (camera view)")


def crop(stream, start: float, length: float):
    i0 = int(round(start * stream.rate))
    return replace(stream, data=stream.data[i0 : i0 + int(round(length * stream.rate))])


def summarise(errors) -> dict:
    e = np.abs(np.asarray(errors, dtype=np.float64))
    return {"trials": int(len(e)), "MAE": round(float(e.mean()), 3), "median": round(float(np.median(e)), 3),
            "within_0.1": round(float((e <= 0.1).mean()), 3), "within_0.2": round(float((e <= 0.2).mean()), 3),
            "within_0.5": round(float((e <= 0.5).mean()), 3)}


def shift_for(length: float, max_shift: float) -> float:
    """Offsets drawn for an excerpt: at most max_shift, and at most 3/4 of a short excerpt."""
    return min(max_shift, 0.75 * length)


def sync_trials(takes, trials: int, lengths, max_shift: float, rng, acc_only_share: float = 0.3,
                placements=PLACEMENTS):
    """[(imu excerpt, pose excerpt, true offset)], excerpt lengths cycling through `lengths`
    and placements through `placements`."""
    out = []
    lengths = list(np.atleast_1d(lengths))
    for n in range(trials):
        length = float(lengths[n % len(lengths)])
        most = shift_for(length, max_shift)
        scene = chain_takes(takes, length + 2 * most + 2, rng)
        placement = placements[n % len(placements)]
        imu = virtual_sensor(scene, placement, rng, acc_only=rng.random() < acc_only_share)
        pose = pose_stream(scene, rng)
        start = most + 1
        shift = float(rng.uniform(-most, most))
        out.append((crop(imu, start, length), crop(pose, start - shift, length), shift))
    return out


def unrelated_trials(takes, trials: int, lengths, rng, placements=PLACEMENTS):
    """[(imu of one scene, pose of another, None)]: no offset is right."""
    out = []
    lengths = list(np.atleast_1d(lengths))
    for n in range(trials):
        length = float(lengths[n % len(lengths)])
        a, b = chain_takes(takes, length + 1, rng), chain_takes(takes, length + 1, rng)
        imu = virtual_sensor(a, placements[n % len(placements)], rng, acc_only=rng.random() < 0.3)
        out.append((crop(imu, 0, length), crop(pose_stream(b, rng), 0, length), None))
    return out


def eval_sync(pairs, unrelated, methods: dict, max_shift: float) -> dict:
    report = {}
    for name, fn in methods.items():
        t0, errors, claims, margins = time.time(), [], [], []
        for imu, pose, truth in pairs + unrelated:
            r = fn(imu, pose, shift_for(imu.duration, max_shift))
            right = truth is not None and abs(r.offset - truth) <= 0.2
            if truth is not None:
                errors.append(r.offset - truth)
            claims.append((r.reliable, right))
            margins.append((r.details.get("evidence", float("nan")), right, truth is not None))
        rep = summarise(errors)
        claimed = [right for reliable, right in claims if reliable]
        rep["reliable_claims"] = len(claimed)
        rep["reliable_right"] = round(float(np.mean(claimed)), 3) if claimed else None
        rep["related_claimed_reliable"] = round(sum(1 for (rel, _), p in zip(claims, pairs + unrelated)
                                                    if rel and p[2] is not None) / max(1, len(pairs)), 3)
        rep["unrelated_claimed_reliable"] = sum(1 for (rel, _), p in zip(claims, pairs + unrelated)
                                                if rel and p[2] is None)
        rep["seconds_per_trial"] = round((time.time() - t0) / max(1, len(pairs) + len(unrelated)), 4)
        report[name] = rep
        report[name + "_margins"] = margins
    return report


def calibration_table(margins, pose_dims: int = 3) -> dict:
    """Bins of xcorr evidence (the auto confidence's input) -> share within 0.2 s and count, and
    the lowest evidence from which the answers at or above it are right >= 97 %."""
    m = np.array([x[0] for x in margins])
    right = np.array([x[1] for x in margins])
    edges = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 100.0]
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (m >= lo) & (m < hi)
        rows.append({"evidence_from": lo, "evidence_to": hi, "confidence": calibrated_confidence(max(lo, 0.0), pose_dims),
                     "count": int(sel.sum()), "within_0.2": round(float(right[sel].mean()), 3) if sel.any() else None})
    threshold = None
    for t in np.round(np.arange(0.0, 1.5, 0.01), 2):
        sel = m >= t
        if sel.sum() >= 20 and right[sel].mean() >= 0.97:
            threshold = float(t)
            break
    above = m >= RELIABLE_EVIDENCE
    return {"bins": rows, "lowest_evidence_97pct": threshold, "RELIABLE_EVIDENCE": RELIABLE_EVIDENCE,
            "right_at_or_above_RELIABLE_EVIDENCE": round(float(right[above].mean()), 3) if above.any() else None,
            "count_at_or_above_RELIABLE_EVIDENCE": int(above.sum())}


def assign_scenes(takes, scenes: int, people: int, length: float, rng, acc_only_share: float = 0.3):
    out = []
    for _ in range(scenes):
        canon = [chain_takes(takes, length, rng) for _ in range(people)]
        poses = [pose_stream(c, rng, source=f"person {i}") for i, c in enumerate(canon)]
        imus, truth = [], []
        for p, c in enumerate(canon):
            for q in ASSIGN_PLACEMENTS:
                imus.append(virtual_sensor(c, q, rng, acc_only=rng.random() < acc_only_share, source=f"p{p}:{q}"))
                truth.append((p, q))
        out.append((imus, poses, truth))
    return out


def eval_assign(scenes, methods: dict, parts=ASSIGN_PLACEMENTS) -> dict:
    report = {}
    for name, enc in methods.items():
        person = part = both = n = 0
        for imus, poses, truth in scenes:
            df = query.assign(imus, poses, enc, parts=list(parts), placement_known=False)
            for row, (p, q) in zip(df.iter_rows(named=True), truth):
                person += row["person"] == p
                part += row["body_part"] == q
                both += row["person"] == p and row["body_part"] == q
                n += 1
        report[name] = {"imus": n, "person": round(person / n, 3), "part": round(part / n, 3),
                        "both": round(both / n, 3)}
    return report


def locate_archive(takes, scenes: int, seconds: float, snippets: int, length: float, rng, pose2d: bool = False,
                   pixel_noise: float = 3.0):
    """An archive of `scenes` pose streams and `snippets` IMU snippets of `length` s cut from
    random places of random scenes at random placements: ({id: pose}, [(imu, scene id, start)])."""
    canon = {f"scene{i:03d}": chain_takes(takes, seconds, rng) for i in range(scenes)}
    poses = {k: pose_stream(c, rng, source=k) for k, c in canon.items()}
    if pose2d:
        poses = {k: camera_view(p, rng, pixel_noise=pixel_noise) for k, p in poses.items()}
    queries = []
    for n in range(snippets):
        scene = list(canon)[int(rng.integers(scenes))]
        start = float(rng.uniform(0, seconds - length))
        imu = virtual_sensor(canon[scene], PLACEMENTS[n % len(PLACEMENTS)], rng, acc_only=rng.random() < 0.3)
        queries.append((crop(imu, start, length), scene, start))
    return poses, queries


def eval_locate(poses, queries, k: int = 5) -> dict:
    """Top-1 right scene, within 0.2 / 0.5 s, right place among the top k, and ties, for the
    physical locate (`query.xcorr.locate_in`, what `query locate --method xcorr` runs)."""
    from query.xcorr import locate_in

    t0, rows = time.time(), []
    for imu, scene, start in queries:
        places = locate_in(imu, poses, k=k)
        right = [rec == scene and abs(t - start) <= 0.2 for _, rec, t in places]
        top = places[0] if places else (0.0, None, float("nan"))
        rows.append((top[1] == scene, top[1] == scene and abs(top[2] - start) <= 0.2,
                     top[1] == scene and abs(top[2] - start) <= 0.5, any(right)))
    r = np.array(rows, dtype=float)
    return {"snippets": len(queries), "archive_seconds": round(sum(p.duration for p in poses.values()), 1),
            "top1_right_scene": round(float(r[:, 0].mean()), 3), "top1_within_0.2": round(float(r[:, 1].mean()), 3),
            "top1_within_0.5": round(float(r[:, 2].mean()), 3), f"top{k}_within_0.2": round(float(r[:, 3].mean()), 3),
            "seconds_per_query": round((time.time() - t0) / max(1, len(queries)), 3)}


def _has_part(tok, placement: str) -> bool:
    try:
        tok.part_of(placement)
        return True
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="the shared data folder (holding cmu-mocap, bandai-namco, ...)")
    p.add_argument("--split", choices=["calib", "eval"], default="eval")
    p.add_argument("--tokens", help="a token checkpoint: adds the learned vote (and auto with it)")
    p.add_argument("--trials", type=int, default=300, help="sync trials (default 300), and as many unrelated pairs")
    p.add_argument("--lengths", default="20", help="excerpt seconds, comma-separated: trials cycle through "
                                                   "them (default 20; the calibration used 4,10,20,60)")
    p.add_argument("--max-shift", type=float, default=7.0, help="offsets drawn in +-this (default 7 s)")
    p.add_argument("--assign-scenes", type=int, default=30, help="scenes of 3 people x 3 IMUs (default 30)")
    p.add_argument("--locate", default="20,60,100,3,6", metavar="SCENES,SECONDS,SNIPPETS,LEN,LEN",
                   help="locate: an archive of SCENES pose streams of SECONDS each, SNIPPETS IMU snippets per "
                        "snippet length (default 20,60,100,3,6); 0 skips it")
    p.add_argument("--calibrate", action="store_true", help="print the confidence calibration table")
    p.add_argument("--pose2d", action="store_true", help="sync and assign against 2-D pose: every pose excerpt seen "
                                                          "through a random pinhole camera (see camera_view)")
    p.add_argument("--pixel-noise", type=float, default=3.0, help="with --pose2d: joint jitter in pixels (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the report here")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    takes = load_takes(Path(args.data), args.split)
    if not takes:
        print(f"no mocap takes under {args.data}", file=sys.stderr)
        return 2
    lengths = [float(x) for x in args.lengths.split(",")]
    tok = load_checkpoint(args.tokens) if args.tokens else None
    placements = PLACEMENTS
    if tok is not None:  # only the placements the token encoder has a body part for
        placements = tuple(p for p in PLACEMENTS if _has_part(tok, p))
    pairs = sync_trials(takes, args.trials, lengths, args.max_shift, rng, placements=placements)
    unrelated = unrelated_trials(takes, args.trials, lengths, rng, placements=placements)
    if args.pose2d:  # the same trials seen through a camera
        pairs = [(imu, camera_view(pose, rng, pixel_noise=args.pixel_noise), t) for imu, pose, t in pairs]
        unrelated = [(imu, camera_view(pose, rng, pixel_noise=args.pixel_noise), t) for imu, pose, t in unrelated]
    methods = {"xcorr": lambda a, b, m: xcorr_sync(a, b, m), "auto": lambda a, b, m: auto_sync(a, b, None, m)}
    assign_methods = {"xcorr": "xcorr"}
    if tok is not None:
        methods["tokens"] = lambda a, b, m: sync(a, b, tok, m)
        methods["auto+tokens"] = lambda a, b, m: auto_sync(a, b, tok, m)
        assign_methods["tokens"] = tok
    report = {"split": args.split, "takes": len(takes), "lengths": lengths, "max_shift": args.max_shift,
              "placements": list(placements),
              "pose": f"2-D, camera view, {args.pixel_noise:g} px noise" if args.pose2d else "3-D",
              "command": "python bench/eval_temporal_mocap.py " + " ".join(argv or sys.argv[1:])}
    sync_rep = eval_sync(pairs, unrelated, methods, args.max_shift)
    report["sync"] = {k: v for k, v in sync_rep.items() if not k.endswith("_margins")}
    if args.calibrate:
        report["calibration"] = calibration_table(sync_rep["xcorr_margins"], 2 if args.pose2d else 3)
    if args.assign_scenes:
        scenes = assign_scenes(takes, args.assign_scenes, 3, max(lengths), rng)
        if args.pose2d:
            scenes = [(imus, [camera_view(p, rng, pixel_noise=args.pixel_noise) for p in poses], truth)
                      for imus, poses, truth in scenes]
        report["assign"] = eval_assign(scenes, assign_methods)
    if args.locate != "0":
        scenes, seconds, snippets, *lens = [float(x) for x in args.locate.split(",")]
        report["locate"] = {}
        for length in lens:
            poses, queries = locate_archive(takes, int(scenes), seconds, int(snippets), length, rng, args.pose2d,
                                            args.pixel_noise)
            report["locate"][f"{length:g} s snippet"] = {"xcorr": eval_locate(poses, queries)}
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
