"""``StoredDataset``: a dataset kept as a JSONL file (a store blob), read only when needed.

A workflow step that trains on a dataset prepared earlier gets it from the store. Its content
hash and row count are known (they were recorded with it) and its rows were validated when
it was prepared, so a backend that needs no more than that (the dummy backend) never reads
the rows, and one that uploads a file (OpenAI) sends the stored bytes as they are instead of
serialising the rows again. Rows are parsed on first use, streaming the file line by line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from motools.atomic import atomic_write
from motools.datasets.jsonl import DatasetValidationError, JSONLDataset, read_jsonl


def _read_chunks(path: Path, size: int = 1 << 20) -> Any:
    with path.open("rb") as fh:
        yield from iter(lambda: fh.read(size), b"")


class StoredDataset(JSONLDataset):
    """A :class:`JSONLDataset` whose rows live in ``path`` until something reads them.

    ``content_hash`` and ``rows`` are taken as given (the caller checked the file, as the store
    does by its digest); ``valid_for`` is the purpose its rows were validated for, if any.
    The file must not change while the dataset is in use (store blobs never do).
    """

    __slots__ = ("_loaded", "_rows", "path")

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        content_hash: str,
        rows: int,
        source: str | None = None,
        valid_for: str | None = None,
    ) -> None:
        # JSONLDataset.__init__ is not called: it would need the rows.
        self.path = Path(path)
        self._hash = content_hash
        self._rows = int(rows)
        self._valid_for = valid_for
        self._loaded: tuple[dict[str, Any], ...] | None = None
        self.source = source

    @property  # type: ignore[override]
    def _samples(self) -> tuple[dict[str, Any], ...]:
        """The rows, parsed from the file on first use (every base-class method reads these)."""
        if self._loaded is None:
            samples, problems, total = read_jsonl(self.path, purpose=None)
            if total:
                raise DatasetValidationError(os.fspath(self.path), problems, total)
            self._loaded = tuple(samples)
        return self._loaded

    @property
    def is_loaded(self) -> bool:
        """Whether the rows were read from the file (for tests and diagnostics)."""
        return self._loaded is not None

    def __len__(self) -> int:
        return self._rows if self._loaded is None else len(self._loaded)

    def to_jsonl_bytes(self) -> bytes:
        """The stored bytes as they are (no row is parsed or serialised again)."""
        return self.path.read_bytes()

    def save_sync(self, path: str | os.PathLike[str]) -> Path:
        """Copy the stored file (atomically: temp file, fsync, rename)."""
        return atomic_write(path, _read_chunks(self.path))

    def __repr__(self) -> str:
        state = "loaded" if self._loaded is not None else f"in {self.path}"
        return f"StoredDataset({len(self)} samples, {state})"
