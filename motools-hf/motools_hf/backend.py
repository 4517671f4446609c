"""The hf training backend: validation before any model loads, then a worker runs the loop.

``train()`` validates the hyperparameters, the dataset and the base model, renders every
conversation with the base model's chat template (so a bad row fails here, with its line and
field), writes the run folder (``$MOTOOLS_HOME/runs/<job_id>/``) and starts a worker on the
chosen executor. ``resume(state)`` re-attaches from any process: by the state a run returned
(``run.to_state()``), its state file, ``{"job_id": ...}``, or for Ray a submission id.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.errors import ValidationError
from motools.training.base import PENDING, TrainingBackend, check_supervised_request
from motools_hf import hyperparameters as hp_mod
from motools_hf import models, runstate
from motools_hf.executors import EXECUTORS, make_executor
from motools_hf.plan import Plan
from motools_hf.rendering import fingerprint, render_dataset
from motools_hf.run import NAME, HFTrainingRun

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset, Problem

STATE_VERSION = 1

__all__ = ["HFTrainingBackend", "HFTrainingRun"]


class HFTrainingBackend(TrainingBackend):
    """LoRA supervised fine-tuning with transformers + peft.

    Options: ``executor`` -- ``"local"`` (a detached worker process, the default), ``"ray"``
    (a Ray job; ``address`` or ``RAY_ADDRESS``) or ``"inline"`` (a thread of this process);
    ``device`` -- ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...;
    ``dtype`` -- the weights' dtype (``"float32"``, ``"bfloat16"``); ``threads`` -- torch CPU
    threads of the worker; ``python`` -- the worker's interpreter (Ray: as the cluster's nodes
    name it); ``max_restarts`` -- how often a dead worker is restarted from its checkpoint;
    ``gradient_checkpointing`` -- recompute activations in the backward pass (less memory,
    more time, the same update).
    """

    name = NAME
    cache_version = "1"
    #: A submission token names the run folder, so a run whose submitting process died is
    #: found again (:meth:`find_submitted`) instead of being started twice.
    supports_submission_lookup = True

    def __init__(
        self,
        *,
        executor: str = "local",
        address: str | None = None,
        device: str = "auto",
        dtype: str = "float32",
        threads: int | None = None,
        python: str | None = None,
        max_restarts: int = 3,
        gradient_checkpointing: bool = False,
    ) -> None:
        if executor not in EXECUTORS:
            raise ValidationError(
                f"hf backend: unknown executor {executor!r} (choose one of {', '.join(EXECUTORS)})"
            )
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ValidationError(
                f"hf backend: dtype must be float32, bfloat16 or float16, got {dtype!r}"
            )
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValidationError(
                f"hf backend: threads must be a positive integer, got {threads!r}"
            )
        if not isinstance(max_restarts, int) or max_restarts < 0:
            raise ValidationError("hf backend: max_restarts must be a non-negative integer")
        self.executor_kind = executor
        self.address = address
        self.device = device
        self.dtype = dtype
        self.threads = threads
        self.python = python
        self.max_restarts = max_restarts
        self.gradient_checkpointing = bool(gradient_checkpointing)
        self._executor: Any = None

    def __repr__(self) -> str:
        return f"HFTrainingBackend(executor={self.executor_kind!r}, device={self.device!r})"

    def executor(self) -> Any:
        if self._executor is None:
            self._executor = make_executor(
                self.executor_kind, address=self.address, python=self.python
            )
        return self._executor

    # -- validation -------------------------------------------------------------------------
    def normalize_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | None, **options: Any
    ) -> dict[str, Any]:
        return hp_mod.normalise(hyperparameters)

    def check_dataset(
        self,
        dataset: JSONLDataset,
        model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
    ) -> list[Problem]:
        """Every problem that would stop training on ``dataset``, with line and field."""
        problems = dataset.problems("supervised")
        if problems or model is None:
            return problems
        hp = hp_mod.validate(hyperparameters)
        tok = models.load_tokenizer(models.canonical(model))
        _, problems = render_dataset(
            dataset, tok, train_on=hp.train_on, max_length=hp.max_length, on_too_long=hp.on_too_long
        )
        return problems

    def estimate_cost(
        self, dataset: JSONLDataset, model: str, hyperparameters: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Tokens and optimizer steps the run would process (no money: your hardware)."""
        hp = hp_mod.validate(hyperparameters)
        tok = models.load_tokenizer(models.canonical(model))
        rendered, _ = render_dataset(
            dataset, tok, train_on=hp.train_on, max_length=hp.max_length, on_too_long="truncate"
        )
        per_epoch = sum(len(r.tokens) for r in rendered)
        plan = Plan.from_hyperparameters(len(rendered), hp.model_dump())
        return {
            "model": model,
            "examples": len(rendered),
            "tokens_per_epoch": per_epoch,
            "trained_tokens_per_epoch": sum(r.n_trained for r in rendered),
            "total_tokens": per_epoch * hp.n_epochs,
            "steps": plan.total_steps if rendered else 0,
            "cost_usd": 0.0,
        }

    # -- training ---------------------------------------------------------------------------
    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        submission: str | None = None,
        **kwargs: Any,
    ) -> HFTrainingRun:
        """Validate everything, write the run folder, start a worker, return the run.

        ``submission`` (the cache's idempotency token) names the run folder."""
        from motools.datasets.jsonl import DatasetValidationError

        if kwargs:
            raise ValidationError(f"hf backend: unknown train() options {sorted(kwargs)}")
        check_supervised_request(
            "hf",
            dataset,
            model,
            suffix,
            model_help="a local model folder, a .gguf file or a hub id",
        )
        hp = hp_mod.validate(hyperparameters)
        normalized = hp_mod.normalise(hyperparameters)
        source = dataset.source or "dataset"
        base = models.canonical(model)
        tok = await asyncio.to_thread(models.load_tokenizer, base)
        rendered, problems = await asyncio.to_thread(
            render_dataset,
            dataset,
            tok,
            train_on=hp.train_on,
            max_length=hp.max_length,
            on_too_long=hp.on_too_long,
        )
        if problems:
            raise DatasetValidationError(source, problems)
        plan = Plan.from_hyperparameters(len(rendered), normalized)
        executor = self.executor()  # a missing Ray address fails here, before any file

        job_id = _job_id(submission)
        run_dir = (runstate.runs_dir() / job_id).resolve()
        run_dir.mkdir(parents=True)
        dataset_path = run_dir / "dataset.jsonl"
        dataset.save_sync(dataset_path)
        state: dict[str, Any] = {
            "version": STATE_VERSION,
            "backend": NAME,
            "job_id": job_id,
            "status": PENDING,
            "model_id": None,
            "error": None,
            "error_code": None,
            "base_model": base,
            "suffix": suffix,
            "hyperparameters": normalized,
            "executor": {"kind": self.executor_kind},
            "device": self.device,
            "dtype": self.dtype,
            "threads": self.threads,
            "gradient_checkpointing": self.gradient_checkpointing,
            "dataset_path": str(dataset_path),
            "dataset_hash": dataset.content_hash,
            "render_hash": fingerprint(rendered),
            "n_examples": len(rendered),
            "steps_per_epoch": plan.steps_per_epoch,
            "total_steps": plan.total_steps,
            "step": 0,
            "epoch": 0,
            "checkpoint": None,
            "attempts": 0,
            "run_dir": str(run_dir),
            "created_at": runstate.utc_now(),
        }
        runstate.write_state(run_dir, state)
        executor.start(run_dir, state)
        return HFTrainingRun(runstate.read_state(run_dir), self, executor)

    async def find_submitted(self, submission: str) -> HFTrainingRun | None:
        """The run started with this token, if its folder was written; else None (no worker
        was started, nothing ran)."""
        run_dir = (runstate.runs_dir() / _job_id(submission)).resolve()
        if not (run_dir / runstate.STATE).is_file():
            return None
        return await self.resume({"job_id": _job_id(submission), "run_dir": str(run_dir)})

    async def resume(self, state: Mapping[str, Any] | str | Path) -> HFTrainingRun:
        """Re-attach to a run from its state, its state file, ``{"job_id": ...}`` or, with
        ``executor="ray"``, ``{"submission_id": ...}``. A run whose worker died is continued
        (from its last checkpoint) by the next ``refresh()``/``wait()``."""
        if not isinstance(state, Mapping):
            state = dict(json.loads(Path(state).read_text()))
        assert isinstance(state, Mapping)
        if state.get("backend", NAME) != NAME:
            raise ValidationError(f"state belongs to backend {state.get('backend')!r}, not hf")
        run_dir = self._run_dir_of(state)
        if not (run_dir / runstate.STATE).is_file():
            raise ValidationError(f"hf run folder {run_dir} has no {runstate.STATE}")
        data = runstate.read_state(run_dir)
        kind = data.get("executor", {}).get("kind", "local")
        if kind == self.executor_kind:
            executor = self.executor()
        else:
            address = data.get("executor", {}).get("address") or self.address
            executor = make_executor(kind, address=address, python=self.python)
        return HFTrainingRun(data, self, executor)

    def _run_dir_of(self, state: Mapping[str, Any]) -> Path:
        if state.get("run_dir"):
            return Path(state["run_dir"])
        sid = state.get("submission_id") or (state.get("executor") or {}).get("submission_id")
        if sid and not state.get("job_id"):
            from motools_hf.executors import RayExecutor

            address = (state.get("executor") or {}).get("address") or self.address
            return RayExecutor(address, self.python or "python").run_dir_of(str(sid))
        if state.get("job_id"):
            return runstate.runs_dir() / str(state["job_id"])
        raise ValidationError("hf run state needs run_dir, job_id or submission_id")


def _job_id(submission: str | None) -> str:
    return f"hf-{(submission or uuid.uuid4().hex)[:16]}"
