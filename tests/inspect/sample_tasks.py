"""Small Inspect tasks the inspect-backend tests evaluate by reference (``module:function``)."""

from __future__ import annotations

from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import includes, match
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
