"""What the training loop (encoders.train.fit) trains: one task per objective. A task owns its
model and data and tells the loop its batches, each batch's loss terms and its learning-rate
schedule; the loop owns the optimiser, the schedule and the bookkeeping.

- PairedTask: IMU <-> pose windows, symmetric InfoNCE (IMU2CLIP / AURA-MFM without text).
- TextAlignedTask: IMU, pose (and video) into a frozen text tower's space:
      loss = w_it * L(IMU, text(caption)) + w_pt * L(pose, text(caption))
           + w_ip * InfoNCE(IMU, pose) + w_iv * InfoNCE(IMU, video) [+ w_vt * L(video, text(caption))]
  L is `caption_info_nce`: many windows share a caption, so the text side is the batch's
  distinct captions, not rows of the batch. A caption is embedded through the prompt templates
  of encoders.text, averaged. The weights live in the config's `loss_weights`.
- Sensor fusion (a config with a `fusion` section, encoders.fusion), in both tasks: for every
  recording window (recording, start) of the batch's IMU rows, a random non-empty subset of all
  the sensors worn then is fused, and the fused vector takes the IMU window's terms against
  the caption, the pose and the video of that moment (fused-text, fused-pose, fused-video),
  weighted by the IMU term's weight times `fusion.weight`. Sensors of the subset that are not
  in the batch are embedded with it, so the fusion sees real sensor sets, not what a random
  batch happens to hold.
- TokenTask: MoBind's token towers on random paired part windows, counted in steps, not epochs;
  sensor groups a window lacks are zeroed and, with the config's channel dropout, present ones too.

Settings are encoders.train's TrainSettings (epoch tasks) and TokenTrainSettings (TokenTask).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from encoders.conditioning import PLACEMENT_DROPOUT, hide_placements
from encoders.config import EncoderConfig
from encoders.data import PairedSet
from encoders.fusion import random_subset
from encoders.losses import caption_info_nce, info_nce, mobind_loss
from encoders.model import DEFAULT_LOSS_WEIGHTS
from encoders.nets import padded_states
from encoders.text import MiniLM, head_modalities, load_text_tower, minilm_path, prompt_texts
from encoders.token_data import TokenPairs
from indexer.model import MODALITIES

MIN_CROP = 0.3  # the shortest crop of a window in training (1.5 s of a 5 s window)


def augment_imu(x: torch.Tensor, s, gen: torch.Generator) -> torch.Tensor:
    """Per-window amplitude jitter and sensor noise (`s` has scale_jitter and imu_noise)."""
    scale = 1 + s.scale_jitter * (2 * torch.rand(x.shape[0], 1, x.shape[2], generator=gen) - 1)
    noise = s.imu_noise * x.std(dim=(0, 1), keepdim=True) * torch.randn(x.shape, generator=gen)
    return x * scale + noise


def vigour(x: torch.Tensor, valid: torch.Tensor, acc: list[int], gyr: list[int], gain: float,
           gen: torch.Generator) -> torch.Tensor:
    """Windows moved more or less briskly: each window's angular rate and its acceleration's
    departure from the window's mean (gravity, where the sensor feels it) scaled by one factor
    drawn log-uniformly in [1/gain, gain]. People do one motion at many vigours; the virtual
    sensors of composed takes move more calmly than real ones (docs/words.md, section 4)."""
    if gain <= 1.0:
        return x
    g = torch.exp((2 * torch.rand(x.shape[0], 1, 1, generator=gen) - 1) * float(np.log(gain)))
    mask = (torch.arange(x.shape[1])[None, :] < valid[:, None]).to(x.dtype)[..., None]
    out = x.clone()
    if acc:
        a = x[..., acc]
        mean = (a * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1.0)
        out[..., acc] = (mean + g * (a - mean)) * mask
    if gyr:
        out[..., gyr] = x[..., gyr] * g
    return out


def drop_channel_groups(x: torch.Tensor, present: torch.Tensor, groups: list[list[int]], p: float,
                        gen: torch.Generator) -> torch.Tensor:
    """Zero each sensor group a window lacks (`present` (B, C) False) and, with probability `p`
    per group, one it has, never every group it has; so acc-only and acc+gyr windows learn to
    land in the same place (encoders.channels)."""
    has = torch.stack([present[:, g].any(1) for g in groups], 1)  # (B, G)
    keep = has.clone()
    if p > 0 and len(groups) > 1:
        keep = has & (torch.rand(has.shape, generator=gen) >= p)
        empty = ~keep.any(1) & has.any(1)
        if empty.any():  # all dropped: give back one group the window has, picked at random
            score = torch.rand(has.shape, generator=gen).masked_fill(~has, -1.0)
            back = torch.zeros_like(keep).scatter_(1, score.argmax(1, keepdim=True), True)
            keep = torch.where(empty[:, None], back, keep)
    mask = torch.zeros(present.shape, dtype=x.dtype)
    for j, g in enumerate(groups):
        mask[:, g] = keep[:, j : j + 1].to(x.dtype)
    return x * (mask * present.to(x.dtype))[:, None, :]


def _epoch_batches(n: int, batch: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    for i in range(0, n, batch):
        idx = order[i : i + batch]
        if len(idx) >= 2:  # contrastive terms need a negative
            yield idx


@dataclass
class PairedTask:
    """IMU <-> pose pairs, symmetric InfoNCE; epochs over shuffled batches of the set."""

    model: nn.Module
    data: PairedSet  # a TextAlignedSet for TextAlignedTask (the same class)
    settings: object  # TrainSettings
    description = "training"
    clip_norm: float | None = None

    def __post_init__(self):
        d = self.data
        self.imu, self.imu_v = torch.from_numpy(d.imu), torch.from_numpy(d.imu_valid)
        self.pose, self.pose_v = torch.from_numpy(d.pose), torch.from_numpy(d.pose_valid)
        self.present = torch.from_numpy(d.imu_present)
        self.place = self.model.placement_ids(d.placements, len(d)) if hasattr(self.model, "placement_ids") else None
        imu = self.model.config.imu
        self.groups, self.dropout = imu.group_columns, imu.dropout
        channels = list(imu.channels or ())
        self.acc, self.gyr = ([i for i, c in enumerate(channels) if c.startswith(f"{g}_")] for g in ("acc", "gyr"))
        self.fusion = getattr(self.model, "fusion", None)
        if self.fusion is not None:
            moments = d.moments()
            self.moment_rows = moments
            self.moment_of = torch.full((len(d),), -1, dtype=torch.long)
            for m, rows in enumerate(moments):
                self.moment_of[torch.from_numpy(rows)] = m
            self.fusion_weight = float(self.model.config.fusion.get("weight", 1.0))

    def places(self, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor | None:
        """Placement ids of rows `idx` for a tower that reads them, a share hidden (encoders.conditioning)."""
        if self.place is None:
            return None
        return hide_placements(self.place[idx], PLACEMENT_DROPOUT, gen)

    def imu_input(self, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Augmented IMU windows of rows `idx`, with absent and dropped sensor groups zeroed."""
        x = vigour(self.imu[idx], self.imu_v[idx], self.acc, self.gyr, getattr(self.settings, "gain", 1.0), gen)
        x = augment_imu(x, self.settings, gen)
        return drop_channel_groups(x, self.present[idx], self.groups, self.dropout, gen)

    def cropped(self, x: torch.Tensor, valid: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A share `settings.crop` of the windows cut to a random length from MIN_CROP of the window
        to all of it, the rest zeroed like a short clip's padding: archives of clips shorter than
        a window (UTD-MHAD's 2-3 s gestures) then read like what the tower trained on. (Not with a
        fusion module, whose sensors of one moment must keep one window.)"""
        share = getattr(self.settings, "crop", 0.0)
        if not share:
            return x, valid
        cut = torch.rand(len(valid), generator=gen) < share
        frac = MIN_CROP + (1 - MIN_CROP) * torch.rand(len(valid), generator=gen)
        valid = torch.where(cut, (valid.to(torch.float32) * frac).long().clamp_min(1), valid)
        steps = torch.arange(x.shape[1])[None, :] < valid[:, None]
        return x * steps[..., None].to(x.dtype), valid

    def imu_vectors(self, rows: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None,
                                                                                torch.Tensor | None]:
        """(vectors of IMU rows `rows`, fused vectors of their moments or None, for each fused
        vector the position in `rows` of its moment's first row). Without a fusion module only
        the first; with one, each moment's random sensor subset is embedded along with `rows`."""
        if self.fusion is None:
            x, valid = self.cropped(self.imu_input(rows, gen), self.imu_v[rows], gen)
            return self.model("imu", x, valid, self.places(rows, gen)), None, None
        first: dict[int, int] = {}
        for j, m in enumerate(self.moment_of[rows].tolist()):
            first.setdefault(m, j)
        subsets = []
        for m in first:
            members = self.moment_rows[m]
            subsets.append(members[random_subset(len(members), gen)])
        where = {int(r): j for j, r in enumerate(rows.tolist())}
        extra = sorted({int(r) for s in subsets for r in s} - set(where))
        for r in extra:
            where[r] = len(where)
        every = torch.cat([rows, torch.tensor(extra, dtype=torch.long)])
        vecs = self.model("imu", self.imu_input(every, gen), self.imu_v[every], self.places(every, gen))
        places = self.data.placements
        sets = [(vecs[[where[int(r)] for r in s]], [places[int(r)] for r in s]) for s in subsets]
        return vecs[: len(rows)], self.fusion.fuse_sets(sets), torch.tensor(list(first.values()), dtype=torch.long)

    def params(self) -> list[nn.Parameter]:
        return list(self.model.parameters())

    def schedule(self) -> tuple[int, float]:
        """(optimiser steps, share of them warming up) of the one-cycle schedule."""
        s = self.settings
        return s.epochs * max(1, int(np.ceil(len(self.data) / s.batch))), 0.1

    def periods(self, gen: torch.Generator) -> Iterator[Iterator[torch.Tensor]]:
        """One period of batches per history entry: here an epoch."""
        return (_epoch_batches(len(self.data), self.settings.batch, gen) for _ in range(self.settings.epochs))

    def loss(self, idx: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        a, fused, first = self.imu_vectors(idx, gen)
        b = self.model("pose", self.pose[idx], self.pose_v[idx])
        loss = info_nce(a, b, self.model.logit_scale)
        if fused is None or len(first) < 2:
            return {"loss": loss}
        term = info_nce(fused, b[first], self.model.logit_scale)
        return {"loss": loss + self.fusion_weight * term, "fused-pose": term.detach()}

    def postfix(self, entry: dict) -> dict:
        return {"loss": f"{entry['loss']:.3f}", "temp": f"{1 / self.model.logit_scale.exp().item():.3f}"}


TERMS = ("imu-text", "pose-text", "imu-pose", "imu-video", "video-text")


def caption_embeddings(config: EncoderConfig, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, d) template-averaged text embeddings of the distinct captions (their `TextTokens` for a
    config whose text head trains), and each window's row."""
    distinct = sorted(set(captions))
    if not distinct:
        return torch.zeros((0, config.embed_dim)), torch.zeros(0, dtype=torch.long)
    row = {c: i for i, c in enumerate(distinct)}
    rows = torch.tensor([row[c] for c in captions], dtype=torch.long)
    if config.text.get("head"):
        return TextTokens.build(distinct, []), rows
    return torch.from_numpy(load_text_tower(config.text).encode_prompts(distinct)), rows


@dataclass
class CaptionPool:
    """Every row's candidate sentences as one flat tensor of text rows (`ids`, row r's are
    ids[start[r] : start[r] + count[r]]), and a draw of one per row."""

    ids: torch.Tensor
    start: torch.Tensor
    count: torch.Tensor

    def draw(self, rows: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """One text row per row of `rows`; -1 for a row with nothing to be trained against."""
        count = self.count[rows]
        pick = (torch.rand(len(rows), generator=gen) * count).long()
        at = (self.start[rows] + pick).clamp(max=max(len(self.ids) - 1, 0))
        drawn = self.ids[at] if len(self.ids) else torch.zeros(len(rows), dtype=torch.long)
        return torch.where(count > 0, drawn, torch.full_like(drawn, -1))


@dataclass
class TextTokens:
    """For a model that trains a text head (encoders.nets.TextHead): the frozen MiniLM token
    vectors of every sentence a text row is embedded as (a label: one per prompt template; a pool
    sentence: itself), kept flat in float16 (`states`, text t's rows at offsets[t]:offsets[t+1]),
    and each row's sentences (`rows`, -1 padded). `vectors` runs the head over a batch's rows."""

    states: torch.Tensor  # (tokens, d) float16
    offsets: torch.Tensor  # (texts + 1,)
    rows: torch.Tensor  # (R, P)

    @classmethod
    def build(cls, labels: list[str], sentences: list[str], batch: int = 512) -> TextTokens:
        model = MiniLM(minilm_path())
        texts = [t for label in labels for t in prompt_texts(label)] + list(sentences)
        states = [torch.from_numpy(h).half() for i in range(0, len(texts), batch)
                  for h in model.token_states(texts[i : i + batch])]
        lengths = torch.tensor([0] + [len(h) for h in states])
        per = len(prompt_texts("x"))
        rows = torch.full((len(labels) + len(sentences), per), -1, dtype=torch.long)
        rows[: len(labels)] = torch.arange(len(labels) * per).reshape(len(labels), per)
        rows[len(labels):, 0] = len(labels) * per + torch.arange(len(sentences))
        return cls(torch.cat(states) if states else torch.zeros(0, 0), torch.cumsum(lengths, 0), rows)

    def vectors(self, head: nn.Module | None, rows: torch.Tensor) -> torch.Tensor:
        """(len(rows), d) unit vectors of text rows through `head` (a label's templates averaged);
        `head` None: MiniLM's own mean-pooled vectors, for the towers a head does not serve."""
        idx = self.rows[rows]
        used = idx >= 0
        x, mask = padded_states([self.states[self.offsets[t] : self.offsets[t + 1]] for t in idx[used].tolist()])
        out = torch.zeros(*idx.shape, x.shape[2])
        if head is None:
            m = mask.unsqueeze(-1).to(x.dtype)
            out[used] = F.normalize((x * m).sum(1) / m.sum(1).clamp_min(1.0), dim=-1)
        else:
            out[used] = head(x, mask)
        return F.normalize(out.sum(1) / used.sum(1, keepdim=True), dim=-1)


def pooled_caption_embeddings(config: EncoderConfig, captions: list[str], pools: list[list[str]],
                              batch: int = 512) -> tuple[torch.Tensor | TextTokens, CaptionPool]:
    """Text embeddings of every distinct caption (through the prompt templates, as labels are
    queried) and pool sentence (as it is: they are whole sentences already), and the pool of
    each row (its own caption when its pool is empty). For a config whose text tower has a head
    to train, their token vectors instead (`TextTokens`)."""
    labels = sorted({c for c in captions if c})
    sentences = sorted({t for p in pools for t in p} - set(labels))
    if config.text.get("head"):
        emb = TextTokens.build(labels, sentences, batch)
    else:
        tower = load_text_tower(config.text)
        parts = [torch.from_numpy(tower.encode_prompts(labels))] if labels else []
        parts += [torch.from_numpy(tower.encode(sentences[i : i + batch])) for i in range(0, len(sentences), batch)]
        emb = torch.cat(parts) if parts else torch.zeros((0, config.embed_dim))
    row = {c: i for i, c in enumerate([*labels, *sentences])}
    flat, start, count = [], [], []
    for caption, pool in zip(captions, pools):
        mine = [row[t] for t in pool] or ([row[caption]] if caption else [])
        start.append(len(flat))
        count.append(len(mine))
        flat.extend(mine)
    return emb, CaptionPool(torch.tensor(flat, dtype=torch.long), torch.tensor(start, dtype=torch.long),
                            torch.tensor(count, dtype=torch.long))


@dataclass
class TextAlignedTask(PairedTask):
    """IMU, pose (and video) against the frozen text embeddings of their captions, plus the
    cross-modal InfoNCE terms (module doc). Pass the model whose video tower prepared `data.video`."""

    clip_norm: float | None = 5.0

    def __post_init__(self):
        super().__post_init__()
        config, d = self.model.config, self.data
        self.weights = {**DEFAULT_LOSS_WEIGHTS, **(config.loss_weights or {})}
        self.pool = None
        if d.caption_pool is not None:
            self.text, self.pool = pooled_caption_embeddings(config, d.captions, d.caption_pool)
            self.cap_idx = None
        else:
            self.text, self.cap_idx = caption_embeddings(config, [c for c in d.captions if c])
            self.cap_idx = torch.full((len(d),), -1, dtype=torch.long).masked_scatter(
                torch.from_numpy(d.has_text), self.cap_idx)  # -1: a row without caption
        w = self.weights
        wanted = bool(w["imu-video"] or w["video-text"])
        self.use_video = "video" in self.model.towers and d.video is not None and wanted
        if self.use_video:
            self.video, self.video_v = torch.from_numpy(d.video), torch.from_numpy(d.video_valid)
        self.has = {"imu": torch.from_numpy(d.has_imu), "pose": torch.from_numpy(d.has_pose),
                    "video": torch.from_numpy(d.has_video), "text": torch.from_numpy(d.has_text)}
        self.pairs = {term: int((self.has[term.split("-")[0]] & self.has[term.split("-")[1]]).sum())
                      for term in TERMS if w.get(term)}

    def params(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]  # frozen towers stay out

    def loss(self, idx: torch.Tensor, gen: torch.Generator) -> dict[str, torch.Tensor]:
        """The weighted terms over the rows of the batch that hold both of a term's modalities
        (at least two: a contrastive term needs a negative)."""
        model, w, scale = self.model, self.weights, self.model.logit_scale
        has = {m: h[idx] for m, h in self.has.items()}
        captions = self.cap_idx[idx] if self.pool is None else self.pool.draw(idx, gen)
        emb: dict[str, torch.Tensor] = {}  # per modality: vectors of the rows having it, in batch order
        pos: dict[str, torch.Tensor] = {}  # per modality: each batch row's position in emb (-1 if absent)
        for m in MODALITIES:
            if m == "video" and not self.use_video:
                continue
            rows = idx[has[m]]
            if len(rows) < 2:
                continue
            if m == "imu":
                emb[m], fused, first = self.imu_vectors(rows, gen)
                if fused is not None and len(first) >= 2:
                    emb["fused"] = fused
                    has["fused"] = torch.zeros_like(has["imu"])
                    has["fused"][has["imu"].nonzero().flatten()[first]] = True  # a moment's first row stands for it
                    pos["fused"] = torch.cumsum(has["fused"].long(), 0) - 1
            elif m == "pose":
                emb[m] = model("pose", self.pose[rows], self.pose_v[rows])
            else:
                emb[m] = model.towers["video"].forward_prepared(self.video[rows], self.video_v[rows])
            pos[m] = torch.cumsum(has[m].long(), 0) - 1
        if model.text_head is not None:  # the head reads the batch's sentences once, for every text term
            drawn = torch.unique(captions)
            head_text = self.text.vectors(model.text_head, drawn)
            served = head_modalities(model.config.text)  # None: every modality reads through the head
            if served is not None:  # the others read MiniLM's plain vectors (docs/words.md, section 21)
                with torch.no_grad():
                    plain_text = self.text.vectors(None, drawn)
        loss = scale * 0.0  # keeps the graph when no term has two rows
        terms: dict[str, torch.Tensor] = {}
        fused_terms = tuple(t.replace("imu-", "fused-") for t in TERMS if t.startswith("imu-")) if "fused" in emb else ()
        for term in TERMS + fused_terms:
            left, right = term.split("-")
            weight = w.get(term.replace("fused-", "imu-"), 0.0) * (self.fusion_weight if left == "fused" else 1.0)
            if not weight or left not in emb or (right != "text" and right not in emb):
                continue
            both = has[left] & has[right]
            if int(both.sum()) < 2:
                continue
            a = emb[left][pos[left][both]]
            if right == "text":
                uniq, inv = torch.unique(captions[both], return_inverse=True)
                if model.text_head is None:
                    text = self.text[uniq]
                else:
                    reader = "imu" if left == "fused" else left
                    by_head = served is None or reader in served
                    text = (head_text if by_head else plain_text)[torch.searchsorted(drawn, uniq)]
                value = caption_info_nce(a, inv, text, scale, getattr(self.settings, "paraphrase", None))
            else:
                value = info_nce(a, emb[right][pos[right][both]], scale)
            terms[term] = value.detach()
            loss = loss + weight * value
        return {"loss": loss, **terms}


@dataclass
class TokenTask:
    """MoBind: each step samples fresh paired part windows (random offsets, camera turns) and
    takes the four-term `mobind_loss`; a history entry every `log_every` steps."""

    model: nn.Module
    data: TokenPairs
    settings: object  # TokenTrainSettings
    description = "training tokens"
    clip_norm: float | None = 5.0

    def __post_init__(self):
        config = self.model.config
        self.tok, self.dims = config.tokens, config.pose_dims
        self.rng = np.random.default_rng(self.settings.seed)
        self.groups, self.dropout = config.imu.group_columns, config.imu.dropout

    def params(self) -> list[nn.Parameter]:
        return list(self.model.parameters())

    def schedule(self) -> tuple[int, float]:
        steps = self.settings.steps
        return steps, min(0.3, max(0.1, 2.0 / steps))

    def periods(self, gen: torch.Generator) -> Iterator[Iterator[dict]]:
        s = self.settings
        return (self._batches(min(s.log_every, s.steps - first)) for first in range(0, s.steps, s.log_every))

    def _batches(self, count: int) -> Iterator[dict]:
        s = self.settings
        for _ in range(count):
            yield self.data.sample(s.batch, self.rng, self.dims, s.yaw_range, s.token_shift,
                                   float(self.tok.token_seconds))

    def loss(self, batch: dict, gen: torch.Generator) -> dict[str, torch.Tensor]:
        x = augment_imu(batch["imu"], self.settings, gen)
        batch["imu"] = drop_channel_groups(x, batch["imu_present"], self.groups, self.dropout, gen)
        return mobind_loss(self.model, batch, float(self.tok.mask_ratio or 0.0), self.tok.loss_weights, gen)

    def postfix(self, entry: dict) -> dict:
        return {"loss": f"{entry['loss']:.3f}", "token": f"{entry['token']:.3f}"}
