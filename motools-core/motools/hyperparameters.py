"""Hyperparameter validation shared by every backend: pydantic models, errors naming fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from motools.errors import HyperparameterError

if TYPE_CHECKING:  # keeps pydantic out of `import motools`
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")


def validate_hyperparameters(
    model: type[M], hyperparameters: Mapping[str, Any] | None, *, backend: str
) -> M:
    """Validate ``hyperparameters`` against ``model`` (which should forbid extra keys).

    Raises :class:`HyperparameterError` listing every bad field, the value given and what
    the backend accepts -- before anything is uploaded or paid for.
    """
    import pydantic

    if hyperparameters is not None and not isinstance(hyperparameters, Mapping):
        raise HyperparameterError(
            f"{backend}: hyperparameters must be a mapping, got {type(hyperparameters).__name__}"
        )
    try:
        return model.model_validate(dict(hyperparameters or {}))
    except pydantic.ValidationError as exc:
        allowed = ", ".join(model.model_fields)
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "(root)"
            if err["type"] == "extra_forbidden":
                lines.append(f"  {field}: unknown hyperparameter (accepted: {allowed})")
            else:
                lines.append(f"  {field}: {err['msg']} (got {err.get('input')!r})")
        raise HyperparameterError(
            f"Invalid hyperparameters for the {backend} backend:\n" + "\n".join(lines)
        ) from None


def normalise_hyperparameters(
    model: type[BaseModel], hyperparameters: Mapping[str, Any] | None, *, backend: str
) -> dict[str, Any]:
    """Validated hyperparameters with defaults filled in and numbers made canonical."""
    validated = validate_hyperparameters(model, hyperparameters, backend=backend)
    return {k: canonical_number(v) for k, v in validated.model_dump(mode="json").items()}


def canonical_number(value: Any) -> Any:
    """``3.0`` -> ``3``; other values unchanged (so equal numbers hash equally)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
