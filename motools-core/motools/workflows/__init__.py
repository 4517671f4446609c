"""Workflows: DAGs of cached steps, configured from YAML; ``train_and_evaluate`` is built in."""

from motools.workflows.config import load_yaml
from motools.workflows.core import (
    Step,
    StepContext,
    StepResult,
    Workflow,
    WorkflowError,
    WorkflowResult,
    get_workflow,
    run_workflow,
)

__all__ = [
    "Step",
    "StepContext",
    "StepResult",
    "Workflow",
    "WorkflowError",
    "WorkflowResult",
    "get_workflow",
    "load_yaml",
    "run_workflow",
]
