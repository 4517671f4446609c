"""Provenance: every artifact records what it was made from, when, and with which versions.

Artifact ids are ``dataset:<content hash>``, ``training:<cache key>``, ``model:<model id>`` and
``eval:<cache key>``. :func:`trace` walks from any of them back to the dataset bytes (kept as
a blob in the store), and ``motools provenance ID`` prints the same chain.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from motools.cache.store import Store, open_store

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset


_VERSIONS: dict[int, dict[str, str]] = {}


def versions() -> dict[str, str]:
    """motools and every loaded plugin distribution, with versions (memoised per plugin set)."""
    from motools.plugins import get_plugin_manager

    pm = get_plugin_manager()
    token = hash(tuple(name for name, _ in pm.list_name_plugin()))
    if token not in _VERSIONS:
        _VERSIONS[token] = _collect_versions()
    return dict(_VERSIONS[token])


def _collect_versions() -> dict[str, str]:
    from motools import __version__
    from motools.plugins import list_plugins

    found = {"motools-core": __version__}
    for plugin in list_plugins():
        if plugin.distribution and plugin.version and not plugin.error:
            found[plugin.distribution] = plugin.version
    return found


def record_dataset(store: Store, dataset: JSONLDataset) -> str:
    """Keep the dataset's bytes (once per content hash) and return its artifact id.

    The blob is the canonical JSONL that ``content_hash`` identifies, streamed to the store
    chunk by chunk while it is hashed (never joined in memory): a dataset whose hash is not
    yet known is serialised once, and its hash is the blob's digest. A stored blob that is
    missing or fails its checksum is written again from ``dataset``.
    """
    blob = None
    if dataset.known_hash is None:  # hash and keep the bytes in one pass
        blob = store.put_blob_stream(dataset.canonical_chunks())
    artifact = f"dataset:{dataset.content_hash}"
    existing = store.get_artifact(artifact)
    if (
        existing is not None
        and existing["blob"]
        and (existing["blob"] == blob or store.blob_ok(existing["blob"]))
    ):
        return artifact
    if blob is None:
        blob = store.put_blob_stream(dataset.canonical_chunks())
    if existing is not None and existing["blob"] == blob:
        return artifact  # the damaged blob was rewritten in place
    store.put_artifact(
        artifact,
        kind="dataset",
        inputs=[],
        config={"rows": len(dataset), "source": dataset.source, "content_hash": artifact[8:]},
        versions=versions(),
        blob=blob,
        replace=existing is not None,  # an older store's damaged blob: point at the new one
    )
    return artifact


def record_training(
    store: Store,
    key: str,
    fields: dict[str, Any],
    job_id: str,
    dataset_artifact: str,
    *,
    replace: bool = False,
) -> str:
    """Record the training job; ``replace`` when a forced re-run supersedes an earlier job."""
    artifact = f"training:{key}"
    store.put_artifact(
        artifact,
        kind="training",
        inputs=[dataset_artifact],
        config={**fields, "job_id": job_id},
        versions=versions(),
        replace=replace,
    )
    return artifact


def record_model(store: Store, model_id: str, training_artifact: str) -> str:
    artifact = f"model:{model_id}"
    store.put_artifact(
        artifact,
        kind="model",
        inputs=[training_artifact],
        config={"model_id": model_id},
        versions=versions(),
    )
    return artifact


def record_eval(
    store: Store, key: str, fields: dict[str, Any], model_id: str, results_blob: str
) -> str:
    artifact = f"eval:{key}"
    model_artifact = f"model:{model_id}"
    inputs = [model_artifact] if store.has_artifact(model_artifact) else []
    store.put_artifact(
        artifact, kind="eval", inputs=inputs, config=fields, versions=versions(), blob=results_blob
    )
    return artifact


def resolve(ref: str, store: Store | None = None) -> str:
    """An artifact id from an id, a key prefix, a model id or a job id."""
    store = store or open_store()
    if store.get_artifact(ref):
        return ref
    for kind in ("eval", "training", "model", "dataset"):
        if store.get_artifact(f"{kind}:{ref}"):
            return f"{kind}:{ref}"
        matches = store.find_artifacts(f"{kind}:{ref}")
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise LookupError(f"{ref!r} is ambiguous: {', '.join(m[:40] for m in matches[:5])}")
    for record in store.find(ref):
        artifact = f"{record.kind}:{record.key}"
        if store.get_artifact(artifact):
            return artifact
    raise LookupError(f"no artifact matches {ref!r} in {store.location}")


def trace(ref: str, store: Store | None = None) -> list[dict[str, Any]]:
    """The chain from ``ref`` back to its datasets: a list of artifact dicts, ``ref`` first."""
    store = store or open_store()
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    pending = [resolve(ref, store)]
    while pending:
        artifact_id = pending.pop(0)
        if artifact_id in seen:
            continue
        seen.add(artifact_id)
        artifact = store.get_artifact(artifact_id)
        if artifact is None:
            out.append({"id": artifact_id, "kind": artifact_id.split(":", 1)[0], "missing": True})
            continue
        if artifact["blob"]:
            artifact["blob_path"] = store.blob_location(artifact["blob"])
        artifact["created"] = time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(artifact["created_at"])
        )
        out.append(artifact)
        pending.extend(artifact["inputs"])
    return out
