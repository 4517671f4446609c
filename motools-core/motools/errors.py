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


class ServiceUnreachableError(MotoolsError, ConnectionError):
    """A service could not be reached after a bounded number of retries.

    The message names the service and its host (never a key) and what to check.
    """

    def __init__(self, message: str, *, service: str = "", url: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.url = url


class RoutingError(MotoolsError, LookupError):
    """No plugin knows how an evaluation backend should address a model id."""


def format_validation_errors(exc: object, header: str, *, unknown: str = "unknown key") -> str:
    """``header`` then one line per problem of a pydantic ``ValidationError``.

    Each line says where (the dotted field), what was wrong and the value given; values are
    shortened, so a huge input is never echoed whole.
    """
    lines = [header]
    for err in exc.errors():  # type: ignore[attr-defined]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {where}: {unknown}")
        else:
            lines.append(f"  {where}: {err['msg']} (got {short_repr(err.get('input'))})")
    return "\n".join(lines)


def short_repr(value: object, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
