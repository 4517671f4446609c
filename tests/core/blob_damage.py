"""Damaging a stored blob where the store keeps it, as a fault would: a small blob is a row
of the index, a larger one a file or an object (``Store.inline_max``)."""

from __future__ import annotations

import shutil

from motools.cache import Store


def in_index(store: Store, digest: str) -> bool:
    """Whether the blob ``digest`` is a row of the store's index."""
    rows = store.index.query("SELECT digest FROM small_blobs WHERE digest = ?", (digest,))
    return bool(rows)


def overwrite_blob(store: Store, digest: str, data: bytes) -> None:
    """Replace the stored bytes of ``digest`` with ``data``, wherever they are kept (and drop
    this machine's local copies of objects, so the next read sees the damage)."""
    if in_index(store, digest):
        with store.transaction() as conn:
            conn.execute("UPDATE small_blobs SET data = ? WHERE digest = ?", (data, digest))
        return
    store.blobs.write(digest, data)
    shutil.rmtree(store.root / "blob-cache", ignore_errors=True)


def stored_bytes(store: Store, digest: str) -> bytes:
    """The bytes stored under ``digest``, unchecked."""
    rows = store.index.query("SELECT data FROM small_blobs WHERE digest = ?", (digest,))
    return bytes(rows[0][0]) if rows else store.blobs.read(digest)
