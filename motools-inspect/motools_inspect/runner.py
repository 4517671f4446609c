"""One gate in front of ``inspect_ai.eval_async``: batches concurrent evaluations.

Inspect refuses a second ``eval_async`` call while one is running in the process. Every
evaluation motools starts therefore goes through :func:`submit_tasks`, which:

* queues the request; when no Inspect run is in progress, waits briefly for evaluations
  that are still being prepared (started together with this one), then takes every queued
  request with
  the same run-level options (``limit``, ``log_dir``, other ``eval_async`` options) and runs
  them as *one* ``eval_async`` call -- each task already carries its own model, generation
  config and epochs, and ``max_tasks`` is the number of (task, model) units, so
  evaluations of different models run side by side;
* requests with other run-level options wait for the next run (an in-process queue);
* hands each request its own logs back, matched by a tag in the task metadata.

Measured alternatives (``bench/inspect_overhead.py``): a plain lock serialises 8 models one
after another; worker processes pay Inspect's import and start-up per process and cannot
take ``Task`` objects or in-process model arguments. One batched call keeps full
concurrency at the cost of run-level options being shared by a batch, which is why they
are part of the batch key.

A failure of a whole Inspect run (an exception from ``eval_async``) fails every request
of that batch with the same error; a task that fails inside a run only fails its request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from motools.errors import EvaluationError

if TYPE_CHECKING:
    from inspect_ai import Task
    from inspect_ai.log import EvalLog

UNIT_TAG = "motools_unit"

# Across threads (each with its own event loop) only one eval_async may run at a time.
_process_lock = threading.Lock()


@dataclass(frozen=True)
class RunOutput:
    """One task's log, and its per-sample records if they were collected during the run."""

    log: EvalLog
    records: list[dict[str, Any]] | None


@dataclass
class _Request:
    tasks: list[Task]
    options: dict[str, Any]
    key: str
    future: asyncio.Future[list[RunOutput]]
    tags: list[str] = field(default_factory=list)


def _batch_key(options: dict[str, Any]) -> str:
    def default(value: Any) -> str:
        return f"<{type(value).__name__} at {id(value):#x}>"

    return json.dumps(options, sort_keys=True, default=default)


#: How long a run waits for evaluations still being prepared to join it (seconds, at most).
GATHER_WINDOW = 1.0


class _Runner:
    """The queue of one event loop."""

    def __init__(self) -> None:
        self.pending: list[_Request] = []
        self.drainer: asyncio.Task[None] | None = None
        self.preparing = 0
        self.batches_run = 0

    @contextlib.contextmanager
    def preparing_request(self) -> Iterator[None]:
        """Mark an evaluation being prepared, so the next run waits for it to be submitted."""
        self.preparing += 1
        try:
            yield
        finally:
            self.preparing -= 1

    def submit(self, request: _Request) -> None:
        self.pending.append(request)
        if self.drainer is None or self.drainer.done():
            self.drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            # Evaluations started together (a gather, or a loop of evaluate calls) are still
            # resolving their tasks: wait for them, briefly, so they share this run.
            await asyncio.sleep(0)
            deadline = loop.time() + GATHER_WINDOW
            while self.preparing and loop.time() < deadline:
                await asyncio.sleep(0.005)
            key = self.pending[0].key
            batch = [r for r in self.pending if r.key == key]
            self.pending = [r for r in self.pending if r.key != key]
            batch = [r for r in batch if not r.future.done()]  # cancelled while queued
            if not batch:
                continue
            try:
                await self._run(batch)
            except BaseException as exc:  # never leave a request waiting forever
                _fail(batch, exc)
                if not isinstance(exc, Exception):
                    raise

    async def _run(self, batch: list[_Request]) -> None:
        from inspect_ai import eval_async, task_with

        tasks: list[Task] = []
        for request in batch:
            for task in request.tasks:
                tag = uuid.uuid4().hex
                request.tags.append(tag)
                tasks.append(task_with(task, metadata={**(task.metadata or {}), UNIT_TAG: tag}))
        options = dict(batch[0].options)
        if options.get("max_tasks") is None:
            options["max_tasks"] = len(tasks)
        self.batches_run += 1
        while not _process_lock.acquire(blocking=False):  # cancellation-safe wait
            await asyncio.sleep(0.05)
        from motools_inspect import collect
        from motools_inspect.progress import watching

        collect.start()
        try:
            async with watching(tasks):
                logs = await eval_async(tasks, model=None, **options)
            records = {log.eval.eval_id: collect.take(log.eval.eval_id) for log in logs}
        finally:
            collect.stop()
            _process_lock.release()
        by_tag = {(log.eval.metadata or {}).get(UNIT_TAG): log for log in logs}
        for request in batch:
            if request.future.done():
                continue
            missing = [t for t in request.tags if t not in by_tag]
            if missing:
                request.future.set_exception(
                    EvaluationError(
                        f"Inspect returned {len(logs)} logs for {len(tasks)} tasks; "
                        f"{len(missing)} of this evaluation's tasks have no log"
                    )
                )
            else:
                request.future.set_result(
                    [
                        RunOutput(by_tag[t], records.get(by_tag[t].eval.eval_id))
                        for t in request.tags
                    ]
                )


def _fail(batch: list[_Request], exc: BaseException) -> None:
    for request in batch:
        if request.future.done():
            continue
        if isinstance(exc, Exception):
            request.future.set_exception(_as_evaluation_error(exc, len(batch)))
        else:  # cancelled (the event loop is shutting down)
            request.future.cancel()


def _as_evaluation_error(exc: Exception, batch_size: int) -> Exception:
    if isinstance(exc, EvaluationError):
        return exc
    shared = f" (it ran in one Inspect call with {batch_size - 1} other evaluation(s))"
    error = EvaluationError(
        f"Inspect evaluation failed: {type(exc).__name__}: {exc}"
        + (shared if batch_size > 1 else "")
    )
    error.__cause__ = exc
    return error


_runners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Runner] = (
    weakref.WeakKeyDictionary()
)


def runner() -> _Runner:
    loop = asyncio.get_running_loop()
    found = _runners.get(loop)
    if found is None:
        found = _runners[loop] = _Runner()
    return found


def init_display(display: str | None) -> None:
    """Choose Inspect's console display once, unless the program already chose one."""
    from inspect_ai.util._display import display_type_initialized, init_display_type

    if not display_type_initialized():
        init_display_type(display)


def submit_tasks(tasks: list[Task], options: dict[str, Any]) -> asyncio.Future[list[RunOutput]]:
    """Queue ``tasks`` (each bound to its model) to run with run-level ``options``.

    The future gives one output per task, in order, whatever else shares the Inspect call.
    """
    loop = asyncio.get_running_loop()
    request = _Request(tasks, options, _batch_key(options), loop.create_future())
    runner().submit(request)
    return request.future
