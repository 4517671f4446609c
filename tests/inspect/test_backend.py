"""The inspect evaluation backend running real Inspect evaluations offline."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path
from typing import Any

import pytest

from motools.errors import EvaluationError, ValidationError
from motools.evals.base import EvalResults
from tests.inspect.conftest import replying

TASKS = "tests.inspect.sample_tasks"


async def test_multi_scorer_task_keeps_both_scorers(backend: Any) -> None:
    job = await backend.evaluate(
        "mockllm/model", f"{TASKS}:two_scorers", model_args=replying("yes, I think so")
    )
    results = await job.wait()
    scorers = results.metrics[f"{TASKS}:two_scorers"]
    # match() wants exactly "yes"; includes() finds "yes" in the reply: the values differ.
    assert scorers["match"]["accuracy"] == 0.0
    assert scorers["includes"]["accuracy"] == 1.0
    assert set(scorers["match"]) == {"accuracy", "stderr"}
    assert set(scorers["includes"]) == {"accuracy", "stderr"}


async def test_summary_has_a_row_per_task_scorer_metric_with_stderr(backend: Any) -> None:
    answers = iter(["yes", "no", "yes", "no"] * 2)
    job = await backend.evaluate(
        "mockllm/model", f"{TASKS}:two_scorers", model_args=replying(lambda _: next(answers))
    )
    results = await job.wait()
    frame = results.summary()
    assert list(frame.columns) == [
        "model_id", "task", "task_name", "scorer", "metric", "value", "stderr"
    ]  # fmt: skip
    assert set(frame["task"]) == {f"{TASKS}:two_scorers"}
    assert set(frame["task_name"]) == {"two_scorers"}  # Inspect's own name, as its own column
    assert sorted(frame["scorer"]) == ["includes", "match"]
    assert set(frame["metric"]) == {"accuracy"}
    assert all(frame["value"] == 0.5)
    # Inspect's stderr of four 0/1 scores with mean 0.5: sqrt(0.25 / 3)
    assert frame["stderr"].tolist() == pytest.approx([(0.25 / 3) ** 0.5] * 2)


async def test_dict_valued_scores_give_a_number_per_key(backend: Any) -> None:
    job = await backend.evaluate(
        "mockllm/model", f"{TASKS}:dict_scores", model_args=replying("yes")
    )
    record = (await job.wait()).samples[0]
    assert record["raw_scores"] == {"judge_like": {"alignment": 90, "coherence": "C"}}
    assert record["scores"] == {
        "judge_like": None,  # a dict is not a number...
        "judge_like/alignment": 90.0,  # ...but each of its entries is
        "judge_like/coherence": 1.0,  # (Inspect's value-to-float: "C" is 1)
    }


async def test_per_sample_records_and_log_path(backend: Any, isolated: Path) -> None:
    job = await backend.evaluate(
        "mockllm/model", f"{TASKS}:yes_task", task_args={"n": 3}, model_args=replying("yes")
    )
    results = await job.wait()
    assert [s["id"] for s in results.samples] == [1, 2, 3]
    first = results.samples[0]
    assert first["task"] == f"{TASKS}:yes_task"  # the reference as written
    assert first["input"] == "Is 0 a number? Say yes."
    assert first["target"] == "yes"
    assert first["output"] == "yes"
    assert first["scores"] == {"match": 1.0}  # numeric, Inspect's value-to-float
    assert first["raw_scores"] == {"match": "C"}  # the value as scored
    assert first["epoch"] == 1

    assert results.task_names == {f"{TASKS}:yes_task": "yes_task"}
    log = Path(results.log_paths[f"{TASKS}:yes_task"])
    assert log.suffix == ".eval" and log.is_file()
    # Logs live under MOTOOLS_HOME, never in the working directory's ./logs.
    assert log.is_relative_to(isolated / ".motools-home" / "inspect-logs")
    assert not (isolated / "logs").exists()
    from inspect_ai.log import read_eval_log

    assert read_eval_log(str(log)).eval.task == "yes_task"


async def test_save_load_round_trip(backend: Any, tmp_path: Path) -> None:
    job = await backend.evaluate(
        "mockllm/model", f"{TASKS}:two_scorers", model_args=replying("yes")
    )
    results = await job.wait()
    path = await results.save(tmp_path / "results.json")
    loaded = await EvalResults.load(path)
    assert loaded.metrics == results.metrics
    assert loaded.samples == results.samples
    assert loaded.log_paths == results.log_paths
    assert loaded.metadata == results.metadata
    assert loaded.summary().equals(results.summary())


async def test_failing_task_raises_with_inspects_message(backend: Any) -> None:
    job = await backend.evaluate("mockllm/model", f"{TASKS}:failing_task", model_args=replying("x"))
    with pytest.raises(EvaluationError, match="the solver exploded on purpose") as info:
        await job.wait()
    assert "failing_task" in str(info.value)
    assert "status 'error'" in str(info.value)
    assert job.status == "failed"


async def test_two_concurrent_evaluations_both_succeed(backend: Any) -> None:
    # Same run options: they share one Inspect run.
    one = await backend.evaluate("mockllm/model", f"{TASKS}:yes_task", model_args=replying("yes"))
    two = await backend.evaluate("dummy/other", f"{TASKS}:two_scorers")
    first, second = await asyncio.gather(one.wait(), two.wait())
    assert first.model_id == "mockllm/model"
    assert first.metrics[f"{TASKS}:yes_task"]["match"]["accuracy"] == 1.0
    assert second.model_id == "dummy/other"
    assert set(second.metrics[f"{TASKS}:two_scorers"]) == {"match", "includes"}
    assert second.metadata["tasks"][f"{TASKS}:two_scorers"]["inspect_model"] == "dummy/other"
    assert first.log_paths[f"{TASKS}:yes_task"] != second.log_paths[f"{TASKS}:two_scorers"]


async def test_evaluations_started_together_share_one_inspect_run(backend: Any) -> None:
    jobs = [await backend.evaluate(f"dummy/model-{i}", f"{TASKS}:yes_task") for i in range(4)]
    results = await asyncio.gather(*(job.wait() for job in jobs))
    runs = {r.metadata["tasks"][f"{TASKS}:yes_task"]["inspect_run_id"] for r in results}
    assert len(runs) == 1
    assert [r.metadata["tasks"][f"{TASKS}:yes_task"]["inspect_model"] for r in results] == [
        f"dummy/model-{i}" for i in range(4)
    ]


async def test_concurrent_evaluations_with_different_options_queue(backend: Any) -> None:
    # Different limits cannot share an Inspect run: the second waits for the first.
    jobs = [
        await backend.evaluate(
            "mockllm/model", f"{TASKS}:yes_task", limit=limit, model_args=replying("yes")
        )
        for limit in (1, 2, 3)
    ]
    results = await asyncio.gather(*(job.wait() for job in jobs))
    assert [len(r.samples) for r in results] == [1, 2, 3]
    runs = {r.metadata["tasks"][f"{TASKS}:yes_task"]["inspect_run_id"] for r in results}
    assert len(runs) == 3


async def test_one_failing_evaluation_does_not_fail_its_neighbour(backend: Any) -> None:
    good = await backend.evaluate("mockllm/model", f"{TASKS}:yes_task", model_args=replying("yes"))
    bad = await backend.evaluate("mockllm/model", f"{TASKS}:failing_task", model_args=replying("x"))
    good_result, bad_result = await asyncio.gather(good.wait(), bad.wait(), return_exceptions=True)
    assert isinstance(good_result, EvalResults)
    assert isinstance(bad_result, EvaluationError)


async def test_options_reach_inspect(backend: Any, tmp_path: Path) -> None:
    seen: list[Any] = []

    def outputs(input: Any, tools: Any, tool_choice: Any, config: Any) -> Any:
        from tests.inspect.conftest import reply

        seen.append(config)
        return reply("yes")

    job = await backend.evaluate(
        "mockllm/model",
        f"{TASKS}:yes_task",
        task_args={"n": 5},
        limit=2,
        epochs=3,
        temperature=0.25,
        max_tokens=17,
        seed=7,
        max_connections=2,
        top_p=0.5,  # any other GenerateConfig field
        fail_on_error=0.5,  # any other eval_async option
        log_dir=tmp_path / "logs",
        model_args={"custom_outputs": outputs},
    )
    results = await job.wait()
    assert len(results.samples) == 2 * 3
    assert {(s["id"], s["epoch"]) for s in results.samples} == {
        (i, e) for i in (1, 2) for e in (1, 2, 3)
    }
    assert {(c.temperature, c.max_tokens, c.seed, c.top_p) for c in seen} == {(0.25, 17, 7, 0.5)}
    log_path = Path(results.log_paths[f"{TASKS}:yes_task"])
    assert log_path.parent == (tmp_path / "logs").resolve()
    from inspect_ai.log import read_eval_log

    log = read_eval_log(str(log_path))
    assert log.eval.config.limit == 2
    assert log.eval.config.epochs == 3
    assert log.eval.config.fail_on_error == 0.5
    assert log.eval.task_args["n"] == 5
    assert log.plan.config.max_connections == 2


async def test_unknown_option_is_rejected_before_running(backend: Any) -> None:
    with pytest.raises(ValidationError, match="unknown option 'temprature'"):
        await backend.evaluate("mockllm/model", f"{TASKS}:yes_task", temprature=0.1)
    with pytest.raises(ValidationError, match="limit must be a positive integer"):
        await backend.evaluate("mockllm/model", f"{TASKS}:yes_task", limit=0)


async def test_dummy_model_is_deterministic_and_free(backend: Any) -> None:
    runs = []
    for _ in range(2):
        job = await backend.evaluate("dummy/model@abc", f"{TASKS}:yes_task")
        runs.append(await job.wait())
    assert [s["output"] for s in runs[0].samples] == [s["output"] for s in runs[1].samples]
    assert runs[0].metrics == runs[1].metrics
    other = await (await backend.evaluate("dummy/model@xyz", f"{TASKS}:yes_task")).wait()
    assert [s["output"] for s in other.samples] != [s["output"] for s in runs[0].samples]
    usage = runs[0].metadata["tasks"][f"{TASKS}:yes_task"]["model_usage"]["dummy/model@abc"]
    assert usage["output_tokens"] > 0


async def test_dummy_model_fixed_reply(backend: Any) -> None:
    job = await backend.evaluate("dummy/model", f"{TASKS}:yes_task", model_args={"reply": "yes"})
    results = await job.wait()
    assert results.metrics[f"{TASKS}:yes_task"]["match"]["accuracy"] == 1.0


async def test_openai_provider_against_the_local_fake(
    backend: Any, openai_fake: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    openai_fake.script_chat("gpt-4o-mini", lambda body: "yes" if "Say yes" in str(body) else "no")
    job = await backend.evaluate(
        "openai/gpt-4o-mini",
        f"{TASKS}:two_scorers",
        model_base_url=openai_fake.base_url,
        temperature=0.0,
        max_tokens=5,
    )
    results = await job.wait()
    assert results.metrics[f"{TASKS}:two_scorers"]["match"]["accuracy"] == 1.0
    chats = openai_fake.requests_to("POST", "/v1/chat/completions")
    assert len(chats) == 4
    body = chats[0].body
    assert body["model"] == "gpt-4o-mini"
    assert body["temperature"] == 0.0
    assert body.get("max_tokens", body.get("max_completion_tokens")) == 5

    # The API key never lands in results, their file, their repr, or Inspect's log.
    saved = (await results.save(tmp_path / "r.json")).read_text()
    assert openai_fake.api_key not in saved
    assert openai_fake.api_key not in repr(results) + repr(job)
    with zipfile.ZipFile(results.log_paths[f"{TASKS}:two_scorers"]) as archive:
        for name in archive.namelist():
            assert openai_fake.api_key.encode() not in archive.read(name)


async def test_api_key_in_model_args_stays_out_of_metadata_and_log(
    backend: Any, openai_fake: Any, tmp_path: Path
) -> None:
    job = await backend.evaluate(
        "openai/gpt-4o-mini",
        f"{TASKS}:yes_task",
        model_base_url=openai_fake.base_url,
        model_args={"api_key": openai_fake.api_key},
    )
    results = await job.wait()
    assert "api_key" not in results.metadata["model_args"]
    saved = (await results.save(tmp_path / "r.json")).read_text()
    assert openai_fake.api_key not in saved
    with zipfile.ZipFile(results.log_paths[f"{TASKS}:yes_task"]) as archive:
        for name in archive.namelist():
            assert openai_fake.api_key.encode() not in archive.read(name)


async def test_evaluate_calls_themselves_concurrent(backend: Any) -> None:
    jobs = await asyncio.gather(
        backend.evaluate("dummy/a", f"{TASKS}:yes_task"),
        backend.evaluate("dummy/b", f"{TASKS}:two_scorers"),
    )
    first, second = await asyncio.gather(*(job.wait() for job in jobs))
    assert (first.model_id, second.model_id) == ("dummy/a", "dummy/b")
    assert list(first.metrics) == [f"{TASKS}:yes_task"] and list(second.metrics) == [
        f"{TASKS}:two_scorers"
    ]


async def test_invalid_inspect_hook_variable_is_reported(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSPECT_TELEMETRY", "0")
    with pytest.raises(ValidationError, match=r"INSPECT_TELEMETRY='0' is not a 'module\.function'"):
        await backend.evaluate("dummy/a", f"{TASKS}:yes_task")


async def test_sample_records_match_the_log_file(backend: Any) -> None:
    # Records are collected while Inspect runs; they must equal what the .eval log holds.
    from inspect_ai.log import read_eval_log

    from motools_inspect.results import sample_records

    answers = iter(["yes", "no"] * 6)
    job = await backend.evaluate(
        "mockllm/model",
        f"{TASKS}:two_scorers",
        epochs=2,
        limit=3,
        model_args=replying(lambda _: next(answers)),
    )
    results = await job.wait()
    log = read_eval_log(results.log_paths[f"{TASKS}:two_scorers"])
    assert results.samples == sample_records(log, f"{TASKS}:two_scorers")
    assert len(results.samples) == 6


async def test_an_inspect_run_that_raises_fails_its_jobs_and_frees_the_runner(
    backend: Any,
) -> None:
    job = await backend.evaluate("dummy/a", f"{TASKS}:yes_task", limit=1, sample_id=1)
    with pytest.raises(EvaluationError, match="cannot specify both sample_id and limit"):
        await job.wait()
    after = await backend.evaluate("dummy/a", f"{TASKS}:yes_task", sample_id=[1, 2])
    assert [s["id"] for s in (await after.wait()).samples] == [1, 2]


async def test_fine_tuned_openai_id_reaches_chat_completions(
    backend: Any, openai_fake: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("motools_openai")  # routes ft: ids (tested alone, this plugin does not)
    model_id = "ft:gpt-4o-mini-2024-07-18:motools-fake::abc123"
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    openai_fake.script_chat(model_id, ["yes"])
    job = await backend.evaluate(model_id, f"{TASKS}:yes_task", model_base_url=openai_fake.base_url)
    results = await job.wait()
    assert results.model_id == model_id
    assert results.metrics[f"{TASKS}:yes_task"]["match"]["accuracy"] == 1.0
    assert results.metadata["inspect_model"] == f"openai/{model_id}"
    assert {e.path for e in openai_fake.exchanges} == {"/v1/chat/completions"}
    assert {e.body["model"] for e in openai_fake.exchanges} == {model_id}


async def test_cached_evaluation_of_a_benchmark_is_reused(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import motools

    monkeypatch.setenv("MOTOOLS_DATA_MIRROR", str(shared_data))
    backend = motools.get_eval_backend("inspect", cache=True)
    options = {"limit": 2, "task_args": {"fewshot": 0}}
    first = await (await backend.evaluate("dummy/m", "gsm8k", **options)).wait()
    again = await backend.evaluate("dummy/m", "gsm8k", **options)
    assert again.from_cache is True
    assert (await again.wait()).metrics == first.metrics
    other = await backend.evaluate("dummy/m", "gsm8k", limit=3, task_args={"fewshot": 0})
    assert other.from_cache is False
    await other.wait()

    from importlib.metadata import version

    identity = backend.task_identity("gsm8k")
    assert identity == {
        "name": "gsm8k",
        "inspect_task": "inspect_evals/gsm8k",
        "package": "inspect_evals",
        "version": version("inspect-evals"),
    }
    assert backend.task_identity(f"{TASKS}:yes_task") is None  # motools' default applies
