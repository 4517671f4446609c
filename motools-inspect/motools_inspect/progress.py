"""What a running Inspect evaluation reports while motools waits for it.

While a batch runs (:mod:`motools_inspect.runner`), :func:`watching` reports a heartbeat
through :func:`motools.polling.waiting` -- which tasks on which models, how many samples have
finished -- and an Inspect hook reports every retried model call through
:func:`motools.polling.report` (``cannot reach openai/gpt-4o-mini at http://host/v1:
APIConnectionError (attempt 2/8), retrying in 6 s``). Inspect's own live display, when it
shows one on a terminal, is left alone: no heartbeat lines are written over it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from inspect_ai.hooks import Hooks, ModelRetry, SampleEnd, hooks

from motools.polling import WaitEvent, public_url, report, waiting

if TYPE_CHECKING:
    from inspect_ai import Task

#: Inspect displays that draw their own live progress on a terminal.
_LIVE_DISPLAYS = {"full", "conversation", "rich"}


@dataclass
class _Batch:
    """What one running batch reports: its models' hosts and retry limits, samples done."""

    hosts: Mapping[str, str]
    limits: Mapping[str, int | None]
    started: float = field(default_factory=time.monotonic)
    samples_done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


_batch: ContextVar[_Batch | None] = ContextVar("motools_inspect_batch", default=None)


def _model_name(task: Task) -> str | None:
    model = task.model
    return None if model is None else str(model.api.model_name)


def _describe(tasks: list[Task], batch: _Batch) -> str:
    names = sorted({task.name for task in tasks})
    models = sorted({str(task.model) for task in tasks if task.model is not None})
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"Inspect evaluation of {shown} on {', '.join(models) or 'the default model'}: "
        f"{batch.samples_done} sample(s) finished"
    )


def _shows_own_progress() -> bool:
    from inspect_ai.util._display import display_type

    return display_type() in _LIVE_DISPLAYS and sys.stderr.isatty()


@contextlib.asynccontextmanager
async def watching(tasks: list[Task]) -> AsyncIterator[None]:
    """Report the batch of ``tasks`` while it runs (see the module docstring)."""
    hosts: dict[str, str] = {}
    limits: dict[str, int | None] = {}
    for task in tasks:
        name = _model_name(task)
        if name is None or task.model is None:
            continue
        base_url = task.model.api.base_url
        if base_url:
            hosts[name] = public_url(str(base_url))
        limit = task.config.max_retries
        limits[name] = limit if limit is not None else task.model.config.max_retries
    batch = _Batch(hosts, limits)
    token = _batch.set(batch)
    try:
        every = 0.0 if _shows_own_progress() else None
        async with waiting(lambda: _describe(tasks, batch), every=every):
            yield
    finally:
        _batch.reset(token)


def retry_message(data: ModelRetry, batch: _Batch | None) -> WaitEvent:
    """The line one retried model call prints."""
    name = data.model_name
    host = batch.hosts.get(name) if batch else None
    limit = batch.limits.get(name) if batch else None
    if data.status_code is not None:
        what = f"{name}{f' at {host}' if host else ''} answered HTTP {data.status_code}"
    else:
        what = f"cannot reach {name}{f' at {host}' if host else ''}"
    if data.exception_type:
        what += f": {data.exception_type}"
    tries = f"{data.attempt}/{limit + 1}" if limit is not None else f"{data.attempt}"
    elapsed = time.monotonic() - batch.started if batch else 0.0
    return WaitEvent(
        "retry",
        what,
        elapsed,
        f"{what} (attempt {tries}), retrying in {data.wait_time:.0f} s",
        attempt=data.attempt,
        attempts=None if limit is None else limit + 1,
        delay=data.wait_time,
    )


@hooks(name="motools_progress", description="motools: heartbeats and retries of its runs")
class Progress(Hooks):
    """Counts finished samples and reports retried model calls of motools' runs."""

    async def on_sample_end(self, data: SampleEnd) -> None:
        batch = _batch.get()
        if batch is not None:
            with batch.lock:
                batch.samples_done += 1

    async def on_model_retry(self, data: ModelRetry) -> None:
        batch = _batch.get()
        if batch is not None:
            report(retry_message(data, batch))


def connection_hint(message: str, hosts: Mapping[str, Any]) -> str:
    """What to check, when Inspect's error ``message`` says a model could not be reached."""
    markers = ("APIConnectionError", "Connection error", "ConnectError", "ConnectionError")
    if not any(marker in message for marker in markers):
        return ""
    where = ", ".join(f"{name} at {host}" for name, host in sorted(hosts.items()))
    return (
        f"Could not reach {where or 'the model provider'} after the bounded retries "
        "(max_retries). Check your network connection, the provider's base URL "
        "(model_base_url, or the provider's *_BASE_URL variable) and any proxy settings."
    )
