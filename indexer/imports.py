"""The two import helpers every package uses.

- `optional(module, extra)`: import a third-party dependency that only one extra brings
  (mediapipe, sentence-transformers, gradio, ...); when it is missing, the error says which
  extra to install instead of a bare ModuleNotFoundError.
- `lazy_exports(package, {name: module})`: a package's `__getattr__` that imports a public name's
  module on first use, so `import indexer.cli` (and `--help`) does not pay for lancedb, torch or
  gradio before the arguments are parsed (PEP 562).
"""
from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError, LookupError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def optional(module: str, extra: str, purpose: str = "") -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        what = f" for {purpose}" if purpose else ""
        raise MissingExtra(f"{module} is not installed{what}: pip install 'motionsearch[{extra}]' "
                           f"({type(exc).__name__}: {exc})") from None


def lazy_exports(package: str, names: dict[str, str]):
    """`__getattr__` for `package`: `names` maps each public name to the module defining it."""

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name]), name)
        globals_ = importlib.import_module(package).__dict__
        globals_[name] = value  # later lookups skip __getattr__
        return value

    return __getattr__
