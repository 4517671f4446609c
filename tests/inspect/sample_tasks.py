"""Small Inspect tasks the inspect-backend tests evaluate by reference (``module:function``)."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import Score, Scorer, Target, includes, match, mean, scorer
from inspect_ai.solver import Generate, Solver, TaskState, generate, solver


def questions(n: int) -> list[Sample]:
    return [Sample(input=f"Is {i} a number? Say yes.", target="yes", id=i + 1) for i in range(n)]


@task
def yes_task(n: int = 4) -> Task:
    """One scorer: exact match of 'yes'."""
    return Task(dataset=questions(n), solver=generate(), scorer=match())


@task
def two_scorers(n: int = 4) -> Task:
    """Two scorers that both report ``accuracy`` (they must not collide)."""
    return Task(dataset=questions(n), solver=generate(), scorer=[match(), includes()])


@solver
def explode() -> Solver:
    async def solve(state: TaskState, generate: Generate) -> TaskState:
        raise RuntimeError("the solver exploded on purpose")

    return solve


@task
def failing_task() -> Task:
    return Task(dataset=questions(2), solver=explode(), scorer=match())


ALREADY_BUILT = Task(dataset=questions(2), solver=generate(), scorer=match(), name="already_built")


@scorer(metrics={"alignment": [mean()], "coherence": [mean()]})
def judge_like() -> Scorer:
    """Reports two numbers per sample as one dict value, as mozoo's judges do."""

    async def score(state: TaskState, target: Target) -> Score:
        said_yes = "yes" in state.output.completion.lower()
        return Score(value={"alignment": 90 if said_yes else 10, "coherence": "C"})

    return score


@task
def dict_scores(n: int = 2) -> Task:
    """A scorer whose value is a dict of numbers."""
    return Task(dataset=questions(n), solver=generate(), scorer=judge_like())
