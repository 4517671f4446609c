"""The step plan of a hf run: core's :class:`motools.training.plan.Plan` with this
backend's own shuffle stream (the data order of runs started before the move is kept)."""

from __future__ import annotations

from dataclasses import dataclass

from motools.training.plan import Plan as _CorePlan
from motools.training.plan import micro_batches

ORDER_KEY = "motools-hf"


@dataclass(frozen=True)
class Plan(_CorePlan):
    order_key: str = ORDER_KEY


__all__ = ["ORDER_KEY", "Plan", "micro_batches"]
