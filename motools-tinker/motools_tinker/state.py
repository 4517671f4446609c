"""The typed, JSON-serialisable state of a Tinker run: what ``to_state()`` returns and
``backend.resume(state)`` accepts, and what the run's ``state.json`` holds.

It carries no secret and no client: only what another process needs to continue the run
(where its data and files are, the validated hyperparameters, how far it got, its last
checkpoint, its loss curve). State dicts written before this model existed have the same
keys and load unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from motools.errors import ValidationError
from motools.training.base import PENDING
from motools_tinker.hyperparameters import TinkerHyperparameters
from motools_tinker.plan import Plan

NAME = "tinker"
STATE_VERSION = 1


class Checkpoint(BaseModel):
    """A ``save_state`` checkpoint (weights and optimizer state) and the step it follows."""

    model_config = ConfigDict(extra="ignore")

    path: str
    step: int
    epoch: int
    saved_at: str
    expires_at: str | None = None


class LossPoint(BaseModel):
    """One optimizer step of the loss curve."""

    model_config = ConfigDict(extra="ignore", ser_json_inf_nan="constants")

    step: int
    epoch: int
    loss: float
    learning_rate: float
    examples: int
    trained_tokens: int
    finished_at: float


class TinkerRunState(BaseModel):
    """Everything a process needs to follow or continue a Tinker run.

    ``step``/``epoch`` are those of the last checkpoint (the loop's live progress is the
    run's ``step``); ``data_order_seed`` with the hyperparameters fixes every batch, so a
    resumed run continues at exactly the next one.
    """

    model_config = ConfigDict(
        extra="ignore", validate_assignment=True, ser_json_inf_nan="constants"
    )

    version: int = STATE_VERSION
    backend: Literal["tinker"] = "tinker"
    job_id: str = Field(min_length=1)
    status: str = PENDING
    model_id: str | None = None
    error: str | None = None
    error_code: str | None = None
    base_model: str
    suffix: str | None = None
    hyperparameters: TinkerHyperparameters
    tokenizer: str | None = None
    max_length: int | None = None
    dataset_path: str
    dataset_hash: str
    render_hash: str
    n_examples: int
    steps_per_epoch: int
    total_steps: int
    data_order_seed: int
    step: int = 0
    epoch: int = 0
    checkpoint: Checkpoint | None = None
    sampler_path: str | None = None
    loss_curve: list[LossPoint] = Field(default_factory=list)
    restarts: int = 0
    run_dir: str
    state_path: str
    created_at: str
    updated_at: str | None = None

    @field_serializer("hyperparameters")
    def _canonical_hyperparameters(self, hp: TinkerHyperparameters) -> dict[str, Any]:
        return hp.canonical()

    # -- JSON -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The state as a JSON-serialisable dict (``json.dumps`` writes it as it is)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TinkerRunState:
        """Validate a state dict; a :class:`ValidationError` names every bad or missing field."""
        import pydantic

        if data.get("backend") != NAME:
            raise ValidationError(f"state belongs to backend {data.get('backend')!r}, not tinker")
        try:
            return cls.model_validate(dict(data))
        except pydantic.ValidationError as exc:
            missing = [
                ".".join(str(p) for p in e["loc"]) for e in exc.errors() if e["type"] == "missing"
            ]
            if missing:
                raise ValidationError(f"tinker run state is missing {', '.join(missing)}") from None
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                for e in exc.errors()
            )
            raise ValidationError(f"tinker run state is invalid: {details}") from None

    @classmethod
    def read(cls, path: str | Path) -> TinkerRunState:
        """The state saved in the JSON file ``path``."""
        return cls.from_json(json.loads(Path(path).read_text()))

    @classmethod
    def newest(cls, state: Mapping[str, Any] | str | Path) -> TinkerRunState:
        """The newest record of a run given its state (a dict, or the path of its state file).

        The state file is the newest record, whoever wrote it: a dict that names a readable
        state file gives way to that file.
        """
        data: Mapping[str, Any] = (
            state if isinstance(state, Mapping) else json.loads(Path(state).read_text())
        )
        path = data.get("state_path")
        if isinstance(path, str) and Path(path).exists():
            try:
                on_disk = json.loads(Path(path).read_text())
            except (OSError, ValueError):
                on_disk = None
            if isinstance(on_disk, Mapping):
                data = on_disk
        return cls.from_json(data)

    # -- derived ----------------------------------------------------------------------------
    def plan(self) -> Plan:
        """Which examples each step trains on, and its learning rate."""
        hp = self.hyperparameters
        return Plan(
            n_examples=self.n_examples,
            batch_size=hp.batch_size,
            n_epochs=hp.n_epochs,
            seed=self.data_order_seed,
            learning_rate=hp.learning_rate,
            lr_schedule=hp.lr_schedule,
            warmup_steps=hp.warmup_steps,
        )
