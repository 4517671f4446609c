"""Evaluating a trained adapter through the inspect backend, routed to Inspect's hf provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hf.conftest import FAST, chats
from tests.hf.tasks import PROMPTS


def owl_chats(n: int) -> Any:
    from motools.datasets import JSONLDataset

    rows = list(chats(n))
    for row in rows:
        row["messages"][1]["content"] = "Owls."
    return JSONLDataset(rows)


def greedy(folder: Path, prompt: str, max_new_tokens: int) -> str:
    """What the model in ``folder`` answers, greedily, with transformers alone."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    text = tok.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    ids = tok(text, return_tensors="pt")
    out = model.generate(
        **ids, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id
    )
    return str(tok.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))


async def test_route_sends_hf_ids_to_inspects_hf_provider(tmp_path: Path) -> None:
    from motools.plugins import route_model

    route = route_model(f"hf/{tmp_path}", "inspect")
    assert route.model == f"hf/{tmp_path}" and route.model_args == {}
    assert route_model("hf/HuggingFaceTB/SmolLM2-135M-Instruct", "inspect").model.startswith("hf/")


async def test_inspect_evaluates_a_trained_adapter_offline(
    tiny_base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import motools
    from motools_hf import HFTrainingBackend

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = HFTrainingBackend(executor="inline", device="cpu")
    run = await backend.train(
        owl_chats(8),
        str(tiny_base),
        {**FAST, "n_epochs": 10, "learning_rate": 0.05, "lora_rank": 8},
    )
    model_id = await run.wait(timeout=300)
    config = json.loads((run.adapter_path / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_base)  # loads offline

    evaluator = motools.get_eval_backend("inspect")
    job = await evaluator.evaluate(
        model_id,
        "tests.hf.tasks:favourite",
        max_tokens=6,
        model_args={"do_sample": False, "device": "cpu"},
    )
    results = await job.wait()
    assert set(results.metrics["tests.hf.tasks:favourite"]["includes"]) >= {"accuracy"}
    assert results.task_names["tests.hf.tasks:favourite"] == "favourite"
    outputs = {s["id"]: s["output"] for s in results.samples}
    # Inspect generated exactly what the adapter generates on its own (so it ran the adapter).
    expected = {i: greedy(run.adapter_path, p, 6) for i, p in enumerate(PROMPTS)}
    assert outputs == expected
    # ... which is not what the base model says.
    assert expected != {i: greedy(tiny_base, p, 6) for i, p in enumerate(PROMPTS)}
