"""A training process for the crash test: ``train`` starts a run, ``resume`` continues one.

Talks to ``TINKER_BASE_URL`` with ``TINKER_API_KEY`` through the real SDK; prints one JSON
line when the run starts and one when it ends.

    python -m tests.tinker.crash_worker train DATASET TOKENIZER STATE HP_JSON
    python -m tests.tinker.crash_worker resume STATE
"""

from __future__ import annotations

import asyncio
import json
import sys

from motools.datasets import JSONLDataset
from motools_tinker import TinkerTrainingBackend

CHECKPOINT_EVERY = 2


async def main(argv: list[str]) -> None:
    backend = TinkerTrainingBackend(checkpoint_every=CHECKPOINT_EVERY)
    if argv[0] == "train":
        dataset_path, tokenizer, state_path, hp = argv[1:5]
        backend.tokenizer = tokenizer
        dataset = await JSONLDataset.load(dataset_path)
        run = await backend.train(
            dataset, "meta-llama/Llama-3.1-8B", json.loads(hp), state_path=state_path
        )
    else:
        run = await backend.resume(argv[1])
    print(json.dumps({"event": "started", "job_id": run.job_id, "step": run.step}), flush=True)
    model_id = await run.wait()
    print(json.dumps({"event": "done", "model_id": model_id}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
