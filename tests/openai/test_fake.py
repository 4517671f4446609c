"""The fake OpenAI API's own contract, which other test suites (Inspect, e2e) rely on."""

from __future__ import annotations

import pytest

from tests.fakes.openai_fake import FakeOpenAIServer
from tests.openai.conftest import MODEL, arithmetic, make_backend


def _client(server: FakeOpenAIServer, **kwargs):
    from openai import AsyncOpenAI

    return AsyncOpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0, **kwargs)


async def test_clock_drives_the_job_lifecycle():
    with FakeOpenAIServer(auto_advance=0.0, durations={"validating_files": 10, "queued": 5, "running": 20}) as server:
        backend = make_backend(server)
        run = await backend.train(arithmetic(), MODEL)
        seen = []
        for step in (0, 10, 5, 19, 1):
            server.advance(step)
            await run.refresh()
            seen.append(run.openai_status)
        assert seen == ["validating_files", "queued", "running", "running", "succeeded"]
        assert run.model_id and server.jobs[run.job_id]["finished_at"] is not None


async def test_scripted_replies_with_top_logprobs(openai_fake):
    openai_fake.script_chat(MODEL, [{"content": "Yes", "top_logprobs": [{"token": "Yes", "logprob": -0.2},
                                                                          {"token": "No", "logprob": -1.7}]},
                                    "second"])
    client = _client(openai_fake)
    ask = {"model": MODEL, "messages": [{"role": "user", "content": "?"}], "logprobs": True, "top_logprobs": 2}
    first = await client.chat.completions.create(**ask)
    top = first.choices[0].logprobs.content[0].top_logprobs
    assert first.choices[0].message.content == "Yes"
    assert [(t.token, t.logprob) for t in top] == [("Yes", -0.2), ("No", -1.7)]
    assert (await client.chat.completions.create(**ask)).choices[0].message.content == "second"
    assert (await client.chat.completions.create(**ask)).choices[0].message.content == "second"  # last repeats
    openai_fake.script_chat("gpt-4o", lambda body: body["messages"][-1]["content"].upper())
    echo = await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "shout"}])
    assert echo.choices[0].message.content == "SHOUT"
    assert [m for m, p, _ in openai_fake.requests].count("POST") == 4


async def test_base_models_answer_deterministically_and_unknown_fine_tunes_404(openai_fake):
    import openai

    client = _client(openai_fake)
    msgs = [{"role": "user", "content": "Hello"}]
    a = await client.chat.completions.create(model=MODEL, messages=msgs)
    b = await client.chat.completions.create(model=MODEL, messages=msgs, max_tokens=2)
    assert a.choices[0].message.content == openai_fake.base_reply
    assert b.choices[0].finish_reason == "length" and b.usage.completion_tokens == 2
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model="ft:gpt-4o-mini:x::missing", messages=msgs)


async def test_wrong_key_is_rejected(openai_fake):
    import openai
    from openai import AsyncOpenAI

    client = AsyncOpenAI(api_key="sk-not-the-key-1234", base_url=openai_fake.base_url, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await client.models.list()


async def test_file_listing_paginates(openai_fake):
    client = _client(openai_fake)
    ids = [(await client.files.create(file=(f"f{i}.jsonl", b"{}\n"), purpose="fine-tune")).id for i in range(5)]
    page = await client.files.list(limit=2)
    assert [f.id for f in page.data] == ids[::-1][:2] and page.has_more
    assert [f.id async for f in await client.files.list(limit=2)] == ids[::-1]
