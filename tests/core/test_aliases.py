"""The seed-documented import paths alias plugin distributions or give an install hint."""

from __future__ import annotations

import subprocess
import sys

import pytest

ALIASES = [
    (
        "motools.training.backends.openai",
        "OpenAITrainingBackend",
        "motools_openai",
        "pip install motools-openai",
    ),
    (
        "motools.training.backends.tinker",
        "TinkerTrainingBackend",
        "motools_tinker",
        "pip install motools-tinker",
    ),
    (
        "motools.evals.backends.inspect",
        "InspectEvalBackend",
        "motools_inspect",
        "pip install motools-inspect",
    ),
]


@pytest.mark.parametrize(("alias", "name", "plugin_module", "hint"), ALIASES)
def test_missing_distribution_gives_install_hint(
    alias: str, name: str, plugin_module: str, hint: str
) -> None:
    # sys.modules[name] = None makes Python behave as if the distribution were not installed.
    code = (
        f"import sys; sys.modules[{plugin_module!r}] = None\n"
        f"try:\n    from {alias} import {name}\n"
        "except ImportError as exc:\n    print('HINT', exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("HINT") and hint in out.stdout


def test_dummy_paths_live_in_core() -> None:
    from motools.evals.backends.dummy import DummyEvalBackend
    from motools.training.backends.dummy import DummyTrainingBackend

    assert DummyTrainingBackend.name == DummyEvalBackend.name == "dummy"
