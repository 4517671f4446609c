"""Training: the backend base class and protocol, the run base class and run statuses."""

from motools.training.base import (
    CANCELLED,
    FAILED,
    PENDING,
    QUEUED,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    TERMINAL_STATUSES,
    TrainingBackend,
    TrainingBackendProtocol,
    TrainingRun,
    as_training_backend,
)

__all__ = [
    "CANCELLED",
    "FAILED",
    "PENDING",
    "QUEUED",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "TERMINAL_STATUSES",
    "TrainingBackend",
    "TrainingBackendProtocol",
    "TrainingRun",
    "as_training_backend",
]
