"""Copy records, artifacts and blobs between two stores (``motools store push`` / ``pull``).

Idempotent and resumable: records go over in batches, each batch's blobs first (every blob
read from the source is checked against its sha256 before it is written), then the batch's
rows in one transaction. A copy killed half-way leaves whole batches behind; running it
again skips what the destination already has (a record is replaced only by a newer one), so
the counts end equal and a second run copies nothing. Claims are not copied: they belong to
processes, not to stores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from motools.cache.store import (
    _RECORD_COLUMNS,
    DURABLE_KINDS,
    CorruptRecord,
    Store,
    StoreError,
    _blob_refs,
    sha256_text,
)

BATCH = 200

Progress = Callable[[dict[str, int]], None]


def copy_store(
    source: Store, destination: Store, *, batch: int = BATCH, progress: Progress | None = None
) -> dict[str, int]:
    """Copy everything in ``source`` that ``destination`` lacks or has older; the counts."""
    counts = {
        "records": 0,
        "records_skipped": 0,
        "artifacts": 0,
        "blobs": 0,
        "blobs_present": 0,
        "total_records": 0,
    }
    if destination.read_only:
        raise StoreError(destination.index.read_only_reason)
    have_blobs = destination.blob_digests()
    have = dict(destination._query("SELECT key, updated_at FROM records"))
    rows = source._query(f"SELECT {_RECORD_COLUMNS} FROM records ORDER BY key")
    counts["total_records"] = len(rows)

    def copy_blob(digest: str) -> None:
        if digest in have_blobs:
            counts["blobs_present"] += 1
            return
        try:
            data = source.get_blob(digest)  # checked against its sha256
        except CorruptRecord as exc:
            raise StoreError(f"not copied: {exc}. Run `motools cache verify --repair`") from None
        destination.put_blob(data)
        have_blobs.add(digest)
        counts["blobs"] += 1

    for start in range(0, len(rows), batch):
        todo = []
        for row in rows[start : start + batch]:
            key, value, checksum, updated = row[0], row[7], row[8], row[10]
            if sha256_text(value) != checksum:
                raise StoreError(
                    f"record {key[:12]} in {source.location} fails its checksum; not copied. "
                    "Run `motools cache verify --repair` on it first"
                )
            if key in have and have[key] >= updated:
                counts["records_skipped"] += 1
                continue
            for digest in sorted(_blob_refs(value)):
                copy_blob(digest)
            todo.append(row)
        if todo:
            destination._tx(lambda conn, todo=todo: _upsert_newer(conn, todo))
            counts["records"] += len(todo)
            for row in todo:  # a SQLite destination keeps second copies of paid records
                if row[1] in DURABLE_KINDS:
                    destination._write_copy(destination._decode(tuple(row[:12])))
        if progress is not None:
            progress(counts)
    for row in source._query(
        "SELECT id, kind, created_at, inputs, config, versions, blob, made_by, project"
        " FROM artifacts ORDER BY id"
    ):
        if destination.get_artifact(row[0]) is not None:
            continue
        if row[6]:
            copy_blob(row[6])
        destination._insert_artifact(
            {
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
        )
        counts["artifacts"] += 1
    return counts


_UPSERT_NEWER = (
    f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET kind = excluded.kind,"
    " schema_version = excluded.schema_version, status = excluded.status,"
    " backend = excluded.backend, label = excluded.label, fields = excluded.fields,"
    " value = excluded.value, checksum = excluded.checksum, created_at = excluded.created_at,"
    " updated_at = excluded.updated_at, expires_at = excluded.expires_at,"
    " project = excluded.project WHERE records.updated_at < excluded.updated_at"
)


def _upsert_newer(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    for row in rows:
        conn.execute(_UPSERT_NEWER, tuple(row))


def describe(counts: dict[str, int]) -> str:
    return (
        f"{counts['records']} record(s) copied, {counts['records_skipped']} already there; "
        f"{counts['blobs']} blob(s) copied and verified, {counts['blobs_present']} already "
        f"there; {counts['artifacts']} artifact(s)"
    )
