"""What an IMU tower is told besides the signal: where the sensor sits, and a view of the
signal that does not depend on how the sensor is mounted.

- **Placement.** Nearly every archive says where a sensor is worn (a manifest's `placement`,
  an importer's fixed placement). UniMTS puts each real sensor on its skeleton joint; here the
  placement picks a learned embedding that modulates the tower (FiLM on its first features and
  an offset on its pooled vector). Training hides the placement of a share of windows
  (`PLACEMENT_DROPOUT`), so a window of unknown placement (id 0) still embeds sensibly.
- **Gravity frame.** A sensor strapped on at any angle reads the same motion in different
  axes. `gravity_frame` turns (acc, gyr) in the sensor's axes into features measured against
  the gravity direction estimated from the window itself (the mean specific force): vertical
  and horizontal specific force, its magnitude, angular rate about and across the vertical, and
  the tilt of the short-term gravity estimate away from the window's mean (an arm raised,
  a body lying down). They are the same whatever the mounting; what is lost is the heading of
  horizontal motion in the sensor frame, which a freely mounted sensor does not give anyway.
- **Heading frame.** `heading_frame` keeps the gravity frame's features and adds the signed
  components of the motion in a horizontal frame the window itself defines: its first axis is
  the main horizontal direction of the dynamic acceleration (the principal axis, its sign fixed
  by the skew of the motion along it), the second is horizontal and square to it. The shape of
  a movement survives (an X, a triangle and a circle drawn in the air differ; the two axes of a
  rotation stay apart) while any mounting and any facing direction give the same features.
- **Facing frame** (the pose tower's). A skeleton comes in its capture room's axes, so the same
  wave faces another way in every archive (a Kinect's subject faces the camera; a mocap take
  faces wherever the room's axes point). `facing_frame` turns each pose window about the
  vertical so that the body faces one way: its mean shoulder and hip lines, across the window,
  point along -x (the body's left along +x, as encoders.compose's heading 0). Joints and the
  pelvis path turn together, so walking forward is +z in any room.
- **Body frame** (also the pose tower's): the facing frame with every bone set to one length
  (`BONES`), keeping its direction, so that skeletons whose joints sit differently on the body
  (a Kinect's spine joint just above the hips and shoulders at the shoulder tips; a mocap
  chest joint mid-thorax and shoulders at the collar bones) and bodies of any size show the
  same motion as the same joint paths.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from encoders.features import pose_feature_count
from indexer.bodyparts import BODY_PARTS, CANONICAL_JOINTS

UNKNOWN = "unknown"
PLACEMENT_VOCAB = [UNKNOWN, *BODY_PARTS]  # id 0: no placement known (a fused window, a user's unnamed sensor)
PLACEMENT_DROPOUT = 0.2  # share of training windows whose placement is hidden

GRAVITY = 9.80665
GYRO_SCALE = 3.0  # rad/s: the angular rates of brisk arm motion, so the features are of order 1
TILT_SECONDS = 0.5  # the short-term gravity estimate: a moving mean this long
FRAME_FEATURES = 7
HEADING_FEATURES = FRAME_FEATURES + 6
FRAMES = {"sensor": None, "gravity": FRAME_FEATURES, "heading": HEADING_FEATURES}  # frame -> features it gives
POSE_FRAMES = ("room", "facing", "body")  # what a pose tower reads (module doc)
# canonical joint -> (its parent, bone length in metres): the body frame's one body (about the
# medians of the pretraining skeletons, a head joint at the head's centre)
BONES = {
    "chest": ("pelvis", 0.28), "neck": ("chest", 0.19), "head": ("neck", 0.15),
    "left_shoulder": ("neck", 0.16), "right_shoulder": ("neck", 0.16),
    "left_elbow": ("left_shoulder", 0.27), "right_elbow": ("right_shoulder", 0.27),
    "left_wrist": ("left_elbow", 0.24), "right_wrist": ("right_elbow", 0.24),
    "left_hip": ("pelvis", 0.09), "right_hip": ("pelvis", 0.09),
    "left_knee": ("left_hip", 0.41), "right_knee": ("right_hip", 0.41),
    "left_ankle": ("left_knee", 0.42), "right_ankle": ("right_knee", 0.42),
}
WEAK_GRAVITY = 0.35  # a window's mean specific force below this share of g: gravity was removed


def placement_ids(names: list[str] | None, count: int, vocab: list[str] = PLACEMENT_VOCAB) -> torch.Tensor:
    """LongTensor (count,) of vocabulary ids; names outside the vocabulary (and None) are 0."""
    if names is None:
        return torch.zeros(count, dtype=torch.long)
    index = {p: i for i, p in enumerate(vocab)}
    return torch.tensor([index.get(n or UNKNOWN, 0) for n in names], dtype=torch.long)


def hide_placements(ids: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """`ids` with a random share `p` set to unknown (training only)."""
    if p <= 0:
        return ids
    return ids.masked_fill(torch.rand(ids.shape, generator=gen) < p, 0)


class _Gravity(NamedTuple):
    """What both frames measure against: the window's mask, its acc and gyr (zero on padding),
    mean specific force and its size, whether it holds gravity, the up direction, and the
    short-term gravity direction at each step."""
    mask: torch.Tensor  # (B, T, 1)
    acc: torch.Tensor  # (B, T, 3)
    gyr: torch.Tensor  # (B, T, 3)
    mean: torch.Tensor  # (B, 1, 3)
    g: torch.Tensor  # (B, 1, 1) the window's gravity, as the sensor felt it
    level: torch.Tensor  # (B, 1, 1) 1 where the window holds gravity, 0 for linear acceleration
    up: torch.Tensor  # (B, 1, 3), zero without gravity
    short: torch.Tensor  # (B, T, 3) unit direction of the short-term gravity estimate


def _step_mask(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, 1) of x's dtype: 1 at the steps of (B, T, ...) `x` that hold data, 0 where padded."""
    return (torch.arange(x.shape[1], device=x.device)[None, :] < valid[:, None]).to(x.dtype)[..., None]


def _gravity(x: torch.Tensor, valid: torch.Tensor, rate: float) -> _Gravity:
    steps = x.shape[1]
    mask = _step_mask(x, valid)
    acc, gyr = x[..., :3] * mask, x[..., 3:6] * mask
    mean = acc.sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1.0)
    g = mean.norm(dim=-1, keepdim=True)
    # Linear acceleration (gravity removed by the device, as phones offer): no up to measure
    # against, so only magnitudes are left; such windows get zeros where the vertical is needed.
    level = (g > WEAK_GRAVITY * GRAVITY).to(x.dtype)
    up = F.normalize(mean, dim=-1, eps=1e-6) * level
    k = max(1, int(round(TILT_SECONDS * rate)))
    short = F.avg_pool1d(acc.transpose(1, 2), k, stride=1, padding=k // 2, count_include_pad=False)
    short = F.normalize(short.transpose(1, 2)[:, :steps], dim=-1, eps=1e-6)
    return _Gravity(mask, acc, gyr, mean, g, level, up, short)


def _gravity_features(w: _Gravity) -> torch.Tensor:
    up, acc, gyr = w.up, w.acc, w.gyr
    a_v = (acc * up).sum(-1, keepdim=True)
    a_h = (acc - a_v * up).norm(dim=-1, keepdim=True)
    a_n = acc.norm(dim=-1, keepdim=True)
    w_v = (gyr * up).sum(-1, keepdim=True)
    w_h = (gyr - w_v * up).norm(dim=-1, keepdim=True)
    tilt = (1.0 - (w.short * up).sum(-1, keepdim=True)) * w.level  # 0 level with the window's mean, 2 upside down
    gl = w.g * w.level
    out = torch.cat([(a_v - gl) / GRAVITY, a_h / GRAVITY, (a_n - gl) / GRAVITY, w_v / GYRO_SCALE, w_h / GYRO_SCALE,
                     tilt, gyr.norm(dim=-1, keepdim=True) / GYRO_SCALE], dim=-1)
    return out * w.mask


def gravity_frame(x: torch.Tensor, valid: torch.Tensor, rate: float) -> torch.Tensor:
    """(B, T, 6) acc (m/s^2) + gyr (rad/s) in sensor axes -> (B, T, 7) mounting-free features
    (module doc): vertical and horizontal force and |force| beyond the window's gravity, rate about
    and across the vertical, tilt, |rate|; scaled to order 1, zero on padded steps. A window whose
    gyroscope is absent (zeroed) gives zero rate features; one without accelerometer gives zero
    force features."""
    return _gravity_features(_gravity(x, valid, rate))


class PlacementFilm(nn.Module):
    """Per placement, a scale and shift of a (B, C, T) feature map and an offset of a (B, D)
    pooled vector; zero-initialised, so a fresh model starts placement-blind."""

    def __init__(self, channels: int, pooled: int, vocab: int = len(PLACEMENT_VOCAB)):
        super().__init__()
        self.film = nn.Embedding(vocab, 2 * channels)
        self.offset = nn.Embedding(vocab, pooled)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.offset.weight)

    def modulate(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.film(ids).chunk(2, dim=-1)
        return h * (1 + gamma[..., None]) + beta[..., None]

    def shift(self, pooled: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return pooled + self.offset(ids)


def _main_horizontal_axis(dyn: torch.Tensor, up: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, 3) unit principal axis of the horizontal part of `dyn` (B, T, 3), its sign chosen
    so the motion along it is positively skewed (the same axis at any mounting)."""
    horizontal = (dyn - (dyn * up).sum(-1, keepdim=True) * up) * mask
    cov = horizontal.transpose(1, 2) @ horizontal  # (B, 3, 3)
    axis = torch.linalg.eigh(cov.double())[1][..., -1].to(dyn.dtype)[:, None, :]  # the largest eigenvalue's
    skew = ((horizontal * axis).sum(-1) ** 3).sum(-1)
    return axis * torch.where(skew < 0, -1.0, 1.0).to(dyn.dtype)[:, None, None]


def heading_frame(x: torch.Tensor, valid: torch.Tensor, rate: float) -> torch.Tensor:
    """(B, T, 6) acc + gyr -> (B, T, 13): the gravity frame's 7 features, then the dynamic force,
    the angular rate and the short-term gravity direction along the window's main horizontal
    axis and the horizontal axis square to it (module doc). Windows without gravity (linear
    acceleration) give zeros for the six: they have no vertical to build the frame on."""
    w = _gravity(x, valid, rate)
    dyn = (w.acc - w.mean) * w.mask
    first = _main_horizontal_axis(dyn, w.up, w.mask) * w.level
    second = torch.cross(w.up.expand_as(first), first, dim=-1)
    along = [(v * axis).sum(-1, keepdim=True) / scale
             for v, scale in ((dyn, GRAVITY), (w.gyr, GYRO_SCALE), (w.short, 1.0)) for axis in (first, second)]
    return torch.cat([_gravity_features(w), *along], dim=-1) * w.mask


def facing_frame(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, 3 * J + 3) pose features (encoders.features.pose_features: the canonical joints
    relative to the pelvis, then the pelvis path; y up) turned about the vertical so that the
    window's mean right-minus-left line (shoulders plus hips, over its valid frames) points along
    -x (module doc). A window whose line has no horizontal extent is left as it is."""
    b, t, f = x.shape
    if f != pose_feature_count(3):
        raise ValueError(f"the facing frame reads 3-D canonical joints ({pose_feature_count(3)} features), got {f}")
    p = x.reshape(b, t, -1, 3)
    j = CANONICAL_JOINTS.index
    across = (p[:, :, j("right_shoulder")] - p[:, :, j("left_shoulder")]
              + p[:, :, j("right_hip")] - p[:, :, j("left_hip")])  # (B, T, 3)
    mask = _step_mask(x, valid)
    across = (across * mask).sum(1) / mask.sum(1).clamp_min(1.0)  # (B, 3)
    flat = torch.stack([across[:, 0], across[:, 2]], dim=-1)
    norm = flat.norm(dim=-1, keepdim=True)
    flat = torch.where(norm > 1e-6, flat / norm.clamp_min(1e-6), torch.tensor([-1.0, 0.0], dtype=x.dtype))
    c, s = flat[:, 0, None, None], flat[:, 1, None, None]  # the line's direction: turn it onto -x
    turned = torch.stack([-(c * p[..., 0] + s * p[..., 2]), p[..., 1], s * p[..., 0] - c * p[..., 2]], dim=-1)
    return turned.reshape(b, t, f)


def uniform_bones(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, 3 * J + 3) pose features with every bone of `BONES` set to its length along its own
    direction, from the pelvis out (module doc); the pelvis path is kept. Padded steps stay zero."""
    b, t, f = x.shape
    p = x[..., : f - 3].reshape(b, t, -1, 3)
    out = [None] * p.shape[2]
    j = CANONICAL_JOINTS.index
    out[j("pelvis")] = p[:, :, j("pelvis")]
    for joint, (parent, length) in BONES.items():  # parents come first
        bone = p[:, :, j(joint)] - p[:, :, j(parent)]
        out[j(joint)] = out[j(parent)] + length * F.normalize(bone, dim=-1, eps=1e-6)
    mask = _step_mask(x, valid)
    return torch.cat([torch.stack(out, dim=2).reshape(b, t, f - 3), x[..., f - 3 :]], dim=-1) * mask
