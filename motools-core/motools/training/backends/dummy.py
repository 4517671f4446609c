"""The dummy training backend: instant (or slow, on request), deterministic and free.

The same dataset, model, hyperparameters and suffix always give the same model id. A run
keeps its whole state in ``to_state()`` and follows the wall clock, so it can be resumed from
another process exactly like a real job -- which makes it the backend for examples, demos and
pipeline tests.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from motools.errors import ValidationError
from motools.hyperparameters import normalise_hyperparameters
from motools.training.base import (
    CANCELLED,
    FAILED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TrainingBackend,
    TrainingRun,
)

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset

NAME = "dummy"


@functools.lru_cache(maxsize=1)
def _hyperparameter_model() -> Any:
    from pydantic import BaseModel, ConfigDict, PositiveFloat, PositiveInt

    class DummyHyperparameters(BaseModel):
        """Accepts the common hyperparameters of the real backends, checked the same way."""

        model_config = ConfigDict(extra="forbid")
        n_epochs: PositiveInt | Literal["auto"] = "auto"
        batch_size: PositiveInt | Literal["auto"] = "auto"
        learning_rate: PositiveFloat | None = None
        learning_rate_multiplier: PositiveFloat | Literal["auto"] = "auto"
        lora_rank: PositiveInt | None = None

    return DummyHyperparameters


class DummyTrainingRun(TrainingRun):
    backend_name = NAME
    poll_backoff = {"initial": 0.02, "maximum": 0.5, "factor": 1.5}

    def __init__(self, state: Mapping[str, Any]) -> None:
        self._state = dict(state)
        self.job_id = str(state["job_id"])
        self.status = str(state.get("status", QUEUED))
        self.model_id = None
        self.error = None
        self.error_code = None
        self._apply_clock()

    def _apply_clock(self) -> None:
        if self.status in (CANCELLED,):
            return
        elapsed = time.time() - float(self._state["created_at"])
        duration = float(self._state.get("duration", 0.0))
        if elapsed < duration:
            self.status = QUEUED if elapsed < duration / 4 else RUNNING
        elif self._state.get("fail"):
            self.status = FAILED
            self.error = "the dummy backend was asked to fail this job"
            self.error_code = "dummy_failure"
        else:
            self.status = SUCCEEDED
            self.model_id = str(self._state["model_id"])

    async def refresh(self) -> str:
        self._apply_clock()
        return self.status

    async def cancel(self) -> None:
        if self.status not in (SUCCEEDED, FAILED):
            self.status = CANCELLED
            self._state["status"] = CANCELLED

    def to_state(self) -> dict[str, Any]:
        state = dict(self._state)
        state["status"] = self.status
        return state

    async def events(self) -> list[dict[str, Any]]:
        """The job's timeline, computed from its state (any process sees the same)."""
        self._apply_clock()
        created = float(self._state["created_at"])
        duration = float(self._state.get("duration", 0.0))
        out = [{"type": "status", "status": QUEUED, "time": created}]
        if self.status in (RUNNING, SUCCEEDED, FAILED) and duration:
            out.append({"type": "status", "status": RUNNING, "time": created + duration / 4})
        if self.status in (SUCCEEDED, FAILED, CANCELLED):
            end = created + duration if self.status != CANCELLED else time.time()
            out.append({"type": "status", "status": self.status, "time": end})
        return out


class DummyTrainingBackend(TrainingBackend):
    """A free stand-in for a training service.

    ``duration``: seconds a job takes (wall clock, so it survives a process restart);
    ``fail``: make every job fail; ``job_log``: a file that gets one JSON line per submitted
    job -- the dummy's equivalent of a provider's job list, used to count submissions and to
    find a job by its submission token; ``submit_delay``: seconds between the job being
    accepted (logged) and ``train()`` returning, like a slow provider response (for tests of
    processes killed mid-submission).
    """

    name = NAME
    cache_version = "1"
    supports_submission_lookup = True

    def __init__(
        self,
        duration: float = 0.0,
        fail: bool = False,
        job_log: str | None = None,
        submit_delay: float = 0.0,
    ) -> None:
        self.duration = float(duration)
        self.fail = bool(fail)
        self.job_log = job_log
        self.submit_delay = float(submit_delay)

    def normalize_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | None, **options: Any
    ) -> dict[str, Any]:
        return normalise_hyperparameters(_hyperparameter_model(), hyperparameters, backend=NAME)

    def model_id_for(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None,
        suffix: str | None,
        seed: int | None = None,
    ) -> str:
        hp = self.normalize_hyperparameters(hyperparameters)
        parts: list[Any] = [dataset.content_hash, model, hp, suffix]
        if seed is not None:
            parts.append(seed)
        blob = json.dumps(parts, sort_keys=True)
        digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
        label = f"{model}:{suffix}" if suffix else model
        return f"dummy/{label}@{digest}"

    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        seed: int | None = None,
        submission: str | None = None,
        **kwargs: Any,
    ) -> DummyTrainingRun:
        if kwargs:
            raise ValidationError(f"dummy backend: unknown train() options {sorted(kwargs)}")
        if not model or not isinstance(model, str):
            raise ValidationError("dummy backend: model must be a non-empty string")
        dataset.validate()
        if len(dataset) == 0:
            raise ValidationError("dummy backend: the dataset is empty")
        model_id = self.model_id_for(dataset, model, hyperparameters, suffix, seed)
        state = {
            "backend": NAME,
            "job_id": f"dummyjob-{uuid.uuid4().hex[:12]}",
            "model_id": model_id,
            "base_model": model,
            "created_at": time.time(),
            "duration": self.duration,
            "fail": self.fail,
            "status": QUEUED,
        }
        if self.job_log:
            line = {"job_id": state["job_id"], "model_id": model_id, "submission": submission}
            with open(self.job_log, "a") as fh:
                fh.write(json.dumps({**line, "state": state}) + "\n")
        if self.submit_delay:
            await asyncio.sleep(self.submit_delay)
        return DummyTrainingRun(state)

    async def find_submitted(self, submission: str) -> DummyTrainingRun | None:
        """The job logged with this token. Without a job log the dummy keeps no jobs (and
        charges nothing), so there is nothing to find."""
        if not self.job_log or not os.path.exists(self.job_log):
            return None
        with open(self.job_log) as fh:
            for line in fh:
                entry = json.loads(line)
                if entry.get("submission") == submission:
                    return DummyTrainingRun(entry["state"])
        return None

    async def resume(self, state: Mapping[str, Any]) -> DummyTrainingRun:
        if state.get("backend") != NAME:
            raise ValidationError(f"state belongs to backend {state.get('backend')!r}, not dummy")
        return DummyTrainingRun(state)
