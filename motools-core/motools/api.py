"""High-level helpers: train and evaluate by backend name, through the cache by default."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset
    from motools.evals import EvalJob
    from motools.training import TrainingRun


async def train(
    dataset: JSONLDataset,
    model: str,
    *,
    backend: str = "dummy",
    hyperparameters: Mapping[str, Any] | None = None,
    suffix: str | None = None,
    cache: bool = True,
    backend_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> TrainingRun:
    """Submit (or, with ``cache=True``, find or re-attach to) a training job; return its run."""
    from motools.plugins import get_training_backend

    impl = get_training_backend(backend, cache=cache, **dict(backend_options or {}))
    return await impl.train(dataset, model, hyperparameters, suffix, **kwargs)


async def evaluate(
    model_id: str,
    eval_suite: Any,
    *,
    backend: str = "dummy",
    cache: bool = True,
    backend_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> EvalJob:
    """Start (or, with ``cache=True``, reuse) an evaluation; return its job."""
    from motools.plugins import get_eval_backend

    impl = get_eval_backend(backend, cache=cache, **dict(backend_options or {}))
    return await impl.evaluate(model_id, eval_suite, **kwargs)
