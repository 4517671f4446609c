"""A small Inspect task for evaluating tiny adapters."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.scorer import includes
from inspect_ai.solver import generate

PROMPTS = ["Question number 1?", "Question number 7?", "What is your favourite animal?"]


@task
def favourite() -> Task:
    return Task(
        dataset=MemoryDataset(
            [Sample(id=i, input=p, target="Owls") for i, p in enumerate(PROMPTS)]
        ),
        solver=generate(),
        scorer=includes(),
    )
