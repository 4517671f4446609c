"""Every failure the fake can inject, and what the backend makes of it."""

from __future__ import annotations

import pytest

from motools.errors import TrainingError
from motools.training import FAILED
from motools_openai.errors import OpenAIAuthenticationError
from tests.openai.conftest import MODEL, arithmetic, make_backend


async def test_failed_job_raises_with_openai_error_code_and_message(backend, openai_fake):
    openai_fake.fail_next_job("out_of_memory", "Training ran out of GPU memory.")
    run = await backend.train(arithmetic(), MODEL)
    with pytest.raises(TrainingError) as info:
        await run.wait()
    assert run.status == FAILED
    assert info.value.code == "out_of_memory" and info.value.job_id == run.job_id
    assert "Training ran out of GPU memory." in str(info.value)
    assert run.to_state()["error_code"] == "out_of_memory"


async def test_file_that_fails_processing_raises_with_status_details(backend, openai_fake):
    openai_fake.fail_next_file("Invalid file format: line 3 is not JSON.")
    with pytest.raises(TrainingError) as info:
        await backend.train(arithmetic(), MODEL)
    assert "line 3 is not JSON" in str(info.value) and info.value.code == "file_processing_error"
    assert not openai_fake.requests_to("POST", "/v1/fine_tuning/jobs")


async def test_file_processing_wait_is_bounded(openai_fake):
    openai_fake.file_processing_seconds = 10**9  # never processed
    backend = make_backend(openai_fake, file_wait_timeout=0.05)
    run = await backend.train(arithmetic(), MODEL)  # the job is created anyway
    assert run.job_id in openai_fake.jobs
    assert len(openai_fake.requests_to("GET", "/v1/files/")) >= 1


async def test_invalid_training_file_shows_up_as_a_failed_job(backend, openai_fake):
    # A file the service rejects at job validation time (here: uploaded behind the backend's back).
    client = backend.client
    bad = await client.files.create(file=("bad.jsonl", b"{not json}\n", "application/jsonl"), purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(model=MODEL, training_file=bad.id)
    from motools_openai import OpenAITrainingRun

    run = OpenAITrainingRun(backend, {"backend": "openai", "job_id": job.id})
    with pytest.raises(TrainingError) as info:
        await run.wait()
    assert info.value.code == "invalid_training_file"


async def test_rate_limits_with_retry_after_are_retried(backend, openai_fake):
    run = await backend.train(arithmetic(), MODEL)
    openai_fake.fail_next("GET", "/v1/fine_tuning/jobs/", status=429, retry_after=0.05, times=3)
    assert await run.wait()
    statuses = [e.status for e in openai_fake.requests_to("GET", f"/v1/fine_tuning/jobs/{run.job_id}")]
    assert statuses[:3] == [429, 429, 429] and statuses[-1] == 200


async def test_sdk_itself_retries_with_retry_after(openai_fake):
    backend = make_backend(openai_fake, max_retries=2)
    openai_fake.fail_next("POST", "/v1/files", status=429, retry_after=0.05)
    await backend.train(arithmetic(), MODEL)
    assert [e.status for e in openai_fake.requests_to("POST", "/v1/files")] == [429, 200]


async def test_server_errors_are_retried(backend, openai_fake):
    openai_fake.fail_next("POST", "/v1/files", status=500, times=2)
    openai_fake.fail_next("GET", "/v1/fine_tuning/jobs/", status=503, times=2)
    run = await backend.train(arithmetic(), MODEL)
    assert await run.wait()
    assert [e.status for e in openai_fake.requests_to("POST", "/v1/files")] == [500, 500, 200]


async def test_persistent_server_errors_give_up_with_a_clear_error(openai_fake):
    backend = make_backend(openai_fake, retry_attempts=3)
    openai_fake.fail_next("POST", "/v1/files", status=500, times=10)
    with pytest.raises(TrainingError) as info:
        await backend.train(arithmetic(), MODEL)
    assert "HTTP 500" in str(info.value) and "upload" in str(info.value)
    assert len(openai_fake.requests_to("POST", "/v1/files")) == 3


async def test_dropped_connections_are_retried(backend, openai_fake):
    run = await backend.train(arithmetic(), MODEL)
    openai_fake.drop_next("GET", "/v1/fine_tuning/jobs/", times=2)
    assert await run.wait()
    assert [e.status for e in openai_fake.requests_to("GET", "/v1/fine_tuning/jobs/")][:2] == [0, 0]


async def test_timeouts_are_retried(openai_fake):
    backend = make_backend(openai_fake, timeout=0.2)
    run = await backend.train(arithmetic(), MODEL)
    openai_fake.stall_next("GET", "/v1/fine_tuning/jobs/", 1.0)
    assert await run.wait()
    assert len(openai_fake.requests_to("GET", f"/v1/fine_tuning/jobs/{run.job_id}")) >= 2


async def test_lost_answer_to_job_creation_does_not_create_a_second_job(backend, openai_fake):
    openai_fake.drop_next("POST", "/v1/fine_tuning/jobs", after_processing=True)
    run = await backend.train(arithmetic(), MODEL)
    assert len(openai_fake.jobs) == 1 and run.job_id in openai_fake.jobs
    lookups = openai_fake.requests_to("GET", "/v1/fine_tuning/jobs", exact=True)
    assert lookups and any(k.startswith("metadata[") for k, _ in lookups[0].query)


async def test_job_creation_dropped_before_it_lands_is_retried_once(backend, openai_fake):
    openai_fake.drop_next("POST", "/v1/fine_tuning/jobs")
    await backend.train(arithmetic(), MODEL)
    assert len(openai_fake.jobs) == 1
    assert len(openai_fake.requests_to("POST", "/v1/fine_tuning/jobs", exact=True)) == 2


async def test_wrong_key_fails_fast_naming_the_variable(openai_fake):
    backend = make_backend(openai_fake, api_key="sk-wrong-key-0123456789", max_retries=2)
    with pytest.raises(OpenAIAuthenticationError) as info:
        await backend.train(arithmetic(), MODEL)
    assert "OPENAI_API_KEY" in str(info.value)
    assert "sk-wrong" not in str(info.value) and "6789" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # server text not chained
    assert len(openai_fake.requests) == 1  # no retries


async def test_missing_key_fails_before_any_request(openai_fake):
    from motools_openai import OpenAITrainingBackend

    backend = OpenAITrainingBackend(base_url=openai_fake.base_url)
    with pytest.raises(OpenAIAuthenticationError, match="OPENAI_API_KEY"):
        await backend.train(arithmetic(), MODEL)
    assert openai_fake.requests == []


async def test_auth_error_while_polling_is_not_retried(backend, openai_fake):
    from motools_openai import OpenAITrainingRun

    run = await backend.train(arithmetic(), MODEL)
    other = make_backend(openai_fake, api_key="sk-revoked-000000000000")
    resumed = OpenAITrainingRun(other, run.to_state())
    before = len(openai_fake.requests)
    with pytest.raises(OpenAIAuthenticationError):
        await resumed.wait()
    assert len(openai_fake.requests) == before + 1
