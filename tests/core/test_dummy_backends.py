"""The dummy backends through the public protocols: determinism, state, resume, failure."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

import motools
from motools import resume_run
from motools.datasets import JSONLDataset
from motools.errors import EvaluationError, HyperparameterError, TrainingError, ValidationError
from motools.evals import EvalBackend, EvalResults
from motools.training import TrainingBackend


@pytest.fixture
def dataset() -> JSONLDataset:
    return JSONLDataset.from_pairs([(f"q{i}", f"a{i}") for i in range(4)])


async def test_training_is_deterministic_and_satisfies_the_protocol(dataset: JSONLDataset) -> None:
    backend = motools.get_training_backend("dummy")
    assert isinstance(backend, TrainingBackend)
    run1 = await backend.train(dataset, "base-model", {"n_epochs": 3}, suffix="v1")
    run2 = await backend.train(
        dataset, "base-model", {"n_epochs": 3.0, "batch_size": "auto"}, suffix="v1"
    )
    run3 = await backend.train(dataset, "base-model", {"n_epochs": 4}, suffix="v1")
    assert run1.job_id != run2.job_id
    assert await run1.wait() == await run2.wait()
    assert await run1.wait() != await run3.wait()
    assert run1.model_id and run1.model_id.startswith("dummy/base-model:v1@")
    assert await run1.is_complete()


async def test_bad_hyperparameters_are_rejected_naming_the_field(dataset: JSONLDataset) -> None:
    backend = motools.get_training_backend("dummy")
    with pytest.raises(HyperparameterError, match="n_epoch: unknown hyperparameter"):
        await backend.train(dataset, "m", {"n_epoch": 3})
    with pytest.raises(HyperparameterError, match="n_epochs"):
        await backend.train(dataset, "m", {"n_epochs": -1})


async def test_state_is_json_and_resumes_in_another_process(
    dataset: JSONLDataset, tmp_path: Path
) -> None:
    run = await motools.get_training_backend("dummy", duration=1.0).train(dataset, "m")
    assert run.status in ("queued", "running")
    path = run.save_state(tmp_path / "run.json")
    code = (
        "import asyncio, motools\n"
        f"run = asyncio.run(motools.resume_run({str(path)!r}))\n"
        "print(run.job_id, asyncio.run(run.wait()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    job_id, model_id = out.stdout.split()
    assert job_id == run.job_id
    assert model_id == await run.wait()
    assert json.loads(path.read_text())["backend"] == "dummy"


async def test_failed_and_cancelled_runs_raise(dataset: JSONLDataset) -> None:
    run = await motools.get_training_backend("dummy", fail=True).train(dataset, "m")
    with pytest.raises(TrainingError, match="failed") as info:
        await run.wait()
    assert info.value.code == "dummy_failure"
    slow = await motools.get_training_backend("dummy", duration=30).train(dataset, "m")
    await slow.cancel()
    with pytest.raises(TrainingError, match="cancelled"):
        await slow.wait()
    resumed = await resume_run(slow.to_state())
    assert resumed.status == "cancelled"


async def test_wait_times_out_without_losing_the_run(dataset: JSONLDataset) -> None:
    run = await motools.get_training_backend("dummy", duration=30).train(dataset, "m")
    with pytest.raises(TimeoutError):
        await run.wait(timeout=0.05)
    assert run.status in ("queued", "running")


async def test_eval_is_deterministic_lossless_and_tidy() -> None:
    backend = motools.get_eval_backend("dummy")
    assert isinstance(backend, EvalBackend)
    job = await backend.evaluate("dummy/m@1", ["task_a", "task_b"], limit=20)
    results = await job.wait()
    again = await (await backend.evaluate("dummy/m@1", ["task_a", "task_b"], limit=20)).wait()
    assert results.metrics == again.metrics
    assert set(results.metrics) == {"task_a", "task_b"}
    assert job.status == "succeeded"
    acc = results.get("task_a", "accuracy")
    per_sample = [s["scores"]["match"] for s in results.samples if s["task"] == "task_a"]
    assert len(per_sample) == 20 and acc == sum(per_sample) / 20
    frame = results.summary()
    assert list(frame.columns) == [
        "model_id", "task", "task_name", "scorer", "metric", "value", "stderr"
    ]  # fmt: skip
    assert len(frame) == 2 and frame["stderr"].notna().all()
    raw = [s["raw_scores"]["match"] for s in results.samples if s["task"] == "task_a"]
    assert raw == ["C" if v == 1.0 else "I" for v in per_sample]
    single = await (await backend.evaluate("dummy/m@1", "task_a", limit=20)).wait()
    assert single.metrics["task_a"] == results.metrics["task_a"]


async def test_dummy_eval_validates_its_options_like_a_real_backend() -> None:
    backend = motools.get_eval_backend("dummy")
    with pytest.raises(ValidationError, match=r"unknown option 'temprature'.*'temperature'"):
        await backend.evaluate("dummy/m", "t", temprature=1)
    with pytest.raises(ValidationError, match="limit"):
        await backend.evaluate("dummy/m", "t", limit=0)
    with pytest.raises(ValidationError, match="epochs"):
        await backend.evaluate("dummy/m", "t", epochs="many")
    with pytest.raises(ValidationError, match="does not exist"):
        await backend.evaluate("dummy/m", "no_such_file.py@task")
    # The common options of real backends are accepted; epochs give answers per sample.
    job = await backend.evaluate("dummy/m", "t", limit=3, epochs=2, temperature=1.0, seed=4)
    results = await job.wait()
    assert sorted((s["id"], s["epoch"]) for s in results.samples) == [
        (i, e) for i in (1, 2, 3) for e in (1, 2)
    ]
    assert results.metadata["options"] == {"limit": 3, "epochs": 2, "temperature": 1.0, "seed": 4}


def test_numeric_score_follows_inspects_value_to_float() -> None:
    number = EvalResults.numeric_score
    assert [number(v) for v in ("C", "I", "P", "N", True, 3, "0.25", "yes", "False")] == [
        1.0, 0.0, 0.5, 0.0, 1.0, 3.0, 0.25, 1.0, 0.0
    ]  # fmt: skip
    assert number("a free-text grade") is None and number({"a": 1}) is None
    assert number("nan") is None


async def test_results_round_trip_and_never_empty(tmp_path: Path) -> None:
    results = EvalResults(
        "m",
        {"t": {"s1": {"accuracy": 0.5, "stderr": 0.1}, "s2": {"accuracy": 0.25}}},
        samples=[{"id": 1}],
        log_paths={"t": "/x.eval"},
    )
    path = await results.save(tmp_path / "r.json")
    loaded = await EvalResults.load(path)
    assert loaded == results
    assert loaded.get("t", "accuracy", scorer="s2") == 0.25
    with pytest.raises(KeyError, match="pass scorer"):
        loaded.get("t", "accuracy")
    rows = loaded.summary().set_index("scorer")
    assert rows.loc["s1", "stderr"] == 0.1 and rows.loc["s2", "value"] == 0.25
    with pytest.raises(EvaluationError, match="no metrics"):
        EvalResults("m", {})
    with pytest.raises(EvaluationError, match="no metrics"):
        EvalResults("m", {"t": {}})


async def test_concurrent_dummy_evaluations() -> None:
    backend = motools.get_eval_backend("dummy")
    jobs = [await backend.evaluate(f"dummy/m@{i}", "t") for i in range(8)]
    results = await asyncio.gather(*(j.wait() for j in jobs))
    assert [r.model_id for r in results] == [f"dummy/m@{i}" for i in range(8)]


def test_seed_doc_spellings_import_from_the_package_lazily() -> None:
    import subprocess
    import sys

    from motools.evals.backends import DummyEvalBackend as FromPackage
    from motools.evals.backends.dummy import DummyEvalBackend
    from motools.training.backends import DummyTrainingBackend
    from motools.training.backends.dummy import DummyTrainingBackend as FromModule

    assert FromPackage is DummyEvalBackend and DummyTrainingBackend is FromModule
    # Importing the package imports no plugin; a missing plugin's name gives the install hint.
    code = (
        "import sys; sys.modules['motools_openai'] = None\n"
        "import motools.training.backends, motools.evals.backends\n"
        "assert 'motools_tinker' not in sys.modules and 'motools_inspect' not in sys.modules\n"
        "try:\n    from motools.training.backends import OpenAITrainingBackend\n"
        "except ImportError as exc:\n    print('HINT', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("HINT") and "pip install motools-openai" in out.stdout
    import motools.training.backends as package

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = package.Nope
