"""Inspect AI evaluation backend for motools.

``InspectEvalBackend`` is imported on first access, so that importing the plugin entry point
(:mod:`motools_inspect.plugin`) stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motools_inspect.backend import InspectEvalBackend

__all__ = ["InspectEvalBackend"]


def __getattr__(name: str) -> Any:
    if name == "InspectEvalBackend":
        from motools_inspect.backend import InspectEvalBackend

        return InspectEvalBackend
    raise AttributeError(f"module 'motools_inspect' has no attribute {name!r}")
