"""Write a generated two-sensor archive (manifest.toml + .npy files) where neither sensor alone
tells every action apart, to measure sensor fusion (`encoders train --fusion attention`).

Every recording has a right-wrist and a right-foot IMU (acc + gyr, 50 Hz, 8 s). The six
actions cross what the arm does (waving: a smooth 1 Hz swing; punching: sharp jabs at 2 Hz)
with what the legs do (standing still, walking at ~1.8 steps/s, running at ~2.8 steps/s):
the wrist alone can only tell the two arm movements apart, the foot only the three gaits; both
together tell all six. Each subject moves at their own pace and amplitude, each trial varies
around it, and every sensor carries noise and a random small tilt. Subjects 1-8; split
"train" for 1, 3, 5, 7 and "test" for 2, 4, 6, 8.

Example (from the repository root):
  python bench/fusion_archive.py --out runs/fusion-archive
  python -m encoders train runs/fusion-archive --split train --text-tower minilm --fusion attention --out ckpt/f
  python -m encoders eval-text runs/fusion-archive --split test --checkpoint ckpt/f
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

RATE, SECONDS = 50.0, 8.0
CHANNELS = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
ARMS = {"waving": (1.0, "smooth"), "punching": (2.0, "sharp")}
LEGS = {"standing": (0.0, 0.0), "walking": (1.8, 1.0), "running": (2.8, 2.5)}
ACTIONS = {f"{arm} while {leg}": (arm, leg) for leg in LEGS for arm in ARMS}


def _tilt(rng) -> np.ndarray:
    """A small random rotation (how the sensor happens to sit)."""
    a, b = rng.normal(0, 0.15, 2)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    return rx @ ry


def _signal(acc: np.ndarray, gyr: np.ndarray, rng) -> np.ndarray:
    r = _tilt(rng)
    acc = (acc + [0.0, 0.0, 9.81]) @ r.T
    gyr = gyr @ r.T
    out = np.concatenate([acc, gyr], 1)
    return (out + rng.normal(0, 0.08, out.shape)).astype(np.float32)


def wrist(arm: str, pace: float, amp: float, rng) -> np.ndarray:
    f, kind = ARMS[arm]
    f *= pace
    t = np.arange(int(SECONDS * RATE)) / RATE
    phase = 2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)
    if kind == "smooth":
        wave = np.sin(phase)
        acc = amp * np.stack([3 * wave, 1.5 * np.cos(phase), 0.5 * wave], 1)
        gyr = amp * np.stack([0.5 * np.cos(phase), 3 * wave, 0.3 * wave], 1)
    else:  # jabs: short forward pulses
        pulse = np.maximum(np.sin(phase), 0) ** 6
        acc = amp * np.stack([12 * pulse - 2, 0.5 * np.sin(phase), 1.0 * pulse], 1)
        gyr = amp * np.stack([0.3 * pulse, 1.0 * pulse, 0.5 * np.cos(phase)], 1)
    return acc, gyr, t


def foot(leg: str, pace: float, amp: float, rng, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f, strength = LEGS[leg]
    if f == 0:  # standing: sway only
        sway = 0.2 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6.3))
        return np.stack([sway, 0.5 * sway, 0 * t], 1), np.stack([0.2 * sway, 0.1 * sway, 0 * t], 1)
    phase = 2 * np.pi * f * pace * t + rng.uniform(0, 2 * np.pi)
    strike = np.maximum(np.sin(phase), 0) ** 8  # heel strikes
    swing = np.sin(phase / 2)  # each foot swings at half the step rate
    s = amp * strength
    acc = s * np.stack([4 * swing, 1.0 * np.cos(phase), 10 * strike], 1)
    gyr = s * np.stack([0.5 * np.cos(phase / 2), 3 * swing, 0.3 * strike], 1)
    return acc, gyr


def write(out: Path, trials: int = 3, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    (out / "imu").mkdir(parents=True, exist_ok=True)
    blocks = ["# A generated two-sensor archive; written by bench/fusion_archive.py\ndataset = \"fusion-synth\"\n"]
    for subject in range(1, 9):
        pace, amp = rng.uniform(0.85, 1.15), rng.uniform(0.8, 1.2)
        for name, (arm, leg) in ACTIONS.items():
            for trial in range(1, trials + 1):
                rid = f"{name.replace(' ', '_')}_s{subject}_t{trial}"
                p, a = pace * rng.uniform(0.95, 1.05), amp * rng.uniform(0.9, 1.1)
                acc_w, gyr_w, t = wrist(arm, p, a, rng)
                acc_f, gyr_f = foot(leg, p, a, rng, t)
                block = (f"\n[[recording]]\nid = {json.dumps(rid)}\nsubject = \"{subject}\"\ntrial = \"{trial}\"\n"
                         f"split = \"{'train' if subject % 2 else 'test'}\"\nlabels = [{json.dumps(name)}]\n")
                for place, (acc, gyr) in (("right_wrist", (acc_w, gyr_w)), ("right_foot", (acc_f, gyr_f))):
                    np.save(out / "imu" / f"{rid}_{place}.npy", _signal(acc, gyr, rng))
                    block += (f"\n[[recording.imu]]\nfile = \"imu/{rid}_{place}.npy\"\nrate = {RATE:g}\n"
                              f"channels = [{', '.join(json.dumps(c) for c in CHANNELS)}]\n"
                              f"placement = \"{place}\"\n")
                blocks.append(block)
    (out / "manifest.toml").write_text("".join(blocks))
    return len(blocks) - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/fusion_archive.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write manifest.toml and imu/ into")
    parser.add_argument("--trials", type=int, default=3, help="trials per subject and action (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n = write(Path(args.out), args.trials, args.seed)
    print(f"{n} recordings ({len(ACTIONS)} actions, 8 subjects, wrist + foot) -> {Path(args.out) / 'manifest.toml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
