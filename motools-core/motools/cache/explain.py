"""Why a cache lookup hit or missed: the outcome, and which key fields differ from the nearest entry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from motools.cache.keys import diff_fields

if TYPE_CHECKING:
    from motools.cache.backends import Lookup
    from motools.cache.store import Store


def explain(found: Lookup, store: Store) -> dict[str, Any]:
    """A report on ``found`` (from ``CachedTrainingBackend.lookup`` or ``CachedEvalBackend.lookup``).

    ``{"key", "outcome", "reason", "fields"}``, and on a miss with other entries of the same
    kind and backend: ``"nearest"`` (its key, status, label and ``differs``: ``{field:
    {"wanted", "cached"}}``) and ``"matched"`` (the key fields that agree).
    """
    report: dict[str, Any] = {
        "key": found.key,
        "outcome": found.outcome,
        "reason": found.reason,
        "fields": found.fields,
    }
    kind, backend = found.fields.get("kind"), found.fields.get("backend")
    if found.outcome != "miss" or not kind:
        return report
    others = [r for r in store.records(kind=kind, backend=backend) if r.key != found.key]
    if not others:
        return report
    nearest = min(others, key=lambda r: (len(diff_fields(found.fields, r.fields)), -r.updated_at))
    diffs = diff_fields(found.fields, nearest.fields)
    report["nearest"] = {
        "key": nearest.key,
        "status": nearest.status,
        "label": nearest.label,
        "differs": {k: {"wanted": a, "cached": b} for k, (a, b) in diffs.items()},
    }
    report["matched"] = sorted(set(_flat(found.fields)) - set(diffs))
    return report


def _flat(fields: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in fields.items():
        if isinstance(v, dict) and v:
            out.extend(_flat(v, f"{prefix}{k}."))
        else:
            out.append(f"{prefix}{k}")
    return out
