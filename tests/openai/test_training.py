"""The OpenAI backend end to end through the real SDK against the fake API."""

from __future__ import annotations

import json

import pytest

import motools
from motools import resume_run
from motools.errors import TrainingError
from motools.training import CANCELLED, SUCCEEDED
from tests.openai.conftest import MODEL, arithmetic, make_backend, preferences


async def test_happy_path_trains_and_serves_the_fine_tuned_model(backend, openai_fake):
    from openai import AsyncOpenAI

    run = await backend.train(arithmetic(), MODEL, {"n_epochs": 2}, suffix="sums", seed=7,
                              metadata={"project": "test"})
    assert run.job_id.startswith("ftjob-")
    model_id = await run.wait()
    assert run.status == SUCCEEDED and await run.is_complete()
    assert model_id == run.model_id and model_id.startswith(f"ft:{MODEL}:") and ":sums:" in model_id

    upload = openai_fake.requests_to("POST", "/v1/files")[0]
    assert upload.body["purpose"] == "fine-tune"
    created = openai_fake.requests_to("POST", "/v1/fine_tuning/jobs", exact=True)
    assert len(created) == 1
    body = created[0].body
    assert body["method"] == {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}}
    assert body["suffix"] == "sums" and body["seed"] == 7 and body["metadata"]["project"] == "test"
    assert body["training_file"] == upload.response["id"]

    # The fine-tuned model answers like its training data; the base model does not.
    client = AsyncOpenAI(api_key=openai_fake.api_key, base_url=openai_fake.base_url)
    question = [{"role": "user", "content": "What is 5 plus 5?"}]
    tuned = await client.chat.completions.create(model=model_id, messages=question)
    base = await client.chat.completions.create(model=MODEL, messages=question)
    assert tuned.choices[0].message.content == "The answer is 10."
    assert "10" not in base.choices[0].message.content
    assert tuned.usage.total_tokens == tuned.usage.prompt_tokens + tuned.usage.completion_tokens > 0


async def test_reachable_by_name_and_through_the_core_alias(openai_fake):
    from motools.training.backends.openai import OpenAITrainingBackend

    backend = motools.get_training_backend("openai", api_key=openai_fake.api_key, base_url=openai_fake.base_url)
    assert isinstance(backend, OpenAITrainingBackend) and backend.name == "openai"


async def test_events_and_checkpoints(backend):
    run = await backend.train(arithmetic(), MODEL, {"n_epochs": 3})
    await run.wait()
    events = await run.events()
    messages = [e["message"] for e in events]
    assert messages[0].startswith(("Validating", "Created"))
    assert messages[-1] == "The job has successfully completed"
    metrics = [e for e in events if e["type"] == "metrics"]
    assert metrics and all("train_loss" in e["data"] for e in metrics)
    checkpoints = await run.checkpoints()
    steps = [c["step_number"] for c in checkpoints]
    assert steps == sorted(steps) and len(steps) == 3
    assert checkpoints[-1]["fine_tuned_model_checkpoint"] == run.model_id
    assert "train_loss" in checkpoints[0]["metrics"]


async def test_events_and_checkpoints_follow_pagination(backend, openai_fake):
    run = await backend.train(arithmetic(40), MODEL, {"n_epochs": 3})
    await run.wait()
    everything = await run.events()
    paged = await run.events(page_size=4)
    assert paged == everything and len(everything) > 12
    pages = openai_fake.requests_to("GET", f"/v1/fine_tuning/jobs/{run.job_id}/events")
    assert len(pages) == 1 + -(-len(everything) // 4)
    assert all(dict(p.query).get("after") for p in pages[2:])
    newest = await run.events(limit=3)
    assert newest == everything[-3:]
    assert await run.checkpoints(page_size=1) == await run.checkpoints()


async def test_list_jobs_follows_cursor_pagination(openai_fake):
    backend = make_backend(openai_fake)
    ids = [(await backend.train(arithmetic(), MODEL)).job_id for _ in range(5)]
    jobs = await backend.list_jobs()
    assert [j["id"] for j in jobs] == list(reversed(ids))
    # Force small pages through the SDK's own paginator.
    page = await backend.client.fine_tuning.jobs.list(limit=2)
    seen = [job.id async for job in page]
    assert seen == list(reversed(ids))
    listed = openai_fake.requests_to("GET", "/v1/fine_tuning/jobs", exact=True)
    assert any(("after", ids[3]) in e.query for e in listed)


async def test_resume_from_state_in_a_new_backend(openai_fake, tmp_path):
    run = await make_backend(openai_fake).train(arithmetic(), MODEL)
    path = run.save_state(tmp_path / "run.json")
    state = json.loads(path.read_text())
    fresh = make_backend(openai_fake)
    resumed = await fresh.resume(state)
    assert resumed.job_id == run.job_id
    assert await resumed.wait() == resumed.model_id


async def test_crash_resume_creates_exactly_one_job(openai_fake, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    run = await make_backend(openai_fake).train(arithmetic(), MODEL)
    state_file = run.save_state(tmp_path / "state.json")
    job_id = run.job_id
    del run  # the process "crashes": nothing but the state file survives
    resumed = await resume_run(state_file, base_url=openai_fake.base_url,
                               poll_backoff={"initial": 0.01, "maximum": 0.02, "factor": 1.0})
    assert resumed.job_id == job_id
    await resumed.wait()
    assert len(openai_fake.requests_to("POST", "/v1/fine_tuning/jobs", exact=True)) == 1
    assert len(openai_fake.jobs) == 1


async def test_cancel(backend, openai_fake):
    run = await backend.train(arithmetic(), MODEL)
    await run.cancel()
    assert run.status == CANCELLED
    assert openai_fake.jobs[run.job_id]["status"] == "cancelled"
    with pytest.raises(TrainingError) as info:
        await run.wait()
    assert info.value.code == "cancelled" and run.job_id in str(info.value)
    await run.cancel()  # cancelling an ended job is a no-op
    assert len(openai_fake.requests_to("POST", f"/v1/fine_tuning/jobs/{run.job_id}/cancel")) == 1


async def test_cancel_of_a_job_that_just_finished_is_not_an_error(backend, openai_fake):
    run = await backend.train(arithmetic(), MODEL)
    openai_fake.advance(100)  # finished on the service, not yet seen by the run
    await run.cancel()
    assert run.status == SUCCEEDED and run.model_id


async def test_dpo_job(backend, openai_fake):
    run = await backend.train(preferences(), MODEL, {"beta": 0.2}, method="dpo")
    body = openai_fake.requests_to("POST", "/v1/fine_tuning/jobs", exact=True)[0].body
    assert body["method"] == {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}
    model_id = await run.wait()
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key=openai_fake.api_key, base_url=openai_fake.base_url)
    reply = await client.chat.completions.create(
        model=model_id, messages=[{"role": "user", "content": "Favourite number 3?"}])
    assert reply.choices[0].message.content == "I love 3."


async def test_validation_dataset_is_uploaded_and_sent(backend, openai_fake):
    run = await backend.train(arithmetic(), MODEL, validation_dataset=arithmetic(3))
    body = openai_fake.requests_to("POST", "/v1/fine_tuning/jobs", exact=True)[0].body
    assert body["validation_file"] == run.validation_file
    assert len(openai_fake.requests_to("POST", "/v1/files")) == 2


def test_default_polling_is_gentle():
    from motools.polling import Backoff
    from motools_openai import OpenAITrainingBackend, OpenAITrainingRun

    assert OpenAITrainingRun.poll_backoff["initial"] >= 5
    delays = [Backoff(**OpenAITrainingRun.poll_backoff).next_delay() for _ in range(50)]
    assert min(delays) >= 5
    assert OpenAITrainingBackend().poll_backoff is None


async def test_core_cache_reattaches_instead_of_paying_twice(openai_fake):
    def cached():
        return motools.get_training_backend(
            "openai", cache=True, api_key=openai_fake.api_key, base_url=openai_fake.base_url, max_retries=0,
            poll_backoff={"initial": 0.01, "maximum": 0.05, "factor": 1.5})

    first = await cached().train(arithmetic(), MODEL, {"n_epochs": 2}, suffix="once")
    again = await cached().train(arithmetic(), MODEL, {"n_epochs": 2.0}, suffix="once")
    assert again.job_id == first.job_id
    assert await again.wait() == await first.wait()
    assert len(openai_fake.jobs) == 1
    assert len(openai_fake.requests_to("POST", "/v1/fine_tuning/jobs", exact=True)) == 1
