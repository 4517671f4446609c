"""The built-in workflows: ``train_and_evaluate`` and ``evaluate_only``.

``train_and_evaluate`` steps and their artifacts::

    prepare_dataset  -> dataset       (cached on the file bytes / loader source and sampling)
    submit_training  -> training_job  (through CachedTrainingBackend: one job per key)
    wait_for_training -> model_id     (re-attaches to the job; shows the backend's status)
    evaluate_model   -> results       (through CachedEvalBackend)
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from motools.workflows.core import Deferred, Step, StepContext, Workflow

if TYPE_CHECKING:
    from motools.api import Composer


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def resolve_ref(text: str, info: ValidationInfo, what: str) -> str:
    """Parse a reference (``motools.refs.parse_ref``); a relative file path in it is made
    absolute against the config file's folder (``base_dir`` in the validation context)."""
    from motools.refs import parse_ref

    ref = parse_ref(text, what=what)
    base = (info.context or {}).get("base_dir")
    if base is None or ref.kind not in ("path", "pyfile") or ref.path is None:
        return text
    if ref.path.is_absolute():
        return text
    resolved = str(Path(base) / ref.path)
    return f"{resolved}@{ref.attr}" if ref.kind == "pyfile" and ref.attr else resolved


#: Keys of ``prepare_dataset`` that its loader receives from the step, not ``loader_kwargs``.
_STEP_KEYS = {"sample_size": "prepare_dataset.sample_size", "seed": "the top-level seed"}


class PrepareDatasetConfig(_Strict):
    dataset: str = Field(
        description="JSONL path (relative to the config file), 'module:function' loader, "
        "or registered dataset name"
    )
    sample_size: int | None = Field(default=None, gt=0)
    loader_kwargs: dict[str, Any] = Field(default_factory=dict)

    @field_validator("dataset")
    @classmethod
    def _reference(cls, value: str, info: ValidationInfo) -> str:
        return resolve_ref(value, info, "dataset")

    @field_validator("loader_kwargs")
    @classmethod
    def _no_step_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key in _STEP_KEYS:
                raise ValueError(
                    f"{key!r} is set by the step, not through loader_kwargs; use {_STEP_KEYS[key]}"
                )
        return value


class SubmitTrainingConfig(_Strict):
    backend: str = "dummy"
    model: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    suffix: str | None = None
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description="backend constructor arguments"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="extra train() arguments")


class WaitConfig(_Strict):
    timeout: float | None = Field(default=None, gt=0)


class EvaluateConfig(_Strict):
    backend: str = "dummy"
    tasks: list[str] = Field(min_length=1, description="at least one task")
    limit: int | None = Field(default=None, gt=0)
    backend_options: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict, description="extra evaluate() arguments")

    @field_validator("tasks", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("tasks")
    @classmethod
    def _references(cls, value: list[str], info: ValidationInfo) -> list[str]:
        return [resolve_ref(t, info, "task") for t in value]


class SelectModelConfig(_Strict):
    model_id: str


def _load_file(path: str, shown: str) -> Any:
    """A dataset file, loaded and validated; an empty one is an error."""
    from motools.datasets import JSONLDataset
    from motools.errors import ValidationError

    dataset = JSONLDataset.load_sync(path)
    if not len(dataset):
        raise ValidationError(f"dataset {shown}: the file has no samples")
    return dataset


def _check_dataset(config: PrepareDatasetConfig, composer: Composer) -> Any:
    """The dataset exists and is valid (a file), or its loader can be found and called with
    ``loader_kwargs``. Reading a file is deferred: ``workflow validate`` reads it; a run
    reads it once, in the step, only when the step is not served from the cache."""
    import inspect

    from motools.errors import ValidationError
    from motools.refs import parse_ref

    ref = parse_ref(config.dataset, what="dataset")
    if ref.kind in ("path", "pyfile"):  # as load_dataset_ref: a file of samples
        path = Path(config.dataset)
        if path.is_dir():
            raise ValidationError(f"dataset {config.dataset}: is a directory; give a JSONL file")
        if not path.is_file():
            raise ValidationError(
                f"dataset {config.dataset}: no such file (relative paths are relative to the "
                "config file's folder)"
            )
        if config.loader_kwargs:
            raise ValidationError(
                f"loader_kwargs {sorted(config.loader_kwargs)} apply to a loader function; "
                f"the dataset {config.dataset} is a file"
            )
        if path.stat().st_size == 0:
            raise ValidationError(f"dataset {config.dataset}: the file has no samples")
        return Deferred(functools.partial(_load_file, str(path), config.dataset))
    if ref.kind == "name":
        from motools.plugins import get_registration

        registration = get_registration("dataset", config.dataset)
        loader = registration.load()
    else:
        try:
            loader = ref.load()
        except ImportError as exc:
            raise ValidationError(
                f"dataset loader {config.dataset!r} cannot be imported: {exc}"
            ) from exc
    if not callable(loader):
        raise ValidationError(f"dataset loader {config.dataset!r} is not a function")
    try:
        params = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None
    for key in config.loader_kwargs:
        if key not in params:
            import difflib

            close = difflib.get_close_matches(key, list(params), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValidationError(
                f"loader_kwargs.{key}: the loader {config.dataset!r} takes no such argument.{hint} "
                f"It takes: {', '.join(params) or 'no arguments'}."
            )
    return None


def _dataset_fingerprint(config: PrepareDatasetConfig) -> Any:
    from motools.dataset_refs import fingerprint_dataset_ref

    return fingerprint_dataset_ref(config.dataset)


async def prepare_dataset(
    config: PrepareDatasetConfig, inputs: dict[str, Any], ctx: StepContext
) -> dict[str, Any]:
    from motools import provenance
    from motools.dataset_refs import load_dataset_ref

    seed = ctx.globals.get("seed")
    if isinstance(ctx.checked, Deferred):  # the file, loaded and validated once by the check
        dataset = ctx.checked()
        if config.sample_size is not None and config.sample_size < len(dataset):
            dataset = dataset.sample(config.sample_size, seed=seed)
    else:
        dataset = await load_dataset_ref(
            config.dataset, sample_size=config.sample_size, seed=seed, **config.loader_kwargs
        )
    dataset.validate()
    artifact = provenance.record_dataset(ctx.store, dataset)
    stored = ctx.store.get_artifact(artifact)
    ctx.progress(f"{len(dataset)} rows from {config.dataset}")
    return {
        "dataset": {
            "artifact": artifact,
            "blob": stored["blob"] if stored else None,
            "content_hash": dataset.content_hash,
            "rows": len(dataset),
            "source": config.dataset,
        }
    }


def _check_training(config: SubmitTrainingConfig, composer: Composer) -> Any:
    """Build the backend and validate the hyperparameters once; the step reuses the result."""
    backend = composer.training_backend(config.backend, config.backend_options)
    return backend.normalize_hyperparameters(config.hyperparameters)


def _check_eval(config: EvaluateConfig, composer: Composer) -> None:
    composer.eval_backend(config.backend, config.backend_options)


def _load_dataset_artifact(ctx: StepContext, artifact: dict[str, Any]) -> Any:
    """The prepared dataset, read from its blob only if the backend needs its rows.

    Its content hash, row count and validity come from ``prepare_dataset``'s outputs; the blob
    is checked against its digest here, so a damaged one is an error, never a wrong upload.
    """
    from motools.datasets.stored import StoredDataset
    from motools.errors import MotoolsError

    digest = artifact.get("blob")
    if not digest or not ctx.store.blob_ok(digest):
        raise MotoolsError(
            f"the stored dataset {artifact['artifact']} is missing or damaged; run the workflow "
            "again with `--force-rerun prepare_dataset`, or `motools cache verify --repair`"
        )
    # One object per blob for the composer: a sweep's members training on the same data
    # share it (and its rows, if a backend reads them).
    return ctx.composer.once(
        ("stored dataset", digest, artifact["content_hash"], artifact["rows"], artifact["source"]),
        lambda: StoredDataset(
            ctx.store.blob_path(digest),
            content_hash=artifact["content_hash"],
            rows=artifact["rows"],
            source=artifact["source"],
            valid_for="auto",  # prepare_dataset validated it before storing it
        ),
    )


async def submit_training(
    config: SubmitTrainingConfig, inputs: dict[str, Any], ctx: StepContext
) -> dict[str, Any]:
    dataset = _load_dataset_artifact(ctx, inputs["dataset"])
    options = dict(config.options)
    if ctx.globals.get("seed") is not None:
        options.setdefault("seed", ctx.globals["seed"])
    hyperparameters = ctx.checked if ctx.checked is not None else config.hyperparameters
    run = await ctx.composer.train(
        config.backend,
        dataset,
        config.model,
        hyperparameters,
        config.suffix,
        backend_options=config.backend_options,
        force=ctx.force,
        **options,
    )
    if run.attached:
        # A job that ended while no process watched it: record how it ended, so that the
        # next run finds a finished job (a cache hit) rather than re-attaching every time.
        await run.refresh()
    how = "cached" if run.from_cache else ("re-attached to" if run.attached else "submitted")
    ctx.cached = run.from_cache
    ctx.progress(f"{how} {config.backend} job {run.job_id} ({run.status})")
    return {
        "training_job": {
            "backend": config.backend,
            "job_id": run.job_id,
            "state": run.to_state(),
            "model_id": run.model_id,
            "cache_key": run.cache_key,
            "from_cache": ctx.cached,
        }
    }


async def wait_for_training(
    config: WaitConfig, inputs: dict[str, Any], ctx: StepContext
) -> dict[str, Any]:
    job = inputs["training_job"]
    if job.get("model_id"):
        ctx.cached = bool(job.get("from_cache"))
        return {"model_id": job["model_id"]}
    run = await ctx.composer.resume(job["state"], cache_key=job.get("cache_key"))

    def show(r: Any) -> None:
        ctx.progress(f"{job['backend']} job {r.job_id}: {r.status}")

    try:
        model_id = await run.wait(timeout=config.timeout, on_status=show)
    finally:  # the job ended (or we stopped waiting): free its quota slot
        ctx.composer.release(job["backend"], str(job["job_id"]))
    return {"model_id": model_id}


async def evaluate_model(
    config: EvaluateConfig, inputs: dict[str, Any], ctx: StepContext
) -> dict[str, Any]:
    backend = ctx.composer.cached_eval(config.backend, config.backend_options, force=ctx.force)
    options = dict(config.options)
    if config.limit is not None:
        options["limit"] = config.limit
    model_id = inputs["model_id"]
    ctx.progress(f"evaluating {model_id} on {', '.join(config.tasks)}")
    job = await backend.evaluate(model_id, config.tasks, **options)
    results = await job.wait()
    ctx.cached = job.from_cache or bool(results.metadata.get("from_cache"))
    return {
        "results": {
            "model_id": model_id,
            "metrics": results.metrics,
            "log_paths": results.log_paths,
            "cache_key": results.metadata.get("cache_key"),
            "from_cache": bool(results.metadata.get("from_cache")),
        }
    }


async def select_model(
    config: SelectModelConfig, inputs: dict[str, Any], ctx: StepContext
) -> dict[str, Any]:
    return {"model_id": config.model_id}


def train_and_evaluate() -> Workflow:
    return Workflow(
        "train_and_evaluate",
        [
            Step(
                "prepare_dataset",
                prepare_dataset,
                PrepareDatasetConfig,
                outputs=("dataset",),
                fingerprint=_dataset_fingerprint,
                check=_check_dataset,
                description="load, sample and validate the dataset",
            ),
            Step(
                "submit_training",
                submit_training,
                SubmitTrainingConfig,
                inputs=("dataset",),
                outputs=("training_job",),
                cache=False,
                check=_check_training,
                description="submit (or re-attach to) the training job",
            ),
            Step(
                "wait_for_training",
                wait_for_training,
                WaitConfig,
                inputs=("training_job",),
                outputs=("model_id",),
                cache=False,
                description="wait for the trained model",
            ),
            _evaluate_step(),
        ],
        description="Prepare a dataset, train on it, wait, and evaluate the trained model.",
    )


def evaluate_only() -> Workflow:
    return Workflow(
        "evaluate_only",
        [
            Step(
                "select_model", select_model, SelectModelConfig, outputs=("model_id",), cache=False
            ),
            _evaluate_step(),
        ],
        description="Evaluate an existing model on tasks.",
    )


def _evaluate_step() -> Step:
    """The evaluation step both built-in workflows end with."""
    return Step(
        "evaluate_model",
        evaluate_model,
        EvaluateConfig,
        inputs=("model_id",),
        outputs=("results",),
        cache=False,
        check=_check_eval,
        description="evaluate the model on the tasks",
    )
