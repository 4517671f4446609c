"""motools-hf installs alone from its wheel, and importing motools stays light."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.test_light_imports import imported_heavy
from tests.e2e.test_wheels import fresh_venv, run, wheels  # noqa: F401  (fixture)


def test_plugin_import_and_routing_stay_light(tmp_path: Path) -> None:
    code = (
        "import motools, motools_hf, motools_hf.plugin\n"
        "motools.list_training_backends()\n"
        "from motools.plugins import route_model\n"
        f"route_model('hf/{tmp_path}', 'inspect')\n"
        "motools.get_training_backend('hf')\n"
    )
    heavy = imported_heavy(code)
    assert "torch" not in heavy and "transformers" not in heavy, heavy


@pytest.mark.slow
def test_core_plus_hf_is_a_complete_hf_install(wheels: Path, tmp_path: Path) -> None:  # noqa: F811
    venv = fresh_venv(tmp_path, wheels, "motools-core", "motools-hf")
    plugins = run([str(venv / "bin" / "motools"), "plugins", "--json"], cwd=tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    assert [p["name"] for p in json.loads(plugins.stdout)] == ["motools.builtin", "hf"]
    probe = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import sys, motools\n"
            "from motools_hf import HFTrainingBackend\n"
            "b = motools.get_training_backend('hf')\n"
            "assert isinstance(b, HFTrainingBackend)\n"
            "print(sorted(r.name for r in motools.list_training_backends()))\n"
            "print([m for m in ('openai', 'inspect_ai', 'tinker', 'torch') if m in sys.modules])\n"
            "import motools_hf.loop, peft, torch\n"
            "print(torch.__version__)\n",
        ],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert probe.returncode == 0, probe.stderr
    names, heavy, _torch = probe.stdout.strip().splitlines()
    assert names == "['dummy', 'hf']"
    assert heavy == "[]"
    site = {p.name for p in (venv / "lib").glob("python*/site-packages/*")}
    assert "torch" in site and "tinker" not in site and "openai" not in site
    assert not any(tmp_path.glob(".motools"))
