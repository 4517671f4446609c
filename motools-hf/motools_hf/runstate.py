"""A run's folder: state file, event log, lock and cancel request (no torch here).

``$MOTOOLS_HOME/runs/<job_id>/`` holds ``state.json`` (the run's public state, never a
secret), ``dataset.jsonl`` (the exact samples), ``events.jsonl`` (one JSON line per event:
``started``, ``step`` with loss and learning rate, ``checkpoint``, ``adapter_saved``,
``finished``), ``checkpoints/step-NNNNNN/`` (the last checkpoint), ``adapter/`` (the trained
LoRA adapter and tokenizer), ``worker.log``, a ``lock`` held by the worker that drives the run
(the OS drops it when that process dies) and, when someone asked the run to stop,
``cancel_requested``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from motools.atomic import atomic_write

STATE = "state.json"
EVENTS = "events.jsonl"
CANCEL = "cancel_requested"
ADAPTER = "adapter"


def runs_dir() -> Path:
    from motools.paths import home

    return home() / "runs"


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def read_state(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / STATE).read_text())


def write_state(run_dir: Path, state: Mapping[str, Any]) -> None:
    data = dict(state)
    data["updated_at"] = utc_now()
    atomic_write(run_dir / STATE, json.dumps(data, indent=2, sort_keys=True).encode())


def append_event(run_dir: Path, event: Mapping[str, Any]) -> None:
    line = json.dumps(dict(event), sort_keys=True) + "\n"
    with (run_dir / EVENTS).open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / EVENTS
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:  # a line cut by a kill -9 mid-write
            continue
    return out


def loss_curve(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per optimizer step: the latest attempt's (a resumed run redoes some steps)."""
    by_step: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.get("type") == "step":
            by_step[int(event["step"])] = event
    return [by_step[s] for s in sorted(by_step)]


class RunLock:
    """An exclusive, non-blocking ``flock`` on ``path``; the OS drops it if the holder dies.

    ``fd`` adopts a descriptor already locked by a parent process (the local executor locks
    the run before spawning its worker, so the run is never seen unlocked in between).
    """

    def __init__(self, path: Path, fd: int | None = None) -> None:
        self.path = path
        self.fd = fd

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire(self) -> bool:
        import fcntl

        if self.fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        return True

    def mark(self, pid: int) -> None:
        """Write the driving process id into the lock file (for people and tests)."""
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, str(pid).encode(), 0)

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def is_locked(run_dir: Path) -> bool:
    """Whether some live process holds the run's lock."""
    probe = RunLock(run_dir / "lock")
    if probe.acquire():
        probe.release()
        return False
    return True


def holder_pid(run_dir: Path) -> int | None:
    try:
        text = (run_dir / "lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
