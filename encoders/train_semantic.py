"""Training IMU, pose (and video) towers into a frozen text tower's space (IMU2CLIP, AURA-MFM).

    loss = w_it * L(IMU, text(caption)) + w_pt * L(pose, text(caption))
         + w_ip * InfoNCE(IMU, pose) + w_iv * InfoNCE(IMU, video) [+ w_vt * L(video, text(caption))]

L is `caption_info_nce` (encoders.text_losses): many windows share a caption, so the text side
is the batch's distinct captions, not rows of the batch. A caption is embedded through the
prompt templates of encoders.text, averaged. The weights live in config["loss_weights"].
"""
from __future__ import annotations


import torch

from encoders import checkpoint
from encoders.checkpoint import JointModel
from encoders.losses import info_nce
from encoders.semantic_data import SemanticSet
from encoders.text import load_text_tower, space_name
from encoders.text_losses import caption_info_nce
from encoders.train import TrainSettings, augment_imu, fit

DEFAULT_LOSS_WEIGHTS = {"imu-text": 1.0, "pose-text": 1.0, "imu-pose": 1.0, "imu-video": 1.0, "video-text": 0.0}


def semantic_config(architecture: str, text: dict, video: dict | None = None, params: dict | None = None,
                    window: float = 5.0, hop: float = 1.0, loss_weights: dict | None = None) -> dict:
    """An IMU + pose (+ video) config whose joint space is the text tower's (its width too)."""
    tower = load_text_tower(text)
    config = checkpoint.default_config(architecture, embed_dim=tower.dim, window=window, hop=hop, params=params)
    config["name"] = f"text-{text['architecture']}-{architecture}" + (f"-{video['architecture']}" if video else "")
    config["space"] = space_name(text)
    config["text"] = dict(text)
    if video:
        config["towers"]["video"] = video
    config["loss_weights"] = {**DEFAULT_LOSS_WEIGHTS, **(loss_weights or {})}
    return config


def new_model(config: dict, seed: int = 0) -> JointModel:
    torch.manual_seed(seed)
    return JointModel(config)


def caption_embeddings(config: dict, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(U, d) template-averaged text embeddings of the distinct captions, and each window's row."""
    distinct = sorted(set(captions))
    emb = load_text_tower(config["text"]).encode_prompts(distinct)
    row = {c: i for i, c in enumerate(distinct)}
    return torch.from_numpy(emb), torch.tensor([row[c] for c in captions], dtype=torch.long)


def train_semantic(config: dict, data: SemanticSet, settings: TrainSettings, model: JointModel | None = None,
                   progress: bool = True) -> tuple[JointModel, list[float]]:
    """Train `model` (a fresh one from `config` if None) on `data`; returns it and the mean loss
    of each epoch. Pass the model whose video tower prepared `data.video`."""
    model = model if model is not None else new_model(config, settings.seed)
    w = {**DEFAULT_LOSS_WEIGHTS, **config.get("loss_weights", {})}
    text, cap_idx = caption_embeddings(config, data.captions)
    imu, imu_v = torch.from_numpy(data.imu), torch.from_numpy(data.imu_valid)
    pose, pose_v = torch.from_numpy(data.pose), torch.from_numpy(data.pose_valid)
    use_video = "video" in model.towers and data.video is not None and (w["imu-video"] or w["video-text"])
    if use_video:
        video, video_v = torch.from_numpy(data.video), torch.from_numpy(data.video_valid)
        has_video = torch.from_numpy(data.has_video)
    params = [p for p in model.parameters() if p.requires_grad]  # frozen towers stay out

    def batch_loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        uniq, inv = torch.unique(cap_idx[idx], return_inverse=True)
        t = text[uniq]
        a = model("imu", augment_imu(imu[idx], settings, gen), imu_v[idx])
        b = model("pose", pose[idx], pose_v[idx])
        loss = (w["imu-text"] * caption_info_nce(a, inv, t, model.logit_scale)
                + w["pose-text"] * caption_info_nce(b, inv, t, model.logit_scale)
                + w["imu-pose"] * info_nce(a, b, model.logit_scale))
        if use_video:
            m = has_video[idx]
            if int(m.sum()) >= 2:
                vi = idx[m]
                v = model.towers["video"].forward_prepared(video[vi], video_v[vi])
                loss = loss + w["imu-video"] * info_nce(a[m], v, model.logit_scale)
                if w["video-text"]:
                    loss = loss + w["video-text"] * caption_info_nce(v, inv[m], t, model.logit_scale)
        return loss

    return model, fit(model, len(data), settings, batch_loss, params, clip_norm=5.0, progress=progress)
