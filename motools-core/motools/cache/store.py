"""The local store: a SQLite index (WAL) plus content-addressed JSON blobs.

Layout under the motools home (``$MOTOOLS_HOME`` or ``./.motools``)::

    index.db            records, claims and artifacts (SQLite, WAL mode)
    blobs/ab/abcdef...  immutable blobs named by their sha256, written atomically

Every record carries a schema version and the sha256 of its value; a record that cannot be
read or whose checksum fails is reported (a warning) and treated as a miss, never a crash.
Nothing here is pickled: values are JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motools.atomic import atomic_write
from motools.paths import home

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    status TEXT NOT NULL,
    backend TEXT,
    label TEXT,
    fields TEXT NOT NULL,
    value TEXT NOT NULL,
    checksum TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    expires_at REAL
);
CREATE INDEX IF NOT EXISTS records_kind_backend ON records (kind, backend);
CREATE INDEX IF NOT EXISTS records_label ON records (label);
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    claimed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS artifacts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    inputs TEXT NOT NULL,
    config TEXT NOT NULL,
    versions TEXT NOT NULL,
    blob TEXT
);
"""


def default_home() -> Path:
    """The motools home: :func:`motools.home` (kept here for older imports)."""
    return home()


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Record:
    """One row of the index, decoded."""

    key: str
    kind: str
    status: str
    backend: str | None
    label: str | None
    fields: dict[str, Any]
    value: dict[str, Any]
    created_at: float
    updated_at: float
    expires_at: float | None = None
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "status": self.status,
            "backend": self.backend,
            "label": self.label,
            "fields": self.fields,
            "value": self.value,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "expires_at": self.expires_at,
            "schema_version": self.schema_version,
        }


class CorruptRecord(Exception):
    """A record that fails its checksum or cannot be decoded."""


class Store:
    """The motools store at ``root``. Safe to share between threads and processes."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else home()
        self.blob_dir = self.root / "blobs"
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._initialised = False

    # -- connection -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.root / "index.db", timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        with self._init_lock:
            if not self._initialised:
                conn.executescript(_SCHEMA)
                self._initialised = True
        self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: one writer at a time across processes."""
        conn = self._connect()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- blobs ------------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        """Store ``data`` under its sha256 (atomically: temp file, fsync, rename)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.blob_dir / digest[:2] / digest
        if not path.exists():
            atomic_write(path, data)
        return digest

    def put_json_blob(self, value: Any) -> str:
        return self.put_blob(canonical_json(value).encode())

    def blob_path(self, digest: str) -> Path:
        return self.blob_dir / digest[:2] / digest

    def get_blob(self, digest: str) -> bytes:
        """The blob's bytes; raises :class:`CorruptRecord` if missing or tampered with."""
        path = self.blob_path(digest)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorruptRecord(f"blob {digest[:12]} is missing ({exc})") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptRecord(f"blob {digest[:12]} fails its checksum ({path})")
        return data

    def get_json_blob(self, digest: str) -> Any:
        return json.loads(self.get_blob(digest))

    # -- records ----------------------------------------------------------------------------
    def put(
        self,
        key: str,
        *,
        kind: str,
        status: str,
        fields: dict[str, Any],
        value: dict[str, Any],
        backend: str | None = None,
        label: str | None = None,
        expires_at: float | None = None,
    ) -> Record:
        """Insert or replace the record at ``key``."""
        now = time.time()
        value_json = canonical_json(value)
        with self.transaction() as conn:
            row = conn.execute("SELECT created_at FROM records WHERE key = ?", (key,)).fetchone()
            created = row[0] if row else now
            conn.execute(
                "INSERT OR REPLACE INTO records (key, kind, schema_version, status, backend, label,"
                " fields, value, checksum, created_at, updated_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    kind,
                    SCHEMA_VERSION,
                    status,
                    backend,
                    label,
                    canonical_json(fields),
                    value_json,
                    sha256_text(value_json),
                    created,
                    now,
                    expires_at,
                ),
            )
        return Record(key, kind, status, backend, label, fields, value, created, now, expires_at)

    def update(
        self, key: str, *, status: str, value: dict[str, Any], expires_at: float | None = None
    ) -> None:
        value_json = canonical_json(value)
        with self.transaction() as conn:
            conn.execute(
                "UPDATE records SET status = ?, value = ?, checksum = ?, updated_at = ?,"
                " expires_at = COALESCE(?, expires_at) WHERE key = ?",
                (status, value_json, sha256_text(value_json), time.time(), expires_at, key),
            )

    def _decode(self, row: tuple[Any, ...]) -> Record:
        (
            key,
            kind,
            version,
            status,
            backend,
            label,
            fields,
            value,
            checksum,
            created,
            updated,
            expires,
        ) = row
        if version > SCHEMA_VERSION:
            raise CorruptRecord(f"record {key[:12]} has schema version {version}; upgrade motools")
        if sha256_text(value) != checksum:
            raise CorruptRecord(f"record {key[:12]} fails its checksum")
        try:
            return Record(
                key,
                kind,
                status,
                backend,
                label,
                json.loads(fields),
                json.loads(value),
                created,
                updated,
                expires,
                version,
            )
        except (ValueError, TypeError) as exc:
            raise CorruptRecord(f"record {key[:12]} cannot be decoded: {exc}") from exc

    _COLUMNS = (
        "key, kind, schema_version, status, backend, label, fields, value, checksum,"
        " created_at, updated_at, expires_at"
    )

    def get(self, key: str) -> Record | None:
        """The record at ``key``, or None (also for a corrupt record, with a warning)."""
        try:
            row = (
                self._connect()
                .execute(f"SELECT {self._COLUMNS} FROM records WHERE key = ?", (key,))
                .fetchone()
            )
        except sqlite3.DatabaseError as exc:
            warnings.warn(
                f"motools store {self.root}: index unreadable ({exc}); treating as a miss",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
        if row is None:
            return None
        try:
            return self._decode(row)
        except CorruptRecord as exc:
            warnings.warn(
                f"motools store {self.root}: {exc}; treating it as a miss",
                RuntimeWarning,
                stacklevel=2,
            )
            return None

    def find(self, prefix: str) -> list[Record]:
        """Records whose key starts with ``prefix``, or whose label (a job id) equals it."""
        rows = (
            self._connect()
            .execute(
                f"SELECT {self._COLUMNS} FROM records WHERE key >= ? AND key < ? OR label = ?",
                (prefix, prefix + "\uffff", prefix),
            )
            .fetchall()
        )
        return self._decode_many(rows)

    def _decode_many(self, rows: list[tuple[Any, ...]]) -> list[Record]:
        out = []
        for row in rows:
            try:
                out.append(self._decode(row))
            except CorruptRecord as exc:
                warnings.warn(
                    f"motools store {self.root}: {exc}; skipped", RuntimeWarning, stacklevel=3
                )
        return out

    def records(
        self, kind: str | None = None, backend: str | None = None, limit: int | None = None
    ) -> list[Record]:
        sql = f"SELECT {self._COLUMNS} FROM records"
        where, args = [], []
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if backend:
            where.append("backend = ?")
            args.append(backend)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY updated_at DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return self._decode_many(self._connect().execute(sql, args).fetchall())

    def delete(self, key: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM records WHERE key = ?", (key,))

    def count(self) -> int:
        return int(self._connect().execute("SELECT COUNT(*) FROM records").fetchone()[0])

    # -- claims: one submitter per key across processes -------------------------------------
    def try_claim(self, key: str, *, stale_after: float = 600.0) -> str | None:
        """Claim ``key``; returns a token, or None while another live claimant holds it.

        Claims are per call, not per process: two coroutines of one process racing for a key
        are serialised just like two processes. A claim whose process died, or that is older
        than ``stale_after`` seconds, is taken over.
        """
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        now = time.time()
        with self.transaction() as conn:
            row = conn.execute(
                "SELECT owner, host, pid, claimed_at FROM claims WHERE key = ?", (key,)
            ).fetchone()
            if row is not None and not _claim_is_stale(row, now, stale_after):
                return None
            conn.execute(
                "INSERT OR REPLACE INTO claims (key, owner, host, pid, claimed_at) VALUES (?, ?, ?, ?, ?)",
                (key, token, socket.gethostname(), os.getpid(), now),
            )
        return token

    def release_claim(self, key: str, token: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, token))

    def claim_holder(self, key: str) -> str | None:
        row = self._connect().execute("SELECT owner FROM claims WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    # -- artifacts (provenance) -------------------------------------------------------------
    def put_artifact(
        self,
        artifact_id: str,
        *,
        kind: str,
        inputs: list[str],
        config: dict[str, Any],
        versions: dict[str, str],
        blob: str | None = None,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO artifacts (id, kind, created_at, inputs, config, versions, blob)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    artifact_id,
                    kind,
                    time.time(),
                    canonical_json(inputs),
                    canonical_json(config),
                    canonical_json(versions),
                    blob,
                ),
            )

    def get_artifact(self, artifact_id: str) -> dict[str, Any] | None:
        row = (
            self._connect()
            .execute(
                "SELECT id, kind, created_at, inputs, config, versions, blob FROM artifacts WHERE id = ?",
                (artifact_id,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return {
            "id": row[0],
            "kind": row[1],
            "created_at": row[2],
            "inputs": json.loads(row[3]),
            "config": json.loads(row[4]),
            "versions": json.loads(row[5]),
            "blob": row[6],
        }

    def find_artifacts(self, prefix: str) -> list[str]:
        rows = (
            self._connect()
            .execute(
                "SELECT id FROM artifacts WHERE id >= ? AND id < ? ORDER BY created_at DESC",
                (prefix, prefix + "\uffff"),
            )
            .fetchall()
        )
        return [r[0] for r in rows]

    # -- maintenance ------------------------------------------------------------------------
    def gc(self, *, drop_failed: bool = True, older_than: float | None = None) -> dict[str, int]:
        """Drop failed/cancelled records, stale claims, unreferenced blobs and temp files."""
        removed = {"records": 0, "claims": 0, "blobs": 0, "temp_files": 0}
        now = time.time()
        with self.transaction() as conn:
            if drop_failed:
                removed["records"] += conn.execute(
                    "DELETE FROM records WHERE status IN ('failed', 'cancelled')"
                ).rowcount
            if older_than is not None:
                removed["records"] += conn.execute(
                    "DELETE FROM records WHERE updated_at < ?", (now - older_than,)
                ).rowcount
            for row in conn.execute(
                "SELECT key, owner, host, pid, claimed_at FROM claims"
            ).fetchall():
                if _claim_is_stale(row[1:], now, 600.0):
                    conn.execute("DELETE FROM claims WHERE key = ?", (row[0],))
                    removed["claims"] += 1
        referenced: set[str] = set()
        conn = self._connect()
        for (value,) in conn.execute("SELECT value FROM records"):
            referenced.update(_blob_refs(value))
        for (blob,) in conn.execute("SELECT blob FROM artifacts WHERE blob IS NOT NULL"):
            referenced.add(blob)
        if self.blob_dir.is_dir():
            for path in self.blob_dir.glob("*/*"):
                if path.name.startswith(".") and path.name.endswith(".tmp"):  # an interrupted write
                    path.unlink(missing_ok=True)
                    removed["temp_files"] += 1
                elif path.name not in referenced:
                    path.unlink(missing_ok=True)
                    removed["blobs"] += 1
        return removed


def _blob_refs(value_json: str) -> set[str]:
    try:
        value = json.loads(value_json)
    except ValueError:
        return set()
    refs = set()
    for key in ("blob", "results_blob", "outputs_blob", "dataset_blob"):
        if isinstance(value.get(key), str):
            refs.add(value[key])
    return refs


def _claim_is_stale(row: tuple[Any, ...], now: float, stale_after: float) -> bool:
    _owner, host, pid, claimed_at = row
    if now - claimed_at > stale_after:
        return True
    if host == socket.gethostname():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


_STORES: dict[Path, Store] = {}


def open_store(root: str | os.PathLike[str] | None = None) -> Store:
    """The shared :class:`Store` for ``root`` (default: :func:`motools.home`)."""
    path = (Path(root).expanduser() if root is not None else home()).resolve()
    store = _STORES.get(path)
    if store is None:
        store = _STORES[path] = Store(path)
    return store
