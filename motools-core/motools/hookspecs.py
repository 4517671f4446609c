"""Hook specifications: the whole contract between motools and its plugins.

Every registration hook receives a ``register`` callback. Plugins pass *names and
``"module:attr"`` strings* (or light factories), never instances, so that discovering
plugins imports nothing heavy.
"""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("motools")
hookimpl = pluggy.HookimplMarker("motools")


@hookspec
def register_training_backends(register: Any) -> None:
    """Register training backends: ``register(name, "module:Factory", description=...)``."""


@hookspec
def register_eval_backends(register: Any) -> None:
    """Register evaluation backends: ``register(name, "module:Factory", description=...)``."""


@hookspec
def register_datasets(register: Any) -> None:
    """Register dataset loaders: ``register(name, "module:loader", description=..., **metadata)``."""


@hookspec
def register_tasks(register: Any) -> None:
    """Register evaluation tasks: ``register(name, "module:task", description=..., **metadata)``."""


@hookspec
def register_workflows(register: Any) -> None:
    """Register workflows: ``register(name, "module:workflow", description=...)``."""


@hookspec(firstresult=True)
def route_model(model_id: str, eval_backend: str) -> str | dict[str, Any] | None:
    """Say how ``eval_backend`` should address ``model_id``; return None if it is not yours.

    Return the address as a string, or ``{"model": address, "model_args": {...}}`` when the
    evaluation backend also needs arguments for it (an API mode, a base URL).
    """
