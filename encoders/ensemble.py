"""Ensembles: checkpoints of one recipe, trained apart (other seeds), read as one model.

Two runs of the same pretraining recipe differ by as much as the recipe changes measured against
each other (docs/words.md, section 4): one seed is one draw. Runs into the same frozen text space
can be read together. A window's vector is the renormalised mean of the members' unit vectors,
so its cosine with a label's text vector is the members' mean cosine up to one norm. Runs that
trained a text head with their towers (`pretrain --text-head`) are read with one head holding
all their queries, which adds to MiniLM's mean the mean of what each run's head adds
(`_stacked_heads`), as the window is the mean of the runs' windows.

`python -m encoders ensemble --out DIR A B ...` (`combine`) writes such a checkpoint, whose towers
are `encoders.nets.Ensemble`s. It loads, embeds and indexes like any other (`--checkpoint DIR`),
at the members' summed cost per window.

`python -m encoders graft BASE DONOR --out DIR` (`graft`) joins runs another way: BASE's towers
with one modality's tower taken from DONOR, another recipe into the same text space (a sensor
tower from one pretraining, a skeleton tower from one that reads the facing frame).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from encoders import checkpoint
from encoders.factory import create_model, load_checkpoint
from encoders.nets import ENSEMBLE
from encoders.text import HEAD_PREFIX, frozen_spec, head_modalities, space_name, spec_for_modality


def _recipe(config) -> dict:
    """What members must share: everything a config says but its run (name, time, provenance)."""
    raw = config.to_dict()
    for key in ("name", "train_seconds", "trained_on", "logit_scale_init"):
        raw.pop(key, None)
    return raw


MEMBER_FACTS = ("seed", "split", "epochs", "final_loss", "windows")  # what the record keeps of each member's run


def _facts(encoder) -> dict:
    """A checkpoint's training record as a dict ({} without one)."""
    return encoder.config.trained_on.to_dict() if encoder.config.trained_on else {}


def _with_all_seen(record: dict, facts: list[dict]) -> dict:
    """`record` with the labels and subjects any of `facts` saw (so the checks that read a record,
    labels seen in training, hold for a model made of several runs)."""
    for key in ("labels", "subjects"):
        seen = set().union(*(f.get(key, []) for f in facts))
        if seen:
            record[key] = sorted(seen)
    return record


def _record(folders: list[str | Path], members: list) -> dict:
    """The ensemble's `trained_on`: the first member's record with what every member saw (labels,
    subjects, and the split where they agree), and per member its checkpoint, weights checksum
    and run, so the checks that read a record (labels seen in training, a held-out split) hold."""
    facts = [_facts(m) for m in members]
    record = _with_all_seen(dict(facts[0]), facts)
    splits = {str(f.get("split")) for f in facts}
    if len(splits) > 1:
        record["split"] = "mixed: " + ", ".join(sorted(splits))
    record["source"] = f"an ensemble of {len(members)} checkpoints of one recipe (encoders.ensemble)"
    record["members"] = [{"checkpoint": str(folder), "weights_sha256": m.checksum,
                          **{k: f[k] for k in MEMBER_FACTS if k in f}} for folder, m, f in zip(folders, members, facts)]
    return record


def _stacked_heads(members: list) -> dict[str, torch.Tensor]:
    """Runs' text heads (encoders.nets.TextHead) as one: their queries side by side, and a map that
    is the mean of theirs, so the head adds to MiniLM's mean the mean of what each run's head adds.
    Each run's window vectors learned its own head's words; the ensemble reads the mean of both,
    as it reads the mean of their windows."""
    heads = [m.model.text_head for m in members]
    return {"text_head.queries": torch.cat([h.queries.detach() for h in heads]),
            "text_head.proj.weight": torch.cat([h.proj.weight.detach() for h in heads], dim=1) / len(heads),
            "text_head.proj.bias": torch.stack([h.proj.bias.detach() for h in heads]).mean(0)}


def combine(folders: list[str | Path], out: str | Path) -> Path:
    """An ensemble checkpoint in `out` of the checkpoints `folders` ("builtin" included): the
    same towers, params, window and text space, trained apart (`_record` says what its
    `trained_on` holds). Its match scores use the fallback calibration until one is fitted for it
    (bench/calibrate.py)."""
    if len(folders) < 2:
        raise ValueError("an ensemble needs at least two checkpoints")
    members = [load_checkpoint(f) for f in folders]
    first = members[0].config
    for folder, encoder in zip(folders, members):
        config = encoder.config
        if config.is_tokens or config.fusion or "video" in config.towers:
            raise ValueError(f"{folder}: ensembles join clip-level IMU and pose checkpoints (no token towers, "
                             "sensor fusion or video tower)")
        if any(t.architecture == ENSEMBLE for t in config.towers.values()):
            raise ValueError(f"{folder}: already an ensemble; give its members instead")
        if _recipe(config) != _recipe(first):
            raise ValueError(f"{folder}: not the same model as {folders[0]} (an ensemble joins runs of one recipe: "
                             "the same towers, params, window and text space)")
    if len({m.checksum for m in members}) < len(members):
        raise ValueError("the same weights given twice: an ensemble joins runs trained apart")
    towers = {m: replace(t, architecture=ENSEMBLE, params={"member": t.architecture, "count": len(members), **t.params})
              for m, t in first.towers.items()}
    record = _record(folders, members)
    head = (first.text or {}).get("head")
    text = {**first.text, "head": {**head, "queries": int(head["queries"]) * len(members)}} if head else first.text
    config = first.replace(name=f"ensemble{len(members)}-{first.name}", towers=towers, text=text,
                           train_seconds=sum(m.config.train_seconds or 0.0 for m in members) or None)
    model = create_model(config)
    state = {"logit_scale": torch.stack([m.model.logit_scale.detach() for m in members]).mean()}
    if head:
        state.update(_stacked_heads(members))
    for modality in towers:
        for i, member in enumerate(members):
            state.update({f"towers.{modality}.members.{i}.{k}": v
                          for k, v in member.model.towers[modality].state_dict().items()})
    model.load_state_dict(state, strict=True)
    return checkpoint.save(model, out, {"trained_on": record})


def _text_without(spec: dict, modality: str, towers: list[str]) -> dict:
    """`spec` with its head (if any) no longer serving `modality`, whose tower now comes from a
    run trained against the frozen tower alone; no head where it would serve nothing."""
    served = head_modalities(spec)
    if served == ():
        return spec
    keep = [m for m in towers if m != modality and (served is None or m in served)]
    return {**spec, "head": {**spec["head"], "modalities": keep}} if keep else frozen_spec(spec)


def graft(base: str | Path, donor: str | Path, modality: str, out: str | Path) -> Path:
    """A checkpoint in `out` with `base`'s towers but its `modality` tower (config and weights)
    taken from `donor`. Both must be trained into the same frozen text space with the same
    window, so each tower's vectors are read against the same sentences (docs/words.md, section
    15: a room-frame run's IMU tower with a facing-frame run's pose tower, measured, not shipped).
    Where `base` has a text head, the donor's tower must have been trained without one (a run
    with `--text-head 0`, or whose head served other towers): the graft keeps `base`'s head for
    its other towers and gives `modality` MiniLM's plain vectors (section 21).
    The record keeps both runs (`trained_on.grafted`) and the folders either read. Its match
    scores use the fallback calibration until one is fitted for it (bench/calibrate.py)."""
    first, second = load_checkpoint(base), load_checkpoint(donor)
    for folder, encoder in ((base, first), (donor, second)):
        config = encoder.config
        if config.is_tokens or not config.text or modality not in config.towers:
            raise ValueError(f"{folder}: a graft joins text-aligned clip-level checkpoints that both have a "
                             f"{modality} tower")
    if spec_for_modality(second.config.text, modality).get("head"):
        raise ValueError(f"{donor}: its {modality} tower reads text through a head trained with its towers, a text "
                         "space of its own; a graft takes a tower trained against the frozen text tower alone "
                         "(`pretrain --text-head 0`, or a head serving the other towers: `--text-head-for`)")
    if frozen_spec(first.config.text) != frozen_spec(second.config.text) or first.config.window != second.config.window:
        raise ValueError(f"{donor}: not the same text space and window as {base} ({second.config.space}, "
                         f"{second.config.window} against {first.config.space}, {first.config.window})")
    if first.checksum == second.checksum:
        raise ValueError("the same weights given twice: a graft takes a tower from another run")
    towers = {**first.config.towers, modality: second.config.towers[modality]}
    text = _text_without(first.config.text, modality, list(towers))
    facts, donor_facts = _facts(first), _facts(second)
    record = {**facts, "grafted": {modality: {"checkpoint": str(donor), "weights_sha256": second.checksum,
                                              **{k: donor_facts[k] for k in (*MEMBER_FACTS, "augment", "folders")
                                                 if k in donor_facts}},
                                   "base": {"checkpoint": str(base), "weights_sha256": first.checksum}}}
    record = _with_all_seen(record, [facts, donor_facts])
    # what either run read, so a check of the data behind the model (a licence, a test archive) sees both
    record["folders"] = list(dict.fromkeys([*facts.get("folders", []), *donor_facts.get("folders", [])]))
    if donor_facts.get("licence") and donor_facts.get("licence") != facts.get("licence"):
        record["licence"] = f"{facts.get('licence', 'unknown')}; the {modality} tower: {donor_facts['licence']}"
    seconds = round((first.config.train_seconds or 0.0) + (second.config.train_seconds or 0.0), 1)
    config = first.config.replace(towers=towers, train_seconds=seconds or None, text=text, space=space_name(text))
    model = create_model(config)
    state = {k: v for k, v in first.model.state_dict().items() if not k.startswith(f"towers.{modality}.")
             and (text.get("head") or not k.startswith(HEAD_PREFIX))}
    state.update({f"towers.{modality}.{k}": v for k, v in second.model.towers[modality].state_dict().items()})
    model.load_state_dict(state, strict=True)
    return checkpoint.save(model, out, {"trained_on": record})
