"""Bad input is rejected before a single request reaches the API; the key leaks nowhere."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from motools.datasets import DatasetValidationError, JSONLDataset
from motools.errors import HyperparameterError, TrainingError, ValidationError
from tests.openai.conftest import MODEL, arithmetic, make_backend, preferences


def _sample(user: str = "hi", reply: str = "hello", **assistant: object) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply, **assistant}]}


BAD_DATASETS = {
    "too few examples": (JSONLDataset([_sample()] * 9), "at least 10 examples"),
    "last message not from assistant": (
        JSONLDataset([_sample()] * 11 + [{"messages": [{"role": "user", "content": "x"}]}], purpose=None),
        "line 12, messages[0].role"),
    "weight other than 0/1": (JSONLDataset([_sample()] * 10 + [_sample(weight=0.5)], purpose=None), "weight must be 0 or 1"),
    "weight on a user message": (
        JSONLDataset([_sample()] * 10 + [{"messages": [{"role": "user", "content": "a", "weight": 1},
                                                        {"role": "assistant", "content": "b"}]}], purpose=None),
        "weight is only allowed on assistant messages"),
    "example over the token limit": (
        JSONLDataset([_sample()] * 10 + [_sample(user="word " * 70_000)]), "line 11, messages: example has"),
}


@pytest.mark.parametrize("case", list(BAD_DATASETS))
async def test_bad_datasets_are_rejected_with_zero_requests(backend, openai_fake, case):
    dataset, expected = BAD_DATASETS[case]
    with pytest.raises(DatasetValidationError) as info:
        await backend.train(dataset, MODEL)
    assert expected in str(info.value)
    assert openai_fake.requests == []


@pytest.mark.parametrize(
    ("hp", "field"),
    [
        ({"n_epochs": 0}, "n_epochs"),
        ({"n_epochs": -1}, "n_epochs"),
        ({"batch_size": "big"}, "batch_size"),
        ({"learning_rate_multiplier": 0}, "learning_rate_multiplier"),
        ({"learning_rate": 1e-4}, "learning_rate"),  # unknown key
        ({"beta": 0.1}, "beta"),  # DPO only
    ],
)
async def test_bad_hyperparameters_are_rejected_with_zero_requests(backend, openai_fake, hp, field):
    with pytest.raises(HyperparameterError, match=field):
        await backend.train(arithmetic(), MODEL, hp)
    assert openai_fake.requests == []


@pytest.mark.parametrize(
    "kwargs",
    [{"suffix": "x" * 65}, {"seed": -1}, {"metadata": {"k": 3}}, {"method": "rl"}, {"epochs": 3},
     {"validation_dataset": JSONLDataset([{"messages": [{"role": "user", "content": "x"}]}], purpose=None)}],
)
async def test_bad_options_are_rejected_with_zero_requests(backend, openai_fake, kwargs):
    with pytest.raises(ValidationError):
        await backend.train(arithmetic(), MODEL, **kwargs)
    assert openai_fake.requests == []


async def test_dpo_rules(backend, openai_fake):
    pairs = list(preferences())
    pairs[2] = {**pairs[2], "preferred_output": pairs[2]["preferred_output"] * 2}
    with pytest.raises(DatasetValidationError, match="line 3, preferred_output: must hold exactly one"):
        await backend.train(JSONLDataset(pairs), MODEL, method="dpo")
    with pytest.raises(DatasetValidationError, match="does not support dpo"):
        await backend.train(preferences(), "gpt-3.5-turbo-0125", method="dpo")
    assert openai_fake.requests == []


def test_normalized_hyperparameters_fill_defaults(backend):
    assert backend.normalize_hyperparameters({"n_epochs": 3.0}) == {
        "n_epochs": 3, "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert backend.normalize_hyperparameters({"beta": 0.5})["beta"] == 0.5


def test_estimate_cost(backend):
    estimate = backend.estimate_cost(arithmetic(), MODEL, {"n_epochs": 4})
    assert estimate["n_epochs"] == 4 and estimate["usd_per_1m_tokens"] == 3.0
    assert estimate["billed_tokens"] == estimate["tokens_per_epoch"] * 4 > 0
    assert estimate["estimated_usd"] == pytest.approx(estimate["billed_tokens"] * 3.0 / 1e6, abs=1e-4)
    auto = backend.estimate_cost(arithmetic(), MODEL, None)
    assert auto["n_epochs"] == "8 (auto)"  # 12 examples: OpenAI picks 100 // 12 epochs
    unknown = backend.estimate_cost(arithmetic(), "some-future-model", None)
    assert unknown["estimated_usd"] is None


async def test_the_key_appears_in_no_artifact(openai_fake, tmp_path, caplog, capsys, monkeypatch):
    key = openai_fake.api_key
    monkeypatch.setenv("OPENAI_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    backend = make_backend(openai_fake, api_key=None)
    openai_fake.fail_next_job("training_error", "boom")
    openai_fake.fail_next("GET", "/v1/fine_tuning/jobs/", status=500)
    run = await backend.train(arithmetic(), MODEL)
    with pytest.raises(TrainingError) as failed:
        await run.wait()
    ok = await backend.train(arithmetic(), MODEL)
    await ok.wait()
    ok.save_state(tmp_path / "state.json")
    import motools

    cached = motools.get_training_backend("openai", cache=True, base_url=openai_fake.base_url,
                                          poll_backoff={"initial": 0.01, "maximum": 0.02, "factor": 1.0})
    await (await cached.train(arithmetic(), MODEL, suffix="cached")).wait()  # records land in MOTOOLS_HOME
    assert any(Path(os.environ["MOTOOLS_HOME"]).rglob("*"))
    print(backend, run, ok, ok.to_state(), failed.value)
    wrong = make_backend(openai_fake, api_key="sk-another-secret-key-42")
    with pytest.raises(Exception) as auth:
        await wrong.train(arithmetic(), MODEL)

    artifacts = [repr(backend), str(backend), repr(run), json.dumps(run.to_state()), json.dumps(ok.to_state()),
                 str(failed.value), repr(failed.value), caplog.text, capsys.readouterr().out]
    for artifact in artifacts:
        assert key not in artifact
    assert "sk-another-secret-key-42" not in str(auth.value) + repr(auth.value)
    for root, _, files in os.walk(Path.cwd()):
        for name in files:
            assert key.encode() not in Path(root, name).read_bytes()
    for name in os.listdir(tmp_path):
        if (tmp_path / name).is_file():
            assert key.encode() not in (tmp_path / name).read_bytes()
