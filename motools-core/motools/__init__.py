"""motools: train and evaluate model organisms with swappable backends.

``import motools`` is light: plugins load on the first lookup, and pydantic, pandas and the
backend SDKs are imported only when something needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motools._lazy import lazy_exports
from motools.hookspecs import hookimpl

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    # plugins
    "get_training_backend": "motools.api",
    "get_eval_backend": "motools.api",
    "list_training_backends": "motools.plugins",
    "list_eval_backends": "motools.plugins",
    "list_datasets": "motools.plugins",
    "list_tasks": "motools.plugins",
    "list_workflows": "motools.plugins",
    "list_plugins": "motools.plugins",
    "get_plugin_manager": "motools.plugins",
    "register_plugin": "motools.plugins",
    "unregister_plugin": "motools.plugins",
    "route_model": "motools.plugins",
    # where state lives
    "home": "motools.paths",
    # high-level helpers
    "train": "motools.api",
    "evaluate": "motools.api",
    # errors
    "MotoolsError": "motools.errors",
    "UnknownBackendError": "motools.errors",
    "PluginLoadError": "motools.errors",
    "ValidationError": "motools.errors",
    "HyperparameterError": "motools.errors",
    "TrainingError": "motools.errors",
    "EvaluationError": "motools.errors",
    "RoutingError": "motools.errors",
    # primitives
    "JSONLDataset": "motools.datasets",
    "DatasetValidationError": "motools.datasets",
    "TrainingBackend": "motools.training",
    "TrainingRun": "motools.training",
    "resume_run": "motools.api",
    "Composer": "motools.api",
    "EvalBackend": "motools.evals",
    "EvalJob": "motools.evals",
    "EvalResults": "motools.evals",
}

__all__ = ["__version__", "hookimpl", *_LAZY]


__getattr__, __dir__ = lazy_exports("motools", _LAZY, globals())


if TYPE_CHECKING:
    from motools.api import (
        Composer,
        evaluate,
        get_eval_backend,
        get_training_backend,
        resume_run,
        train,
    )
    from motools.datasets import DatasetValidationError, JSONLDataset
    from motools.errors import (
        EvaluationError,
        HyperparameterError,
        MotoolsError,
        PluginLoadError,
        RoutingError,
        TrainingError,
        UnknownBackendError,
        ValidationError,
    )
    from motools.evals import EvalBackend, EvalJob, EvalResults
    from motools.paths import home
    from motools.plugins import (
        get_plugin_manager,
        list_datasets,
        list_eval_backends,
        list_plugins,
        list_tasks,
        list_training_backends,
        list_workflows,
        register_plugin,
        route_model,
        unregister_plugin,
    )
    from motools.training import TrainingBackend, TrainingRun
