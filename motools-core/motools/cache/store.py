"""The store: an index of records, claims and artifacts plus content-addressed blobs.

By default everything is under the motools home (``$MOTOOLS_HOME`` or ``./.motools``)::

    index.db            records, claims, artifacts and small blobs (SQLite, WAL mode)
    blobs/ab/abcdef...  larger immutable blobs named by their sha256, written atomically
    copies/             second copies of training/eval records, artifacts and small blobs

Blobs up to :attr:`Store.inline_max` bytes (an evaluation's results, a step's outputs) are
rows of the index's ``small_blobs`` table rather than files or objects: creating a small file
costs far more than its bytes, and a row commits in the same transaction as the record that
points at it. Larger blobs (datasets, most Inspect results) go to the blob folder or bucket.
Either way a blob is named by its sha256 and checked against it whenever it is read.

A team points ``MOTOOLS_STORE`` at PostgreSQL and ``MOTOOLS_BLOBS`` at S3-compatible storage
(:mod:`motools.cache.location`); the SQL below is shared by both dialects and runs through the
:class:`~motools.cache.index.Index` seam, the bytes through :class:`~motools.cache.blobs.Blobs`.

Every record carries a schema version and the sha256 of its value; a record that cannot be
read or whose checksum fails is reported (a warning) and treated as a miss, never a crash.
Nothing here is pickled: values are JSON.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import getpass
import hashlib
import json
import math
import os
import socket
import sqlite3
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from motools.atomic import atomic_write, file_mode
from motools.cache.blobs import BlobMissing, Blobs, LocalBlobs, open_blobs
from motools.cache.index import Connection, Index, SqliteIndex, StoreError, looks_like_sqlite
from motools.cache.location import (
    StoreLocation,
    current_project,
    normalise_index,
    project_filter,
    resolve_location,
)
from motools.paths import home

T = TypeVar("T")

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


#: ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)``,
#: built once (``json.dumps`` with these arguments builds an encoder per call).
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: equal values give equal strings."""
    return _CANONICAL.encode(value)


def _scalar_json(value: Any) -> str:
    """``canonical_json`` of a record's scalar field, without the encoder for the usual ones:
    a plain ASCII string, an int, a finite float or None (anything else: the encoder)."""
    kind = type(value)
    if kind is str:
        if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
            return f'"{value}"'
    elif value is None:
        return "null"
    elif kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return canonical_json(value)


def record_json(record: Record, fields_json: str, value_json: str) -> str:
    """``canonical_json(record.to_dict())``, given the canonical JSON of its fields and value:
    the scalars are encoded, the two large parts put in place (keys in sorted order)."""
    c = _scalar_json
    return (
        f'{{"backend":{c(record.backend)},"created_at":{c(record.created_at)},'
        f'"expires_at":{c(record.expires_at)},"fields":{fields_json},"key":{c(record.key)},'
        f'"kind":{c(record.kind)},"label":{c(record.label)},'
        f'"schema_version":{c(record.schema_version)},"status":{c(record.status)},'
        f'"updated_at":{c(record.updated_at)},"value":{value_json}}}'
    )


def artifact_json(args: tuple[Any, ...]) -> str:
    """``canonical_json`` of an artifact row, given its column values (``_artifact_args``:
    inputs, config and versions already canonical JSON), keys in sorted order."""
    artifact_id, kind, created_at, inputs, config, versions, blob, by, project = args
    c = _scalar_json
    return (
        f'{{"blob":{c(blob)},"config":{config},"created_at":{c(created_at)},'
        f'"id":{c(artifact_id)},"inputs":{inputs},"kind":{c(kind)},"made_by":{c(by)},'
        f'"project":{c(project)},"versions":{versions}}}'
    )


def json_loads(data: str | bytes) -> Any:
    """Parse JSON: orjson's speed, with the standard parser for what orjson refuses (NaN,
    integers beyond 64 bits), so every document ``canonical_json`` wrote reads back."""
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


class _SharedCommit:
    """Groups queued by :meth:`Store.together_shared` in one turn of an event loop."""

    __slots__ = ("done", "groups", "loop")

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.groups: list[tuple[Callable[[], Any], Any, bool]] = []
        self.done = False


def _settle(future: Any, result: Any = None, *, error: BaseException | None = None) -> None:
    """Give a waiting caller its outcome (not one that stopped waiting)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


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
    """The motools store for the home ``root``. Safe to share between threads and processes.

    ``index`` and ``blobs`` are URLs (``postgresql://...``, ``s3://bucket/prefix`` or a
    folder); left out, they come from ``MOTOOLS_STORE`` / ``MOTOOLS_BLOBS`` or the home's
    ``motools.toml`` (:mod:`motools.cache.location`), else the embedded SQLite store in
    ``root``. ``index="sqlite"`` forces the embedded one. ``project`` (default
    ``MOTOOLS_PROJECT``) is the namespace new records are filed under.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        index: str | None = None,
        blobs: str | None = None,
        project: str | None = None,
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else home()
        chosen = resolve_location(self.root)
        index_url = chosen.index if index is None else normalise_index(index, "index")
        blobs_url = chosen.blobs if blobs is None else blobs
        self.project = project or current_project()
        self.index: Index
        if index_url is None:
            self.index = SqliteIndex(
                self.root / "index.db", baseline=_SCHEMA, on_damaged=self._rebuild_damaged
            )
        else:
            from motools.cache.postgres import PostgresIndex

            self.index = PostgresIndex(index_url, baseline=_SCHEMA)
        self.blobs: Blobs = open_blobs(blobs_url, self.root / "blobs", self.root / "blob-cache")
        #: Blobs this object has hashed and found intact, by the stamp of what was read
        #: (:meth:`Blobs.stamp`): checked again only when the file changes, so a sweep's
        #: members sharing one large dataset blob hash it once, not once each.
        self._verified: dict[str, tuple[int, int, int]] = {}
        #: Finished records read ahead (:meth:`read_ahead`), each served once by :meth:`get`.
        self._ahead: dict[str, Record] = {}
        #: Sizes of the small blobs those records point at, each served once by blob_size.
        self._ahead_sizes: dict[str, int] = {}
        #: Open append descriptors of the copy journals: path -> (fd, inode).
        self._journal_fds: dict[str, tuple[int, int]] = {}
        #: Per thread: the copies a group (:meth:`together`) appends once it commits.
        self._appends = threading.local()
        self._versions_json: tuple[Any, str] = (None, "null")
        #: Per event loop: the groups queued to share the next commit (together_shared).
        self._shared: dict[Any, _SharedCommit] = {}

    # -- connection -------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        """True when writes are refused (read-only filesystem or role, or a newer schema)."""
        self.index.connect()
        return self.index.read_only

    @property
    def location(self) -> str:
        """The index, then the blobs, safe to print."""
        return f"{self.index.location} + {self.blobs.location}"

    @property
    def blob_dir(self) -> Path:
        """The blob folder of a store whose blobs are files (else ``<home>/blobs``)."""
        return self.blobs.dir if isinstance(self.blobs, LocalBlobs) else self.root / "blobs"

    @property
    def index_path(self) -> Path:
        return self.root / "index.db"

    @property
    def copies_dir(self) -> Path:
        """Second copies of training/eval records and of artifacts (see :meth:`rebuild_index`)."""
        return self.root / "copies"

    def _connect(self) -> sqlite3.Connection:
        """The SQLite connection of this thread (embedded store only)."""
        if not isinstance(self.index, SqliteIndex):
            raise StoreError(f"{self.index.location} is not a SQLite index")
        return self.index._connection()

    def _read_only_error(self) -> StoreError:
        self.index.connect()
        return StoreError(
            self.index.read_only_reason
            or f"the motools store at {self.location} is read-only: listing works, but this "
            "command needs to write"
        )

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction (SQLite: IMMEDIATE, one writer at a time across processes)."""
        with self.index.transaction() as conn:
            yield conn

    def _tx(self, body: Callable[[Connection], T]) -> T:
        """Run ``body`` in a write transaction, retried whole if the connection was lost."""
        return self.index.run(body)

    def together(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` with all its writes to this store in one transaction (one commit), and
        their second copies appended once it committed: for a few writes that belong together
        (a job's record and its provenance). ``fn`` must not await or block, and may be run
        again whole if a database connection is lost (write upserts)."""
        if self._pending() is not None:  # inside another group: join it
            return fn()

        def body() -> T:
            self._appends.pending = []
            return fn()

        try:
            result = self.index.together(body)
            pending = self._pending() or []
        finally:
            self._appends.pending = None
        by_journal: dict[Path, list[bytes]] = {}
        for journal, line in pending:  # one append per journal, its lines in order
            by_journal.setdefault(journal, []).append(line)
        for journal, lines in by_journal.items():
            self._write_line(journal, b"".join(lines))
        return result

    async def together_shared(self, fn: Callable[[], T], *, keep: bool = True) -> T:
        """:meth:`together` for a coroutine, its commit shared with concurrent ones.

        ``fn`` is queued, and runs when the event loop next turns, in one transaction with
        every group the loop's other coroutines queued meanwhile: a sweep's concurrent jobs
        pay for one commit, not one each. This returns once that transaction has committed
        (or raises what ``fn`` raised), so a caller continues exactly as after
        :meth:`together`. A failing ``fn`` costs the others nothing: the batch is rolled back
        and each group runs again on its own.

        If the caller is cancelled while waiting, a ``keep`` group (a record of work already
        done) is committed at once, before the cancellation goes on; any other group (a
        claim, a record of work about to start) is dropped if it has not run yet.
        """
        batch, future = self._queue_shared(fn, keep)
        try:
            return await future
        except BaseException:
            if keep:
                self._commit_shared(batch)
            raise

    async def try_claim_shared(self, key: str, *, stale_after: float = 600.0) -> str | None:
        """:meth:`try_claim`, its commit shared (:meth:`together_shared`). A claim taken for a
        caller cancelled while it waited is released."""
        _, future = self._queue_shared(
            lambda: self.try_claim(key, stale_after=stale_after), keep=False
        )
        try:
            return await future
        except BaseException:
            if future.done() and not future.cancelled() and future.exception() is None:
                token = future.result()
                if token is not None:
                    self.release_claim(key, token)
            raise

    def _queue_shared(self, fn: Callable[[], Any], keep: bool) -> tuple[_SharedCommit, Any]:
        import asyncio

        loop = asyncio.get_running_loop()
        batch = self._shared.get(loop)
        if batch is None:
            batch = self._shared[loop] = _SharedCommit(loop)
            loop.call_soon(self._commit_shared, batch)
        future = loop.create_future()
        batch.groups.append((fn, future, keep))
        return batch, future

    def _commit_shared(self, batch: _SharedCommit) -> None:
        """Run a batch's groups in one transaction and settle their futures (once)."""
        if batch.done:
            return
        batch.done = True
        if self._shared.get(batch.loop) is batch:
            del self._shared[batch.loop]
        groups = [(fn, fut) for fn, fut, keep in batch.groups if keep or not fut.done()]
        if not groups:
            return
        failed: list[BaseException] = []

        def body() -> list[Any]:
            results = []
            for fn, _ in groups:
                try:
                    results.append(fn())
                except BaseException as exc:
                    failed.append(exc)
                    raise
            return results

        try:
            results = self.together(body)
        except Exception as exc:
            if not failed or len(groups) == 1:  # the transaction itself failed: for everyone
                for _, fut in groups:
                    _settle(fut, error=exc)
                return
            for fn, fut in groups:  # one group failed: each on its own, with its own outcome
                try:
                    result = self.together(fn)
                except Exception as own:
                    _settle(fut, error=own)
                else:
                    _settle(fut, result)
            return
        except BaseException:
            for _, fut in groups:
                fut.cancel()
            raise
        for (_, fut), result in zip(groups, results, strict=True):
            _settle(fut, result)

    def _query(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        return self.index.query(sql, args)

    def close(self) -> None:
        self._close_journals()
        self.index.close()

    # -- blobs ------------------------------------------------------------------------------
    #: Blobs up to this many bytes are rows of the index (``small_blobs``), larger ones files
    #: or objects (see the module docstring).
    inline_max = 64 * 1024

    def put_blob(self, data: bytes) -> str:
        """Store ``data`` under its sha256 (whole or not at all: a local file is written to a
        temp file and renamed; an object-store upload carries its checksum; a small blob is
        one row of the index).

        Callers write the blob *before* the record that points at it, or in the same
        :meth:`together` group (a small blob then commits with the record), so a failed write
        leaves no record pointing at a missing blob."""
        digest = hashlib.sha256(data).hexdigest()
        if len(data) <= self.inline_max and self._inline:
            if self.read_only:
                if self.blob_ok(digest):
                    return digest
                raise self._read_only_error()
            self._put_small(digest, data)
            return digest
        if not self.blob_ok(digest, fresh=True):  # missing, or damaged: (re)write it
            if self.read_only:
                raise self._read_only_error()
            self.blobs.write(digest, data)
        return digest

    def put_blob_stream(self, chunks: Iterable[bytes]) -> str:
        """Store the concatenation of ``chunks`` under its sha256; return the digest.

        The bytes go to a temp file while they are hashed (never all in memory), then fsync,
        and the blob store takes the file (a folder: rename; object storage: upload): the same
        bytes give the same blob, byte for byte, as :meth:`put_blob`. An existing blob with
        that digest is kept if intact and replaced if damaged.
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
            if self.blob_ok(digest, fresh=True):
                os.unlink(tmp)
            else:  # missing, or damaged: this copy replaces it
                self.blobs.put_file(digest, Path(tmp))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        finally:
            Path(tmp).unlink(missing_ok=True)  # an object store copies, a folder renames it
        return digest

    # -- small blobs, in the index --------------------------------------------------------
    @functools.cached_property
    def _inline(self) -> bool:
        """Whether the index has the small-blob table: every index this motools can write
        has it (migration 4); an older one opened read-only may not."""
        if not self.read_only:
            return True
        try:
            self._query("SELECT digest FROM small_blobs LIMIT 1")
        except StoreError:
            return False
        return True

    def _small(self, digest: str) -> bytes | None:
        """The bytes of the small blob ``digest`` (unchecked), None if the index has none."""
        if not self._inline:
            return None
        rows = self._query("SELECT data FROM small_blobs WHERE digest = ?", (digest,))
        return bytes(rows[0][0]) if rows else None

    def _put_small(self, digest: str, data: bytes, *, copy: bool = True) -> None:
        """Write the row (replacing a damaged one) and, when it changed, its second copy."""
        self._ahead_sizes.pop(digest, None)
        changed = self._tx(lambda conn: conn.execute(_UPSERT_SMALL_BLOB, (digest, data)).fetchall())
        if changed and copy:
            entry = _small_copy(digest, data)
            # == canonical_json(entry): base64 and hex need no escapes
            self._append(
                self._blobs_journal, entry, f'{{"data":"{entry["data"]}","digest":"{digest}"}}'
            )

    def _delete_small(self, digest: str) -> bool:
        self._ahead_sizes.pop(digest, None)
        gone = self._tx(
            lambda conn: conn.execute(
                "DELETE FROM small_blobs WHERE digest = ? RETURNING digest", (digest,)
            ).fetchall()
        )
        if gone:
            self._append(self._blobs_journal, {"deleted": digest})
        return bool(gone)

    def _small_digests(self) -> list[str]:
        if not self._inline:
            return []
        return [r[0] for r in self._query("SELECT digest FROM small_blobs ORDER BY digest")]

    def blob_digests(self) -> set[str]:
        """Every stored blob's digest: the small ones in the index and the files or objects."""
        return set(self._small_digests()) | set(self.blobs.digests())

    def delete_blob(self, digest: str) -> None:
        """Remove the blob wherever it is kept."""
        self._delete_small(digest)
        self.blobs.delete(digest)

    def blob_size(self, digest: str) -> int | None:
        """The stored blob's size in bytes, without reading it (None: no such blob here; for
        blobs in object storage, this machine's copy of it)."""
        size = self._ahead_sizes.pop(digest, None)
        if size is not None:
            return int(size)
        if self._inline:
            rows = self._query("SELECT length(data) FROM small_blobs WHERE digest = ?", (digest,))
            if rows:
                return int(rows[0][0])
        stamp = self.blobs.stamp(digest)
        return stamp[1] if stamp is not None else None

    def blob_ok(self, digest: str, *, fresh: bool = False) -> bool:
        """Whether the blob exists and its bytes hash to its name (``fresh``: in the object
        store itself, past this machine's cache of it).

        A blob file this store found intact before is not hashed again while it is
        unchanged (same inode, size and modification time)."""
        if not fresh:
            stamp = self.blobs.stamp(digest)
            if stamp is not None and self._verified.get(digest) == stamp:
                return True
        small = self._small(digest)
        if small is not None:
            return hashlib.sha256(small).hexdigest() == digest
        before = self.blobs.stamp(digest)
        if self.blobs.sha256(digest, fresh=fresh) != digest:  # (hashed chunk by chunk)
            self._verified.pop(digest, None)
            return False
        if before is not None and self.blobs.stamp(digest) == before:  # unchanged meanwhile
            self._verified[digest] = before
        return True

    def _check(self, digest: str, data: bytes) -> bool:
        """Whether ``data`` hashes to ``digest``; remembered (with the file's stamp) if so."""
        if hashlib.sha256(data).hexdigest() != digest:
            self._verified.pop(digest, None)
            return False
        stamp = self.blobs.stamp(digest)
        if stamp is not None and stamp[1] == len(data):
            self._verified[digest] = stamp
        return True

    def put_json_blob(self, value: Any) -> str:
        return self.put_blob(canonical_json(value).encode())

    def blob_path(self, digest: str) -> Path:
        """The blob's file (blobs in a folder; else where it would be under the home). A
        small blob kept in the index is written out there first, for a caller that needs a
        file (a dataset handed to a backend by path)."""
        path = self.blobs.local_path(digest)
        if path is None:
            path = self.root / "blobs" / digest[:2] / digest
        if not path.exists():
            small = self._small(digest)
            if small is not None and hashlib.sha256(small).hexdigest() == digest:
                atomic_write(path, small, durable=False)
        return path

    def blob_location(self, digest: str) -> str:
        """Where the blob is: a path, an ``s3://`` URL, or the index for a small blob."""
        if self._small(digest) is not None:
            return f"{self.index.location} (small_blobs)"
        return self.blobs.where(digest)

    def get_blob(self, digest: str) -> bytes:
        """The blob's bytes; raises :class:`CorruptRecord` if missing or tampered with."""
        small = self._small(digest)
        if small is not None:
            if hashlib.sha256(small).hexdigest() != digest:
                raise CorruptRecord(
                    f"blob {digest[:12]} fails its checksum (in {self.index.location}): it "
                    "was damaged or tampered with and is not used"
                )
            return small
        try:
            data = self.blobs.read(digest)
        except BlobMissing as exc:
            raise CorruptRecord(f"blob {digest[:12]} is missing ({exc})") from exc
        if not self._check(digest, data):
            raise CorruptRecord(
                f"blob {digest[:12]} fails its checksum ({self.blobs.where(digest)}): it was "
                "damaged or tampered with and is not used"
            )
        return data

    def get_json_blob(self, digest: str) -> Any:
        return json_loads(self.get_blob(digest))

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
        self._ahead.pop(key, None)
        now = time.time()
        value_json = canonical_json(value)
        args = (
            key,
            kind,
            SCHEMA_VERSION,
            status,
            backend,
            label,
            canonical_json(fields),
            value_json,
            sha256_text(value_json),
            now,
            now,
            expires_at,
            self.project,
        )
        created = self._tx(
            lambda conn: conn.execute(_UPSERT_RECORD + " RETURNING created_at", args).fetchone()[0]
        )
        record = Record(key, kind, status, backend, label, fields, value, created, now, expires_at)
        self._write_copy(record, args[6], value_json)
        return record

    # -- second copies of durable records -----------------------------------------------------
    # An append-only journal beside the index (``copies/records.jsonl``,
    # ``copies/artifacts.jsonl``): one checksummed line per write of a training/eval record or
    # an artifact, a tombstone per deletion. Appending costs one small write (no file to
    # create, no fsync: it guards against a damaged index, not a power cut -- the index itself
    # commits without fsync in WAL mode with synchronous=NORMAL). A torn or damaged line fails
    # its checksum and is skipped; the last intact line for a key wins.

    @functools.cached_property
    def _records_journal(self) -> Path:
        return self.copies_dir / "records.jsonl"

    @functools.cached_property
    def _artifacts_journal(self) -> Path:
        return self.copies_dir / "artifacts.jsonl"

    @functools.cached_property
    def _blobs_journal(self) -> Path:
        return self.copies_dir / "blobs.jsonl"

    def _append(self, journal: Path, entry: dict[str, Any], body: str | None = None) -> None:
        """Append ``entry`` (``body``: its canonical JSON, when the caller has it)."""
        if not self.index.keeps_copies:  # a database server keeps its own durability
            return
        if body is None:
            body = canonical_json(entry)
        # == canonical_json({"entry": entry, "checksum": ...}): its keys in sorted order
        line = f'{{"checksum":"{sha256_text(body)}","entry":{body}}}\n'.encode()
        pending = self._pending()
        if pending is not None:  # in a group: once it has committed
            pending.append((journal, line))
        else:
            self._write_line(journal, line)

    def _pending(self) -> list[tuple[Path, bytes]] | None:
        return getattr(self._appends, "pending", None)

    def _write_line(self, journal: Path, line: bytes) -> None:
        os.write(self._journal_fd(journal), line)

    def _journal_fd(self, journal: Path) -> int:
        """An append descriptor of ``journal``, kept open while the file stays the same one
        (compaction, here or in another process, replaces it: then it is opened again)."""
        name = os.fspath(journal)
        held = self._journal_fds.get(name)
        if held is not None:
            fd, ino = held
            try:
                if os.stat(name).st_ino == ino:
                    return fd
            except OSError:
                pass
            self._journal_fds.pop(name, None)
            os.close(fd)
        journal.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
        self._journal_fds[name] = (fd, os.fstat(fd).st_ino)
        return fd

    def _close_journals(self) -> None:
        for fd, _ in self._journal_fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._journal_fds.clear()

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

    def _write_copy(
        self, record: Record, fields_json: str | None = None, value_json: str | None = None
    ) -> None:
        """Append the record's copy; ``fields_json``/``value_json`` are the canonical JSON of
        its fields and value when the caller has just encoded them (not encoded again)."""
        if record.kind not in DURABLE_KINDS or not self.index.keeps_copies:
            return
        if fields_json is not None and value_json is not None:
            self._append(self._records_journal, {}, record_json(record, fields_json, value_json))
        else:
            self._append(self._records_journal, record.to_dict())

    def _forget_copy(self, key: str) -> None:
        self._append(self._records_journal, {"deleted": key})

    def _copies(self) -> dict[str, Record]:
        """The latest intact copy of every record that was not deleted since."""
        latest: dict[str, Record] = {}
        if not self.index.keeps_copies:
            return latest
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
        if not self.index.keeps_copies:
            return
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
        small = self._blob_copies()
        lines = [
            canonical_json({"entry": b, "checksum": sha256_text(canonical_json(b))})
            for b in small.values()
        ]
        if lines or self._blobs_journal.exists():
            atomic_write(self._blobs_journal, ("\n".join(lines) + "\n" if lines else "").encode())

    def _restore(self, record: Record, project: str | None = None) -> None:
        """Write ``record`` (from its copy) back into the index, as it was."""
        value_json = canonical_json(record.value)
        args = (
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
            project or self.project,
        )
        self._tx(lambda conn: conn.execute(_RESTORE_RECORD, args))

    def update(
        self, key: str, *, status: str, value: dict[str, Any], expires_at: float | None = None
    ) -> None:
        self._ahead.pop(key, None)
        value_json = canonical_json(value)
        args = (status, value_json, sha256_text(value_json), time.time(), expires_at, key)

        def body(conn: Connection) -> Any:
            conn.execute(
                "UPDATE records SET status = ?, value = ?, checksum = ?, updated_at = ?,"
                " expires_at = COALESCE(?, expires_at) WHERE key = ?",
                args,
            )
            return conn.execute(
                f"SELECT {self._COLUMNS} FROM records WHERE key = ?", (key,)
            ).fetchone()

        row = self._tx(body)
        if row is not None and row[1] in DURABLE_KINDS and self.index.keeps_copies:
            self._write_copy(self._decode(row), row[6], row[7])  # the texts as stored

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
                json_loads(fields),
                json_loads(value),
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
        ahead = self._ahead.pop(key, None)
        if ahead is not None:
            return ahead
        rows = self._query(f"SELECT {self._COLUMNS} FROM records WHERE key = ?", (key,))
        if not rows:
            return None
        try:
            return self._decode(rows[0])
        except CorruptRecord as exc:
            return self._recover(key, rows[0][1], exc)

    def read_ahead(self, keys: Iterable[str], *, batch: int = 500) -> int:
        """Read the succeeded records at ``keys`` in one query per ``batch`` keys, for the
        next :meth:`get` of each (a sweep run again reads its members' records at once
        instead of one round trip each); returns how many were found.

        Each is served once, as it was when read ahead; records in any other state (in
        flight, failed, damaged) are left for :meth:`get` to read when it is asked.
        """
        wanted = [k for k in dict.fromkeys(keys) if k not in self._ahead]
        found = 0
        for start in range(0, len(wanted), batch):
            chunk = wanted[start : start + batch]
            marks = ", ".join("?" for _ in chunk)
            rows = self._query(
                f"SELECT {self._COLUMNS} FROM records WHERE key IN ({marks}) AND status = ?",
                [*chunk, "succeeded"],
            )
            blobs = []
            for row in rows:
                try:
                    record = self._decode(row)
                except CorruptRecord:
                    continue  # get() recovers it from its copy, or says it cannot
                self._ahead[record.key] = record
                found += 1
                if isinstance(record.value.get("results_blob"), str):
                    blobs.append(record.value["results_blob"])
            if blobs and self._inline:  # what a cache hit checks of its results: their size
                marks = ", ".join("?" for _ in blobs)
                self._ahead_sizes.update(
                    self._query(
                        f"SELECT digest, length(data) FROM small_blobs WHERE digest IN ({marks})",
                        blobs,
                    )
                )
        return found

    def _recover(self, key: str, kind: str, exc: CorruptRecord) -> Record | None:
        copy = self._read_copy(key)
        if copy is not None:
            warnings.warn(
                f"motools store {self.index.location}: {exc}; restored it from its copy",
                RuntimeWarning,
                stacklevel=3,
            )
            if not self.read_only:
                self._restore(copy)
            return copy
        if kind == "step":
            warnings.warn(
                f"motools store {self.index.location}: {exc}; the step will run again",
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
                    f"motools store {self.index.location}: {exc}; skipped",
                    RuntimeWarning,
                    stacklevel=3,
                )
        return out

    def records(
        self,
        kind: str | None = None,
        backend: str | None = None,
        limit: int | None = None,
        *,
        project: str | None = None,
        status: str | Sequence[str] | None = None,
        since: float | None = None,
        offset: int = 0,
    ) -> list[Record]:
        """Records newest first (by ``updated_at``), filtered and paginated.

        ``project`` (default: ``MOTOOLS_PROJECT`` when set, else every project; ``"*"`` every
        project) limits them to one namespace; ``status`` is one status or several; ``since``
        keeps records updated at or after that time (seconds since the epoch);
        ``limit``/``offset`` select one page.
        """
        return list(
            self.iter_records(
                kind, backend, limit, project=project, status=status, since=since, offset=offset
            )
        )

    def iter_records(
        self,
        kind: str | None = None,
        backend: str | None = None,
        limit: int | None = None,
        *,
        project: str | None = None,
        status: str | Sequence[str] | None = None,
        since: float | None = None,
        offset: int = 0,
        batch: int = 500,
    ) -> Iterator[Record]:
        """:meth:`records`, decoded ``batch`` rows at a time (memory stays flat)."""
        where, args = self._filters(kind, backend, status, since, project)
        sql = f"SELECT {self._COLUMNS} FROM records{where} ORDER BY updated_at DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        if offset:
            sql += f" OFFSET {int(offset)}"
        for rows in self.index.stream(sql, args, batch):
            yield from self._decode_many(rows)

    def count_records(
        self,
        kind: str | None = None,
        backend: str | None = None,
        *,
        project: str | None = None,
        status: str | Sequence[str] | None = None,
        since: float | None = None,
    ) -> int:
        """How many records :meth:`records` would give without a limit."""
        where, args = self._filters(kind, backend, status, since, project)
        return int(self._query(f"SELECT COUNT(*) FROM records{where}", args)[0][0])

    @staticmethod
    def _filters(
        kind: str | None,
        backend: str | None,
        status: str | Sequence[str] | None,
        since: float | None,
        project: str | None,
    ) -> tuple[str, list[Any]]:
        where: list[str] = []
        args: list[Any] = []
        wanted_project = project if project is not None else project_filter()
        if wanted_project and wanted_project != "*":
            where.append("project = ?")
            args.append(wanted_project)
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
        self._ahead.pop(key, None)
        self._tx(lambda conn: conn.execute("DELETE FROM records WHERE key = ?", (key,)))
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
        host, pid = socket.gethostname(), os.getpid()
        token = f"{host}:{pid}:{uuid.uuid4().hex}"
        now = time.time()

        def body(conn: Connection) -> str | None:
            # The database enforces one claimant: a unique row, inserted if absent...
            conn.execute(
                "INSERT INTO claims (key, owner, host, pid, claimed_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (key, token, host, pid, now),
            )
            row = conn.execute(
                "SELECT owner, host, pid, claimed_at FROM claims WHERE key = ?", (key,)
            ).fetchone()
            if row is None or row[0] == token:  # ours (also when a retry re-runs this body)
                return token if row is not None else None
            if not _claim_is_stale(row, now, stale_after):
                return None
            # ...or taken over from a dead or stale claimant with a compare-and-swap: of two
            # machines that both saw it stale, only the one whose UPDATE matched wins.
            taken = conn.execute(
                "UPDATE claims SET owner = ?, host = ?, pid = ?, claimed_at = ?"
                " WHERE key = ? AND owner = ?",
                (token, host, pid, now, key, row[0]),
            )
            return token if taken.rowcount == 1 else None

        return self._tx(body)

    def release_claim(self, key: str, token: str) -> None:
        self._tx(
            lambda conn: conn.execute(
                "DELETE FROM claims WHERE key = ? AND owner = ?", (key, token)
            )
        )

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
            "made_by": made_by(),
            "project": self.project,
        }
        args = self._artifact_args(row)
        if self._insert_artifact(row, replace=replace, args=args):
            self._append(self._artifacts_journal, row, artifact_json(args))

    def _artifact_args(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The artifact's column values, its lists and mappings as canonical JSON."""
        if self._versions_json[0] != row["versions"]:  # the same versions, artifact after artifact
            self._versions_json = (row["versions"], canonical_json(row["versions"]))
        return (
            row["id"],
            row["kind"],
            row["created_at"],
            canonical_json(row["inputs"]),
            canonical_json(row["config"]),
            self._versions_json[1],
            row["blob"],
            row.get("made_by"),
            row.get("project") or self.project,
        )

    def _insert_artifact(
        self, row: dict[str, Any], *, replace: bool = False, args: tuple[Any, ...] | None = None
    ) -> bool:
        """Insert (or, with ``replace``, overwrite) the artifact; whether a row was written."""
        conflict = (
            " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, created_at = excluded.created_at,"
            " inputs = excluded.inputs, config = excluded.config, versions = excluded.versions,"
            " blob = excluded.blob, made_by = excluded.made_by, project = excluded.project"
            if replace
            else " ON CONFLICT (id) DO NOTHING"
        )
        if args is None:
            args = self._artifact_args(row)
        cursor = self._tx(
            lambda conn: conn.execute(
                "INSERT INTO artifacts (id, kind, created_at, inputs, config, versions, blob,"
                " made_by, project) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)" + conflict,
                args,
            )
        )
        return bool(cursor.rowcount and cursor.rowcount > 0)

    def has_artifact(self, artifact_id: str) -> bool:
        """Whether an artifact with this id is recorded (without reading it)."""
        return bool(self._query("SELECT 1 FROM artifacts WHERE id = ?", (artifact_id,)))

    def get_artifact(self, artifact_id: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT id, kind, created_at, inputs, config, versions, blob, made_by, project"
            " FROM artifacts WHERE id = ?",
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
            "made_by": row[7],
            "project": row[8],
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
        self._ahead.clear()
        self._ahead_sizes.clear()
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

        def body(conn: Connection) -> list[str]:
            gone: list[str] = []
            removed["claims"] = 0
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
            for row in conn.execute(
                "SELECT key, owner, host, pid, claimed_at FROM claims"
            ).fetchall():
                if _claim_is_stale(row[1:], now, 600.0):
                    conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (row[0], row[1]))
                    removed["claims"] += 1
            return gone

        gone = self._tx(body)
        removed["records"] = len(gone)
        for key in gone:
            self._forget_copy(key)
        referenced: set[str] = set()
        for (value,) in self._query("SELECT value FROM records"):
            referenced.update(_blob_refs(value))
        for (blob,) in self._query("SELECT blob FROM artifacts WHERE blob IS NOT NULL"):
            referenced.add(blob)
        removed["temp_files"] = self.blobs.remove_temp_files()
        for digest in self._small_digests():
            if digest not in referenced and self._delete_small(digest):
                removed["blobs"] += 1
        for digest in list(self.blobs.digests()):
            if digest not in referenced:
                self.blobs.delete(digest)
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
        self._ahead.clear()
        self._ahead_sizes.clear()
        report: dict[str, Any] = {
            "records": 0,
            "blobs": 0,
            "problems": [],
            "fixed": [],
            "index_rebuilt": False,
        }
        sqlite = isinstance(self.index, SqliteIndex)
        if sqlite and self.index_path.exists() and not looks_like_sqlite(self.index_path):
            report["problems"].append(f"{self.index_path}: not a SQLite database")
            if repair:
                self._rebuild_damaged("its header is not a SQLite database header")
                report["index_rebuilt"] = True
                report["fixed"].append(f"rebuilt {self.index_path} from the copies")
            else:
                return report
        ok = self.index.integrity()
        if ok != "ok":
            report["problems"].append(f"{self.index.location}: {ok}")
            if not repair or not sqlite:
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
            if kind in DURABLE_KINDS and self.index.keeps_copies:
                copy = copies.get(key)
                if copy is None or copy.to_dict() != record.to_dict():
                    report["problems"].append(f"record {key[:12]}: copy missing or stale")
                    if repair:
                        self._write_copy(record)
                        report["fixed"].append(f"record {key[:12]}: copy rewritten")
        bad_blobs: set[str] = set()
        blob_copies = self._blob_copies()
        for digest in self._small_digests():
            report["blobs"] += 1
            data = self._small(digest)
            if data is None:
                continue  # deleted meanwhile
            if hashlib.sha256(data).hexdigest() != digest:
                bad_blobs.add(digest)
                report["problems"].append(
                    f"blob {digest[:12]} fails its checksum (in {self.index.location})"
                )
            elif self.index.keeps_copies and blob_copies.get(digest) != _small_copy(digest, data):
                report["problems"].append(f"blob {digest[:12]}: copy missing or stale")
                if repair:
                    self._append(self._blobs_journal, _small_copy(digest, data))
                    report["fixed"].append(f"blob {digest[:12]}: copy rewritten")
        for digest in self.blobs.digests():
            report["blobs"] += 1
            if not self.blob_ok(digest, fresh=True):
                bad_blobs.add(digest)
                report["problems"].append(
                    f"blob {digest[:12]} fails its checksum ({self.blobs.where(digest)})"
                )
        if repair and bad_blobs:
            self._drop_blobs(bad_blobs, report)
        if repair:
            self.compact_copies()
        return report

    def _drop_blobs(self, digests: set[str], report: dict[str, Any]) -> None:
        for digest in digests:
            self.delete_blob(digest)
            report["fixed"].append(f"blob {digest[:12]}: deleted (it will be recomputed)")
        for row in self._query(f"SELECT {self._COLUMNS} FROM records"):
            if _blob_refs(row[7]) & digests and row[1] != "training":
                self.delete(row[0])
                report["fixed"].append(f"record {row[0][:12]} ({row[1]}): dropped with its blob")
        for artifact_id, blob in self._query(
            "SELECT id, blob FROM artifacts WHERE blob IS NOT NULL"
        ):
            if blob in digests:
                self._tx(
                    lambda conn, a=artifact_id: conn.execute(
                        "DELETE FROM artifacts WHERE id = ?", (a,)
                    )
                )
                self._append(self._artifacts_journal, {"deleted": artifact_id})
                report["fixed"].append(f"artifact {artifact_id[:40]}: dropped with its blob")

    def rebuild_index(self) -> dict[str, int]:
        """Create a fresh index from the copies (training/eval records and artifacts)."""
        self._ahead.clear()
        self._ahead_sizes.clear()
        if not isinstance(self.index, SqliteIndex):
            raise StoreError(
                f"{self.index.location} is not rebuilt from copies: restore the database "
                "from its backups"
            )
        self.index.reset()
        counts = {"records": 0, "artifacts": 0, "blobs": 0}
        for record in self._copies().values():
            self._restore(record)
            counts["records"] += 1
        for row in self._artifact_copies().values():
            try:
                counts["artifacts"] += self._insert_artifact(row, replace=True)
            except KeyError:
                continue
        for digest, entry in self._blob_copies().items():
            try:
                data = base64.b64decode(entry["data"], validate=True)
            except (KeyError, TypeError, ValueError):
                continue
            if hashlib.sha256(data).hexdigest() == digest:
                self._put_small(digest, data, copy=False)  # (its copy is where it came from)
                counts["blobs"] += 1
        return counts

    def _artifact_copies(self) -> dict[str, dict[str, Any]]:
        """The latest intact copy of every artifact not deleted since, by id."""
        return self._latest_copies(self._artifacts_journal, "id")

    def _blob_copies(self) -> dict[str, dict[str, Any]]:
        """The latest intact copy of every small blob not deleted since, by digest."""
        return self._latest_copies(self._blobs_journal, "digest")

    def _latest_copies(self, journal: Path, name: str) -> dict[str, dict[str, Any]]:
        """The last intact entry of ``journal`` per ``entry[name]``, tombstones applied."""
        latest: dict[str, dict[str, Any]] = {}
        if not self.index.keeps_copies:
            return latest
        for entry in self._journal(journal):
            if "deleted" in entry:
                latest.pop(str(entry["deleted"]), None)
            elif isinstance(entry.get(name), str):
                latest[entry[name]] = entry
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
            f"and rebuilt the index from {counts['records']} record, {counts['artifacts']} "
            f"artifact and {counts['blobs']} small-blob copies",
            RuntimeWarning,
            stacklevel=2,
        )


@functools.lru_cache(maxsize=1)
def made_by() -> str:
    """``user@host``: who made an artifact (recorded in provenance)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


_RECORD_COLUMNS = (
    "key, kind, schema_version, status, backend, label, fields, value, checksum,"
    " created_at, updated_at, expires_at, project"
)
#: Insert or replace a record, keeping its first ``created_at`` and its project.
_UPSERT_RECORD = (
    f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET kind = excluded.kind,"
    " schema_version = excluded.schema_version, status = excluded.status,"
    " backend = excluded.backend, label = excluded.label, fields = excluded.fields,"
    " value = excluded.value, checksum = excluded.checksum, updated_at = excluded.updated_at,"
    " expires_at = excluded.expires_at"
)
#: Write a record back exactly as it was (from a copy, a move, or another store).
_RESTORE_RECORD = (
    f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET kind = excluded.kind,"
    " schema_version = excluded.schema_version, status = excluded.status,"
    " backend = excluded.backend, label = excluded.label, fields = excluded.fields,"
    " value = excluded.value, checksum = excluded.checksum, created_at = excluded.created_at,"
    " updated_at = excluded.updated_at, expires_at = excluded.expires_at,"
    " project = excluded.project"
)


#: Write a small blob, replacing a row whose bytes differ (damaged); returns a row only when
#: something was written (so its second copy is appended once).
_UPSERT_SMALL_BLOB = (
    "INSERT INTO small_blobs (digest, data) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE SET"
    " data = excluded.data WHERE small_blobs.data <> excluded.data RETURNING digest"
)


def _small_copy(digest: str, data: bytes) -> dict[str, Any]:
    """A small blob's entry in the copy journal."""
    return {"digest": digest, "data": base64.b64encode(data).decode("ascii")}


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


_STORES: dict[tuple[Path, StoreLocation, str], Store] = {}


def open_store(root: str | os.PathLike[str] | None = None) -> Store:
    """The shared :class:`Store` for the home ``root`` (default: :func:`motools.home`),
    with the index and blobs ``MOTOOLS_STORE`` / ``MOTOOLS_BLOBS`` or ``motools.toml`` name."""
    path = (Path(root).expanduser() if root is not None else home()).resolve()
    cache_key = (path, resolve_location(path), current_project())
    store = _STORES.get(cache_key)
    if store is None:
        if not _STORES:  # closed at exit: the index is left folded, quick to open next time
            atexit.unregister(close_stores)
            atexit.register(close_stores)
        store = _STORES[cache_key] = Store(path)
    return store


def close_stores() -> None:
    """Close every store :func:`open_store` handed out (their connections and pools)."""
    while _STORES:
        _key, store = _STORES.popitem()
        store.close()
