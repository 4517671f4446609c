"""Offline token counting, the plugin's registration and model routing, light imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from motools.errors import RoutingError

OFFLINE_SCRIPT = r"""
import json, socket, sys
def refuse(*args, **kwargs):
    raise OSError("network access attempted")
socket.socket.connect = refuse
socket.create_connection = refuse
from motools_openai.tokens import get_encoding, count_message_tokens, encoding_name_for_model
out = {}
for name in ("o200k_base", "cl100k_base"):
    enc = get_encoding(name)
    out[name] = enc.encode("hello world")
    assert enc.decode(enc.encode("Model organisms, 1234!")) == "Model organisms, 1234!"
out["chat"] = count_message_tokens([{"role": "user", "content": "hello world"}], get_encoding("o200k_base"))
out["model"] = encoding_name_for_model("ft:gpt-4o-mini-2024-07-18:org:x:abc")
print(json.dumps(out))
"""


def test_tiktoken_encodings_load_offline_from_the_package(tmp_path):
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(cache), "DATA_GYM_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    # Token ids of OpenAI's published encodings (verified by sha256 at load time as well).
    assert out["cl100k_base"] == [15339, 1917]
    assert out["o200k_base"] == [24912, 2375]
    assert out["chat"] == 3 + 1 + 2 + 3  # message overhead, role, content, reply priming
    assert out["model"] == "o200k_base"
    assert list(cache.iterdir()) == []  # nothing downloaded or cached


def test_plugin_registers_the_backend():
    from motools.plugins import list_training_backends

    names = {r.name: r for r in list_training_backends()}
    assert names["openai"].target == "motools_openai.backend:OpenAITrainingBackend"


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("ft:gpt-4o-mini-2024-07-18:org:sfx:abc123", ("openai/ft:gpt-4o-mini-2024-07-18:org:sfx:abc123",
                                                      {"responses_api": False})),
        ("ft:o4-mini-2025-04-16:org::x", ("openai/ft:o4-mini-2025-04-16:org::x", {"responses_api": False})),
        ("gpt-4o-mini", ("openai/gpt-4o-mini", {})),
        ("o3-mini", ("openai/o3-mini", {})),
        ("o1", ("openai/o1", {})),
        ("chatgpt-4o-latest", ("openai/chatgpt-4o-latest", {})),
        ("davinci-002", ("openai/davinci-002", {})),
    ],
)
def test_route_model_for_inspect(model_id, expected):
    from motools.plugins import route_model

    route = route_model(model_id, "inspect")
    assert (route.model, route.model_args) == expected


@pytest.mark.parametrize("model_id", ["o1x-model", "olmo-7b", "tinker/llama@x", "meta-llama/Llama-3"])
def test_route_model_leaves_other_ids_alone(model_id):
    from motools_openai.plugin import route_model

    assert route_model(model_id, "inspect") is None


def test_route_model_only_for_inspect():
    from motools_openai.plugin import route_model

    assert route_model("ft:gpt-4o-mini:o::x", "some-other-evaluator") is None
    from motools.plugins import route_model as core_route

    with pytest.raises(RoutingError):
        core_route("olmo-7b", "inspect")


def test_inspect_openai_provider_accepts_the_model_arg():
    import inspect as pyinspect

    from inspect_ai.model._providers.openai import OpenAIAPI

    assert "responses_api" in pyinspect.signature(OpenAIAPI.__init__).parameters


def test_plugin_and_package_imports_stay_light():
    code = ("import sys, motools_openai, motools_openai.plugin, motools_openai.backend;"
            "print([m for m in ('openai', 'tiktoken', 'pydantic', 'inspect_ai') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
