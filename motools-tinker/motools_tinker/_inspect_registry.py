"""Registers the ``tinker`` model provider with Inspect (``inspect_ai`` entry point).

Inspect imports this module when it meets a ``tinker/...`` model; it imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.model import modelapi


@modelapi(name="tinker")
def tinker() -> type[Any]:
    from motools_tinker.inspect_provider import TinkerModelAPI

    return TinkerModelAPI
