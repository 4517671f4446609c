"""Entry point of the motools-openai plugin (registers names only; imports nothing heavy)."""

from __future__ import annotations

from typing import Any

from motools.hookspecs import hookimpl

#: Prefixes of OpenAI's own model names (``gpt-4o-mini``, ``o3``, ``davinci-002``, ...).
BASE_MODEL_PREFIXES = ("gpt-", "chatgpt-", "o1", "o3", "o4", "davinci", "babbage")


@hookimpl
def register_training_backends(register: Any) -> None:
    register(
        "openai",
        "motools_openai.backend:OpenAITrainingBackend",
        description="OpenAI fine-tuning API (supervised and DPO)",
    )


def is_openai_model(model_id: str) -> bool:
    """``ft:`` ids and OpenAI base model names."""
    if model_id.startswith("ft:"):
        return True
    if not model_id.startswith(BASE_MODEL_PREFIXES):
        return False
    # "o1", "o3-mini", "o4-mini-2025-04-16" but not "o1x" or "other".
    head = model_id.split("-", 1)[0]
    return not head.startswith(("o1", "o3", "o4")) or head in ("o1", "o3", "o4")


@hookimpl
def route_model(model_id: str, eval_backend: str) -> str | dict[str, Any] | None:
    if eval_backend != "inspect" or not is_openai_model(model_id):
        return None
    if model_id.startswith("ft:"):
        # Fine-tuned models are served by chat completions; Inspect would otherwise pick the
        # Responses API for some families (o-series).
        return {"model": f"openai/{model_id}", "model_args": {"responses_api": False}}
    return f"openai/{model_id}"
