"""The clip-style model (IMU2CLIP, AURA-MFM): one tower per modality into one joint space, a
learnable temperature, and `Encoder`, a loaded checkpoint of it that embeds windows. The configs
it is built from: `default_config` (IMU <-> pose) and `text_aligned_config` (IMU, pose and video
into a frozen text tower's space).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

# JointModel builds its towers by name from encoders.towers; importing these modules registers them.
import encoders.nets
import encoders.video  # noqa: F401
from encoders.channels import DEFAULT_GROUPS, group_channels, tower_groups
from encoders.checkpoint import CheckpointView
from encoders.conditioning import placement_ids
from encoders.config import EncoderConfig, TowerConfig, fusion_spec
from encoders.cutting import WindowCutter
from encoders.features import featurize, pose_feature_count
from encoders.fusion import FUSED_PART, build_fusion
from encoders.losses import LOGIT_SCALE_INIT
from encoders.nets import TextHead, head_vectors
from encoders.text import frozen_spec, load_text_tower, minilm_with_head, space_name, spec_for_modality
from encoders.towers import build_tower
from indexer.bodyparts import CANONICAL_JOINTS
from indexer.embedder import EmbeddedWindow
from indexer.model import Modality, Recording
from indexer.windows import Window, WindowSpec

# Text-aligned training: loss = sum of these weights times their terms (see encoders.tasks).
DEFAULT_LOSS_WEIGHTS = {"imu-text": 1.0, "pose-text": 1.0, "imu-pose": 1.0, "imu-video": 1.0, "video-text": 0.0}


def default_config(architecture: str = "cnn_gru", embed_dim: int = 256, window: float = 5.0,
                   hop: float = 1.0, imu_rate: float = 50.0, pose_rate: float = 25.0,
                   params: dict | None = None, imu_groups=DEFAULT_GROUPS, channel_dropout: float = 0.0,
                   fusion: str | None = None, frame: str = "sensor", placement: bool = False) -> EncoderConfig:
    """An IMU + pose config; `params` go to both towers' constructors. `frame` "gravity" or "heading" has the
    IMU tower read mounting-free features instead of the sensor axes, and `placement` has it read
    where the sensor sits (encoders.conditioning). The IMU tower reads the
    channels of `imu_groups` ("acc", "gyr", "mag", "quat"); with `channel_dropout` > 0 it is
    trained with whole groups zeroed at random and then reads streams lacking some of them
    (encoders.channels). `fusion` ("attention") adds a sensor-fusion module (encoders.fusion):
    one vector per recording window over all its sensors, besides one per sensor."""
    params = dict(params or {})
    channels = group_channels(imu_groups)
    imu_extra = {"frame": frame, "rate": imu_rate} if frame != "sensor" else {}
    if placement:
        imu_extra["placement"] = True
    imu = TowerConfig(architecture, imu_rate, len(channels), {**tower_groups(channels), **params, **imu_extra},
                      channels=tuple(channels), channel_dropout=float(channel_dropout))
    pose = TowerConfig(architecture, pose_rate, pose_feature_count(3), {"groups": 1, **params},
                       joints=tuple(CANONICAL_JOINTS), dims=3)
    return EncoderConfig(name=f"imu-pose-{architecture}", embed_dim=embed_dim, window=WindowSpec(window, hop),
                         towers={"imu": imu, "pose": pose}, logit_scale_init=LOGIT_SCALE_INIT,
                         fusion=fusion_spec(fusion) if fusion else None)


def text_aligned_config(architecture: str, text: dict, video: dict | None = None, params: dict | None = None,
                        window: float = 5.0, hop: float = 1.0, loss_weights: dict | None = None,
                        imu_groups=DEFAULT_GROUPS, channel_dropout: float = 0.0, fusion: str | None = None,
                        frame: str = "sensor", placement: bool = False) -> EncoderConfig:
    """An IMU + pose (+ video) config whose joint space is the text tower's (its width too)."""
    tower = load_text_tower(frozen_spec(text))  # a head keeps the width
    config = default_config(architecture, embed_dim=tower.dim, window=window, hop=hop, params=params,
                            imu_groups=imu_groups, channel_dropout=channel_dropout, fusion=fusion,
                            frame=frame, placement=placement)
    towers = dict(config.towers, video=TowerConfig.from_dict(video, "video")) if video else config.towers
    return config.replace(
        name=f"text-{text['architecture']}-{architecture}" + (f"-{video['architecture']}" if video else ""),
        space=space_name(text), text=dict(text), towers=towers,
        loss_weights={**DEFAULT_LOSS_WEIGHTS, **checked_loss_weights(loss_weights)})


def checked_loss_weights(given: dict | None) -> dict[str, float]:
    """`given` loss weights as floats; ValueError naming an unknown term or a weight that is not a
    finite number >= 0 (a typo would otherwise train with the default and say nothing)."""
    out = {}
    for term, weight in (given or {}).items():
        if term not in DEFAULT_LOSS_WEIGHTS:
            raise ValueError(f"unknown loss term {term!r}; the terms are {', '.join(DEFAULT_LOSS_WEIGHTS)}")
        try:
            value = float(weight)
        except (TypeError, ValueError):
            value = float("nan")
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"the weight of {term} must be a finite number >= 0, got {weight!r}")
        out[term] = value
    return out


class JointModel(nn.Module):
    """One tower per modality, all mapping into one joint space, and the learnable temperature;
    with a `fusion` section in the config, also the sensor fusion over the IMU tower's vectors
    (`fusion`, None without)."""

    def __init__(self, config: EncoderConfig | dict):
        super().__init__()
        self.config = config = EncoderConfig.of(config)
        self.towers = nn.ModuleDict({m: build_tower(spec, config.embed_dim) for m, spec in config.towers.items()})
        scale = LOGIT_SCALE_INIT if config.logit_scale_init is None else config.logit_scale_init
        self.logit_scale = nn.Parameter(torch.tensor(float(scale)))
        self.fusion = build_fusion(config.fusion, config.embed_dim) if config.fusion else None
        head = (config.text or {}).get("head")
        self.text_head = TextHead(config.embed_dim, int(head["queries"])) if head else None

    def forward(self, modality: Modality, x: torch.Tensor, valid: torch.Tensor,
                place: torch.Tensor | None = None) -> torch.Tensor:
        """Unit vectors of a batch of one modality; `place` (B,) are the IMU windows' placement
        ids (`placement_ids`), read by an IMU tower trained with placements, ignored otherwise."""
        if place is not None and modality == "imu" and self.reads_placement:
            return self.towers[modality](x, valid, place)
        return self.towers[modality](x, valid)

    @property
    def reads_placement(self) -> bool:
        return "imu" in self.towers and getattr(self.towers["imu"], "placement", None) is not None

    def placement_ids(self, names: list[str] | None, count: int) -> torch.Tensor | None:
        """The ids `forward` takes for sensor placements `names` (None where the IMU tower reads none)."""
        return placement_ids(names, count) if self.reads_placement else None

    def add_fusion(self, architecture: str = "attention") -> None:
        """Give a model trained without fusion a fresh fusion module (to fine-tune it with one)."""
        self.config = self.config.replace(fusion=fusion_spec(architecture))
        self.fusion = build_fusion(self.config.fusion, self.config.embed_dim)


@dataclass
class Encoder(CheckpointView):
    """A loaded checkpoint, ready to embed windows."""

    model: JointModel
    config: EncoderConfig
    checksum: str  # sha256 of the weights file
    source: str = ""  # the checkpoint folder it was loaded from

    @torch.no_grad()
    def encode_arrays(self, modality: Modality, arrays: list[np.ndarray], valid: list[int],
                      batch: int = 128, placements: list[str] | None = None) -> np.ndarray:
        """Unit-norm vectors (N, d) for raw windows of one modality; `placements` name each IMU
        window's body part for a tower that reads it (unknown or None: placement-blind)."""
        self.model.eval()
        feats = np.stack([featurize(modality, a, v) for a, v in zip(arrays, valid)])
        place = self.model.placement_ids(placements, len(feats)) if modality == "imu" else None
        out = []
        for i in range(0, len(feats), batch):
            x = torch.from_numpy(feats[i : i + batch])
            n = torch.tensor(valid[i : i + batch], dtype=torch.long)
            out.append(self.model(modality, x, n, None if place is None else place[i : i + batch]).numpy())
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, self.config.embed_dim), np.float32)

    def cut_windows(self, rec: Recording) -> list[Window]:
        """The build's Embedder protocol, step 1: every window of `rec` in every modality the
        encoder covers (IMU channels put in the order the tower reads)."""
        return self.window_cutter()(rec)

    def window_cutter(self) -> WindowCutter:
        """`cut_windows` without the model, for the build's worker processes."""
        return WindowCutter(self.config)

    def embed_windows(self, per_recording: list[list[Window]]) -> list[list[EmbeddedWindow]]:
        """Step 2: the windows of many recordings embedded in large batches, one modality at a
        time, handed back per recording. With a fusion module, each recording also gets one
        fused IMU window (body part "all") per window start over every sensor present there,
        single-sensor recordings included, so searching the "all" windows covers the archive."""
        out: list[list[EmbeddedWindow]] = [[] for _ in per_recording]
        for modality in self.modalities:
            mine = [(i, w) for i, ws in enumerate(per_recording) for w in ws if w.modality == modality]
            if mine:
                vectors = self.encode([w for _, w in mine])
                for (i, w), v in zip(mine, vectors):
                    out[i].append(EmbeddedWindow(modality, w.body_part, w.t_start, w.t_end, v))
        if self.has_fusion:
            for windows in out:
                windows.extend(self.fused_windows(windows))
        return out

    # ---- sensor fusion (encoders.fusion; checkpoints trained with `--fusion attention`) ----------
    @property
    def has_fusion(self) -> bool:
        return self.model.fusion is not None

    @torch.no_grad()
    def fuse(self, sets: list[tuple[np.ndarray, list[str]]]) -> np.ndarray:
        """Unit fused vectors (M, d) of sensor sets [(per-sensor unit vectors (S, d), placements)]."""
        if not self.has_fusion:
            raise ValueError(f"encoder {self.id} has no fusion module (train one with `--fusion attention`)")
        if not sets:
            return np.zeros((0, self.config.embed_dim), np.float32)
        self.model.eval()
        tensors = [(torch.from_numpy(np.asarray(v, np.float32)), list(p)) for v, p in sets]
        return self.model.fusion.fuse_sets(tensors).numpy().astype(np.float32)

    def fused_windows(self, windows: list[EmbeddedWindow]) -> list[EmbeddedWindow]:
        """One fused IMU window per start of the per-sensor IMU `windows` of a recording."""
        at: dict[float, list[EmbeddedWindow]] = {}
        for w in windows:
            if w.modality == "imu" and w.body_part != FUSED_PART:
                at.setdefault(round(float(w.t_start), 6), []).append(w)
        if not at:
            return []
        groups = list(at.values())
        fused = self.fuse([(np.stack([w.vector for w in g]), [w.body_part for w in g]) for g in groups])
        return [EmbeddedWindow("imu", FUSED_PART, g[0].t_start, max(w.t_end for w in g), v)
                for g, v in zip(groups, fused)]

    def encode(self, windows: list[Window]) -> np.ndarray:
        """Vectors for windows that all share one modality."""
        if not windows:
            return np.zeros((0, self.config.embed_dim), np.float32)
        modality = windows[0].modality
        return self.encode_arrays(modality, [w.data for w in windows], [w.valid for w in windows],
                                  placements=[w.body_part for w in windows] if modality == "imu" else None)

    # ---- text-aligned checkpoints (config.text names the frozen text tower; see encoders.text)
    @property
    def video_size(self) -> int | None:
        """Side in pixels of the frames the video tower reads, or None without a video tower."""
        video = self.config.video
        return int(video.size) if video else None

    @property
    def text_aligned(self) -> bool:
        return bool(self.config.text)

    def text_tower(self, modality: str | None = None):
        """The text tower `modality`'s windows were trained against (`spec_for_modality`: a head
        may serve some modalities only; None where every modality reads text one way)."""
        if not self.text_aligned:
            raise ValueError(f"encoder {self.id} is not text-aligned (its space is {self.config.space!r}); "
                             "train one with `python -m encoders train --text-tower minilm`")
        spec = spec_for_modality(self.config.text, modality)
        if self.model.text_head is None or not spec.get("head"):
            return load_text_tower(spec)
        if getattr(self, "_head_tower", None) is None:  # the model's own head, trained or loaded
            self._head_tower = minilm_with_head(spec, lambda states: head_vectors(self.model.text_head, states))
        return self._head_tower

    def encode_text(self, texts: list[str], templates: bool = True, modality: str | None = None) -> np.ndarray:
        """Unit vectors (N, d) for text in this encoder's joint space, as `modality`'s windows
        read it (needed where the text head serves some modalities only). With `templates` each
        text is embedded through the prompt templates the towers were trained against, averaged."""
        tower = self.text_tower(modality)
        return tower.encode_prompts(list(texts)) if templates else tower.encode(list(texts))
