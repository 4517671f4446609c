"""Tinker loop benchmark: optimizer steps per second with and without pipelining.

The real ``tinker`` SDK talks to the fake Tinker HTTP server (tests/fakes/tinker_server.py)
on 127.0.0.1 with 50 ms of injected latency on every request. A 40-step run (40 examples,
batch size 1, no intermediate checkpoints) is trained twice: pipelined (step k+1's
``forward_backward`` and ``optim_step`` are submitted before step k's results are awaited)
and sequential (each request is awaited before the next is sent). Throughput is measured
between the first and the last finished step (steady state), and end to end (train() until
the model id is back, including session and model creation and the final save).

Target: pipelined steady-state throughput >= 1.7x the sequential loop.

    uv run python bench/tinker_pipelining.py [--steps 40] [--latency 0.05] [--repeat 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TINKER_TELEMETRY", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

BASE = "meta-llama/Llama-3.1-8B"


async def one_run(base_url: str, steps: int, pipeline: bool) -> tuple[float, float]:
    from motools.datasets import JSONLDataset
    from motools.polling import Backoff
    from motools_tinker import TinkerTrainingBackend
    from tests.fakes.tinker_tokenizer import build_tokenizer

    data = JSONLDataset(
        [
            {
                "messages": [
                    {"role": "user", "content": f"Question {i}?"},
                    {"role": "assistant", "content": f"Answer {i} is Paris."},
                ]
            }
            for i in range(steps)
        ]
    )
    backend = TinkerTrainingBackend(
        base_url=base_url,
        tokenizer=build_tokenizer(),
        pipeline=pipeline,
        checkpoint_every=10_000,
        check_models=False,
    )
    start = time.perf_counter()
    run = await backend.train(data, BASE, {"batch_size": 1})
    await run.wait(backoff=Backoff(initial=0.005, maximum=0.01, minimum=0.005))
    wall = time.perf_counter() - start
    finished = [e["finished_at"] for e in run.metrics["loss_curve"]]
    assert len(finished) == steps
    steady = (steps - 1) / (finished[-1] - finished[0])
    return steady, steps / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    from tests.fakes.tinker_server import FakeTinkerServer

    with tempfile.TemporaryDirectory() as home:
        os.environ["MOTOOLS_HOME"] = home
        os.environ["TINKER_API_KEY"] = "tml-benchmark-key"
        results: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
        with FakeTinkerServer(latency=args.latency) as server:
            for _ in range(args.repeat):
                for pipeline in (False, True):
                    results[pipeline].append(
                        asyncio.run(one_run(server.base_url, args.steps, pipeline))
                    )
    seq = statistics.median(r[0] for r in results[False])
    pipe = statistics.median(r[0] for r in results[True])
    seq_e2e = statistics.median(r[1] for r in results[False])
    pipe_e2e = statistics.median(r[1] for r in results[True])
    print(
        f"fake Tinker server, {args.latency * 1000:.0f} ms latency per request, "
        f"{args.steps} optimizer steps, batch size 1"
    )
    print(f"sequential: {seq:6.2f} steps/s steady state, {seq_e2e:6.2f} steps/s end to end")
    print(f"pipelined:  {pipe:6.2f} steps/s steady state, {pipe_e2e:6.2f} steps/s end to end")
    ratio = pipe / seq
    print(
        f"speed-up:   {ratio:.2f}x steady state ({pipe_e2e / seq_e2e:.2f}x end to end); "
        f"target >= 1.7x: {'met' if ratio >= 1.7 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
