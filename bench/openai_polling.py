"""Polling load of the OpenAI backend: 50 concurrent jobs against the local fake API.

Time is scaled: the fake's clock runs ``--scale`` times faster than the wall clock and the
backend's poll schedule (its real defaults: first poll after 5 s, x1.5, at most 60 s) is
divided by the same factor, so a 6.5-minute job takes a few real seconds while every figure
below is in the fake's (real-world) seconds. It prints requests per job per minute, total
wall time, and the smallest gap between two status requests for one job, which must not be
shorter than the poll interval (exit status 1 if it is).

    uv run python bench/openai_polling.py [--jobs 50] [--scale 60]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

from motools.datasets import JSONLDataset
from motools_openai import OpenAITrainingBackend, OpenAITrainingRun
from tests.fakes.openai_fake import FakeOpenAIServer

MODEL = "gpt-4o-mini-2024-07-18"


def dataset(i: int) -> JSONLDataset:
    return JSONLDataset(
        [{"messages": [{"role": "user", "content": f"job {i} question {k}"},
                       {"role": "assistant", "content": f"answer {k}"}]} for k in range(10)]
    )


async def run(jobs: int, scale: float) -> int:
    policy = dict(OpenAITrainingRun.poll_backoff)
    durations = {"validating_files": 30.0, "queued": 60.0, "running": 300.0}
    with FakeOpenAIServer(auto_advance=0.0, speed=scale, durations=durations) as server:
        backend = OpenAITrainingBackend(
            api_key=server.api_key, base_url=server.base_url,
            poll_backoff={k: v / scale if k != "factor" else v for k, v in policy.items()},
        )
        start = time.monotonic()
        runs = await asyncio.gather(*(backend.train(dataset(i), MODEL) for i in range(jobs)))
        submitted = time.monotonic()
        models = await asyncio.gather(*(r.wait() for r in runs))
        wall = time.monotonic() - start
    assert all(models) and len(server.jobs) == jobs

    polls: dict[str, list[float]] = defaultdict(list)
    for e in server.exchanges:
        if e.method == "GET" and e.path.startswith("/v1/fine_tuning/jobs/"):
            polls[e.path.rsplit("/", 1)[-1]].append(e.at)
    first = min(e.at for e in server.exchanges)
    last = max(e.at for e in server.exchanges)
    minutes = (last - first) / 60
    status_requests = sum(len(v) for v in polls.values())
    gaps = [b - a for times in polls.values() for a, b in itertools.pairwise(times)]
    min_gap = min(gaps)
    worst_window = max(
        sum(1 for t in times if start_t <= t < start_t + policy["initial"])
        for times in polls.values() for start_t in times
    )
    print(f"jobs: {jobs}   time scale: x{scale:g}   poll policy: {policy}")
    print(f"total wall time: {wall:.2f} s (submission {submitted - start:.2f} s)   "
          f"simulated span: {minutes:.2f} min")
    print(f"requests: {len(server.exchanges)} total, {status_requests} status requests")
    print(f"status requests per job per minute: {status_requests / jobs / minutes:.2f}   "
          f"(all requests: {len(server.exchanges) / jobs / minutes:.2f})")
    print(f"status requests per job: min {min(map(len, polls.values()))}, "
          f"max {max(map(len, polls.values()))}")
    print(f"smallest gap between two status requests of one job: {min_gap:.2f} s "
          f"(poll interval floor {policy['initial']:g} s)")
    print(f"most status requests of one job within any {policy['initial']:g} s window: {worst_window}")
    ok = worst_window <= 1 and min_gap >= policy["initial"] * 0.98
    print("OK: never more than one status request per job per poll interval" if ok else
          "VIOLATION: a job was polled more often than the poll interval")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--scale", type=float, default=60.0)
    args = parser.parse_args()
    return asyncio.run(run(args.jobs, args.scale))


if __name__ == "__main__":
    raise SystemExit(main())
