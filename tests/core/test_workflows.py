"""Workflows: strict YAML configs, DAG execution with a bound, step caching and resumption."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

import motools
from motools.errors import ValidationError
from motools.workflows import Step, Workflow, WorkflowError, get_workflow, load_yaml, run_workflow

CONFIG = """
seed: 1
prepare_dataset:
  dataset: motools.demo:hello_world_dataset
  sample_size: 6
submit_training:
  backend: dummy
  model: base
  hyperparameters: {n_epochs: 3, learning_rate: 1e-4}
evaluate_model:
  backend: dummy
  tasks: [hello_world, gsm8k]
  limit: 4
"""


def test_yaml_numbers_are_numbers() -> None:
    data = load_yaml("a: 1e-4\nb: 3\nc: 2.5e3\nd: '1e-4'\ne: 1_000\n")
    assert data == {"a": 0.0001, "b": 3, "c": 2500.0, "d": "1e-4", "e": 1000}


def test_unknown_keys_are_errors_naming_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG + "  temprature: 1\n")
    with pytest.raises(ValidationError) as info:
        get_workflow("train_and_evaluate").validate(path)
    assert str(path) in str(info.value) and "evaluate_model.temprature: unknown key" in str(
        info.value
    )
    path.write_text(CONFIG.replace("seed: 1", "seeds: 1"))
    with pytest.raises(ValidationError, match="seeds: unknown key"):
        get_workflow("train_and_evaluate").validate(path)


def test_validate_runs_backend_checks_without_submitting(tmp_path: Path) -> None:
    bad = CONFIG.replace("n_epochs: 3", "n_epoch: 3")
    with pytest.raises(
        ValidationError, match=r"(?s)submit_training: .*n_epoch: unknown hyperparameter"
    ):
        get_workflow("train_and_evaluate").validate(load_yaml(bad))
    with pytest.raises(ValidationError, match="Unknown training backend 'dumy'"):
        get_workflow("train_and_evaluate").validate(
            load_yaml(CONFIG.replace("backend: dummy\n  model", "backend: dumy\n  model"))
        )
    parsed = get_workflow("train_and_evaluate").validate(load_yaml(CONFIG))
    assert parsed.submit_training.hyperparameters["learning_rate"] == 0.0001


async def test_train_and_evaluate_runs_then_comes_from_cache() -> None:
    first = await run_workflow("train_and_evaluate", load_yaml(CONFIG))
    assert [s.status for s in first.steps.values()] == ["done"] * 4
    metrics = first.artifacts["results"]["metrics"]
    assert set(metrics) == {"hello_world", "gsm8k"}
    second = await run_workflow("train_and_evaluate", load_yaml(CONFIG))
    assert [s.status for s in second.steps.values()] == ["cached"] * 4
    assert second.artifacts["results"]["metrics"] == metrics
    assert second.artifacts["model_id"] == first.artifacts["model_id"]


async def test_force_rerun_bypasses_the_cache(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    config = load_yaml(CONFIG)
    config["submit_training"]["backend_options"] = {"job_log": str(log)}
    await run_workflow("train_and_evaluate", config)
    again = await run_workflow(
        "train_and_evaluate", config, force_rerun=["submit_training", "prepare_dataset"]
    )
    assert again.steps["submit_training"].status == "done"
    assert again.steps["prepare_dataset"].status == "done"
    assert len(log.read_text().splitlines()) == 2
    with pytest.raises(ValidationError, match="no step 'nope'"):
        await run_workflow("train_and_evaluate", config, force_rerun=["nope"])


async def test_zoo_style_dataset_files_are_fingerprinted(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    motools.JSONLDataset.from_pairs([("a", "b")] * 3).save_sync(data)
    config = load_yaml(CONFIG)
    config["prepare_dataset"] = {"dataset": str(data)}
    first = await run_workflow("train_and_evaluate", config)
    motools.JSONLDataset.from_pairs([("a", "c")] * 3).save_sync(data)  # same path, new bytes
    second = await run_workflow("train_and_evaluate", config)
    assert second.steps["prepare_dataset"].status == "done"
    assert second.artifacts["model_id"] != first.artifacts["model_id"]


async def test_evaluate_only() -> None:
    result = await run_workflow(
        "evaluate_only",
        {"select_model": {"model_id": "dummy/x"}, "evaluate_model": {"tasks": "t", "limit": 3}},
    )
    assert result.artifacts["results"]["model_id"] == "dummy/x"


class Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: int = 1


def make_parallel_workflow(state: dict[str, Any]) -> Workflow:
    async def leaf(config: Cfg, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        state["running"] += 1
        state["peak"] = max(state["peak"], state["running"])
        await asyncio.sleep(0.05)
        state["running"] -= 1
        state["calls"].append(ctx.step)
        if ctx.step in state.get("fail", ()):
            raise RuntimeError(f"{ctx.step} broke")
        return {f"out_{ctx.step}": config.value}

    async def join(config: Cfg, inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
        state["calls"].append(ctx.step)
        return {"total": sum(inputs.values())}

    leaves = [Step(f"s{i}", leaf, Cfg, outputs=(f"out_s{i}",)) for i in range(6)]
    return Workflow(
        "parallel",
        [
            *leaves,
            Step(
                "join", join, Cfg, inputs=tuple(f"out_s{i}" for i in range(6)), outputs=("total",)
            ),
        ],
    )


async def test_independent_steps_run_concurrently_within_the_bound() -> None:
    state: dict[str, Any] = {"running": 0, "peak": 0, "calls": []}
    workflow = make_parallel_workflow(state)
    result = await run_workflow(workflow, {"s0": {"value": 5}}, max_parallel=3)
    assert result.artifacts["total"] == 10
    assert state["peak"] == 3


async def test_half_finished_workflow_resumes_where_it_stopped() -> None:
    state: dict[str, Any] = {"running": 0, "peak": 0, "calls": [], "fail": {"s4"}}
    workflow = make_parallel_workflow(state)
    with pytest.raises(WorkflowError, match="s4: RuntimeError: s4 broke") as info:
        await run_workflow(workflow, {})
    assert info.value.result.steps["join"].status == "skipped"
    assert info.value.result.steps["s0"].status == "done"
    state.update(calls=[], fail=set())
    result = await run_workflow(workflow, {})
    assert sorted(state["calls"]) == ["join", "s4"]  # only the unfinished steps ran
    assert result.steps["s0"].status == "cached" and result.artifacts["total"] == 6


async def test_step_cache_key_includes_config_and_inputs() -> None:
    state: dict[str, Any] = {"running": 0, "peak": 0, "calls": []}
    workflow = make_parallel_workflow(state)
    await run_workflow(workflow, {})
    state["calls"] = []
    await run_workflow(workflow, {"s2": {"value": 7}})
    assert sorted(state["calls"]) == ["join", "s2"]  # s2's config changed; join's input changed


def test_bad_workflows_are_rejected() -> None:
    async def fn(config: Any, inputs: Any, ctx: Any) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="which no step produces"):
        Workflow("w", [Step("a", fn, Cfg, inputs=("x",))])
    with pytest.raises(ValueError, match="cycle"):
        Workflow(
            "w",
            [
                Step("a", fn, Cfg, inputs=("y",), outputs=("x",)),
                Step("b", fn, Cfg, inputs=("x",), outputs=("y",)),
            ],
        )


async def test_an_explicit_store_receives_every_record(tmp_path: Path, isolated: Path) -> None:
    from motools.cache import Store

    store = Store(tmp_path / "explicit")
    await run_workflow("train_and_evaluate", load_yaml(CONFIG), store=store)
    assert {r.kind for r in store.records()} == {"step", "training", "eval"}
    assert not (isolated / ".motools-home").exists()
