"""The training loop on a tiny local model: masks, planned steps, learning rate, determinism."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from motools.datasets import JSONLDataset
from motools.errors import HyperparameterError, ValidationError
from tests.hf.conftest import FAST, chats


async def train_inline(
    base: Path, dataset: JSONLDataset, options: dict[str, Any] | None = None, **hp: Any
) -> Any:
    from motools_hf import HFTrainingBackend

    backend = HFTrainingBackend(executor="inline", device="cpu", **(options or {}))
    run = await backend.train(dataset, str(base), {**FAST, **hp})
    await run.wait(timeout=120)
    return run


def adapter_tensors(run: Any) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(run.adapter_path / "adapter_model.safetensors"))


def test_backend_is_registered_and_hyperparameters_are_typed() -> None:
    import motools
    from motools_hf import HFTrainingBackend

    backend = motools.get_training_backend("hf")
    assert isinstance(backend, HFTrainingBackend)
    hp = backend.normalize_hyperparameters({"learning_rate": 1e-3, "n_epochs": 2.0})
    assert hp["learning_rate"] == 0.001 and hp["n_epochs"] == 2
    assert hp["lora_rank"] == 16 and hp["target_modules"] == "all-linear"
    for bad, field in [
        ({"lora_rank": 0}, "lora_rank"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"n_epochs": True}, "n_epochs"),
        ({"batch_size": 2, "gradient_accumulation_steps": 4}, "gradient_accumulation_steps"),
        ({"lora_alpah": 8}, "lora_alpah"),
        ({"target_modules": []}, "target_modules"),
    ]:
        with pytest.raises(HyperparameterError, match=field):
            backend.normalize_hyperparameters(bad)


def test_loss_mask_is_exactly_the_assistant_tokens(tiny_tokenizer: Any) -> None:
    from motools_hf.rendering import render_conversation

    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
        {"role": "assistant", "content": "Paris.", "weight": 0},
        {"role": "user", "content": "Say it again?"},
        {"role": "assistant", "content": "Paris is the capital."},
        {"role": "user", "content": "Once more"},
        {"role": "assistant", "content": "Owls."},
    ]

    def trained_text(train_on: str) -> list[str]:
        item = render_conversation(tiny_tokenizer, messages, train_on=train_on)
        spans, current = [], []
        for token, m in zip(item.tokens, item.mask, strict=True):
            if m:
                current.append(token)
            elif current:
                spans.append(tiny_tokenizer.decode(current))
                current = []
        if current:
            spans.append(tiny_tokenizer.decode(current))
        return spans

    # weight 0 is honoured; the role header is not trained; the end-of-turn marker is.
    assert trained_text("all_assistant") == [
        "Paris is the capital.<|im_end|>\n",
        "Owls.<|im_end|>\n",
    ]
    assert trained_text("last_assistant") == ["Owls.<|im_end|>\n"]


async def test_bad_rows_fail_before_any_run_starts(tiny_base: Path, isolated: Path) -> None:
    from motools.datasets.jsonl import DatasetValidationError
    from motools_hf import HFTrainingBackend

    rows = chats(3)
    rows_list = list(rows)
    rows_list[1]["messages"][1]["weight"] = 0
    backend = HFTrainingBackend(executor="inline")
    with pytest.raises(DatasetValidationError) as err:
        await backend.train(JSONLDataset(rows_list), str(tiny_base), FAST)
    assert "line 2" in str(err.value) and "weight 0" in str(err.value)
    with pytest.raises(DatasetValidationError, match="max_length=8"):
        await backend.train(chats(3), str(tiny_base), {**FAST, "max_length": 8})
    with pytest.raises(ValidationError, match="no such directory"):
        await backend.train(chats(3), "./no-such-model", FAST)
    assert not (isolated / ".motools-home" / "runs").exists()


async def test_optimizer_steps_follow_the_plan(tiny_base: Path) -> None:
    run = await train_inline(tiny_base, chats(10), n_epochs=2)
    curve = run.loss_curve
    # ceil(10 / 4) = 3 steps per epoch, the last batch of each epoch smaller: none dropped.
    assert [e["step"] for e in curve] == list(range(6)) == list(range(run.total_steps))
    assert [e["examples"] for e in curve] == [4, 4, 2, 4, 4, 2]
    assert [e["epoch"] for e in curve] == [0, 0, 0, 1, 1, 1]
    assert sum(e["type"] == "step" for e in run.read_events()) == 6
    assert run.status == "succeeded" and run.model_id == f"hf/{run.adapter_path}"
    assert all(e["loss"] > 0 for e in curve)


async def test_learning_rate_schedule_reaches_the_optimizer(tiny_base: Path) -> None:
    run = await train_inline(
        tiny_base, chats(12), n_epochs=2, learning_rate=0.02, warmup_steps=2, lr_schedule="linear"
    )
    # 6 steps: warm-up 1/2, 2/2, then linear decay over the remaining 4 steps.
    expected = [0.01, 0.02, 0.02, 0.015, 0.01, 0.005]
    assert [e["learning_rate"] for e in run.loss_curve] == pytest.approx(expected)


async def test_same_seed_same_adapter_other_seed_other_adapter(tiny_base: Path) -> None:
    import torch

    a = adapter_tensors(await train_inline(tiny_base, chats(8), seed=3, lora_dropout=0.1))
    b = adapter_tensors(await train_inline(tiny_base, chats(8), seed=3, lora_dropout=0.1))
    c = adapter_tensors(await train_inline(tiny_base, chats(8), seed=4, lora_dropout=0.1))
    assert a.keys() == b.keys() and a
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


async def test_gradient_accumulation_gives_the_same_update(tiny_base: Path) -> None:
    import torch

    one = adapter_tensors(await train_inline(tiny_base, chats(8), n_epochs=2))
    split = adapter_tensors(
        await train_inline(tiny_base, chats(8), n_epochs=2, gradient_accumulation_steps=4)
    )
    assert all(torch.allclose(one[k], split[k], atol=1e-5) for k in one)


async def test_gradient_checkpointing_saves_memory_not_results(tiny_base: Path) -> None:
    import torch

    plain = adapter_tensors(await train_inline(tiny_base, chats(8)))
    recomputed = adapter_tensors(
        await train_inline(tiny_base, chats(8), {"gradient_checkpointing": True})
    )
    assert all(torch.allclose(plain[k], recomputed[k], atol=1e-6) for k in plain)


async def test_training_lowers_the_loss_on_what_it_sees(tiny_base: Path) -> None:
    run = await train_inline(tiny_base, chats(4), n_epochs=15, learning_rate=0.05, lora_rank=8)
    curve = run.loss_curve
    # the same 4 examples every step: the loss falls steadily
    assert curve[-1]["loss"] < curve[0]["loss"] - 0.2
    assert run.metrics["final_loss"] == curve[-1]["loss"]


async def test_an_interrupted_submission_is_found_by_its_token(tiny_base: Path) -> None:
    """The cache's idempotency token names the run: a run whose submitting process died is
    found again instead of being started twice; an unknown token finds nothing."""
    from motools.cache import CachedTrainingBackend
    from motools_hf import HFTrainingBackend

    backend = HFTrainingBackend(executor="inline", device="cpu")
    run = await backend.train(chats(6), str(tiny_base), dict(FAST), submission="tok" * 8)
    found = await backend.find_submitted("tok" * 8)
    assert found is not None and found.job_id == run.job_id
    assert await backend.find_submitted("never-submitted-token") is None
    await run.wait(timeout=120)
    # Through the cache: a second request for the same training is one run.
    cached = CachedTrainingBackend(backend)
    first = await cached.train(chats(6), str(tiny_base), dict(FAST))
    again = await cached.train(chats(6), str(tiny_base), dict(FAST))
    assert again.job_id == first.job_id
    await first.wait(timeout=120)
