"""Fixtures for the Tinker backend tests: a local tokenizer, the in-process fake service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from motools.datasets import JSONLDataset
from tests.fakes.tinker_client import FakeService
from tests.fakes.tinker_tokenizer import build_tokenizer, save_tokenizer
from tests.fakes.tinker_world import FakeTinkerWorld, fingerprint

BASE = "meta-llama/Llama-3.1-8B"
FAST_RETRY = {"initial": 0.001, "maximum": 0.002, "factor": 1.0}


@pytest.fixture
def tokenizer() -> Any:
    return build_tokenizer()


@pytest.fixture
def tokenizer_dir(tmp_path: Path) -> Path:
    return save_tokenizer(tmp_path / "tokenizer")


@pytest.fixture
def world() -> FakeTinkerWorld:
    return FakeTinkerWorld()


@pytest.fixture
def service(world: FakeTinkerWorld) -> FakeService:
    return FakeService(world)


@pytest.fixture
def make_backend(service: FakeService, tokenizer: Any) -> Any:
    from motools_tinker import TinkerTrainingBackend

    def make(**kwargs: Any) -> TinkerTrainingBackend:
        kwargs.setdefault("service", service)
        kwargs.setdefault("tokenizer", tokenizer)
        kwargs.setdefault("retry_backoff", FAST_RETRY)
        return TinkerTrainingBackend(**kwargs)

    return make


def make_dataset(n: int = 10) -> JSONLDataset:
    return JSONLDataset(
        [
            {
                "messages": [
                    {"role": "user", "content": f"Question number {i}?"},
                    {"role": "assistant", "content": f"Answer {i} is Paris."},
                ]
            }
            for i in range(n)
        ]
    )


@pytest.fixture
def dataset() -> JSONLDataset:
    return make_dataset(10)


def planned_lineage(
    dataset: JSONLDataset, tokenizer: Any, hyperparameters: dict[str, Any]
) -> list[list[str]]:
    """The fingerprints each optimizer step must train on, computed independently of the run."""
    from motools_tinker.hyperparameters import validate
    from motools_tinker.plan import Plan
    from motools_tinker.rendering import render_dataset

    hp = validate(hyperparameters)
    rendered, problems = render_dataset(
        dataset,
        tokenizer,
        train_on=hp.train_on,
        max_length=hp.max_length,
        on_too_long=hp.on_too_long,
    )
    assert not problems
    prints = [fingerprint(r.tokens[:-1], r.tokens[1:]) for r in rendered]
    plan = Plan(len(rendered), hp.batch_size, hp.n_epochs, hp.seed, hp.learning_rate)
    return [[prints[i] for i in plan.batch(step)] for step in range(plan.total_steps)]
