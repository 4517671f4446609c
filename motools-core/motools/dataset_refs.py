"""Resolve a dataset reference: a JSONL path, a ``"module:function"`` loader, or a registered name.

References are parsed by :func:`motools.refs.parse_ref`, the parser tasks use too.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from motools.datasets.jsonl import JSONLDataset
from motools.errors import ValidationError
from motools.refs import Ref, file_sha256, module_digest, parse_ref


def _parse(ref: str) -> Ref:
    return parse_ref(ref, what="dataset")


def fingerprint_dataset_ref(ref: str, **kwargs: Any) -> dict[str, Any]:
    """What identifies the data behind ``ref`` beyond its name: file bytes or loader source."""
    parsed = _parse(ref)
    if parsed.kind in ("path", "pyfile"):
        found = file_sha256(ref) if Path(ref).is_file() else None
        if found is None:
            return {"file": ref, "missing": True}
        return {"file_sha256": found}
    if parsed.kind == "object":
        return {"source": parsed.source_digest()}
    from motools.plugins import registrations

    reg = registrations("dataset").get(ref)
    if reg is None or not isinstance(reg.target, str):
        return {"name": ref}
    return {
        "source": module_digest(reg.target.split(":", 1)[0]),
        "sha256": reg.metadata.get("sha256"),
    }


async def _call_loader(
    loader: Any, sample_size: int | None, seed: int | None, kwargs: dict[str, Any]
) -> JSONLDataset:
    params = inspect.signature(loader).parameters
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    call_kwargs = dict(kwargs)
    applied_sampling = False
    if sample_size is not None and ("sample_size" in params or accepts_any):
        call_kwargs["sample_size"] = sample_size
        applied_sampling = True
    if seed is not None and ("seed" in params or accepts_any):
        call_kwargs["seed"] = seed
    result = loader(**call_kwargs)
    if inspect.isawaitable(result):
        result = await result
    if not isinstance(result, JSONLDataset):
        result = JSONLDataset(result)
    if sample_size is not None and not applied_sampling and sample_size < len(result):
        result = result.sample(sample_size, seed=seed)
    return result


async def load_dataset_ref(
    ref: str, *, sample_size: int | None = None, seed: int | None = None, **kwargs: Any
) -> JSONLDataset:
    """Load ``ref`` (see module docstring), optionally sampled reproducibly."""
    parsed = _parse(ref)
    if parsed.kind in ("path", "pyfile"):
        if not Path(ref).is_file():
            raise ValidationError(f"dataset file {ref!r} does not exist")
        dataset = await JSONLDataset.load(ref)
        if sample_size is not None and sample_size < len(dataset):
            dataset = dataset.sample(sample_size, seed=seed)
        return dataset
    if parsed.kind == "object":
        try:
            loader = parsed.load()
        except ImportError as exc:
            raise ValidationError(f"dataset loader {ref!r} cannot be imported: {exc}") from exc
    else:
        from motools.plugins import get_registration

        loader = get_registration("dataset", ref).load()
    return await _call_loader(loader, sample_size, seed, kwargs)
