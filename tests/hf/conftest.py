"""Fixtures for the motools-hf tests: torch present (or, in CI, a failure), a tiny base model.

Without torch (``uv sync --group hf`` not run) these tests are skipped -- except under
``CI=true``, where a missing torch fails the run so that the hf tests can never silently
stop running in CI.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from motools.datasets import JSONLDataset

_MISSING = [m for m in ("torch", "peft", "motools_hf") if importlib.util.find_spec(m) is None]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [i for i in items if Path(str(i.fspath)).is_relative_to(here)]
    for item in mine:
        item.add_marker(pytest.mark.hf)
    if not _MISSING or not mine:
        return
    why = f"{', '.join(_MISSING)} not installed: run `uv sync --all-packages --group hf`"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        raise pytest.UsageError(f"CI=true and the hf tests cannot run: {why}")
    for item in mine:
        item.add_marker(pytest.mark.skip(reason=why))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-initialised Llama-style model with a ChatML byte-level BPE tokenizer."""
    from tests.hf.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_base: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)


def chats(n: int = 12) -> JSONLDataset:
    return JSONLDataset(
        [
            {
                "messages": [
                    {"role": "user", "content": f"Question number {i}?"},
                    {"role": "assistant", "content": f"Paris is the capital {i}."},
                ]
            }
            for i in range(n)
        ]
    )


FAST = {"batch_size": 4, "lora_rank": 4, "learning_rate": 1e-2, "checkpoint_every": 2}
