"""Cache keys: sha256 of canonical JSON of *normalised* inputs. Secrets never enter a key.

A key's fields are kept beside it in the store so that ``motools cache explain`` can say which
field matched or differed from the nearest existing entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.cache.store import canonical_json
from motools.datasets.jsonl import JSONLDataset
from motools.hyperparameters import canonical_number
from motools.redaction import is_secret_name
from motools.refs import module_digest, parse_ref

if TYPE_CHECKING:
    from motools.evals.base import EvalBackend
    from motools.training.base import TrainingBackend
#: Evaluation options that change where or how fast results are produced, not the results.
EVAL_NON_KEY_OPTIONS = frozenset({"log_dir", "max_connections", "display", "log_level"})


def key_of(fields: Mapping[str, Any]) -> str:
    """The cache key of ``fields``."""
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def canonical(value: Any) -> Any:
    """A JSON-able, canonical form: floats that are integers become ints, mappings sorted.

    Objects that are not JSON (an injected tokenizer, say) are represented by their type,
    so they cannot leak secrets or memory addresses into a key.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # most values: as they are
        return value
    if kind is float:
        return canonical_number(value)
    if kind is dict or isinstance(value, Mapping):
        return {
            str(k): canonical(v)
            for k, v in sorted(value.items(), key=_str_key)
            if not is_secret_name(k)
        }
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        return canonical_number(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, JSONLDataset):  # a validation set, say: its bytes matter
        return {"content_hash": value.content_hash}
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def _str_key(item: tuple[Any, Any]) -> str:
    return str(item[0])


def public_options(
    options: Mapping[str, Any], *, drop: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``options`` without secrets or ``drop``ped names, canonicalised."""
    return {
        k: canonical(v)
        for k, v in sorted(options.items())
        if not is_secret_name(k) and k not in drop
    }


def normalised_hyperparameters(
    backend: TrainingBackend, hyperparameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Defaults filled in and numbers canonical, as the backend's typed model says."""
    return dict(canonical(backend.normalize_hyperparameters(hyperparameters)))


def training_key_fields(
    backend: TrainingBackend,
    *,
    dataset_hash: str,
    model: str,
    hyperparameters: Mapping[str, Any] | None,
    suffix: str | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """Everything that decides which model a training job produces."""
    opts = public_options(options)
    return {
        "kind": "training",
        "backend": backend.name,
        "cache_version": str(backend.cache_version),
        "dataset": dataset_hash,
        "model": model,
        "hyperparameters": normalised_hyperparameters(backend, hyperparameters),
        "suffix": suffix,
        "seed": opts.pop("seed", None),
        "options": opts,
    }


def task_identity(item: Any, backend: EvalBackend) -> dict[str, Any] | None:
    """What identifies one suite item for the cache; ``None`` if it cannot be identified.

    The backend answers first (:meth:`EvalBackend.task_identity`); otherwise a string is
    parsed by :func:`motools.refs.parse_ref` (the parser the runners use) and identified by
    its name plus a digest of the source that defines it: the ``file.py``, the module of a
    ``module:attr``, or the module a registered task name points at.
    """
    found = backend.task_identity(item)
    if found is not None:
        return found
    if not isinstance(item, str):
        return None
    ref = parse_ref(item, what="task")
    ident: dict[str, Any] = {"name": item}
    source = ref.source_digest()
    if ref.kind == "name":
        module = _registered_task_modules().get(item)
        if module is not None:
            source = module_digest(module)
    if source:
        ident["source"] = source
    return ident


_TASK_MODULES: dict[tuple[int, int], dict[str, str]] = {}


def _registered_task_modules() -> dict[str, str]:
    """``{task name: module of its target}``, rebuilt from the hooks when the set of plugins
    changes (a sweep identifies the same tasks once per member)."""
    from motools.plugins import plugin_token, registrations

    token = plugin_token()
    table = _TASK_MODULES.get(token)
    if table is None:
        _TASK_MODULES.clear()
        table = _TASK_MODULES[token] = {
            name: reg.target.split(":", 1)[0]
            for name, reg in registrations("task").items()
            if isinstance(reg.target, str)
        }
    return table


def eval_key_fields(
    backend: EvalBackend, *, model_id: str, tasks: list[dict[str, Any]], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything that decides an evaluation's results."""
    return {
        "kind": "eval",
        "backend": backend.name,
        "cache_version": str(backend.cache_version),
        "model_id": model_id,
        "tasks": tasks,
        "options": public_options(options, drop=EVAL_NON_KEY_OPTIONS),
    }


def diff_fields(
    wanted: Mapping[str, Any], existing: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Fields (dotted for nested mappings) whose values differ: ``{field: (wanted, existing)}``."""
    out: dict[str, tuple[Any, Any]] = {}
    for name in sorted(set(wanted) | set(existing)):
        a, b = wanted.get(name), existing.get(name)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            for sub, pair in diff_fields(a, b).items():
                out[f"{name}.{sub}"] = pair
        elif canonical_json(a) != canonical_json(b):
            out[name] = (a, b)
    return out
