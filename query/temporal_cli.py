"""`python -m query sync|locate|assign`: the fine-grained time commands (see query.temporal).

They are registered into `query.__main__`'s COMMANDS by `register`. sync and assign need no
index when given --checkpoint (or --method xcorr); otherwise they use the index's token
encoder.
"""
from __future__ import annotations

import argparse


def _encoder(args, index):
    if args.checkpoint:
        from encoders import load_checkpoint

        return load_checkpoint(args.checkpoint)
    if index is None:
        from query.api import open_index

        index = open_index(args.index)
    return index.token_encoder()


def _imu_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rate", type=float, help="IMU sample rate in Hz (needed for .csv/.parquet/.npy)")
    p.add_argument("--placement", default="right_wrist", help="where the IMU was worn (default right_wrist)")
    p.add_argument("--acc-unit", default="m/s^2", help="accelerometer unit of the file: m/s^2 or g")
    p.add_argument("--gyr-unit", default="rad/s", help="gyroscope unit of the file: rad/s or deg/s")


def _read_imu(path, args):
    from query import inputs

    return inputs.read_imu(path, args.rate, placement=args.placement, acc_unit=args.acc_unit, gyr_unit=args.gyr_unit)


def _checkpoint_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="token (or clip-level) checkpoint folder; default: the index's "
                                        "token encoder (then no index is needed)")


def sync_cmd(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("imu_file", help="IMU recording (.mat, .csv, .parquet, .npy)")
        p.add_argument("other_file", help="pose (.bvh, UTD-MHAD skeleton .mat, .npy), a video (2-D pose via "
                                          "mediapipe; needs a 2-D token checkpoint) or another IMU")
        p.add_argument("--max-offset", type=float, default=10.0, help="largest offset to consider, seconds (default 10)")
        p.add_argument("--top-k", type=int, default=5, help="mutual top-k matches that vote (default 5)")
        p.add_argument("--other-rate", type=float, help="frame rate of a .npy pose file, Hz")
        p.add_argument("--method", choices=["tokens", "xcorr"], default="tokens",
                       help="tokens: dense embedding + offset voting (default); xcorr: cross-correlate "
                            "acceleration magnitudes, no model")
        _imu_args(p)
        _checkpoint_arg(p)
        p.set_defaults(standalone=True)
        return
    from query import temporal

    imu = _read_imu(args.imu_file, args)
    other = temporal.as_motion(args.other_file, rate=args.other_rate)
    if args.method == "xcorr":
        from query.xcorr import xcorr_sync

        result = xcorr_sync(imu, other, args.max_offset)
    else:
        result = temporal.sync(imu, other, _encoder(args, index), max_offset=args.max_offset, k=args.top_k)
    return result.to_frame() if args.json else str(result)


def locate_cmd(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("imu_snippet", help="IMU snippet (.mat, .csv, .parquet, .npy)")
        p.add_argument("--recording", help="search only this recording (its id)")
        p.add_argument("--start", type=float, help="use the file from this second on")
        p.add_argument("--end", type=float, help="use the file up to this second")
        p.add_argument("--candidates", type=int, default=100,
                       help="stored windows fetched per query window before refinement (default 100)")
        _imu_args(p)
        return
    from query import temporal
    from query.api import crop_stream

    imu = _read_imu(args.imu_snippet, args)
    if args.start is not None or args.end is not None:
        imu = crop_stream(imu, args.start or 0.0, args.end)
    return temporal.locate(index, imu, k=args.k, recording=args.recording, target=args.target,
                           candidates=args.candidates)


def assign_cmd(p=None, args=None, index=None):
    if p is not None:
        p.add_argument("files", nargs="+", metavar="FILE",
                       help="IMU files, then one pose file with everyone in the scene: a .npy of shape "
                            "(people, frames, joints, 2|3) (Kinect-20, COCO-17 or canonical-16 joints), or "
                            "a single-person pose file")
        p.add_argument("--pose-rate", type=float, help="frame rate of a .npy pose file, Hz")
        p.add_argument("--method", choices=["tokens", "xcorr"], default="tokens",
                       help="tokens: token + window similarity (default); xcorr: zero-lag correlation "
                            "of acceleration magnitudes, no model")
        _imu_args(p)
        _checkpoint_arg(p)
        p.set_defaults(standalone=True)
        return
    from query import temporal

    if len(args.files) < 2:
        raise ValueError("give at least one IMU file and then the pose file")
    imus = [_read_imu(f, args) for f in args.files[:-1]]
    people = temporal.read_people(args.files[-1], args.pose_rate)
    encoder = "xcorr" if args.method == "xcorr" else _encoder(args, index)
    return temporal.assign(imus, people, encoder)


def register(command, no_target: set[str]) -> None:
    """Add the commands to `python -m query` (its `command` decorator; `no_target` names the
    commands that take no --target / -k)."""
    command("sync", "offset between an IMU stream and a pose stream / video (positive: the second lags)")(sync_cmd)
    command("locate", "where in the archive an IMU snippet's motion happens, to 0.2 s")(locate_cmd)
    command("assign", "which person and body part wears each IMU in a multi-person pose stream")(assign_cmd)
    no_target.update({"sync", "assign"})
