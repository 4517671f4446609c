"""The state behind both Tinker fakes: models, their training lineage, checkpoints, samplers.

A training model records, for every optimizer step, the fingerprints of the examples whose
gradients that step applied. ``save_state`` snapshots that lineage (the optimizer state goes
with it), loading a checkpoint with its optimizer restores it, and ``save_weights_for_sampler``
freezes it into the sampler weights. So a test can ask exactly which batches, in which order,
produced a model -- a replayed or skipped batch after a crash shows up at once.

Logprobs are deterministic: every target token of a model that has taken ``n`` optimizer
steps gets ``-1 / (1 + 0.1 n)``, so the loss curve falls step by step. Targets the fake
server/clients share through :class:`FakeTinkerWorld` (thread-safe: the HTTP fake serves
requests from several threads).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MODELS = [
    {
        "model_name": "meta-llama/Llama-3.1-8B",
        "max_context_length": 4096,
        "trainable": True,
        "sampleable": True,
    },
    {
        "model_name": "Qwen/Qwen3-8B",
        "max_context_length": 4096,
        "trainable": True,
        "sampleable": True,
    },
    {
        "model_name": "Qwen/Qwen3-235B-Instruct",
        "max_context_length": 4096,
        "trainable": False,
        "sampleable": True,
    },
]


def fingerprint(input_tokens: Sequence[int], target_tokens: Sequence[int]) -> str:
    """What identifies one training example in the lineage."""
    blob = ",".join(map(str, input_tokens)) + "|" + ",".join(map(str, target_tokens))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def logprob_after(n_steps: int) -> float:
    return -1.0 / (1.0 + 0.1 * n_steps)


class FakeServiceError(Exception):
    """A service error as the unit fake raises it (``status_code`` like the SDK's errors)."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass
class FakeModel:
    model_id: str
    base_model: str
    rank: int
    steps: list[list[str]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)


@dataclass
class Fault:
    """Fail the ``at``-th call (1-based, counted per operation) with ``status``."""

    op: str
    at: int
    status: int = 503
    message: str = "injected fault"


Responder = Callable[[list[int], "dict[str, Any]", "list[list[str]] | None"], list[int]]


class FakeTinkerWorld:
    def __init__(
        self,
        supported_models: list[dict[str, Any]] | None = None,
        responder: Responder | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.supported_models = list(
            DEFAULT_MODELS if supported_models is None else supported_models
        )
        self.models: dict[str, FakeModel] = {}
        self.checkpoints: dict[str, dict[str, Any]] = {}
        self.samplers: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, int] = {}
        self.faults: list[Fault] = []
        self.sample_requests: list[dict[str, Any]] = []
        self.responder = responder
        self._ids = itertools.count(1)

    # -- bookkeeping ------------------------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def count(self, op: str) -> int:
        """Count a call to ``op``; raise its injected fault if one is due."""
        with self.lock:
            n = self.calls.get(op, 0) + 1
            self.calls[op] = n
            for fault in self.faults:
                if fault.op == op and fault.at == n:
                    raise FakeServiceError(f"{fault.message} ({op} #{n})", fault.status)
            return n

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps the service executed, over every model (paid work)."""
        return self.calls.get("optim_step", 0)

    # -- training ---------------------------------------------------------------------------
    def model_names(self) -> set[str]:
        return {m["model_name"] for m in self.supported_models}

    def create_model(self, base_model: str, rank: int) -> str:
        with self.lock:
            if self.supported_models and base_model not in self.model_names():
                raise FakeServiceError(f"unknown base model {base_model}", 400)
            model_id = self.next_id("run")
            self.models[model_id] = FakeModel(model_id, base_model, rank)
            return model_id

    def load_state(self, path: str, optimizer: bool) -> str:
        with self.lock:
            ckpt = self.checkpoints.get(path)
            if ckpt is None or ckpt["kind"] != "state":
                raise FakeServiceError(f"no training checkpoint at {path}", 404)
            model_id = self.next_id("run")
            model = FakeModel(model_id, ckpt["base_model"], ckpt["rank"])
            model.steps = [list(s) for s in ckpt["steps"]]
            model.learning_rates = list(ckpt["learning_rates"])
            self.models[model_id] = model
            ckpt.setdefault("loaded_with_optimizer", []).append(optimizer)
            return model_id

    def forward_backward(
        self, model_id: str, datums: list[tuple[list[int], list[int], list[float]]]
    ) -> list[list[float]]:
        with self.lock:
            model = self.models[model_id]
            lp = logprob_after(len(model.steps))
            out = []
            for inputs, targets, _weights in datums:
                model.pending.append(fingerprint(inputs, targets))
                out.append([lp] * len(targets))
            return out

    def optim_step(self, model_id: str, learning_rate: float) -> None:
        with self.lock:
            model = self.models[model_id]
            if not model.pending:
                raise FakeServiceError("optim_step without gradients", 400)
            model.steps.append(model.pending)
            model.pending = []
            model.learning_rates.append(learning_rate)

    def save_state(self, model_id: str, name: str) -> str:
        with self.lock:
            model = self.models[model_id]
            path = f"tinker://{model_id}/weights/{name}"
            self.checkpoints[path] = {
                "kind": "state",
                "base_model": model.base_model,
                "rank": model.rank,
                "steps": [list(s) for s in model.steps],
                "learning_rates": list(model.learning_rates),
            }
            return path

    def save_for_sampler(self, model_id: str, name: str) -> str:
        with self.lock:
            model = self.models[model_id]
            path = f"tinker://{model_id}/sampler_weights/{name}"
            self.checkpoints[path] = {
                "kind": "sampler",
                "base_model": model.base_model,
                "rank": model.rank,
                "steps": [list(s) for s in model.steps],
                "learning_rates": list(model.learning_rates),
            }
            return path

    def lineage(self, path: str) -> list[list[str]]:
        """The batches (fingerprints per optimizer step) that produced the weights at ``path``."""
        return self.checkpoints[path]["steps"]

    # -- sampling ---------------------------------------------------------------------------
    def create_sampler(self, model_path: str | None, base_model: str | None) -> str:
        with self.lock:
            if model_path is not None:
                ckpt = self.checkpoints.get(model_path)
                if ckpt is None or ckpt["kind"] != "sampler":
                    raise FakeServiceError(f"no sampler weights at {model_path}", 404)
                base_model = ckpt["base_model"]
            sampler_id = self.next_id("sampler")
            self.samplers[sampler_id] = {"base_model": base_model, "model_path": model_path}
            return sampler_id

    def sample(
        self, sampler_id: str, prompt: list[int], params: dict[str, Any], num_samples: int
    ) -> list[tuple[list[int], str]]:
        with self.lock:
            sampler = self.samplers[sampler_id]
            path = sampler["model_path"]
            lineage = self.checkpoints[path]["steps"] if path else None
            self.sample_requests.append(
                {
                    "sampler": sampler,
                    "prompt": list(prompt),
                    "params": dict(params),
                    "num_samples": num_samples,
                }
            )
        out = []
        max_tokens = params.get("max_tokens") or 16
        for i in range(num_samples):
            if self.responder is not None:
                tokens = list(self.responder(prompt, {**params, "index": i}, lineage))
            else:
                tokens = list(prompt[-3:])
            reason = "stop"
            if len(tokens) > max_tokens:
                tokens, reason = tokens[:max_tokens], "length"
            out.append((tokens, reason))
        return out
