"""The training loop a worker runs: LoRA on a causal LM, checkpointed for exact resume.

``run_worker(run_dir)`` takes the run's lock (or adopts the one its parent took), loads the
base model, wraps it with a peft LoRA adapter, and trains the optimizer steps of the
:class:`~motools_hf.plan.Plan` it has not finished yet. Every ``checkpoint_every`` steps it
saves the adapter weights, the optimizer state and torch's random state, so a worker killed
at any moment resumes at exactly the next planned batch and ends with the adapter an
uninterrupted run would have produced. The loss is the mean cross-entropy over the trained
(assistant) tokens of the whole optimizer step, however the step is split into
gradient-accumulation passes. This module imports torch; nothing else in the package does at
import time.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from motools.training.base import CANCELLED, FAILED, RUNNING, SUCCEEDED, TERMINAL_STATUSES
from motools_hf import runstate
from motools_hf.plan import Plan, micro_batches
from motools_hf.rendering import Rendered

log = logging.getLogger("motools.hf")

IGNORE = -100


class _Cancelled(Exception):
    pass


def model_id_for(adapter_dir: Path) -> str:
    return f"hf/{adapter_dir}"


def run_worker(
    run_dir: Path, *, lock_fd: int | None = None, stop: threading.Event | None = None
) -> str:
    """Drive the run in ``run_dir`` to a terminal status; return it.

    Returns ``"locked"`` at once if another live process drives the run.
    """
    run_dir = Path(run_dir)
    lock = runstate.RunLock(run_dir / "lock", fd=lock_fd)
    if not lock.acquire():
        return "locked"
    lock.mark(os.getpid())
    try:
        state = runstate.read_state(run_dir)
        if state["status"] in TERMINAL_STATUSES:
            return str(state["status"])
        try:
            return _Trainer(run_dir, state, stop).run()
        except Exception as exc:
            log.exception("hf run %s failed", state.get("job_id"))
            state = runstate.read_state(run_dir)
            code = getattr(exc, "code", None) or "worker_error"
            state.update(
                status=FAILED,
                error=f"{type(exc).__name__}: {exc}",
                error_code=code,
            )
            runstate.write_state(run_dir, state)
            runstate.append_event(
                run_dir, {"type": "failed", "error": state["error"], "time": time.time()}
            )
            return FAILED
    finally:
        lock.release()


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_model(
    base: str,
    hp: dict[str, Any],
    device: str,
    dtype: str = "float32",
    gradient_checkpointing: bool = False,
) -> Any:
    """The base model wrapped with a freshly initialised LoRA adapter (seeded).

    ``gradient_checkpointing`` recomputes activations in the backward pass: less memory,
    more time, the same update.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    torch_dtype = getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch_dtype)
    model.to(device)  # type: ignore[arg-type]
    config = LoraConfig(
        r=int(hp["lora_rank"]),
        lora_alpha=hp["lora_alpha"],
        lora_dropout=float(hp["lora_dropout"]),
        target_modules=hp["target_modules"],
        task_type="CAUSAL_LM",
    )
    if gradient_checkpointing:
        kwargs = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
        model.enable_input_require_grads()
    torch.manual_seed(int(hp["seed"]))
    return get_peft_model(model, config)


def collate(items: list[Rendered], pad_id: int, device: str) -> dict[str, Any]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``labels`` (-100 where no loss)."""
    import torch

    width = max(len(i.tokens) for i in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, item in enumerate(items):
        n = len(item.tokens)
        tokens = torch.tensor(item.tokens, dtype=torch.long)
        ids[row, :n] = tokens
        attention[row, :n] = 1
        mask = torch.tensor(item.mask, dtype=torch.bool)
        labels[row, :n] = torch.where(mask, tokens, torch.full_like(tokens, IGNORE))
    return {
        "input_ids": ids.to(device),
        "attention_mask": attention.to(device),
        "labels": labels.to(device),
    }


def summed_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Summed next-token cross-entropy over the labelled positions."""
    import torch
    import torch.nn.functional as F

    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    if logits.dtype != torch.float32:
        logits = logits.float()
    # Shift the labels, not the logits: a view of the logits would be copied (vocab-sized).
    labels = batch["labels"]
    targets = torch.full_like(labels, IGNORE)
    targets[:, :-1] = labels[:, 1:]
    return F.cross_entropy(
        logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=IGNORE, reduction="sum"
    )


class _Trainer:
    def __init__(self, run_dir: Path, state: dict[str, Any], stop: threading.Event | None):
        self.run_dir = run_dir
        self.state = state
        self.stop = stop
        self.hp = state["hyperparameters"]

    # -- helpers --------------------------------------------------------------------------
    def event(self, kind: str, **fields: Any) -> None:
        runstate.append_event(
            self.run_dir,
            {"type": kind, "attempt": self.state["attempts"], "time": time.time(), **fields},
        )

    def save(self) -> None:
        runstate.write_state(self.run_dir, self.state)

    def cancel_requested(self) -> bool:
        return (self.stop is not None and self.stop.is_set()) or (
            self.run_dir / runstate.CANCEL
        ).exists()

    def finish(self, status: str) -> str:
        self.state["status"] = status
        self.save()
        self.event("finished", status=status, step=self.state["step"])
        return status

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> str:
        from motools_hf.data import load_rendered

        state = self.state
        state["attempts"] = int(state.get("attempts", 0)) + 1
        state["status"] = RUNNING
        state["worker_pid"] = os.getpid()
        adapter_dir = self.run_dir / runstate.ADAPTER
        if (adapter_dir / "adapter_config.json").is_file():
            # a worker died between saving the adapter and recording success
            state["model_id"] = model_id_for(adapter_dir)
            state["step"] = state["total_steps"]
            return self.finish(SUCCEEDED)
        self.save()
        if self.cancel_requested():
            return self.finish(CANCELLED)

        import torch

        from motools_hf.models import load_tokenizer, local_base

        threads = state.get("threads")
        if threads:
            torch.set_num_threads(int(threads))
        base = local_base(state["base_model"])
        tokenizer = load_tokenizer(state["base_model"])
        items = load_rendered(state, tokenizer)
        device = pick_device(state.get("device", "auto"))
        model = build_model(
            base,
            self.hp,
            device,
            state.get("dtype", "float32"),
            bool(state.get("gradient_checkpointing", False)),
        )
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(
            params, lr=float(self.hp["learning_rate"]), weight_decay=float(self.hp["weight_decay"])
        )
        plan = Plan.from_hyperparameters(len(items), self.hp)
        step = 0
        ckpt = state.get("checkpoint")
        if ckpt:
            step = self.restore(model, optimizer, Path(ckpt["path"]))
        state["step"] = step
        self.save()
        self.event("started" if step == 0 else "resumed", step=step, device=device)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        model.train()
        every = int(self.hp["checkpoint_every"])
        try:
            while step < plan.total_steps:
                if self.cancel_requested():
                    raise _Cancelled
                started = time.perf_counter()
                indices = plan.batch(step)
                lr = plan.lr(step)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                trained = sum(items[i].n_trained for i in indices)
                tokens = sum(len(items[i].tokens) for i in indices)
                total = 0.0
                for part in micro_batches(indices, int(self.hp["gradient_accumulation_steps"])):
                    batch = collate([items[i] for i in part], pad_id, device)
                    loss = summed_loss(model, batch)
                    (loss / trained).backward()
                    total += float(loss.detach())
                clip = float(self.hp["grad_clip_norm"])
                if clip > 0:
                    torch.nn.utils.clip_grad_norm_(params, clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                self.event(
                    "step",
                    step=step - 1,
                    epoch=plan.epoch_of(step - 1),
                    loss=total / trained,
                    learning_rate=optimizer.param_groups[0]["lr"],
                    examples=len(indices),
                    tokens=tokens,
                    trained_tokens=trained,
                    seconds=time.perf_counter() - started,
                )
                state["step"] = step
                if step % every == 0 and step < plan.total_steps:
                    self.checkpoint(model, optimizer, step)
        except _Cancelled:
            if step > 0 and (state.get("checkpoint") or {}).get("step") != step:
                self.checkpoint(model, optimizer, step)
            return self.finish(CANCELLED)
        self.save_adapter(model, tokenizer, adapter_dir)
        if device.startswith("cuda"):
            peak = torch.cuda.max_memory_allocated() / 2**20
            self.event("memory", peak_cuda_mb=peak, gpu=torch.cuda.get_device_name())
        state["model_id"] = model_id_for(adapter_dir)
        state["epoch"] = plan.n_epochs
        return self.finish(SUCCEEDED)

    def checkpoint(self, model: Any, optimizer: Any, step: int) -> None:
        import torch
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        folder = self.run_dir / "checkpoints"
        target = folder / f"step-{step:06d}"
        tmp = folder / f".tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True)
        weights = {
            k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()
        }
        save_file(weights, str(tmp / "adapter.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        rng: dict[str, Any] = {"cpu": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / "rng.pt")
        os.replace(tmp, target)
        previous = self.state.get("checkpoint")
        self.state["checkpoint"] = {
            "step": step,
            "path": str(target),
            "saved_at": runstate.utc_now(),
        }
        self.state["step"] = step
        self.save()
        self.event("checkpoint", step=step, path=str(target))
        if previous and previous["path"] != str(target):
            shutil.rmtree(previous["path"], ignore_errors=True)

    def restore(self, model: Any, optimizer: Any, path: Path) -> int:
        import torch
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        device = next(model.parameters()).device
        set_peft_model_state_dict(
            model, load_file(str(path / "adapter.safetensors"), device=str(device))
        )
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location=device))
        rng = torch.load(path / "rng.pt", weights_only=False)
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        return int(self.state["checkpoint"]["step"])

    def save_adapter(self, model: Any, tokenizer: Any, adapter_dir: Path) -> None:
        tmp = adapter_dir.parent / f".adapter-{uuid.uuid4().hex[:8]}"
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, adapter_dir)
        self.event("adapter_saved", path=str(adapter_dir))
