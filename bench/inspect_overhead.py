"""Inspect backend benchmark: motools overhead over plain Inspect, and concurrency options.

1. Overhead: 200 samples of a simple task on the same ``mockllm`` model, through
   ``InspectEvalBackend`` and through a plain ``inspect_ai.eval_async`` call, alternating,
   in the same process. Target: motools adds at most 10% over plain Inspect.
2. 8 models x 1 task: motools started concurrently (one batched Inspect run) vs one after
   another (what an in-process queue or lock amounts to), and -- with ``--workers`` -- one
   worker process per model. The models answer after ``--latency`` seconds (an API call).

    uv run python bench/inspect_overhead.py [--samples 200] [--repeats 3] [--workers]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

os.environ.pop("INSPECT_TELEMETRY", None)  # Inspect reads it as a hook's module.function


def _task(samples: int) -> Any:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import match

    return Task(
        dataset=[Sample(input=f"Say yes ({i})", target="yes") for i in range(samples)],
        scorer=match(),
        name="simple",
    )


def _outputs(latency: float = 0.0) -> Any:
    from inspect_ai.model import ModelOutput, ModelUsage

    async def outputs(input: Any, tools: Any, tool_choice: Any, config: Any) -> Any:
        if latency:
            await asyncio.sleep(latency)
        output = ModelOutput.from_content(model="mockllm", content="yes")
        output.usage = ModelUsage(input_tokens=3, output_tokens=1, total_tokens=4)
        return output

    return outputs


async def plain_inspect(samples: int, log_dir: str) -> float:
    from inspect_ai import eval_async
    from inspect_ai.model import get_model

    model = get_model("mockllm/model", custom_outputs=_outputs(), memoize=False)
    start = time.perf_counter()
    logs = await eval_async(_task(samples), model=model, log_dir=log_dir)
    elapsed = time.perf_counter() - start
    assert logs[0].status == "success" and logs[0].results.completed_samples == samples
    return elapsed


async def via_motools(samples: int, log_dir: str) -> float:
    from motools_inspect import InspectEvalBackend

    backend = InspectEvalBackend(log_dir=log_dir)
    start = time.perf_counter()
    job = await backend.evaluate(
        "mockllm/model", _task(samples), model_args={"custom_outputs": _outputs()}
    )
    results = await job.wait()
    elapsed = time.perf_counter() - start
    assert len(results.samples) == samples
    return elapsed


async def models_concurrently(
    n: int, samples: int, latency: float, log_dir: str, max_connections: int | None
) -> float:
    from motools_inspect import InspectEvalBackend

    backend = InspectEvalBackend(log_dir=log_dir)
    start = time.perf_counter()
    jobs = [
        await backend.evaluate(
            f"mockllm/model-{i}",
            _task(samples),
            model_args={"custom_outputs": _outputs(latency)},
            max_connections=max_connections,
        )
        for i in range(n)
    ]
    results = await asyncio.gather(*(job.wait() for job in jobs))
    elapsed = time.perf_counter() - start
    assert [r.model_id for r in results] == [f"mockllm/model-{i}" for i in range(n)]
    return elapsed


async def models_one_after_another(
    n: int, samples: int, latency: float, log_dir: str, max_connections: int | None
) -> float:
    from motools_inspect import InspectEvalBackend

    backend = InspectEvalBackend(log_dir=log_dir)
    start = time.perf_counter()
    for i in range(n):
        job = await backend.evaluate(
            f"mockllm/model-{i}",
            _task(samples),
            model_args={"custom_outputs": _outputs(latency)},
            max_connections=max_connections,
        )
        await job.wait()
    return time.perf_counter() - start


WORKER = textwrap.dedent(
    """
    import asyncio, os, sys
    os.environ.pop("INSPECT_TELEMETRY", None)
    sys.path.insert(0, {bench!r})
    from inspect_overhead import _outputs, _task
    from motools_inspect import InspectEvalBackend

    async def main():
        backend = InspectEvalBackend(log_dir={log_dir!r})
        job = await backend.evaluate(
            sys.argv[1], _task({samples}), model_args={{"custom_outputs": _outputs({latency})}}
        )
        await job.wait()

    asyncio.run(main())
    """
)


def models_in_worker_processes(n: int, samples: int, latency: float, log_dir: str) -> float:
    code = WORKER.format(
        bench=str(Path(__file__).parent), log_dir=log_dir, samples=samples, latency=latency
    )
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code, f"mockllm/model-{i}"]) for i in range(n)]
    codes = [p.wait() for p in procs]
    assert codes == [0] * n, codes
    return time.perf_counter() - start


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--model-samples", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--max-connections", type=int, default=None)
    parser.add_argument("--workers", action="store_true", help="also time worker processes")
    args = parser.parse_args()

    from motools_inspect.runner import init_display

    init_display("none")
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = str(Path(tmp) / "logs")
        # Warm up both paths (imports, Inspect's first-run initialisation).
        await plain_inspect(5, log_dir)
        await via_motools(5, log_dir)

        plain, ours = [], []
        for _ in range(args.repeats):
            plain.append(await plain_inspect(args.samples, log_dir))
            ours.append(await via_motools(args.samples, log_dir))
        p, m = statistics.median(plain), statistics.median(ours)
        print(f"{args.samples} samples, median of {args.repeats}:")
        print(f"  plain inspect_ai.eval_async : {p:.3f} s   (runs: {_fmt(plain)})")
        print(f"  InspectEvalBackend          : {m:.3f} s   (runs: {_fmt(ours)})")
        print(f"  ratio motools / plain       : {m / p:.3f}  (target <= 1.10)")

        n, k, lat = args.models, args.model_samples, args.latency
        print(
            f"\n{n} models x 1 task ({k} samples, {lat * 1000:.0f} ms per model call, "
            f"max_connections={args.max_connections or 'default'}):"
        )
        mc = args.max_connections
        concurrent = await models_concurrently(n, k, lat, log_dir, mc)
        print(f"  motools, started concurrently (one batched Inspect run): {concurrent:.3f} s")
        sequential = await models_one_after_another(n, k, lat, log_dir, mc)
        print(f"  motools, one after another (= a queue / lock)          : {sequential:.3f} s")
        print(
            f"  speed-up of batching                                   : {sequential / concurrent:.2f}x"
        )
        if args.workers:
            workers = models_in_worker_processes(n, k, lat, log_dir)
            print(f"  one worker process per model                           : {workers:.3f} s")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3f}" for v in values)


if __name__ == "__main__":
    asyncio.run(main())
