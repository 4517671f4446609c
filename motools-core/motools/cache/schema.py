"""Versioned schema migrations of the store's index, for SQLite and PostgreSQL alike.

The ``schema_migrations`` table lists every migration applied (version, what it did, the
motools-core version that applied it, when). :func:`upgrade` applies the missing ones in one
transaction; a store whose newest migration is newer than :data:`LATEST` is left alone, and
the store opens it read-only with :func:`newer_schema_message` as the reason.

An index made before this table existed (a SQLite ``index.db`` with only ``records``,
``claims`` and ``artifacts``) counts as version 1: migration 1 is written with ``IF NOT
EXISTS`` so applying it again changes nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

#: (version, description, statements). Statements are SQLite-flavoured; :func:`for_dialect`
#: adapts them to PostgreSQL (``REAL`` -> ``DOUBLE PRECISION``, ``BLOB`` -> ``BYTEA``; key
#: columns use the "C" collation so that prefix ranges and ``LIKE 'abc%'`` compare bytes and
#: use the index).
_BASELINE_MARK = "__baseline__"

MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "records, claims and artifacts", [_BASELINE_MARK]),
    (
        2,
        "project namespaces; who made each artifact",
        [
            "ALTER TABLE records ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
            "ALTER TABLE artifacts ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
            "ALTER TABLE artifacts ADD COLUMN made_by TEXT",
            "CREATE INDEX IF NOT EXISTS records_project_updated ON records (project, updated_at)",
            "CREATE INDEX IF NOT EXISTS artifacts_project_created ON artifacts (project, created_at)",
        ],
    ),
    (
        3,
        "indexes for listings sorted by time (cache ls, runs)",
        [
            "CREATE INDEX IF NOT EXISTS records_updated ON records (updated_at)",
            "CREATE INDEX IF NOT EXISTS records_kind_updated ON records (kind, updated_at)",
            "CREATE INDEX IF NOT EXISTS records_kind_status_updated"
            " ON records (kind, status, updated_at)",
        ],
    ),
    (
        4,
        "small blobs kept in the index",
        [
            "CREATE TABLE IF NOT EXISTS small_blobs (digest TEXT PRIMARY KEY, data BLOB NOT NULL)",
        ],
    ),
]

#: The newest schema version this motools knows.
LATEST = MIGRATIONS[-1][0]

_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
    " description TEXT NOT NULL, motools_version TEXT NOT NULL, applied_at REAL NOT NULL)"
)


def split_statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def for_dialect(statement: str, dialect: str) -> str:
    """``statement`` as ``dialect`` (``sqlite`` or ``postgresql``) wants it."""
    if dialect != "postgresql":
        return statement
    statement = re.sub(r"\bREAL\b", "DOUBLE PRECISION", statement)
    statement = re.sub(r"\bBLOB\b", "BYTEA", statement)
    return re.sub(r"\b(key|id) TEXT PRIMARY KEY", r'\1 TEXT COLLATE "C" PRIMARY KEY', statement)


def _motools_version() -> str:
    from motools import __version__

    return str(__version__)


Execute = Callable[[str, tuple[Any, ...]], Any]


def current(execute: Execute, fetch_tables: Callable[[], set[str]]) -> tuple[int, str | None]:
    """(applied version, the motools version that applied it); (0, None) for an empty index."""
    tables = fetch_tables()
    if "schema_migrations" not in tables:
        return (1 if "records" in tables else 0), None
    row = execute(
        "SELECT version, motools_version FROM schema_migrations ORDER BY version DESC LIMIT 1",
        (),
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, None)


def upgrade(
    execute: Execute,
    fetch_tables: Callable[[], set[str]],
    dialect: str,
    baseline: str,
) -> tuple[int, int]:
    """Apply every missing migration; returns (version before, version after).

    Run inside one transaction that the caller holds (with an exclusive lock for PostgreSQL,
    ``BEGIN IMMEDIATE`` for SQLite), so two clients upgrading at once apply each step once.
    """
    before, _ = current(execute, fetch_tables)
    if before >= LATEST:
        return before, before
    execute(for_dialect(_MIGRATIONS_TABLE, dialect), ())
    version = _motools_version()
    for number, description, statements in MIGRATIONS:
        if number > before:
            for statement in statements:
                scripts = split_statements(baseline) if statement == _BASELINE_MARK else [statement]
                for sql in scripts:
                    execute(for_dialect(sql, dialect), ())
        _record(execute, number, description, version)  # a pre-migrations index gets its 1
    return before, LATEST


def _record(execute: Execute, number: int, description: str, version: str) -> None:
    execute(
        "INSERT INTO schema_migrations (version, description, motools_version, applied_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (version) DO NOTHING",
        (number, description, version, time.time()),
    )


def newer_schema_message(where: str, found: int, written_by: str | None) -> str:
    need = f"motools-core>={written_by}" if written_by else "a newer motools-core"
    return (
        f"the motools store at {where} has schema version {found}, newer than this motools "
        f"knows ({LATEST}): it can be read but not written. Install {need} "
        f"(`pip install -U '{need}'`) to write to it"
    )
