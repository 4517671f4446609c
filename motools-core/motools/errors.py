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
    merged: list[tuple[str, str, dict]] = []  # (where, type, first error), union branches joined
    for err in exc.errors():  # type: ignore[attr-defined]
        loc = tuple(err["loc"])
        if len(loc) >= 2 and _is_union_tag(loc[-1]):
            where = ".".join(str(p) for p in loc[:-1])
            msg = str(err["msg"])
            if merged and merged[-1][0] == where and merged[-1][1] == "union":
                merged[-1] = (
                    where,
                    "union",
                    {**merged[-1][2], "msg": f"{merged[-1][2]['msg']} or {msg}"},
                )
                continue
            merged.append((where, "union", {**err, "msg": msg}))
            continue
        merged.append((".".join(str(p) for p in loc) or "(top level)", err["type"], err))
    for where, kind, err in merged:
        if kind == "extra_forbidden":
            lines.append(f"  {where}: {unknown}")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"  {where}: {msg} (got {short_repr(err.get('input'))})")
    return "\n".join(lines)


_TYPE_TAGS = {"int", "str", "float", "bool", "bytes", "none", "list", "dict", "tuple", "set"}


def _is_union_tag(part: object) -> bool:
    """Whether a pydantic error location part names a union member (``constrained-int``,
    ``literal['auto']``, ``str``) rather than a field."""
    return isinstance(part, str) and (part in _TYPE_TAGS or any(c in part for c in "-[]',"))


def short_repr(value: object, limit: int = 200) -> str:
    """``repr(value)``, cut to ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
