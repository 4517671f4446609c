"""Evaluation backends by import path; ``inspect`` is an alias of its plugin.

The seed-documented spellings work, lazily (nothing is imported until a name is used)::

    from motools.evals.backends import DummyEvalBackend, InspectEvalBackend

A plugin that is not installed raises ImportError with its install hint when its name is used.
"""

from __future__ import annotations

from motools._lazy import lazy_exports

_LAZY = {
    "DummyEvalBackend": "motools.evals.backends.dummy",
    "InspectEvalBackend": "motools.evals.backends.inspect",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("motools.evals.backends", _LAZY, globals())
