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
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from motools.errors import TrainingError
from motools.polling import Backoff, WaitReporter, waiting

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
    error: str | None = None
    error_code: str | None = None
    #: True when the run was served by a cache (nothing was submitted or paid for).
    from_cache: bool = False
    #: True when the run re-attached to a job submitted earlier (by this or another process).
    attached: bool = False
    #: The cache key the run is recorded under, when it went through a cache.
    cache_key: str | None = None
    #: True when the job runs at the provider whether or not this process lives (OpenAI, the
    #: dummy backend); False when this process drives it (Tinker's loop), so that stopping
    #: the process pauses the job until a resume continues it.
    runs_remotely: ClassVar[bool] = True

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

    def progress_text(self) -> str | None:
        """How far the job got, in a few words (``"step 12 of 50"``), if the backend knows."""
        return None

    def describe(self) -> str:
        """``"<backend> job <id>: <status>[, <progress>]"``: what a wait for this run waits for."""
        progress = self.progress_text()
        return f"{self.backend_name} job {self.job_id}: {self.status}" + (
            f", {progress}" if progress else ""
        )

    async def events(self) -> list[dict[str, Any]]:
        """What the job reported so far, oldest first: dicts with at least a ``type``
        (the provider's messages, status changes, a loss per step...). Default: none known."""
        return []

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
        on_wait: WaitReporter | None = None,
        heartbeat: float | None = None,
    ) -> str:
        """Poll until the job ends; return the model id, or raise :class:`TrainingError`.

        While it waits it reports (:func:`motools.polling.waiting`) what it waits for, every
        ``heartbeat`` seconds (default ``$MOTOOLS_HEARTBEAT`` or 10), to ``on_wait`` or the
        reporter the caller installed (the command line prints them), else to the log.
        """
        run = {
            "backend": self.backend_name,
            "job_id": self.job_id,
            "runs_remotely": self.runs_remotely,
        }
        async with waiting(self.describe, run=run, every=heartbeat, on_event=on_wait):
            return await self._poll(timeout, on_status, backoff)

    async def _poll(
        self,
        timeout: float | None,
        on_status: Callable[[TrainingRun], Any] | None,
        backoff: Backoff | None,
    ) -> str:
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
class TrainingBackendProtocol(Protocol):
    """The structural minimum of a training backend: a name, ``train`` and ``resume``.

    An object that only satisfies this protocol (no base class) still works everywhere:
    :func:`as_training_backend` gives it the defaults of :class:`TrainingBackend`.
    """

    name: str

    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **kwargs: Any,
    ) -> TrainingRun: ...

    async def resume(self, state: Mapping[str, Any]) -> TrainingRun: ...


class TrainingBackend:
    """Base class of training backends: every capability core uses, optional ones defaulted.

    Required: ``name``, :meth:`train` and :meth:`resume`. Optional, with safe defaults that a
    backend overrides only where it differs (as Inspect's ``ModelAPI`` does):

    * :attr:`cache_version` -- bump it when the same inputs would now give a different model;
    * :meth:`validate_hyperparameters` / :meth:`normalize_hyperparameters` -- the backend's
      typed hyperparameters (defaults filled, numbers canonical) for checks and cache keys;
    * :meth:`model_unavailable` -- why a previously trained model can no longer be used;
    * :meth:`check_dataset` and :meth:`estimate_cost` -- offline checks before paying.
    """

    name: str = "?"
    #: Part of every cache key of this backend: change it when results would change.
    cache_version: str = "0"
    #: True when ``train()`` accepts ``submission=TOKEN`` (an idempotency token it attaches to
    #: the job) and :meth:`find_submitted` can find the job by that token later. The cache
    #: then survives a process killed between the provider accepting a job and the record
    #: being written. False (the default) is the safe answer: such an interrupted submission
    #: stops with an error instead of submitting, possibly, a second job.
    supports_submission_lookup: bool = False

    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **kwargs: Any,
    ) -> TrainingRun:
        """Validate, submit and return the run without waiting for it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement train()")

    async def resume(self, state: Mapping[str, Any]) -> TrainingRun:
        """Re-attach to the job that ``run.to_state()`` described."""
        raise NotImplementedError(f"{type(self).__name__} does not implement resume()")

    async def find_submitted(self, submission: str) -> TrainingRun | None:
        """The run of the job submitted with idempotency token ``submission``, or None.

        Only called when :attr:`supports_submission_lookup` is True. None means the provider
        has no such job: the submission never reached it.
        """
        raise NotImplementedError(f"{self.name} cannot look up submissions by token")

    def validate_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | None, **options: Any
    ) -> Mapping[str, Any]:
        """The hyperparameters as this backend accepts them, validated once.

        The default accepts any mapping. A backend with a typed model returns
        :func:`motools.hyperparameters.normalise_hyperparameters` of it, which passes an
        already validated value through unchanged.
        """
        if hyperparameters is not None and not isinstance(hyperparameters, Mapping):
            from motools.errors import HyperparameterError

            raise HyperparameterError(
                f"{self.name}: hyperparameters must be a mapping, "
                f"got {type(hyperparameters).__name__}"
            )
        return dict(hyperparameters or {})

    def normalize_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | None, **options: Any
    ) -> dict[str, Any]:
        """Defaults filled in and numbers canonical: the form cache keys use."""
        return dict(self.validate_hyperparameters(hyperparameters, **options))

    def model_unavailable(
        self, model_id: str | None, state: Mapping[str, Any]
    ) -> str | Awaitable[str | None] | None:
        """Why ``model_id`` (trained earlier, described by ``state``) can no longer be used.

        ``None`` (the default) means it can; a reason makes the cache treat it as a miss.
        """
        return None

    def check_dataset(self, dataset: JSONLDataset, model: str | None = None) -> list[Any]:
        """Every reason the service would reject ``dataset`` (default: none known)."""
        return []

    def estimate_cost(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """What training would cost (tokens, price); ``None`` when the backend cannot say."""
        return None


class _StructuralTrainingBackend(TrainingBackend):
    """A protocol-only backend, given the base class's defaults for what it does not define."""

    def __init__(self, inner: TrainingBackendProtocol) -> None:
        self.inner = inner
        self.name = str(inner.name)

    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **kwargs: Any,
    ) -> TrainingRun:
        return await self.inner.train(dataset, model, hyperparameters, suffix, **kwargs)

    async def resume(self, state: Mapping[str, Any]) -> TrainingRun:
        return await self.inner.resume(state)

    def __repr__(self) -> str:
        return repr(self.inner)


def check_supervised_request(
    backend: str, dataset: JSONLDataset, model: Any, suffix: Any, *, model_help: str
) -> None:
    """The checks every supervised trainer makes before spending anything: ``model`` is a
    non-empty string (``model_help`` says what kind), ``suffix`` a string or None, and the
    dataset has rows and no problems for supervised training (all of them, named by line)."""
    from motools.datasets.jsonl import DatasetValidationError
    from motools.errors import ValidationError

    if not isinstance(model, str) or not model.strip():
        raise ValidationError(f"{backend} backend: model must be {model_help}")
    if suffix is not None and not isinstance(suffix, str):
        raise ValidationError(f"{backend} backend: suffix must be a string")
    source = dataset.source or "dataset"
    problems = dataset.problems("supervised")
    if problems:
        raise DatasetValidationError(source, problems)
    if len(dataset) == 0:
        raise ValidationError(f"{source}: the dataset is empty")


def as_training_backend(backend: Any) -> TrainingBackend:
    """``backend`` as a :class:`TrainingBackend`: itself if it subclasses it, else adapted."""
    if isinstance(backend, TrainingBackend):
        return backend
    if isinstance(backend, TrainingBackendProtocol):
        return _StructuralTrainingBackend(backend)
    raise TypeError(
        f"{backend!r} is not a training backend: it needs a `name`, `async train(...)` and "
        "`async resume(state)` (subclass motools.training.TrainingBackend)"
    )
