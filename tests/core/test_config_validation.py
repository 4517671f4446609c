"""What is checked before anything is paid for (issue 12, items 9-11).

``workflow validate`` checks everything ``workflow run`` needs; backend constructor options
are checked against the backend (workflow configs, sweeps, ``train --backend-option`` and
the Python API share one check); YAML that expands without bound is refused; sweep limits
and quotas are checked; the contract objects refuse malformed input on construction.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import motools
from motools.api import Composer
from motools.cli.main import main
from motools.errors import EvaluationError, ValidationError
from motools.evals import EvalResults
from motools.experiments import SweepSpec, run_sweep
from motools.experiments.spec import expand
from motools.workflows import get_workflow, run_workflow

SAMPLE = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}


def config_text(
    dataset: str = "'motools.demo:hello_world_dataset'",
    prepare: str = "",
    training: str = "",
    evaluation: str = "tasks: [t]",
) -> str:
    return (
        f"prepare_dataset: {{dataset: {dataset}{', ' + prepare if prepare else ''}}}\n"
        f"submit_training: {{backend: dummy, model: base{', ' + training if training else ''}}}\n"
        f"evaluate_model: {{backend: dummy, {evaluation}}}\n"
    )


def validate(
    capsys: pytest.CaptureFixture[str], path: Path, workflow: str = "train_and_evaluate"
) -> tuple[int, str]:
    code = main(["workflow", "validate", workflow, "--config", str(path)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


# -- item 9: workflow validate checks what workflow run needs ------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (config_text(dataset="''"), "prepare_dataset.dataset: dataset is empty"),
        (config_text(dataset="'123invalid:function'"), "'123invalid' is not a module path"),
        (config_text(dataset="'motools:123invalid'"), "'123invalid' is not a Python name"),
        (config_text(dataset="'motools.demo:no_such_loader'"), "has no attribute"),
        (config_text(dataset="nosuch_dataset_name"), "Unknown dataset 'nosuch_dataset_name'"),
        (config_text(dataset="missing.jsonl"), "missing.jsonl: no such file"),
        (config_text(evaluation="tasks: []"), "evaluate_model.tasks: List should have at least 1"),
        (config_text(evaluation="tasks: ['123invalid:f']"), "is not a module path"),
        (config_text(training="backend_options: {duraton: 5}"), "Did you mean 'duration'?"),
        (config_text(training="backend_options: {duration: abc}"), "duration='abc'"),
        (config_text(evaluation="tasks: [t], backend_options: {sample: 3}"),
         "Did you mean 'samples'?"),
        (config_text(prepare="loader_kwargs: {sample_size: 3}"),
         "'sample_size' is set by the step, not through loader_kwargs; use "
         "prepare_dataset.sample_size"),
        (config_text(prepare="loader_kwargs: {seed: 3}"), "use the top-level seed"),
        (config_text(prepare="loader_kwargs: {nn: 3}"), "takes no such argument. Did you mean 'n'?"),
        (config_text(dataset="data.jsonl", prepare="loader_kwargs: {n: 3}"),
         "apply to a loader function"),
        (config_text(dataset="empty.jsonl"), "empty.jsonl: the file has no samples"),
        (config_text(dataset="bad.jsonl"), "line 1, messages[0].role: last message must be"),
    ],
)  # fmt: skip
def test_workflow_validate_refuses_what_run_would_fail_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    (tmp_path / "data.jsonl").write_text(json.dumps(SAMPLE) + "\n")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"messages": [{"role": "user", "content": "a"}]}\n')
    path = tmp_path / "config.yaml"
    path.write_text(text)
    code, err = validate(capsys, path)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"motools: error: {path}: "), err
    assert expected in lines[0]
    # The Python API refuses the same config, before any job.
    with pytest.raises(ValidationError, match="invalid workflow config"):
        get_workflow("train_and_evaluate").validate(path)


def test_a_missing_config_file_says_no_such_file(tmp_path: Path) -> None:
    workflow = get_workflow("train_and_evaluate")
    with pytest.raises(ValidationError, match=r"nope\.yaml: no such file") as info:
        workflow.validate(str(tmp_path / "nope.yaml"))
    assert "mapping" not in str(info.value)
    with pytest.raises(ValidationError, match="is a directory"):
        workflow.validate(tmp_path / "")


async def test_relative_paths_in_a_config_resolve_against_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "project" / "configs"
    folder.mkdir(parents=True)
    (folder / "data.jsonl").write_text((json.dumps(SAMPLE) + "\n") * 3)
    (folder / "tasks.py").write_text("def my_task():\n    return None\n")
    config = folder / "config.yaml"
    config.write_text(config_text(dataset="data.jsonl", evaluation="tasks: ['tasks.py@my_task']"))
    # The working directory (the test's own) has neither file.
    assert not Path("data.jsonl").exists()
    assert (
        main(["workflow", "validate", "train_and_evaluate", "--config", str(config), "--json"]) == 0
    )
    parsed = json.loads(capsys.readouterr().out)["config"]
    assert parsed["prepare_dataset"]["dataset"] == str(folder / "data.jsonl")
    assert parsed["evaluate_model"]["tasks"] == [f"{folder / 'tasks.py'}@my_task"]
    result = await run_workflow("train_and_evaluate", config)
    assert result.ok and result.artifacts["dataset"]["rows"] == 3


# -- backend options: one check, everywhere -------------------------------------------------


async def test_backend_options_are_checked_against_the_constructor_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(SAMPLE) + "\n")
    # The composer (what workflow steps, sweeps and the CLI use).
    accepted = r"'duraton' is not accepted by the dummy training backend\. Did you mean 'duration'"
    with pytest.raises(ValidationError, match=accepted):
        Composer().training_backend("dummy", {"duraton": 5})
    with pytest.raises(ValidationError, match=r"duration='abc' .*valid number.*expected float"):
        Composer().training_backend("dummy", {"duration": "abc"})
    with pytest.raises(ValidationError, match=r"fail='maybe'.*expected bool"):
        Composer().training_backend("dummy", {"fail": "maybe"})
    assert Composer().training_backend("dummy", {"duration": "0.5"}) is not None  # "0.5" is fine
    # The Python API.
    with pytest.raises(ValidationError, match="Did you mean 'duration'"):
        await motools.train(data, "base", backend="dummy", backend_options={"duraton": 5})
    with pytest.raises(ValidationError, match="Did you mean 'samples'"):
        await motools.evaluate("dummy/x", ["t"], backend="dummy", backend_options={"sample": 5})
    # train --backend-option.
    argv = ["train", "--backend", "dummy", "--model", "b", "--dataset", str(data)]
    assert main([*argv, "--backend-option", "duraton=5"]) == 1
    assert "Did you mean 'duration'?" in capsys.readouterr().err
    # A sweep, at validation (dry run), before any member runs.
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "workflow: train_and_evaluate\nbase_config:\n"
        + "".join("  " + line + "\n" for line in config_text().splitlines())
        + "grid:\n  submit_training.backend_options.duraton: [1, 2]\n"
    )
    assert main(["sweep", "run", str(sweep), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "Did you mean 'duration'?" in err and len(err.splitlines()) == 1


def test_secret_options_are_never_echoed() -> None:
    from motools.api import check_backend_options

    def factory(api_key: int = 0) -> None: ...

    with pytest.raises(ValidationError) as info:
        check_backend_options(factory, {"api_key": "sk-very-secret"}, backend="acme")
    assert "sk-very-secret" not in str(info.value) and "api_key=***" in str(info.value)


# -- item 11: no silent hang, no unbounded input -------------------------------------------


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("where", ["top", "options"])
def test_a_yaml_alias_bomb_is_refused_with_a_short_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    path = tmp_path / "bomb.yaml"
    if where == "top":
        path.write_text(_alias_bomb() + config_text())
    else:  # all inside evaluate_model.options, which takes any mapping
        options = "".join("    " + line + "\n" for line in _alias_bomb().splitlines())
        path.write_text(
            config_text().rsplit("evaluate_model", 1)[0]
            + "evaluate_model:\n  backend: dummy\n  tasks: [t]\n  options:\n"
            + options
        )
    code, err = validate(capsys, path)
    assert code == 1
    assert len(err) < 600 and len(err.splitlines()) == 1
    assert "expands to more than" in err and str(path) in err


def test_a_recursive_alias_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("a: &a [*a]\n")
    code, err = validate(capsys, path)
    assert code == 1 and "refers to itself" in err


def test_a_shared_structure_passed_from_python_is_bounded_too() -> None:
    block: Any = ["x" * 10] * 10
    for _ in range(8):
        block = [block] * 10
    config = {
        "prepare_dataset": {"dataset": "motools.demo:hello_world_dataset"},
        "submit_training": {"model": "m"},
        "evaluate_model": {"tasks": ["t"], "options": {"x": block}},
    }
    with pytest.raises(ValidationError, match="expands to more than"):
        get_workflow("train_and_evaluate").validate(config)


def test_a_sweep_of_shared_structures_is_bounded_before_any_member_is_built() -> None:
    from motools.experiments import SweepSpec
    from motools.experiments.spec import expand

    block: Any = ["x" * 10] * 10
    for _ in range(8):
        block = [block] * 10
    spec = SweepSpec.parse(
        {
            "base_config": {
                "prepare_dataset": {"dataset": "motools.demo:hello_world_dataset"},
                "submit_training": {"backend": "dummy", "model": "m"},
                "evaluate_model": {"backend": "dummy", "tasks": ["t"]},
            },
            "grid": {"evaluate_model.options.x": [block], "seed": [0, 1]},
        }
    )
    with pytest.raises(ValidationError, match="expands to more than"):
        expand(spec)


def test_invalid_yaml_names_the_line_and_never_echoes_much(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("prepare_dataset: {dataset: " + "x" * 5000 + "\nsubmit_training: [\n")
    code, err = validate(capsys, path)
    assert code == 1 and len(err) < 600
    assert f"{path}: line " in err and "invalid YAML" in err


def test_a_huge_value_is_never_echoed_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(config_text(prepare="sample_size: '" + "9" * 100_000 + "x'"))
    code, err = validate(capsys, path)
    assert code == 1 and len(err) < 600 and "prepare_dataset.sample_size" in err


def _sweep_yaml(extra: str = "") -> str:
    return (
        "name: limits\nworkflow: train_and_evaluate\nbase_config:\n"
        + "".join("  " + line + "\n" for line in config_text().splitlines())
        + "grid:\n  seed: [0, 1]\n"
        + extra
    )


async def test_max_parallel_zero_is_refused_not_a_hang(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(_sweep_yaml())
    assert main(["sweep", "run", str(sweep), "--max-parallel", "0"]) == 2
    err = capsys.readouterr().err
    assert "argument --max-parallel: must be at least 1, got 0" in err
    sweep.write_text(_sweep_yaml("max_parallel: 0\n"))
    assert main(["sweep", "run", str(sweep)]) == 1
    assert "max_parallel: Input should be greater than or equal to 1" in capsys.readouterr().err
    # The Python API, where an override bypasses the file's validation: refused, not a hang
    # (wait_for only turns a regression into a failure instead of a stuck suite).
    sweep.write_text(_sweep_yaml())
    spec = SweepSpec.from_yaml(sweep)
    with pytest.raises(
        ValidationError, match=r"max_parallel \(--max-parallel\) must be at least 1"
    ):
        await asyncio.wait_for(run_sweep(spec, max_parallel=0), timeout=60)


def test_quota_names_must_be_training_backends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(_sweep_yaml("quotas: {dumy: 1}\n"))
    assert main(["sweep", "run", str(sweep), "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "quotas.dumy: no training backend is called 'dumy'. Did you mean 'dummy'?" in err
    with pytest.raises(ValidationError, match="Did you mean 'dummy'"):
        expand(SweepSpec.from_yaml(sweep))
    sweep.write_text(_sweep_yaml("quotas: {dummy: 1}\n"))
    assert main(["sweep", "run", str(sweep), "--dry-run"]) == 0


def test_sweep_base_config_paths_resolve_against_the_sweep_file(tmp_path: Path) -> None:
    folder = tmp_path / "experiment"
    folder.mkdir()
    (folder / "data.jsonl").write_text(json.dumps(SAMPLE) + "\n")
    sweep = folder / "sweep.yaml"
    sweep.write_text(_sweep_yaml().replace("'motools.demo:hello_world_dataset'", "data.jsonl"))
    members = expand(SweepSpec.from_yaml(sweep))
    assert {m.config["prepare_dataset"]["dataset"] for m in members} == {str(folder / "data.jsonl")}


# -- item 10: small things that failed late -------------------------------------------------


def test_an_empty_dataset_fails_validate_as_it_fails_train(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert main(["dataset", "validate", str(empty)]) == 1
    out = capsys.readouterr().out
    assert "the file has no samples" in out and "OK" not in out
    assert main(["dataset", "validate", str(empty), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False
    assert main(["train", "--backend", "dummy", "--model", "b", "--dataset", str(empty)]) == 1
    assert "the dataset is empty" in capsys.readouterr().err


def test_eval_results_refuse_flat_metrics_on_construction() -> None:
    with pytest.raises(EvaluationError, match=r"metrics\['t'\]\['accuracy'\] is float"):
        EvalResults("m", {"t": {"accuracy": 0.5}})  # type: ignore[dict-item]
    with pytest.raises(EvaluationError, match="must map scorer names"):
        EvalResults("m", {"t": 0.5})  # type: ignore[dict-item]
    ok = EvalResults("m", {"t": {"match": {"accuracy": 0.5}}})
    assert ok.summary_rows()[0]["value"] == 0.5


async def test_train_with_a_path_loads_it(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(SAMPLE) + "\n")
    run = await motools.train(str(data), "base", backend="dummy")
    assert (await run.wait()).startswith("dummy/")
    again = await motools.train(data, "base", backend="dummy")  # a Path works too
    assert again.from_cache
    with pytest.raises(ValidationError, match="does not exist"):
        await motools.train(str(tmp_path / "missing.jsonl"), "base", backend="dummy")
    cached = motools.get_training_backend("dummy", cache=True)
    with pytest.raises(TypeError, match=r"must be a motools\.datasets\.JSONLDataset, not str"):
        await cached.train(str(data), "base")
