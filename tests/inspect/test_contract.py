"""The result contract: every installed evaluation backend gives the same shape and keys.

One suite holding each form of task reference -- a name registered through the motools hook, a
``module:attr``, a ``file.py@task`` and a zoo name -- goes through every evaluation backend
that is installed (here ``dummy`` and ``inspect``), directly and through a sweep, and the
results are compared key by key.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

import motools
from motools.experiments import collate, collate_samples, run_sweep
from motools.plugins import register_plugin

TASKS = "tests.inspect.sample_tasks"
SAMPLE_KEYS = {"task", "id", "epoch", "input", "target", "output", "scores", "raw_scores"}


@pytest.fixture
def suite(tmp_path: Path) -> list[str]:
    plugin = types.SimpleNamespace(
        register_tasks=motools.hookimpl(
            lambda register: register("registered_yes", f"{TASKS}:yes_task")
        )
    )
    register_plugin(plugin, name="contract-tasks")
    source = tmp_path / "my_tasks.py"
    source.write_text(
        "from inspect_ai import Task, task\n"
        "from inspect_ai.dataset import Sample\n"
        "from inspect_ai.scorer import match\n\n"
        "@task\n"
        "def from_file():\n"
        "    return Task(dataset=[Sample(input='say yes', target='yes', id=1),\n"
        "                         Sample(input='say no', target='no', id=2)], scorer=match())\n"
    )
    return ["registered_yes", f"{TASKS}:two_scorers", f"{source}@from_file", "hello_world"]


def _backends() -> list[str]:
    return sorted(r.name for r in motools.list_eval_backends())


def _shape(results: Any, suite: list[str]) -> dict[str, Any]:
    """Everything about the results that must not depend on the backend."""
    summary = results.summary()
    for record in results.samples:
        assert set(record) >= SAMPLE_KEYS, record
        assert set(record["scores"]) >= set(record["raw_scores"])
        assert all(v is None or isinstance(v, float) for v in record["scores"].values())
    return {
        "metric_keys": list(results.metrics),
        "name_keys": list(results.task_names),
        "summary_columns": list(summary.columns),
        "summary_tasks": sorted(set(summary["task"])),
        "sample_tasks": sorted({s["task"] for s in results.samples}),
        "scorers_per_task": {t: sorted(s) for t, s in results.metrics.items()},
    }


async def test_every_backend_gives_the_same_shape_and_keys(suite: list[str]) -> None:
    assert {"dummy", "inspect"} <= set(_backends())
    shapes = {}
    for name in _backends():
        job = await motools.get_eval_backend(name).evaluate("dummy/m", suite, limit=2)
        results = await job.wait()
        shapes[name] = _shape(results, suite)
        assert shapes[name]["metric_keys"] == suite  # the references exactly as written
        assert shapes[name]["summary_tasks"] == sorted(suite)
        # The canonical name is metadata and its own summary column, never the key.
        assert results.task_names[f"{TASKS}:two_scorers"] == "two_scorers"
        assert results.task_names[suite[2]] == "from_file"
        assert set(results.summary()["task_name"]) == set(results.task_names.values())
    # Scorers differ by what a task defines; the dummy backend has one ("match").
    for shape in shapes.values():
        shape.pop("scorers_per_task")
    assert shapes["inspect"] == shapes["dummy"]


async def test_collated_sweeps_have_the_same_columns_and_tasks(suite: list[str]) -> None:
    frames = {}
    for name in _backends():
        config = {
            "select_model": {"model_id": "dummy/m"},
            "evaluate_model": {"backend": name, "tasks": suite, "limit": 2},
        }
        sweep = await run_sweep("evaluate_only", config, {"seed": [0, 1]}, name=f"contract-{name}")
        assert sweep.ok, [m.error for m in sweep.failed]
        frames[name] = (collate(sweep), collate_samples(sweep))
    (dummy, dummy_samples), (inspect, inspect_samples) = frames["dummy"], frames["inspect"]
    assert list(dummy.columns) == list(inspect.columns)
    assert set(dummy["task"]) == set(inspect["task"]) == set(suite)
    assert list(dummy_samples.columns) == list(inspect_samples.columns)
    assert set(dummy_samples["task"]) == set(inspect_samples["task"]) == set(suite)
    for samples in (dummy_samples, inspect_samples):
        assert samples["score"].dtype.kind == "f"


def test_seed_doc_spellings_and_positional_log_dir(tmp_path: Path) -> None:
    from motools.evals.backends import InspectEvalBackend
    from motools.training.backends import OpenAITrainingBackend, TinkerTrainingBackend

    assert OpenAITrainingBackend.name == "openai" and TinkerTrainingBackend.name == "tinker"
    backend = InspectEvalBackend(tmp_path / "logs")  # the log folder, positionally
    assert backend.log_dir == tmp_path / "logs"
