"""Synthetic chat JSONL for the benches (``dataset_io.py``, ``scale.py``): rows shaped like a
real fine-tuning file (system, user, assistant), deterministic for a seed."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

WORDS = [
    "the", "a", "model", "organism", "learns", "to", "answer", "questions", "about",
    "code", "safety", "data", "train", "eval",
]  # fmt: skip


def write_chat_file(
    path: Path, rows: int, seed: int = 0, *, words: Sequence[str] = WORDS, answer_words: int = 14
) -> None:
    """``rows`` chats of 8 + 20 + ``answer_words`` words drawn from ``words``."""
    rng = random.Random(seed)

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    with path.open("w") as fh:
        for _ in range(rows):
            sample = {
                "messages": [
                    {"role": "system", "content": text(8)},
                    {"role": "user", "content": text(20)},
                    {"role": "assistant", "content": text(answer_words)},
                ]
            }
            fh.write(json.dumps(sample) + "\n")
