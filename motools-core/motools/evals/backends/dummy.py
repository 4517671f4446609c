"""The dummy evaluation backend: deterministic per (model id, task), instant and free."""

from __future__ import annotations

import asyncio
import hashlib
import math
from typing import Any

from motools.errors import EvaluationError
from motools.evals.base import EvalBackend, EvalJob, EvalResults, EvalSuite, suite_items

NAME = "dummy"
DEFAULT_SAMPLES = 10


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _task_name(item: Any) -> str:
    if isinstance(item, str):
        if not item.strip():
            raise EvaluationError("dummy backend: empty task name")
        return item
    name = getattr(item, "name", None) or getattr(item, "__name__", None)
    if not name:
        raise EvaluationError(f"dummy backend: cannot name task {item!r}")
    return str(name)


class DummyEvalBackend(EvalBackend):
    """Scores each sample by a hash of (model id, task, sample): same inputs, same metrics."""

    name = NAME

    def __init__(self, samples: int = DEFAULT_SAMPLES, delay: float = 0.0) -> None:
        self.samples = samples
        #: Seconds an evaluation takes (for tests of processes killed mid-evaluation).
        self.delay = float(delay)

    async def evaluate(
        self, model_id: str, eval_suite: EvalSuite, *, limit: int | None = None, **kwargs: Any
    ) -> EvalJob:
        tasks = [_task_name(t) for t in suite_items(eval_suite)]
        n = limit if limit is not None else self.samples
        if n <= 0:
            raise EvaluationError(f"dummy backend: limit must be positive, got {limit}")
        return EvalJob(
            self._run(model_id, tasks, n), model_id=model_id, eval_suite=tasks, backend_name=NAME
        )

    async def _run(self, model_id: str, tasks: list[str], n: int) -> EvalResults:
        await asyncio.sleep(self.delay)
        metrics: dict[str, dict[str, dict[str, float]]] = {}
        samples: list[dict[str, Any]] = []
        for task in tasks:
            skill = _unit(model_id, task)
            scores = []
            for i in range(n):
                score = 1.0 if _unit(model_id, task, i) < skill else 0.0
                scores.append(score)
                samples.append(
                    {
                        "task": task,
                        "id": i + 1,
                        "epoch": 1,
                        "input": f"{task} question {i + 1}",
                        "target": "yes",
                        "output": "yes" if score else "no",
                        "scores": {"match": score},
                    }
                )
            mean = sum(scores) / n
            stderr = math.sqrt(mean * (1 - mean) / (n - 1)) if n > 1 else 0.0
            metrics[task] = {"match": {"accuracy": mean, "stderr": stderr}}
        return EvalResults(
            model_id=model_id, metrics=metrics, samples=samples, metadata={"backend": NAME}
        )
