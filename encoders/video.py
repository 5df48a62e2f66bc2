"""Video towers (decoding lives in `indexer.video`).

Two towers share one interface, (batch, frames, H, W, C) uint8 + valid frame counts -> unit
vector in the joint space, and are registered by name in encoders.towers:

- "clip_frames" (IMU2CLIP): each sampled frame through the frozen open_clip image tower, the
  frame embeddings mean-pooled over the window. Its weights are open_clip's, never saved in a
  checkpoint; an optional trainable linear map carries them into another joint space.
- "small_cnn": a small trainable per-frame CNN (grey input plus the frame difference, which is
  where the motion is) and temporal attention pooling, for domain video such as depth clips.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from encoders.nets import length_mask
from encoders.text import DEFAULT_OPEN_CLIP, load_open_clip, text_spec
from encoders.towers import register


# ---- towers ------------------------------------------------------------------------------------
def _as_float(frames: torch.Tensor) -> torch.Tensor:
    return frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()


def _pack(frames: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The valid frames of a (B, F, ...) batch, flattened, and the (B, F) mask they came from:
    towers spend no compute on the zero padding of short clips."""
    mask = length_mask(valid.clamp(1, frames.shape[1]), frames.shape[1])
    return frames[mask], mask


def _unpack(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = values.new_zeros(mask.shape + values.shape[1:])
    out[mask] = values
    return out


def foreground_crop(x: torch.Tensor, valid: torch.Tensor, size: int, threshold: float = 0.02,
                    margin: float = 0.1) -> torch.Tensor:
    """(B, F, C, H, W) -> (B, F, C, size, size): each window cut to the square around what is
    not background over all its frames, then resized. Depth and IR clips with the background
    removed show a small person in a large frame; the crop spends the pixels on the person, and
    one box per window keeps the motion inside it visible."""
    out = []
    for b in range(x.shape[0]):
        clip = x[b, : max(1, int(valid[b]))]
        fg = clip.amax(dim=(0, 1)) > threshold  # (H, W)
        H, W = fg.shape
        rows, cols = torch.nonzero(fg.any(1)).flatten(), torch.nonzero(fg.any(0)).flatten()
        if len(rows) == 0:
            y0, y1, x0, x1 = 0, H, 0, W
        else:
            y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        side = int(max(y1 - y0, x1 - x0) * (1 + 2 * margin)) + 1
        cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
        pad = side  # pad so that a box near the edge stays square
        padded = F.pad(x[b], (pad, pad, pad, pad))
        top, left = cy - side // 2 + pad, cx - side // 2 + pad
        box = padded[:, :, top : top + side, left : left + side]
        out.append(F.interpolate(box, size=(size, size), mode="bilinear", antialias=True, align_corners=False))
    return torch.stack(out)


@register("small_cnn")
class SmallVideoCnn(nn.Module):
    """A per-frame CNN over grey frames and their temporal differences, a temporal convolution,
    and attention pooling over the valid frames (a learned query), for domain video like depth
    clips, trained against IMU."""

    def __init__(self, in_features: int, embed_dim: int, width: int = 16, dim: int = 128,
                 motion: bool = True, max_frames: int = 256, dropout: float = 0.1,
                 crop: int | None = 64):
        super().__init__()
        self.in_channels = in_features
        self.motion = motion
        self.crop = crop
        chans = [in_features * (2 if motion else 1), width, width * 2, width * 4, width * 4]
        layers = []
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.GroupNorm(4 if b % 4 == 0 else 1, b), nn.ReLU()]
        self.cnn = nn.Sequential(*layers)
        self.frame_proj = nn.Linear(chans[-1], dim)
        self.pos = nn.Parameter(torch.randn(1, max_frames, dim) * 0.02)
        self.temporal = nn.Conv1d(dim, dim, 3, padding=1)
        self.query = nn.Linear(dim, 1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(dim, embed_dim)

    @torch.no_grad()
    def prepare(self, frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The fixed (unlearned) part: (B, F, H, W, C) frames -> (B, F, C, crop, crop) floats.
        Training runs it once per clip instead of once per epoch."""
        x = _as_float(frames)
        if self.in_channels == 1 and x.shape[-1] != 1:
            x = x.mean(-1, keepdim=True)
        x = x.permute(0, 1, 4, 2, 3)  # (B, F, C, H, W)
        return foreground_crop(x, valid, self.crop) if self.crop else x

    def forward(self, frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.forward_prepared(self.prepare(frames, valid), valid)

    def forward_prepared(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = _as_float(x)  # training keeps prepared clips as uint8
        if self.motion:
            diff = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], 1)
            x = torch.cat([x, diff], 2)
        flat, mask = _pack(x, valid)
        if torch.is_grad_enabled():
            h = self.cnn(flat).mean(dim=(2, 3))
        else:  # indexing long videos: bound the activation memory
            h = torch.cat([self.cnn(flat[i : i + 512]).mean(dim=(2, 3)) for i in range(0, len(flat), 512)])
        h = _unpack(F.relu(self.frame_proj(h)), mask)  # (B, F, dim)
        h = h + self.pos[:, : h.shape[1]]
        h = h + F.relu(self.temporal(h.transpose(1, 2))).transpose(1, 2)
        scores = self.query(h).squeeze(-1).masked_fill(~mask, float("-inf"))
        pooled = (torch.softmax(scores, dim=1).unsqueeze(-1) * h).sum(1)
        return F.normalize(self.head(self.drop(pooled)), dim=-1)


@register("clip_frames")
class ClipFrames(nn.Module):
    """IMU2CLIP's video side: frames through the frozen open_clip image tower, mean-pooled.

    `clip` is an open_clip spec (see encoders.text). With `project` False the output is the
    CLIP image space itself (the joint space must be that model's, e.g. text:open_clip); with
    `project` True a trainable linear map (initialised to the identity where the widths agree)
    carries it into another joint space.
    """

    def __init__(self, in_features: int, embed_dim: int, clip: dict, project: bool = True,
                 chunk: int = 64):
        super().__init__()
        model, _ = load_open_clip(clip)
        # A plain attribute, not a submodule: the frozen weights stay out of the checkpoint.
        self.__dict__["clip_model"] = model
        self.chunk = chunk
        visual = model.visual
        self.image_size = tuple(getattr(visual, "image_size", (224, 224)))
        cfg = getattr(visual, "preprocess_cfg", {}) or {}
        mean = cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))  # CLIP's defaults
        std = cfg.get("std", (0.26862954, 0.26130258, 0.27577711))
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        clip_dim = int(model.visual.output_dim)
        self.proj = None
        if project:
            self.proj = nn.Linear(clip_dim, embed_dim, bias=False)
            if clip_dim == embed_dim:
                nn.init.eye_(self.proj.weight)
        elif clip_dim != embed_dim:
            raise ValueError(f"clip_frames without a projection gives {clip_dim}-d vectors but the joint "
                             f"space is {embed_dim}-d; set params.project = true")

    @torch.no_grad()
    def frame_embeddings(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, H, W, C) frames -> (N, clip_dim) unit vectors from the frozen image tower."""
        out = []
        for i in range(0, len(flat), self.chunk):
            x = _as_float(flat[i : i + self.chunk]).permute(0, 3, 1, 2)
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if tuple(x.shape[-2:]) != self.image_size:
                x = F.interpolate(x, size=self.image_size, mode="bilinear", antialias=True, align_corners=False)
            out.append(self.clip_model.encode_image((x - self.mean) / self.std, normalize=True))
        return torch.cat(out)

    @torch.no_grad()
    def prepare(self, frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The frozen part: frames -> (B, clip_dim) mean of the frame embeddings."""
        flat, mask = _pack(frames, valid)
        per_frame = _unpack(self.frame_embeddings(flat), mask)
        w = mask.to(per_frame.dtype).unsqueeze(-1)
        return (per_frame * w).sum(1) / w.sum(1).clamp_min(1.0)

    def forward(self, frames: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        return self.forward_prepared(self.prepare(frames, valid), valid)

    def forward_prepared(self, pooled: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            pooled = self.proj(pooled)
        return F.normalize(pooled, dim=-1)


def video_tower_spec(kind: str, rate: float | None = None, size: int | None = None,
                     clip: dict | None = None, project: bool = True, params: dict | None = None) -> dict:
    """The video tower entry of a checkpoint config (`towers.video`)."""
    if kind == "small_cnn":
        # Sized for CPU training: 6 frames/s, and the person cropped to 48 px from a 96 px frame.
        return {"architecture": "small_cnn", "rate": rate or 6.0, "size": size or 96, "in_features": 1,
                "params": {"width": 12, "crop": 48, **(params or {})}}
    if kind == "clip_frames":
        if clip is None:
            raise ValueError("clip_frames needs an open_clip spec (the image tower to use)")
        image = getattr(load_open_clip(clip)[0].visual, "image_size", (224, 224))
        image = image[0] if isinstance(image, (tuple, list)) else image
        return {"architecture": "clip_frames", "rate": rate or 2.0, "size": size or int(image), "in_features": 3,
                "params": {"clip": clip, "project": project, **(params or {})}}
    raise ValueError(f"unknown video encoder {kind!r}; known: small_cnn, clip_frames")


def video_tower_for(kind: str | None, text: dict, rate: float | None = None, clip_weights: str | None = None,
                    clip_model: str = "ViT-B-32") -> dict | None:
    """The video tower entry a text-aligned config gets for the `--video-encoder` choice `kind`
    (None or "none": no video tower) next to the text tower `text`."""
    if kind in (None, "none"):
        return None
    if kind == "small_cnn":
        return video_tower_spec("small_cnn", rate=rate)
    # clip_frames: the image tower of the text tower's own open_clip model, used as it is (the
    # spaces already agree); with another text tower, a trainable linear map carries it over.
    if text["architecture"] == "open_clip":
        return video_tower_spec("clip_frames", rate=rate, clip=text, project=False)
    clip = text_spec("open_clip", clip_weights, clip_model) if clip_weights else dict(DEFAULT_OPEN_CLIP)
    return video_tower_spec("clip_frames", rate=rate, clip=clip, project=True)
