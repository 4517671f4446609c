"""``CachedTrainingBackend`` and ``CachedEvalBackend``: wrap any backend so paid work is done once.

Training: the record is written the moment the job is *submitted*, with the backend's
resumable state, and updated as the run progresses. The same request while the job runs
re-attaches to it (``backend.resume(state)``); after success it returns the model id at once;
failed, cancelled and expired entries are misses. Two processes asking for the same key at
the same moment submit one job: the first claims the key in SQLite, the other waits for its
record and re-attaches.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from motools.cache.keys import eval_key_fields, key_of, task_identity, training_key_fields
from motools.cache.store import Store, canonical_json, open_store
from motools.errors import MotoolsError
from motools.evals.base import (
    EvalBackend,
    EvalJob,
    EvalResults,
    EvalSuite,
    StoredEvalResults,
    as_eval_backend,
    sample_counts,
    suite_items,
)
from motools.training.base import (
    CANCELLED,
    FAILED,
    SUCCEEDED,
    TERMINAL_STATUSES,
    TrainingBackend,
    TrainingRun,
    as_training_backend,
)

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset


class CacheWarning(UserWarning):
    """A cache entry could not be used (expired model, corrupt record, uncacheable task)."""


class SubmissionInDoubt(MotoolsError):
    """A submission was interrupted and the backend cannot say whether the job exists."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


#: The status of a training record written just before the provider is asked for the job.
SUBMITTING = "submitting"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@dataclass
class Lookup:
    """What the cache knows about a key: ``outcome`` is hit, in_flight or miss."""

    key: str
    fields: dict[str, Any]
    outcome: str
    reason: str
    record: Any = None


class CompletedRun(TrainingRun):
    """A training run served from the cache: already succeeded, nothing to pay for."""

    from_cache = True

    def __init__(
        self,
        backend_name: str,
        job_id: str,
        model_id: str,
        state: Mapping[str, Any],
        cache_key: str | None = None,
    ) -> None:
        self.backend_name = backend_name  # type: ignore[misc]
        self.cache_key = cache_key
        self.job_id = job_id
        self.model_id = model_id
        self.status = SUCCEEDED
        self.error = None
        self._state = dict(state)

    async def refresh(self) -> str:
        return self.status

    async def cancel(self) -> None:
        return None

    def to_state(self) -> dict[str, Any]:
        return dict(self._state)


class TrackedRun(TrainingRun):
    """A live run whose every status change is written back to its cache record."""

    from_cache = False

    def __init__(
        self, inner: TrainingRun, cache: CachedTrainingBackend, key: str, *, attached: bool
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.key = key
        self.cache_key = key
        self.attached = attached  # True when re-attached to a job submitted earlier
        self.backend_name = inner.backend_name  # type: ignore[misc]
        self.poll_backoff = inner.poll_backoff  # type: ignore[misc]

    job_id = property(lambda self: self.inner.job_id)
    status = property(lambda self: self.inner.status)
    model_id = property(lambda self: self.inner.model_id)
    error = property(lambda self: self.inner.error)
    error_code = property(lambda self: self.inner.error_code)
    runs_remotely = property(lambda self: self.inner.runs_remotely)

    def progress_text(self) -> str | None:
        return self.inner.progress_text()

    def _persist(self, *_: Any) -> None:
        self.cache._record_progress(self.key, self.inner)

    async def refresh(self) -> str:
        status = await self.inner.refresh()
        self._persist()
        return str(status)

    async def cancel(self) -> None:
        await self.inner.cancel()
        self._persist()

    def to_state(self) -> dict[str, Any]:
        return dict(self.inner.to_state())

    async def events(self) -> list[dict[str, Any]]:
        return await self.inner.events()

    async def wait(self, **kwargs: Any) -> str:
        user_hook = kwargs.pop("on_status", None)

        def on_status(run: Any) -> None:
            self._persist()
            if user_hook is not None:
                user_hook(self)

        kwargs["on_status"] = on_status
        try:
            return str(await self.inner.wait(**kwargs))
        finally:
            self._persist()


def _expiry(state: Mapping[str, Any]) -> float | None:
    value = state.get("expires_at") or state.get("checkpoint_expires_at")
    return float(value) if isinstance(value, (int, float)) else None


class CachedTrainingBackend(TrainingBackend):
    """Wraps any training backend; same request, same job, paid for once."""

    def __init__(
        self,
        backend: Any,
        store: Store | None = None,
        *,
        force: bool = False,
        claim_timeout: float = 3600.0,
    ) -> None:
        self.backend = as_training_backend(backend)
        self.store = store or open_store()
        self.force = force
        self.claim_timeout = claim_timeout
        self.name = self.backend.name
        self.cache_version = self.backend.cache_version

    def validate_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | None, **options: Any
    ) -> Mapping[str, Any]:
        return self.backend.validate_hyperparameters(hyperparameters, **options)

    def normalize_hyperparameters(
        self, hyperparameters: Mapping[str, Any] | None, **options: Any
    ) -> dict[str, Any]:
        return self.backend.normalize_hyperparameters(hyperparameters, **options)

    def model_unavailable(self, model_id: str | None, state: Mapping[str, Any]) -> Any:
        return self.backend.model_unavailable(model_id, state)

    def check_dataset(self, dataset: JSONLDataset, model: str | None = None) -> list[Any]:
        return self.backend.check_dataset(dataset, model)

    def estimate_cost(
        self, dataset: JSONLDataset, model: str, hyperparameters: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        return self.backend.estimate_cost(dataset, model, hyperparameters)

    async def explain(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Why this request would hit or miss (what ``motools cache explain train`` prints)."""
        from motools.cache.explain import explain

        found = await self.lookup(dataset, model, hyperparameters, suffix, **options)
        return explain(found, self.store)

    async def reattach(self, state: Mapping[str, Any], key: str) -> TrackedRun:
        """Re-attach to the job ``state`` describes, recorded under cache ``key``."""
        return TrackedRun(await self.backend.resume(state), self, key, attached=True)

    def key_fields(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        from motools.datasets import JSONLDataset

        if not isinstance(dataset, JSONLDataset):
            raise TypeError(
                f"dataset must be a motools.datasets.JSONLDataset, not {type(dataset).__name__}; "
                "load a file with `await JSONLDataset.load(path)` (motools.train(path) does it)"
            )
        return training_key_fields(
            self.backend,
            dataset_hash=dataset.content_hash,
            model=model,
            hyperparameters=hyperparameters,
            suffix=suffix,
            options=options,
        )

    async def lookup(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **options: Any,
    ) -> Lookup:
        """Say whether this request would be a hit, re-attach to a job in flight, or a miss."""
        fields = self.key_fields(dataset, model, hyperparameters, suffix, **options)
        return await self._classify(key_of(fields), fields)

    async def _classify(self, key: str, fields: dict[str, Any]) -> Lookup:
        record = self.store.get(key)
        if record is None:
            return Lookup(key, fields, "miss", "no entry for this key")
        if record.status in (FAILED, CANCELLED, "expired"):
            return Lookup(
                key, fields, "miss", f"the cached job {record.label} ended {record.status}", record
            )
        if record.status == SUCCEEDED:
            gone = await self._model_gone(record)
            if gone:
                return Lookup(key, fields, "miss", gone, record)
            return Lookup(key, fields, "hit", f"job {record.label} succeeded", record)
        if record.status == SUBMITTING:
            return Lookup(
                key,
                fields,
                "submitting",
                "a submission of this job was started and not recorded (in progress, or "
                "interrupted)",
                record,
            )
        return Lookup(key, fields, "in_flight", f"job {record.label} is {record.status}", record)

    async def _model_gone(self, record: Any) -> str | None:
        expires = record.expires_at
        if expires is not None and time.time() > expires:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(expires))
            return f"model {record.value.get('model_id')} expired at {when}"
        reason = self.backend.model_unavailable(
            record.value.get("model_id"), record.value.get("state", {})
        )
        if inspect.isawaitable(reason):
            reason = await reason
        return str(reason) if reason else None

    async def train(
        self,
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None = None,
        suffix: str | None = None,
        **options: Any,
    ) -> TrainingRun:
        # Validated once, here; the key and the backend's train() use this same object.
        hyperparameters = self.backend.normalize_hyperparameters(hyperparameters)
        fields = self.key_fields(dataset, model, hyperparameters, suffix, **options)
        key = key_of(fields)
        deadline = time.monotonic() + self.claim_timeout
        force = self.force
        while True:
            found = await self._classify(key, fields)
            if not force:
                if found.outcome == "hit":
                    rec = found.record
                    if rec.value.get("model_artifact") != f"model:{rec.value.get('model_id')}":
                        self._ensure_model_artifact(key, rec.value)  # a record from before 17
                    return CompletedRun(
                        self.name,
                        rec.label or "",
                        rec.value["model_id"],
                        rec.value.get("state", {}),
                        cache_key=key,
                    )
                if found.outcome == "in_flight":
                    return await self.reattach(found.record.value["state"], key)
                if found.record is not None and found.record.status == SUCCEEDED:
                    warnings.warn(
                        f"cache entry {key[:12]} not used: {found.reason}",
                        CacheWarning,
                        stacklevel=2,
                    )
                    self.store.update(key, status="expired", value=found.record.value)
            token = await self.store.try_claim_shared(key, stale_after=self.claim_timeout)
            if token is not None:
                claim = [token]  # emptied by _submit when it released the claim itself
                try:
                    again = await self._classify(key, fields)
                    if not force and again.outcome in ("hit", "in_flight"):
                        continue  # another process finished submitting while we waited
                    if again.outcome == "submitting":  # its submitter died mid-submission
                        recovered = await self._recover_submission(key, again.record)
                        if recovered is not None:
                            return recovered
                    return await self._submit(
                        key, fields, dataset, model, hyperparameters, suffix, options, force, claim
                    )
                finally:
                    if claim:
                        self.store.release_claim(key, token)
            if time.monotonic() > deadline:
                raise TimeoutError(f"another process has held cache key {key[:12]} for too long")
            await asyncio.sleep(0.1)
            force = False  # the other process's submission serves us too

    async def _recover_submission(self, key: str, record: Any) -> TrackedRun | None:
        """A process died between asking the provider for a job and recording it: find it.

        Returns the re-attached run, or None when the provider has no such job (nothing was
        paid; the caller submits). A backend that cannot look submissions up gets an error:
        guessing could pay twice.
        """
        submission = str(record.value.get("submission", ""))
        if not self.backend.supports_submission_lookup:
            raise SubmissionInDoubt(
                f"a submission of training job {key[:12]} to the {self.name} backend was "
                f"interrupted (at {_when(record.updated_at)}) before its job id was recorded, "
                f"and the {self.name} backend cannot be asked whether the job exists. Check the "
                f"provider's job list; if there is no such job, run `motools cache forget "
                f"{key[:12]}` and try again",
                key,
            )
        inner = await self.backend.find_submitted(submission)
        if inner is None:
            self.store.delete(key)
            return None
        self._record_submitted(key, record.fields, inner, record.value)
        return TrackedRun(inner, self, key, attached=True)

    async def _submit(
        self,
        key: str,
        fields: dict[str, Any],
        dataset: JSONLDataset,
        model: str,
        hyperparameters: Mapping[str, Any] | None,
        suffix: str | None,
        options: dict[str, Any],
        force: bool = False,
        claim: list[str] | None = None,
    ) -> TrackedRun:
        """Submit and record the job; ``claim`` (holding the claim's token) is released in
        the same transaction as the record, and emptied."""
        from motools import provenance

        dataset_artifact = provenance.record_dataset(self.store, dataset)
        # A forced re-run keeps the old run as history (listed as superseded).
        superseded = self.store.supersede(key) if force else None
        submission = uuid.uuid4().hex
        value = {
            "submission": submission,
            "dataset_artifact": dataset_artifact,
            "submitted_at": time.time(),
            **({"supersedes": superseded} if superseded else {}),
        }
        # Written *before* the call: a process killed inside it leaves this record, and the
        # next run asks the provider for the job by its token instead of paying again.
        await self.store.together_shared(
            lambda: self.store.put(
                key,
                kind="training",
                status=SUBMITTING,
                fields=fields,
                backend=self.name,
                value=value,
            ),
            keep=False,  # cancelled before it was written: nothing was submitted either
        )
        extra = {"submission": submission} if self.backend.supports_submission_lookup else {}
        try:
            inner = await self.backend.train(
                dataset, model, hyperparameters, suffix, **options, **extra
            )
        except Exception:
            # The backend says it did not submit (a validation error, a refused request).
            self.store.delete(key)
            if superseded:
                self.store.move(superseded, key)
            raise

        # A job finished already (a local or dummy backend) is recorded as finished, with
        # its model's artifact, in the same commit.
        finished = inner.status == SUCCEEDED and bool(inner.model_id)

        def record() -> None:  # the job, its provenance and the end of the claim: one commit
            recorded = self._record_submitted(key, fields, inner, value, finished=finished)
            provenance.record_training(
                self.store, key, fields, inner.job_id, dataset_artifact, replace=bool(superseded)
            )
            if finished:
                self._ensure_model_artifact(key, recorded)
            if claim:
                self.store.release_claim(key, claim[0])

        await self.store.together_shared(record)
        if claim:
            claim.clear()
        return TrackedRun(inner, self, key, attached=False)

    def _record_submitted(
        self,
        key: str,
        fields: dict[str, Any],
        inner: TrainingRun,
        value: Mapping[str, Any],
        *,
        finished: bool = False,
    ) -> dict[str, Any]:
        state = dict(inner.to_state())
        recorded = {**value, "state": state, "job_id": inner.job_id, "model_id": inner.model_id}
        if finished:  # as _record_progress writes it
            recorded.update(error=inner.error, model_artifact=f"model:{inner.model_id}")
        self.store.put(
            key,
            kind="training",
            status=inner.status,
            fields=fields,
            backend=self.name,
            label=inner.job_id,
            expires_at=_expiry(state),
            value=recorded,
        )
        return recorded

    def _record_progress(self, key: str, inner: TrainingRun) -> None:
        record = self.store.get(key)
        if record is None:
            return
        state = dict(inner.to_state())
        value = dict(record.value, state=state, model_id=inner.model_id, error=inner.error)

        succeeded = inner.status == SUCCEEDED and bool(inner.model_id)
        if succeeded:  # written with the artifact, in one transaction: a hit need not look
            value["model_artifact"] = f"model:{inner.model_id}"

        def write() -> None:
            self.store.update(key, status=inner.status, value=value, expires_at=_expiry(state))
            if succeeded:
                self._ensure_model_artifact(key, value)

        self.store.together(write)

    def _ensure_model_artifact(self, key: str, value: Mapping[str, Any]) -> None:
        from motools import provenance

        model_id = value.get("model_id")
        if model_id and not self.store.has_artifact(f"model:{model_id}"):
            provenance.record_model(self.store, str(model_id), f"training:{key}")

    async def resume(self, state: Mapping[str, Any]) -> TrainingRun:
        return await self.backend.resume(state)


class CachedEvalBackend(EvalBackend):
    """Wraps any evaluation backend; same model, tasks and options, evaluated once."""

    def __init__(
        self,
        backend: Any,
        store: Store | None = None,
        *,
        force: bool = False,
        claim_timeout: float = 6 * 3600.0,
    ) -> None:
        self.backend = as_eval_backend(backend)
        self.store = store or open_store()
        self.force = force
        self.claim_timeout = claim_timeout
        self.name = self.backend.name
        self.cache_version = self.backend.cache_version

    def task_identity(self, item: Any) -> dict[str, Any] | None:
        return self.backend.task_identity(item)

    def key_fields(
        self, model_id: str, eval_suite: EvalSuite, **options: Any
    ) -> dict[str, Any] | None:
        tasks = [task_identity(item, self.backend) for item in suite_items(eval_suite)]
        if any(t is None for t in tasks):
            return None
        return eval_key_fields(self.backend, model_id=model_id, tasks=tasks, options=options)  # type: ignore[arg-type]

    def lookup(self, model_id: str, eval_suite: EvalSuite, **options: Any) -> Lookup:
        fields = self.key_fields(model_id, eval_suite, **options)
        if fields is None:
            return Lookup(
                "", {}, "miss", "a task in the suite has no stable identity; not cacheable"
            )
        key = key_of(fields)
        record = self.store.get(key)
        if record is None or record.status != SUCCEEDED:
            return Lookup(key, fields, "miss", "no entry for this key", record)
        return Lookup(key, fields, "hit", "evaluated before", record)

    def _cached_results(self, found: Lookup) -> EvalResults | None:
        """The results a hit points at, or None (with a warning) if they cannot be read.

        A record written with its results' summary (metrics, logs, metadata) is served from
        it, the blob checked but its samples parsed only when someone reads them."""
        value = found.record.value
        digest = value["results_blob"]
        summary = value.get("summary")
        try:
            if isinstance(summary, Mapping):
                # The metrics come from the (checksummed) record; the blob must be there, whole
                # (its size, from a stat or the index), and its hash is checked when its
                # samples are read.
                sized = self.store.blob_size(digest) == summary.get("results_bytes")
                if not sized and not self.store.blob_ok(digest):
                    raise MotoolsError(f"blob {digest[:12]} is missing or damaged")
                store = self.store
                cached: EvalResults = StoredEvalResults(
                    model_id=str(value["model_id"]),
                    metrics=summary["metrics"],
                    log_paths=dict(summary.get("log_paths") or {}),
                    metadata=dict(summary.get("metadata") or {}),
                    load_samples=lambda: store.get_json_blob(digest).get("samples", []),
                )
            else:
                cached = EvalResults.from_dict(self.store.get_json_blob(digest))
        except Exception as exc:  # a damaged blob is a miss, never a crash
            warnings.warn(
                f"cached results {found.key[:12]} unreadable ({exc}); re-evaluating",
                CacheWarning,
                stacklevel=3,
            )
            return None
        cached.metadata["from_cache"] = True
        cached.metadata["cache_key"] = found.key
        return cached

    async def evaluate(self, model_id: str, eval_suite: EvalSuite, **options: Any) -> EvalJob:
        """Results from the cache, or a new evaluation -- one per key across processes.

        Like training, an evaluation claims its key first: a second process (or coroutine)
        asking for the same evaluation while it runs waits for its results instead of
        paying for the same judge calls again. A claimant that died is taken over.
        """
        found = self.lookup(model_id, eval_suite, **options)
        if not found.key:
            warnings.warn(f"evaluation not cached: {found.reason}", CacheWarning, stacklevel=2)
            return await self.backend.evaluate(model_id, eval_suite, **options)
        job_args = {"model_id": model_id, "eval_suite": eval_suite, "backend_name": self.name}
        if found.outcome == "hit" and not self.force:
            cached = self._cached_results(found)
            if cached is not None:
                ready = asyncio.get_running_loop().create_future()
                ready.set_result(cached)  # done already: no task to schedule
                return EvalJob(
                    ready, job_id=f"cached-{found.key[:12]}", from_cache=True, **job_args
                )
        token = await self.store.try_claim_shared(found.key, stale_after=self.claim_timeout)
        if token is None:  # someone is evaluating exactly this now: wait for their results
            return EvalJob(self._await_other(found, model_id, eval_suite, options), **job_args)
        try:
            inner = await self.backend.evaluate(model_id, eval_suite, **options)
        except BaseException:
            self.store.release_claim(found.key, token)
            raise
        return EvalJob(
            self._finish(inner, found.key, found.fields, model_id, token),
            job_id=inner.job_id,
            **job_args,
        )

    async def _await_other(
        self, found: Lookup, model_id: str, eval_suite: EvalSuite, options: dict[str, Any]
    ) -> EvalResults:
        deadline = time.monotonic() + self.claim_timeout
        while True:
            await asyncio.sleep(0.1)
            again = self.lookup(model_id, eval_suite, **options)
            if again.outcome == "hit":
                cached = self._cached_results(again)
                if cached is not None:
                    return cached
            token = self.store.try_claim(found.key, stale_after=self.claim_timeout)
            if token is not None:  # the other evaluation failed or its process died
                inner = await self.backend.evaluate(model_id, eval_suite, **options)
                return await self._finish(inner, found.key, found.fields, model_id, token)
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"another process has held evaluation key {found.key[:12]} for too long"
                )

    async def _finish(
        self, inner: EvalJob, key: str, fields: dict[str, Any], model_id: str, token: str
    ) -> EvalResults:
        from motools import provenance

        released = False
        try:
            results = await inner.wait()
            data = canonical_json(results.to_dict()).encode()
            # A large blob is written first; a small one is a row committed with the record.
            small = len(data) <= self.store.inline_max
            blob = hashlib.sha256(data).hexdigest() if small else self.store.put_blob(data)
            value = {
                "results_blob": blob,
                "model_id": model_id,
                "summary": {
                    "metrics": results.metrics,
                    "log_paths": results.log_paths,
                    "metadata": results.metadata,
                    "results_bytes": len(data),
                    **sample_counts(results.samples),
                },
            }

            def record() -> None:  # the results, their provenance and the claim: one commit
                if small:
                    self.store.put_blob(data)
                self.store.put(
                    key,
                    kind="eval",
                    status=SUCCEEDED,
                    fields=fields,
                    backend=self.name,
                    label=inner.job_id,
                    value=value,
                )
                provenance.record_eval(self.store, key, fields, model_id, blob)
                self.store.release_claim(key, token)

            await self.store.together_shared(record)
            released = True
        finally:
            if not released:
                self.store.release_claim(key, token)
        results.metadata.setdefault("cache_key", key)
        return results


__all__ = [
    "TERMINAL_STATUSES",
    "CacheWarning",
    "CachedEvalBackend",
    "CachedTrainingBackend",
    "CompletedRun",
    "Lookup",
    "TrackedRun",
]
