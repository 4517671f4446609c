"""Entry point of the motools-inspect plugin: registers the ``inspect`` backend and routes ids.

This module is imported when motools discovers plugins, so it imports nothing heavy:
``inspect_ai`` is only imported when a model id is routed for the ``inspect`` backend.
"""

from __future__ import annotations

from typing import Any

from motools.hookspecs import hookimpl
from motools_inspect.providers import DUMMY_PREFIX, names_inspect_provider


@hookimpl
def register_eval_backends(register: Any) -> None:
    register(
        "inspect",
        "motools_inspect.backend:InspectEvalBackend",
        description="Inspect AI tasks (inspect_evals benchmarks, registry names, Task objects)",
    )


@hookimpl(trylast=True)
def route_model(model_id: str, eval_backend: str) -> str | None:
    """Pass through ids that already name an Inspect provider; ``dummy/...`` ids too.

    ``trylast``: plugins that own a kind of id (OpenAI ``ft:`` ids, ``tinker/...``) answer
    first, so that they can add the arguments their ids need; this is the fallback.
    """
    if eval_backend != "inspect":
        return None
    if model_id.startswith(DUMMY_PREFIX):
        return model_id
    return model_id if names_inspect_provider(model_id) else None
