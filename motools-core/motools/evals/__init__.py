"""Evaluation: the backend protocol, jobs and lossless results."""

from motools.evals.base import EvalBackend, EvalJob, EvalResults, Metrics, suite_items

__all__ = ["EvalBackend", "EvalJob", "EvalResults", "Metrics", "suite_items"]
