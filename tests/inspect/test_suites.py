"""Every accepted ``eval_suite`` form, and the errors for the ones that are not."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest

import motools
from motools.errors import EvaluationError, UnknownBackendError, ValidationError
from motools.plugins import register_plugin

TASKS = "tests.inspect.sample_tasks"


async def _metrics(backend: Any, suite: Any, **kw: Any) -> dict[str, Any]:
    job = await backend.evaluate("dummy/m", suite, model_args={"reply": "yes"}, **kw)
    return (await job.wait()).metrics


async def test_module_function_reference(backend: Any) -> None:
    metrics = await _metrics(backend, f"{TASKS}:yes_task")
    assert metrics == {f"{TASKS}:yes_task": {"match": {"accuracy": 1.0, "stderr": 0.0}}}


async def test_task_object_is_copied_not_modified(backend: Any) -> None:
    from tests.inspect.sample_tasks import ALREADY_BUILT

    before = (ALREADY_BUILT.model, ALREADY_BUILT.config, ALREADY_BUILT.epochs)
    metrics = await _metrics(backend, ALREADY_BUILT, epochs=2, temperature=0.5)
    assert list(metrics) == ["already_built"]
    assert (ALREADY_BUILT.model, ALREADY_BUILT.config, ALREADY_BUILT.epochs) == before


async def test_task_function_and_task_attribute_reference(backend: Any) -> None:
    from tests.inspect.sample_tasks import two_scorers

    # A function is keyed by where it is defined; a reference string as written.
    assert list(await _metrics(backend, two_scorers, task_args={"n": 2})) == [
        f"{TASKS}:two_scorers"
    ]
    assert list(await _metrics(backend, f"{TASKS}:ALREADY_BUILT")) == [f"{TASKS}:ALREADY_BUILT"]


async def test_file_task_reference(backend: Any, tmp_path: Path) -> None:
    source = tmp_path / "my_tasks.py"
    source.write_text(
        "from inspect_ai import Task, task\n"
        "from inspect_ai.dataset import Sample\n"
        "from inspect_ai.scorer import match\n\n"
        "@task\n"
        "def from_file(word: str = 'yes'):\n"
        "    return Task(dataset=[Sample(input='say it', target=word)], scorer=match())\n\n"
        "@task\n"
        "def other():\n"
        "    return Task(dataset=[Sample(input='x', target='no')], scorer=match())\n"
    )
    metrics = await _metrics(backend, f"{source}@from_file", task_args={"word": "yes"})
    assert metrics[f"{source}@from_file"]["match"]["accuracy"] == 1.0
    both = await _metrics(backend, str(source))  # the whole file: one key per task in it
    assert sorted(both) == [f"{source}@from_file", f"{source}@other"]


async def test_list_of_mixed_forms_keeps_each_task(backend: Any) -> None:
    from tests.inspect.sample_tasks import ALREADY_BUILT

    job = await backend.evaluate(
        "dummy/m", [f"{TASKS}:yes_task", ALREADY_BUILT, f"{TASKS}:yes_task"]
    )
    results = await job.wait()
    # The same task twice gets a second key instead of overwriting the first.
    keys = [f"{TASKS}:yes_task", "already_built", f"{TASKS}:yes_task#2"]
    assert list(results.metrics) == keys
    assert set(results.log_paths) == set(results.metrics)
    assert {s["task"] for s in results.samples} == set(results.metrics)


async def test_task_registered_through_the_motools_hook(backend: Any) -> None:
    plugin = types.SimpleNamespace(
        register_tasks=motools.hookimpl(
            lambda register: register("hello", f"{TASKS}:yes_task", description="says yes")
        )
    )
    register_plugin(plugin, name="test-tasks")
    metrics = await _metrics(backend, "hello", task_args={"n": 2})
    assert metrics["hello"]["match"]["accuracy"] == 1.0


async def test_unknown_name_lists_what_is_available(backend: Any) -> None:
    plugin = types.SimpleNamespace(
        register_tasks=motools.hookimpl(lambda register: register("zoo_task", f"{TASKS}:yes_task"))
    )
    register_plugin(plugin, name="test-tasks")
    with pytest.raises(UnknownBackendError) as info:
        await backend.evaluate("dummy/m", "gsm8kk")
    message = str(info.value)
    assert "Unknown task 'gsm8kk'" in message
    assert "Did you mean 'gsm8k'" in message
    assert "Available task names: " in message
    assert "inspect_evals/" in message  # Inspect registry tasks are listed too
    assert "file.py@task" in message
    assert {"gsm8k", "humaneval", "zoo_task"} <= set(info.value.available)


async def test_bad_references_are_clear(backend: Any, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot import module 'no_such_module'"):
        await backend.evaluate("dummy/m", "no_such_module:task")
    with pytest.raises(ValidationError, match="has no attribute 'nope'"):
        await backend.evaluate("dummy/m", f"{TASKS}:nope")
    with pytest.raises(ValidationError, match="does not exist"):
        await backend.evaluate("dummy/m", f"{tmp_path}/missing.py@t")
    with pytest.raises(ValidationError, match="must be a task name"):
        await backend.evaluate("dummy/m", [42])
    with pytest.raises(EvaluationError, match="eval_suite is empty"):
        await backend.evaluate("dummy/m", [])


async def test_task_args_are_checked_against_the_task(backend: Any) -> None:
    with pytest.raises(ValidationError, match=r"has no parameter\(s\) \['m'\].*\['n'\]"):
        await backend.evaluate("dummy/m", f"{TASKS}:yes_task", task_args={"m": 1})
    with pytest.raises(ValidationError, match="already-built Task"):
        await backend.evaluate("dummy/m", f"{TASKS}:ALREADY_BUILT", task_args={"n": 1})


async def test_registry_names_with_their_own_arguments(backend: Any, shared_data: Path) -> None:
    with pytest.raises(ValidationError, match="fewshot_seed"):
        await backend.evaluate(
            "dummy/m", "inspect_evals/gsm8k", task_args={"shots": 0}, data_mirror=shared_data
        )


def test_humaneval_is_the_inspect_evals_benchmark(tmp_path: Path) -> None:
    # Running it needs a Docker sandbox; building it shows the name, data and protocol.
    import json

    from motools_inspect.mirror import data_mirror
    from motools_inspect.suites import resolve_suite

    record = {
        "task_id": "HumanEval/0",
        "prompt": "def add(a, b):\n",
        "canonical_solution": "    return a + b\n",
        "test": "def check(f):\n    assert f(1, 2) == 3\n",
        "entry_point": "add",
    }
    (tmp_path / "humaneval").mkdir()
    (tmp_path / "humaneval" / "test.jsonl").write_text(json.dumps(record) + "\n")
    with data_mirror(tmp_path):
        [resolved] = resolve_suite("humaneval")
    task = resolved.task
    assert task.name == "inspect_evals/humaneval"
    assert [s.id for s in task.dataset] == ["HumanEval/0"]
    assert task.dataset[0].metadata["entry_point"] == "add"
    assert task.sandbox is not None and task.sandbox.type == "docker"
