"""Exceptions raised by motools. Every message says what was wrong, where, and what to do."""

from __future__ import annotations


class MotoolsError(Exception):
    """Base class for every error motools raises on purpose."""


class UnknownBackendError(MotoolsError, LookupError):
    """A backend (or dataset, task, workflow) name that no installed plugin registers."""

    def __init__(self, message: str, *, name: str, kind: str, available: list[str]) -> None:
        super().__init__(message)
        self.name = name
        self.kind = kind
        self.available = available


class PluginLoadError(MotoolsError, ImportError):
    """A plugin failed to import; the original error is chained as ``__cause__``."""


class ValidationError(MotoolsError, ValueError):
    """Input rejected before anything was uploaded or paid for."""


class HyperparameterError(ValidationError):
    """Hyperparameters that the chosen backend does not accept."""


class TrainingError(MotoolsError):
    """A training job failed or was cancelled."""

    def __init__(self, message: str, *, job_id: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.code = code


class EvaluationError(MotoolsError):
    """An evaluation failed; never returned as results with empty metrics."""


class RoutingError(MotoolsError, LookupError):
    """No plugin knows how an evaluation backend should address a model id."""
