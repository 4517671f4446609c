"""Workflows: steps with pydantic configs, connected by named artifacts, run as a DAG.

Each step is cached on (workflow, step name, step version, step config, the hashes of its input
artifacts, and a fingerprint of anything outside the config that it reads, such as a file).
A workflow killed half-way resumes from where it stopped: finished steps are cache hits, and
steps that submit paid jobs go through the backend caches, which re-attach to jobs in flight.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.api import Composer
from motools.cache.keys import canonical, key_of
from motools.cache.store import Store, canonical_json, sha256_text
from motools.errors import MotoolsError, ValidationError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from motools.quotas import ProviderQuotas

ProgressFn = Callable[[dict[str, Any]], None]
#: ``on_step(step_name, outputs)``: called when a step has produced its outputs (or was cached).
StepObserver = Callable[[str, dict[str, Any]], None]


class WorkflowError(MotoolsError):
    """One or more steps failed; ``failures`` maps step name to its exception."""

    def __init__(
        self, message: str, failures: dict[str, BaseException], result: WorkflowResult
    ) -> None:
        super().__init__(message)
        self.failures = failures
        self.result = result


class Deferred:
    """A costly part of a step's check (loading a large file): done by ``validate`` at once,
    and by a running step only when it actually runs (a cached step never pays for it).
    The result is computed once."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._fn = fn
        self._done = False
        self._value: Any = None

    def __call__(self) -> Any:
        if not self._done:
            self._value = self._fn()
            self._done = True
        return self._value


@dataclass
class StepContext:
    """What a running step can use besides its config and inputs.

    ``composer`` builds backends wrapped in the cache of ``store`` and within ``quotas``;
    ``checked`` is what the step's ``check`` returned when the config was validated (the
    training step's validated hyperparameters, say), so nothing is validated twice.
    """

    workflow: str
    step: str
    composer: Composer
    globals: dict[str, Any]
    force: bool
    checked: Any = None
    #: A step whose work was served by a backend cache sets this, so it is reported "cached".
    cached: bool = False
    _progress: ProgressFn | None = None
    _started: float = field(default_factory=time.monotonic)

    @property
    def store(self) -> Store:
        return self.composer.store

    @property
    def quotas(self) -> ProviderQuotas | None:
        return self.composer.quotas

    def progress(self, detail: str) -> None:
        """Report what the step is doing (shown live by ``motools workflow run``)."""
        if self._progress is not None:
            self._progress(
                {
                    "step": self.step,
                    "status": "running",
                    "detail": detail,
                    "elapsed": time.monotonic() - self._started,
                }
            )


StepFn = Callable[[Any, dict[str, Any], StepContext], Awaitable[dict[str, Any]]]


@dataclass
class Step:
    """One unit of work. ``fn(config, inputs, ctx)`` returns ``{output_name: json_value}``."""

    name: str
    fn: StepFn
    config: type[BaseModel]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    version: str = "1"
    #: False for steps whose work is cached elsewhere (the training and eval backend caches).
    cache: bool = True
    description: str = ""
    #: Extra key material read outside the config (a file's hash, a module's source).
    fingerprint: Callable[[Any], Any] | None = None
    #: Checks that need more than types (a backend's hyperparameters), run by ``validate``:
    #: ``check(config, composer)`` raises a MotoolsError or returns what the step will need
    #: (handed to it as ``ctx.checked``).
    check: Callable[[Any, Composer], Any] | None = None


@dataclass
class Workflow:
    """Named steps; ``global_fields`` are top-level config keys every step can read."""

    name: str
    steps: list[Step]
    description: str = ""
    global_fields: dict[str, tuple[Any, Any]] = field(
        default_factory=lambda: {"seed": (int | None, None)}
    )

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError(f"workflow {self.name}: duplicate step names")
        producers: dict[str, str] = {}
        for step in self.steps:
            for out in step.outputs:
                if out in producers:
                    raise ValueError(
                        f"workflow {self.name}: {out!r} produced by {producers[out]} and {step.name}"
                    )
                producers[out] = step.name
        for step in self.steps:
            for inp in step.inputs:
                if inp not in producers:
                    raise ValueError(
                        f"workflow {self.name}: step {step.name} needs {inp!r}, which no step produces"
                    )
        self.producers = producers
        self._order()  # raises on cycles

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(
            f"workflow {self.name} has no step {name!r} (steps: {', '.join(s.name for s in self.steps)})"
        )

    def _order(self) -> list[Step]:
        """The steps in an order that runs each after the steps it needs (raises on cycles);
        worked out once for a given list of steps."""
        ident = tuple(map(id, self.steps))
        known = self.__dict__.get("_known_order")
        if known is not None and known[0] == ident:
            return list(known[1])
        order = self._work_out_order()
        self.__dict__["_known_order"] = (ident, order)
        return list(order)

    def _work_out_order(self) -> list[Step]:
        done: set[str] = set()
        order: list[Step] = []
        remaining = list(self.steps)
        while remaining:
            ready = [s for s in remaining if all(self.producers[i] in done for i in s.inputs)]
            if not ready:
                raise ValueError(f"workflow {self.name}: cycle among {[s.name for s in remaining]}")
            for s in ready:
                order.append(s)
                done.add(s.name)
                remaining.remove(s)
        return order

    def config_model(self) -> type[BaseModel]:
        """The pydantic model of the whole config: globals plus one section per step."""
        cached = getattr(self, "_config_model", None)
        if cached is not None:
            return cached
        from pydantic import ConfigDict, Field, create_model

        fields: dict[str, Any] = dict(self.global_fields)
        for step in self.steps:
            required = any(f.is_required() for f in step.config.model_fields.values())
            fields[step.name] = (
                (step.config, ...)
                if required
                else (step.config, Field(default_factory=step.config))
            )
        model = create_model(f"{self.name}_config", __config__=ConfigDict(extra="forbid"), **fields)
        self._config_model = model
        return model

    def parse_config(
        self,
        config: Any,
        *,
        source: str = "config",
        base_dir: str | os.PathLike[str] | None = None,
        sized: bool = False,
    ) -> BaseModel:
        """Validate a dict, a YAML path or text, or an existing config object.

        Relative file paths in the config (a dataset file, a ``tasks.py@task``) are resolved
        against ``base_dir``: the config file's folder when ``config`` is a path. ``sized``:
        the mapping is made of parts whose size was checked already (a sweep's members, from
        its checked file), so its aliases are not counted again.
        """
        import pydantic

        from motools.workflows.config import _is_path, check_size, format_pydantic_error, load_yaml

        model = self.config_model()
        if isinstance(config, model):
            return config
        if isinstance(config, (str, os.PathLike)):
            if _is_path(config):
                source = str(config)
                if base_dir is None:
                    base_dir = Path(config).resolve().parent
            config = load_yaml(config, what="workflow config (YAML)")
            if config is None:
                config = {}
        if not isinstance(config, Mapping):
            from motools.errors import short_repr

            raise ValidationError(
                f"{source}: a workflow config must be a mapping of step names to their "
                f"settings, got {type(config).__name__} {short_repr(config, 60)}"
            )
        if not sized:
            check_size(config, source)
        context = {"base_dir": Path(base_dir) if base_dir is not None else None}
        try:
            return model.model_validate(dict(config), context=context)
        except pydantic.ValidationError as exc:
            raise ValidationError(format_pydantic_error(exc, source)) from None

    def check(
        self, parsed: BaseModel, composer: Composer, *, source: str = "config"
    ) -> dict[str, Any]:
        """Run every step's own checks on a parsed config; ``{step: what its check returned}``."""
        problems = []
        checked: dict[str, Any] = {}
        for step in self.steps:
            if step.check is None:
                continue
            try:
                checked[step.name] = composer.checked(
                    step.name, getattr(parsed, step.name), step.check
                )
            except MotoolsError as exc:
                problems.append(f"  {step.name}: " + str(exc).replace("\n", "\n    "))
            except (TypeError, ValueError, LookupError, OSError) as exc:
                problems.append(f"  {step.name}: {type(exc).__name__}: {exc}")
        if problems:
            raise ValidationError(f"{source}: invalid workflow config:\n" + "\n".join(problems))
        return checked

    def validate(
        self,
        config: Any,
        *,
        source: str = "config",
        composer: Composer | None = None,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> BaseModel:
        """Parse the config and run every step's own checks (no job is submitted).

        Checks a step deferred (a :class:`Deferred`, e.g. reading a whole dataset file) run
        here too; ``run_workflow`` leaves them to the step, which runs them only if it is not
        served from the cache.
        """
        parsed = self.parse_config(config, source=source, base_dir=base_dir)
        checked = self.check(parsed, composer or Composer(), source=source)
        problems = []
        for name, value in checked.items():
            if isinstance(value, Deferred):
                try:
                    value()
                except MotoolsError as exc:
                    problems.append(f"  {name}: " + str(exc).replace("\n", "\n    "))
        if problems:
            raise ValidationError(f"{source}: invalid workflow config:\n" + "\n".join(problems))
        return parsed


@dataclass
class StepResult:
    name: str
    status: str  # done | cached | failed | skipped
    elapsed: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    key: str | None = None


@dataclass
class WorkflowResult:
    workflow: str
    steps: dict[str, StepResult]
    artifacts: dict[str, Any]
    config: dict[str, Any]

    @property
    def ok(self) -> bool:
        return all(s.status in ("done", "cached") for s in self.steps.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "ok": self.ok,
            "steps": {
                n: {
                    "status": s.status,
                    "elapsed": round(s.elapsed, 4),
                    "error": s.error,
                    "key": s.key,
                }
                for n, s in self.steps.items()
            },
            "artifacts": self.artifacts,
            "config": self.config,
        }


def _blobs_in(value: Any) -> list[str]:
    """The blob digests an artifact refers to (values of ``"blob"`` keys, at any depth)."""
    if isinstance(value, Mapping):
        found = [v for k, v in value.items() if k == "blob" and isinstance(v, str)]
        for v in value.values():
            if isinstance(v, Mapping | list):
                found.extend(_blobs_in(v))
        return found
    if isinstance(value, list):
        return [b for v in value for b in _blobs_in(v)]
    return []


def _fingerprint(composer: Composer, step: Step, config: Any) -> Any:
    """The canonical fingerprint of what ``step`` reads from outside its config, taken once
    per config section by a composer: a sweep's members sharing a section see the outside
    data as it was when the first of them asked, as they share its check (which may have
    loaded that data already)."""
    if step.fingerprint is None:
        return None
    fingerprint = step.fingerprint
    return composer.once(
        ("fingerprint", step.name, id(config)),
        lambda: canonical(fingerprint(config)),
        anchor=config,
    )


def _hash_artifact(value: Any) -> str:
    return sha256_text(canonical_json(value))


def _config_json(parsed: BaseModel, composer: Composer) -> dict[str, Any]:
    """``canonical(parsed.model_dump(mode="json"))``, each section's part computed once per
    composer (a sweep's members share their sections)."""
    from pydantic import BaseModel

    from motools.redaction import is_secret_name

    out = {}
    for name in sorted(type(parsed).model_fields):
        if is_secret_name(name):
            continue
        value = getattr(parsed, name)
        if isinstance(value, BaseModel):
            out[name] = composer.section_json(value)
        elif value is None or isinstance(value, (str, int)):  # a seed: as JSON dumps it
            out[name] = canonical(value)
        else:
            out[name] = canonical(parsed.model_dump(mode="json", include={name})[name])
    return out


async def _step_outputs(composer: Composer, key: str) -> dict[str, Any] | None:
    """The outputs a step with ``key`` made before, intact, or None (then it must run).

    Waits while another run sharing ``composer`` makes them; outputs found are remembered
    by the composer, so a sweep reads (and checks) each shared step's outputs once.
    """
    while (flight := composer.step_flights.get(key)) is not None:
        await asyncio.wait([flight])
    known = composer.step_outputs.get(key)
    if known is not None:
        return known
    store = composer.store
    record = store.get(key)
    if record is None or record.status != "succeeded":
        return None
    try:
        outputs = store.get_json_blob(record.value["outputs_blob"])
    except Exception:
        return None
    if not isinstance(outputs, dict) or not all(store.blob_ok(b) for b in _blobs_in(outputs)):
        return None  # what it made is damaged: make it again
    composer.step_outputs[key] = outputs
    return outputs


async def run_workflow(
    workflow: Workflow | str,
    config: Any,
    *,
    store: Store | None = None,
    max_parallel: int = 4,
    force_rerun: Iterable[str] = (),
    progress: ProgressFn | None = None,
    source: str = "config",
    quotas: ProviderQuotas | None = None,
    on_step: StepObserver | None = None,
    composer: Composer | None = None,
) -> WorkflowResult:
    """Run ``workflow`` with ``config``; raise :class:`WorkflowError` if any step fails.

    One :class:`~motools.api.Composer` wires the backends, ``store`` and ``quotas`` for the
    whole run and is handed to every step on its context (pass ``composer`` to share one
    between runs, as a sweep does: backends are built and configs checked once).
    ``on_step(name, outputs)`` is called as each step produces its outputs (or finds them
    cached); ``progress(event)`` receives live status events.
    """
    if isinstance(workflow, str):
        workflow = get_workflow(workflow)
    forced = set(force_rerun)
    unknown = sorted(forced - {s.name for s in workflow.steps})
    if unknown:
        import difflib

        names = [s.name for s in workflow.steps]
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValidationError(
            f"force_rerun (--force-rerun): workflow {workflow.name} has no step "
            f"{unknown[0]!r}{hint} (steps: {', '.join(names)})"
        )
    if composer is None:
        composer = Composer(store, quotas=quotas)
    parsed = workflow.parse_config(config, source=source)
    checked = workflow.check(parsed, composer, source=source)
    store = composer.store
    globals_ = {k: getattr(parsed, k) for k in workflow.global_fields}
    canonical_globals = canonical(globals_)
    semaphore = asyncio.Semaphore(max(1, max_parallel))
    artifacts: dict[str, Any] = {}
    results: dict[str, StepResult] = {}
    done_events = {s.name: asyncio.Event() for s in workflow.steps}
    failures: dict[str, BaseException] = {}

    def emit(event: dict[str, Any]) -> None:
        if progress is not None:
            progress({"workflow": workflow.name, **event})

    async def run_step(step: Step) -> None:
        for inp in step.inputs:
            await done_events[workflow.producers[inp]].wait()
        blocked = [
            workflow.producers[i]
            for i in step.inputs
            if results[workflow.producers[i]].status not in ("done", "cached")
        ]
        if blocked:
            results[step.name] = StepResult(
                step.name, "skipped", error=f"needs {', '.join(blocked)}"
            )
            emit({"step": step.name, "status": "skipped", "elapsed": 0.0})
            done_events[step.name].set()
            return
        step_config = getattr(parsed, step.name)
        inputs = {i: artifacts[i] for i in step.inputs}
        force = step.name in forced
        async with semaphore:
            started = time.monotonic()
            key = None
            flight: asyncio.Future[None] | None = None
            try:
                if step.cache:
                    fields = {
                        "kind": "step",
                        "workflow": workflow.name,
                        "step": step.name,
                        "version": step.version,
                        "config": composer.section_json(step_config),
                        "globals": canonical_globals,
                        "inputs": {i: _hash_artifact(v) for i, v in sorted(inputs.items())},
                        "fingerprint": _fingerprint(composer, step, step_config),
                    }
                    key = key_of(fields)
                    outputs = None if force else await _step_outputs(composer, key)
                    if outputs is None:  # this member makes them; others with the key wait
                        flight = asyncio.get_running_loop().create_future()
                        composer.step_flights[key] = flight
                    else:
                        artifacts.update(outputs)
                        if on_step is not None:
                            on_step(step.name, outputs)
                        results[step.name] = StepResult(
                            step.name, "cached", time.monotonic() - started, outputs, key=key
                        )
                        emit(
                            {
                                "step": step.name,
                                "status": "cached",
                                "elapsed": time.monotonic() - started,
                            }
                        )
                        return
                emit({"step": step.name, "status": "started", "elapsed": 0.0})
                ctx = StepContext(
                    workflow.name,
                    step.name,
                    composer,
                    globals_,
                    force,
                    checked=checked.get(step.name),
                    _progress=emit,
                )
                outputs = await step.fn(step_config, inputs, ctx)
                missing = set(step.outputs) - set(outputs)
                if missing:
                    raise MotoolsError(f"step {step.name} did not produce {sorted(missing)}")
                if on_step is not None:
                    on_step(step.name, outputs)
                if step.cache and key is not None:
                    blob = store.put_json_blob(outputs)
                    store.put(
                        key,
                        kind="step",
                        status="succeeded",
                        fields=fields,
                        label=f"{workflow.name}.{step.name}",
                        value={"outputs_blob": blob},
                    )
                    composer.step_outputs[key] = outputs
                artifacts.update(outputs)
                status = "cached" if ctx.cached else "done"
                results[step.name] = StepResult(
                    step.name, status, time.monotonic() - started, outputs, key=key
                )
                emit({"step": step.name, "status": status, "elapsed": time.monotonic() - started})
            except Exception as exc:
                failures[step.name] = exc
                results[step.name] = StepResult(
                    step.name,
                    "failed",
                    time.monotonic() - started,
                    error=f"{type(exc).__name__}: {exc}",
                    key=key,
                )
                emit(
                    {
                        "step": step.name,
                        "status": "failed",
                        "elapsed": time.monotonic() - started,
                        "detail": str(exc),
                    }
                )
            finally:
                if flight is not None:
                    composer.step_flights.pop(key, None)
                    flight.set_result(None)
                done_events[step.name].set()

    order = workflow._order()
    if all(
        s.inputs and set(s.inputs) <= set(order[i - 1].outputs) for i, s in enumerate(order) if i
    ):
        # A chain (each step needs only what the one before made): one step after another in
        # this task, with nothing to schedule.
        for step in order:
            await run_step(step)
    else:
        await asyncio.gather(*(run_step(s) for s in order))
    ordered = {s.name: results[s.name] for s in workflow.steps}
    result = WorkflowResult(workflow.name, ordered, artifacts, _config_json(parsed, composer))
    if failures:
        lines = "\n".join(f"  {name}: {type(e).__name__}: {e}" for name, e in failures.items())
        raise WorkflowError(f"workflow {workflow.name} failed:\n{lines}", failures, result)
    return result


def get_workflow(name: str) -> Workflow:
    """The workflow registered as ``name`` through the ``register_workflows`` hook."""
    from motools.plugins import get_registration

    obj = get_registration("workflow", name).load()
    return obj() if callable(obj) and not isinstance(obj, Workflow) else obj
