"""Fixtures shared by every test: an isolated motools home and working directory, fresh plugins."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The upstream data mirror (``../shared/data`` beside the checkout; see the README's
#: Development section). ``MOTOOLS_SHARED_DATA`` points elsewhere.
SHARED_DATA = Path(
    os.environ.get("MOTOOLS_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data"
).resolve()


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing_shared(message: str) -> None:
    """A missing mirror: a skip on a developer's machine, a failure under CI (never silent)."""
    if on_ci():
        pytest.fail(f"{message} -- CI must run these tests on the real upstream bytes")
    pytest.skip(message)

# Nothing here may reach the network or a real account.
os.environ.setdefault("TINKER_TELEMETRY", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Run each test in its own temporary working directory and ``MOTOOLS_HOME``."""
    work = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(work)
    monkeypatch.setenv("MOTOOLS_HOME", str(work / ".motools-home"))
    for key in (
        "OPENAI_API_KEY",
        "TINKER_API_KEY",
        "MOTOOLS_DISABLE_PLUGINS",
        "MOTOOLS_LOAD_PLUGINS",
    ):
        monkeypatch.delenv(key, raising=False)
    from motools.plugins import reset_plugins

    reset_plugins()
    yield work
    reset_plugins()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        missing_shared(f"the shared data mirror is missing at {SHARED_DATA}")
    return SHARED_DATA


_ENTRIES_AT_START: set[str] = set()


def pytest_sessionstart(session: pytest.Session) -> None:
    _ENTRIES_AT_START.update(p.name for p in REPO_ROOT.iterdir())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test left a file or folder in the repository root."""
    left = sorted({p.name for p in REPO_ROOT.iterdir()} - _ENTRIES_AT_START - {"__pycache__"})
    if left:
        session.config.get_terminal_writer().line(
            f"tests left these in the working directory: {left}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
