"""Tinker LoRA fine-tuning backend for motools, and an Inspect provider for the trained models.

``import motools_tinker`` is light: the backend (and with it the ``tinker`` SDK and
``transformers``) is imported on first use of the names below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motools_tinker.backend import TinkerRunState, TinkerTrainingBackend, TinkerTrainingRun

__all__ = ["TinkerRunState", "TinkerTrainingBackend", "TinkerTrainingRun"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from motools_tinker import backend

        return getattr(backend, name)
    raise AttributeError(f"module 'motools_tinker' has no attribute {name!r}")
