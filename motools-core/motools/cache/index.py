"""The seam between the store and its SQL database: one interface, two dialects.

:class:`~motools.cache.store.Store` writes its SQL once, with ``?`` placeholders and the
``INSERT ... ON CONFLICT`` upserts SQLite (>= 3.24) and PostgreSQL share, and runs it through
an :class:`Index`:

* :class:`SqliteIndex` -- the embedded default: ``index.db`` under the motools home, one
  connection per thread, WAL, ``BEGIN IMMEDIATE`` transactions (one writer at a time across
  processes), read-only opening of a store on a read-only filesystem, and a callback that
  rebuilds a damaged file from the record copies.
* :class:`motools.cache.postgres.PostgresIndex` -- a team's shared index: psycopg 3 with a
  connection pool, ``?`` rewritten to ``%s``, lost connections retried with a bounded,
  printed backoff.

Both apply the versioned migrations of :mod:`motools.cache.schema` when opened.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import motools.cache.schema as schema
from motools.errors import MotoolsError

T = TypeVar("T")


class StoreError(MotoolsError):
    """The store cannot be used as asked: damaged, read-only, unreachable, or not a folder."""


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def fetchmany(self, size: int = ...) -> list[Any]: ...


class Connection(Protocol):
    """What a transaction hands its body: ``execute(sql with ?, args)``."""

    def execute(self, sql: str, args: tuple[Any, ...] | list[Any] = ..., /) -> Cursor: ...


class Index(ABC):
    """Where the store's rows live. Subclasses: :class:`SqliteIndex`, ``PostgresIndex``."""

    #: ``sqlite`` or ``postgresql``.
    dialect: str = ""
    #: Whether durable records get a second copy in files beside the index (a guard against
    #: a damaged SQLite file; a PostgreSQL server keeps its own write-ahead log and backups).
    keeps_copies: bool = False
    #: True when writes are refused (read-only filesystem, role, or a newer schema).
    read_only: bool = False
    #: Why, in words a researcher can act on (set with :attr:`read_only`).
    read_only_reason: str = ""
    #: The schema version found when the index was opened (before any migration).
    version_at_open: int = 0

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the index is, safe to print (a path, or a URL without its password)."""

    @abstractmethod
    def connect(self) -> None:
        """Open (and migrate) the index now; raises :class:`StoreError` if it cannot."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction (no retry: the body runs once)."""

    def run(self, body: Callable[[Connection], T]) -> T:
        """Run ``body`` in a write transaction; retried as a whole if the connection is lost
        before it committed (so ``body`` must be idempotent: upserts, guarded updates).
        Inside :meth:`together`, ``body`` joins that transaction."""
        group = self._group()
        if group is not None:
            return body(group)
        with self.transaction() as conn:
            return body(conn)

    def together(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` with every :meth:`run` inside it in one transaction: one commit for a
        few writes that belong together (a record and its provenance). ``fn`` must not
        await or block; like ``run``'s body it may be run again whole if the connection is
        lost. Nested calls join the outer one."""
        if self._group() is not None:
            return fn()
        with self.transaction() as conn:
            return self._grouped(conn, fn)

    def _group(self) -> Connection | None:
        return getattr(self._groups, "conn", None)

    def _grouped(self, conn: Connection, fn: Callable[[], T]) -> T:
        self._groups.conn = conn
        try:
            return fn()
        finally:
            self._groups.conn = None

    @property
    def _groups(self) -> threading.local:
        local = self.__dict__.get("_group_local")
        if local is None:
            local = self.__dict__["_group_local"] = threading.local()
        return local

    @abstractmethod
    def query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of one read."""

    def stream(
        self, sql: str, args: tuple[Any, ...] | list[Any] = (), batch: int = 500
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of one read, ``batch`` at a time (memory stays flat)."""
        rows = self.query(sql, args)
        for start in range(0, len(rows), batch):
            yield rows[start : start + batch]

    @abstractmethod
    def integrity(self) -> str:
        """``ok``, or what the database's own check found."""

    @abstractmethod
    def schema(self) -> tuple[int, str | None]:
        """(schema version, the motools version that applied it)."""

    @abstractmethod
    def upgrade(self) -> tuple[int, int]:
        """Apply missing migrations; (version before, version after)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections (the index reopens on next use)."""


class SqliteIndex(Index):
    """``index.db`` (SQLite, WAL) in the motools home.

    Commits append to the write-ahead log without waiting for the disk (``synchronous=NORMAL``);
    folding the log back into the database (a checkpoint, which waits for the disk twice) is
    done by a background thread of this process a moment after commits, so a burst of small
    writes -- a sweep recording thousands of jobs -- never waits for it. The thread starts with
    the first commit and ends after a few idle seconds or on :meth:`close`. Should it fall
    behind, a writer checkpoints itself once the log holds :data:`CHECKPOINT_PAGES` pages.
    """

    dialect = "sqlite"
    keeps_copies = True
    #: Log pages (4 KiB each) after which a commit checkpoints in the writer itself.
    CHECKPOINT_PAGES = 10_000
    #: Seconds the checkpointer waits after a commit for more, and idles before it ends.
    CHECKPOINT_DELAY = 0.2
    CHECKPOINT_IDLE = 5.0

    def __init__(
        self, path: Path, *, baseline: str, on_damaged: Callable[[str], None] | None = None
    ) -> None:
        self.path = path
        self.baseline = baseline
        self.on_damaged = on_damaged
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._checkpoint_lock = threading.Lock()
        self._committed = threading.Event()
        self._stopping = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self._initialised = False

    @property
    def location(self) -> str:
        return str(self.path)

    def reset(self) -> None:
        """Forget every connection and the schema check (after the file was moved away)."""
        self.close()
        with self._init_lock:
            self._initialised = False

    def connect(self) -> None:
        self._connection()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        root = self.path.parent
        if root.exists() and not root.is_dir():
            raise StoreError(
                f"the motools home {root} is a file, not a folder: point MOTOOLS_HOME at "
                "a folder (it is created if missing)"
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
            conn = self._open_writable()
        except (PermissionError, sqlite3.OperationalError) as exc:
            conn = self._open_read_only(exc)
        self._local.conn = conn
        return conn

    def _open_writable(self) -> sqlite3.Connection:
        if self.path.exists() and not looks_like_sqlite(self.path) and self.on_damaged:
            self.on_damaged("its header is not a SQLite database header")
            rebuilt: sqlite3.Connection | None = getattr(self._local, "conn", None)
            if rebuilt is not None:
                return rebuilt
        conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(f"PRAGMA wal_autocheckpoint={self.CHECKPOINT_PAGES}")
            with self._init_lock:
                if not self._initialised:
                    self._migrate(conn)
                    self._initialised = True
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and is_read_only_error(exc):
                raise
            raise self.damaged_error(exc) from None
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        found, written_by = schema.current(*self._hooks(conn))
        self.version_at_open = found
        if found > schema.LATEST:
            self.read_only = True
            self.read_only_reason = schema.newer_schema_message(str(self.path), found, written_by)
            return
        self.read_only = False
        if found == schema.LATEST:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            schema.upgrade(*self._hooks(conn), "sqlite", self.baseline)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @staticmethod
    def _hooks(conn: sqlite3.Connection) -> tuple[Any, Any]:
        def tables() -> set[str]:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
            return {r[0] for r in rows}

        return conn.execute, tables

    def _open_read_only(self, cause: BaseException) -> sqlite3.Connection:
        """Reading a store on a read-only filesystem (or folder): listings still work."""
        if not self.path.is_file():
            raise StoreError(
                f"the motools store at {self.path.parent} cannot be created: {cause}. Point "
                "MOTOOLS_HOME at a writable folder"
            ) from None
        uri = f"file:{self.path}?immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            conn.execute("SELECT COUNT(*) FROM records").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self.damaged_error(exc) from None
        self.read_only = True
        self.read_only_reason = (
            f"the motools store at {self.path.parent} is read-only: listing works, but this "
            "command needs to write. Point MOTOOLS_HOME at a writable copy of the store"
        )
        return conn

    def damaged_error(self, exc: BaseException) -> StoreError:
        return StoreError(
            f"the motools index {self.path} is damaged ({exc}). Run `motools cache "
            "verify --repair` to rebuild it from the record copies in "
            f"{self.path.parent / 'copies'}"
        )

    def translate(self, exc: sqlite3.DatabaseError) -> StoreError:
        if is_read_only_error(exc):
            return StoreError(
                self.read_only_reason
                or f"the motools store at {self.path.parent} is read-only: listing works, but "
                "this command needs to write. Point MOTOOLS_HOME at a writable copy of the store"
            )
        return self.damaged_error(exc)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """An IMMEDIATE transaction: one writer at a time across processes."""
        conn = self._connection()
        if self.read_only:
            raise StoreError(self.read_only_reason)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None
        try:
            yield conn
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise self.translate(exc) from None
            raise
        else:
            conn.execute("COMMIT")
            self._committed.set()
            if self._checkpointer is None:
                self._start_checkpointer()

    def _start_checkpointer(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is None:
                self._stopping.clear()
                self._checkpointer = threading.Thread(
                    target=self._checkpoint_loop, name="motools-checkpoint", daemon=True
                )
                self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """Fold the log into the database a moment after commits; end when idle or told to."""
        conn: sqlite3.Connection | None = None
        try:
            while self._committed.wait(self.CHECKPOINT_IDLE) and not self._stopping.is_set():
                if self._stopping.wait(self.CHECKPOINT_DELAY):
                    break
                self._committed.clear()
                if conn is None:
                    conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # (a moved or damaged file): writers checkpoint themselves
        finally:
            if conn is not None:
                conn.close()
            with self._checkpoint_lock:
                self._checkpointer = None

    def _stop_checkpointer(self) -> None:
        thread = self._checkpointer
        if thread is not None:
            self._stopping.set()
            self._committed.set()
            thread.join(timeout=30.0)

    def query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._connection().execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None

    def stream(
        self, sql: str, args: tuple[Any, ...] | list[Any] = (), batch: int = 500
    ) -> Iterator[list[tuple[Any, ...]]]:
        try:
            cursor = self._connection().execute(sql, args)
            while rows := cursor.fetchmany(batch):
                yield rows
        except sqlite3.DatabaseError as exc:
            raise self.translate(exc) from None

    def integrity(self) -> str:
        try:
            return str(self.query("PRAGMA quick_check")[0][0])
        except StoreError as exc:
            return str(exc)

    def schema(self) -> tuple[int, str | None]:
        return schema.current(*self._hooks(self._connection()))

    def upgrade(self) -> tuple[int, int]:
        self._connection()  # opening applies missing migrations (or finds a newer schema)
        after, _ = self.schema()
        return self.version_at_open, after

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (before copying it)."""
        self.query("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self._stop_checkpointer()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def looks_like_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            header = fh.read(16)
    except OSError:
        return True  # unreadable for another reason: let sqlite say why
    return header == b"SQLite format 3\x00" or header == b""


def is_read_only_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open database" in text
