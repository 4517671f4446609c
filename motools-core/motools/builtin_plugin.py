"""The built-in plugin: registers the dummy backends through the same hooks as any plugin."""

from __future__ import annotations

from motools.hookspecs import hookimpl


@hookimpl
def register_training_backends(register):
    register(
        "dummy",
        "motools.training.backends.dummy:DummyTrainingBackend",
        description="Instant, deterministic, free training for examples and tests",
    )


@hookimpl
def register_eval_backends(register):
    register(
        "dummy",
        "motools.evals.backends.dummy:DummyEvalBackend",
        description="Instant, deterministic, free evaluation for examples and tests",
    )


@hookimpl
def register_workflows(register):
    register(
        "train_and_evaluate",
        "motools.workflows.builtin:train_and_evaluate",
        description="prepare a dataset, train on it, wait, and evaluate the trained model",
    )
    register(
        "evaluate_only",
        "motools.workflows.builtin:evaluate_only",
        description="evaluate an existing model on tasks",
    )


@hookimpl
def route_model(model_id: str, eval_backend: str) -> str | None:
    # The dummy evaluator scores any id; other evaluators address dummy models as they are.
    if eval_backend == "dummy" or model_id.startswith("dummy/"):
        return model_id
    return None
