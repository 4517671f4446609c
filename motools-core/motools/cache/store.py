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
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motools.atomic import atomic_write, file_mode
from motools.errors import MotoolsError
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
CREATE INDEX IF NOT EXISTS records_updated ON records (updated_at);
CREATE INDEX IF NOT EXISTS records_kind_updated ON records (kind, updated_at);
CREATE INDEX IF NOT EXISTS records_kind_status_updated ON records (kind, status, updated_at);
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


class StoreError(MotoolsError):
    """The store cannot be used as asked: damaged, read-only, or not a folder."""


class DamagedRecord(StoreError):
    """A record of a possibly running job is damaged and has no intact copy.

    Never treated as a miss: a miss would submit (and pay for) the job again.
    """

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


#: Record kinds that describe paid work: kept twice (index row + a copy file) and never
#: silently dropped when damaged.
DURABLE_KINDS = ("training", "eval")
#: Statuses of jobs that may still be running at the provider.
IN_FLIGHT_STATUSES = ("submitting", "pending", "queued", "running")


class Store:
    """The motools store at ``root``. Safe to share between threads and processes."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else home()
        self.blob_dir = self.root / "blobs"
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._initialised = False
        #: True when the store was opened read-only (a read-only filesystem or folder).
        self.read_only = False

    # -- connection -------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.root / "index.db"

    @property
    def copies_dir(self) -> Path:
        """Second copies of training/eval records and of artifacts (see :meth:`rebuild_index`)."""
        return self.root / "copies"

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(
                f"the motools home {self.root} is a file, not a folder: point MOTOOLS_HOME at "
                "a folder (it is created if missing)"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            conn = self._open_writable()
        except (PermissionError, sqlite3.OperationalError) as exc:
            conn = self._open_read_only(exc)
        self._local.conn = conn
        return conn

    def _open_writable(self) -> sqlite3.Connection:
        if self.index_path.exists() and not _looks_like_sqlite(self.index_path):
            self._rebuild_damaged("its header is not a SQLite database header")
            rebuilt: sqlite3.Connection | None = getattr(self._local, "conn", None)
            if rebuilt is not None:
                return rebuilt
        conn = sqlite3.connect(self.index_path, timeout=30.0, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            with self._init_lock:
                if not self._initialised:
                    conn.executescript(_SCHEMA)
                    self._initialised = True
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and _is_read_only_error(exc):
                raise
            raise self._damaged_error(exc) from None
        self.read_only = False
        return conn

    def _open_read_only(self, cause: BaseException) -> sqlite3.Connection:
        """Reading a store on a read-only filesystem (or folder): listings still work."""
        if not self.index_path.is_file():
            raise StoreError(
                f"the motools store at {self.root} cannot be created: {cause}. Point "
                "MOTOOLS_HOME at a writable folder"
            ) from None
        uri = f"file:{self.index_path}?immutable=1"
        try:
            conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            conn.execute("SELECT COUNT(*) FROM records").fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._damaged_error(exc) from None
        self.read_only = True
        return conn

    def _damaged_error(self, exc: BaseException) -> StoreError:
        return StoreError(
            f"the motools index {self.index_path} is damaged ({exc}). Run `motools cache "
            "verify --repair` to rebuild it from the record copies in "
            f"{self.copies_dir}"
        )

    def _read_only_error(self) -> StoreError:
        return StoreError(
            f"the motools store at {self.root} is read-only: listing works, but this command "
            "needs to write. Point MOTOOLS_HOME at a writable copy of the store"
        )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE transaction: one writer at a time across processes."""
        conn = self._connect()
        if self.read_only:
            raise self._read_only_error()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from None
        try:
            yield conn
        except BaseException as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise self._translate(exc) from None
            raise
        else:
            conn.execute("COMMIT")

    def _translate(self, exc: sqlite3.DatabaseError) -> StoreError:
        if _is_read_only_error(exc):
            return self._read_only_error()
        return self._damaged_error(exc)

    def _query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._connect().execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from None

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
        if not self.blob_ok(digest):  # missing, or damaged: (re)write it
            if self.read_only:
                raise self._read_only_error()
            # Durable against a killed process (never half a blob), and as durable against a
            # power cut as the index itself (WAL, synchronous=NORMAL: no fsync per commit):
            # everything is verified on read, and a lost blob is recomputed.
            atomic_write(path, data, durable=False)
        return digest

    def put_blob_stream(self, chunks: Iterable[bytes]) -> str:
        """Store the concatenation of ``chunks`` under its sha256; return the digest.

        The bytes go to a temp file in the blob folder while they are hashed (never all in
        memory), then fsync and rename, as :meth:`put_blob` does: the same bytes give the same
        blob, byte for byte. An existing blob with that digest is kept if intact and replaced
        if damaged.
        """
        if self.read_only:  # nothing can be written: hash, and accept an intact blob
            h = hashlib.sha256()
            for chunk in chunks:
                h.update(chunk)
            if not self.blob_ok(h.hexdigest()):
                raise self._read_only_error()
            return h.hexdigest()
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".stream.", suffix=".tmp", dir=self.blob_dir)
        try:
            os.fchmod(fd, file_mode())
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    h.update(chunk)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            digest = h.hexdigest()
            path = self.blob_path(digest)
            if self.blob_ok(digest):
                os.unlink(tmp)
            else:  # missing, or damaged: this copy replaces it
                path.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def blob_ok(self, digest: str) -> bool:
        """Whether the blob exists and its bytes hash to its name."""
        path = self.blob_path(digest)
        try:
            with path.open("rb") as fh:
                h = hashlib.sha256()
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        except OSError:
            return False
        return h.hexdigest() == digest

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
        record = Record(key, kind, status, backend, label, fields, value, created, now, expires_at)
        self._write_copy(record)
        return record

    # -- second copies of durable records -----------------------------------------------------
    # An append-only journal beside the index (``copies/records.jsonl``,
    # ``copies/artifacts.jsonl``): one checksummed line per write of a training/eval record or
    # an artifact, a tombstone per deletion. Appending costs one small write (no file to
    # create, no fsync: it guards against a damaged index, not a power cut -- the index itself
    # commits without fsync in WAL mode with synchronous=NORMAL). A torn or damaged line fails
    # its checksum and is skipped; the last intact line for a key wins.

    @property
    def _records_journal(self) -> Path:
        return self.copies_dir / "records.jsonl"

    @property
    def _artifacts_journal(self) -> Path:
        return self.copies_dir / "artifacts.jsonl"

    def _append(self, journal: Path, entry: dict[str, Any]) -> None:
        body = canonical_json(entry)
        line = canonical_json({"entry": entry, "checksum": sha256_text(body)}) + "\n"
        journal.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

    def _journal(self, journal: Path) -> Iterator[dict[str, Any]]:
        """The intact entries of a journal, in the order they were written."""
        try:
            fh = journal.open("rb")
        except OSError:
            return
        with fh:
            for raw in fh:
                try:
                    line = json.loads(raw)
                    entry = line["entry"]
                    if sha256_text(canonical_json(entry)) == line["checksum"]:
                        yield entry
                except (ValueError, KeyError, TypeError):
                    continue

    def _write_copy(self, record: Record) -> None:
        if record.kind not in DURABLE_KINDS:
            return
        self._append(self._records_journal, record.to_dict())

    def _forget_copy(self, key: str) -> None:
        self._append(self._records_journal, {"deleted": key})

    def _copies(self) -> dict[str, Record]:
        """The latest intact copy of every record that was not deleted since."""
        latest: dict[str, Record] = {}
        for entry in self._journal(self._records_journal):
            if "deleted" in entry:
                latest.pop(str(entry["deleted"]), None)
                continue
            try:
                latest[entry["key"]] = Record(
                    entry["key"],
                    entry["kind"],
                    entry["status"],
                    entry["backend"],
                    entry["label"],
                    entry["fields"],
                    entry["value"],
                    entry["created_at"],
                    entry["updated_at"],
                    entry["expires_at"],
                    entry.get("schema_version", SCHEMA_VERSION),
                )
            except (KeyError, TypeError):
                continue
        return latest

    def _read_copy(self, key: str) -> Record | None:
        return self._copies().get(key)

    def compact_copies(self) -> None:
        """Rewrite the journals with only the latest entry per key (``verify --repair``)."""
        records = self._copies()
        lines = []
        for record in records.values():
            body = record.to_dict()
            lines.append(
                canonical_json({"entry": body, "checksum": sha256_text(canonical_json(body))})
            )
        atomic_write(self._records_journal, ("\n".join(lines) + "\n" if lines else "").encode())
        artifacts = self._artifact_copies()
        lines = [
            canonical_json({"entry": a, "checksum": sha256_text(canonical_json(a))})
            for a in artifacts.values()
        ]
        atomic_write(self._artifacts_journal, ("\n".join(lines) + "\n" if lines else "").encode())

    def _restore(self, record: Record) -> None:
        """Write ``record`` (from its copy) back into the index, as it was."""
        value_json = canonical_json(record.value)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO records (key, kind, schema_version, status, backend, label,"
                " fields, value, checksum, created_at, updated_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.key,
                    record.kind,
                    record.schema_version,
                    record.status,
                    record.backend,
                    record.label,
                    canonical_json(record.fields),
                    value_json,
                    sha256_text(value_json),
                    record.created_at,
                    record.updated_at,
                    record.expires_at,
                ),
            )

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
            row = conn.execute(
                f"SELECT {self._COLUMNS} FROM records WHERE key = ?", (key,)
            ).fetchone()
        if row is not None and row[1] in DURABLE_KINDS:
            self._write_copy(self._decode(row))

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
        """The record at ``key``, or None.

        A damaged record is recovered from its second copy when it has one. A damaged step
        record is a miss (steps are free to redo); a damaged record of paid work with no intact
        copy raises :class:`DamagedRecord`, never a miss that would pay again.
        """
        rows = self._query(f"SELECT {self._COLUMNS} FROM records WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            return self._decode(rows[0])
        except CorruptRecord as exc:
            return self._recover(key, rows[0][1], exc)

    def _recover(self, key: str, kind: str, exc: CorruptRecord) -> Record | None:
        copy = self._read_copy(key)
        if copy is not None:
            warnings.warn(
                f"motools store {self.root}: {exc}; restored it from its copy",
                RuntimeWarning,
                stacklevel=3,
            )
            if not self.read_only:
                self._restore(copy)
            return copy
        if kind == "step":
            warnings.warn(
                f"motools store {self.root}: {exc}; the step will run again",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        raise DamagedRecord(
            f"{exc} and has no intact copy; the {kind} job it describes may still be running, "
            f"so motools will not submit it again. Check the job at the provider, then run "
            f"`motools cache verify --repair` (drops the damaged record) or "
            f"`motools cache forget {key[:12]}`",
            key,
        )

    def find(self, prefix: str) -> list[Record]:
        """Records whose key starts with ``prefix``, or whose label (a job id) equals it."""
        rows = self._query(
            f"SELECT {self._COLUMNS} FROM records WHERE key >= ? AND key < ? OR label = ?",
            (prefix, prefix + "\uffff", prefix),
        )
        return self._decode_many(rows)

    def entries(self, prefix: str) -> list[tuple[str, str, str | None, str]]:
        """``(key, kind, label, status)`` of rows whose key starts with ``prefix`` or whose
        label equals it, without decoding them (so damaged rows are found too)."""
        rows = self._query(
            "SELECT key, kind, label, status FROM records WHERE key >= ? AND key < ? OR label = ?",
            (prefix, prefix + "\uffff", prefix),
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

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
        self,
        kind: str | None = None,
        backend: str | None = None,
        limit: int | None = None,
        *,
        status: str | Sequence[str] | None = None,
        since: float | None = None,
        offset: int = 0,
    ) -> list[Record]:
        """Records newest first (by ``updated_at``), filtered and paginated.

        ``status`` is one status or several; ``since`` keeps records updated at or after that
        time (seconds since the epoch); ``limit``/``offset`` select one page.
        """
        return list(
            self.iter_records(kind, backend, limit, status=status, since=since, offset=offset)
        )

    def iter_records(
        self,
        kind: str | None = None,
        backend: str | None = None,
        limit: int | None = None,
        *,
        status: str | Sequence[str] | None = None,
        since: float | None = None,
        offset: int = 0,
        batch: int = 500,
    ) -> Iterator[Record]:
        """:meth:`records`, decoded ``batch`` rows at a time (memory stays flat)."""
        where, args = self._filters(kind, backend, status, since)
        sql = f"SELECT {self._COLUMNS} FROM records{where} ORDER BY updated_at DESC"
        if limit or offset:
            sql += " LIMIT ? OFFSET ?"
            args += [int(limit) if limit else -1, int(offset)]
        try:
            cursor = self._connect().execute(sql, args)
            while True:
                rows = cursor.fetchmany(batch)
                if not rows:
                    return
                yield from self._decode_many(rows)
        except sqlite3.DatabaseError as exc:
            raise self._translate(exc) from None

    def count_records(
        self,
        kind: str | None = None,
        backend: str | None = None,
        *,
        status: str | Sequence[str] | None = None,
        since: float | None = None,
    ) -> int:
        """How many records :meth:`records` would give without a limit."""
        where, args = self._filters(kind, backend, status, since)
        return int(self._query(f"SELECT COUNT(*) FROM records{where}", args)[0][0])

    @staticmethod
    def _filters(
        kind: str | None,
        backend: str | None,
        status: str | Sequence[str] | None,
        since: float | None,
    ) -> tuple[str, list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        if kind:
            where.append("kind = ?")
            args.append(kind)
        if backend:
            where.append("backend = ?")
            args.append(backend)
        if status:
            wanted = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        if since is not None:
            where.append("updated_at >= ?")
            args.append(float(since))
        return (" WHERE " + " AND ".join(where) if where else ""), args

    def delete(self, key: str) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM records WHERE key = ?", (key,))
        self._forget_copy(key)

    def supersede(self, key: str) -> str | None:
        """Keep the record at ``key`` as history before a forced re-run replaces it.

        It moves to ``<key>~<n>`` with status ``superseded`` (so ``motools runs`` still lists
        it); returns the new key, or None if there was no record.
        """
        old = self.get(key)
        if old is None:
            return None
        n = 1 + len(self._query("SELECT key FROM records WHERE key LIKE ?", (f"{key}~%",)))
        new_key = f"{key}~{n}"
        self.move(key, new_key, status="superseded", note={"superseded_at": time.time()})
        return new_key

    def move(
        self,
        key: str,
        new_key: str,
        *,
        status: str | None = None,
        note: dict[str, Any] | None = None,
    ) -> None:
        """Move the record at ``key`` to ``new_key`` (optionally with a new status)."""
        old = self.get(key)
        if old is None:
            return
        value = {k: v for k, v in old.value.items() if k != "superseded_at"}
        value.update(note or {})
        moved = Record(
            new_key,
            old.kind,
            status or str(old.value.get("status_before", old.status)),
            old.backend,
            old.label,
            old.fields,
            value,
            old.created_at,
            time.time(),
            old.expires_at,
        )
        if status is not None:
            moved.value["status_before"] = old.status
        else:
            moved.value.pop("status_before", None)
        self._restore(moved)
        self._write_copy(moved)
        self.delete(key)

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM records")[0][0])

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
        rows = self._query("SELECT owner FROM claims WHERE key = ?", (key,))
        return rows[0][0] if rows else None

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
        replace: bool = False,
    ) -> None:
        """Record an artifact once (``replace=True``: a forced re-run's newer version wins)."""
        row = {
            "id": artifact_id,
            "kind": kind,
            "created_at": time.time(),
            "inputs": inputs,
            "config": config,
            "versions": versions,
            "blob": blob,
        }
        if self._insert_artifact(row, replace=replace):
            self._append(self._artifacts_journal, row)

    def _insert_artifact(self, row: dict[str, Any], *, replace: bool = False) -> bool:
        """Insert (or replace) the artifact row; whether anything was written."""
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.transaction() as conn:
            cursor = conn.execute(
                f"{verb} INTO artifacts (id, kind, created_at, inputs, config, versions, blob)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    row["id"],
                    row["kind"],
                    row["created_at"],
                    canonical_json(row["inputs"]),
                    canonical_json(row["config"]),
                    canonical_json(row["versions"]),
                    row["blob"],
                ),
            )
        return cursor.rowcount > 0

    def get_artifact(self, artifact_id: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT id, kind, created_at, inputs, config, versions, blob FROM artifacts WHERE id = ?",
            (artifact_id,),
        )
        if not rows:
            return None
        row = rows[0]
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
        rows = self._query(
            "SELECT id FROM artifacts WHERE id >= ? AND id < ? ORDER BY created_at DESC",
            (prefix, prefix + "\uffff"),
        )
        return [r[0] for r in rows]

    # -- maintenance ------------------------------------------------------------------------
    def gc(self, *, drop_failed: bool = True, older_than: float | None = None) -> dict[str, Any]:
        """Drop failed/cancelled records, stale claims, unreferenced blobs and temp files.

        ``older_than`` (seconds) also drops records not touched for that long -- but never the
        record of a job that may still be running (submitting, pending, queued, running):
        dropping it would make the next request pay for the job again. Those are counted in
        ``kept_in_flight`` and listed in ``kept``.
        """
        removed: dict[str, Any] = {
            "records": 0,
            "claims": 0,
            "blobs": 0,
            "temp_files": 0,
            "kept_in_flight": 0,
            "kept": [],
        }
        now = time.time()
        in_flight = ", ".join(f"'{s}'" for s in IN_FLIGHT_STATUSES)
        gone: list[str] = []
        with self.transaction() as conn:
            if drop_failed:
                gone += [
                    r[0]
                    for r in conn.execute(
                        "SELECT key FROM records WHERE status IN ('failed', 'cancelled')"
                    ).fetchall()
                ]
                conn.execute("DELETE FROM records WHERE status IN ('failed', 'cancelled')")
            if older_than is not None:
                cutoff = now - older_than
                kept = conn.execute(
                    f"SELECT key, label, status FROM records WHERE updated_at < ? AND status IN ({in_flight})",
                    (cutoff,),
                ).fetchall()
                removed["kept"] = [{"key": k, "label": lab, "status": st} for k, lab, st in kept]
                removed["kept_in_flight"] = len(kept)
                gone += [
                    r[0]
                    for r in conn.execute(
                        f"SELECT key FROM records WHERE updated_at < ? AND status NOT IN ({in_flight})",
                        (cutoff,),
                    ).fetchall()
                ]
                conn.execute(
                    f"DELETE FROM records WHERE updated_at < ? AND status NOT IN ({in_flight})",
                    (cutoff,),
                )
            removed["records"] = len(gone)
            for row in conn.execute(
                "SELECT key, owner, host, pid, claimed_at FROM claims"
            ).fetchall():
                if _claim_is_stale(row[1:], now, 600.0):
                    conn.execute("DELETE FROM claims WHERE key = ?", (row[0],))
                    removed["claims"] += 1
        for key in gone:
            self._forget_copy(key)
        referenced: set[str] = set()
        for (value,) in self._query("SELECT value FROM records"):
            referenced.update(_blob_refs(value))
        for (blob,) in self._query("SELECT blob FROM artifacts WHERE blob IS NOT NULL"):
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

    # -- verification and repair ------------------------------------------------------------
    def verify(self, *, repair: bool = False) -> dict[str, Any]:
        """Check every record, copy and blob; with ``repair``, fix what can be fixed.

        Repairs: a damaged index is rebuilt from the copies; a damaged record is restored from
        its copy (or, with none, dropped -- reported, since its job may still be running); a
        missing or stale copy is rewritten; a damaged blob is deleted, together with what
        pointed at it (a results or step record, a dataset artifact), so the next run
        recomputes it instead of failing.
        """
        report: dict[str, Any] = {
            "records": 0,
            "blobs": 0,
            "problems": [],
            "fixed": [],
            "index_rebuilt": False,
        }
        if self.index_path.exists() and not _looks_like_sqlite(self.index_path):
            report["problems"].append(f"{self.index_path}: not a SQLite database")
            if repair:
                self._rebuild_damaged("its header is not a SQLite database header")
                report["index_rebuilt"] = True
                report["fixed"].append(f"rebuilt {self.index_path} from the copies")
            else:
                return report
        try:
            ok = self._query("PRAGMA quick_check")[0][0]
        except StoreError as exc:
            ok = str(exc)
        if ok != "ok":
            report["problems"].append(f"{self.index_path}: {ok}")
            if not repair:
                return report
            self._rebuild_damaged(ok)
            report["index_rebuilt"] = True
            report["fixed"].append(f"rebuilt {self.index_path} from the copies")
        copies = self._copies()
        for row in self._query(f"SELECT {self._COLUMNS} FROM records"):
            report["records"] += 1
            key, kind = row[0], row[1]
            try:
                record = self._decode(row)
            except CorruptRecord as exc:
                copy = copies.get(key)
                report["problems"].append(str(exc))
                if repair and copy is not None:
                    self._restore(copy)
                    report["fixed"].append(f"record {key[:12]}: restored from its copy")
                elif repair:
                    self.delete(key)
                    report["fixed"].append(
                        f"record {key[:12]} ({kind}): dropped, no intact copy"
                        + (" -- check its job at the provider" if kind == "training" else "")
                    )
                continue
            if kind in DURABLE_KINDS:
                copy = copies.get(key)
                if copy is None or copy.to_dict() != record.to_dict():
                    report["problems"].append(f"record {key[:12]}: copy missing or stale")
                    if repair:
                        self._write_copy(record)
                        report["fixed"].append(f"record {key[:12]}: copy rewritten")
        bad_blobs: set[str] = set()
        if self.blob_dir.is_dir():
            for path in self.blob_dir.glob("*/*"):
                if path.name.startswith("."):
                    continue
                report["blobs"] += 1
                if not self.blob_ok(path.name):
                    bad_blobs.add(path.name)
                    report["problems"].append(f"blob {path.name[:12]} fails its checksum ({path})")
        if repair and bad_blobs:
            self._drop_blobs(bad_blobs, report)
        if repair:
            self.compact_copies()
        return report

    def _drop_blobs(self, digests: set[str], report: dict[str, Any]) -> None:
        for digest in digests:
            self.blob_path(digest).unlink(missing_ok=True)
            report["fixed"].append(f"blob {digest[:12]}: deleted (it will be recomputed)")
        for row in self._query(f"SELECT {self._COLUMNS} FROM records"):
            if _blob_refs(row[7]) & digests and row[1] != "training":
                self.delete(row[0])
                report["fixed"].append(f"record {row[0][:12]} ({row[1]}): dropped with its blob")
        for artifact_id, blob in self._query(
            "SELECT id, blob FROM artifacts WHERE blob IS NOT NULL"
        ):
            if blob in digests:
                with self.transaction() as conn:
                    conn.execute("DELETE FROM artifacts WHERE id = ?", (artifact_id,))
                self._append(self._artifacts_journal, {"deleted": artifact_id})
                report["fixed"].append(f"artifact {artifact_id[:40]}: dropped with its blob")

    def rebuild_index(self) -> dict[str, int]:
        """Create a fresh index from the copies (training/eval records and artifacts)."""
        self.close()
        with self._init_lock:
            self._initialised = False
        counts = {"records": 0, "artifacts": 0}
        for record in self._copies().values():
            self._restore(record)
            counts["records"] += 1
        for row in self._artifact_copies().values():
            try:
                counts["artifacts"] += self._insert_artifact(row, replace=True)
            except KeyError:
                continue
        return counts

    def _artifact_copies(self) -> dict[str, dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for entry in self._journal(self._artifacts_journal):
            if "deleted" in entry:
                latest.pop(str(entry["deleted"]), None)
            elif "id" in entry:
                latest[entry["id"]] = entry
        return latest

    def _rebuild_damaged(self, why: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        moved = self.index_path.with_name(f"index.db.damaged-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.index_path) + suffix)
            if src.exists():
                os.replace(src, Path(str(moved) + suffix))
        counts = self.rebuild_index()
        warnings.warn(
            f"motools store {self.root}: index.db was damaged ({why}); moved it to {moved.name} "
            f"and rebuilt the index from {counts['records']} record and {counts['artifacts']} "
            "artifact copies",
            RuntimeWarning,
            stacklevel=2,
        )


def _looks_like_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            header = fh.read(16)
    except OSError:
        return True  # unreadable for another reason: let sqlite say why
    return header == b"SQLite format 3\x00" or header == b""


def _is_read_only_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "readonly" in text or "read-only" in text or "unable to open database" in text


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
