"""Collect per-sample records while Inspect runs, instead of re-reading the log afterwards.

``eval_async`` returns logs whose samples are read back from the ``.eval`` file (and
validated) on first access: for 200 small samples that alone costs about 10% of the run.
Inspect already holds each finished ``EvalSample`` in memory when it fires its
``on_sample_end`` hook, so a hook turns it into a compact record right there.

The hook only records while motools has an Inspect run in progress (Inspect runs one at a
time per process), keyed by the task execution's ``eval_id``.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any

from inspect_ai.hooks import Hooks, SampleEnd, hooks

from motools_inspect.results import sample_record

_lock = threading.Lock()
_active = 0
_records: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
_broken: set[str] = set()


def start() -> None:
    global _active
    with _lock:
        _active += 1


def stop() -> None:
    """End a run; records nobody took (a failed run's) are dropped."""
    global _active
    with _lock:
        _active -= 1
        if not _active:
            _records.clear()
            _broken.clear()


def take(eval_id: str) -> list[dict[str, Any]] | None:
    """The records collected for ``eval_id`` (forgotten afterwards), or None if there are
    none or one could not be made (the caller then reads the log)."""
    with _lock:
        records = _records.pop(eval_id, None)
        if eval_id in _broken:
            _broken.discard(eval_id)
            return None
        return records


@hooks(name="motools_sample_records", description="motools: per-sample records of its runs")
class SampleRecords(Hooks):
    """Keeps a compact record of each sample of a motools run as it finishes."""

    async def on_sample_end(self, data: SampleEnd) -> None:
        if not _active:
            return
        try:
            record = sample_record(data.sample)
        except Exception:
            with _lock:
                _broken.add(data.eval_id)
            raise
        with _lock:
            _records[data.eval_id].append(record)
