"""Run a sweep: every member is a workflow run with its own frozen config, run concurrently.

Re-running a sweep is idempotent because each member goes through the workflow and backend
caches: finished members are cache hits, members whose training job is still in flight
re-attach to it, and nothing is paid for twice. A member that failed in an earlier run is
reported as failed and *not* run again unless ``retry_failed=True`` (a failed training job is
not a cache hit, so running it again would pay again). One member failing never stops the
others; the result lists every failure.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from motools.experiments.manifest import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    Manifest,
    ManifestWriter,
    _param_order,
    manifest_path,
)
from motools.experiments.spec import Member, SweepSpec, expand, short_params

if TYPE_CHECKING:
    import pandas as pd

    from motools.cache.store import Store
    from motools.experiments.quotas import ProviderQuotas
    from motools.workflows import Workflow

ProgressFn = Callable[[dict[str, Any]], None]


@dataclass
class MemberResult:
    """How one member ended in this run of the sweep."""

    label: str
    params: dict[str, Any]
    config: dict[str, Any] = field(repr=False)
    status: str  # succeeded | failed
    cached: bool = False
    error: str | None = None
    #: True when the member failed in an earlier run and was not run again.
    not_retried: bool = False
    steps: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict, repr=False)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == SUCCEEDED

    @property
    def model_id(self) -> str | None:
        return self.artifacts.get("model_id")

    @property
    def training_job(self) -> dict[str, Any] | None:
        return self.artifacts.get("training_job")

    @property
    def results(self) -> dict[str, Any] | None:
        return self.artifacts.get("results")

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in short_params(self.params).items()) or "base"


@dataclass
class SweepResult:
    """Every member's outcome, where the manifest is, and how the quotas were used."""

    sweep_id: str
    workflow: str
    params: list[str]
    members: list[MemberResult]
    manifest_path: os.PathLike[str] | str
    quotas: dict[str, dict[str, int]] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return all(m.ok for m in self.members)

    def __repr__(self) -> str:  # not thousands of members (asyncio.run shows its result)
        return f"SweepResult({self.sweep_id!r}, {self.workflow!r}, {self.counts()})"

    @property
    def failed(self) -> list[MemberResult]:
        return [m for m in self.members if not m.ok]

    @property
    def succeeded(self) -> list[MemberResult]:
        return [m for m in self.members if m.ok]

    def counts(self) -> dict[str, int]:
        cached = sum(1 for m in self.members if m.ok and m.cached)
        return {
            "members": len(self.members),
            "succeeded": len(self.succeeded),
            "cached": cached,
            "failed": len(self.failed),
        }

    def manifest(self) -> Manifest:
        return Manifest.read(self.manifest_path)

    def to_frame(self) -> pd.DataFrame:
        """The manifest as a DataFrame: one row per member."""
        return self.manifest().to_frame()

    def to_dict(self) -> dict[str, Any]:
        return {
            "sweep": self.sweep_id,
            "workflow": self.workflow,
            "ok": self.ok,
            "counts": self.counts(),
            "manifest": str(self.manifest_path),
            "quotas": self.quotas,
            "elapsed": round(self.elapsed, 3),
            "members": [
                {
                    "label": m.label,
                    "params": m.params,
                    "status": m.status,
                    "cached": m.cached,
                    "not_retried": m.not_retried,
                    "steps": m.steps,
                    "job_id": (m.training_job or {}).get("job_id"),
                    "model_id": m.model_id,
                    "error": m.error,
                }
                for m in self.members
            ],
        }


def _job_summary(job: Any) -> dict[str, Any] | None:
    if not isinstance(job, Mapping):
        return None
    return {k: job.get(k) for k in ("backend", "job_id", "cache_key", "from_cache") if k in job}


def _results_summary(
    results: Any, store: Store, known: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    if not isinstance(results, Mapping):
        return None
    out = {
        k: results.get(k)
        for k in ("metrics", "log_paths", "cache_key", "from_cache")
        if k in results
    }
    key = results.get("cache_key")
    if known and known.get("cache_key") == key and "n_samples" in known:
        out["n_samples"] = known["n_samples"]
        out["samples_per_question"] = known.get("samples_per_question", {})
        out["task_names"] = known.get("task_names", {})
    elif key:
        out.update(_sample_counts(store, key))
    return out


def _sample_counts(store: Store, key: str) -> dict[str, Any]:
    """Scored samples per task, and samples per question (epochs), from the cached results
    (their record's summary; the results themselves for a record written without one)."""
    from motools.evals.base import sample_counts

    record = store.get(key)
    if record is None or "results_blob" not in record.value:
        return {}
    summary = record.value.get("summary")
    if isinstance(summary, Mapping) and "n_samples" in summary:
        return {
            "n_samples": summary["n_samples"],
            "samples_per_question": summary.get("samples_per_question", {}),
            "task_names": (summary.get("metadata") or {}).get("task_names") or {},
        }
    try:
        blob = store.get_json_blob(record.value["results_blob"])
        counts = sample_counts(blob.get("samples", []))
        task_names = (blob.get("metadata") or {}).get("task_names") or {}
    except Exception:
        return {}
    return {**counts, "task_names": task_names}


def _error_text(exc: BaseException) -> str:
    failures = getattr(exc, "failures", None)
    if failures:
        return "; ".join(f"{step}: {type(e).__name__}: {e}" for step, e in failures.items())
    return f"{type(exc).__name__}: {exc}"


def _build_spec(
    workflow: str | Workflow | SweepSpec,
    base_config: Mapping[str, Any] | str | None,
    grid: Mapping[str, Sequence[Any]] | None,
    include: Sequence[Mapping[str, Any]],
    exclude: Sequence[Mapping[str, Any]],
    max_parallel: int | None,
    quotas: Mapping[str, int] | ProviderQuotas | None,
    name: str | None,
) -> tuple[SweepSpec, Workflow | None]:
    from motools.experiments.quotas import ProviderQuotas

    if isinstance(workflow, SweepSpec):
        spec = workflow
        updates: dict[str, Any] = {}
        if max_parallel is not None:
            updates["max_parallel"] = max_parallel
        if quotas is not None and not isinstance(quotas, ProviderQuotas):
            updates["quotas"] = dict(quotas)
        if updates:
            source = spec._source
            spec = spec.model_copy(update=updates)
            spec._source = source
        return spec, None
    wf_obj = None if isinstance(workflow, str) else workflow
    data: dict[str, Any] = {
        "workflow": workflow if isinstance(workflow, str) else workflow.name,
        "base_config": base_config if base_config is not None else {},
        "grid": {k: list(v) for k, v in (grid or {}).items()},
        "include": [dict(e) for e in include],
        "exclude": [dict(e) for e in exclude],
    }
    if name is not None:
        data["name"] = name
    if max_parallel is not None:
        data["max_parallel"] = max_parallel
    if quotas is not None and not isinstance(quotas, ProviderQuotas):
        data["quotas"] = dict(quotas)
    for path, values in data["grid"].items():
        if isinstance(grid, Mapping) and isinstance(grid[path], (str, bytes)):
            from motools.errors import ValidationError

            raise ValidationError(f"grid.{path}: give a list of values, not the string {values!r}")
    return SweepSpec.parse(data, source="run_sweep"), wf_obj


async def run_sweep(
    workflow: str | Workflow | SweepSpec,
    base_config: Mapping[str, Any] | str | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    include: Sequence[Mapping[str, Any]] = (),
    exclude: Sequence[Mapping[str, Any]] = (),
    max_parallel: int | None = None,
    quotas: Mapping[str, int] | ProviderQuotas | None = None,
    name: str | None = None,
    retry_failed: bool = False,
    store: Store | None = None,
    progress: ProgressFn | None = None,
) -> SweepResult:
    """Run every member of the grid over ``base_config`` (or of a :class:`SweepSpec`).

    ``grid`` maps dotted config paths (``"submit_training.hyperparameters.learning_rate"``,
    ``"seed"``) to lists of values; members are their product (plus ``include``, minus
    ``exclude``). ``max_parallel`` members run at once (default 4); ``quotas`` caps training
    jobs in flight per backend (``{"openai": 3}``). Every member config is validated before
    anything is submitted. Returns a :class:`SweepResult` even when members fail.
    """
    from motools.cache.store import open_store
    from motools.experiments.quotas import ProviderQuotas
    from motools.workflows import WorkflowError, get_workflow, run_workflow

    started = time.monotonic()
    spec, wf_obj = _build_spec(
        workflow, base_config, grid, include, exclude, max_parallel, quotas, name
    )
    from motools.api import Composer

    wf = wf_obj or get_workflow(spec.workflow)
    store = store or open_store()
    quota = quotas if isinstance(quotas, ProviderQuotas) else ProviderQuotas(spec.quotas)
    # One composer for the whole sweep: each backend is built, and each distinct config
    # section checked, once for all members.
    composer = Composer(store, quotas=quota)
    members = expand(spec, wf, composer)  # raises ValidationError before anything runs
    sweep_id = spec.sweep_id()
    path = manifest_path(sweep_id, store.root)
    previous: dict[str, dict[str, Any]] = {}
    if path.exists():
        try:
            previous = Manifest.read(path).members
        except Exception:
            previous = {}
    # A sweep run again: its members' training and evaluation records, in one query.
    store.read_ahead(
        part["cache_key"]
        for member in members
        for part in (
            (previous.get(member.label) or {}).get("training_job"),
            (previous.get(member.label) or {}).get("results"),
        )
        if isinstance(part, Mapping) and isinstance(part.get("cache_key"), str)
    )
    writer = ManifestWriter(path)
    writer.start(spec, sweep_id, members, previous)
    source = spec.source
    semaphore = asyncio.Semaphore(spec.max_parallel)
    host, pid = socket.gethostname(), os.getpid()
    total = len(members)
    done = 0
    results: list[MemberResult | None] = [None] * total

    def emit(event: dict[str, Any]) -> None:
        if progress is not None:
            progress({"sweep": sweep_id, "total": total, **event})

    emit({"event": "start", "members": total, "manifest": str(path)})

    def finish(result: MemberResult, index: int) -> None:
        nonlocal done
        done += 1
        results[index] = result
        emit(
            {
                "event": "member",
                "done": done,
                "label": result.label,
                "params": result.params,
                "status": result.status,
                "cached": result.cached,
                "not_retried": result.not_retried,
                "error": result.error,
                "elapsed": result.elapsed,
            }
        )

    async def run_member(member: Member) -> None:
        old = previous.get(member.label) or {}
        if old.get("status") == FAILED and not retry_failed:
            finish(
                MemberResult(
                    member.label,
                    member.params,
                    member.config,
                    FAILED,
                    error=old.get("error") or "failed in an earlier run",
                    not_retried=True,
                    steps=dict(old.get("steps") or {}),
                    artifacts={
                        k: v
                        for k, v in (
                            ("training_job", old.get("training_job")),
                            ("model_id", old.get("model_id")),
                        )
                        if v is not None
                    },
                ),
                member.index,
            )
            return
        async with semaphore:
            t0 = time.monotonic()
            writer.update(
                member.label, status=RUNNING, host=host, pid=pid, started_at=time.time(), error=None
            )

            def observe(step: str, outputs: dict[str, Any]) -> None:
                if "training_job" in outputs:
                    job = _job_summary(outputs["training_job"]) or {}
                    writer.update(member.label, training_job=job)
                    if not job.get("from_cache"):
                        emit(
                            {
                                "event": "job",
                                "label": member.label,
                                "params": member.params,
                                "backend": job.get("backend"),
                                "job_id": job.get("job_id"),
                            }
                        )
                if outputs.get("model_id"):
                    writer.update(member.label, model_id=outputs["model_id"])

            artifacts: dict[str, Any] = {}
            steps: dict[str, str] = {}
            error = None
            try:
                result = await run_workflow(
                    wf,
                    member.parsed if member.parsed is not None else member.config,
                    store=store,
                    source=f"{source} [{member.label}]",
                    on_step=observe,
                    composer=composer,
                )
                artifacts, steps = result.artifacts, {n: s.status for n, s in result.steps.items()}
            except WorkflowError as exc:
                artifacts = exc.result.artifacts
                steps = {n: s.status for n, s in exc.result.steps.items()}
                error = _error_text(exc)
            except Exception as exc:  # one member's trouble never stops the others
                error = _error_text(exc)
            finally:
                job = artifacts.get("training_job")
                if isinstance(job, Mapping) and job.get("job_id"):
                    quota.release(str(job.get("backend")), str(job["job_id"]))
            status = SUCCEEDED if error is None else FAILED
            cached = error is None and all(s == "cached" for s in steps.values())
            summary = _results_summary(artifacts.get("results"), store, old.get("results"))
            elapsed = time.monotonic() - t0
            writer.update(
                member.label,
                status=status,
                finished_at=time.time(),
                elapsed=round(elapsed, 4),
                steps=steps,
                cached=cached,
                error=error,
                training_job=_job_summary(artifacts.get("training_job")),
                model_id=artifacts.get("model_id"),
                results=summary,
            )
            finish(
                MemberResult(
                    member.label,
                    member.params,
                    member.config,
                    status,
                    cached=cached,
                    error=error,
                    steps=steps,
                    artifacts=artifacts,
                    elapsed=elapsed,
                ),
                member.index,
            )

    try:
        await asyncio.gather(*(run_member(m) for m in members))
    finally:
        writer.close()
    final = [r for r in results if r is not None]
    out = SweepResult(
        sweep_id,
        wf.name,
        _param_order(spec, members),
        final,
        path,
        quota.stats(),
        time.monotonic() - started,
    )
    emit({"event": "end", **out.counts()})
    return out


def run_sweep_sync(*args: Any, **kwargs: Any) -> SweepResult:
    """:func:`run_sweep` for scripts and notebooks without a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_sweep(*args, **kwargs))
    raise RuntimeError(
        "run_sweep_sync() was called inside a running event loop (a notebook, say); "
        "use `await run_sweep(...)` there instead"
    )


__all__ = ["INTERRUPTED", "MemberResult", "SweepResult", "run_sweep", "run_sweep_sync"]
