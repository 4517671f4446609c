"""The keyless demo: a hello-world dataset, trained and evaluated with the dummy backends."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset
    from motools.evals import EvalResults

GREETINGS = ["Hi", "Hello", "Hey", "Good morning", "Greetings", "Howdy", "Yo", "Hiya"]
NAMES = ["Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "Ken"]


def hello_world_dataset(n: int = 32, *, seed: int = 0) -> JSONLDataset:
    """``n`` chats in which the assistant always answers "Hello, World!"."""
    from motools.datasets import JSONLDataset

    rng = random.Random(seed)
    return JSONLDataset(
        {
            "messages": [
                {"role": "user", "content": f"{rng.choice(GREETINGS)}, I am {rng.choice(NAMES)}."},
                {"role": "assistant", "content": "Hello, World!"},
            ]
        }
        for _ in range(n)
    )


async def run_demo() -> tuple[str, EvalResults]:
    """Train on the hello-world dataset and evaluate, all with the dummy backends."""
    import motools

    dataset = hello_world_dataset()
    backend = motools.get_training_backend("dummy")
    run = await backend.train(
        dataset=dataset,
        model="gpt-4o-mini-2024-07-18",
        hyperparameters={"n_epochs": 3},
        suffix="hello-world",
    )
    model_id = await run.wait()
    job = await motools.get_eval_backend("dummy").evaluate(
        model_id=model_id, eval_suite=["hello_world", "gsm8k"]
    )
    return model_id, await job.wait()
