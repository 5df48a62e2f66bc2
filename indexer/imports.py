"""The two import helpers every package uses.

- `optional(module, extra)`: import a third-party dependency that only one extra brings
  (mediapipe, sentence-transformers, gradio, ...); when it is missing, the error says which
  extra to install instead of a bare ModuleNotFoundError. `extra=""`: a base dependency that is
  heavy to import (torch), deferred to the one function that needs it.
- `lazy_exports(package, {name: module})`: a package's `__getattr__` that imports a public name's
  module on first use, so `import indexer.cli` (and `--help`) does not pay for lancedb, torch or
  gradio before the arguments are parsed (PEP 562).
- `deferred(module, name)`: a public function whose module loads on its first call, for a name
  that modules import at their top but few commands call (`encoders.load_checkpoint` brings
  torch; a text search or a listing never calls it).
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
        fix = f"pip install 'motionsearch[{extra}]'" if extra else "reinstall motionsearch (a base dependency)"
        raise MissingExtra(f"{module} is not installed{what}: {fix} ({type(exc).__name__}: {exc})") from None


def deferred(module: str, name: str):
    """`module.name`, a function, imported when it is first called."""

    def call(*args, **kwargs):
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{module}.{name}, imported on the first call (indexer.imports.deferred)."
    return call


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
