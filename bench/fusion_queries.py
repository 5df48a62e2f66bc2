"""Two-sensor IMU -> IMU query on the held-out split: each test moment's wrist+foot query ranks
the other test recordings' moments (its own recording left out); class P@1 / P@10 / mAP for
attention fusion (fused vectors), late fusion (sum of per-sensor similarities, per placement)
and each sensor alone, on an archive written by bench/fusion_archive.py.

  python bench/fusion_queries.py CHECKPOINT runs/fusion-archive
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout ahead of an installed copy
from encoders.data import model_windows  # noqa: E402
from encoders.evaluation.metrics import mean_average_precision, precision_at_k  # noqa: E402
from encoders.evaluation.text_aligned import embed_set  # noqa: E402
from encoders.factory import load_checkpoint  # noqa: E402
from indexer.importers import discover, select  # noqa: E402

enc = load_checkpoint(sys.argv[1])
entries = select(discover(sys.argv[2], "archive"), None, None, "test")
data = model_windows(entries, enc.config, enc.model, progress=False)
imu = embed_set(enc, data)["imu"]
moments = data.moments()
places = np.asarray(data.placements)


def per(place):
    return np.stack([imu[[r for r in m if places[r] == place][0]] for m in moments])


wrist, foot = per("right_wrist"), per("right_foot")
recs = np.array([data.recording_ids[m[0]] for m in moments])
labels = np.array([data.captions[m[0]] for m in moments])
relevant = labels[:, None] == labels[None, :]
mask = recs[:, None] == recs[None, :]


def score(sim, name):
    sim = np.where(mask, -np.inf, sim)
    p = precision_at_k(sim, relevant & ~mask)
    ap = mean_average_precision(sim, relevant & ~mask)
    print(f"{name:<28} P@1 {p['P@1']:.3f}  P@10 {p['P@10']:.3f}  mAP {ap:.3f}  ({len(moments)} queries)")


score(wrist @ wrist.T, "wrist alone")
score(foot @ foot.T, "foot alone")
score(wrist @ wrist.T + foot @ foot.T, "late fusion (sum)")
if enc.has_fusion:
    fused = enc.fuse([(np.stack([wrist[i], foot[i]]), ["right_wrist", "right_foot"]) for i in range(len(moments))])
    score(fused @ fused.T, "attention fusion")
