"""Training: the backend protocol, the run base class and run statuses."""

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
    TrainingRun,
    resume_run,
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
    "TrainingRun",
    "resume_run",
]
