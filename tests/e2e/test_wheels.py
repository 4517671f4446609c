"""Build the wheels and install them into fresh virtual environments, as users would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    out = tmp_path_factory.mktemp("dist")
    built = run([uv, "build", "--all-packages", "--wheel", "--out-dir", str(out)], cwd=REPO_ROOT)
    assert built.returncode == 0, built.stderr
    return out


def fresh_venv(tmp: Path, wheels: Path, *dists: str) -> Path:
    uv = shutil.which("uv")
    assert uv
    venv = tmp / "venv"
    made = run([uv, "venv", "--python", sys.executable, str(venv)])
    assert made.returncode == 0, made.stderr
    files = [str(next(wheels.glob(f"{d.replace('-', '_')}-*.whl"))) for d in dists]
    python = str(venv / "bin" / "python")
    install = [uv, "pip", "install", "--python", python, *files]
    done = run([*install, "--offline"])
    if done.returncode != 0:  # cache cold: allow the package registry
        done = run(install)
    assert done.returncode == 0, done.stderr
    return venv


def test_core_alone_lists_only_builtins(wheels: Path, tmp_path: Path) -> None:
    venv = fresh_venv(tmp_path, wheels, "motools-core")
    plugins = run([str(venv / "bin" / "motools"), "plugins", "--json"], cwd=tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    assert [p["name"] for p in json.loads(plugins.stdout)] == ["motools.builtin"]
    demo = run([str(venv / "bin" / "motools"), "demo"], cwd=tmp_path)
    assert demo.returncode == 0 and "accuracy" in demo.stdout, demo.stderr
    hint = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from motools.training.backends.openai import OpenAITrainingBackend",
        ],
        cwd=tmp_path,
    )
    assert hint.returncode != 0
    assert "pip install motools-openai" in hint.stderr
    assert not any(tmp_path.glob(".motools"))


def test_core_plus_tinker_is_a_complete_tinker_install(wheels: Path, tmp_path: Path) -> None:
    venv = fresh_venv(tmp_path, wheels, "motools-core", "motools-tinker")
    plugins = run([str(venv / "bin" / "motools"), "plugins", "--json"], cwd=tmp_path)
    assert plugins.returncode == 0, plugins.stderr
    assert [p["name"] for p in json.loads(plugins.stdout)] == ["motools.builtin", "tinker"]
    probe = run(
        [str(venv / "bin" / "python"), "-c",
         "import sys, motools\n"
         "from motools.training.backends.tinker import TinkerTrainingBackend\n"
         "b = motools.get_training_backend('tinker')\n"
         "assert isinstance(b, TinkerTrainingBackend)\n"
         "print(sorted(r.name for r in motools.list_training_backends()))\n"
         "print([m for m in ('openai', 'inspect_ai', 'torch') if m in sys.modules])\n"],
        cwd=tmp_path, env={"TINKER_TELEMETRY": "0", "PATH": "/usr/bin:/bin"},
    )
    assert probe.returncode == 0, probe.stderr
    names, heavy = probe.stdout.strip().splitlines()
    assert names == "['dummy', 'tinker']"
    assert heavy == "[]"
    venv_files = {p.name for p in (venv / "lib").glob("python*/site-packages/*")}
    assert "torch" not in venv_files and not any(n.startswith("tinker_cookbook") for n in venv_files)
