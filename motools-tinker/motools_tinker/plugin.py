"""Entry point of the motools-tinker plugin: registers names only, imports nothing heavy."""

from __future__ import annotations

from typing import Any

from motools.hookspecs import hookimpl

#: Prefix of the model ids this backend produces: ``tinker/{base}@{tinker://...}``.
MODEL_PREFIX = "tinker/"


@hookimpl
def register_training_backends(register: Any) -> None:
    register(
        "tinker",
        "motools_tinker.backend:TinkerTrainingBackend",
        description="LoRA fine-tuning on Tinker, checkpointed so a crashed run resumes",
    )


@hookimpl
def route_model(model_id: str, eval_backend: str) -> str | None:
    # Inspect finds the ``tinker`` model provider through motools-tinker's ``inspect_ai``
    # entry point, so the id is already the address Inspect needs.
    if eval_backend == "inspect" and model_id.startswith(MODEL_PREFIX):
        return model_id
    return None
