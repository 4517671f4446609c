"""The backend contract: base-class defaults, structural backends, validation done once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import motools
from motools.cache.store import open_store
from motools.datasets import JSONLDataset
from motools.evals import EvalBackend, EvalJob, EvalResults, as_eval_backend
from motools.hyperparameters import VALIDATIONS
from motools.training import TrainingBackend, TrainingRun, as_training_backend
from motools.workflows import run_workflow


class PlainRun(TrainingRun):
    backend_name = "plain"

    def __init__(self, job_id: str, model_id: str) -> None:
        self.job_id, self.model_id, self.status, self.error = job_id, model_id, "succeeded", None

    async def refresh(self) -> str:
        return self.status

    async def cancel(self) -> None:
        return None

    def to_state(self) -> dict[str, Any]:
        return {"backend": "plain", "job_id": self.job_id, "model_id": self.model_id}


class StructuralBackend:
    """Satisfies the protocol with no base class and none of the optional capabilities."""

    name = "plain"

    def __init__(self) -> None:
        self.submitted = 0

    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Any = None,
        suffix: str | None = None,
        **kw: Any,
    ) -> PlainRun:
        self.submitted += 1
        return PlainRun(f"plain-{self.submitted}", f"plain/{model}")

    async def resume(self, state: Any) -> PlainRun:
        return PlainRun(state["job_id"], state["model_id"])


class StructuralEval:
    name = "plaineval"

    async def evaluate(self, model_id: str, eval_suite: Any, **kw: Any) -> EvalJob:
        async def work() -> EvalResults:
            return EvalResults(model_id, {"t": {"s": {"accuracy": 0.5}}})

        return EvalJob(work(), model_id=model_id, eval_suite=eval_suite, backend_name=self.name)


@pytest.fixture
def ds() -> JSONLDataset:
    return JSONLDataset.from_pairs([("q", "a"), ("q2", "a2")])


def test_base_class_defaults_are_safe(ds: JSONLDataset) -> None:
    class Minimal(TrainingBackend):
        name = "minimal"

    backend = Minimal()
    assert backend.cache_version == "0"
    assert backend.normalize_hyperparameters({"lr": 1}) == {"lr": 1}
    assert backend.model_unavailable("m", {}) is None
    assert backend.check_dataset(ds) == []
    assert backend.estimate_cost(ds, "m") is None
    assert EvalBackend().task_identity("x") is None
    with pytest.raises(motools.HyperparameterError, match="must be a mapping"):
        backend.validate_hyperparameters(["lr", 1])  # type: ignore[arg-type]


def test_a_structural_backend_is_adapted_and_anything_else_is_refused() -> None:
    adapted = as_training_backend(StructuralBackend())
    assert isinstance(adapted, TrainingBackend) and adapted.name == "plain"
    assert adapted.cache_version == "0"
    assert isinstance(as_eval_backend(StructuralEval()), EvalBackend)
    with pytest.raises(TypeError, match="not a training backend"):
        as_training_backend(object())
    with pytest.raises(TypeError, match="not an evaluation backend"):
        as_eval_backend(object())


async def test_a_structural_backend_gets_caching_resume_and_explain(ds: JSONLDataset) -> None:
    inner = StructuralBackend()
    from motools.cache import CachedEvalBackend, CachedTrainingBackend

    cached = CachedTrainingBackend(inner, open_store())
    first = await cached.train(ds, "base", {"lr": 1})
    second = await cached.train(ds, "base", {"lr": 1})
    assert second.from_cache and not first.from_cache and inner.submitted == 1
    assert second.cache_key == first.cache_key
    resumed = await cached.resume(first.to_state())
    assert resumed.model_id == "plain/base"
    report = await cached.explain(ds, "base", {"lr": 2})
    assert report["outcome"] == "miss"
    assert list(report["nearest"]["differs"]) == ["hyperparameters.lr"]

    evals = CachedEvalBackend(StructuralEval(), open_store())
    one = await (await evals.evaluate("plain/base", "t")).wait()
    job = await evals.evaluate("plain/base", "t")
    assert job.from_cache and (await job.wait()).metrics == one.metrics


async def test_hyperparameters_are_validated_once_per_workflow_run(tmp_path: Path) -> None:
    config = {
        "prepare_dataset": {"dataset": "motools.demo:hello_world_dataset", "sample_size": 4},
        "submit_training": {
            "backend": "dummy",
            "model": "m",
            "hyperparameters": {"n_epochs": 2, "learning_rate": 1e-4},
        },
        "evaluate_model": {"backend": "dummy", "tasks": ["t"], "limit": 3},
    }
    before = VALIDATIONS["count"]
    result = await run_workflow("train_and_evaluate", config)
    assert result.ok
    assert VALIDATIONS["count"] - before == 1


async def test_hyperparameters_are_validated_once_per_cached_train_call(
    ds: JSONLDataset,
) -> None:
    backend = motools.get_training_backend("dummy", cache=True)
    before = VALIDATIONS["count"]
    run = await backend.train(ds, "m", {"n_epochs": 3})
    await run.wait()
    assert VALIDATIONS["count"] - before == 1
    with pytest.raises(motools.HyperparameterError, match="n_epoch: unknown hyperparameter"):
        await backend.train(ds, "m", {"n_epoch": 3})


async def test_the_cache_key_uses_the_validated_normalised_form(ds: JSONLDataset) -> None:
    backend = motools.get_training_backend("dummy", cache=True)
    a = await backend.lookup(ds, "m", {"n_epochs": 3})
    b = await backend.lookup(ds, "m", {"n_epochs": 3.0, "batch_size": "auto"})
    assert a.key == b.key
    assert a.fields["hyperparameters"]["n_epochs"] == 3
