"""Provider quotas: at most N training jobs in flight per backend; the rest queue for a slot.

OpenAI allows a handful of concurrent fine-tuning jobs per organisation and Tinker limits
concurrent LoRA runs, so a large sweep must wait for a slot rather than have submissions
rejected. A slot is taken just before a job is submitted (or re-attached to, since a job in
flight occupies the provider too) and given back when the job ends; requests the cache
answers take no slot.

The composer (:mod:`motools.api`) hands a workflow run its quotas explicitly
(``run_workflow(..., quotas=...)``; :func:`motools.experiments.run_sweep` does this for you);
they count the jobs of this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from motools.errors import ValidationError
from motools.training.base import TERMINAL_STATUSES

if TYPE_CHECKING:
    from motools.cache.backends import CachedTrainingBackend
    from motools.training.base import TrainingRun


class ProviderQuotas:
    """Per-backend limits on concurrent training jobs, e.g. ``{"openai": 3, "tinker": 4}``."""

    def __init__(self, limits: Mapping[str, int] | None = None) -> None:
        self.limits: dict[str, int] = {}
        for backend, limit in (limits or {}).items():
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise ValidationError(
                    f"quotas.{backend}: the limit must be a whole number of jobs >= 1, got {limit!r}"
                )
            self.limits[str(backend)] = limit
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self.in_use: dict[str, int] = dict.fromkeys(self.limits, 0)
        #: The most jobs each backend ever had in flight at once (for reports and tests).
        self.peak: dict[str, int] = dict.fromkeys(self.limits, 0)
        #: How many submissions had to wait for a slot.
        self.waited: dict[str, int] = dict.fromkeys(self.limits, 0)
        self._held: set[tuple[str, str]] = set()

    def limit(self, backend: str) -> int | None:
        return self.limits.get(backend)

    def _semaphore(self, backend: str) -> asyncio.Semaphore:
        sem = self._semaphores.get(backend)
        if sem is None:
            sem = self._semaphores[backend] = asyncio.Semaphore(self.limits[backend])
        return sem

    async def acquire(self, backend: str) -> None:
        """Wait for a free slot of ``backend`` and take it (no-op for unlimited backends)."""
        if backend not in self.limits:
            return
        sem = self._semaphore(backend)
        if sem.locked():
            self.waited[backend] += 1
        await sem.acquire()
        self.in_use[backend] += 1
        self.peak[backend] = max(self.peak[backend], self.in_use[backend])

    def _give_back(self, backend: str) -> None:
        self.in_use[backend] -= 1
        self._semaphore(backend).release()

    def hold(self, backend: str, job_id: str) -> None:
        """Record that the slot just acquired now belongs to job ``job_id``."""
        if backend in self.limits:
            self._held.add((backend, job_id))

    def release(self, backend: str, job_id: str) -> bool:
        """Give back the slot of job ``job_id`` (idempotent); True if one was held."""
        if (backend, job_id) not in self._held:
            return False
        self._held.discard((backend, job_id))
        self._give_back(backend)
        return True

    async def train(
        self,
        backend_name: str,
        backend: CachedTrainingBackend,
        dataset: Any,
        model: str,
        hyperparameters: Mapping[str, Any] | None,
        suffix: str | None,
        **options: Any,
    ) -> TrainingRun:
        """``backend.train(...)`` (a :class:`~motools.cache.CachedTrainingBackend`) within the quota.

        A cache hit is served without a slot. Otherwise a slot is taken first and held until
        :meth:`release` is called for the job (when it ends); a job that is already over when
        submission returns gives its slot back at once.
        """
        limit = self.limits.get(backend_name)
        if limit is None:
            return await backend.train(dataset, model, hyperparameters, suffix, **options)
        if not backend.force:
            found = await backend.lookup(dataset, model, hyperparameters, suffix, **options)
            if found.outcome == "hit":
                return await backend.train(dataset, model, hyperparameters, suffix, **options)
        await self.acquire(backend_name)
        try:
            run = await backend.train(dataset, model, hyperparameters, suffix, **options)
        except BaseException:
            self._give_back(backend_name)
            raise
        if run.from_cache or run.status in TERMINAL_STATUSES:
            self._give_back(backend_name)
        else:
            self.hold(backend_name, str(run.job_id))
        return run

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            b: {
                "limit": self.limits[b],
                "in_use": self.in_use[b],
                "peak": self.peak[b],
                "waited": self.waited[b],
            }
            for b in self.limits
        }
