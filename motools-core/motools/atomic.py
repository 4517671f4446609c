"""Atomic file writes (temp file in the same folder, fsync, rename), used by every writer."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Permissions of files motools writes: what ``open()`` would give (0644 under umask 022).
#: (``mkstemp`` alone would make every file 0600.)
_MODE = 0o666 & ~_umask()


def file_mode() -> int:
    """The permissions motools gives the files it writes (for writers that open their own)."""
    return _MODE


def atomic_write(
    path: str | os.PathLike[str], data: bytes | Iterable[bytes], *, durable: bool = True
) -> Path:
    """Write ``data`` (bytes or chunks of bytes) to ``path`` so readers never see half of it.

    The file gets the permissions a plain ``open()`` would give it under the umask.
    ``durable=False`` skips the fsync: the write still survives a killed process (never half
    a file), but not necessarily a power cut -- for second copies of data kept elsewhere.
    """
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except FileNotFoundError:  # the folder is made on first use only
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, _MODE)
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:
                fh.writelines(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
