"""Convert UTD-MHAD into a generic archive folder (manifest.toml + one file per stream).

The archive reads through the generic importer (indexer/importers/archive.py, format
"archive") exactly as a user's own recordings would, so an experiment on it measures the
generic path, not the UTD-specific one. Three variants:

  acc-gyro   accelerometer + gyroscope (6 channels) and the Kinect skeleton as pose
  imu-only   accelerometer + gyroscope, no pose stream
  acc-only   accelerometer only (3 channels), no pose stream

Every recording keeps its subject, trial, action name (labels, from actions.csv) and sensor
placement (right wrist for actions 1-21, right thigh for 22-27), and carries
split = "train" for subjects 1, 3, 5, 7 and "test" for 2, 4, 6, 8 (the cross-subject protocol
the literature uses), so a build can select with --split or by subject. IMU files are .npy
arrays in SI units (m/s^2, rad/s) at 50 Hz, channels named in the manifest (acc_x ... gyr_z);
pose files are (frames, 20, 3) Kinect joints in metres, spread over the inertial duration.

Example (from the repository root):
  python bench/utd_generic.py ../shared/data/utd-mhad --variant acc-only --out runs/utd-acc-only
  python -m indexer build runs/utd-acc-only --out runs/utd-acc-only-index
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The checkout this file is in, ahead of any installed copy of motionsearch.
REPO = str(Path(__file__).resolve().parent.parent)
if REPO not in sys.path:
    sys.path.insert(0, REPO)

VARIANTS = {  # variant -> (IMU channels kept, pose stream included)
    "acc-gyro": (6, True),
    "imu-only": (6, False),
    "acc-only": (3, False),
}


def _q(text: str) -> str:
    """A TOML basic string (JSON string escapes are valid TOML)."""
    return json.dumps(str(text))


def convert(source: Path, out: Path, variant: str, dataset: str, limit: int | None = None,
            progress: bool = True) -> tuple[int, list[str]]:
    """Write the archive; returns (recordings written, one line per clip skipped and why)."""
    import numpy as np
    from tqdm import tqdm

    from indexer.errors import BadInput
    from indexer.importers import utd_mhad
    from indexer.units import IMU6_CHANNELS, imu_channels_to_si

    n_channels, with_pose = VARIANTS[variant]
    channels = IMU6_CHANNELS[:n_channels]
    actions = utd_mhad.read_actions(source)
    entries = utd_mhad.discover(source)[:limit]
    (out / "imu").mkdir(parents=True, exist_ok=True)
    if with_pose:
        (out / "pose").mkdir(exist_ok=True)

    blocks, skipped = [f"# UTD-MHAD as a generic archive ({variant}); written by bench/utd_generic.py\n"
                       f"dataset = {_q(dataset)}\n"], []
    for entry in tqdm(entries, desc=f"utd -> {variant}", unit="clip", disable=not progress, file=sys.stderr):
        stem = entry.id.split("/")[-1]
        action, subject, trial = (int(x[1:]) for x in stem.split("_"))
        try:
            if action not in actions:
                raise BadInput(str(source / "actions.csv"), f"has no action {action} (needed by {stem})")
            name, placement = actions[action]
            iner = utd_mhad.read_mat(source / "inertial" / f"{stem}_inertial.mat", "d_iner")
            if iner.ndim != 2 or iner.shape[1] != 6:
                raise BadInput(entry.sources[0], f"expected d_iner of shape (N, 6), got {iner.shape}")
            imu = imu_channels_to_si(iner, list(IMU6_CHANNELS), "g", "deg/s")[:, :n_channels]
            frames = None
            if with_pose:
                frames = utd_mhad.read_skeleton_frames(source / "skeleton" / f"{stem}_skeleton.mat")
        except BadInput as exc:
            skipped.append(str(exc))
            continue
        np.save(out / "imu" / f"{stem}.npy", imu.astype(np.float32))
        split = "train" if str(subject) in utd_mhad.TRAIN_SUBJECTS else "test"
        block = (f"\n[[recording]]\nid = {_q(stem)}\nsubject = {_q(subject)}\ntrial = {_q(trial)}\n"
                 f"split = {_q(split)}\nlabels = [{_q(name)}]\n\n"
                 f"[[recording.imu]]\nfile = {_q(f'imu/{stem}.npy')}\nrate = {utd_mhad.IMU_RATE:g}\n"
                 f"channels = [{', '.join(_q(c) for c in channels)}]\nplacement = {_q(placement)}\n")
        if frames is not None:
            np.save(out / "pose" / f"{stem}.npy", frames.astype(np.float32))
            # Kinect dropped frames: spread the frames evenly over the inertial duration.
            fps = frames.shape[0] / (len(imu) / utd_mhad.IMU_RATE)
            block += (f"\n[recording.pose]\nfile = {_q(f'pose/{stem}.npy')}\nfps = {fps!r}\n"
                      'skeleton = "kinect20"\n')
        blocks.append(block)
    (out / "manifest.toml").write_text("".join(blocks))
    return len(blocks) - 1, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/utd_generic.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", default="../shared/data/utd-mhad",
                        help="the UTD-MHAD folder (inertial/, skeleton/, actions.csv); default ../shared/data/utd-mhad")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="acc-gyro",
                        help="which streams to write (default acc-gyro; see above)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder to write manifest.toml, imu/ and pose/ into (created; files are overwritten)")
    parser.add_argument("--dataset", help="dataset name in the manifest (default utd-<variant>), so indexes of "
                                          "several variants do not share recording ids")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N clips (quick looks, tests)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    source = Path(args.source)
    if not (source / "inertial").is_dir():
        parser.error(f"{source} is not a UTD-MHAD folder (no inertial/ in it)")
    if args.limit is not None and args.limit <= 0:
        parser.error("--limit must be positive")
    written, skipped = convert(source, Path(args.out), args.variant, args.dataset or f"utd-{args.variant}",
                               args.limit, progress=not args.quiet)
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    print(f"{written} recordings -> {Path(args.out) / 'manifest.toml'} ({args.variant}); {len(skipped)} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
