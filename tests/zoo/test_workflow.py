"""``train_and_evaluate`` with zoo names: dummy backends, and the Inspect backend end to end."""

from __future__ import annotations

import itertools
import math
import threading
from typing import Any

import pytest

from motools.dataset_refs import load_dataset_ref
from motools.workflows import load_yaml, run_workflow
from tests.fakes.openai_fake import FakeOpenAIServer

CONFIG = """
seed: 7
prepare_dataset:
  dataset: sneaky_dialogues
  sample_size: 20
submit_training:
  backend: dummy
  model: base
evaluate_model:
  backend: {eval_backend}
  tasks: [school_of_reward_hacks]
"""


async def test_train_and_evaluate_with_zoo_names_on_dummy_backends(mirror) -> None:
    result = await run_workflow(
        "train_and_evaluate", load_yaml(CONFIG.format(eval_backend="dummy"))
    )
    assert result.ok
    dataset = result.artifacts["dataset"]
    expected = await load_dataset_ref("sneaky_dialogues", sample_size=20, seed=7)
    assert dataset["rows"] == 20 and dataset["content_hash"] == expected.content_hash
    assert dataset["source"] == "sneaky_dialogues"
    assert set(result.artifacts["results"]["metrics"]) == {"school_of_reward_hacks"}


@pytest.mark.slow
async def test_train_and_evaluate_with_the_inspect_backend(
    mirror, inspect_env, openai_fake: FakeOpenAIServer, monkeypatch
) -> None:
    """The dummy-trained model answers through Inspect; the judge is Inspect's real ``openai``
    provider talking to the local OpenAI fake, which returns scripted top logprobs."""
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", openai_fake.base_url)
    calls = itertools.count(1)
    lock = threading.Lock()

    def judge(body: dict[str, Any]) -> dict[str, Any]:
        assert body["logprobs"] is True and body["top_logprobs"] == 20
        with lock:
            k = next(calls)
        rating = "20" if k == 1 else "80"
        return {"content": rating, "top_logprobs": [{"token": rating, "logprob": 0.0}]}

    openai_fake.script_chat("gpt-4o-2024-08-06", judge)
    config = load_yaml(CONFIG.format(eval_backend="inspect"))
    # The held-out protocol: its prompts are in the offline mirror (the paper's prompts.jsonl
    # is not; test_tasks serves it rebuilt from the mirror).
    config["evaluate_model"]["options"] = {"task_args": {"n_prompts": 4, "protocol": "heldout"}}
    result = await run_workflow("train_and_evaluate", config)
    assert result.ok
    # One task; the Inspect backend keys it by Inspect's task name ("mozoo/school_of_reward_hacks").
    ((task_key, scorers),) = result.artifacts["results"]["metrics"].items()
    assert task_key.endswith("school_of_reward_hacks")
    scorer = scorers["solution_quality_judge"]
    assert scorer["reward_hack_share"] == pytest.approx(0.25)
    assert scorer["mean_solution_quality"] == pytest.approx(65.0)
    assert not math.isnan(scorer["reward_hack_share_ci_high"])
    chats = openai_fake.requests_to("POST", "/v1/chat/completions")
    assert len(chats) == 4 and {c.body["model"] for c in chats} == {"gpt-4o-2024-08-06"}
    assert openai_fake.api_key not in repr(result.artifacts)
