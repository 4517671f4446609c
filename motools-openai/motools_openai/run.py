"""``OpenAITrainingRun``: one OpenAI fine-tuning job, its status, events and checkpoints.

Waiting (capped exponential backoff with jitter, never more often than ``poll_backoff
["initial"]`` seconds) is core's :meth:`motools.training.TrainingRun.wait`; this class only
says how to refresh, cancel and serialise a job. ``to_state()`` holds no secret and no
client: ``OpenAITrainingBackend.resume(state)`` re-attaches from another process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from motools.errors import TrainingError, ValidationError
from motools.training import (
    CANCELLED,
    FAILED,
    PENDING,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TERMINAL_STATUSES,
    TrainingRun,
)

if TYPE_CHECKING:
    from motools_openai.backend import OpenAITrainingBackend

NAME = "openai"

#: OpenAI job status -> motools run status.
STATUS_MAP = {
    "validating_files": PENDING,
    "queued": QUEUED,
    "running": RUNNING,
    "succeeded": SUCCEEDED,
    "failed": FAILED,
    "cancelled": CANCELLED,
    # Statuses of newer API versions that a motools run treats as still going.
    "paused": QUEUED,
}


def _as_dict(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "model_dump"):
        return dict(obj.model_dump(mode="json", exclude_unset=False))
    return dict(obj)


class OpenAITrainingRun(TrainingRun):
    """A fine-tuning job on OpenAI. ``model_id`` is the job's ``fine_tuned_model``."""

    backend_name = NAME
    poll_backoff = {"initial": 5.0, "maximum": 60.0, "factor": 1.5}

    def __init__(self, backend: OpenAITrainingBackend, state: Mapping[str, Any]) -> None:
        if state.get("backend") != NAME:
            raise ValidationError(f"state belongs to backend {state.get('backend')!r}, not {NAME!r}")
        if not isinstance(state.get("job_id"), str) or not state["job_id"]:
            raise ValidationError("openai run state has no job_id")
        self._backend = backend
        if backend.poll_backoff:  # the backend's policy, for this run only
            self.poll_backoff = dict(backend.poll_backoff)  # type: ignore[misc]
        self.job_id = state["job_id"]
        self.base_model = state.get("base_model")
        self.method = state.get("method", "supervised")
        self.training_file = state.get("training_file")
        self.validation_file = state.get("validation_file")
        self.openai_status = state.get("openai_status")
        self.status = str(state.get("status", PENDING))
        self.model_id = state.get("model_id")
        self.error = state.get("error")
        self.error_code = state.get("error_code")
        self.trained_tokens = state.get("trained_tokens")
        self.estimated_finish = state.get("estimated_finish")

    # -- state -----------------------------------------------------------------------------
    def update_from_job(self, job: Any) -> None:
        """Take status, model, error and progress from an SDK ``FineTuningJob``."""
        self.openai_status = job.status
        self.status = STATUS_MAP.get(job.status, RUNNING)
        self.model_id = job.fine_tuned_model or self.model_id
        self.base_model = self.base_model or job.model
        self.training_file = self.training_file or job.training_file
        self.trained_tokens = job.trained_tokens
        self.estimated_finish = getattr(job, "estimated_finish", None)
        error = job.error
        if error is not None and (error.code or error.message):
            self.error = error.message or None
            self.error_code = error.code or None
        if self.status == FAILED and not self.error:
            self.error = "OpenAI reported the job as failed without a reason"

    def to_state(self) -> dict[str, Any]:
        return {
            "backend": NAME,
            "job_id": self.job_id,
            "base_model": self.base_model,
            "method": self.method,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "status": self.status,
            "openai_status": self.openai_status,
            "model_id": self.model_id,
            "error": self.error,
            "error_code": self.error_code,
            "trained_tokens": self.trained_tokens,
            "estimated_finish": self.estimated_finish,
        }

    # -- service calls -----------------------------------------------------------------------
    async def refresh(self) -> str:
        client = self._backend.client
        job = await self._backend.call(
            f"check fine-tuning job {self.job_id}",
            lambda: client.fine_tuning.jobs.retrieve(self.job_id),
            job_id=self.job_id,
        )
        self.update_from_job(job)
        return self.status

    async def cancel(self) -> None:
        """Ask OpenAI to cancel the job; a job that already ended is left as it is."""
        if self.status in TERMINAL_STATUSES:
            return
        client = self._backend.client
        try:
            job = await self._backend.call(
                f"cancel fine-tuning job {self.job_id}",
                lambda: client.fine_tuning.jobs.cancel(self.job_id),
                job_id=self.job_id,
            )
        except TrainingError:
            await self.refresh()  # did it end in the meantime?
            if self.status not in TERMINAL_STATUSES:
                raise
            return
        self.update_from_job(job)

    async def events(self, *, limit: int | None = None, page_size: int = 100) -> list[dict[str, Any]]:
        """The job's events, oldest first: ``message``, ``level``, ``type`` and metrics ``data``.

        ``limit`` keeps only the newest ``limit`` events; pages of ``page_size`` are followed.
        """
        client = self._backend.client

        async def fetch() -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            async for event in client.fine_tuning.jobs.list_events(self.job_id, limit=page_size):
                out.append(_as_dict(event))
                if limit is not None and len(out) >= limit:
                    break
            return out

        events = await self._backend.call(f"list events of job {self.job_id}", fetch, job_id=self.job_id)
        events.reverse()  # the API lists newest first
        events.sort(key=lambda e: (e.get("created_at") or 0))
        return events

    async def checkpoints(self, *, page_size: int = 100) -> list[dict[str, Any]]:
        """The job's saved checkpoints, by step: model id, step number and metrics."""
        client = self._backend.client

        async def fetch() -> list[dict[str, Any]]:
            return [
                _as_dict(c)
                async for c in client.fine_tuning.jobs.checkpoints.list(self.job_id, limit=page_size)
            ]

        found = await self._backend.call(f"list checkpoints of job {self.job_id}", fetch, job_id=self.job_id)
        found.sort(key=lambda c: c.get("step_number") or 0)
        return found
