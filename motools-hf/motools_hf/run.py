"""A training run of the hf backend, followed through its run folder from any process.

The worker (a detached process, a Ray job, or a thread) is the only writer of the run's
state after submission; the run object reads it. ``refresh()`` notices a worker that died
without finishing (its lock is free, or its Ray job failed) and starts a new one, which
resumes from the last checkpoint at exactly the next planned batch.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.training.base import (
    CANCELLED,
    FAILED,
    PENDING,
    TERMINAL_STATUSES,
    TrainingRun,
)
from motools_hf import runstate

if TYPE_CHECKING:
    from motools_hf.backend import HFTrainingBackend

NAME = "hf"


class HFTrainingRun(TrainingRun):
    """A LoRA run driven by a worker. ``events()`` and ``loss_curve`` read its event log;
    ``adapter_path`` is the trained adapter once it succeeded; ``logs()`` the worker output."""

    backend_name = NAME
    poll_backoff = {"initial": 0.25, "maximum": 2.0, "factor": 1.5}

    def __init__(self, state: dict[str, Any], backend: HFTrainingBackend, executor: Any) -> None:
        self._state = state
        self._backend = backend
        self._executor = executor
        self.job_id = str(state["job_id"])
        self._sync(state)

    def _sync(self, state: dict[str, Any]) -> None:
        self._state = state
        self.status = str(state.get("status", PENDING))
        self.model_id = state.get("model_id")
        self.error = state.get("error")
        self.error_code = state.get("error_code")

    # -- public view ----------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return Path(self._state["run_dir"])

    @property
    def state_path(self) -> Path:
        return self.run_dir / runstate.STATE

    @property
    def executor(self) -> str:
        return str(self._state.get("executor", {}).get("kind", "local"))

    @property
    def submission_id(self) -> str | None:
        """The Ray job's submission id (``executor="ray"``)."""
        return self._state.get("executor", {}).get("submission_id")

    @property
    def step(self) -> int:
        return int(self._state.get("step", 0))

    @property
    def total_steps(self) -> int:
        return int(self._state["total_steps"])

    @property
    def attempts(self) -> int:
        return int(self._state.get("attempts", 0))

    @property
    def adapter_path(self) -> Path | None:
        path = self.run_dir / runstate.ADAPTER
        return path if self.status == "succeeded" and path.is_dir() else None

    def read_events(self) -> list[dict[str, Any]]:
        """The run's event log as it is now (steps with loss, checkpoints, restarts...)."""
        return runstate.read_events(self.run_dir)

    async def events(self) -> list[dict[str, Any]]:
        return self.read_events()

    @property
    def loss_curve(self) -> list[dict[str, Any]]:
        return runstate.loss_curve(self.read_events())

    @property
    def metrics(self) -> dict[str, Any]:
        curve = self.loss_curve
        return {
            "loss_curve": [
                {k: e[k] for k in ("step", "epoch", "loss", "learning_rate", "trained_tokens")}
                for e in curve
            ],
            "final_loss": curve[-1]["loss"] if curve else None,
            "steps": self.step,
            "total_steps": self.total_steps,
            "attempts": self.attempts,
        }

    def logs(self) -> str:
        return str(self._executor.logs(self.run_dir, self._state))

    def to_state(self) -> dict[str, Any]:
        self._reload()
        return json.loads(json.dumps(self._state))

    # -- following the worker ---------------------------------------------------------------
    def _reload(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._sync(runstate.read_state(self.run_dir))

    async def refresh(self) -> str:
        self._reload()
        if self.status in TERMINAL_STATUSES:
            return self.status
        if self._executor.alive(self.run_dir, self._state):
            return self.status
        self._reload()  # it may have finished between the two reads
        if self.status in TERMINAL_STATUSES:
            return self.status
        self._worker_gone()
        return self.status

    def _worker_gone(self) -> None:
        """No worker drives this unfinished run: cancel it, restart it, or give up."""
        lock = runstate.RunLock(self.run_dir / "lock")
        if not lock.acquire():
            return  # a worker is starting right now
        try:
            state = runstate.read_state(self.run_dir)
            if state["status"] in TERMINAL_STATUSES:
                self._sync(state)
                return
            if (self.run_dir / runstate.CANCEL).exists():
                state["status"] = CANCELLED
                runstate.write_state(self.run_dir, state)
                self._sync(state)
                return
            if int(state.get("attempts", 0)) > self._backend.max_restarts:
                state.update(
                    status=FAILED,
                    error_code="worker_lost",
                    error=(
                        f"the worker stopped {state.get('attempts')} times without finishing "
                        f"(last at step {state.get('step')}); its output: "
                        f"{self.logs()[-2000:]}"
                    ),
                )
                runstate.write_state(self.run_dir, state)
                self._sync(state)
                return
        finally:
            lock.release()
        self._executor.start(self.run_dir, state)
        self._reload()

    async def cancel(self) -> None:
        """Ask the worker to stop after its current step (it keeps a checkpoint)."""
        self._reload()
        if self.status in TERMINAL_STATUSES:
            return
        (self.run_dir / runstate.CANCEL).write_text(runstate.utc_now())
        self._executor.cancel(self.run_dir, self._state)
