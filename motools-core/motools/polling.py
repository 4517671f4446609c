"""Capped exponential backoff with jitter, shared by every backend that polls or retries."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Backoff:
    """Delays that grow from ``initial`` by ``factor`` up to ``maximum``, with +/- ``jitter``.

    ``minimum`` is a floor no delay goes under, whatever the jitter: a poll loop built on this
    never asks more often than every ``minimum`` seconds.
    """

    initial: float = 5.0
    maximum: float = 60.0
    factor: float = 1.5
    jitter: float = 0.2
    minimum: float | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)
    _current: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._current = self.initial

    @classmethod
    def from_policy(cls, policy: Mapping[str, float], **overrides: Any) -> Backoff:
        """A backoff from ``{"initial": s, "maximum": s, "factor": f, ...}``."""
        known = {"initial", "maximum", "factor", "jitter", "minimum"}
        unknown = set(policy) - known
        if unknown:
            raise ValueError(f"unknown backoff settings {sorted(unknown)} (known: {sorted(known)})")
        return cls(**{k: float(v) for k, v in policy.items()}, **overrides)  # type: ignore[arg-type]

    def reset(self) -> None:
        self._current = self.initial

    def next_delay(self) -> float:
        base = self._current
        self._current = min(self._current * self.factor, self.maximum)
        delay = base * (1 + self.rng.uniform(-self.jitter, self.jitter))
        floor = self.initial if self.minimum is None else self.minimum
        return max(min(delay, self.maximum), floor)

    async def sleep(self) -> float:
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay


async def retry_async(
    func: Callable[[], Awaitable[T]],
    *,
    is_transient: Callable[[BaseException], bool],
    attempts: int = 6,
    backoff: Backoff | None = None,
    retry_after: Callable[[BaseException], float | None] | None = None,
) -> T:
    """Call ``func`` until it succeeds, retrying transient errors with backoff.

    ``retry_after`` may read a server's ``Retry-After`` from the error; that delay is honoured
    when it is longer than the backoff's own.
    """
    backoff = backoff or Backoff(initial=1.0, maximum=30.0, minimum=0.0)
    for attempt in range(1, attempts + 1):
        try:
            return await func()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            delay = backoff.next_delay()
            hinted = retry_after(exc) if retry_after else None
            if hinted is not None:
                delay = max(delay, hinted)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover
