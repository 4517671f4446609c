"""The dummy evaluation backend: deterministic per (model id, task), instant and free.

Its results have the shape every evaluation backend gives (see
:class:`~motools.evals.base.EvalResults`): metrics keyed by the task reference as written,
the canonical task name in ``metadata["task_names"]``, numeric per-sample ``scores`` with the
``raw_scores`` beside them (``"C"``/``"I"``, as Inspect's ``match`` scorer gives). Options
are checked like a real backend's: an unknown or misspelt option is an error.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from motools.errors import EvaluationError, ValidationError
from motools.evals.base import EvalBackend, EvalJob, EvalResults, EvalSuite, suite_items

NAME = "dummy"
DEFAULT_SAMPLES = 10


class DummyEvalOptions(BaseModel):
    """The options :meth:`DummyEvalBackend.evaluate` takes (the common ones of real backends).

    ``limit`` samples per task, ``epochs`` scored answers per sample. ``temperature``,
    ``max_tokens``, ``seed`` and ``task_args`` are accepted (and recorded in the results'
    metadata) so that configs written for a real backend run unchanged; they change nothing.
    Credentials (any option :func:`motools.redaction.is_secret_name` names) are accepted and
    dropped.
    """

    model_config = ConfigDict(extra="forbid")

    limit: int | None = Field(default=None, gt=0)
    epochs: int = Field(default=1, gt=0)
    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    seed: int | None = None
    task_args: dict[str, Any] = Field(default_factory=dict)


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _options(kwargs: dict[str, Any]) -> DummyEvalOptions:
    from motools.redaction import is_secret_name

    known = list(DummyEvalOptions.model_fields)
    # Credentials (api_key=...) are accepted as a real backend's are, and never recorded.
    kwargs = {k: v for k, v in kwargs.items() if not is_secret_name(k)}
    for key in kwargs:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValidationError(
                f"unknown option {key!r} for the dummy evaluation backend.{hint} "
                f"It takes {', '.join(known)}."
            )
    try:
        return DummyEvalOptions(**kwargs)
    except PydanticValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors()
        )
        raise ValidationError(f"dummy evaluation backend: invalid option {problems}") from None


def _task_key(item: Any) -> str:
    if isinstance(item, str):
        if not item.strip():
            raise EvaluationError("dummy backend: empty task name")
        return item
    name = getattr(item, "name", None) or getattr(item, "__name__", None)
    if not name:
        raise EvaluationError(f"dummy backend: cannot name task {item!r}")
    return str(name)


def canonical_task_name(key: str) -> str:
    """The task's own name: a registered name's target, or the attribute a reference names."""
    from motools.refs import parse_ref

    try:
        ref = parse_ref(key, what="task")
    except ValidationError:
        return key
    if ref.kind == "name":
        from motools.plugins import registrations

        registered = registrations("task").get(key)
        if registered is None or not isinstance(registered.target, str):
            return key
        return canonical_task_name(registered.target)
    if ref.kind == "pyfile" and ref.path is not None and not ref.path.is_file():
        raise ValidationError(f"task file {str(ref.path)!r} (from {key!r}) does not exist")
    if ref.attr:
        return ref.attr.rsplit(".", 1)[-1]
    return ref.path.stem if ref.path is not None else key


class DummyEvalBackend(EvalBackend):
    """Scores each sample by a hash of (model id, task, sample): same inputs, same metrics."""

    name = NAME

    def __init__(self, samples: int = DEFAULT_SAMPLES, delay: float = 0.0) -> None:
        self.samples = samples
        #: Seconds an evaluation takes (for tests of processes killed mid-evaluation).
        self.delay = float(delay)

    async def evaluate(self, model_id: str, eval_suite: EvalSuite, **kwargs: Any) -> EvalJob:
        options = _options(kwargs)
        tasks = [_task_key(t) for t in suite_items(eval_suite)]
        names = {task: canonical_task_name(task) for task in tasks}
        n = options.limit if options.limit is not None else self.samples
        return EvalJob(
            self._run(model_id, names, n, options),
            model_id=model_id,
            eval_suite=tasks,
            backend_name=NAME,
        )

    async def _run(
        self, model_id: str, names: dict[str, str], n: int, options: DummyEvalOptions
    ) -> EvalResults:
        await asyncio.sleep(self.delay)
        metrics: dict[str, dict[str, dict[str, float]]] = {}
        samples: list[dict[str, Any]] = []
        for task in names:
            skill = _unit(model_id, task)
            scores = []
            for epoch in range(1, options.epochs + 1):
                for i in range(n):
                    parts = (model_id, task, i) if epoch == 1 else (model_id, task, i, epoch)
                    correct = _unit(*parts) < skill
                    scores.append(1.0 if correct else 0.0)
                    samples.append(
                        {
                            "task": task,
                            "id": i + 1,
                            "epoch": epoch,
                            "input": f"{task} question {i + 1}",
                            "target": "yes",
                            "output": "yes" if correct else "no",
                            "scores": {"match": 1.0 if correct else 0.0},
                            "raw_scores": {"match": "C" if correct else "I"},
                        }
                    )
            mean = sum(scores) / len(scores)
            count = len(scores)
            stderr = math.sqrt(mean * (1 - mean) / (count - 1)) if count > 1 else 0.0
            metrics[task] = {"match": {"accuracy": mean, "stderr": stderr}}
        return EvalResults(
            model_id=model_id,
            metrics=metrics,
            samples=samples,
            metadata={
                "backend": NAME,
                "task_names": names,
                "options": options.model_dump(exclude_defaults=True),
            },
        )
