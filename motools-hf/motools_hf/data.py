"""Render a run's saved dataset for its worker, checking it matches what the client saw."""

from __future__ import annotations

from typing import Any

from motools.errors import TrainingError
from motools_hf.rendering import Rendered, fingerprint, render_dataset


def load_rendered(state: dict[str, Any], tokenizer: Any) -> list[Rendered]:
    from motools.datasets import JSONLDataset

    dataset = JSONLDataset.load_sync(state["dataset_path"])
    if dataset.content_hash != state["dataset_hash"]:
        raise TrainingError(
            f"{state['dataset_path']} changed since run {state['job_id']} was submitted "
            "(content hash differs); cannot train on different data",
            job_id=str(state["job_id"]),
            code="dataset_changed",
        )
    hp = state["hyperparameters"]
    items, problems = render_dataset(
        dataset,
        tokenizer,
        train_on=hp["train_on"],
        max_length=hp["max_length"],
        on_too_long=hp["on_too_long"],
    )
    if problems or fingerprint(items) != state["render_hash"]:
        raise TrainingError(
            f"the base model's tokenizer renders run {state['job_id']}'s dataset differently "
            "than when it was submitted",
            job_id=str(state["job_id"]),
            code="tokenizer_mismatch",
        )
    return items
