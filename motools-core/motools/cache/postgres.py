"""A team's shared index in PostgreSQL: psycopg 3 and its connection pool.

Selected by a ``postgresql://`` URL (``MOTOOLS_STORE``, or ``motools store use URL``).
The store's SQL is shared with SQLite; this module rewrites its ``?`` placeholders to
``%s``, runs each write in a transaction taken from the pool, and

* retries a transaction whose connection was lost (the server restarted, a network blip)
  with a bounded exponential backoff, printing each retry on stderr;
* fails at once, in one line naming the URL without its password, when the server cannot be
  reached the first time;
* turns a permission error (a read-only role) into one :class:`StoreError` saying so.

Passwords never appear in URLs motools writes or prints: use ``PGPASSWORD`` or ``~/.pgpass``.
psycopg is imported only when a PostgreSQL store is opened (``pip install
'motools-core[team]'``).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import motools.cache.schema as schema
from motools.cache.index import Connection, Cursor, Index, StoreError
from motools.redaction import redact_url

T = TypeVar("T")

#: Seconds between retries of a lost connection: bounded (about 30 s in all).
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0)
#: Seconds to wait for a pooled connection before counting it as lost.
CONNECTION_WAIT = 2.0
#: An advisory-lock id that serialises schema upgrades of one database.
_MIGRATION_LOCK = 0x6D6F746F6F6C73
_PLACEHOLDERS: dict[str, str] = {}


def _pg_sql(sql: str) -> str:
    out = _PLACEHOLDERS.get(sql)
    if out is None:
        out = _PLACEHOLDERS[sql] = sql.replace("%", "%%").replace("?", "%s")
    return out


def _import_psycopg() -> Any:
    try:
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise StoreError(
            "a PostgreSQL store needs psycopg: pip install 'motools-core[team]'"
        ) from exc
    return psycopg, psycopg_pool


class _PgConnection:
    """A psycopg connection that takes the store's ``?`` placeholders."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def execute(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> Cursor:
        return self._conn.execute(_pg_sql(sql), tuple(args) if args else None)  # type: ignore[no-any-return]


class PostgresIndex(Index):
    """The index in a PostgreSQL database (tables in the URL's ``search_path`` schema)."""

    dialect = "postgresql"
    keeps_copies = False

    def __init__(self, url: str, *, baseline: str, max_connections: int = 8) -> None:
        self.url = url
        self.baseline = baseline
        self.max_connections = max_connections
        self._pool: Any = None
        self._lock = threading.Lock()
        self.psycopg, self.psycopg_pool = _import_psycopg()
        # The pool logs its own reconnection attempts; motools prints one line per retry
        # instead (a handler here keeps logging's last-resort printer quiet).
        logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())

    @property
    def location(self) -> str:
        return redact_url(self.url)

    # -- connecting ---------------------------------------------------------------------
    def connect(self) -> None:
        self._get_pool()

    def _get_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        with self._lock:
            if self._pool is None:
                self._first_connect()
                pool_cls = self.psycopg_pool.ConnectionPool
                pool = pool_cls(
                    self.url,
                    min_size=1,
                    max_size=self.max_connections,
                    kwargs={"autocommit": True},
                    check=pool_cls.check_connection,
                    open=False,
                    name="motools-store",
                )
                pool.open(wait=False)
                self._pool = pool
        return self._pool

    def _first_connect(self) -> None:
        """Reach the server once (failing in one line if it cannot), check and migrate."""
        try:
            conn = self.psycopg.connect(self.url, autocommit=True, connect_timeout=10)
        except self.psycopg.Error as exc:
            raise StoreError(
                f"cannot reach the motools store at {self.location}: {_one_line(exc)}"
            ) from None
        try:
            found, written_by = schema.current(*self._hooks(conn))
            self.version_at_open = found
            if found > schema.LATEST:
                self.read_only = True
                self.read_only_reason = schema.newer_schema_message(
                    self.location, found, written_by
                )
            elif found < schema.LATEST:
                self._migrate(conn)
        finally:
            conn.close()

    def _migrate(self, conn: Any) -> tuple[int, int]:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                return schema.upgrade(*self._hooks(conn), "postgresql", self.baseline)
        except self.psycopg.errors.InsufficientPrivilege as exc:
            raise StoreError(
                f"the motools store at {self.location} needs its schema created or upgraded "
                f"(to version {schema.LATEST}) and this role may not: {_one_line(exc)}. Ask "
                f"its owner to run `motools store init {self.location}`"
            ) from None

    @staticmethod
    def _hooks(conn: Any) -> tuple[Any, Any]:
        wrapped = _PgConnection(conn)

        def tables() -> set[str]:
            rows = conn.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            ).fetchall()
            return {r[0] for r in rows}

        return wrapped.execute, tables

    # -- running SQL --------------------------------------------------------------------
    def _retrying(self, body: Callable[[Any], T], *, write: bool) -> T:
        pool = self._get_pool()
        if write and self.read_only:
            raise StoreError(self.read_only_reason)
        errors = self.psycopg.errors
        for attempt in range(len(RETRY_DELAYS) + 1):
            try:
                with pool.connection(timeout=CONNECTION_WAIT) as conn:
                    if write:
                        with conn.transaction():
                            return body(conn)
                    return body(conn)
            except (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction) as exc:
                raise StoreError(
                    f"the motools store at {self.location} is read-only for this role: listing "
                    f"works, but this command needs to write ({_one_line(exc)}). Use a role "
                    "that may write, or a local store (unset MOTOOLS_STORE)"
                ) from None
            except (self.psycopg.OperationalError, self.psycopg_pool.PoolTimeout) as exc:
                if not _connection_lost(exc) or attempt == len(RETRY_DELAYS):
                    raise StoreError(
                        f"the motools store at {self.location} failed: {_one_line(exc)}"
                    ) from None
                delay = RETRY_DELAYS[attempt]
                print(
                    f"motools: the store at {self.location} is unreachable "
                    f"({_one_line(exc)}); retry {attempt + 1}/{len(RETRY_DELAYS)} in {delay:g} s",
                    file=sys.stderr,
                    flush=True,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        pool = self._get_pool()
        if self.read_only:
            raise StoreError(self.read_only_reason)
        with pool.connection(timeout=CONNECTION_WAIT) as conn, conn.transaction():
            yield _PgConnection(conn)

    def run(self, body: Callable[[Connection], T]) -> T:
        group = self._group()
        if group is not None:
            return body(group)
        return self._retrying(lambda conn: body(_PgConnection(conn)), write=True)

    def together(self, fn: Callable[[], T]) -> T:
        if self._group() is not None:
            return fn()
        return self._retrying(lambda conn: self._grouped(_PgConnection(conn), fn), write=True)

    def query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        return self._retrying(
            lambda conn: _PgConnection(conn).execute(sql, args).fetchall(), write=False
        )

    def stream(
        self, sql: str, args: tuple[Any, ...] | list[Any] = (), batch: int = 500
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows through a server-side cursor, ``batch`` at a time (no retry mid-stream)."""
        pool = self._get_pool()
        with (
            pool.connection(timeout=CONNECTION_WAIT) as conn,
            conn.transaction(),
            conn.cursor(name="motools_stream") as cursor,
        ):
            cursor.execute(_pg_sql(sql), tuple(args) if args else None)
            while rows := cursor.fetchmany(batch):
                yield rows

    def integrity(self) -> str:
        self.query("SELECT 1")
        return "ok"

    def schema(self) -> tuple[int, str | None]:
        return self._retrying(lambda conn: schema.current(*self._hooks(conn)), write=False)

    def upgrade(self) -> tuple[int, int]:
        self._get_pool()  # opening applies missing migrations (or finds a newer schema)
        after, _ = self.schema()
        if not self.read_only and after < schema.LATEST:
            after = self._retrying(self._migrate, write=False)[1]
        return self.version_at_open, after

    def copy_records(self, rows: Iterator[tuple[Any, ...]], columns: list[str]) -> int:
        """Bulk-load ``rows`` into ``records`` with COPY (for benchmarks and big pushes)."""

        def body(conn: Any) -> int:
            n = 0
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY records ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
                    n += 1
            return n

        return self._retrying(body, write=True)

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the connection went away (worth a retry), not a bad query."""
    import psycopg

    state = exc.sqlstate if isinstance(exc, psycopg.Error) else None
    if state is None:
        return True  # client side: connection refused, closed, pool timeout
    return state.startswith("08") or state in ("57P01", "57P02", "57P03", "40001", "40P01")
