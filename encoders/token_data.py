"""Training material for the token towers: each IMU of a recording paired with the skeleton
chain it moves with, cut into randomly placed windows.

Random window placement (any pose frame, not a fixed hop) matters here: the token loss has to
learn where within a window things happen, and a fixed grid would show every motion at only a
few phases.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from encoders.channels import conform_stream
from encoders.config import EncoderConfig
from encoders.data import NoWindows
from encoders.part_features import part_for_placement, pose_part_features, project_2d
from indexer.concat import subject_streams
from indexer.errors import BadInput
from indexer.importers import keeps, select
from indexer.model import Entry, Recording
from indexer.windows import resample


@dataclass
class PartRecording:
    """One recording resampled for the towers: its IMUs and its canonical pose, same clock."""

    recording_id: str
    subject: str
    imu: list[np.ndarray]  # per IMU (T_imu, C) at imu_rate, in the tower's channel order
    parts: list[str]  # the body part each IMU is read against
    pose: np.ndarray  # (T_pose, 16, 3|2) canonical joints at pose_rate
    present: list[np.ndarray] | None = None  # per IMU (C,) bool: the channels it really has (else all)

    @property
    def frames(self) -> int:
        return self.pose.shape[0]


@dataclass
class TokenPairs:
    recordings: list[PartRecording]
    imu_rate: float
    pose_rate: float
    window: float
    parts: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(r.frames for r in self.recordings) / self.pose_rate

    def __len__(self) -> int:
        """Windows in one pass over the material at one window per window length."""
        return max(1, int(self.seconds / self.window))

    def sample(self, batch: int, rng: np.random.Generator, pose_dims: int = 3, yaw_range: float = 0.0,
               token_shift: float = 0.0, token_seconds: float = 0.2) -> dict:
        """A batch of `batch` random windows, each with all its recording's IMUs, flattened
        into pairs (see `encoders.losses.mobind_loss` for the layout). A 2-D tower learning from
        3-D skeletons sees them from a camera turned by up to `yaw_range` radians, mirrored half
        of the time. With `token_shift` > 0
        each pair also gets a pose window cut a random whole number of tokens (up to that many
        seconds) later or earlier, for the token-level loss."""
        n_pose = int(round(self.window * self.pose_rate))
        n_imu = int(round(self.window * self.imu_rate))
        per_token = int(round(token_seconds * self.pose_rate))
        max_k = int(round(token_shift / token_seconds))
        weights = np.array([max(r.frames, 1) for r in self.recordings], dtype=np.float64)
        picks = rng.choice(len(self.recordings), size=batch, p=weights / weights.sum())
        imu, imu_v, pose, pose_v, part, sample, present = [], [], [], [], [], [], []
        shifted, shifted_v, shifts = [], [], []

        def crop(rec, j0, yaw, mirror):
            canon = rec.pose[max(j0, 0) : j0 + n_pose]
            if pose_dims == 2 and canon.shape[-1] == 3:
                canon = project_2d(canon, yaw)
                if mirror:  # skeletons disagree on which way x points (Kinect's is the camera's left)
                    canon = canon * np.array([-1.0, 1.0], np.float32)
            valid = canon.shape[0]
            return np.concatenate([canon, np.zeros((n_pose - valid,) + canon.shape[1:], np.float32)]), valid

        for s, ri in enumerate(picks):
            rec = self.recordings[ri]
            j0 = int(rng.integers(0, max(1, rec.frames - n_pose + 1)))
            i0 = int(round(j0 / self.pose_rate * self.imu_rate))
            yaw = float(rng.uniform(-yaw_range, yaw_range))
            mirror = pose_dims == 2 and bool(rng.random() < 0.5)
            canon, pv = crop(rec, j0, yaw, mirror)
            if max_k:  # a shift that keeps the shifted window inside the recording
                lo = max(-max_k, -(j0 // per_token))
                hi = min(max_k, (rec.frames - n_pose - j0) // per_token) if rec.frames >= n_pose + j0 else 0
                k = int(rng.integers(lo, max(lo, hi) + 1))
                moved, mv = crop(rec, j0 + k * per_token, yaw, mirror)
            for m, data in enumerate(rec.imu):
                piece = data[i0 : i0 + n_imu]
                iv = piece.shape[0]
                imu.append(np.concatenate([piece, np.zeros((n_imu - iv, piece.shape[1]), np.float32)]))
                imu_v.append(max(iv, 1))
                present.append(rec.present[m] if rec.present is not None else np.ones(piece.shape[1], bool))
                pose.append(pose_part_features(canon, rec.parts[m], self.pose_rate, pv))
                pose_v.append(max(pv, 1))
                part.append(self.parts.index(rec.parts[m]))
                sample.append(s)
                if max_k:
                    shifted.append(pose_part_features(moved, rec.parts[m], self.pose_rate, mv))
                    shifted_v.append(max(mv, 1))
                    shifts.append(k)
        out = {"imu": torch.from_numpy(np.stack(imu)), "imu_valid": torch.tensor(imu_v),
               "imu_present": torch.from_numpy(np.stack(present)),
               "pose": torch.from_numpy(np.stack(pose)), "pose_valid": torch.tensor(pose_v),
               "part": torch.tensor(part), "sample": torch.tensor(sample)}
        if max_k:
            out.update(pose_shifted=torch.from_numpy(np.stack(shifted)), pose_shifted_valid=torch.tensor(shifted_v),
                       token_shift=torch.tensor(shifts))
        return out


def part_recording(rec: Recording, config: EncoderConfig, skipped: list[tuple[str, str]] | None = None) -> PartRecording:
    """The recording's IMUs (columns in the tower's order) with the body parts they are read
    against, and its pose, for the token config `config`. An IMU lacking channels the tower
    reads is kept zero-filled when the config trains with channel dropout (an acc-only sensor),
    else left out; so is one the config has no part for. What is left out is reported in
    `skipped`; the recording keeps its other sensors. BadInput when none is left or there is no pose."""
    parts = list(config.tokens.parts)
    imu_rate, pose_rate = float(config.imu.rate), float(config.pose.rate)
    if rec.pose is None:
        raise BadInput(rec.id, "has no pose stream: token training pairs each IMU with a skeleton chain"
                       if rec.imu else "has neither IMU nor pose")
    if not rec.imu:
        raise BadInput(rec.id, "has no IMU stream: token training pairs each IMU with a skeleton chain")
    imus, rec_parts, has, reasons = [], [], [], []
    for s in rec.imu:
        try:
            conformed, present = conform_stream(s, config.imu, rec.id, "train-tokens")
            x = np.asarray(conformed.data, np.float32)
            part = part_for_placement(s.placement, parts)
        except BadInput as exc:
            reasons.append((exc.path, f"IMU at {s.placement} left out: {exc.reason}"))
            continue
        except ValueError as exc:
            reasons.append((s.source or rec.id, f"IMU at {s.placement} left out: {exc}"))
            continue
        imus.append(resample(x, s.rate, imu_rate).astype(np.float32))
        rec_parts.append(part)
        has.append(present)
    if skipped is not None:
        skipped.extend(reasons)
    if not imus:
        raise BadInput(rec.id, "none of its IMUs can be read against the config's body parts "
                               f"({', '.join(parts)}): " + "; ".join(r for _, r in reasons))
    canon = rec.pose.canonical()
    flat = canon.reshape(canon.shape[0], -1)
    pose = resample(flat, rec.pose.rate, pose_rate).reshape(-1, *canon.shape[1:]).astype(np.float32)
    return PartRecording(rec.id, rec.subject or "", imus, rec_parts, pose, has)


def token_pairs(entries: list[Entry], config: EncoderConfig, subjects: set[str] | None = None, concat: bool = False,
                progress: bool = True, exclude: set[str] | None = None) -> TokenPairs:
    """Paired IMU / pose-part material from an archive for the token config `config`.

    `concat` joins each subject's clips into one long stream per sensor placement first (see
    `indexer.concat`): short clips then yield windows that straddle clip boundaries, as the
    long test streams of the temporal evaluation do.
    """
    imu_rate, pose_rate = float(config.imu.rate), float(config.pose.rate)
    skipped: list[tuple[str, str]] = []
    entries = select(entries, subjects, exclude)
    if concat:
        recs = [r for r in subject_streams(entries, subjects, skipped) if keeps(r.subject, subjects, exclude)]
    else:
        recs = []
        for entry in tqdm(entries, desc="reading", unit="rec", disable=not progress):
            try:
                rec = entry.load()
            except BadInput as exc:
                skipped.append((exc.path, exc.reason))
                continue
            if keeps(rec.subject, subjects, exclude):
                recs.append(rec)
    out = []
    for rec in recs:
        try:
            out.append(part_recording(rec, config, skipped))
        except (BadInput, ValueError) as exc:
            skipped.append((getattr(exc, "path", rec.id), getattr(exc, "reason", str(exc))))
    if not out:
        raise NoWindows("no recording with both an IMU and a pose stream in the source", skipped)
    return TokenPairs(out, imu_rate, pose_rate, float(config.tokens.window.length), list(config.tokens.parts), skipped)
