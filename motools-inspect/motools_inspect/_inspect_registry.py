"""Inspect's entry point into motools-inspect: registers the ``dummy`` model provider.

Listed under the ``inspect_ai`` entry-point group, so ``--model dummy/anything`` works in
``inspect eval`` as well as through motools, with no import side effect needed elsewhere.
"""

from __future__ import annotations

from inspect_ai.model import ModelAPI, modelapi


@modelapi(name="dummy")
def dummy() -> type[ModelAPI]:
    from motools_inspect.dummy_model import DummyModelAPI

    return DummyModelAPI
