"""Evaluation: the backend base class and protocol, jobs and lossless results."""

from motools.evals.base import (
    EvalBackend,
    EvalBackendProtocol,
    EvalJob,
    EvalResults,
    Metrics,
    as_eval_backend,
    suite_items,
)

__all__ = [
    "EvalBackend",
    "EvalBackendProtocol",
    "EvalJob",
    "EvalResults",
    "Metrics",
    "as_eval_backend",
    "suite_items",
]
