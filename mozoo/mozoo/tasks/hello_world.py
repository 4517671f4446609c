"""``hello_world``: the smallest task -- say "Hello, World!" exactly (strict exact match).

The answer, stripped of surrounding whitespace, must equal the target character for
character (Inspect's ``exact()`` normalises case and punctuation, which is not this test).
Metric: ``accuracy``.
"""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import GenerateConfig
from inspect_ai.scorer import (
    CORRECT,
    INCORRECT,
    Score,
    Scorer,
    Target,
    accuracy,
    scorer,
    stderr,
)
from inspect_ai.solver import TaskState, generate

from mozoo.datasets.hello_world import ASKS, GREETINGS, REPLY


@scorer(metrics=[accuracy(), stderr()])
def exact_match() -> Scorer:
    """CORRECT when the stripped answer equals the target exactly (case and punctuation too)."""

    async def score(state: TaskState, target: Target) -> Score:
        answer = state.output.completion.strip()
        return Score(value=CORRECT if answer == target.text else INCORRECT, answer=answer)

    return score


@task
def hello_world(temperature: float = 0.0) -> Task:
    """Every hello_world prompt; an answer scores 1 only if it is exactly ``Hello, World!``."""
    samples = [
        Sample(
            id=f"{i}", input=f"{g}! {a[0].upper()}{a[1:]} Reply with exactly: {REPLY}", target=REPLY
        )
        for i, (g, a) in enumerate((g, a) for g in GREETINGS for a in ASKS)
    ]
    return Task(
        dataset=MemoryDataset(samples, name="hello_world"),
        solver=generate(),
        scorer=exact_match(),
        config=GenerateConfig(temperature=temperature),
    )
