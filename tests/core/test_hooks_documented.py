"""Every hook is documented in docs/architecture.md and exercised by a test (datasette-style)."""

from __future__ import annotations

import pytest

from motools import hookspecs
from tests.conftest import REPO_ROOT

HOOKS = sorted(name for name in dir(hookspecs) if name.startswith(("register_", "route_")))


def test_there_are_hooks() -> None:
    assert "register_training_backends" in HOOKS and "route_model" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    assert f"`{hook}`" in (REPO_ROOT / "docs" / "architecture.md").read_text()
    assert getattr(hookspecs, hook).__doc__


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook: str) -> None:
    tests = [
        p for p in (REPO_ROOT / "tests").rglob("test_*.py") if p.name != "test_hooks_documented.py"
    ]
    assert any(hook in p.read_text() for p in tests), f"no test mentions {hook}"
