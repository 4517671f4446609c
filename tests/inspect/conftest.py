"""Helpers for the inspect-backend tests: scripted mockllm replies with explicit usage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.openai_fake import openai_fake  # noqa: F401  (fixture)


def reply(text: str) -> Any:
    """A mockllm output with explicit usage (so mockllm never downloads a tokenizer)."""
    from inspect_ai.model import ModelOutput, ModelUsage

    output = ModelOutput.from_content(model="mockllm", content=text)
    output.usage = ModelUsage(input_tokens=3, output_tokens=1, total_tokens=4)
    return output


def replying(answer: Callable[[str], str] | str) -> dict[str, Any]:
    """``model_args`` for ``mockllm/model`` answering each prompt with ``answer(prompt)``."""

    def outputs(input: list[Any], tools: Any, tool_choice: Any, config: Any) -> Any:
        prompt = input[-1].text
        return reply(answer(prompt) if callable(answer) else answer)

    return {"custom_outputs": outputs}


@pytest.fixture
def backend() -> Any:
    import motools

    return motools.get_eval_backend("inspect")


@pytest.fixture(autouse=True)
def _no_inspect_telemetry_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inspect reads ``INSPECT_TELEMETRY`` as the ``module.function`` of a telemetry hook
    (unset means no telemetry); the root conftest's ``INSPECT_TELEMETRY=0`` is not a valid
    hook name and makes every ``get_model`` fail, so it is removed here."""
    monkeypatch.delenv("INSPECT_TELEMETRY", raising=False)
