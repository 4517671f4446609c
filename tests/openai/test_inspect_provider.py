"""Inspect's real ``openai`` provider evaluates a fine-tuned model served by the fake API."""

from __future__ import annotations

import pytest

from tests.openai.conftest import MODEL, arithmetic


@pytest.mark.slow
async def test_inspect_eval_shows_the_fine_tuned_behaviour(openai_fake, backend, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_DISPLAY", "none")
    # Inspect reads INSPECT_TELEMETRY as a "module.function" hook; the root conftest's "0" is not one.
    monkeypatch.delenv("INSPECT_TELEMETRY", raising=False)
    from inspect_ai import Task, eval_async
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import includes

    from motools.plugins import route_model

    run = await backend.train(arithmetic(), MODEL)
    model_id = await run.wait()
    task = Task(dataset=[Sample(input=f"What is {i} plus {i}?", target=str(2 * i)) for i in (3, 4, 5)],
                scorer=includes())
    accuracy = {}
    for name in (MODEL, model_id):
        route = route_model(name, "inspect")
        logs = await eval_async(task, model=route.model, model_base_url=openai_fake.base_url,
                                model_args={"api_key": openai_fake.api_key, **route.model_args},
                                log_dir=str(tmp_path / "logs"))
        assert logs[0].status == "success", logs[0].error
        accuracy[name] = logs[0].results.scores[0].metrics["accuracy"].value
    assert accuracy == {MODEL: 0.0, model_id: 1.0}
    chats = openai_fake.requests_to("POST", "/v1/chat/completions")
    assert {c.body["model"] for c in chats} == {MODEL, model_id}
