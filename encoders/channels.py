"""Match a recording's IMU columns to the channels an encoder was trained on.

Archives and query files may list IMU channels in any order or carry extra ones (a
magnetometer, say). The IMU tower reads columns by position, so without this a file whose
header starts with the gyroscope would be embedded as if it were the accelerometer, silently.

A tower trained with channel dropout (the IMU tower's `channel_dropout` > 0 in its config) saw whole
sensor groups (the gyroscope, the accelerometer) zeroed during training, so it reads a stream
that lacks some of its channels with those columns zero-filled: an accelerometer-only wrist band
and an acc+gyr phone land in the same space. A tower trained without it never saw zeros there
and refuses such streams.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from encoders.config import EncoderConfig, TowerConfig, channel_groups
from indexer.errors import BadInput
from indexer.model import ImuStream, Recording
from indexer.units import IMU_CHANNEL_GROUPS

DEFAULT_GROUPS = ("acc", "gyr")
DEFAULT_CHANNEL_DROPOUT = 0.3  # per group and window, in training (never every group of a window)


def parse_groups(arg: str | None, option: str = "--imu-channels") -> list[str]:
    """"acc,gyr" -> ["acc", "gyr"], in IMU_CHANNEL_GROUPS' order; ValueError naming the option."""
    names = [p.strip() for p in (arg or "").split(",") if p.strip()]
    unknown = [n for n in names if n not in IMU_CHANNEL_GROUPS]
    if unknown or not names:
        raise ValueError(f"{option}: expected comma-separated sensor groups from {', '.join(IMU_CHANNEL_GROUPS)}, "
                         f"got {arg!r}")
    return [g for g in IMU_CHANNEL_GROUPS if g in names]


def group_channels(groups) -> list[str]:
    """The channel names of sensor groups, in tower order."""
    return [c for g in groups for c in IMU_CHANNEL_GROUPS[g]]


def tower_groups(channels: list[str]) -> dict:
    """The normalisation params of an IMU tower reading `channels`: one group per sensor
    (IMU2CLIP's GroupNorm per sensor type), with their sizes when they differ (a quaternion's 4)."""
    sizes = [len(g) for g in channel_groups(channels)]
    return {"groups": len(sizes)} if len(set(sizes)) == 1 else {"groups": len(sizes), "group_sizes": sizes}


def drop_groups(rec: Recording, groups) -> Recording:
    """`rec` with the channels of sensor `groups` ("gyr", ...) removed from every IMU stream (to
    measure a model on less than it was trained with). A stream left with no channel raises."""
    groups = set(groups or ())
    if not groups or not rec.imu:
        return rec
    streams = []
    for s in rec.imu:
        keep = [i for i, c in enumerate(s.channels) if c.split("_")[0] not in groups]
        if not keep:
            raise BadInput(s.source or rec.id, f"no IMU channel left after dropping {sorted(groups)} "
                                               f"(it has {s.channels})")
        streams.append(replace(s, data=s.data[:, keep], channels=[s.channels[i] for i in keep]))
    return replace(rec, imu=streams)


def conform_stream(s: ImuStream, imu: TowerConfig | None, where: str = "",
                   command: str = "train") -> tuple[ImuStream, np.ndarray]:
    """`s` with the columns of the IMU tower `imu` in its order (extra ones dropped; missing ones
    zero-filled when the tower was trained with channel dropout) and which of them the stream
    really has. Raises BadInput naming the stream's file when the encoder cannot read it (and
    the training `command` that fine-tunes it to)."""
    want = list(imu.channels or ()) if imu is not None else None
    if not want:
        return s, np.ones(len(s.channels), bool)
    present = np.array([c in s.channels for c in want])
    where = s.source or where or "IMU stream"
    if present.all():
        if s.channels == list(want):
            return s, present
        return replace(s, data=s.data[:, [s.channels.index(c) for c in want]], channels=list(want)), present
    missing = [c for c, p in zip(want, present) if not p]
    if imu.dropout <= 0:
        raise BadInput(where, f"IMU channels {s.channels} lack {missing}, which the encoder reads (it needs {want}); "
                              "this checkpoint was trained without channel dropout, so it cannot zero-fill them: "
                              f"fine-tune it with `python -m encoders {command} --init CHECKPOINT ...` to read "
                              "streams with fewer channels")
    if not present.any():
        raise BadInput(where, f"IMU channels {s.channels} share none with the encoder's {want}")
    data = np.zeros((s.data.shape[0], len(want)), np.float32)
    for j, c in enumerate(want):
        if present[j]:
            data[:, j] = s.data[:, s.channels.index(c)]
    return replace(s, data=data, channels=list(want)), present


def conform_imu(rec: Recording, config: EncoderConfig) -> Recording:
    """`rec` with every IMU stream's columns in the encoder's channel order (see
    `conform_stream`). Raises BadInput naming the stream's file when the encoder cannot read it."""
    if not rec.imu:
        return rec
    command = "train-tokens" if config.is_tokens else "train"
    return replace(rec, imu=[conform_stream(s, config.imu, rec.id, command)[0] for s in rec.imu])
