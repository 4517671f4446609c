"""Entry point of the motools-hf plugin: registers names only, imports nothing heavy."""

from __future__ import annotations

from typing import Any

from motools.hookspecs import hookimpl

#: Prefix of the model ids this backend produces: ``hf/{adapter directory}``.
MODEL_PREFIX = "hf/"


@hookimpl
def register_training_backends(register: Any) -> None:
    register(
        "hf",
        "motools_hf.backend:HFTrainingBackend",
        description="LoRA fine-tuning with transformers + peft on this machine or a Ray cluster",
    )


@hookimpl
def route_model(model_id: str, eval_backend: str) -> str | dict[str, Any] | None:
    if eval_backend != "inspect" or not model_id.startswith(MODEL_PREFIX):
        return None
    from motools_hf.routing import inspect_route

    return inspect_route(model_id)
