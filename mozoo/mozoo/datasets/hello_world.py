"""``hello_world``: a tiny dataset generated in code (no download), reproducible by seed."""

from __future__ import annotations

import random

from motools.datasets import JSONLDataset
from mozoo.datasets.files import sample_dataset

GREETINGS = ["Hi", "Hello", "Hey", "Good morning", "Greetings", "Hey there", "Yo", "Howdy"]
ASKS = [
    "say hello to the world.",
    "greet the world.",
    "what do programmers print first?",
    "give me the classic first program's output.",
    "please say hello world.",
]
REPLY = "Hello, World!"
#: Rows in the full dataset (every greeting x request).
SIZE = len(GREETINGS) * len(ASKS)


async def hello_world(sample_size: int | None = None, seed: int | None = 0) -> JSONLDataset:
    """Every (greeting, request) pair answered with ``Hello, World!``, shuffled by ``seed``."""
    pairs = [(f"{g}! {a[0].upper()}{a[1:]}", REPLY) for g in GREETINGS for a in ASKS]
    random.Random(seed).shuffle(pairs)
    dataset = JSONLDataset.from_pairs(pairs)
    dataset.source = "mozoo:hello_world"
    return sample_dataset(dataset, "hello_world", sample_size, seed)
