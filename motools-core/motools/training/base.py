"""The training contract: ``TrainingBackend`` (a protocol) and ``TrainingRun`` (a base class).

A backend's ``train(...)`` validates everything, submits the job and returns a run at once.
The run knows how to ``refresh()`` its status and how to serialise itself (``to_state()``);
``backend.resume(state)`` re-attaches to the same job from another process. Waiting with
backoff lives here, once, for every backend.
"""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from motools.errors import TrainingError
from motools.polling import Backoff

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset

PENDING = "pending"
QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, CANCELLED})
STATUSES = (PENDING, QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)


class TrainingRun(ABC):
    """A submitted training job. Subclasses implement ``refresh``, ``cancel``, ``to_state``.

    Attributes every run has: ``backend_name``, ``job_id``, ``status`` (one of ``STATUSES``),
    ``model_id`` (set once the job succeeded), ``error`` (set if it failed).
    """

    backend_name: ClassVar[str] = "?"
    #: How ``wait`` polls: first delay, growth, ceiling. Never more often than ``initial``.
    poll_backoff: ClassVar[dict[str, float]] = {"initial": 5.0, "maximum": 60.0, "factor": 1.5}

    job_id: str
    status: str
    model_id: str | None
    error: str | None
    error_code: str | None = None

    @abstractmethod
    async def refresh(self) -> str:
        """Fetch the job's current status from the service; return it."""

    @abstractmethod
    async def cancel(self) -> None:
        """Ask the service to stop the job."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """A JSON-serialisable dict from which ``backend.resume(state)`` re-attaches.

        It must contain ``"backend"`` and ``"job_id"`` and never a secret.
        """

    async def is_complete(self) -> bool:
        """Refresh, then say whether the job reached a terminal status."""
        if self.status not in TERMINAL_STATUSES:
            await self.refresh()
        return self.status in TERMINAL_STATUSES

    async def wait(
        self,
        *,
        timeout: float | None = None,
        on_status: Callable[[TrainingRun], Any] | None = None,
        backoff: Backoff | None = None,
    ) -> str:
        """Poll until the job ends; return the model id, or raise :class:`TrainingError`."""
        backoff = backoff or Backoff.from_policy(self.poll_backoff)
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            if self.status not in TERMINAL_STATUSES:
                await self.refresh()
            if on_status is not None and self.status != last:
                on_status(self)
            last = self.status
            if self.status in TERMINAL_STATUSES:
                return self._result()
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{self.backend_name} job {self.job_id} still {self.status} after {timeout}s"
                )
            await backoff.sleep()

    def _result(self) -> str:
        if self.status == SUCCEEDED and self.model_id:
            return self.model_id
        if self.status == CANCELLED:
            raise TrainingError(
                f"{self.backend_name} job {self.job_id} was cancelled",
                job_id=self.job_id,
                code="cancelled",
            )
        code = f" [{self.error_code}]" if self.error_code else ""
        raise TrainingError(
            f"{self.backend_name} job {self.job_id} failed{code}: {self.error or 'no reason given'}",
            job_id=self.job_id,
            code=self.error_code,
        )

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write ``to_state()`` as JSON, atomically."""
        from motools.atomic import atomic_write

        return atomic_write(path, json.dumps(self.to_state(), indent=2, sort_keys=True).encode())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(job_id={self.job_id!r}, status={self.status!r}, "
            f"model_id={self.model_id!r})"
        )


@runtime_checkable
class TrainingBackend(Protocol):
    """What every training backend provides. Implement it; no base class is needed."""

    name: str

    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **kwargs: Any,
    ) -> TrainingRun:
        """Validate, submit and return the run without waiting for it."""
        ...

    async def resume(self, state: Mapping[str, Any]) -> TrainingRun:
        """Re-attach to the job that ``run.to_state()`` described."""
        ...


async def resume_run(
    state: Mapping[str, Any] | str | os.PathLike[str], **backend_kwargs: Any
) -> TrainingRun:
    """Re-attach to a run from its state (a dict or a JSON file), finding the backend by name."""
    data: Mapping[str, Any] = (
        state if isinstance(state, Mapping) else json.loads(Path(state).read_text())
    )
    from motools.plugins import get_training_backend

    backend = get_training_backend(str(data["backend"]), **backend_kwargs)
    return await backend.resume(data)
