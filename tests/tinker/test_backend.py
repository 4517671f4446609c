"""The training loop against the in-process fake service: batches, epochs, loss curve,
checkpoints, pipelining, resume after a crash, retries, cancel and error paths."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import motools
from motools.datasets import JSONLDataset
from motools.datasets.jsonl import DatasetValidationError
from motools.errors import HyperparameterError, TrainingError, ValidationError
from motools.training import CANCELLED, FAILED, RUNNING, SUCCEEDED
from motools_tinker import TinkerTrainingBackend, TinkerTrainingRun
from motools_tinker.plan import Plan
from tests.fakes.tinker_client import FakeService
from tests.fakes.tinker_world import Fault
from tests.tinker.conftest import BASE, make_dataset, planned_lineage


async def until(predicate: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.001)


def sampler_path(run: TinkerTrainingRun) -> str:
    assert run.model_id is not None
    return run.model_id.split("@", 1)[1]


# -- registration --------------------------------------------------------------------------
def test_found_by_name_and_alias() -> None:
    backend = motools.get_training_backend("tinker", check_models=False)
    assert isinstance(backend, TinkerTrainingBackend)
    from motools.training.backends.tinker import TinkerTrainingBackend as Alias
    from motools.training.backends.tinker import TinkerTrainingRun as RunAlias

    assert Alias is TinkerTrainingBackend and RunAlias is TinkerTrainingRun


def test_routes_tinker_ids_to_the_inspect_provider() -> None:
    from motools.plugins import route_model

    model_id = f"tinker/{BASE}@tinker://run-1/sampler_weights/final"
    assert route_model(model_id, "inspect").model == model_id
    from motools_tinker.plugin import route_model as hook

    assert hook("ft:gpt-4o:x", "inspect") is None
    assert hook(model_id, "dummy") is None


# -- validation ----------------------------------------------------------------------------
def test_hyperparameters_are_normalised_and_checked(make_backend: Any) -> None:
    backend = make_backend()
    hp = backend.normalize_hyperparameters({"n_epochs": 3.0, "learning_rate": 2e-4})
    assert hp["n_epochs"] == 3 and isinstance(hp["n_epochs"], int)
    assert hp["lora_rank"] == 32 and hp["batch_size"] == 8 and hp["train_on"] == "all_assistant"
    with pytest.raises(HyperparameterError) as info:
        backend.normalize_hyperparameters({"n_epochs": 0, "lora_rnak": 8, "batch_size": "big"})
    text = str(info.value)
    assert "n_epochs" in text and "lora_rnak" in text and "batch_size" in text
    with pytest.raises(HyperparameterError, match="learning_rate"):
        backend.normalize_hyperparameters({"learning_rate": -1})
    with pytest.raises(HyperparameterError, match="n_epochs"):
        backend.normalize_hyperparameters({"n_epochs": True})


async def test_bad_dataset_fails_before_any_service_call(
    make_backend: Any, service: FakeService
) -> None:
    bad = JSONLDataset(
        [
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "yo"},
                ]
            },
            {"messages": [{"role": "user", "content": "no answer"}]},
        ],
        source="train.jsonl",
        purpose=None,  # unchecked here, so that the backend's own check is what fails
    )
    with pytest.raises(DatasetValidationError) as info:
        await make_backend().train(bad, BASE)
    assert "train.jsonl" in str(info.value)
    assert [(p.line, p.field) for p in info.value.problems] == [(2, "messages[0].role")]
    assert service.world.calls == {}


async def test_too_long_example_rejected_with_its_line(
    make_backend: Any, service: FakeService
) -> None:
    data = make_dataset(3)
    with pytest.raises(DatasetValidationError) as info:
        await make_backend().train(data, BASE, {"max_length": 5})
    assert [p.line for p in info.value.problems] == [1, 2, 3]
    assert "create_model" not in service.world.calls


async def test_unknown_and_untrainable_models_are_refused(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    with pytest.raises(ValidationError, match=r"Did you mean 'meta-llama/Llama-3\.1-8B'"):
        await make_backend().train(dataset, "meta-llama/Llama-3.1-8b")
    with pytest.raises(ValidationError, match="not trained"):
        await make_backend().train(dataset, "Qwen/Qwen3-235B-Instruct")
    assert "create_model" not in service.world.calls


async def test_unreachable_capability_list_does_not_block(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    service.unreachable = True
    run = await make_backend().train(dataset, BASE, {"batch_size": 5})
    assert (await run.wait()).startswith(f"tinker/{BASE}@tinker://")


async def test_unknown_train_option(make_backend: Any, dataset: JSONLDataset) -> None:
    with pytest.raises(ValidationError, match="unknown train"):
        await make_backend().train(dataset, BASE, checkpoint_evry=3)


# -- the loop ------------------------------------------------------------------------------
async def test_batches_epochs_and_loss_curve(
    make_backend: Any, dataset: JSONLDataset, tokenizer: Any, service: FakeService
) -> None:
    hp = {"batch_size": 4, "n_epochs": 2, "seed": 7}
    run = await make_backend().train(dataset, BASE, hp)
    assert run.status == RUNNING
    model_id = await run.wait()
    assert run.status == SUCCEEDED and model_id == run.model_id
    assert model_id.startswith(f"tinker/{BASE}@tinker://") and "/sampler_weights/" in model_id

    lineage = service.world.lineage(sampler_path(run))
    assert lineage == planned_lineage(dataset, tokenizer, hp)
    assert [len(b) for b in lineage] == [4, 4, 2, 4, 4, 2]
    # each epoch visits every example once, in a different order
    first = [f for batch in lineage[:3] for f in batch]
    second = [f for batch in lineage[3:] for f in batch]
    assert sorted(first) == sorted(second) and len(set(first)) == 10 and first != second

    curve = run.metrics["loss_curve"]
    assert [e["step"] for e in curve] == list(range(6))
    assert [e["epoch"] for e in curve] == [0, 0, 0, 1, 1, 1]
    losses = [e["loss"] for e in curve]
    # fake logprob is -1/(1 + 0.1 * steps taken): the loss must be exactly that
    assert losses == pytest.approx([1 / (1 + 0.1 * s) for s in range(6)], rel=1e-6)
    assert run.metrics["final_loss"] == pytest.approx(losses[-1])
    assert service.world.optimizer_steps == 6


async def test_same_seed_same_order_other_seed_other_order(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    paths = []
    for seed in (1, 1, 2):
        run = await make_backend().train(dataset, BASE, {"batch_size": 4, "seed": seed})
        await run.wait()
        paths.append(service.world.lineage(sampler_path(run)))
    assert paths[0] == paths[1] != paths[2]


async def test_learning_rate_warmup_and_linear_decay(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    hp = {"batch_size": 2, "learning_rate": 1e-3, "warmup_steps": 2, "lr_schedule": "linear"}
    run = await make_backend().train(dataset, BASE, hp)
    await run.wait()
    lrs = [p.learning_rate for p in service.adam_params]
    assert lrs == pytest.approx([5e-4, 1e-3, 1e-3, 2e-3 / 3, 1e-3 / 3])
    assert [e["learning_rate"] for e in run.metrics["loss_curve"]] == pytest.approx(lrs)


async def test_checkpoint_cadence_and_state_file(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    backend = make_backend(checkpoint_every=2, checkpoint_ttl_seconds=7200)
    run = await backend.train(dataset, BASE, {"batch_size": 2, "seed": 3})
    await run.wait()
    # 5 steps: checkpoints after steps 2 and 4, none at the very end (sampler weights instead)
    assert service.world.calls["save_state"] == 2
    assert service.ttls == [7200, 7200]
    saved = json.loads(run.state_path.read_text())
    home = Path.cwd() / ".motools-home" / "runs" / run.job_id
    assert run.state_path == (home / "state.json").resolve()
    assert saved["status"] == SUCCEEDED and saved["model_id"] == run.model_id
    assert saved["checkpoint"]["step"] == 4 and saved["checkpoint"]["epoch"] == 0
    assert saved["checkpoint"]["path"].endswith(f"{run.job_id}-step000004")
    assert saved["checkpoint"]["expires_at"] > saved["checkpoint"]["saved_at"]
    assert saved["data_order_seed"] == 3 and saved["total_steps"] == 5
    assert len(saved["loss_curve"]) == 5
    assert (
        service.world.lineage(saved["checkpoint"]["path"])
        == service.world.lineage(sampler_path(run))[:4]
    )


async def test_state_path_option(make_backend: Any, dataset: JSONLDataset, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "run.json"
    run = await make_backend().train(dataset, BASE, {"batch_size": 5}, state_path=target)
    await run.wait()
    assert json.loads(target.read_text())["job_id"] == run.job_id


async def test_pipelined_loop_submits_ahead(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    """With the 2nd optimizer step unanswered, the pipelined loop has already submitted the
    3rd step; the sequential loop is stuck waiting before it."""
    counts = {}
    for pipeline in (True, False):
        svc = FakeService()
        svc.hold_optim_after(1)
        run = await make_backend(service=svc, pipeline=pipeline).train(
            dataset, BASE, {"batch_size": 2}
        )
        await until(lambda svc=svc: svc.held)
        await asyncio.sleep(0.01)
        counts[pipeline] = svc.submitted.count("optim_step")
        await run.detach()
    assert counts == {True: 3, False: 2}


async def test_resume_after_crash_continues_at_the_exact_batch(
    make_backend: Any, dataset: JSONLDataset, tokenizer: Any, world: Any
) -> None:
    hp = {"batch_size": 2, "n_epochs": 2, "seed": 5}
    first = FakeService(world)
    first.hold_optim_after(7)  # the "process" hangs in step 8, after the checkpoint at 6
    run = await make_backend(service=first, checkpoint_every=3).train(dataset, BASE, hp)
    await until(lambda: first.held)
    await run.detach()  # the process dies: nothing more is recorded
    state = json.loads(run.state_path.read_text())
    assert state["status"] == RUNNING and state["checkpoint"]["step"] == 6
    assert world.optimizer_steps > 6  # work after the checkpoint is lost...

    second = FakeService(world)
    resumed = await make_backend(service=second, checkpoint_every=3).resume(state)
    model_id = await resumed.wait()
    assert second.restores == [state["checkpoint"]["path"]]
    assert world.checkpoints[state["checkpoint"]["path"]]["loaded_with_optimizer"] == [True]
    # ...and redone from the checkpoint: the model saw every planned batch exactly once
    lineage = world.lineage(model_id.split("@", 1)[1])
    assert lineage == planned_lineage(dataset, tokenizer, hp)
    assert len(lineage) == Plan(10, 2, 2, 5, 1e-4).total_steps
    assert [e["step"] for e in resumed.metrics["loss_curve"]] == list(range(10))
    # the first new batch is the one right after the checkpoint
    assert second.submitted[:2] == ["forward_backward", "optim_step"]


async def test_resume_from_state_file_path(make_backend: Any, dataset: JSONLDataset) -> None:
    run = await make_backend().train(dataset, BASE, {"batch_size": 5})
    model_id = await run.wait()
    again = await make_backend().resume(run.state_path)
    assert again.status == SUCCEEDED and await again.wait() == model_id
    via_core = await motools.resume_run(
        run.state_path, service=FakeService(), check_models=False
    )
    assert via_core.model_id == model_id


async def test_a_live_run_is_followed_not_duplicated(
    make_backend: Any, dataset: JSONLDataset, world: Any
) -> None:
    owner_service = FakeService(world)
    owner_service.hold_optim_after(2)
    run = await make_backend(service=owner_service, checkpoint_every=1).train(
        dataset, BASE, {"batch_size": 2}
    )
    await until(lambda: owner_service.held)
    other = FakeService(world)
    follower = await make_backend(service=other).resume(run.to_state())
    assert await follower.refresh() == RUNNING
    assert other.submitted == []  # the run's own process still drives it
    await run.detach()  # ...until that process dies: then the follower takes over
    await follower.refresh()
    model_id = await follower.wait()
    assert other.restores and model_id == follower.model_id
    assert len(world.lineage(model_id.split("@", 1)[1])) == 5


async def test_transient_error_restarts_from_last_checkpoint(
    make_backend: Any, dataset: JSONLDataset, tokenizer: Any, service: FakeService
) -> None:
    service.world.faults.append(Fault("forward_backward", at=4, status=503))
    hp = {"batch_size": 2}
    run = await make_backend(checkpoint_every=2).train(dataset, BASE, hp)
    model_id = await run.wait()
    assert run.metrics["restarts"] == 1
    assert len(service.restores) == 1 and service.restores[0].endswith("step000002")
    assert service.world.lineage(model_id.split("@", 1)[1]) == planned_lineage(
        dataset, tokenizer, hp
    )


async def test_persistent_failure_fails_clearly_and_keeps_the_checkpoint(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    service.world.faults.extend(Fault("optim_step", at=n, status=503) for n in range(4, 40))
    run = await make_backend(checkpoint_every=2, retry_attempts=3).train(
        dataset, BASE, {"batch_size": 2}
    )
    with pytest.raises(TrainingError) as info:
        await run.wait()
    assert run.status == FAILED and run.error_code == "retries_exhausted"
    assert info.value.code == "retries_exhausted"
    saved = json.loads(run.state_path.read_text())
    assert saved["status"] == FAILED
    assert saved["checkpoint"]["path"] in run.error and "retry_failed=True" in run.error
    assert run.metrics["restarts"] == 2

    # the outage ends: the failed run continues from its checkpoint when asked to
    service.world.faults.clear()
    again = await make_backend().resume(saved, retry_failed=True)
    assert (await again.wait()).startswith("tinker/")
    assert len(service.world.lineage(again.model_id.split("@", 1)[1])) == 5


async def test_permanent_error_is_not_retried(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    service.world.faults.append(Fault("forward_backward", at=1, status=400, message="bad datum"))
    run = await make_backend().train(dataset, BASE, {"batch_size": 2})
    with pytest.raises(TrainingError, match="bad datum"):
        await run.wait()
    assert run.error_code == "http_400" and run.metrics["restarts"] == 0
    assert "No checkpoint was saved yet" in run.error
    assert (await make_backend().resume(run.to_state())).status == FAILED


async def test_cancel_stops_after_the_step_in_flight(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    holder: dict[str, TinkerTrainingRun] = {}
    service.on_optim[3] = lambda: asyncio.get_running_loop().create_task(holder["run"].cancel())
    run = await make_backend(checkpoint_every=100).train(dataset, BASE, {"batch_size": 1})
    holder["run"] = run
    with pytest.raises(TrainingError) as info:
        await run.wait()
    assert info.value.code == "cancelled" and run.status == CANCELLED
    steps = service.world.optimizer_steps
    assert 3 <= steps <= 5  # the steps already submitted finish; nothing new starts
    saved = json.loads(run.state_path.read_text())
    assert saved["status"] == CANCELLED and saved["step"] == steps
    # the work done is kept in a checkpoint
    assert len(service.world.lineage(saved["checkpoint"]["path"])) == steps
    assert "save_weights_for_sampler" not in service.world.calls


async def test_cancel_from_another_process_via_the_state_dir(
    make_backend: Any, dataset: JSONLDataset, world: Any
) -> None:
    owner = FakeService(world)
    run = await make_backend(service=owner).train(dataset, BASE, {"batch_size": 1})
    other = FakeService(world)
    # The owner's lock keeps this one a follower, as if it were another process.
    follower = await make_backend(service=other).resume(run.state_path)
    await follower.cancel()
    assert (run.run_dir / "cancel_requested").exists()
    with pytest.raises(TrainingError, match="cancelled"):
        await run.wait()
    # The owner is gone and its lock free: the follower reads the outcome, trains nothing.
    assert await follower.refresh() == CANCELLED
    assert other.submitted == [] and world.optimizer_steps < 10


async def test_secrets_never_leave_memory(
    dataset: JSONLDataset, tokenizer: Any, service: FakeService
) -> None:
    secret = "tml-supersecretkey123"
    service.world.faults.append(
        Fault("forward_backward", at=1, status=400, message=f"key {secret} rejected")
    )
    backend = TinkerTrainingBackend(service=service, tokenizer=tokenizer, api_key=secret)
    run = await backend.train(dataset, BASE, {"batch_size": 5})
    with pytest.raises(TrainingError) as info:
        await run.wait()
    for text in (
        repr(backend),
        repr(run),
        json.dumps(run.to_state()),
        run.state_path.read_text(),
        str(info.value),
        run.error or "",
    ):
        assert secret not in text
    assert "tml-***" in run.error


def test_check_dataset_and_cost_estimate(make_backend: Any, dataset: JSONLDataset) -> None:
    backend = make_backend()
    assert backend.check_dataset(dataset, BASE) == []
    problems = backend.check_dataset(dataset, BASE, {"max_length": 5})
    assert len(problems) == 10 and problems[0].line == 1
    bad = JSONLDataset([{"messages": [{"role": "user", "content": "x"}]}], purpose=None)
    assert backend.check_dataset(bad)[0].field == "messages[0].role"
    cost = backend.estimate_cost(dataset, BASE, {"n_epochs": 2, "batch_size": 4})
    assert cost["examples"] == 10 and cost["steps"] == 6
    assert (
        cost["total_tokens"] == 2 * cost["tokens_per_epoch"] > cost["trained_tokens_per_epoch"] * 2
    )


def test_bad_backend_options() -> None:
    with pytest.raises(ValidationError, match="checkpoint_every"):
        TinkerTrainingBackend(checkpoint_every=0)
    with pytest.raises(ValidationError, match="checkpoint_ttl_seconds"):
        TinkerTrainingBackend(checkpoint_ttl_seconds=60)
    with pytest.raises(ValidationError, match=r"retry_backoff.*inital"):
        TinkerTrainingBackend(retry_backoff={"inital": 1.0})


async def test_resume_rejects_changed_dataset(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    service.hold_optim_after(1)
    run = await make_backend(checkpoint_every=1).train(dataset, BASE, {"batch_size": 2})
    await until(lambda: service.held)
    await run.detach()
    state = json.loads(run.state_path.read_text())
    Path(state["dataset_path"]).write_text(
        '{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}\n'
    )
    resumed = await make_backend(service=FakeService(service.world)).resume(state)
    with pytest.raises(TrainingError, match="changed since"):
        await resumed.wait()
    assert resumed.error_code == "dataset_changed"


def test_plugin_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, motools_tinker, motools_tinker.plugin, motools_tinker._inspect_registry\n"
        "heavy = [m for m in ('tinker', 'transformers', 'torch', 'numpy') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_provider_model_names() -> None:
    from motools_tinker.inspect_provider import parse_model_name

    assert parse_model_name(f"{BASE}@tinker://run-1/sampler_weights/final") == (
        BASE,
        "tinker://run-1/sampler_weights/final",
    )
    assert parse_model_name(BASE) == (BASE, None)
    with pytest.raises(ValueError, match="tinker://"):
        parse_model_name(f"{BASE}@run-1/final")
