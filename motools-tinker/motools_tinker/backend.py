"""The Tinker training backend: validation before anything is paid for, then a run.

``train()`` validates the model (against Tinker's capability list when reachable), the
hyperparameters (once, into :class:`~motools_tinker.hyperparameters.TinkerHyperparameters`)
and the dataset, renders every conversation with the base model's chat template, records the
run's typed state (:class:`~motools_tinker.state.TinkerRunState`, saved under
``motools.home()/runs/<job_id>/`` by default) and starts a
:class:`~motools_tinker.run.TinkerTrainingRun`, returned at once with its loop running as a
background asyncio task. ``resume(state)`` in any process hands the state back to a run,
which continues from its last checkpoint at exactly the next batch, or follows the run if
another live process drives it. The run owns its Tinker session and, when resumed, the
rendering of its saved dataset; this module only validates and hands over.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.errors import ServiceUnreachableError, TrainingError, ValidationError
from motools.training.base import (
    FAILED,
    RUNNING,
    TERMINAL_STATUSES,
    TrainingBackend,
    check_supervised_request,
)
from motools_tinker import hyperparameters as hp_mod
from motools_tinker.errors import describe, is_transient
from motools_tinker.plan import Plan
from motools_tinker.rendering import load_tokenizer, render_dataset, render_fingerprint, to_datum
from motools_tinker.run import DEFAULT_RETRY_BACKOFF, RunOptions, TinkerTrainingRun
from motools_tinker.runstate import default_run_dir, utc_now
from motools_tinker.service import ServiceSettings
from motools_tinker.state import NAME, STATE_VERSION, TinkerRunState

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset, Problem

log = logging.getLogger("motools.tinker")

__all__ = ["STATE_VERSION", "TinkerRunState", "TinkerTrainingBackend", "TinkerTrainingRun"]


class TinkerTrainingBackend(TrainingBackend):
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
    supports_submission_lookup = True
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
        self.options = RunOptions(
            checkpoint_every=checkpoint_every,
            checkpoint_ttl_seconds=checkpoint_ttl_seconds,
            pipeline=pipeline,
            retry_attempts=retry_attempts,
            retry_backoff=dict(retry_backoff or DEFAULT_RETRY_BACKOFF),
        )
        self.connection = ServiceSettings(
            service=service,
            api_key=api_key,
            base_url=base_url,
            connect_attempts=retry_attempts,
            connect_backoff=self.options.retry_backoff,
        )
        self.tokenizer = tokenizer
        self.check_models = check_models

    def __repr__(self) -> str:
        return (
            f"TinkerTrainingBackend(base_url={self.connection.base_url!r}, "
            f"options={self.options!r})"
        )

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
        service, owned = self.connection.connect()
        try:
            models = await service.supported_models()
        except ServiceUnreachableError:
            raise  # retried and reported already: nothing could be trained there either
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
        by_name: dict[str, dict[str, Any]] = {
            str(m["model_name"]): m for m in models if m.get("model_name")
        }
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
        submission: str | None = None,
        **kwargs: Any,
    ) -> TinkerTrainingRun:
        """Validate everything, then start the loop in the background and return the run.

        ``submission`` (an idempotency token from the cache) names the run, so
        :meth:`find_submitted` finds it again after a process died mid-submission.
        """
        from motools.datasets.jsonl import DatasetValidationError

        if kwargs:
            raise ValidationError(
                f"tinker backend: unknown train() options {sorted(kwargs)} (accepted: "
                "tokenizer, state_path)"
            )
        check_supervised_request(
            "tinker",
            dataset,
            model,
            suffix,
            model_help="a base model name, e.g. 'meta-llama/Llama-3.1-8B'",
        )
        hp = hp_mod.validate(hyperparameters)
        source = dataset.source or "dataset"
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

        job_id = _job_id(submission)
        run_dir = default_run_dir(job_id)
        target = Path(state_path) if state_path is not None else run_dir / "state.json"
        dataset_path = run_dir / "dataset.jsonl"
        dataset.save_sync(dataset_path)
        state = TinkerRunState(
            job_id=job_id,
            base_model=model,
            suffix=suffix,
            hyperparameters=hp,
            tokenizer=_tokenizer_label(tok_spec),
            max_length=max_length,
            dataset_path=str(dataset_path.resolve()),
            dataset_hash=dataset.content_hash,
            render_hash=render_fingerprint(rendered),
            n_examples=len(rendered),
            steps_per_epoch=plan.steps_per_epoch,
            total_steps=plan.total_steps,
            data_order_seed=hp.seed,
            run_dir=str(run_dir.resolve()),
            state_path=str(target.resolve()),
            created_at=utc_now(),
        )
        run = self._run(state, tokenizer=tok_spec)
        if not run.start(datums):  # pragma: no cover - fresh job ids never collide
            raise TrainingError(f"run directory {run_dir} is locked by another process")
        return run

    async def find_submitted(self, submission: str) -> TinkerTrainingRun | None:
        """The run started with this token (its state file in the motools home), or None.

        The loop is driven from the client, so a run whose process died before its state
        file was written never trained a step: there is nothing to find or pay for.
        """
        path = default_run_dir(_job_id(submission)) / "state.json"
        if not path.is_file():
            return None
        return await self.resume(path)

    async def resume(
        self, state: Mapping[str, Any] | str | Path, *, retry_failed: bool = False
    ) -> TinkerTrainingRun:
        """Re-attach to a run from its state (a dict, or the path of its state file).

        A run no live process drives continues here from its last checkpoint; a run another
        process drives is followed through its state file. ``retry_failed=True`` continues a
        failed run from its last checkpoint.
        """
        record = TinkerRunState.newest(state)
        if retry_failed and record.status == FAILED:
            record.status, record.error, record.error_code = RUNNING, None, None
        run = self._run(record)
        if run.status not in TERMINAL_STATUSES:
            run.start()
        return run

    def _run(self, state: TinkerRunState, tokenizer: Any = None) -> TinkerTrainingRun:
        """A run of ``state`` that reaches Tinker and renders chats as this backend does."""
        return TinkerTrainingRun(
            state,
            options=self.options,
            service=self.connection,
            tokenizer=tokenizer if tokenizer is not None else self.tokenizer,
        )


def _tokenizer_label(spec: Any) -> str | None:
    if spec is None or isinstance(spec, str):
        return spec
    name = getattr(spec, "name_or_path", None)
    return name if isinstance(name, str) and name else None


def _job_id(submission: str | None) -> str:
    return f"tinker-{(submission or uuid.uuid4().hex)[:16]}"
