"""Datasets: ``JSONLDataset`` and OpenAI chat-format validation."""

from motools.datasets.jsonl import DatasetValidationError, JSONLDataset, read_jsonl
from motools.datasets.validation import Problem, validate_samples

__all__ = ["DatasetValidationError", "JSONLDataset", "Problem", "read_jsonl", "validate_samples"]
