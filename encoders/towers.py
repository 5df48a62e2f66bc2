"""The tower registry: every architecture a checkpoint config can name.

A module defining a tower registers it with `@register("name")` (encoders.nets: the signal
encoders, encoders.video: the video towers, encoders.tokens: MoBind's token tower); a config's
tower's `architecture` (encoders.config.TowerConfig) picks one and `build_tower` builds it. Every tower takes
(in_features, embed_dim, **params) and maps a batch plus its valid lengths into the joint space.
The modules that register are imported by encoders.model / encoders.tokens, so a model built
through encoders.factory finds all of them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from encoders.config import TowerConfig

TOWERS: dict[str, Callable[..., Any]] = {}


def register(name: str):
    """Class decorator: make a tower buildable by `name` from a config."""

    def add(cls):
        if name in TOWERS and TOWERS[name] is not cls:
            raise ValueError(f"tower architecture {name!r} is registered twice "
                             f"({TOWERS[name].__name__}, {cls.__name__})")
        TOWERS[name] = cls
        return cls

    return add


def build_tower(spec: TowerConfig, embed_dim: int, **extra):
    """A tower from its config entry (architecture, in_features, constructor params); `extra`
    are constructor arguments the model derives itself (a token tower's patch length)."""
    if spec.architecture not in TOWERS:
        raise ValueError(f"unknown architecture {spec.architecture!r}; known: {', '.join(sorted(TOWERS))}")
    return TOWERS[spec.architecture](spec.in_features, embed_dim, **extra, **spec.params)
