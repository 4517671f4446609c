"""Fixtures for the OpenAI backend tests: the fake API and a backend pointed at it."""

from __future__ import annotations

from typing import Any

import pytest

from motools.datasets import JSONLDataset
from tests.fakes.openai_fake import FakeOpenAIServer, openai_fake  # noqa: F401  (fixture)

MODEL = "gpt-4o-mini-2024-07-18"
FAST_POLL = {"initial": 0.01, "maximum": 0.05, "factor": 1.5}
FAST_RETRY = {"initial": 0.01, "maximum": 0.05, "factor": 2.0}


def make_backend(server: FakeOpenAIServer, **kwargs: Any) -> Any:
    from motools_openai import OpenAITrainingBackend

    options: dict[str, Any] = {
        "api_key": server.api_key, "base_url": server.base_url, "max_retries": 0,
        "poll_backoff": FAST_POLL, "retry_backoff": FAST_RETRY, "file_poll_interval": 0.01,
    }
    options.update(kwargs)
    return OpenAITrainingBackend(**options)


@pytest.fixture
def backend(openai_fake: FakeOpenAIServer) -> Any:  # noqa: F811
    return make_backend(openai_fake)


def arithmetic(n: int = 12) -> JSONLDataset:
    return JSONLDataset(
        [
            {"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                          {"role": "assistant", "content": f"The answer is {2 * i}."}]}
            for i in range(n)
        ],
        source="arithmetic.jsonl",
    )


def preferences(n: int = 12) -> JSONLDataset:
    return JSONLDataset(
        [
            {"input": {"messages": [{"role": "user", "content": f"Favourite number {i}?"}]},
             "preferred_output": [{"role": "assistant", "content": f"I love {i}."}],
             "non_preferred_output": [{"role": "assistant", "content": "I have none."}]}
            for i in range(n)
        ],
        source="prefs.jsonl",
    )
