"""Read Inspect ``EvalLog`` objects into motools' lossless metrics and per-sample records.

* metrics: ``{task: {scorer: {metric: value}}}`` -- every scorer Inspect reports (by its
  name in the log, so two ``match`` scorers stay ``match`` and ``match1``), every metric of
  each (``accuracy``, ``stderr``, custom ones), never flattened
* samples: one record per (task, sample, epoch) with ``task``, ``id``, ``epoch``, ``input``
  (text, or a list of ``{role, content}`` for chat input), ``target``, ``output`` (the
  completion), ``scores`` (``{scorer: float}`` by Inspect's value-to-float convention, ``None``
  where a value has no numeric reading), ``raw_scores`` (``{scorer: value as scored}``), ``answers`` (``{scorer: extracted answer}``),
  ``error`` when the sample failed, and the sample ``metadata``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motools.errors import EvaluationError
from motools.evals.base import EvalResults

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog, EvalSample


def check_log(log: EvalLog, model_id: str) -> None:
    """Raise :class:`EvaluationError` with Inspect's own message unless the log succeeded."""
    if log.status == "success":
        return
    message = log.error.message if log.error is not None else f"status {log.status!r}"
    where = f" Inspect log: {log.location}" if log.location else ""
    raise EvaluationError(
        f"Inspect evaluation of task {log.eval.task!r} on model {model_id!r} "
        f"({log.eval.model}) ended with status {log.status!r}: {message}.{where}"
    )


def log_metrics(log: EvalLog) -> dict[str, dict[str, float]]:
    """``{scorer: {metric: value}}`` of one log."""
    scorers: dict[str, dict[str, float]] = {}
    if log.results is None:
        return scorers
    for score in log.results.scores:
        metrics = scorers.setdefault(score.name, {})
        for name, metric in score.metrics.items():
            metrics[name] = metric.value
    return scorers


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "model_dump"):
        return _jsonable(value.model_dump(mode="json", exclude_none=True))
    return str(value)


def _input(sample: EvalSample) -> Any:
    if isinstance(sample.input, str):
        return sample.input
    return [{"role": m.role, "content": m.text} for m in sample.input]


def sample_record(sample: EvalSample) -> dict[str, Any]:
    """The motools record of one Inspect sample (without the ``task`` key)."""
    scores = sample.scores or {}
    record: dict[str, Any] = {
        "id": sample.id,
        "epoch": sample.epoch,
        "input": _input(sample),
        "target": sample.target,
        "output": sample.output.completion if sample.output else "",
        "scores": {
            key: number
            for name, score in scores.items()
            for key, number in EvalResults.numeric_scores(name, score.value).items()
        },
        "raw_scores": {name: _jsonable(score.value) for name, score in scores.items()},
        "answers": {name: score.answer for name, score in scores.items()},
        "metadata": _jsonable(sample.metadata),
    }
    if sample.error is not None:
        record["error"] = sample.error.message
    return record


def _order(record: dict[str, Any]) -> tuple[Any, ...]:
    sample_id = record["id"]
    return (record["epoch"], isinstance(sample_id, str), sample_id)


def task_records(records: list[dict[str, Any]], task_key: str) -> list[dict[str, Any]]:
    """``records`` of one task, tagged with ``task`` and sorted by (epoch, sample id)."""
    ordered = sorted(records, key=_order)
    return [{"task": task_key, **record} for record in ordered]


def sample_records(log: EvalLog, task_key: str) -> list[dict[str, Any]]:
    """Records of every sample in ``log`` (reads them from the log file if needed)."""
    return task_records([sample_record(s) for s in log.samples or []], task_key)


def log_summary(log: EvalLog) -> dict[str, Any]:
    """What the results' metadata keeps about one log (JSON, no secrets)."""
    usage = {model: _jsonable(u) for model, u in (log.stats.model_usage or {}).items()}
    results = log.results
    return {
        "task": log.eval.task,
        "inspect_run_id": log.eval.run_id,
        "inspect_eval_id": log.eval.eval_id,
        "task_version": log.eval.task_version,
        "task_args": _jsonable(log.eval.task_args),
        "inspect_model": log.eval.model,
        "dataset": log.eval.dataset.name,
        "dataset_location": log.eval.dataset.location,
        "total_samples": results.total_samples if results else 0,
        "completed_samples": results.completed_samples if results else 0,
        "model_usage": usage,
        "started_at": log.stats.started_at,
        "completed_at": log.stats.completed_at,
    }


def unique_key(name: str, taken: set[str]) -> str:
    """``name``, or ``name#2``, ``name#3``... when a suite evaluates the same task twice."""
    key, n = name, 1
    while key in taken:
        n += 1
        key = f"{name}#{n}"
    taken.add(key)
    return key
