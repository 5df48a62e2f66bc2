"""Fine-grained time on held-out UTD-MHAD subjects: sync, locate, assign.

Long streams are made by concatenating each test subject's clips in order, one stream per
sensor placement (subjects 2, 4, 6, 8; right wrist and right thigh), IMU and skeleton alike
(`indexer.concat`). Then:

  sync    20 s IMU excerpts against 20 s skeleton excerpts shifted by an offset drawn uniformly
          in +-7 s; MAE and the share within 0.1 / 0.2 / 0.5 s, for the MoBind token encoder
          (dense window vote), the clip-level encoder of the foundation (same vote, its 5 s
          windows) and cross-correlation of acceleration magnitudes (no model).
  locate  3 s IMU snippets from the test streams, searched in a token index of all test
          streams' skeletons (IMU -> pose); share whose top answer is the right stream within
          0.2 s and 0.5 s, with and without the token-level refinement.
  assign  2-5 test clips' skeletons mixed into one scene; every clip's IMU is assigned to a
          (person, body part); accuracy of IMU -> person by number of people (and of the part).

Usage (from the repository root):
  python bench/eval_temporal.py ../shared/data/utd-mhad --tokens checkpoints/utd-tokens \\
      --clip checkpoints/utd-cnn-gru --json runs/temporal.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import query
from encoders import load_checkpoint
from indexer.concat import subject_streams
from indexer.importers import discover
from indexer.importers.utd_mhad import TEST_SUBJECTS
from query.dense_sync import auto_sync
from query.xcorr import xcorr_sync


def excerpt(stream, start_index: int, length: float):
    return replace(stream, data=stream.data[start_index : start_index + int(round(length * stream.rate))])


def summarise(errors: list[float]) -> dict:
    """Signed errors (estimate - truth) -> MAE, median absolute error, the median signed error
    (a constant lag between the streams shows there), and the shares within 0.1/0.2/0.5 s."""
    signed = np.asarray(errors, dtype=np.float64)
    e = np.abs(signed)
    return {"trials": int(len(e)), "MAE": round(float(e.mean()), 3), "median": round(float(np.median(e)), 3),
            "median_signed": round(float(np.median(signed)), 3),
            "within_0.1": round(float((e <= 0.1).mean()), 3), "within_0.2": round(float((e <= 0.2).mean()), 3),
            "within_0.5": round(float((e <= 0.5).mean()), 3)}


def eval_sync(streams, methods: dict, trials: int, length: float, max_shift: float, rng) -> dict:
    errors = {name: [] for name in methods}
    by_part = {name: {} for name in methods}
    seconds = {name: 0.0 for name in methods}
    claims = {name: [] for name in methods}  # (said reliable, within 0.2 s)
    for s in streams:
        imu, pose = s.imu[0], s.pose
        rate = imu.rate  # concatenated streams share the IMU clock
        for _ in range(trials):
            t0 = rng.uniform(max_shift, s.duration - length - max_shift)
            shift = rng.uniform(-max_shift, max_shift)
            i0, j0 = int(round(t0 * rate)), int(round((t0 + shift) * rate))
            a, b = excerpt(imu, i0, length), excerpt(pose, j0, length)
            truth = (i0 - j0) / rate  # what happens at t in the IMU excerpt is at t + truth in the pose one
            for name, fn in methods.items():
                start = time.time()
                result = fn(a, b)
                est = result.offset
                seconds[name] += time.time() - start
                err = est - truth
                claims[name].append((result.reliable, abs(err) <= 0.2))
                errors[name].append(err)
                by_part[name].setdefault(imu.placement, []).append(err)
    return {name: {**summarise(errors[name]),
                   "by_placement": {p: summarise(v) for p, v in sorted(by_part[name].items())},
                   "seconds_per_trial": round(seconds[name] / max(1, len(errors[name])), 3),
                   "reliable_claims": sum(r for r, _ in claims[name]),
                   "reliable_right": round(float(np.mean([ok for r, ok in claims[name] if r])), 3)
                   if any(r for r, _ in claims[name]) else None}
            for name in methods}


def action_at(stream, t: float) -> str:
    """The action label of the clip playing at time t of a concatenated stream."""
    for span in stream.text:
        if span.start <= t < span.end:
            return span.text.split(" [")[0]
    return ""


def eval_locate(streams, encoder, trials: int, length: float, rng, candidates: int) -> dict:
    from indexer.build import build
    from indexer.model import Entry
    from indexer.store import IndexStore
    from query.api import open_index

    with tempfile.TemporaryDirectory(prefix="temporal-index-") as folder:
        entries = [Entry(s.id, [s.id], (lambda s=s: s)) for s in streams]
        summary = build(entries, IndexStore(folder, create=True), encoder, progress=False)
        index = open_index(folder)
        by_id = {s.id: s for s in streams}
        modes = {"refined": dict(refine=True), "voted only": dict(refine=False),
                 "own stream, refined": dict(refine=True, own=True)}
        results = {m: [] for m in modes}
        same_action = {m: [] for m in modes}
        top5 = []
        start = time.time()
        for _ in range(trials):
            s = streams[int(rng.integers(len(streams)))]
            imu = s.imu[0]
            i0 = int(rng.integers(0, int((s.duration - length) * imu.rate)))
            t_true = i0 / imu.rate
            snippet = excerpt(imu, i0, length)
            for mode, opts in modes.items():
                hits = index.locate(snippet, k=5, target="pose", candidates=candidates,
                                       refine=opts["refine"], recording=s.id if opts.get("own") else None)
                top = hits.row(0, named=True) if hits.height else None
                err = abs(top["t_start"] - t_true) if top and top["recording_id"] == s.id else float("inf")
                results[mode].append(err)
                same_action[mode].append(bool(top) and action_at(by_id[top["recording_id"]], top["t_start"] + length / 2)
                                         == action_at(s, t_true + length / 2))
                if mode == "refined":
                    right = hits.filter(hits["recording_id"] == s.id)
                    top5.append(bool(right.height and (abs(right["t_start"] - t_true) <= 0.5).any()))
        elapsed = time.time() - start
    out = {}
    for mode, errs in results.items():
        e = np.asarray(errs)
        out[mode] = {"trials": len(e), "top1_right_stream": round(float(np.isfinite(e).mean()), 3),
                     "top1_within_0.2": round(float((e <= 0.2 + 1e-9).mean()), 3),
                     "top1_within_0.5": round(float((e <= 0.5 + 1e-9).mean()), 3),
                     "top1_same_action": round(float(np.mean(same_action[mode])), 3)}
    out["refined"]["top5_within_0.5"] = round(float(np.mean(top5)), 3)
    out["archive"] = {"streams": len(streams), "seconds": round(sum(s.duration for s in streams), 1),
                      "tokens": summary.tokens_written}
    out["seconds_per_query"] = round(elapsed / max(1, trials) / len(modes), 3)
    return out


def project_stream(stream):
    """The skeleton seen from the front as 2-D (what a 2-D pose estimator reports, up to scale)."""
    from encoders.part_features import project_2d
    from indexer.bodyparts import CANONICAL_JOINTS
    from indexer.model import PoseStream

    pose = stream.pose
    return replace(stream, pose=PoseStream(project_2d(pose.canonical()), pose.rate, "canonical",
                                           list(CANONICAL_JOINTS), source=pose.source))


def video_streams(entries, subjects, clips: int) -> list:
    """Per test subject, its first `clips` right-wrist clips with 2-D pose from the depth video
    (mediapipe), concatenated like the skeleton streams."""
    from indexer.concat import concat_recordings
    from indexer.pose2d import video_pose

    out = []
    for subject in subjects:
        recs = []
        for e in entries:
            if e.subject != subject or len(recs) == clips:
                continue
            rec = e.load()
            if rec.imu[0].placement != "right_wrist" or rec.video is None:
                continue
            recs.append(replace(rec, pose=video_pose(rec.video.path)))
        out.append(concat_recordings(recs, f"utd-mhad/s{subject}-video2d-concat"))
    return out


def eval_assign(clips, methods: dict, scenes: int, sizes: list[int], rng, parts_of) -> dict:
    out = {name: {} for name in methods}
    for n in sizes:
        person_hits = {name: [] for name in methods}
        part_hits = {name: [] for name in methods}
        for _ in range(scenes):
            pick = rng.choice(len(clips), size=n, replace=False)
            chosen = [clips[i] for i in pick]
            order = rng.permutation(n)  # people are listed in a random order
            people = [chosen[i].pose for i in order]
            truth = {i: int(np.flatnonzero(order == i)[0]) for i in range(n)}
            imus = [replace(c.imu[0], source=f"imu{i}") for i, c in enumerate(chosen)]
            for name, enc in methods.items():
                df = query.assign(imus, people, enc)
                for row in df.iter_rows(named=True):
                    i = int(row["imu"][3:])
                    person_hits[name].append(row["person"] == truth[i])
                    if row["body_part"] != "all":
                        part_hits[name].append(row["body_part"] == parts_of(chosen[i].imu[0].placement))
        for name in methods:
            out[name][str(n)] = {"imus": len(person_hits[name]),
                                 "person_accuracy": round(float(np.mean(person_hits[name])), 3),
                                 "chance": round(1.0 / n, 3)}
            if part_hits[name]:
                out[name][str(n)]["part_accuracy"] = round(float(np.mean(part_hits[name])), 3)
    return out


def print_tables(report: dict) -> None:
    if "sync" in report:
        print("\nSYNC (20 s excerpts, offsets uniform in +-7 s, held-out subjects 2,4,6,8)")
        print(f"{'method':<34}{'trials':>7}{'MAE s':>8}{'median':>8}{'<=0.1':>7}{'<=0.2':>7}{'<=0.5':>7}"
              f"{'bias':>8}")
    for name, r in report.get("sync", {}).items():
        print(f"{name:<34}{r['trials']:>7}{r['MAE']:>8.3f}{r['median']:>8.3f}{r['within_0.1']:>7.3f}"
              f"{r['within_0.2']:>7.3f}{r['within_0.5']:>7.3f}{r['median_signed']:>+8.3f}")
        for part, p in r["by_placement"].items():
            print(f"  {part:<32}{p['trials']:>7}{p['MAE']:>8.3f}{p['median']:>8.3f}{p['within_0.1']:>7.3f}"
                  f"{p['within_0.2']:>7.3f}{p['within_0.5']:>7.3f}{p['median_signed']:>+8.3f}")
    for key, title in (("sync_2d_skeleton", "SYNC, 2-D: test skeletons seen from the front"),
                       ("sync_2d_video", "SYNC, 2-D: mediapipe pose from the depth videos (subjects 2, 4)")):
        if key not in report:
            continue
        print(f"\n{title}")
        for name, r in report[key].items():
            if isinstance(r, dict) and "MAE" in r:
                print(f"{name:<34}{r['trials']:>7}{r['MAE']:>8.3f}{r['median']:>8.3f}{r['within_0.1']:>7.3f}"
                      f"{r['within_0.2']:>7.3f}{r['within_0.5']:>7.3f}{r['median_signed']:>+8.3f}")
    if "locate" in report:
        loc = report["locate"]
        print(f"\nLOCATE (3 s IMU snippet -> skeleton tokens of {loc['archive']['streams']} test streams, "
              f"{loc['archive']['seconds']} s)")
        print(f"{'mode (top-1)':<22}{'trials':>7}{'stream':>8}{'<=0.2':>7}{'<=0.5':>7}{'action':>8}")
        for mode in ("refined", "voted only", "own stream, refined"):
            r = loc[mode]
            print(f"{mode:<22}{r['trials']:>7}{r['top1_right_stream']:>8.3f}{r['top1_within_0.2']:>7.3f}"
                  f"{r['top1_within_0.5']:>7.3f}{r['top1_same_action']:>8.3f}")
        print(f"refined, right place (<=0.5 s) among the top 5: {loc['refined']['top5_within_0.5']:.3f}")
    if "assign" in report:
        print("\nASSIGN (IMU -> person accuracy by number of people in the scene; part accuracy in brackets)")
        for name, by_n in report["assign"].items():
            cells = "  ".join(f"{n}: {r['person_accuracy']:.3f}" + (f" [{r['part_accuracy']:.3f}]" if "part_accuracy" in r else "")
                              for n, r in by_n.items())
            print(f"{name:<34}{cells}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="UTD-MHAD folder")
    p.add_argument("--tokens", help="MoBind token checkpoint (python -m encoders train-tokens); without it only "
                                    "the physical baseline and auto run (no locate, which needs token vectors)")
    p.add_argument("--clip", help="clip-level checkpoint of the foundation (python -m encoders train), compared in sync and assign")
    p.add_argument("--sync-trials", type=int, default=25, help="excerpt pairs per test stream (default 25; 8 streams)")
    p.add_argument("--locate-trials", type=int, default=100, help="snippets to locate (default 100)")
    p.add_argument("--assign-scenes", type=int, default=50, help="scenes per number of people (default 50)")
    p.add_argument("--candidates", type=int, default=100, help="locate: stored tokens per query token (default 100)")
    p.add_argument("--tokens-2d", help="a 2-D token checkpoint (train-tokens --pose-dims 2), added to the 2-D sync "
                                       "(the skeletons seen as 2-D, and mediapipe pose from the depth videos)")
    p.add_argument("--video-clips", type=int, default=15,
                   help="2-D sync: right-wrist clips per test subject whose depth video goes through "
                        "mediapipe (default 15)")
    p.add_argument("--skip", default="", help="comma-separated parts to skip: sync, sync2d, locate, assign")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", help="write the report here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    tok = load_checkpoint(args.tokens) if args.tokens else None
    if tok is None:
        skip.add("locate")
    clip = load_checkpoint(args.clip) if args.clip else None
    trained = set(tok.config.get("trained_on", {}).get("subjects", [])) if tok else set()
    if trained & set(TEST_SUBJECTS):
        print(f"warning: the token checkpoint was trained on test subjects {sorted(trained & set(TEST_SUBJECTS))}",
              file=sys.stderr)
    entries = discover(args.source, "utd-mhad")
    start = time.time()
    streams = subject_streams(entries, set(TEST_SUBJECTS))
    print(f"{len(streams)} test streams, {sum(s.duration for s in streams):.0f} s: "
          + ", ".join(f"{s.id.split('/')[-1]} {s.duration:.0f} s" for s in streams))
    report: dict = {"command": " ".join(["python bench/eval_temporal.py"] + (argv if argv is not None else sys.argv[1:])),
                    "token_encoder": tok.id if tok else None, "clip_encoder": clip.id if clip else None, "seed": args.seed,
                    "test_subjects": list(TEST_SUBJECTS)}
    if "sync" not in skip:
        rng = np.random.default_rng(args.seed)
        methods = {}
        if tok is not None:
            methods["MoBind tokens (dense vote)"] = lambda a, b: query.sync(a, b, tok, max_offset=10.0)
        if clip is not None:
            methods["clip-level CNN-GRU (dense vote)"] = lambda a, b: query.sync(a, b, clip, max_offset=10.0)
        methods["physical xcorr (|acc| + |gyr| vs virtual IMU)"] = lambda a, b: xcorr_sync(a, b, max_offset=10.0)
        methods["auto" + (" (xcorr + tokens)" if tok else " (xcorr alone)")] = \
            lambda a, b: auto_sync(a, b, tok, max_offset=10.0)
        report["sync"] = eval_sync(streams, methods, args.sync_trials, 20.0, 7.0, rng)
    if "sync2d" not in skip:
        methods = {"physical xcorr (2-D, vertical image acceleration)": lambda a, b: xcorr_sync(a, b, max_offset=10.0)}
        if args.tokens_2d:
            tok2 = load_checkpoint(args.tokens_2d)
            report["token_encoder_2d"] = tok2.id
            methods["MoBind tokens 2-D (dense vote)"] = lambda a, b: query.sync(a, b, tok2, max_offset=10.0)
        methods["auto" + (" (xcorr + tokens 2-D)" if args.tokens_2d else " (xcorr alone)")] = \
            lambda a, b: auto_sync(a, b, tok2 if args.tokens_2d else None, max_offset=10.0)
        rng = np.random.default_rng(args.seed + 3)
        report["sync_2d_skeleton"] = eval_sync([project_stream(s) for s in streams], methods,
                                               args.sync_trials, 20.0, 7.0, rng)
        t0 = time.time()
        videos = video_streams(entries, ["2", "4"], args.video_clips)
        rng = np.random.default_rng(args.seed + 4)
        report["sync_2d_video"] = eval_sync(videos, methods, 2 * args.sync_trials, 20.0, 7.0, rng)
        report["sync_2d_video"]["streams"] = {v.id: round(v.duration, 1) for v in videos}
        report["sync_2d_video"]["mediapipe_seconds"] = round(time.time() - t0, 1)
    if "locate" not in skip:
        rng = np.random.default_rng(args.seed + 1)
        report["locate"] = eval_locate(streams, tok, args.locate_trials, 3.0, rng, args.candidates)
    if "assign" not in skip:
        rng = np.random.default_rng(args.seed + 2)
        clips = [e.load() for e in entries if e.subject in TEST_SUBJECTS]
        methods = {"MoBind tokens": tok} if tok else {}
        if clip is not None:
            methods["clip-level CNN-GRU"] = clip
        methods["cross-correlation (zero lag)"] = "xcorr"
        report["assign"] = eval_assign(clips, methods, args.assign_scenes, [2, 3, 4, 5], rng,
                                       tok.part_of if tok else (lambda placement: placement))
    report["seconds"] = round(time.time() - start, 1)
    print_tables(report)
    print(f"\n{report['seconds']} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
