"""Plugin discovery, lookup by name, and the failure modes researchers hit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pluggy
import pytest

import motools
from motools.errors import PluginLoadError, RoutingError, UnknownBackendError
from motools.plugins import list_plugins, route_model
from motools.training.backends.dummy import DummyTrainingBackend


def make_plugin_dist(root: Path, name: str, module_source: str, entry: str | None = None) -> Path:
    """Create an installed-looking distribution (module + dist-info) under ``root``."""
    pkg = f"motools_{name}"
    (root / pkg).mkdir(parents=True)
    (root / pkg / "__init__.py").write_text("")
    (root / pkg / "plugin.py").write_text(textwrap.dedent(module_source))
    info = root / f"motools_{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: motools-{name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[motools]\n{name} = {entry or pkg + '.plugin'}\n")
    return root


ECHO_PLUGIN = """
    import motools
    from motools.training.backends.dummy import DummyTrainingBackend

    class EchoBackend(DummyTrainingBackend):
        name = "echo"

    @motools.hookimpl
    def register_training_backends(register):
        register("echo", "motools_echo.plugin:EchoBackend", description="echoes")
"""


def run_python(
    code: str, *, extra_path: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    if extra_path is not None:
        full_env["PYTHONPATH"] = str(extra_path)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_builtin_dummy_backends_are_found_by_name() -> None:
    backend = motools.get_training_backend("dummy", duration=0)
    assert isinstance(backend, DummyTrainingBackend)
    assert motools.get_eval_backend("dummy").name == "dummy"
    assert "dummy" in [r.name for r in motools.list_training_backends()]
    builtin = [p for p in list_plugins() if p.builtin]
    assert builtin and "register_training_backends" in builtin[0].hooks


def test_kwargs_reach_the_backend_constructor() -> None:
    assert motools.get_training_backend("dummy", duration=7).duration == 7.0


def test_unknown_backend_suggests_close_name_and_lists_available() -> None:
    with pytest.raises(UnknownBackendError) as info:
        motools.get_training_backend("dumy")
    msg = str(info.value)
    assert "Did you mean 'dummy'?" in msg
    assert "Available training backends:" in msg and "dummy" in msg
    assert info.value.available and info.value.name == "dumy"


def test_unknown_known_backend_names_its_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTOOLS_DISABLE_PLUGINS", "1")
    with pytest.raises(UnknownBackendError, match=r"pip install motools-tinker"):
        motools.get_training_backend("tinker")
    with pytest.raises(UnknownBackendError, match=r"pip install motools-inspect"):
        motools.get_eval_backend("inspect")


def test_third_party_entry_point_plugin_is_discovered(tmp_path: Path) -> None:
    make_plugin_dist(tmp_path, "echo", ECHO_PLUGIN)
    result = run_python(
        """
        import json, motools, asyncio
        from motools.datasets import JSONLDataset
        backend = motools.get_training_backend("echo")
        ds = JSONLDataset.from_pairs([("hi", "hello")])
        run = asyncio.run(backend.train(ds, "base"))
        plugins = {p.name: p.to_dict() for p in motools.list_plugins()}
        print(json.dumps({"name": backend.name, "model": asyncio.run(run.wait()), "echo": plugins["echo"]}))
        """,
        extra_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["name"] == "echo"
    assert out["model"].startswith("dummy/base@")
    assert out["echo"]["distribution"] == "motools-echo"
    assert out["echo"]["version"] == "1.2.3"
    assert out["echo"]["hooks"] == ["register_training_backends"]


def test_plugin_switches_disable_and_select(tmp_path: Path) -> None:
    make_plugin_dist(tmp_path, "echo", ECHO_PLUGIN)
    code = "import motools; print(sorted(r.name for r in motools.list_training_backends()))"
    assert "echo" in run_python(code, extra_path=tmp_path).stdout
    for env in (
        {"MOTOOLS_DISABLE_PLUGINS": "1"},
        {"MOTOOLS_DISABLE_PLUGINS": "echo"},
        {"MOTOOLS_LOAD_PLUGINS": "openai"},
    ):
        out = run_python(code, extra_path=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        assert "echo" not in out.stdout and "dummy" in out.stdout, env
    assert (
        "echo" in run_python(code, extra_path=tmp_path, env={"MOTOOLS_LOAD_PLUGINS": "echo"}).stdout
    )


def test_broken_plugin_is_skipped_and_its_error_chained(tmp_path: Path) -> None:
    make_plugin_dist(tmp_path, "broken", "import a_module_that_does_not_exist_xyz\n")
    result = run_python(
        """
        import warnings, motools
        from motools.errors import PluginLoadError
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            names = [r.name for r in motools.list_training_backends()]
        assert "dummy" in names, names
        assert any("broken" in str(w.message) for w in caught)
        info = [p for p in motools.list_plugins() if p.name == "broken"][0]
        assert "a_module_that_does_not_exist_xyz" in info.error
        try:
            motools.get_training_backend("broken")
        except PluginLoadError as exc:
            assert isinstance(exc.__cause__, ModuleNotFoundError), repr(exc.__cause__)
            print("OK", exc)
        """,
        extra_path=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK")


def test_backend_whose_module_is_missing_raises_plugin_load_error() -> None:
    class Plugin:
        @motools.hookimpl
        def register_training_backends(self, register):  # type: ignore[no-untyped-def]
            register("ghost", "motools_ghost_nowhere.backend:Ghost")

    motools.register_plugin(Plugin(), name="ghost-plugin")
    with pytest.raises(PluginLoadError, match="ghost") as info:
        motools.get_training_backend("ghost")
    assert isinstance(info.value.__cause__, ImportError)


def test_runtime_registration_and_unregistration() -> None:
    class Echo(DummyTrainingBackend):
        name = "echo2"

    class Plugin:
        @motools.hookimpl
        def register_training_backends(self, register):  # type: ignore[no-untyped-def]
            register("echo2", Echo, description="registered at run time")

    plugin = Plugin()
    motools.register_plugin(plugin, name="echo2-plugin")
    assert isinstance(motools.get_training_backend("echo2"), Echo)
    motools.unregister_plugin(plugin)
    with pytest.raises(UnknownBackendError):
        motools.get_training_backend("echo2")


def test_misspelt_hook_fails_loudly() -> None:
    class Typo:
        @motools.hookimpl
        def register_training_backend(self, register):  # type: ignore[no-untyped-def]
            pass

    with pytest.raises(pluggy.PluginValidationError, match="register_training_backends"):
        motools.register_plugin(Typo(), name="typo")
    # the bad plugin was not left behind
    assert "typo" not in [p.name for p in list_plugins()]


def test_loading_is_lazy_and_idempotent() -> None:
    result = run_python(
        """
        import motools, motools.plugins as p
        assert p._state.pm is None, "import motools must not load plugins"
        pm1 = p.get_plugin_manager(); pm2 = p.get_plugin_manager()
        assert pm1 is pm2
        assert len(pm1.get_plugins()) == len(set(map(id, pm1.get_plugins())))
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr


def test_route_model_routes_dummy_and_rejects_unknown() -> None:
    assert route_model("dummy/base@abc", "inspect").model == "dummy/base@abc"
    assert route_model("anything", "dummy").model == "anything"
    with pytest.raises(RoutingError, match="No installed plugin"):
        route_model("mystery-model-without-provider", "nonexistent-eval")


def test_route_model_hook_can_return_arguments() -> None:
    class Router:
        @motools.hookimpl
        def route_model(self, model_id, eval_backend):  # type: ignore[no-untyped-def]
            if model_id.startswith("acme/"):
                return {"model": "openai-api/acme/" + model_id[5:], "model_args": {"base_url": "x"}}
            return None

    motools.register_plugin(Router(), name="acme")
    route = route_model("acme/m1", "inspect")
    assert route.model == "openai-api/acme/m1" and route.model_args == {"base_url": "x"}


def test_dataset_task_and_workflow_hooks_register_names() -> None:
    class Zoo:
        @motools.hookimpl
        def register_datasets(self, register):  # type: ignore[no-untyped-def]
            register("tiny", "motools.demo:hello_world_dataset", description="d", license="MIT")

        @motools.hookimpl
        def register_tasks(self, register):  # type: ignore[no-untyped-def]
            register("tiny_task", "motools.demo:hello_world_dataset", description="t")

        @motools.hookimpl
        def register_workflows(self, register):  # type: ignore[no-untyped-def]
            register("tiny_flow", "motools.demo:run_demo", description="w")

    motools.register_plugin(Zoo(), name="zoo-test")
    (tiny,) = [r for r in motools.list_datasets() if r.name == "tiny"]
    assert tiny.plugin == "zoo-test" and tiny.metadata == {"license": "MIT"}
    assert len(tiny.load()(n=3)) == 3
    assert "tiny_task" in [r.name for r in motools.list_tasks()]
    assert "tiny_flow" in [r.name for r in motools.list_workflows()]
