"""Training backends by import path; ``openai`` and ``tinker`` are aliases of their plugins.

The seed-documented spellings work, lazily (nothing is imported until a name is used)::

    from motools.training.backends import DummyTrainingBackend, OpenAITrainingBackend

A plugin that is not installed raises ImportError with its install hint when its name is used.
"""

from __future__ import annotations

from motools._lazy import lazy_exports

_LAZY = {
    "DummyTrainingBackend": "motools.training.backends.dummy",
    "DummyTrainingRun": "motools.training.backends.dummy",
    "OpenAITrainingBackend": "motools.training.backends.openai",
    "OpenAITrainingRun": "motools.training.backends.openai",
    "TinkerTrainingBackend": "motools.training.backends.tinker",
    "TinkerTrainingRun": "motools.training.backends.tinker",
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports("motools.training.backends", _LAZY, globals())
