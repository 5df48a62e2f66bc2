"""Match a recording's IMU columns to the channels an encoder was trained on.

Archives and query files may list IMU channels in any order or carry extra ones (a
magnetometer, say). The IMU tower reads columns by position, so without this a file whose
header starts with the gyroscope would be embedded as if it were the accelerometer, silently.
"""
from __future__ import annotations

from dataclasses import replace

from indexer.errors import BadInput
from indexer.model import Recording


def conform_imu(rec: Recording, config: dict) -> Recording:
    """`rec` with every IMU stream's columns in the encoder's channel order (extra columns
    dropped). Raises BadInput naming the stream's file when it lacks a channel the encoder reads."""
    want = config.get("towers", {}).get("imu", {}).get("channels")
    if not want or not rec.imu or all(s.channels == want for s in rec.imu):
        return rec
    streams = []
    for s in rec.imu:
        missing = [c for c in want if c not in s.channels]
        if missing:
            raise BadInput(s.source or rec.id, f"IMU channels {s.channels} lack {missing}, which the encoder "
                                               f"reads (it needs {want})")
        streams.append(replace(s, data=s.data[:, [s.channels.index(c) for c in want]], channels=list(want)))
    return replace(rec, imu=streams)
