"""Discovery, model routing and the light plugin module of motools-inspect."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import motools
from motools.errors import RoutingError
from motools.plugins import register_plugin, route_model


def test_backend_is_found_by_name_and_alias() -> None:
    from motools.evals.backends.inspect import InspectEvalBackend
    from motools_inspect import InspectEvalBackend as Direct

    backend = motools.get_eval_backend("inspect")
    assert isinstance(backend, InspectEvalBackend)
    assert InspectEvalBackend is Direct
    assert backend.name == "inspect"
    names = {r.name: r for r in motools.plugins.list_eval_backends()}
    assert names["inspect"].plugin == "inspect"


@pytest.mark.parametrize(
    "model_id",
    [
        "mockllm/model",
        "hf/meta-llama/Llama-3.1-8B-Instruct",
        "vllm/Qwen/Qwen2.5-7B",
        "openrouter/meta-llama/llama-3-70b",
        "openai-api/deepseek/deepseek-chat",
        "anthropic/claude-3-5-sonnet-latest",
        "ollama/llama3",
        "together/mistral-7b",
    ],
)
def test_ids_naming_an_inspect_provider_pass_through(model_id: str) -> None:
    assert route_model(model_id, "inspect").model == model_id
    assert route_model(model_id, "inspect").model_args == {}


def test_dummy_ids_reach_the_dummy_provider() -> None:
    assert route_model("dummy/base@abc123", "inspect").model == "dummy/base@abc123"
    from motools_inspect.providers import inspect_provider_names

    assert "dummy" in inspect_provider_names()


def test_this_plugin_leaves_other_ids_to_their_plugins() -> None:
    from motools_inspect import plugin

    for model_id in ("ft:gpt-4o-mini-2024-07-18:org::abc", "gpt-4o", "tinker/Qwen@tinker://x"):
        assert plugin.route_model(model_id=model_id, eval_backend="inspect") is None
    assert plugin.route_model(model_id="mockllm/model", eval_backend="dummy") is None


def test_an_owning_plugin_answers_before_the_pass_through() -> None:
    owner = types.SimpleNamespace(
        route_model=motools.hookimpl(
            lambda model_id, eval_backend: (
                {"model": model_id, "model_args": {"x": 1}}
                if model_id.startswith("openai/")
                else None
            )
        )
    )
    register_plugin(owner, name="owner")
    assert route_model("openai/gpt-4o", "inspect").model_args == {"x": 1}


async def test_unroutable_id_lists_known_providers() -> None:
    backend = motools.get_eval_backend("inspect")
    with pytest.raises(RoutingError) as info:
        await backend.evaluate("nosuchprovider/some-model", "tests.inspect.sample_tasks:yes_task")
    message = str(info.value)
    assert "nosuchprovider/some-model" in message
    for provider in ("openai", "hf", "vllm", "mockllm", "dummy", "openrouter"):
        assert f" {provider}," in message or f" {provider}." in message


@pytest.mark.slow
def test_plugin_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, motools_inspect.plugin, motools_inspect;"
        "from motools.plugins import list_eval_backends, route_model;"
        "assert 'inspect' in [r.name for r in list_eval_backends()];"
        "heavy = [m for m in ('inspect_ai', 'inspect_evals', 'pandas', 'openai') if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_dummy_provider_rejects_unknown_model_args() -> None:
    from inspect_ai.model import get_model

    with pytest.raises(ValueError, match="only one it takes is 'reply'"):
        get_model("dummy/x", memoize=False, temperature_typo=1)
