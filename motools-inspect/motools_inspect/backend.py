"""``InspectEvalBackend``: evaluate a motools model id on Inspect AI tasks.

>>> backend = motools.get_eval_backend("inspect")
>>> job = await backend.evaluate("ft:gpt-4o-mini:org::abc", "gsm8k", limit=50)
>>> results = await job.wait()

* The model id is routed through the plugins' ``route_model`` hook (DESIGN.md section 3).
* ``eval_suite``: see :mod:`motools_inspect.suites` for every accepted form.
* Options: ``limit``, ``epochs``, ``temperature``, ``max_tokens``, ``max_connections``,
  ``seed``, ``log_dir``, ``task_args``, ``model_args``, ``model_base_url``, ``data_mirror``;
  any other ``GenerateConfig`` field (``top_p``, ``reasoning_effort``...) applies to the
  model, and any other ``eval_async`` option (``fail_on_error``, ``max_samples``...) to the
  Inspect run. Unknown options are an error.
* Logs go to ``$MOTOOLS_HOME/inspect-logs`` (``.motools/inspect-logs`` by default), never to
  the working directory's ``./logs``.
* Several evaluations started at once share one Inspect run (see :mod:`.runner`).
* A failing model call is retried at most ``max_retries`` times (backend option, default
  8; a task's or ``--option max_retries=N`` wins), each retry reported, and a heartbeat says
  what the run is doing (:mod:`.progress`): with no network an evaluation ends with an error
  naming the host instead of retrying silently forever.
"""

from __future__ import annotations

import asyncio
import inspect as pyinspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.errors import EvaluationError, RoutingError, ValidationError
from motools.evals.base import EvalBackend, EvalJob, EvalResults, EvalSuite
from motools.paths import home
from motools.plugins import ModelRoute, route_model
from motools.polling import public_url
from motools.redaction import is_secret_name
from motools_inspect.mirror import data_mirror as mirror_context
from motools_inspect.results import (
    check_log,
    log_metrics,
    log_summary,
    sample_records,
    task_records,
    unique_key,
)
from motools_inspect.runner import RunOutput, init_display, runner, submit_tasks
from motools_inspect.suites import ResolvedTask, registry_task_identity, resolve_suite

if TYPE_CHECKING:
    from inspect_ai.model import Model

NAME = "inspect"
LOG_SUBDIR = "inspect-logs"
#: eval_async parameters motools sets itself, or that make no sense per evaluation.
_RESERVED_RUN_OPTIONS = {"tasks", "model", "model_args", "model_base_url", "task_args", "kwargs"}


#: Retries of a failing model call unless a task or ``max_retries=`` says otherwise. Inspect
#: alone retries without end (3 s, doubling): with no network an evaluation would never end.
DEFAULT_MAX_RETRIES = 8


def default_log_dir() -> Path:
    return home() / LOG_SUBDIR


def _generate_fields() -> set[str]:
    from inspect_ai.model import GenerateConfig

    return set(GenerateConfig.model_fields)


def _run_option_names() -> set[str]:
    from inspect_ai import eval_async

    return set(pyinspect.signature(eval_async).parameters) - _RESERVED_RUN_OPTIONS


def _public(value: Any) -> Any:
    """A JSON-able copy of ``value`` without secret-looking keys (for metadata)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {
            str(k): _public(v)
            for k, v in value.items()
            if not is_secret_name(k)
        }
    if isinstance(value, (list, tuple)):
        return [_public(v) for v in value]
    return f"<{type(value).__name__}>"


#: Environment variables Inspect reads as the ``module.function`` of a hook to import.
_HOOK_VARIABLES = ("INSPECT_TELEMETRY", "INSPECT_API_KEY_OVERRIDE")


def _check_inspect_environment() -> None:
    for variable in _HOOK_VARIABLES:
        value = os.environ.get(variable, "").strip()
        if value and "." not in value:
            raise ValidationError(
                f"{variable}={value!r} is not a 'module.function' reference: Inspect imports "
                f"{variable} as a hook, and every model creation would fail. Unset it "
                "(Inspect sends no telemetry unless it names a hook)."
            )


@dataclass
class _Prepared:
    tasks: list[ResolvedTask]
    route: ModelRoute
    run_options: dict[str, Any]
    settings: dict[str, Any]


class InspectEvalBackend(EvalBackend):
    """Runs Inspect AI evaluations; see the module docstring for the options."""

    name = NAME
    cache_version = "1"

    def __init__(
        self,
        log_dir: str | os.PathLike[str] | None = None,
        *,
        data_mirror: str | os.PathLike[str] | None = None,
        display: str = "none",
        max_retries: int | None = DEFAULT_MAX_RETRIES,
    ) -> None:
        if max_retries is not None and (not isinstance(max_retries, int) or max_retries < 0):
            raise ValidationError(
                f"inspect backend: max_retries must be a whole number >= 0, got {max_retries!r}"
            )
        self.log_dir = log_dir
        self.data_mirror = data_mirror
        self.display = display
        self.max_retries = max_retries

    def __repr__(self) -> str:
        return f"InspectEvalBackend(log_dir={self.log_dir!r}, data_mirror={self.data_mirror!r})"

    # -- public API ---------------------------------------------------------------------

    async def evaluate(
        self,
        model_id: str,
        eval_suite: EvalSuite,
        *,
        limit: int | None = None,
        epochs: int | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        max_connections: int | None = None,
        seed: int | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        task_args: dict[str, Any] | None = None,
        model_args: dict[str, Any] | None = None,
        model_base_url: str | None = None,
        data_mirror: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> EvalJob:
        """Resolve the model and tasks now (bad input fails here) and start the evaluation."""
        if not isinstance(model_id, str) or not model_id.strip():
            raise ValidationError(f"model_id must be a non-empty string, got {model_id!r}")
        if limit is not None and (not isinstance(limit, int) or limit <= 0):
            raise ValidationError(f"limit must be a positive integer, got {limit!r}")
        if epochs is not None and (not isinstance(epochs, int) or epochs <= 0):
            raise ValidationError(f"epochs must be a positive integer, got {epochs!r}")

        generate = {
            "temperature": temperature,
            "max_tokens": max_tokens,
            "max_connections": max_connections,
            "seed": seed,
        }
        run_options: dict[str, Any] = {"limit": limit}
        generate_fields = _generate_fields()
        run_fields = _run_option_names()
        for key, value in options.items():
            if key in generate_fields:
                generate[key] = value
            elif key in run_fields:
                run_options[key] = value
            else:
                raise ValidationError(
                    f"unknown option {key!r} for the inspect backend; it takes limit, epochs, "
                    "temperature, max_tokens, max_connections, seed, log_dir, task_args, "
                    "model_args, model_base_url, data_mirror, any inspect_ai GenerateConfig "
                    "field, and any inspect_ai.eval_async option"
                )
        generate = {k: v for k, v in generate.items() if v is not None}
        _check_inspect_environment()
        target = Path(log_dir or self.log_dir or default_log_dir()).expanduser().resolve()
        run_options["log_dir"] = str(target)

        route = self._route(model_id)
        mirror = data_mirror if data_mirror is not None else self.data_mirror
        with runner().preparing_request():
            prepared = await asyncio.to_thread(
                self._prepare,
                eval_suite,
                route,
                dict(task_args or {}),
                dict(model_args or {}),
                model_base_url,
                mirror,
                generate,
                epochs,
                run_options,
            )
            init_display(self.display)
            future = submit_tasks([item.task for item in prepared.tasks], prepared.run_options)
        return EvalJob(
            self._collect(model_id, prepared, future),
            model_id=model_id,
            eval_suite=eval_suite,
            backend_name=NAME,
        )

    def task_identity(self, item: Any) -> dict[str, Any] | None:
        """Cache identity of a benchmark or Inspect registry name: name plus the version of
        the package that defines it. Other forms: None (motools' default identity applies)."""
        return registry_task_identity(item)

    # -- preparation ----------------------------------------------------------------------

    @staticmethod
    def _route(model_id: str) -> ModelRoute:
        try:
            return route_model(model_id, NAME)
        except RoutingError as exc:
            from motools_inspect.providers import inspect_provider_names

            providers = ", ".join(inspect_provider_names())
            raise RoutingError(
                f"{exc} Ids of the form 'provider/model' pass through to Inspect for these "
                f"Inspect model providers: {providers}."
            ) from exc

    def _prepare(
        self,
        eval_suite: EvalSuite,
        route: ModelRoute,
        task_args: dict[str, Any],
        model_args: dict[str, Any],
        model_base_url: str | None,
        mirror: str | os.PathLike[str] | None,
        generate: dict[str, Any],
        epochs: int | None,
        run_options: dict[str, Any],
    ) -> _Prepared:
        from inspect_ai import Epochs, task_with
        from inspect_ai.model import GenerateConfig

        with mirror_context(mirror) as mirror_folder:
            resolved = resolve_suite(eval_suite, task_args)
        model = self._model(route, model_args, model_base_url)
        try:
            config = GenerateConfig(**generate)
        except Exception as exc:  # pydantic's message names the field
            raise ValidationError(f"invalid generation option: {exc}") from exc
        for item in resolved:
            merged = item.task.config.merge(config)
            if merged.max_retries is None and model.config.max_retries is None:
                merged.max_retries = self.max_retries  # bounded (not part of the cache key)
            changes: dict[str, Any] = {"model": model, "config": merged}
            if epochs is not None:
                changes["epochs"] = Epochs(epochs, item.task.epochs_reducer)
            task_with(item.task, **changes)
        settings = {
            "inspect_model": route.model,
            "model_args": _public({**route.model_args, **model_args}),
            "model_base_url": model_base_url,
            "eval_suite": [item.spec for item in resolved],
            "task_args": _public(task_args),
            "generate_config": _public(generate),
            "epochs": epochs,
            "run_options": _public(run_options),
            "data_mirror": str(mirror_folder) if mirror_folder else None,
        }
        return _Prepared(resolved, route, run_options, settings)

    @staticmethod
    def _model(route: ModelRoute, model_args: dict[str, Any], base_url: str | None) -> Model:
        from inspect_ai.model import get_model

        args = {**route.model_args, **model_args}
        api_key = args.pop("api_key", None)  # kept out of model_args, which Inspect logs
        base_url = base_url or args.pop("base_url", None)
        try:
            return get_model(route.model, base_url=base_url, api_key=api_key, memoize=False, **args)
        except Exception as exc:
            raise EvaluationError(
                f"Inspect could not create model {route.model!r}: {type(exc).__name__}: {exc}"
            ) from exc

    @staticmethod
    def _hosts(prepared: _Prepared) -> dict[str, str]:
        """Each model's API host (no credentials), for messages."""
        hosts = {}
        for item in prepared.tasks:
            model = item.task.model
            if model is not None and model.api.base_url:
                hosts[str(model)] = public_url(str(model.api.base_url))
        return hosts

    # -- running --------------------------------------------------------------------------

    async def _collect(
        self, model_id: str, prepared: _Prepared, future: asyncio.Future[list[RunOutput]]
    ) -> EvalResults:
        import inspect_ai

        from motools_inspect.progress import connection_hint

        outputs = await future
        logs = [output.log for output in outputs]
        failures = []
        for log in logs:
            try:
                check_log(log, model_id)
            except EvaluationError as exc:
                hint = connection_hint(str(exc), self._hosts(prepared))
                failures.append(EvaluationError(f"{hint} {exc}") if hint else exc)
        if failures:
            if len(failures) == 1:
                raise failures[0]
            raise EvaluationError(
                f"{len(failures)} of {len(logs)} tasks failed: "
                + " | ".join(str(f) for f in failures)
            ) from failures[0]

        metrics: dict[str, dict[str, dict[str, float]]] = {}
        samples: list[dict[str, Any]] = []
        log_paths: dict[str, str] = {}
        tasks_meta: dict[str, Any] = {}
        taken: set[str] = set()
        task_names: dict[str, str] = {}
        names_of_spec: dict[str, set[str]] = {}
        for item in prepared.tasks:
            names_of_spec.setdefault(item.spec, set()).add(item.task.name)
        for item, output in zip(prepared.tasks, outputs, strict=True):
            log = output.log
            # The reference as the caller wrote it; a file named without '@task' that holds
            # several tasks gives one key per task ('tasks.py@first', 'tasks.py@second').
            several = len(names_of_spec[item.spec]) > 1
            spec = f"{item.spec}@{item.task.name}" if several else item.spec
            key = unique_key(spec, taken)
            task_names[key] = log.eval.task
            metrics[key] = log_metrics(log)
            expected = log.results.completed_samples if log.results else None
            if output.records is not None and len(output.records) == expected:
                samples.extend(task_records(output.records, key))
            else:  # not seen by the hook: read them back from the log
                samples.extend(await asyncio.to_thread(sample_records, log, key))
            log_paths[key] = log.location
            tasks_meta[key] = log_summary(log)
        empty = [task for task, scorers in metrics.items() if not scorers]
        if empty:
            raise EvaluationError(
                f"Inspect reported no scores for task(s) {empty} on model {model_id!r}; "
                "does the task define a scorer?"
            )
        return EvalResults(
            model_id=model_id,
            metrics=metrics,
            samples=samples,
            log_paths=log_paths,
            metadata={
                "backend": NAME,
                "inspect_ai_version": inspect_ai.__version__,
                **prepared.settings,
                "task_names": task_names,
                "tasks": tasks_meta,
            },
        )
