"""A Tinker training run and its crash-safe loop, driven by the process that holds its lock.

The run owns everything its loop needs: its typed state (:class:`~motools_tinker.state.
TinkerRunState`), its Tinker service session (opened from the backend's
:class:`~motools_tinker.service.ServiceSettings`, closed when the loop ends) and, when it is
resumed, the rendering of its saved dataset (checked against the fingerprint taken when it
started).

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
import inspect
import logging
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motools.errors import ServiceUnreachableError, TrainingError, ValidationError
from motools.polling import Backoff, retry_async
from motools.training.base import (
    CANCELLED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    TERMINAL_STATUSES,
    TrainingRun,
)
from motools_tinker.errors import describe, is_transient, status_code
from motools_tinker.plan import Plan
from motools_tinker.rendering import load_tokenizer, render_dataset, render_fingerprint, to_datum
from motools_tinker.runstate import RunLock, utc_in, utc_now
from motools_tinker.service import ServiceSettings
from motools_tinker.state import NAME, Checkpoint, LossPoint, TinkerRunState

log = logging.getLogger("motools.tinker")

__all__ = ["RunOptions", "TinkerTrainingRun", "model_id_for", "render_fingerprint"]

DEFAULT_RETRY_BACKOFF = {"initial": 2.0, "maximum": 60.0, "factor": 2.0}


def model_id_for(base_model: str, sampler_path: str) -> str:
    return f"tinker/{base_model}@{sampler_path}"


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


@dataclass(frozen=True)
class RunOptions:
    """How the loop runs: checkpoint cadence (steps) and lifetime (seconds, ``None``: kept),
    pipelining, and retries of transient errors (attempts, and a backoff policy
    ``{"initial", "maximum", "factor"}``)."""

    checkpoint_every: int = 20
    checkpoint_ttl_seconds: int | None = 14 * 24 * 3600
    pipeline: bool = True
    retry_attempts: int = 5
    retry_backoff: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RETRY_BACKOFF))

    def __post_init__(self) -> None:
        if not isinstance(self.checkpoint_every, int) or self.checkpoint_every < 1:
            raise ValidationError(
                f"checkpoint_every must be a positive integer, got {self.checkpoint_every!r}"
            )
        ttl = self.checkpoint_ttl_seconds
        if ttl is not None and not 3600 <= ttl <= 10 * 365 * 86400:
            raise ValidationError(
                "checkpoint_ttl_seconds must be between 3600 (1 hour) and 10 years, or None"
            )
        if self.retry_attempts < 1:
            raise ValidationError("retry_attempts must be at least 1")
        try:
            self.backoff()
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"retry_backoff: {exc}") from None

    def backoff(self) -> Backoff:
        """A fresh backoff for one series of retries."""
        return Backoff.from_policy(self.retry_backoff)


class TinkerTrainingRun(TrainingRun):
    """A Tinker fine-tuning run whose loop runs in this process (or in another one).

    ``state`` is its typed record (:class:`~motools_tinker.state.TinkerRunState`);
    ``metrics`` holds the loss curve; ``checkpoint`` the last saved state (path, step,
    expiry); ``state_path`` the JSON file ``backend.resume(...)`` continues from.
    ``tokenizer`` (a name, path or tokenizer object) renders the saved dataset again when
    the run is continued in a new process; by default the one the run started with.
    """

    backend_name = NAME
    poll_backoff = {"initial": 0.05, "maximum": 2.0, "factor": 1.5}
    #: The loop runs in the process that drives it: stopping that process pauses the run
    #: (its last checkpoint is kept) until a resume continues it.
    runs_remotely = False

    def __init__(
        self,
        state: TinkerRunState | Mapping[str, Any],
        *,
        options: RunOptions | None = None,
        service: ServiceSettings | None = None,
        tokenizer: Any = None,
    ) -> None:
        self._state = (
            state if isinstance(state, TinkerRunState) else TinkerRunState.from_json(state)
        )
        self.options = options or RunOptions()
        self._settings = service or ServiceSettings()
        self._tokenizer = tokenizer
        self._task: asyncio.Task[None] | None = None
        self._lock = RunLock(self.run_dir / "lock")
        self._cancel = False
        self._detached = False
        self._datums: list[Any] | None = None
        self._service: Any = None
        self._owns_service = False
        self._progress = self._state.step

    # -- public view ----------------------------------------------------------------------
    @property
    def state(self) -> TinkerRunState:
        """The run's typed state (the loop updates it; ``to_state()`` is a JSON copy)."""
        return self._state

    @property
    def job_id(self) -> str:  # type: ignore[override]
        return self._state.job_id

    @property
    def status(self) -> str:
        return self._state.status

    @status.setter
    def status(self, value: str) -> None:
        self._state.status = value

    @property
    def model_id(self) -> str | None:
        return self._state.model_id

    @model_id.setter
    def model_id(self, value: str | None) -> None:
        self._state.model_id = value

    @property
    def error(self) -> str | None:
        return self._state.error

    @error.setter
    def error(self, value: str | None) -> None:
        self._state.error = value

    @property
    def error_code(self) -> str | None:
        return self._state.error_code

    @error_code.setter
    def error_code(self, value: str | None) -> None:
        self._state.error_code = value

    @property
    def run_dir(self) -> Path:
        return Path(self._state.run_dir)

    @property
    def state_path(self) -> Path:
        return Path(self._state.state_path)

    @property
    def checkpoint(self) -> dict[str, Any] | None:
        ckpt = self._state.checkpoint
        return ckpt.model_dump() if ckpt is not None else None

    @property
    def step(self) -> int:
        """Optimizer steps finished so far (in this process, or at the last checkpoint)."""
        return self._progress

    @property
    def total_steps(self) -> int:
        return self._state.total_steps

    @property
    def loss_curve(self) -> list[dict[str, Any]]:
        return [point.model_dump() for point in self._state.loss_curve]

    async def events(self) -> list[dict[str, Any]]:
        """One ``step`` event per optimizer step (its loss), from the run's state file."""
        return [{"type": "step", **point} for point in self.loss_curve]

    @property
    def metrics(self) -> dict[str, Any]:
        curve = self.loss_curve
        return {
            "loss_curve": curve,
            "final_loss": curve[-1]["loss"] if curve else None,
            "steps": self._progress,
            "total_steps": self.total_steps,
            "restarts": self._state.restarts,
        }

    def to_state(self) -> dict[str, Any]:
        return self._state.to_json()

    def progress_text(self) -> str | None:
        return f"step {self._progress} of {self.total_steps}"

    # -- driving --------------------------------------------------------------------------
    def start(self, datums: list[Any] | None = None) -> bool:
        """Drive the loop here, as a background task, unless another process drives it.

        ``datums`` are the rendered examples (``train()`` has them); without them the loop
        renders the saved dataset again first. Returns ``False``, and starts nothing, when
        another live process holds the run's lock: this run then follows its state file.
        """
        if not self._lock.acquire():
            return False
        if datums is not None:
            self._datums = datums
        self.status = RUNNING
        self._persist()
        self._task = asyncio.get_running_loop().create_task(
            self._drive(), name=f"motools-tinker-{self.job_id}"
        )
        return True

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
            # Nobody drives this run now. Its state file says whether its process finished
            # it or died; a run that is not finished continues here.
            self._reload()
            if self.status in TERMINAL_STATUSES:
                self._lock.release()
            else:
                self.start()
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
        self._state.updated_at = utc_now()
        self.save_state(self.state_path)

    def _reload(self) -> None:
        try:
            self._state = TinkerRunState.read(self.state_path)
        except (OSError, ValueError):  # not written yet (motools' ValidationError included)
            return
        self._progress = self._state.step

    # -- the loop ---------------------------------------------------------------------------
    def _render_saved_dataset(self) -> list[Any]:
        """Render the run's saved dataset again (a resumed run), checking it is unchanged."""
        from motools.datasets import JSONLDataset

        state = self._state
        dataset = JSONLDataset.load_sync(state.dataset_path)
        if dataset.content_hash != state.dataset_hash:
            raise TrainingError(
                f"{state.dataset_path} changed since run {state.job_id} started "
                "(content hash differs); cannot resume on different data",
                job_id=state.job_id,
                code="dataset_changed",
            )
        hp = state.hyperparameters
        spec = self._tokenizer if self._tokenizer is not None else state.tokenizer
        tok = load_tokenizer(spec, state.base_model)
        rendered, problems = render_dataset(
            dataset,
            tok,
            train_on=hp.train_on,
            max_length=state.max_length,
            on_too_long=hp.on_too_long,
        )
        if problems or render_fingerprint(rendered) != state.render_hash:
            raise TrainingError(
                f"the tokenizer renders run {state.job_id}'s dataset differently than when "
                "it started; resume with the same tokenizer (backend tokenizer=...)",
                job_id=state.job_id,
                code="tokenizer_mismatch",
            )
        return [to_datum(item) for item in rendered]

    def _cancel_requested(self) -> bool:
        return self._cancel or (self.run_dir / "cancel_requested").exists()

    async def _drive(self) -> None:
        options = self.options
        try:
            if self._datums is None:
                self._datums = await asyncio.to_thread(self._render_saved_dataset)
            self._service, self._owns_service = self._settings.connect()
            first = True

            async def attempt() -> str:
                nonlocal first
                if not first:
                    self._state.restarts += 1
                first = False
                return await self._attempt(options)

            def restart_reason(exc: BaseException) -> str:
                ckpt = self._state.checkpoint
                return (
                    f"tinker run {self.job_id}: transient error at step {self._progress} "
                    f"({describe(exc)}); restarting from {ckpt.path if ckpt else 'the start'}"
                )

            outcome = await retry_async(
                attempt,
                is_transient=is_transient,
                attempts=options.retry_attempts,
                backoff=options.backoff(),
                describe=restart_reason,
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
        elif isinstance(exc, ServiceUnreachableError):
            self.error_code = "unreachable"
        elif is_transient(exc):
            self.error_code = "retries_exhausted"
        elif code is not None:
            self.error_code = f"http_{code}"
        else:
            self.error_code = "service_error"
        ckpt = self._state.checkpoint
        where = (
            f" The last checkpoint ({ckpt.path}, after step {ckpt.step}) is kept: "
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

    async def _attempt(self, options: RunOptions) -> str:
        state = self._state
        service = self._service
        plan = state.plan()
        ckpt = state.checkpoint
        if ckpt:
            client = await service.create_training_client_from_state_with_optimizer(ckpt.path)
            step = ckpt.step
        else:
            client = await service.create_lora_training_client(
                state.base_model, state.hyperparameters.lora_rank, state.data_order_seed
            )
            step = 0
        self._progress = step
        state.loss_curve = [point for point in state.loss_curve if point.step < step]
        pending: deque[_InFlight] = deque()
        try:
            step = await self._run_steps(client, step, plan, options, pending)
        finally:
            for flight in pending:  # abandoned by an error: nobody will read these
                for value in (flight.forward_backward, flight.optim, flight.save):
                    _abandon(value)
        return await self._finish(client, plan, options)

    async def _run_steps(
        self, client: Any, step: int, plan: Plan, options: RunOptions, pending: deque[_InFlight]
    ) -> int:
        from tinker import types

        hp = self._state.hyperparameters
        depth = 2 if options.pipeline else 1
        assert self._datums is not None
        while True:
            if step < plan.total_steps and len(pending) < depth and not self._cancel_requested():
                data = [self._datums[i] for i in plan.batch(step)]
                lr = plan.lr(step)
                adam = types.AdamParams(
                    learning_rate=lr,
                    weight_decay=float(hp.weight_decay),
                    grad_clip_norm=float(hp.grad_clip_norm),
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

    async def _finish(self, client: Any, plan: Plan, options: RunOptions) -> str:
        state = self._state
        if self._progress < plan.total_steps:  # cancelled
            ckpt = state.checkpoint
            if self._progress > 0 and (not ckpt or ckpt.step != self._progress):
                name = f"{self.job_id}-step{self._progress:06d}"
                path = _path_of(
                    await client.save_state(name, ttl_seconds=options.checkpoint_ttl_seconds)
                )
                self._record_checkpoint(path, plan, options)
            state.step = self._progress
            return "cancelled"

        saved = await client.save_weights_for_sampler(f"{self.job_id}-final")
        path = _path_of(saved)
        state.sampler_path = path
        state.step = self._progress
        state.epoch = plan.n_epochs
        self.model_id = model_id_for(state.base_model, path)
        return "succeeded"

    async def _complete(self, flight: _InFlight, plan: Plan, options: RunOptions) -> None:
        output = await _resolve(flight.forward_backward)
        loss, tokens = batch_loss(output, flight.data)
        await _resolve(flight.optim)
        self._state.loss_curve.append(
            LossPoint(
                step=flight.step,
                epoch=plan.epoch_of(flight.step),
                loss=loss,
                learning_rate=flight.lr,
                examples=len(flight.data),
                trained_tokens=int(tokens),
                finished_at=time.time(),
            )
        )
        self._progress = flight.step + 1
        if flight.save is not None:
            path = _path_of(await _resolve(flight.save))
            self._record_checkpoint(path, plan, options)

    def _record_checkpoint(self, path: str, plan: Plan, options: RunOptions) -> None:
        step = self._progress
        ckpt = Checkpoint(
            path=path,
            step=step,
            epoch=plan.epoch_of(step) if step < plan.total_steps else plan.n_epochs,
            saved_at=utc_now(),
            expires_at=utc_in(options.checkpoint_ttl_seconds),
        )
        self._state.checkpoint = ckpt
        self._state.step = step
        self._state.epoch = ckpt.epoch
        self._persist()
