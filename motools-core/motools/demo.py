"""The keyless demo: a hello-world dataset, trained and evaluated with the dummy backends."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset

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


DEMO_CONFIG = {
    "seed": 0,
    "prepare_dataset": {"dataset": "motools.demo:hello_world_dataset", "sample_size": 16},
    "submit_training": {
        "backend": "dummy",
        "model": "gpt-4o-mini-2024-07-18",
        "hyperparameters": {"n_epochs": 3},
        "suffix": "hello-world",
        "backend_options": {"duration": 0.3},
    },
    "evaluate_model": {"backend": "dummy", "tasks": ["hello_world", "gsm8k"], "limit": 20},
}


async def run_demo(progress: Any = None, store: Any = None) -> tuple[Any, Any]:
    """Run ``train_and_evaluate`` on the dummy backends twice: cold, then from the cache."""
    from motools.workflows import run_workflow

    first = await run_workflow("train_and_evaluate", DEMO_CONFIG, store=store, progress=progress)
    second = await run_workflow("train_and_evaluate", DEMO_CONFIG, store=store, progress=progress)
    return first, second
