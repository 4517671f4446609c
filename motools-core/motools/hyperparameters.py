"""Hyperparameter validation shared by every backend: pydantic models, errors naming fields.

Hyperparameters are validated once, where they enter (a workflow config being loaded, a
``train()`` call), and carried afterwards as :class:`Hyperparameters`: the normalised dict
(defaults filled, numbers canonical: the form cache keys use) together with the validated
pydantic object. Validating a :class:`Hyperparameters` again against the same model returns
it unchanged, so later layers (the cache, the backend's ``train``) never validate twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from motools.errors import HyperparameterError, format_validation_errors

if TYPE_CHECKING:  # keeps pydantic out of `import motools`
    from pydantic import BaseModel

M = TypeVar("M", bound="BaseModel")

#: How many times hyperparameters were validated against a typed model (for tests).
VALIDATIONS = {"count": 0}


class Hyperparameters(dict[str, Any]):
    """Validated hyperparameters: the normalised dict, plus the validated ``model`` object."""

    def __init__(self, normalised: Mapping[str, Any], validated: BaseModel, backend: str) -> None:
        super().__init__(normalised)
        self.validated = validated
        self.backend = backend

    def __reduce__(self) -> Any:  # pickles and copies as a plain dict
        return (dict, (dict(self),))


def validate_hyperparameters(
    model: type[M], hyperparameters: Mapping[str, Any] | None, *, backend: str
) -> M:
    """Validate ``hyperparameters`` against ``model`` (which should forbid extra keys).

    Raises :class:`HyperparameterError` listing every bad field, the value given and what
    the backend accepts -- before anything is uploaded or paid for. A value that was already
    validated against ``model`` is returned without validating again.
    """
    import pydantic

    if isinstance(hyperparameters, Hyperparameters) and isinstance(
        hyperparameters.validated, model
    ):
        return hyperparameters.validated
    if isinstance(hyperparameters, model):
        return hyperparameters
    if hyperparameters is not None and not isinstance(hyperparameters, Mapping):
        raise HyperparameterError(
            f"{backend}: hyperparameters must be a mapping, got {type(hyperparameters).__name__}"
        )
    VALIDATIONS["count"] += 1
    try:
        return model.model_validate(dict(hyperparameters or {}))
    except pydantic.ValidationError as exc:
        allowed = ", ".join(model.model_fields)
        raise HyperparameterError(
            format_validation_errors(
                exc,
                f"Invalid hyperparameters for the {backend} backend:",
                unknown=f"unknown hyperparameter (accepted: {allowed})",
            )
        ) from None


def normalise_hyperparameters(
    model: type[BaseModel], hyperparameters: Mapping[str, Any] | None, *, backend: str
) -> Hyperparameters:
    """Validated hyperparameters with defaults filled in and numbers made canonical."""
    if (
        isinstance(hyperparameters, Hyperparameters)
        and isinstance(hyperparameters.validated, model)
        and hyperparameters.backend == backend
    ):
        return hyperparameters
    validated = validate_hyperparameters(model, hyperparameters, backend=backend)
    normalised = {k: canonical_number(v) for k, v in validated.model_dump(mode="json").items()}
    return Hyperparameters(normalised, validated, backend)


def canonical_number(value: Any) -> Any:
    """``3.0`` -> ``3``; other values unchanged (so equal numbers hash equally)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
