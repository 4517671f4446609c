"""The hyperparameters the Tinker backend accepts, validated before anything is paid for.

:class:`TinkerHyperparameters` is the one definition: ``train()`` validates the user's
mapping into it once, the run state carries it (typed), and the cache's key uses
:func:`normalise` (the same model, dumped with defaults filled in and numbers canonical).
Only the backend and the run import this module, so pydantic is imported here directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from motools.hyperparameters import (
    canonical_number,
    normalise_hyperparameters,
    validate_hyperparameters,
)

NAME = "tinker"


class TinkerHyperparameters(BaseModel):
    """LoRA supervised fine-tuning on Tinker.

    ``train_on``: which assistant messages carry loss (per-message ``weight: 0`` is always
    respected). ``max_length``: the longest rendered conversation in tokens; longer ones
    are rejected (``on_too_long="reject"``, the default) or cut (``"truncate"``).
    ``lr_schedule``: ``constant`` or ``linear`` decay to zero at the last step, after
    ``warmup_steps`` of linear warm-up. ``seed``: data order and LoRA initialisation.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_epochs: int = Field(default=1, ge=1, le=1000)
    batch_size: int = Field(default=8, ge=1, le=4096)
    learning_rate: float = Field(default=1e-4, gt=0, le=1.0)
    lora_rank: int = Field(default=32, ge=1, le=512)
    lr_schedule: Literal["constant", "linear"] = "constant"
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = Field(default=0.0, ge=0)
    grad_clip_norm: float = Field(default=0.0, ge=0)
    seed: int = Field(default=0, ge=0)
    train_on: Literal["all_assistant", "last_assistant"] = "all_assistant"
    max_length: int | None = Field(default=None, ge=2)
    on_too_long: Literal["reject", "truncate"] = "reject"

    @model_validator(mode="before")
    @classmethod
    def _no_bools(cls, data: Any) -> Any:
        # pydantic would read True as 1 for an int field: refuse it with the field name.
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, bool):
                    raise ValueError(f"{key} must be a number, got {value!r}")
        return data

    def canonical(self) -> dict[str, Any]:
        """Every field, defaults included, as JSON with equal numbers written alike (3.0 -> 3)."""
        return {k: canonical_number(v) for k, v in self.model_dump(mode="json").items()}


def hyperparameter_model() -> type[TinkerHyperparameters]:
    """The pydantic model of the Tinker backend's hyperparameters."""
    return TinkerHyperparameters


def validate(hyperparameters: Mapping[str, Any] | None) -> TinkerHyperparameters:
    """``hyperparameters`` checked against :class:`TinkerHyperparameters` (errors name fields)."""
    return validate_hyperparameters(TinkerHyperparameters, hyperparameters, backend=NAME)


def normalise(hyperparameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validated hyperparameters with defaults filled in and numbers made canonical."""
    return normalise_hyperparameters(TinkerHyperparameters, hyperparameters, backend=NAME)
