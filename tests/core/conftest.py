"""The cache, workflow, sweep and store-CLI tests run against both stores.

Every test in :data:`BOTH_STORES` runs twice: ``[sqlite]`` (the embedded default: SQLite and a
blob folder in the test's ``MOTOOLS_HOME``) and ``[team]`` (``MOTOOLS_STORE`` pointing at a
fresh schema of a PostgreSQL database this session created, ``MOTOOLS_BLOBS`` at a fresh
prefix of a bucket in a moto S3 server this session started). A test that damages SQLite files
or the blob folder on purpose is marked ``sqlite_only`` and says why.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import on_ci

BOTH_STORES = {
    "tests.core.test_cache",
    "tests.core.test_workflows",
    "tests.core.test_sweeps",
    "tests.core.test_cli_store",
    "tests.core.test_cache_processes",
    "tests.core.test_sweeps_processes",
    "tests.core.test_team_store",
}
_SCHEMAS = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): runs against the embedded SQLite store only"
    )
    config.addinivalue_line("markers", "team_only: runs against the team store only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.module.__name__ not in BOTH_STORES or "store_kind" not in metafunc.fixturenames:
        return
    kinds = ["sqlite", "team"]
    if metafunc.definition.get_closest_marker("sqlite_only"):
        kinds = ["sqlite"]
    if metafunc.definition.get_closest_marker("team_only"):
        kinds = ["team"]
    metafunc.parametrize("store_kind", kinds, indirect=True)


def _unavailable(message: str) -> None:
    if on_ci():
        pytest.fail(f"{message} -- CI must run the team-store tests (.ci/run starts PostgreSQL)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test session (dropped at its end); its URL."""
    from tests import team_services

    if not team_services.pg_reachable():
        _unavailable(f"PostgreSQL is not reachable at {team_services.ADMIN_URL}")
    url, name = team_services.create_database()
    yield url
    from motools.cache.store import close_stores

    close_stores()
    team_services.drop_database(name)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """moto's S3 server, a child process on 127.0.0.1, stopped by its PID at the end."""
    from tests import team_services

    server = team_services.start_s3(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def team_env(
    pg_database: str, s3_server: object, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point ``MOTOOLS_STORE`` / ``MOTOOLS_BLOBS`` at a fresh schema and bucket prefix."""
    from tests import team_services

    schema = f"t{os.getpid()}_{next(_SCHEMAS)}"
    env = {
        "MOTOOLS_STORE": team_services.create_schema(pg_database, schema),
        "MOTOOLS_BLOBS": f"s3://{team_services.BUCKET}/{schema}",
        **s3_server.env(),  # type: ignore[attr-defined]
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture(autouse=True)
def store_kind(
    request: pytest.FixtureRequest, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """``sqlite`` or ``team``: which store this test runs against (see the module docstring)."""
    kind = getattr(request, "param", "sqlite")
    for name in ("MOTOOLS_STORE", "MOTOOLS_BLOBS", "MOTOOLS_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    if kind == "team":
        request.getfixturevalue("team_env")
    yield kind
    from motools.cache.store import close_stores

    close_stores()
