"""A Tinker training run and its crash-safe loop, driven by the process that holds its lock.

The loop pipelines requests the way the SDK intends (step ``k``'s ``forward_backward`` and
``optim_step`` are submitted before step ``k-1``'s results are awaited), checkpoints with
``save_state`` every ``checkpoint_every`` steps and persists the run state (step, epoch, data
order seed, checkpoint path and expiry, loss curve) after each checkpoint. A transient service
error restarts it from the last checkpoint, optimizer state included, with backoff
(``motools.polling.retry_async``); the data order is a pure function of the step, so every
restart continues at exactly the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.errors import TrainingError
from motools.polling import Backoff, retry_async
from motools.training.base import (
    CANCELLED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    TERMINAL_STATUSES,
    TrainingRun,
)
from motools_tinker.errors import describe, is_transient, status_code
from motools_tinker.plan import Plan
from motools_tinker.runstate import RunLock, utc_in, utc_now

if TYPE_CHECKING:
    from motools_tinker.backend import TinkerTrainingBackend
    from motools_tinker.rendering import Rendered

log = logging.getLogger("motools.tinker")

NAME = "tinker"


def model_id_for(base_model: str, sampler_path: str) -> str:
    return f"tinker/{base_model}@{sampler_path}"


def render_fingerprint(items: list[Rendered]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(json.dumps([item.tokens, item.weights]).encode())
    return digest.hexdigest()[:32]


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _abandon(value: Any) -> None:
    """Cancel (or mark as read) a request future whose result is no longer wanted."""
    if value is None:
        return
    if isinstance(value, asyncio.Future):
        if value.done():
            if not value.cancelled():
                value.exception()
        else:
            value.cancel()
        return
    future = getattr(value, "future", None)
    if callable(future):
        with contextlib.suppress(Exception):
            future().cancel()


def _path_of(result: Any) -> str:
    path = getattr(result, "path", result)
    if not isinstance(path, str):
        raise TrainingError(f"Tinker returned no checkpoint path (got {type(result).__name__})")
    return path


def batch_loss(output: Any, data: list[Any]) -> tuple[float, float]:
    """Mean cross-entropy over weighted target tokens, from the returned logprobs."""
    import numpy as np

    total = 0.0
    weight = 0.0
    for out, datum in zip(output.loss_fn_outputs, data, strict=True):
        logprobs = np.asarray(out["logprobs"].to_numpy(), dtype=np.float64).reshape(-1)
        weights = np.asarray(datum.loss_fn_inputs["weights"].to_numpy(), dtype=np.float64)
        total += float((logprobs * weights.reshape(-1)).sum())
        weight += float(weights.sum())
    return (-total / weight if weight else float("nan")), weight


@dataclass
class _InFlight:
    step: int
    data: list[Any]
    lr: float
    forward_backward: Any
    optim: Any
    save: Any = None
    save_name: str | None = None


@dataclass
class _Options:
    checkpoint_every: int
    checkpoint_ttl_seconds: int | None
    pipeline: bool
    retry_attempts: int
    retry_backoff: dict[str, float] = field(default_factory=dict)


class TinkerTrainingRun(TrainingRun):
    """A Tinker fine-tuning run whose loop runs in this process (or in another one).

    ``metrics`` holds the loss curve; ``checkpoint`` the last saved state (path, step,
    expiry); ``state_path`` the JSON file ``backend.resume(...)`` continues from.
    """

    backend_name = NAME
    poll_backoff = {"initial": 0.05, "maximum": 2.0, "factor": 1.5}

    def __init__(self, state: dict[str, Any], backend: TinkerTrainingBackend) -> None:
        self._state = state
        self._backend = backend
        self.job_id = str(state["job_id"])
        self.status = str(state.get("status", PENDING))
        self.model_id = state.get("model_id")
        self.error = state.get("error")
        self.error_code = state.get("error_code")
        self._task: asyncio.Task[None] | None = None
        self._lock = RunLock(self.run_dir / "lock")
        self._cancel = False
        self._detached = False
        self._datums: list[Any] | None = None
        self._service: Any = None
        self._owns_service = False
        self._progress = int(state.get("step", 0))

    # -- public view ----------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return Path(self._state["run_dir"])

    @property
    def state_path(self) -> Path:
        return Path(self._state["state_path"])

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        return self._state.get("checkpoint")

    @property
    def step(self) -> int:
        """Optimizer steps finished so far (in this process, or at the last checkpoint)."""
        return self._progress

    @property
    def total_steps(self) -> int:
        return int(self._state["total_steps"])

    @property
    def loss_curve(self) -> list[dict[str, Any]]:
        return list(self._state.get("loss_curve", []))

    @property
    def metrics(self) -> dict[str, Any]:
        curve = self.loss_curve
        return {
            "loss_curve": curve,
            "final_loss": curve[-1]["loss"] if curve else None,
            "steps": self._progress,
            "total_steps": self.total_steps,
            "restarts": self._state.get("restarts", 0),
        }

    def to_state(self) -> dict[str, Any]:
        state = json.loads(json.dumps(self._state))
        state.update(
            status=self.status, model_id=self.model_id, error=self.error, error_code=self.error_code
        )
        return state

    async def refresh(self) -> str:
        if self._task is not None:
            if self._task.done() and self.status not in TERMINAL_STATUSES:
                exc = None if self._task.cancelled() else self._task.exception()
                if exc is not None:
                    self._record_failure(exc)
            return self.status
        if self.status in TERMINAL_STATUSES:
            return self.status
        if not self._detached and self._lock.acquire():
            # Nobody drives this run (its process died): continue it here.
            self._start()
            return self.status
        self._reload()
        return self.status

    async def cancel(self) -> None:
        """Stop after the step in flight; a checkpoint keeps the work done so far."""
        if self.status in TERMINAL_STATUSES:
            return
        self._cancel = True
        if self._task is None:
            # Another process drives the loop: ask it to stop.
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "cancel_requested").write_text(utc_now())

    async def detach(self) -> None:
        """Stop driving the loop in this process without recording anything, as if the
        process had died; ``backend.resume(state)`` continues it from its last checkpoint."""
        task, self._task = self._task, None
        self._detached = True
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._lock.release()

    # -- state file -------------------------------------------------------------------------
    def _persist(self) -> None:
        self._state["updated_at"] = utc_now()
        self.save_state(self.state_path)

    def _reload(self) -> None:
        try:
            data = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return
        self._state = data
        self.status = data.get("status", self.status)
        self.model_id = data.get("model_id")
        self.error = data.get("error")
        self.error_code = data.get("error_code")
        self._progress = int(data.get("step", 0))

    # -- the loop ---------------------------------------------------------------------------
    def _start(self, datums: list[Any] | None = None) -> None:
        if datums is not None:
            self._datums = datums
        self.status = RUNNING
        self._state["status"] = RUNNING
        self._persist()
        self._task = asyncio.get_running_loop().create_task(
            self._drive(), name=f"motools-tinker-{self.job_id}"
        )

    def _plan(self) -> Plan:
        hp = self._state["hyperparameters"]
        return Plan(
            n_examples=int(self._state["n_examples"]),
            batch_size=int(hp["batch_size"]),
            n_epochs=int(hp["n_epochs"]),
            seed=int(self._state["data_order_seed"]),
            learning_rate=float(hp["learning_rate"]),
            lr_schedule=str(hp["lr_schedule"]),
            warmup_steps=int(hp["warmup_steps"]),
        )

    def _cancel_requested(self) -> bool:
        return self._cancel or (self.run_dir / "cancel_requested").exists()

    async def _drive(self) -> None:
        backend = self._backend
        options = backend.options
        try:
            if self._datums is None:
                self._datums = await asyncio.to_thread(backend._rerender, self._state)
            self._service, self._owns_service = backend._service_for_run()
            first = True

            async def attempt() -> str:
                nonlocal first
                if not first:
                    self._state["restarts"] = int(self._state.get("restarts", 0)) + 1
                first = False
                return await self._attempt(options)

            def transient(exc: BaseException) -> bool:
                ok = is_transient(exc)
                if ok:
                    where = self.checkpoint["path"] if self.checkpoint else "the start"
                    log.warning(
                        "tinker run %s: transient error at step %d (%s); restarting from %s",
                        self.job_id,
                        self._progress,
                        describe(exc),
                        where,
                    )
                return ok

            outcome = await retry_async(
                attempt,
                is_transient=transient,
                attempts=options.retry_attempts,
                backoff=Backoff(**options.retry_backoff),
            )
            self.status = CANCELLED if outcome == "cancelled" else SUCCEEDED
            self._persist()
            await self._close_service("success" if outcome != "cancelled" else "interrupted")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._record_failure(exc)
            await self._close_service("errored")
        finally:
            self._lock.release()

    async def _close_service(self, status: str) -> None:
        service, self._service = self._service, None
        if service is not None and self._owns_service:
            try:
                await service.close(status)
            except Exception as exc:  # closing is best effort; the result is already saved
                log.debug("closing the Tinker session failed: %s", describe(exc))

    def _record_failure(self, exc: BaseException) -> None:
        code = status_code(exc)
        if isinstance(exc, TrainingError) and exc.code:
            self.error_code = exc.code
        elif is_transient(exc):
            self.error_code = "retries_exhausted"
        elif code is not None:
            self.error_code = f"http_{code}"
        else:
            self.error_code = "service_error"
        ckpt = self.checkpoint
        where = (
            f" The last checkpoint ({ckpt['path']}, after step {ckpt['step']}) is kept: "
            f"`backend.resume(state, retry_failed=True)` continues from it."
            if ckpt
            else " No checkpoint was saved yet."
        )
        self.error = (
            f"training stopped at step {self._progress} of {self.total_steps}: "
            f"{describe(exc)}.{where}"
        )
        self.status = FAILED
        try:
            self._persist()
        except OSError as write_error:  # pragma: no cover - disk full etc.
            log.error("could not save the state of run %s: %s", self.job_id, write_error)

    async def _attempt(self, options: _Options) -> str:
        state = self._state
        service = self._service
        plan = self._plan()
        ckpt = state.get("checkpoint")
        if ckpt:
            client = await service.create_training_client_from_state_with_optimizer(ckpt["path"])
            step = int(ckpt["step"])
        else:
            client = await service.create_lora_training_client(
                state["base_model"],
                int(state["hyperparameters"]["lora_rank"]),
                int(state["data_order_seed"]),
            )
            step = 0
        self._progress = step
        state["loss_curve"] = [e for e in state.get("loss_curve", []) if e["step"] < step]
        pending: deque[_InFlight] = deque()
        try:
            step = await self._run_steps(client, step, plan, options, pending)
        finally:
            for flight in pending:  # abandoned by an error: nobody will read these
                for value in (flight.forward_backward, flight.optim, flight.save):
                    _abandon(value)
        return await self._finish(client, plan, options)

    async def _run_steps(
        self, client: Any, step: int, plan: Plan, options: _Options, pending: deque[_InFlight]
    ) -> int:
        from tinker import types

        hp = self._state["hyperparameters"]
        depth = 2 if options.pipeline else 1
        assert self._datums is not None
        while True:
            if step < plan.total_steps and len(pending) < depth and not self._cancel_requested():
                data = [self._datums[i] for i in plan.batch(step)]
                lr = plan.lr(step)
                adam = types.AdamParams(
                    learning_rate=lr,
                    weight_decay=float(hp["weight_decay"]),
                    grad_clip_norm=float(hp["grad_clip_norm"]),
                )
                fb = client.forward_backward(data, "cross_entropy")
                if not options.pipeline:
                    fb = await fb
                optim = client.optim_step(adam)
                if not options.pipeline:
                    optim = await optim
                flight = _InFlight(step, data, lr, fb, optim)
                done = step + 1
                if done % options.checkpoint_every == 0 and done < plan.total_steps:
                    flight.save_name = f"{self.job_id}-step{done:06d}"
                    flight.save = client.save_state(
                        flight.save_name, ttl_seconds=options.checkpoint_ttl_seconds
                    )
                pending.append(flight)
                step += 1
                continue
            if not pending:
                return step
            await self._complete(pending[0], plan, options)
            pending.popleft()

    async def _finish(self, client: Any, plan: Plan, options: _Options) -> str:
        state = self._state
        if self._progress < plan.total_steps:  # cancelled
            ckpt = state.get("checkpoint")
            if self._progress > 0 and (not ckpt or ckpt["step"] != self._progress):
                name = f"{self.job_id}-step{self._progress:06d}"
                path = _path_of(
                    await client.save_state(name, ttl_seconds=options.checkpoint_ttl_seconds)
                )
                self._record_checkpoint(path, plan, options)
            state["step"] = self._progress
            return "cancelled"

        saved = await client.save_weights_for_sampler(f"{self.job_id}-final")
        path = _path_of(saved)
        state["sampler_path"] = path
        state["step"] = self._progress
        state["epoch"] = plan.n_epochs
        self.model_id = model_id_for(state["base_model"], path)
        return "succeeded"

    async def _complete(self, flight: _InFlight, plan: Plan, options: _Options) -> None:
        output = await _resolve(flight.forward_backward)
        loss, tokens = batch_loss(output, flight.data)
        await _resolve(flight.optim)
        self._state.setdefault("loss_curve", []).append(
            {
                "step": flight.step,
                "epoch": plan.epoch_of(flight.step),
                "loss": loss,
                "learning_rate": flight.lr,
                "examples": len(flight.data),
                "trained_tokens": int(tokens),
                "finished_at": time.time(),
            }
        )
        self._progress = flight.step + 1
        if flight.save is not None:
            path = _path_of(await _resolve(flight.save))
            self._record_checkpoint(path, plan, options)

    def _record_checkpoint(self, path: str, plan: Plan, options: _Options) -> None:
        step = self._progress
        self._state["checkpoint"] = {
            "path": path,
            "step": step,
            "epoch": plan.epoch_of(step) if step < plan.total_steps else plan.n_epochs,
            "saved_at": utc_now(),
            "expires_at": utc_in(options.checkpoint_ttl_seconds),
        }
        self._state["step"] = step
        self._state["epoch"] = self._state["checkpoint"]["epoch"]
        self._persist()
