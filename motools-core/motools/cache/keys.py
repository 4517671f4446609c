"""Cache keys: sha256 of canonical JSON of *normalised* inputs. Secrets never enter a key.

A key's fields are kept beside it in the store so that ``motools cache explain`` can say which
field matched or differed from the nearest existing entry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from motools.cache.store import canonical_json
from motools.hyperparameters import canonical_number

#: Keyword arguments whose names look like credentials are never part of a key or record.
SECRET_NAME = re.compile(r"(api_?key|token|secret|password|passwd|auth|credential)", re.I)
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
    if isinstance(value, Mapping):
        return {
            str(k): canonical(v)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
            if not SECRET_NAME.search(str(k))
        }
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        return canonical_number(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Path):
        return str(value)
    content_hash = getattr(value, "content_hash", None)
    if isinstance(content_hash, str):  # a JSONLDataset (a validation set, say): its bytes matter
        return {"content_hash": content_hash}
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def public_options(
    options: Mapping[str, Any], *, drop: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``options`` without secrets or ``drop``ped names, canonicalised."""
    return {
        k: canonical(v)
        for k, v in sorted(options.items())
        if not SECRET_NAME.search(k) and k not in drop
    }


def normalised_hyperparameters(
    backend: Any, hyperparameters: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Defaults filled in and numbers canonical, via the backend when it knows how."""
    normalise = getattr(backend, "normalize_hyperparameters", None)
    if normalise is not None:
        return canonical(normalise(hyperparameters))
    return canonical(dict(hyperparameters or {}))


def backend_name(backend: Any) -> str:
    return str(getattr(backend, "name", type(backend).__name__))


def training_key_fields(
    backend: Any,
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
        "backend": backend_name(backend),
        "cache_version": str(getattr(backend, "cache_version", "0")),
        "dataset": dataset_hash,
        "model": model,
        "hyperparameters": normalised_hyperparameters(backend, hyperparameters),
        "suffix": suffix,
        "seed": opts.pop("seed", None),
        "options": opts,
    }


def _file_digest(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]
    except OSError:
        return None


def _module_digest(module: str) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.has_location:
        return None
    return _file_digest(spec.origin)


def task_identity(item: Any, backend: Any = None) -> dict[str, Any] | None:
    """Name plus a digest of the task's source where knowable; None if not identifiable."""
    custom = getattr(backend, "task_identity", None)
    if custom is not None:
        found = custom(item)
        if found is not None:
            return found
    if not isinstance(item, str):
        return None
    ident: dict[str, Any] = {"name": item}
    source: str | None = None
    if "@" in item and item.split("@", 1)[0].endswith(".py"):
        source = _file_digest(item.split("@", 1)[0])
    elif ":" in item:
        source = _module_digest(item.split(":", 1)[0])
    else:
        from motools.plugins import registrations

        reg = registrations("task").get(item)
        if reg is not None and isinstance(reg.target, str):
            source = _module_digest(reg.target.split(":", 1)[0])
    if source:
        ident["source"] = source
    return ident


def eval_key_fields(
    backend: Any, *, model_id: str, tasks: list[dict[str, Any]], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Everything that decides an evaluation's results."""
    return {
        "kind": "eval",
        "backend": backend_name(backend),
        "cache_version": str(getattr(backend, "cache_version", "0")),
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
