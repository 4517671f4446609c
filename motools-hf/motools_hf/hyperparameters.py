"""The hyperparameters the hf backend accepts, validated before any model is loaded."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from motools.hyperparameters import normalise_hyperparameters, validate_hyperparameters

NAME = "hf"


@cache
def hyperparameter_model() -> Any:
    """The pydantic model (built on first use so that importing this module stays light)."""
    from typing import Literal

    from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

    class HFHyperparameters(BaseModel):
        """LoRA supervised fine-tuning with transformers + peft.

        ``batch_size`` examples make one optimizer step; ``gradient_accumulation_steps``
        splits them into that many forward/backward passes (a memory knob: the loss is
        normalised over all trained tokens of the step, so the update is the same).
        ``train_on``: which assistant messages carry loss (per-message ``weight: 0`` is
        always respected). ``max_length``: the longest rendered conversation in tokens;
        longer ones are rejected (``on_too_long="reject"``) or cut (``"truncate"``).
        ``lr_schedule``: ``constant`` or ``linear`` decay to zero, after ``warmup_steps`` of
        linear warm-up. ``seed``: data order and LoRA initialisation. ``target_modules``:
        module names to adapt, or ``"all-linear"``. ``checkpoint_every``: optimizer steps
        between checkpoints (adapter, optimizer and random state) a crashed run resumes from.
        """

        model_config = ConfigDict(extra="forbid")

        n_epochs: int = Field(default=1, ge=1, le=1000)
        batch_size: int = Field(default=8, ge=1, le=4096)
        gradient_accumulation_steps: int = Field(default=1, ge=1, le=4096)
        learning_rate: float = Field(default=1e-4, gt=0, le=1.0)
        lora_rank: int = Field(default=16, ge=1, le=1024)
        lora_alpha: float = Field(default=32, gt=0)
        lora_dropout: float = Field(default=0.0, ge=0, lt=1)
        target_modules: list[str] | Literal["all-linear"] = "all-linear"
        lr_schedule: Literal["constant", "linear"] = "constant"
        warmup_steps: int = Field(default=0, ge=0)
        weight_decay: float = Field(default=0.0, ge=0)
        grad_clip_norm: float = Field(default=1.0, ge=0)
        seed: int = Field(default=0, ge=0)
        train_on: Literal["all_assistant", "last_assistant"] = "all_assistant"
        max_length: int | None = Field(default=2048, ge=2)
        on_too_long: Literal["reject", "truncate"] = "reject"
        checkpoint_every: int = Field(default=20, ge=1)

        @model_validator(mode="before")
        @classmethod
        def _no_bools(cls, data: Any) -> Any:
            # pydantic would read True as 1 for an int field: refuse it with the field name.
            if isinstance(data, dict):
                for key, value in data.items():
                    if isinstance(value, bool):
                        raise ValueError(f"{key} must be a number, got {value!r}")
            return data

        @field_validator("target_modules")
        @classmethod
        def _modules(cls, value: Any) -> Any:
            if isinstance(value, list):
                if not value or not all(isinstance(v, str) and v.strip() for v in value):
                    raise ValueError("target_modules must be a non-empty list of module names")
                return sorted(set(value))
            return value

        @model_validator(mode="after")
        def _accumulation(self) -> Any:
            if self.gradient_accumulation_steps > self.batch_size:
                raise ValueError(
                    f"gradient_accumulation_steps ({self.gradient_accumulation_steps}) cannot "
                    f"exceed batch_size ({self.batch_size}): each pass needs an example"
                )
            return self

    return HFHyperparameters


def validate(hyperparameters: Mapping[str, Any] | None) -> Any:
    return validate_hyperparameters(hyperparameter_model(), hyperparameters, backend=NAME)


def normalise(hyperparameters: Mapping[str, Any] | None) -> dict[str, Any]:
    return normalise_hyperparameters(hyperparameter_model(), hyperparameters, backend=NAME)
