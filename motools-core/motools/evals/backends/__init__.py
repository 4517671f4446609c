"""Evaluation backends by import path; ``inspect`` is an alias of its plugin.

The seed-documented spellings work, lazily (nothing is imported until a name is used)::

    from motools.evals.backends import DummyEvalBackend, InspectEvalBackend

A plugin that is not installed raises ImportError with its install hint when its name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "DummyEvalBackend": "motools.evals.backends.dummy",
    "InspectEvalBackend": "motools.evals.backends.inspect",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'motools.evals.backends' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
