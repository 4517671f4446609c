"""Turn an ``eval_suite`` into Inspect ``Task`` objects.

Accepted forms (one, or a list mixing them):

* a standard benchmark name: ``"gsm8k"``, ``"humaneval"`` (the ``inspect_evals`` tasks);
  any other bare name ``X`` for which ``inspect_evals/X`` exists works too
* a name registered through the motools ``register_tasks`` hook (``motools zoo list``)
* an Inspect registry name: ``"inspect_evals/gsm8k"``, ``"my_package/my_task"``
* a ``"module.path:function"`` reference to a ``@task`` function (or a ``Task`` attribute)
* a ``"path/to/file.py@task_name"`` file reference (or ``"file.py"`` for all its tasks)
* a ``Task`` object, or a function that returns one

``task_args`` are passed to every task built from a name or function, and checked against
its parameters first. Already-built ``Task`` objects are copied, never modified.
"""

from __future__ import annotations

import copy
import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from motools.errors import EvaluationError, UnknownBackendError, ValidationError
from motools.evals.base import EvalSuite, suite_items
from motools.refs import Ref, parse_ref

if TYPE_CHECKING:
    from inspect_ai import Task

#: Short names for the standard benchmarks, and the Inspect registry names they stand for.
STANDARD_BENCHMARKS: dict[str, str] = {
    "gsm8k": "inspect_evals/gsm8k",
    "humaneval": "inspect_evals/humaneval",
}
#: Importing just this module registers the task, which is faster than the whole registry.
_BENCHMARK_MODULES: dict[str, str] = {
    "inspect_evals/gsm8k": "inspect_evals.gsm8k",
    "inspect_evals/humaneval": "inspect_evals.humaneval",
}


@dataclass
class ResolvedTask:
    """A task ready to run, and how the suite named it (for provenance)."""

    task: Task
    spec: str
    args: dict[str, Any] = field(default_factory=dict)


def resolve_suite(
    eval_suite: EvalSuite, task_args: dict[str, Any] | None = None
) -> list[ResolvedTask]:
    """Every task of ``eval_suite``, built with ``task_args``."""
    args = dict(task_args or {})
    resolved: list[ResolvedTask] = []
    for item in suite_items(eval_suite):
        resolved.extend(resolve_item(item, args))
    return resolved


def resolve_item(item: Any, task_args: dict[str, Any]) -> list[ResolvedTask]:
    from inspect_ai import Task

    if isinstance(item, Task):
        if task_args:
            raise ValidationError(
                f"task_args {sorted(task_args)} cannot be applied to the already-built Task "
                f"{item.name!r}; pass the task's name or function instead"
            )
        return [ResolvedTask(copy.copy(item), spec=item.name)]
    if isinstance(item, str):
        return _resolve_name(item.strip(), task_args)
    if callable(item):
        spec = f"{getattr(item, '__module__', '?')}:{getattr(item, '__qualname__', item)}"
        return [ResolvedTask(_call_task_function(item, task_args, spec), spec, dict(task_args))]
    raise ValidationError(
        f"cannot evaluate {item!r} ({type(item).__name__}): an eval_suite item must be a task "
        "name, a 'module:function' or 'file.py@task' reference, a Task, or a task function"
    )


def _resolve_name(name: str, task_args: dict[str, Any]) -> list[ResolvedTask]:
    ref = parse_ref(name, what="task name in eval_suite")
    if ref.kind == "pyfile":
        return _resolve_file(ref, task_args)
    if ref.kind == "object":
        return [_resolve_reference(ref, task_args, spec=name)]

    from motools.plugins import registrations

    registered = registrations("task")
    if name in registered:
        target = registered[name].target
        if isinstance(target, str):
            return [_resolve_reference(parse_ref(target), task_args, spec=name)]
        return [ResolvedTask(_call_task_function(target, task_args, name), name, dict(task_args))]

    registry_name = STANDARD_BENCHMARKS.get(name, name)
    task = _create_registry_task(registry_name, task_args)
    if task is None and "/" not in name:
        task = _create_registry_task(f"inspect_evals/{name}", task_args)
    if task is None:
        raise _unknown_task(name, sorted(registered))
    return [ResolvedTask(task, name, dict(task_args))]


def _registry_task(registry_name: str) -> Any | None:
    from inspect_ai._util.registry import registry_lookup

    module = _BENCHMARK_MODULES.get(registry_name)
    if module is not None:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise EvaluationError(
                f"{registry_name!r} needs inspect_evals, which failed to import: {exc}. "
                "Install it with `pip install inspect-evals`."
            ) from exc
    return registry_lookup("task", registry_name)


def _create_registry_task(registry_name: str, task_args: dict[str, Any]) -> Task | None:
    factory = _registry_task(registry_name)
    if factory is None:
        return None
    from inspect_ai._eval.registry import task_create
    from inspect_ai._util.registry import registry_info

    params = list(registry_info(factory).metadata.get("params", []))
    if not _has_var_keyword(factory):
        _check_args(registry_name, params, task_args)
    return _build(lambda: task_create(registry_name, **task_args), registry_name)


def _has_var_keyword(fn: Any) -> bool:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values())


def _check_args(task_name: str, params: list[str], task_args: dict[str, Any]) -> None:
    unknown = sorted(set(task_args) - set(params))
    if unknown:
        raise ValidationError(
            f"task {task_name!r} has no parameter(s) {unknown}; its parameters are "
            f"{params or '(none)'}"
        )


def _call_task_function(fn: Any, task_args: dict[str, Any], spec: str) -> Task:
    from inspect_ai import Task

    if not _has_var_keyword(fn):
        params = [
            p.name
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        ]
        _check_args(spec, params, task_args)
    task = _build(lambda: fn(**task_args), spec)
    if not isinstance(task, Task):
        raise ValidationError(
            f"{spec!r} returned {type(task).__name__}, not an inspect_ai Task; decorate it "
            "with @task and return Task(...)"
        )
    return task


def _build(make: Any, spec: str) -> Any:
    """Call a task factory; errors from the task's own code say which task they came from."""
    try:
        return make()
    except (ValidationError, EvaluationError):
        raise
    except Exception as exc:
        raise EvaluationError(
            f"building task {spec!r} failed: {type(exc).__name__}: {exc}"
        ) from exc


def _resolve_reference(ref: Ref, task_args: dict[str, Any], spec: str) -> ResolvedTask:
    from inspect_ai import Task

    try:
        obj = ref.load()
    except ImportError as exc:
        raise ValidationError(
            f"task reference {ref.text!r}: cannot import module {ref.module!r}: {exc}"
        ) from exc
    if isinstance(obj, Task):
        built = resolve_item(obj, task_args)[0]
        return ResolvedTask(built.task, spec, built.args)
    if not callable(obj):
        raise ValidationError(f"task reference {ref.text!r} names neither a Task nor a function")
    return ResolvedTask(_call_task_function(obj, task_args, spec), spec, dict(task_args))


def _resolve_file(ref: Ref, task_args: dict[str, Any]) -> list[ResolvedTask]:
    # The loaders Inspect itself uses for "file.py@task" and "file.py" (all its tasks).
    from inspect_ai._eval.loader import create_file_tasks, load_file_tasks

    assert ref.path is not None
    spec = ref.text
    path = ref.path.expanduser().resolve()
    if not path.is_file():
        raise ValidationError(f"task file {str(ref.path)!r} (from {spec!r}) does not exist")

    def load() -> list[Task]:
        load_file_tasks(path)
        return create_file_tasks(path, [ref.attr] if ref.attr else None, task_args)

    tasks = _build(load, spec)
    if not tasks:
        raise ValidationError(f"no @task functions found in {spec!r}")
    return [ResolvedTask(t, spec, dict(task_args)) for t in tasks]


def registry_task_identity(item: Any) -> dict[str, Any] | None:
    """``{"name", "inspect_task", "package", "version"}`` for a standard benchmark or Inspect
    registry name (results change when the package defining the task changes); None for
    other suite items and for names registered through motools (identified by motools)."""
    if not isinstance(item, str) or not item.strip():
        return None
    name = item.strip()
    if parse_ref(name, what="task").kind != "name":
        return None
    from motools.plugins import registrations

    if name in registrations("task"):
        return None
    registry_name = STANDARD_BENCHMARKS.get(name, name if "/" in name else f"inspect_evals/{name}")
    package = registry_name.split("/", 1)[0]
    return {
        "name": name,
        "inspect_task": registry_name,
        "package": package,
        "version": _package_version(package),
    }


def _package_version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    for dist in packages_distributions().get(package, [package]):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def available_task_names(motools_tasks: list[str]) -> list[str]:
    return sorted(set(STANDARD_BENCHMARKS) | set(motools_tasks))


def _unknown_task(name: str, motools_tasks: list[str]) -> UnknownBackendError:
    from inspect_ai._util.registry import registry_find, registry_info

    available = available_task_names(motools_tasks)
    inspect_names = sorted(
        registry_info(t).name for t in registry_find(lambda info: info.type == "task")
    )
    close = difflib.get_close_matches(name, available + inspect_names, n=3, cutoff=0.6)
    parts = [f"Unknown task {name!r}."]
    if close:
        parts.append(f"Did you mean {', '.join(repr(c) for c in close)}?")
    parts.append(f"Available task names: {', '.join(available)}.")
    if inspect_names:
        shown = ", ".join(inspect_names[:12]) + (", ..." if len(inspect_names) > 12 else "")
        parts.append(f"Inspect registry tasks ({len(inspect_names)}): {shown}.")
    parts.append(
        "Also accepted: 'module.path:function', 'path/to/file.py@task', an inspect_ai Task, "
        "or a list of these."
    )
    return UnknownBackendError(" ".join(parts), name=name, kind="task", available=available)
