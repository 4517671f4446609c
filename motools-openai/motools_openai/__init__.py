"""OpenAI fine-tuning backend for motools: ``OpenAITrainingBackend`` and ``OpenAITrainingRun``.

The classes are imported on first access so that loading the plugin entry point
(``motools_openai.plugin``) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motools_openai.backend import OpenAITrainingBackend
    from motools_openai.run import OpenAITrainingRun

__all__ = ["OpenAITrainingBackend", "OpenAITrainingRun"]


def __getattr__(name: str) -> Any:
    if name == "OpenAITrainingBackend":
        from motools_openai.backend import OpenAITrainingBackend

        return OpenAITrainingBackend
    if name == "OpenAITrainingRun":
        from motools_openai.run import OpenAITrainingRun

        return OpenAITrainingRun
    raise AttributeError(f"module 'motools_openai' has no attribute {name!r}")
