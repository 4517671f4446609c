"""The evaluation contract: ``EvalBackend`` (protocol), ``EvalJob`` and ``EvalResults``.

``EvalResults.metrics`` is nested and lossless: ``{task: {scorer: {metric: value}}}``. Two
scorers that both report ``accuracy`` never collide. Inspect's ``stderr`` is kept as a metric
of its own and shown beside its sibling metrics by :meth:`EvalResults.summary`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from motools.errors import EvaluationError

if TYPE_CHECKING:
    import pandas as pd

Metrics = dict[str, dict[str, dict[str, float]]]
RESULTS_SCHEMA_VERSION = 1
#: Metric names that describe the uncertainty of a sibling metric rather than a value.
UNCERTAINTY_METRICS = ("stderr", "std")


@dataclass
class EvalResults:
    """What an evaluation produced; the same shape whichever backend produced it.

    * ``metrics`` -- ``{task: {scorer: {metric: value}}}``, keyed by each task reference
      exactly as the caller wrote it (``"gsm8k"``, ``"pkg.mod:fn"``, ``"tasks.py@fn"``)
    * ``samples`` -- one record per (task, sample, epoch): ``task``, ``id``, ``epoch``,
      ``input``, ``target``, ``output``, ``scores`` (``{scorer: float}``; ``None`` where the
      value has no numeric reading) and ``raw_scores`` (``{scorer: value as scored}``, e.g.
      Inspect's ``"C"``/``"I"``)
    * ``log_paths`` -- ``{task: path}`` of the backend's own logs (Inspect ``.eval`` files)
    * ``metadata["task_names"]`` -- ``{task: canonical name}`` (Inspect's registry name,
      ``inspect_evals/gsm8k`` for ``gsm8k``); :attr:`task_names` defaults it to the key
    """

    model_id: str
    metrics: Metrics
    samples: list[dict[str, Any]] = field(default_factory=list)
    log_paths: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (
            not isinstance(self.metrics, Mapping)
            or not self.metrics
            or not any(self.metrics.values())
        ):
            raise EvaluationError(
                f"evaluation of {self.model_id!r} produced no metrics; refusing to return "
                "empty results"
            )
        for task, scorers in self.metrics.items():
            if not isinstance(scorers, Mapping):
                raise EvaluationError(
                    f"metrics[{task!r}] must map scorer names to {{metric: value}}, got "
                    f"{type(scorers).__name__}; metrics are {{task: {{scorer: {{metric: value}}}}}}"
                )
            for scorer, values in scorers.items():
                if not isinstance(values, Mapping):
                    raise EvaluationError(
                        f"metrics[{task!r}][{scorer!r}] is {type(values).__name__} "
                        f"{values!r:.60}, not {{metric: value}}: metrics are nested "
                        "{task: {scorer: {metric: value}}} (a flat {task: {metric: value}} "
                        "loses which scorer reported what); wrap them, e.g. "
                        f"{{{task!r}: {{'scorer': {{{scorer!r}: ...}}}}}}"
                    )

    @property
    def tasks(self) -> list[str]:
        return list(self.metrics)

    @property
    def task_names(self) -> dict[str, str]:
        """``{task key: canonical task name}`` (the key itself when the backend gave none)."""
        names = self.metadata.get("task_names") or {}
        return {task: str(names.get(task, task)) for task in self.metrics}

    #: Inspect's letter grades (and yes/no words) as numbers.
    NAMED_SCORES = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0,
                    "yes": 1.0, "true": 1.0, "no": 0.0, "false": 0.0}  # fmt: skip

    @classmethod
    def numeric_score(cls, value: Any) -> float | None:
        """A per-sample score as a number, by Inspect's ``value_to_float`` convention.

        Numbers and booleans as they are; ``"C"`` (correct) 1, ``"I"`` (incorrect) 0,
        ``"P"`` (partial) 0.5, ``"N"`` (no answer) 0; ``"yes"/"true"`` 1, ``"no"/"false"`` 0;
        numeric strings parsed. Anything else (dicts, free text) is ``None``.
        """
        if isinstance(value, bool):
            return float(value)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            text = value.strip()
            for key in (text, text.lower()):
                if key in cls.NAMED_SCORES:
                    return cls.NAMED_SCORES[key]
            try:
                number = float(text)
            except ValueError:
                return None
            return number if math.isfinite(number) else None
        return None

    @classmethod
    def numeric_scores(cls, scorer: str, value: Any) -> dict[str, float | None]:
        """``{scorer: number}`` for one scorer's value; a dict value (a scorer reporting several
        numbers, ``{"alignment": 80, "coherence": 90}``) also gives ``scorer/key`` per entry,
        so every number can be summarised and compared per sample."""
        out: dict[str, float | None] = {scorer: cls.numeric_score(value)}
        if isinstance(value, Mapping):
            for key, item in value.items():
                out[f"{scorer}/{key}"] = cls.numeric_score(item)
        return out

    def get(self, task: str, metric: str, scorer: str | None = None) -> float:
        """One value; ``scorer`` may be left out when only one scorer reports ``metric``."""
        scorers = self.metrics[task]
        if scorer is not None:
            return scorers[scorer][metric]
        matches = [s for s, m in scorers.items() if metric in m]
        if len(matches) != 1:
            raise KeyError(
                f"metric {metric!r} of task {task!r} is reported by scorers {matches}; "
                "pass scorer=..."
            )
        return scorers[matches[0]][metric]

    SUMMARY_COLUMNS = ("model_id", "task", "task_name", "scorer", "metric", "value", "stderr")

    def summary_rows(self) -> list[dict[str, Any]]:
        """The rows of :meth:`summary` as plain dicts (no pandas needed)."""
        rows = []
        names = self.task_names
        for task, scorers in self.metrics.items():
            for scorer, metrics in scorers.items():
                err = next((metrics[u] for u in UNCERTAINTY_METRICS if u in metrics), None)
                for metric, value in metrics.items():
                    if metric in UNCERTAINTY_METRICS:
                        continue
                    rows.append(
                        {
                            "model_id": self.model_id,
                            "task": task,
                            "task_name": names[task],
                            "scorer": scorer,
                            "metric": metric,
                            "value": value,
                            "stderr": err,
                        }
                    )
        return rows

    def summary(self) -> pd.DataFrame:
        """One tidy row per (task, scorer, metric) with ``value`` and ``stderr`` columns."""
        import pandas as pd

        return pd.DataFrame(self.summary_rows(), columns=list(self.SUMMARY_COLUMNS))

    def samples_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame.from_records(self.samples)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "model_id": self.model_id,
            "metrics": self.metrics,
            "samples": self.samples,
            "log_paths": self.log_paths,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalResults:
        version = data.get("schema_version", RESULTS_SCHEMA_VERSION)
        if version > RESULTS_SCHEMA_VERSION:
            raise EvaluationError(
                f"results schema version {version} is newer than this motools understands "
                f"({RESULTS_SCHEMA_VERSION}); upgrade motools"
            )
        return cls(
            model_id=data["model_id"],
            metrics=data["metrics"],
            samples=list(data.get("samples", [])),
            log_paths=dict(data.get("log_paths", {})),
            metadata=dict(data.get("metadata", {})),
        )

    def save_sync(self, path: str | os.PathLike[str]) -> Path:
        from motools.atomic import atomic_write

        return atomic_write(path, json.dumps(self.to_dict(), indent=1, default=str).encode())

    async def save(self, path: str | os.PathLike[str]) -> Path:
        return await asyncio.to_thread(self.save_sync, path)

    @classmethod
    def load_sync(cls, path: str | os.PathLike[str]) -> EvalResults:
        return cls.from_dict(json.loads(Path(path).read_text()))

    @classmethod
    async def load(cls, path: str | os.PathLike[str]) -> EvalResults:
        return await asyncio.to_thread(cls.load_sync, path)


def sample_counts(samples: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """``{"n_samples": {task: scored samples}, "samples_per_question": {task: epochs}}``:
    how many samples each task has, and the most any one question (sample id) has."""
    n: dict[str, int] = {}
    per_id: dict[tuple[str, str], int] = {}
    for s in samples:
        task = str(s.get("task"))
        n[task] = n.get(task, 0) + 1
        ident = (task, str(s.get("id")))
        per_id[ident] = per_id.get(ident, 0) + 1
    per_question: dict[str, int] = {}
    for (task, _), count in per_id.items():
        per_question[task] = max(per_question.get(task, 0), count)
    return {"n_samples": n, "samples_per_question": per_question}


_NOT_LOADED: Any = object()


class StoredEvalResults(EvalResults):
    """:class:`EvalResults` whose samples stay in storage until something reads them.

    A cache hit knows the metrics, logs and metadata from its record; parsing every sample
    (thousands, for a large evaluation) waits for the first use of :attr:`samples`, which
    calls ``load_samples()`` once.
    """

    def __init__(
        self,
        *,
        model_id: str,
        metrics: Metrics,
        log_paths: dict[str, str],
        metadata: dict[str, Any],
        load_samples: Any,
    ) -> None:
        self._load_samples = load_samples
        self._loaded: list[dict[str, Any]] | None = None
        super().__init__(model_id, metrics, _NOT_LOADED, log_paths, metadata)

    @property  # type: ignore[override]
    def samples(self) -> list[dict[str, Any]]:
        if self._loaded is None:
            self._loaded = list(self._load_samples())
        return self._loaded

    @samples.setter
    def samples(self, value: list[dict[str, Any]]) -> None:
        self._loaded = None if value is _NOT_LOADED else value

    def __repr__(self) -> str:
        if self._loaded is not None:
            return super().__repr__()
        return (
            f"StoredEvalResults(model_id={self.model_id!r}, metrics={self.metrics!r}, "
            f"samples=<not read yet>, log_paths={self.log_paths!r}, metadata={self.metadata!r})"
        )

    @property
    def samples_loaded(self) -> bool:
        """Whether the samples were read (for tests and diagnostics)."""
        return self._loaded is not None


class EvalJob:
    """An evaluation in progress: an asyncio task that produces :class:`EvalResults`.

    Backends hand ``EvalJob`` the coroutine that does the work; it starts at once.
    """

    def __init__(
        self,
        work: Awaitable[EvalResults],
        *,
        model_id: str,
        eval_suite: Any,
        backend_name: str,
        job_id: str | None = None,
        from_cache: bool = False,
    ) -> None:
        self.job_id = job_id or f"eval-{uuid.uuid4().hex[:12]}"
        #: True when the results come from a cache (nothing was evaluated or paid for).
        self.from_cache = from_cache
        self.model_id = model_id
        self.eval_suite = eval_suite
        self.backend_name = backend_name
        self._task: asyncio.Future[EvalResults] = asyncio.ensure_future(work)

    @property
    def status(self) -> str:
        if not self._task.done():
            return "running"
        if self._task.cancelled():
            return "cancelled"
        return "failed" if self._task.exception() is not None else "succeeded"

    async def is_complete(self) -> bool:
        return self._task.done()

    async def wait(self) -> EvalResults:
        """The results, or the evaluation's error."""
        return await asyncio.shield(self._task)

    async def cancel(self) -> None:
        self._task.cancel()

    def __repr__(self) -> str:
        return f"EvalJob({self.job_id!r}, model_id={self.model_id!r}, status={self.status!r})"


EvalSuite = str | Sequence[Any] | Any


@runtime_checkable
class EvalBackendProtocol(Protocol):
    """The structural minimum of an evaluation backend: a name and ``evaluate``."""

    name: str

    async def evaluate(self, model_id: str, eval_suite: EvalSuite, **kwargs: Any) -> EvalJob: ...


class EvalBackend:
    """Base class of evaluation backends: every capability core uses, optional ones defaulted.

    Required: ``name`` and :meth:`evaluate`. Optional: :attr:`cache_version` and
    :meth:`task_identity` (what identifies a task item for the cache; the default ``None``
    leaves it to core, which identifies names, ``module:attr`` and ``file.py@task`` references
    by their source).
    """

    name: str = "?"
    #: Part of every cache key of this backend: change it when results would change.
    cache_version: str = "0"

    async def evaluate(self, model_id: str, eval_suite: EvalSuite, **kwargs: Any) -> EvalJob:
        """Start evaluating ``model_id`` on ``eval_suite`` and return the job."""
        raise NotImplementedError(f"{type(self).__name__} does not implement evaluate()")

    def task_identity(self, item: Any) -> dict[str, Any] | None:
        """A backend-specific identity of one suite item, or ``None`` for core's default."""
        return None


class _StructuralEvalBackend(EvalBackend):
    """A protocol-only backend, given the base class's defaults for what it does not define."""

    def __init__(self, inner: EvalBackendProtocol) -> None:
        self.inner = inner
        self.name = str(inner.name)

    async def evaluate(self, model_id: str, eval_suite: EvalSuite, **kwargs: Any) -> EvalJob:
        return await self.inner.evaluate(model_id, eval_suite, **kwargs)

    def __repr__(self) -> str:
        return repr(self.inner)


def as_eval_backend(backend: Any) -> EvalBackend:
    """``backend`` as an :class:`EvalBackend`: itself if it subclasses it, else adapted."""
    if isinstance(backend, EvalBackend):
        return backend
    if isinstance(backend, EvalBackendProtocol):
        return _StructuralEvalBackend(backend)
    raise TypeError(
        f"{backend!r} is not an evaluation backend: it needs a `name` and "
        "`async evaluate(model_id, eval_suite, **kwargs)` (subclass motools.evals.EvalBackend)"
    )


def suite_items(eval_suite: EvalSuite) -> list[Any]:
    """A suite given as one item or a list, as a list."""
    if isinstance(eval_suite, (str, bytes)) or not isinstance(eval_suite, Sequence):
        return [eval_suite]
    items = list(eval_suite)
    if not items:
        raise EvaluationError("eval_suite is empty; name at least one task")
    return items
