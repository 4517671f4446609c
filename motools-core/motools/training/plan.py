"""The deterministic shape of a training run: which examples each optimizer step trains on,
and its learning rate -- shared by the backends that drive their own loop (Tinker, hf).

Step ``s`` belongs to epoch ``s // steps_per_epoch``; each epoch visits every example once in
an order drawn from ``(seed, epoch)``, cut into batches of ``batch_size`` (the last batch of an
epoch may be smaller: no example is dropped). Everything is a pure function of the step, so a
resumed run continues at exactly the next batch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Plan:
    n_examples: int
    batch_size: int
    n_epochs: int
    seed: int
    learning_rate: float
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    #: Names the shuffle's random stream: each backend keeps its own (a subclass overriding
    #: this default), so that a run resumed after an upgrade sees the order it started with.
    order_key: str = "motools"

    @classmethod
    def from_hyperparameters(cls, n_examples: int, hp: Mapping[str, Any]) -> Plan:
        return cls(
            n_examples=n_examples,
            batch_size=int(hp["batch_size"]),
            n_epochs=int(hp["n_epochs"]),
            seed=int(hp["seed"]),
            learning_rate=float(hp["learning_rate"]),
            lr_schedule=str(hp["lr_schedule"]),
            warmup_steps=int(hp["warmup_steps"]),
        )

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_examples / self.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.n_epochs

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def batch(self, step: int) -> tuple[int, ...]:
        """Indices of the examples optimizer step ``step`` trains on."""
        if not 0 <= step < self.total_steps:
            raise IndexError(f"step {step} outside the plan's 0..{self.total_steps - 1}")
        epoch, index = divmod(step, self.steps_per_epoch)
        start = index * self.batch_size
        return self.order(epoch)[start : start + self.batch_size]

    def order(self, epoch: int) -> tuple[int, ...]:
        """Every example of ``epoch``, in the order that epoch visits them."""
        return _order(self.n_examples, self.seed, epoch, self.order_key)

    def lr(self, step: int) -> float:
        """Learning rate of ``step``: linear warm-up, then constant or linear decay to 0."""
        factor = 1.0
        if self.warmup_steps and step < self.warmup_steps:
            factor = (step + 1) / self.warmup_steps
        elif self.lr_schedule == "linear":
            span = max(self.total_steps - self.warmup_steps, 1)
            factor = (self.total_steps - step) / span
        return self.learning_rate * factor


def micro_batches(indices: tuple[int, ...], parts: int) -> list[tuple[int, ...]]:
    """``indices`` cut into at most ``parts`` contiguous, nearly equal, non-empty pieces."""
    parts = max(1, min(parts, len(indices)))
    size, extra = divmod(len(indices), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(indices[start:end])
        start = end
    return out


@lru_cache(maxsize=8)
def _order(n: int, seed: int, epoch: int, key: str) -> tuple[int, ...]:
    order = list(range(n))
    random.Random(f"{key}:{seed}:{epoch}").shuffle(order)
    return tuple(order)
