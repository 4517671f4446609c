"""The Tinker training backend: validation before anything is paid for, then a run.

``train()`` validates the model (against Tinker's capability list when reachable), the
hyperparameters and the dataset, renders every conversation with the base model's chat
template, writes the run's state file (under ``$MOTOOLS_HOME/runs/<job_id>/`` by default) and
returns a :class:`~motools_tinker.run.TinkerTrainingRun` at once, its loop running as a
background asyncio task. ``resume(state)`` in any process continues a run from its last
checkpoint at exactly the next batch, or follows it if another live process drives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.errors import TrainingError, ValidationError
from motools.training.base import FAILED, PENDING, RUNNING, TERMINAL_STATUSES
from motools_tinker import hyperparameters as hp_mod
from motools_tinker.errors import describe, is_transient
from motools_tinker.plan import Plan
from motools_tinker.rendering import load_tokenizer, render_dataset, to_datum
from motools_tinker.run import (
    NAME,
    TinkerTrainingRun,
    _Options,
    render_fingerprint,
)
from motools_tinker.runstate import default_run_dir, utc_now

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset, Problem

log = logging.getLogger("motools.tinker")

STATE_VERSION = 1

__all__ = ["TinkerTrainingBackend", "TinkerTrainingRun"]


class TinkerTrainingBackend:
    """LoRA supervised fine-tuning on Tinker.

    Options (constructor): ``service`` -- a :class:`~motools_tinker.service.TinkerService`
    to use instead of the SDK (tests inject fakes); ``tokenizer`` -- name, local path or
    tokenizer object used to render chats (default: the base model's); ``api_key`` /
    ``base_url`` -- otherwise ``TINKER_API_KEY`` / ``TINKER_BASE_URL``;
    ``checkpoint_every`` (steps), ``checkpoint_ttl_seconds``, ``pipeline`` (submit the next
    step before waiting on the previous), ``retry_attempts`` and ``retry_backoff``
    (``{"initial", "maximum", "factor"}``) for transient errors; ``check_models`` -- check the
    model against the service's capability list when it is reachable.
    """

    name = NAME
    cache_version = "1"

    def __init__(
        self,
        *,
        service: Any = None,
        tokenizer: Any = None,
        api_key: str | None = None,
        base_url: str | None = None,
        checkpoint_every: int = 20,
        checkpoint_ttl_seconds: int | None = 14 * 24 * 3600,
        pipeline: bool = True,
        retry_attempts: int = 5,
        retry_backoff: Mapping[str, float] | None = None,
        check_models: bool = True,
    ) -> None:
        if not isinstance(checkpoint_every, int) or checkpoint_every < 1:
            raise ValidationError(
                f"checkpoint_every must be a positive integer, got {checkpoint_every!r}"
            )
        if (
            checkpoint_ttl_seconds is not None
            and not 3600 <= checkpoint_ttl_seconds <= 10 * 365 * 86400
        ):
            raise ValidationError(
                "checkpoint_ttl_seconds must be between 3600 (1 hour) and 10 years, or None"
            )
        if retry_attempts < 1:
            raise ValidationError("retry_attempts must be at least 1")
        self._service = service
        self.tokenizer = tokenizer
        self._api_key = api_key
        self._base_url = base_url
        self.check_models = check_models
        self.options = _Options(
            checkpoint_every=checkpoint_every,
            checkpoint_ttl_seconds=checkpoint_ttl_seconds,
            pipeline=pipeline,
            retry_attempts=retry_attempts,
            retry_backoff=dict(retry_backoff or {"initial": 2.0, "maximum": 60.0, "factor": 2.0}),
        )

    def __repr__(self) -> str:
        return f"TinkerTrainingBackend(base_url={self._base_url!r}, options={self.options!r})"

    # -- validation -------------------------------------------------------------------------
    def normalize_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return hp_mod.normalise(hyperparameters)

    def _service_for_run(self) -> tuple[Any, bool]:
        if self._service is not None:
            return self._service, False
        from motools_tinker.service import SDKService

        return SDKService(api_key=self._api_key, base_url=self._base_url), True

    def check_dataset(
        self,
        dataset: JSONLDataset,
        model: str | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        tokenizer: Any = None,
    ) -> list[Problem]:
        """Every problem that would stop training on ``dataset``, with line and field."""
        problems = dataset.problems("supervised")
        if problems or model is None:
            return problems
        hp = hp_mod.validate(hyperparameters)
        tok = load_tokenizer(tokenizer if tokenizer is not None else self.tokenizer, model)
        _, problems = render_dataset(
            dataset, tok, train_on=hp.train_on, max_length=hp.max_length, on_too_long=hp.on_too_long
        )
        return problems

    def estimate_cost(
        self, dataset: JSONLDataset, model: str, hyperparameters: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Tokens and steps the run would process (Tinker bills by tokens processed)."""
        hp = hp_mod.validate(hyperparameters)
        tok = load_tokenizer(self.tokenizer, model)
        rendered, _ = render_dataset(
            dataset, tok, train_on=hp.train_on, max_length=hp.max_length, on_too_long="truncate"
        )
        per_epoch = sum(len(r.tokens) for r in rendered)
        plan = Plan(len(rendered), hp.batch_size, hp.n_epochs, hp.seed, hp.learning_rate)
        return {
            "model": model,
            "examples": len(rendered),
            "tokens_per_epoch": per_epoch,
            "trained_tokens_per_epoch": sum(r.n_trained for r in rendered),
            "total_tokens": per_epoch * hp.n_epochs,
            "steps": plan.total_steps if rendered else 0,
        }

    async def _check_model(self, model: str) -> dict[str, Any] | None:
        if not self.check_models:
            return None
        service, owned = self._service_for_run()
        try:
            models = await service.supported_models()
        except Exception as exc:
            if is_transient(exc):
                log.warning(
                    "could not reach Tinker to check %r (%s); continuing", model, describe(exc)
                )
                return None
            raise ValidationError(
                f"Could not list Tinker's models to check {model!r}: {describe(exc)}"
            ) from exc
        finally:
            if owned:
                await service.close("success")
        if not models:
            return None
        by_name = {m.get("model_name"): m for m in models if m.get("model_name")}
        info = by_name.get(model)
        if info is None:
            trainable = sorted(
                n for n, m in by_name.items() if m.get("trainable", True) is not False
            )
            close = difflib.get_close_matches(model, trainable, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValidationError(
                f"Tinker does not offer base model {model!r}.{hint} Trainable models: "
                f"{', '.join(trainable) or '(none)'}."
            )
        if info.get("trainable") is False:
            raise ValidationError(f"Tinker model {model!r} can be sampled but not trained.")
        return info

    # -- training ---------------------------------------------------------------------------
    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        *,
        tokenizer: Any = None,
        state_path: str | Path | None = None,
        **kwargs: Any,
    ) -> TinkerTrainingRun:
        """Validate everything, then start the loop in the background and return the run."""
        from motools.datasets.jsonl import DatasetValidationError

        if kwargs:
            raise ValidationError(
                f"tinker backend: unknown train() options {sorted(kwargs)} (accepted: "
                "tokenizer, state_path)"
            )
        if not isinstance(model, str) or not model.strip():
            raise ValidationError(
                "tinker backend: model must be a base model name, e.g. 'meta-llama/Llama-3.1-8B'"
            )
        if suffix is not None and not isinstance(suffix, str):
            raise ValidationError("tinker backend: suffix must be a string")
        hp = hp_mod.validate(hyperparameters)
        normalized = hp_mod.normalise(hyperparameters)
        source = dataset.source or "dataset"
        problems = dataset.problems("supervised")
        if problems:
            raise DatasetValidationError(source, problems)
        if len(dataset) == 0:
            raise ValidationError(f"{source}: the dataset is empty")
        info = await self._check_model(model)
        max_length = hp.max_length
        context = (info or {}).get("max_context_length")
        if context and (max_length is None or max_length > context):
            max_length = int(context)
        tok_spec = tokenizer if tokenizer is not None else self.tokenizer
        tok = load_tokenizer(tok_spec, model)
        rendered, problems = await asyncio.to_thread(
            render_dataset,
            dataset,
            tok,
            train_on=hp.train_on,
            max_length=max_length,
            on_too_long=hp.on_too_long,
        )
        if problems:
            raise DatasetValidationError(source, problems)
        datums = [to_datum(item) for item in rendered]
        plan = Plan(
            len(rendered),
            hp.batch_size,
            hp.n_epochs,
            hp.seed,
            hp.learning_rate,
            hp.lr_schedule,
            hp.warmup_steps,
        )

        job_id = f"tinker-{uuid.uuid4().hex[:12]}"
        run_dir = default_run_dir(job_id)
        target = Path(state_path) if state_path is not None else run_dir / "state.json"
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
            "base_model": model,
            "suffix": suffix,
            "hyperparameters": normalized,
            "tokenizer": _tokenizer_label(tok_spec),
            "max_length": max_length,
            "dataset_path": str(dataset_path.resolve()),
            "dataset_hash": dataset.content_hash,
            "render_hash": render_fingerprint(rendered),
            "n_examples": len(rendered),
            "steps_per_epoch": plan.steps_per_epoch,
            "total_steps": plan.total_steps,
            "data_order_seed": hp.seed,
            "step": 0,
            "epoch": 0,
            "checkpoint": None,
            "sampler_path": None,
            "loss_curve": [],
            "restarts": 0,
            "run_dir": str(run_dir.resolve()),
            "state_path": str(target.resolve()),
            "created_at": utc_now(),
        }
        run = TinkerTrainingRun(state, self)
        if not run._lock.acquire():  # pragma: no cover - fresh job ids never collide
            raise TrainingError(f"run directory {run_dir} is locked by another process")
        run._start(datums)
        return run

    def _rerender(self, state: Mapping[str, Any]) -> list[Any]:
        """Render the saved dataset again for a resumed run, and check it matches."""
        from motools.datasets import JSONLDataset

        dataset = JSONLDataset.load_sync(state["dataset_path"])
        if dataset.content_hash != state["dataset_hash"]:
            raise TrainingError(
                f"{state['dataset_path']} changed since run {state['job_id']} started "
                "(content hash differs); cannot resume on different data",
                job_id=str(state["job_id"]),
                code="dataset_changed",
            )
        hp = state["hyperparameters"]
        spec = self.tokenizer if self.tokenizer is not None else state.get("tokenizer")
        tok = load_tokenizer(spec, state["base_model"])
        rendered, problems = render_dataset(
            dataset,
            tok,
            train_on=hp["train_on"],
            max_length=state.get("max_length"),
            on_too_long=hp["on_too_long"],
        )
        if problems or render_fingerprint(rendered) != state["render_hash"]:
            raise TrainingError(
                f"the tokenizer renders run {state['job_id']}'s dataset differently than when "
                "it started; resume with the same tokenizer (backend tokenizer=...)",
                job_id=str(state["job_id"]),
                code="tokenizer_mismatch",
            )
        return [to_datum(item) for item in rendered]

    async def resume(
        self, state: Mapping[str, Any] | str | Path, *, retry_failed: bool = False
    ) -> TinkerTrainingRun:
        """Re-attach to a run from its state (a dict or the state file).

        A run no live process drives continues here from its last checkpoint; a run another
        process drives is followed through its state file. ``retry_failed=True`` continues a
        failed run from its last checkpoint.
        """
        if not isinstance(state, Mapping):
            state = json.loads(Path(state).read_text())
        if state.get("backend") != NAME:
            raise ValidationError(f"state belongs to backend {state.get('backend')!r}, not tinker")
        missing = [
            k for k in ("job_id", "state_path", "run_dir", "hyperparameters") if k not in state
        ]
        if missing:
            raise ValidationError(f"tinker run state is missing {', '.join(missing)}")
        data = dict(state)
        # The state file is the newest record of the run, whoever wrote it.
        path = Path(data["state_path"])
        if path.exists():
            with contextlib.suppress(ValueError):
                data = json.loads(path.read_text())
        if retry_failed and data.get("status") == FAILED:
            data.update(status=RUNNING, error=None, error_code=None)
        run = TinkerTrainingRun(data, self)
        if run.status in TERMINAL_STATUSES:
            return run
        if run._lock.acquire():
            run._start()
        return run


def _tokenizer_label(spec: Any) -> str | None:
    if spec is None or isinstance(spec, str):
        return spec
    name = getattr(spec, "name_or_path", None)
    return name if isinstance(name, str) and name else None
