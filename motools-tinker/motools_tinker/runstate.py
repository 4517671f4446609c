"""Where a run keeps its files, and the lock that lets exactly one process drive it.

``motools.home() / "runs" / <job_id>`` (``$MOTOOLS_HOME/runs/<job_id>/``) holds
``state.json`` (step, epoch, data order seed, checkpoint path and expiry, loss curve),
``dataset.jsonl`` (the exact samples, so another process can resume), a ``lock`` held by
the process that drives the loop (released by the OS when that process dies) and, when
someone asked another process to stop, ``cancel_requested``.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

from motools.paths import home


def default_run_dir(job_id: str) -> Path:
    """The folder of run ``job_id`` under the motools home."""
    return home() / "runs" / job_id


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def utc_in(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    moment = _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=seconds)
    return moment.isoformat(timespec="seconds")


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``path``; the OS drops it if the process dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX: no cross-process protection
            self._fd = fd
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock
