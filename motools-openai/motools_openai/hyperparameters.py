"""Hyperparameters the OpenAI fine-tuning API accepts, as pydantic models that forbid extras.

Each value is a positive number or ``"auto"`` (OpenAI picks it from the dataset size). The
bounds are the ones in OpenAI's API description (``n_epochs`` 1-50, ``batch_size`` 1-256,
DPO ``beta`` in (0, 2]).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from motools.hyperparameters import normalise_hyperparameters, validate_hyperparameters

METHODS = ("supervised", "dpo")

Auto = Literal["auto"]


class SupervisedHyperparameters(BaseModel):
    """``method="supervised"`` (the default)."""

    model_config = ConfigDict(extra="forbid")
    n_epochs: Annotated[int, Field(ge=1, le=50)] | Auto = "auto"
    batch_size: Annotated[int, Field(ge=1, le=256)] | Auto = "auto"
    learning_rate_multiplier: Annotated[float, Field(gt=0)] | Auto = "auto"


class DPOHyperparameters(SupervisedHyperparameters):
    """``method="dpo"``: direct preference optimisation on preference pairs."""

    beta: Annotated[float, Field(gt=0, le=2)] | Auto = "auto"


def model_for(method: str) -> type[SupervisedHyperparameters]:
    from motools.errors import ValidationError

    if method == "supervised":
        return SupervisedHyperparameters
    if method == "dpo":
        return DPOHyperparameters
    raise ValidationError(f"openai backend: unknown method {method!r} (expected one of: {', '.join(METHODS)})")


def validate(hyperparameters: Mapping[str, Any] | None, method: str = "supervised") -> dict[str, Any]:
    """Checked hyperparameters as sent to OpenAI (``"auto"`` values left out)."""
    checked = validate_hyperparameters(model_for(method), hyperparameters, backend="openai")
    return {k: v for k, v in checked.model_dump().items() if v != "auto"}


def normalise(hyperparameters: Mapping[str, Any] | None, method: str = "supervised") -> dict[str, Any]:
    """Hyperparameters with defaults filled in and numbers canonical (for cache keys)."""
    return normalise_hyperparameters(model_for(method), hyperparameters, backend="openai")
