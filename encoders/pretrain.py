"""Pretraining data from motion capture and composed motion alone (UniMTS's recipe, extended):
every mocap take (and every take of encoders.compose's everyday motions) becomes several
training recordings, each with a virtual IMU at a random placement (random mounting rotation,
noise and bias, a random rate, gravity removed for a share of them) and the pose it came from;
half of them mirrored left <-> right, captions included. Each training window is trained
against a sentence drawn from a pool: its take's captions and sentences computed from the
window's own motion (encoders.describe) (`pretraining_set`, `described_pools`).

The recordings feed the ordinary text-aligned training (encoders.data / encoders.train), so a
pretrained checkpoint is an ordinary checkpoint: it loads, embeds, indexes and fine-tunes like
any other. `VirtualImuSource` is this data as a training source (encoders.train.train); for
MoBind's token towers each copy of a take wears one virtual IMU per body part of the token config (a random placement on that part's
limb), and the take is turned about the vertical at random so that the pose tower does not
learn the capture room's heading.

Takes are split by fixed hashes of their id. The text model leaves out `heldout_split`'s tenth
("heldout": model selection, bench/pretrain_ablation.py and bench/zeroshot.py's mocap-heldout).
Token pretraining uses `mocap_split`: "calib" (the takes query/dense_sync.py's confidence was
calibrated on), "eval" (bench/eval_temporal_mocap.py's figures) and "train" (the only ones
token pretraining reads by default, so those figures are on unseen takes).
"""
from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.ndimage
from tqdm import tqdm

from encoders.compose import composed_recordings
from encoders.conditioning import POSE_FRAMES
from encoders.config import EncoderConfig
from encoders.data import TextAlignedSet, text_aligned_windows
from encoders.describe import describe
from encoders.model import text_aligned_config
from encoders.part_features import part_for_placement
from encoders.text import MINILM, space_name
from encoders.token_data import TokenPairs, token_pairs
from encoders.train import TrainSettings, train
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.errors import BadInput
from indexer.importers import bvh
from indexer.model import Entry, ImuStream, PoseStream, Recording, TextSpan
from indexer.units import IMU6_CHANNELS
from indexer.virtual_imu import PLACEMENTS, random_mount, sensor_position, virtual_imu
from indexer.windows import WindowSpec, resample

# Folders of ../shared/data the shipped model is trained on (UTD-MHAD never: it is the test).
DEFAULT_FOLDERS = ("bandai-namco/dataset-1/data", "bandai-namco/dataset-2/data", "cmu-mocap",
                   "cmu-mocap-iclone/bvh")
# Rates real IMUs run at; each virtual sensor is sampled at one of them.
IMU_RATES = (25.0, 50.0, 100.0)
MAX_TAKE_SECONDS = 60.0  # long CMU takes are cut into pieces of at most this length
LINEAR_SECONDS = 1.0  # the low-pass a linear-acceleration sensor takes for gravity
COMPOSED_PER_PRIMITIVE = 12  # composed takes of each motion primitive (encoders.compose)
DESCRIBED_SENTENCES = 4  # sentences computed from each training window's motion (encoders.describe)


@dataclass(frozen=True)
class Augment:
    copies: int = 4  # training recordings per take
    mirror: float = 0.5  # share of copies mirrored left <-> right
    noise: float = 0.05  # white noise, share of the signal's std
    bias: float = 0.2  # constant offset, m/s^2 or rad/s, per channel (uniform +-)
    mount_degrees: float = 180.0
    channel_dropout: float = 0.3  # share of windows whose gyro (or acc) is zeroed in training (acc-only sensors)
    yaw_degrees: float = 0.0  # largest random turn of a copy about the vertical (the IMU does not change)
    linear: float = 0.1  # share of sensors reading linear acceleration (gravity removed, as phones offer)
    # share of sensors placed by how much each placement moves (`moving_placement`; people wear
    # sensors where the motion they care about happens). 0 by default: it won at a small scale but
    # lost on the selection sets at the shipped model's scale (docs/words.md, section 4).
    active: float = 0.0
    # largest turn (degrees) of a sensor on the forearm, wrist or hand about the forearm's axis:
    # joint positions carry no pronation or supination, which real wrist sensors feel in every
    # gesture (`forearm_roll`). 0 by default (docs/words.md, section 4).
    roll_degrees: float = 0.0
    # how a limb segment's roll is found (indexer.virtual_imu.segment_frames): "plane", as the
    # shipped models, or "carried", which does not spin a nearly straight limb about itself
    limb_frame: str = "plane"


ROLL_SECONDS = 0.3  # how smooth a forearm's random roll is (Gaussian low-pass, seconds)
ROLLING = ("forearm", "wrist", "hand")  # placements on the forearm, whose roll positions cannot say


def forearm_roll(n: int, rate: float, rng: np.random.Generator, degrees: float) -> np.ndarray:
    """(n,) radians: a smooth random pronation/supination of the forearm, within +-`degrees` and
    scaled per take by a uniform draw (some people turn their wrists more than others)."""
    noise = scipy.ndimage.gaussian_filter1d(rng.normal(size=n + 1), ROLL_SECONDS * rate, mode="wrap")[:n]
    noise = noise / max(float(noise.std()), 1e-9)
    return np.deg2rad(degrees * rng.uniform(0, 1)) * np.tanh(noise)


def mocap_split(take_id: str) -> str:
    """"calib" for a third of the takes (a fixed crc32 of the id), "train" for a quarter of the
    rest, "eval" for the others (half of all takes)."""
    h = zlib.crc32(take_id.encode())
    if h % 3 == 0:
        return "calib"
    return "train" if (h // 3) % 4 == 0 else "eval"


def part_placements(parts: list[str], placements=PLACEMENTS) -> list[tuple[str, ...]]:
    """Per body part of a token config, the virtual-IMU placements on its limb (a right-arm part:
    right shoulder, upper arm, elbow, forearm, wrist, hand)."""
    out = []
    for part in parts:
        here = []
        for q in placements:
            try:
                if part_for_placement(q, parts) == part:
                    here.append(q)
            except ValueError:
                continue
        if not here:
            raise ValueError(f"no virtual-IMU placement lies on body part {part!r}")
        out.append(tuple(here))
    return out


def mirrored_caption(text: str) -> str:
    """"waves the left hand" -> "waves the right hand" (and back)."""
    swap = {"left": "right", "right": "left", "Left": "Right", "Right": "Left"}
    return re.sub(r"\b(left|right|Left|Right)\b", lambda m: swap[m.group(0)], text)


def mirror_pose(canonical: np.ndarray) -> np.ndarray:
    """(T, 16, 3) canonical joints seen in a mirror (x negated, left and right joints swapped)."""
    out = canonical.copy()
    out[..., 0] = -out[..., 0]
    idx = [CANONICAL_JOINTS.index(mirrored_caption(j.replace("_", " ")).replace(" ", "_")) for j in CANONICAL_JOINTS]
    return out[:, idx]


def captions(rec: Recording) -> list[str]:
    """Paraphrases of what a take shows, from its labels ([content, style] for stylised takes)
    or its description."""
    if len(rec.labels) == 2 and rec.text and rec.text[0].text.endswith(" style"):
        content, style = rec.labels
        return [content, f"{content} in a {style} way", f"a {style} person: {content}", f"{content}, {style} style"]
    return [t for t in dict.fromkeys([*rec.labels, *(s.text for s in rec.text)]) if t]


def _pieces(n: int, rate: float) -> Iterator[slice]:
    step = int(MAX_TAKE_SECONDS * rate)
    for i in range(0, n, step):
        if n - i >= rate:  # drop a tail shorter than a second
            yield slice(i, min(n, i + step))


def turn_about_vertical(canonical: np.ndarray, degrees: float) -> np.ndarray:
    """(..., 3) y-up points (joints, or pose features reshaped to triples) turned by `degrees`
    about the vertical axis; same dtype."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    out = canonical.copy()
    out[..., 0] = c * canonical[..., 0] + s * canonical[..., 2]
    out[..., 2] = -s * canonical[..., 0] + c * canonical[..., 2]
    return out


def synthetic_recordings(rec: Recording, rng: np.random.Generator, augment: Augment = Augment(),
                         placements: tuple[str, ...] = tuple(PLACEMENTS),
                         sensor_sets: list[tuple[str, ...]] | None = None, captioned: bool = True,
                         every_caption: dict[str, list[str]] | None = None) -> list[Recording]:
    """Training recordings made from one mocap take (see the module doc). Each copy wears one
    virtual IMU placed at random among `placements`, or, with `sensor_sets`, one per set
    (placed at random within it), each with its own mounting, bias, noise and rate. A take
    without labels gives nothing when `captioned` (text-aligned training needs a caption), else
    copies without text. `every_caption`, when given, receives each copy's id -> all the take's
    captions (mirrored with the copy), for training that draws among them."""
    if rec.pose is None:
        return []
    whole = rec.pose.canonical().astype(np.float64)
    texts = captions(rec)
    if not texts and captioned:
        return []
    out = []
    for p, piece in enumerate(_pieces(len(whole), rec.pose.rate)):
        canon = whole[piece]
        for c in range(augment.copies):
            mirrored = rng.random() < augment.mirror
            pose = mirror_pose(canon) if mirrored else canon
            caption = str(rng.choice(texts)) if texts else ""
            caption = mirrored_caption(caption) if mirrored else caption
            if augment.yaw_degrees:
                pose = turn_about_vertical(pose, rng.uniform(-augment.yaw_degrees, augment.yaw_degrees))
            streams = []
            for choices in sensor_sets or [placements]:
                if augment.active and rng.random() < augment.active:
                    placement = moving_placement(pose, rec.pose.rate, choices, rng)
                else:
                    placement = str(rng.choice(choices))
                roll = None
                if augment.roll_degrees and placement.partition("_")[2] in ROLLING:
                    # its own stream, so the roll leaves every other draw of the copy as it was
                    roll = forearm_roll(len(pose), rec.pose.rate, rng.spawn(1)[0], augment.roll_degrees)
                imu = virtual_imu(pose, rec.pose.rate, placement, random_mount(rng, augment.mount_degrees), roll,
                                  augment.limb_frame)
                if rng.random() < augment.linear:
                    imu = _without_gravity(imu, rec.pose.rate)
                imu = imu + augment.bias * rng.uniform(-1, 1, size=(1, 6))
                imu = imu + augment.noise * imu.std(axis=0, keepdims=True) * rng.normal(size=imu.shape)
                rate = float(rng.choice(IMU_RATES))
                streams.append(ImuStream(_resample(imu, rec.pose.rate, rate), rate, list(IMU6_CHANNELS), placement,
                                         source=f"{rec.id} (virtual {placement})"))
            seconds = len(canon) / rec.pose.rate
            if every_caption is not None:
                every_caption[f"{rec.id}#{p}.{c}"] = [mirrored_caption(t) if mirrored else t for t in texts]
            out.append(Recording(
                id=f"{rec.id}#{p}.{c}", dataset=rec.dataset, subject=rec.subject, labels=[caption] if caption else [],
                imu=streams,
                pose=PoseStream(pose.astype(np.float32), rec.pose.rate, "canonical", list(CANONICAL_JOINTS),
                                source=rec.pose.source),
                text=[TextSpan(0.0, seconds, caption)] if caption else [], sources=list(rec.sources)))
    return out


def moving_placement(pose: np.ndarray, rate: float, choices, rng: np.random.Generator) -> str:
    """A placement among `choices` drawn with probability proportional to the RMS acceleration
    of its sensor's path in `pose` (canonical joints): the limbs that move are read more often."""
    dt2 = (1.0 / rate) ** 2
    energy = np.array([np.sqrt(np.mean(np.square(np.diff(sensor_position(pose, q), n=2, axis=0) / dt2)))
                       if len(pose) > 2 else 0.0 for q in choices])
    energy = np.nan_to_num(energy)
    if energy.sum() <= 0:
        return str(rng.choice(choices))
    return str(rng.choice(choices, p=energy / energy.sum()))


def _without_gravity(imu: np.ndarray, rate: float) -> np.ndarray:
    """(T, 6) acc + gyr with the accelerometer's slow part (gravity, as the sensor turns) taken
    out, as a device reporting linear acceleration does."""
    out = imu.copy()
    out[:, :3] -= scipy.ndimage.uniform_filter1d(imu[:, :3], max(1, int(round(LINEAR_SECONDS * rate))), axis=0,
                                                 mode="nearest")
    return out


def _resample(x: np.ndarray, rate: float, target: float) -> np.ndarray:
    return resample(x, rate, target).astype(np.float32)


def heldout_split(take_id: str) -> str:
    """"heldout" for a tenth of the takes (a fixed crc32 of the id, composed takes included), the
    text model's selection set; "train" for the rest."""
    return "heldout" if zlib.crc32(take_id.encode()) % 10 == 0 else "train"


def pretraining_entries(folders: list[Path], seed: int = 0, augment: Augment = Augment(),
                        progress: bool = True, sensor_sets: list[tuple[str, ...]] | None = None,
                        split: str | None = None, captioned: bool = True, splitter=mocap_split,
                        extra: list[Recording] = (), every_caption: dict[str, list[str]] | None = None,
                        ) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries of the synthetic training recordings of every take in `folders` (BVH folders)
    and of the recordings `extra` (composed takes), with `split`, only the takes `splitter`
    (`mocap_split` or `heldout_split`) puts there; made now and held in memory (a few hundred MB
    for the shipped set), and the (path, reason) of each take that could not be read.
    `sensor_sets`, `captioned` and `every_caption` as in `synthetic_recordings`."""
    takes = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise BadInput(str(folder), "not a folder of .bvh takes")
        takes.extend(t for t in bvh.discover(Path(folder)) if split is None or splitter(t.id) == split)
    takes.extend(Entry(id=r.id, sources=r.sources, load=lambda r=r: r, subject=r.subject) for r in extra
                 if split is None or splitter(r.id) == split)
    entries, skipped = [], []
    for n, take in enumerate(tqdm(takes, desc="synthesising IMUs", unit="take", disable=not progress)):
        try:
            rec = take.load()
        except BadInput as exc:
            skipped.append((exc.path, exc.reason))
            continue
        rng = np.random.default_rng([seed, n, zlib.crc32(take.id.encode())])
        for made in synthetic_recordings(rec, rng, augment, sensor_sets=sensor_sets, captioned=captioned,
                                         every_caption=every_caption):
            entries.append(Entry(id=made.id, sources=made.sources, load=lambda r=made: r, subject=made.subject))
    return entries, skipped


def described_pools(data: TextAlignedSet, entries: list[Entry], every_caption: dict[str, list[str]],
                    window: float, seed: int, sentences: int = DESCRIBED_SENTENCES) -> list[list[str]]:
    """Per training row, the sentences it is trained against (one drawn each use): the take's own
    captions, repeated to make about half the pool, and `sentences` computed from the row's own
    pose window (encoders.describe), so the words follow what the body does in that window."""
    recs = {e.id: e.load() for e in entries}
    rng = np.random.default_rng(seed)
    pools = []
    for rid, t0 in zip(data.recording_ids, data.t_start.tolist()):
        rec = recs[rid]
        own = every_caption.get(rid) or list(rec.labels)
        said: list[str] = []
        if rec.pose is not None:
            rate = rec.pose.rate
            a = int(round(t0 * rate))
            piece = rec.pose.data[a : a + int(round(window * rate))]
            if len(piece) >= 2:
                said = describe(piece.astype(np.float64), rate, rng, sentences)
        repeat = max(1, int(np.ceil(len(said) / max(1, len(own)))))
        pools.append(own * repeat + said)
    return pools


@dataclass
class PretrainingSet:
    """The windows pretraining trains on, and what they came from (for the checkpoint's record)."""

    data: TextAlignedSet
    entries: list[Entry]
    skipped: list[tuple[str, str]]
    composed: int
    described: int
    every_caption: dict[str, list[str]]  # recording id -> its take's captions, the content first

    def record(self) -> dict:
        takes = {e.id.split("#")[0] for e in self.entries}
        sentences = {t for p in self.data.caption_pool or [] for t in p} | set(self.data.captions)
        return {"takes": len(takes), "mocap_takes": len([t for t in takes if not t.startswith("composed/")]),
                "composed_takes": len([t for t in takes if t.startswith("composed/")]),
                "composed_per_primitive": self.composed, "recordings": len(self.entries), "windows": len(self.data),
                "described_sentences_per_window": self.described, "distinct_sentences": len(sentences),
                "labels": sorted(set(self.data.captions))}


def pretraining_set(folders: list[Path], seed: int = 0, augment: Augment = Augment(),
                    composed: int = COMPOSED_PER_PRIMITIVE, described: int = DESCRIBED_SENTENCES,
                    split: str | None = "train", window: float = 5.0, hop: float = 1.0,
                    rates: dict[str, float] | None = None, progress: bool = True) -> PretrainingSet:
    """Windows of the mocap takes in `folders` and of `composed` takes per motion primitive
    (encoders.compose), each worn by virtual IMUs (`augment`), each window with its pool of
    sentences: its take's captions and `described` sentences computed from its motion
    (encoders.describe). `split` "train" or "heldout" keeps the takes `heldout_split` puts there
    (None: all). `rates` per modality (default: IMU 50 Hz, pose 25 Hz)."""
    extra: list[Recording] = []
    if composed:
        extra = composed_recordings(composed, seed, folders)
    every_caption: dict[str, list[str]] = {}
    entries, skipped = pretraining_entries(folders, seed, augment, progress, split=split, splitter=heldout_split,
                                           extra=extra, every_caption=every_caption)
    if not entries:
        raise ValueError("no mocap take could be read from " + ", ".join(map(str, folders)))
    data = text_aligned_windows(entries, WindowSpec(window, hop), rates or {"imu": 50.0, "pose": 25.0},
                                progress=progress)
    if described:
        data.caption_pool = described_pools(data, entries, every_caption, window, seed, described)
    return PretrainingSet(data, entries, skipped, composed, described, every_caption)


def content_labelled(entries: list[Entry], every_caption: dict[str, list[str]]) -> list[Entry]:
    """`entries` whose recordings are labelled by their take's first caption only (the content,
    "walk", not a style paraphrase drawn at random), for evaluation: one class per motion."""
    def relabel(e: Entry) -> Recording:
        rec = e.load()
        first = (every_caption.get(e.id) or rec.labels or [""])[0]
        return replace(rec, labels=[first] if first else [], text=[])

    return [Entry(id=e.id, sources=e.sources, load=lambda e=e: relabel(e), subject=e.subject) for e in entries]


def head_spec(queries: int, serves: list[str] | None) -> dict:
    """A text head's spec: `queries` learned queries, serving the towers `serves` names (None, or
    both: every tower, as a head that names none)."""
    if serves is not None:
        if not queries and serves:
            raise ValueError("the towers a text head serves are named (--text-head-for) but the head has no queries "
                             "(--text-head 0): give both, or neither")
        if not serves or set(serves) - {"imu", "pose"}:
            raise ValueError(f"--text-head-for takes one or both of imu, pose; got {list(serves)}")
    head = {"queries": int(queries)}
    if serves is not None and set(serves) != {"imu", "pose"}:
        head["modalities"] = sorted(set(serves))
    return head


def pretrain_config(architecture: str = "cnn_gru", params: dict | None = None, window: float = 5.0, hop: float = 1.0,
                    augment: Augment = Augment(), frame: str = "gravity", placement: bool = True,
                    pose_frame: str = "room", text_head: int = 0, loss_weights: dict | None = None,
                    text_head_for: list[str] | None = None) -> EncoderConfig:
    """The config of a pretrained model: IMU and pose towers in MiniLM's space. `pose_frame`
    "facing" has the pose tower turn each window to face one way, "body" also sets its bones to
    one body's lengths (encoders.conditioning). `text_head` > 0 trains a head of that many
    queries on MiniLM's token vectors with the towers (encoders.nets.TextHead); `text_head_for`
    names the towers it serves (None: all; the others read MiniLM's plain vectors, docs/words.md
    section 21). `loss_weights` overrides the terms' weights (encoders.tasks; 1 each by default)."""
    text = {**MINILM, "head": head_spec(text_head, text_head_for)} if text_head else MINILM
    config = text_aligned_config(architecture, text, params=params, window=window, hop=hop,
                                 channel_dropout=augment.channel_dropout, frame=frame, placement=placement,
                                 loss_weights=loss_weights)
    if pose_frame not in POSE_FRAMES:
        raise ValueError(f"pose_frame must be one of {', '.join(POSE_FRAMES)}, got {pose_frame!r}")
    if pose_frame != "room":
        pose = config.towers["pose"]
        config = config.with_tower("pose", params={**pose.params, "frame": pose_frame})
    return config.replace(name=f"pretrained-{architecture}")


def pretrain_tokens_config(config: EncoderConfig, augment: Augment) -> EncoderConfig:
    """A token config as pretraining trains it: its IMU tower dropping sensor groups as `augment`
    says (so it reads acc-only IMUs), named a pretrained one."""
    config = config.with_tower("imu", channel_dropout=float(augment.channel_dropout))
    return config.replace(name=config.name.replace("mobind-tokens", "pretrained-tokens", 1))


@dataclass
class VirtualImuSource:
    """Training windows from the BVH takes in `folders` worn by virtual IMUs (`augment`): for a
    clip model, `pretraining_set`'s windows (with `composed` takes per motion primitive and
    `described` sentences per window; `split` by `heldout_split`); for a token model, a virtual
    IMU on every body part of the config (`split` by `mocap_split`). `skipped` lists the takes
    that could not be read, once read."""

    folders: list[Path]
    augment: Augment = Augment()
    split: str | None = "train"
    composed: int = COMPOSED_PER_PRIMITIVE
    described: int = DESCRIBED_SENTENCES
    seed: int = 0
    progress: bool = True
    skipped: list[tuple[str, str]] = field(default_factory=list)
    _facts: dict = field(default_factory=dict, repr=False)

    def read(self, config: EncoderConfig, model) -> TextAlignedSet | TokenPairs:
        if config.is_tokens:
            return self._token_pairs(config)
        made = pretraining_set(self.folders, self.seed, self.augment, self.composed, self.described, self.split,
                               config.window.length, config.window.hop, config.rates, self.progress)
        self.skipped, self._facts = made.skipped, {
            "source": "virtual IMUs synthesised from motion capture and composed motion", **self._where(),
            "split_rule": "encoders.pretrain.heldout_split (crc32 of the take id)", **made.record(),
            "augment": asdict(self.augment), "licence": licence(self.folders)}
        return made.data

    def _token_pairs(self, config: EncoderConfig) -> TokenPairs:
        sets = part_placements(list(config.tokens.parts))
        entries, skipped = pretraining_entries(self.folders, self.seed, self.augment, self.progress, sets, self.split,
                                               captioned=False)
        if not entries:
            raise ValueError("no mocap take could be read from " + ", ".join(map(str, self.folders))
                             + (f" (split {self.split!r})" if self.split else ""))
        data = token_pairs(entries, config, progress=self.progress)
        self.skipped = skipped + data.skipped
        self._facts = {
            "source": "virtual IMUs synthesised from motion capture, one per body part", **self._where(),
            "split_rule": "encoders.pretrain.mocap_split (crc32 of the take id)",
            "takes": len({e.id.split("#")[0] for e in entries}), "recordings": len(entries),
            "seconds": round(data.seconds, 1), "placements": {p: list(s) for p, s in zip(config.tokens.parts, sets)},
            "augment": asdict(self.augment), "licence": LICENCE}
        return data

    def _where(self) -> dict:
        return {"folders": [str(f) for f in self.folders], "split": self.split or "all"}

    def record(self, config: EncoderConfig, data) -> dict:
        return self._facts


def pretrain_init_config(config: EncoderConfig, text_head_for: list[str] | None, origin: str) -> EncoderConfig:
    """`pretrain --init CHECKPOINT`: the checkpoint's own config, to be trained further on the
    pretraining set; `text_head_for` (when given) re-decides which towers its text head serves."""
    config = config.for_training()
    if config.is_tokens or not (config.text or {}).get("architecture") == "minilm" or "imu" not in config.towers:
        raise ValueError(f"{origin}: pretraining goes on from a MiniLM-aligned checkpoint with an IMU tower "
                         f"(this one's space is {config.space!r})")
    if text_head_for is None:
        return config
    head = config.text.get("head")
    if not head:
        raise ValueError(f"{origin}: --text-head-for names the towers a text head serves; this checkpoint has none")
    served = {k: v for k, v in head.items() if k != "modalities"} | head_spec(int(head["queries"]), text_head_for)
    text = {**config.text, "head": served}
    return config.replace(text=text, space=space_name(text))


def pretrain(folders: list[Path], out: Path, settings: TrainSettings, augment: Augment = Augment(),
             architecture: str = "cnn_gru", params: dict | None = None, window: float = 5.0, hop: float = 1.0,
             progress: bool = True, composed: int = COMPOSED_PER_PRIMITIVE, described: int = DESCRIBED_SENTENCES,
             frame: str = "gravity", placement: bool = True, split: str | None = "train", text_head: int = 0,
             loss_weights: dict | None = None, pose_frame: str = "room",
             text_head_for: list[str] | None = None) -> tuple[Path, list[tuple[str, str]]]:
    """Train IMU and pose towers into the frozen MiniLM space on `pretraining_set`'s windows;
    `frame` and `placement` configure the IMU tower (encoders.conditioning), `pose_frame` the pose
    tower, `text_head` a head trained on MiniLM's token vectors with them (serving the towers
    `text_head_for` names, all by default), `loss_weights` the
    terms' weights (`pretrain_config`). The defaults are the plainest recipe; the shipped one
    (what `python -m encoders pretrain` trains) is pose_frame="facing", text_head=2. Returns the
    checkpoint folder and the takes skipped. Data, split, seed and settings are recorded in the
    checkpoint's config (`trained_on`)."""
    config = pretrain_config(architecture, params, window, hop, augment, frame, placement, pose_frame=pose_frame,
                             text_head=text_head, loss_weights=loss_weights, text_head_for=text_head_for)
    source = VirtualImuSource(folders, augment, split, composed, described, settings.seed, progress)
    return train(config, source, settings, out, progress=progress)[0], source.skipped


def licence(folders: list[Path]) -> str:
    """The licence the weights inherit from the folders they were trained on."""
    if any("bandai" in str(f).lower() for f in folders):
        return LICENCE
    return "CMU mocap and composed motion only: free for research and products, credit mocap.cs.cmu.edu"


LICENCE = ("CC BY-NC 4.0 when trained on the Bandai Namco Research Motion Dataset (the default); "
           "CMU mocap: free for research and products, credit mocap.cs.cmu.edu")
