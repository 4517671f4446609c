"""The fake's answers and the backend's requests follow OpenAI's published API description.

Every exchange of a broad scenario (uploads, supervised and DPO jobs, failures, cancel,
events, checkpoints, pagination, chat completions with logprobs, models, errors) is checked
against ``shared/specs/openai-openapi.yaml``: request bodies and query parameters against the
operation, responses against the operation's response schema (errors against
``ErrorResponse``). Core objects must not carry fields the spec does not describe.
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

import pytest

from tests.conftest import SHARED_DATA, missing_shared
from tests.fakes.openai_fake import Exchange, FakeOpenAIServer
from tests.openai.conftest import MODEL, arithmetic, make_backend, preferences

SPEC = SHARED_DATA.parent / "specs" / "openai-openapi.yaml"
URN = "urn:openai-openapi"


def _fix(node: Any) -> Any:
    """OpenAPI 3.0 leftovers -> JSON Schema 2020-12 (``nullable``, boolean exclusive bounds)."""
    if isinstance(node, list):
        return [_fix(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _fix(v) for k, v in node.items()}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), bool) and node.pop(bound) and limit in node:
            node[bound] = node.pop(limit)
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@functools.cache
def spec() -> dict[str, Any]:
    import yaml

    if not SPEC.is_file():
        missing_shared(f"OpenAI API description not found at {SPEC}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return _fix(yaml.load(SPEC.read_text(), Loader=loader))


def validator(schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry = Registry().with_resource(URN, resource)
    schema = copy.deepcopy(schema)

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (URN + v if k == "$ref" and v.startswith("#") else rewrite(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(n) for n in node]
        return node

    return Draft202012Validator(rewrite(schema), registry=registry)


def operation(method: str, path: str) -> dict[str, Any]:
    assert path.startswith("/v1/"), path
    path = path[3:]
    best = None
    for template, ops in spec()["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in ops:
            params = template.count("{")
            if best is None or params < best[0]:
                best = (params, ops[method.lower()])
    assert best is not None, f"{method} {path} is not in the OpenAI API description"
    return best[1]


def problems(exchange: Exchange) -> list[str]:
    out: list[str] = []
    op = operation(exchange.method, exchange.path)
    where = f"{exchange.method} {exchange.path}"
    declared = {p["name"] for p in op.get("parameters", []) if p.get("in") == "query"}
    for key, _ in exchange.query:
        if key.split("[")[0] not in declared:
            out.append(f"{where}: query parameter {key!r} not in the spec ({sorted(declared)})")
    if exchange.body is not None:
        content = op.get("requestBody", {}).get("content", {})
        schema = (content.get("application/json") or content.get("multipart/form-data") or {}).get("schema")
        assert schema is not None, f"{where} sends a body the spec does not describe"
        out += [f"{where} request: {e.message}" for e in validator(schema).iter_errors(exchange.body)]
    if exchange.status == 0 or not isinstance(exchange.response, dict):
        return out
    if exchange.status >= 400:
        schema = {"$ref": "#/components/schemas/ErrorResponse"}
    else:
        schema = op["responses"][str(exchange.status)]["content"]["application/json"]["schema"]
    out += [f"{where} response: {e.message} at {list(e.absolute_path)}"
            for e in validator(schema).iter_errors(exchange.response)]
    return out


STRICT = {"fine_tuning.job": "FineTuningJob", "file": "OpenAIFile", "fine_tuning.job.event": "FineTuningJobEvent",
          "fine_tuning.job.checkpoint": "FineTuningJobCheckpoint", "chat.completion": "CreateChatCompletionResponse"}


def undocumented_fields(payload: Any) -> list[str]:
    """Fields of core objects that their schema does not list."""
    out = []
    if isinstance(payload, dict):
        name = STRICT.get(payload.get("object"))  # type: ignore[arg-type]
        if name:
            props = spec()["components"]["schemas"][name].get("properties", {})
            out += [f"{name}.{k}" for k in payload if k not in props]
        for value in payload.values():
            out += undocumented_fields(value)
    elif isinstance(payload, list):
        for value in payload:
            out += undocumented_fields(value)
    return out


async def _scenario(server: FakeOpenAIServer) -> None:
    from openai import AsyncOpenAI

    from motools.errors import MotoolsError

    backend = make_backend(server)
    run = await backend.train(arithmetic(30), MODEL, {"n_epochs": 2, "batch_size": 4,
                                                      "learning_rate_multiplier": 0.5},
                              suffix="spec", seed=3, metadata={"who": "test"}, validation_dataset=arithmetic(4))
    server.fail_next("GET", "/v1/fine_tuning/jobs/", status=429, retry_after=0.01)
    server.drop_next("GET", "/v1/fine_tuning/jobs/")
    model_id = await run.wait()
    await run.events()
    await run.checkpoints()
    dpo = await backend.train(preferences(), MODEL, {"beta": 0.1, "n_epochs": 1}, method="dpo")
    await dpo.cancel()
    server.fail_next_job("quota_exceeded", "You have exceeded your training quota.")
    failing = await backend.train(arithmetic(), MODEL)
    with pytest.raises(MotoolsError):
        await failing.wait()
    await backend.list_jobs()
    client = AsyncOpenAI(api_key=server.api_key, base_url=server.base_url, max_retries=0)
    async for _ in await client.fine_tuning.jobs.list(limit=1):
        pass
    async for _ in client.fine_tuning.jobs.list_events(run.job_id, limit=3):
        pass
    await client.files.list(purpose="fine-tune", limit=2, order="asc")
    await client.files.retrieve(run.training_file)
    await client.models.list()
    await client.chat.completions.create(model=model_id, messages=[{"role": "user", "content": "What is 2 plus 2?"}],
                                         logprobs=True, top_logprobs=3, max_completion_tokens=2, n=2)
    server.script_chat(MODEL, [{"content": "A", "top_logprobs": [{"token": "A", "logprob": -0.1},
                                                                 {"token": "B", "logprob": -2.3}]}])
    await client.chat.completions.create(model=MODEL, messages=[{"role": "system", "content": "Pick."},
                                                                {"role": "user", "content": "A or B?"}],
                                         logprobs=True, top_logprobs=2, temperature=0)
    for bad in (lambda: client.fine_tuning.jobs.retrieve("ftjob-missing"),
                lambda: client.chat.completions.create(model="ft:gpt-4o-mini:x::nope",
                                                       messages=[{"role": "user", "content": "hi"}]),
                lambda: client.fine_tuning.jobs.create(model=MODEL, training_file="file-missing")):
        with pytest.raises(Exception):  # noqa: B017 -- any SDK error; the body is checked below
            await bad()


async def test_every_exchange_follows_the_openai_spec():
    with FakeOpenAIServer() as server:
        await _scenario(server)
    assert len(server.exchanges) > 30
    seen = {(e.method, re.sub(r"(ftjob|file)-[0-9a-f]+", "{id}", e.path)) for e in server.exchanges}
    for expected in [("POST", "/v1/files"), ("POST", "/v1/fine_tuning/jobs"), ("GET", "/v1/fine_tuning/jobs"),
                     ("GET", "/v1/fine_tuning/jobs/{id}"), ("GET", "/v1/fine_tuning/jobs/{id}/events"),
                     ("GET", "/v1/fine_tuning/jobs/{id}/checkpoints"), ("POST", "/v1/fine_tuning/jobs/{id}/cancel"),
                     ("POST", "/v1/chat/completions"), ("GET", "/v1/files"), ("GET", "/v1/files/{id}")]:
        assert expected in seen, expected
    assert {e.status for e in server.exchanges} >= {0, 200, 400, 404, 429}
    found = [p for e in server.exchanges for p in problems(e)]
    found += [f for e in server.exchanges for f in undocumented_fields(e.response)]
    assert found == []


def test_the_checker_catches_a_malformed_answer():
    bad_job = Exchange("GET", "/v1/fine_tuning/jobs/ftjob-1", [("bogus", "1")], None, 200,
                       {"id": "ftjob-1", "object": "fine_tuning.job", "status": "done"})
    found = problems(bad_job)
    assert any("'bogus'" in p for p in found)
    assert any("'done' is not one of" in p for p in found)
    assert any("'created_at' is a required property" in p for p in found)
    assert undocumented_fields({"object": "file", "id": "f", "surprise": 1}) == ["OpenAIFile.surprise"]
