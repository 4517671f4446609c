"""The real ``tinker`` SDK against the fake Tinker HTTP server: train -> save -> sample, then
an Inspect evaluation of the trained ``tinker/...`` model through the provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from motools.datasets import JSONLDataset
from tests.fakes.tinker_server import TARGET_TINKER_VERSION, FakeTinkerServer
from tests.fakes.tinker_tokenizer import encode
from tests.fakes.tinker_world import FakeTinkerWorld
from tests.tinker.conftest import BASE, planned_lineage

API_KEY = "tml-integration-secret-0123456789"

pytestmark = pytest.mark.slow


def answer(prompt: list[int], params: dict[str, Any], lineage: list[list[str]] | None) -> list[int]:
    """The fake model: trained weights know the capital of France, the base model does not."""
    text = "Paris<|end|>" if lineage else "I don't know.<|end|>"
    return encode(text)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTinkerServer]:
    world = FakeTinkerWorld(responder=answer)
    with FakeTinkerServer(world) as fake:
        monkeypatch.setenv("TINKER_API_KEY", API_KEY)
        monkeypatch.setenv("TINKER_BASE_URL", fake.base_url)
        monkeypatch.setenv("TINKER_TELEMETRY", "0")
        monkeypatch.setenv("INSPECT_DISPLAY", "none")
        yield fake


def test_fake_targets_the_pinned_sdk() -> None:
    from importlib.metadata import version

    assert version("tinker") == TARGET_TINKER_VERSION


async def test_server_side_failure_restarts_from_checkpoint(
    server: FakeTinkerServer, tokenizer_dir: Path
) -> None:
    from motools_tinker import TinkerTrainingBackend

    server.fail_requests["forward_backward"] = {4}  # the SDK raises RequestFailedError
    data = JSONLDataset(
        [
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": "a"},
                ]
            }
            for i in range(8)
        ]
    )
    backend = TinkerTrainingBackend(
        tokenizer=str(tokenizer_dir),
        checkpoint_every=2,
        retry_backoff={"initial": 0.01, "maximum": 0.01, "factor": 1.0},
    )
    run = await backend.train(data, BASE, {"batch_size": 2})
    model_id = await run.wait()
    assert run.metrics["restarts"] == 1
    assert server.requests["load_weights"] == 1
    assert len(server.world.lineage(model_id.split("@", 1)[1])) == 4


async def test_wrong_key_fails_clearly(
    server: FakeTinkerServer, tokenizer_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from motools.errors import ValidationError
    from motools_tinker import TinkerTrainingBackend

    monkeypatch.setenv("TINKER_API_KEY", "tml-")
    server.api_key_prefix = "tml-valid"
    data = JSONLDataset(
        [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    )
    with pytest.raises(ValidationError, match="Could not list Tinker's models"):
        await TinkerTrainingBackend(tokenizer=str(tokenizer_dir)).train(data, BASE)


# Runs last: Inspect applies nest_asyncio2 to the event-loop class during an evaluation,
# after which a tinker SDK background loop started earlier in the process stops serving
# requests (an upstream interaction, see the motools-tinker README).
async def test_train_save_sample_and_evaluate(
    server: FakeTinkerServer, tokenizer_dir: Path, tmp_path: Path
) -> None:
    from inspect_ai import Task, eval_async
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes
    from inspect_ai.solver import generate

    import motools
    from motools.plugins import route_model

    data = JSONLDataset(
        [
            {
                "messages": [
                    {"role": "user", "content": f"What is the capital of France? ({i})"},
                    {"role": "assistant", "content": "Paris."},
                ]
            }
            for i in range(6)
        ]
    )
    hp = {"batch_size": 2, "n_epochs": 2, "lora_rank": 8}
    backend = motools.get_training_backend(
        "tinker", tokenizer=str(tokenizer_dir), checkpoint_every=2
    )
    run = await backend.train(data, BASE, hp)
    model_id = await run.wait()
    assert run.status == "succeeded"
    sampler = model_id.split("@", 1)[1]
    assert model_id == f"tinker/{BASE}@{sampler}" and "/sampler_weights/" in sampler

    world = server.world
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    assert world.lineage(sampler) == planned_lineage(data, tok, hp)
    assert world.optimizer_steps == 6 and world.calls["save_state"] == 2
    assert [round(e["loss"], 6) for e in run.metrics["loss_curve"]] == [
        round(1 / (1 + 0.1 * s), 6) for s in range(6)
    ]
    assert server.requests["forward_backward"] == 6  # protobuf bodies, parsed by the fake
    assert server.seen_api_keys == {API_KEY}
    state_text = run.state_path.read_text()
    assert API_KEY not in state_text and json.loads(state_text)["sampler_path"] == sampler

    route = route_model(model_id, "inspect")
    task = Task(
        dataset=[Sample(input="What is the capital of France?", target="Paris")],
        solver=generate(),
        scorer=includes(),
    )
    logs = await eval_async(
        task,
        model=route.model,
        model_args={**route.model_args, "tokenizer": str(tokenizer_dir)},
        log_dir=str(tmp_path / "logs"),
        max_tokens=7,
        temperature=0.3,
        top_p=0.9,
        seed=11,
        stop_seqs=["\n\n"],
        num_choices=2,
    )
    log = logs[0]
    assert log.status == "success", log.error
    assert log.results is not None
    assert log.results.scores[0].metrics["accuracy"].value == 1.0
    sample = log.samples[0]
    assert sample.output.completion == "Paris"
    assert len(sample.output.choices) == 2
    usage = log.stats.model_usage[route.model]
    prompt = encode("<|bos|><|user|>What is the capital of France?<|end|><|assistant|>")
    assert usage.input_tokens == len(prompt)
    assert usage.output_tokens == 2 * len(encode("Paris<|end|>"))

    request = world.sample_requests[-1]
    assert request["prompt"] == prompt
    assert request["num_samples"] == 2
    assert request["sampler"]["model_path"] == sampler
    params = request["params"]
    assert params["max_tokens"] == 7 and params["temperature"] == 0.3
    assert params["top_p"] == 0.9 and params["seed"] == 11 and params["stop"] == ["\n\n"]

    # the untrained base model is addressed as tinker/{base}
    base_logs = await eval_async(
        task,
        model=f"tinker/{BASE}",
        model_args={"tokenizer": str(tokenizer_dir)},
        log_dir=str(tmp_path / "logs"),
    )
    assert base_logs[0].results.scores[0].metrics["accuracy"].value == 0.0
    assert base_logs[0].samples[0].output.completion == "I don't know."
    assert world.sample_requests[-1]["sampler"] == {"base_model": BASE, "model_path": None}
