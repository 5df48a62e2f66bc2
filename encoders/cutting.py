"""What a checkpoint cuts of a recording, from its config alone: no model, no torch.

A build reads and windows recordings in worker processes (and Ray tasks) while the model
embeds in the main one; those workers get this small picklable object instead of the
encoder, so they neither receive the weights nor pay for importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from encoders.channels import conform_imu
from encoders.config import EncoderConfig
from indexer.model import Recording
from indexer.windows import Window, recording_windows


@dataclass(frozen=True)
class WindowCutter:
    """`cutter(rec)`: every window of `rec` in every modality the checkpoint's towers read (IMU
    channels put in the order the tower reads them). With `parts` (token encoders), each
    whole-skeleton pose window becomes one window per body part, in that order."""

    config: EncoderConfig
    parts: tuple[str, ...] = ()

    def __call__(self, rec: Recording) -> list[Window]:
        video = self.config.video
        windows = recording_windows(conform_imu(rec, self.config), self.config.window, self.config.rates,
                                    video_size=int(video.size) if video else None)
        return split_pose_parts(windows, self.parts) if self.parts else windows


def split_pose_parts(windows: list[Window], parts) -> list[Window]:
    """Pose windows of the whole skeleton ("all") -> one window per body part of `parts`, in
    that order, so an IMU window can be matched against the chain it moves with; other windows
    as they are."""
    out = []
    for w in windows:
        if w.modality == "pose" and w.body_part == "all":
            out.extend(replace(w, body_part=p) for p in parts)
        else:
            out.append(w)
    return out
