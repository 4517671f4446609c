"""The typed run state: JSON round trip, old state dicts, bad states; and the module boundary
between the backend and the run (no private calls either way)."""

from __future__ import annotations

import ast
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import motools_tinker
from motools.datasets import JSONLDataset
from motools.errors import ValidationError
from motools.redaction import redact
from motools.training import SUCCEEDED
from motools_tinker import TinkerRunState
from tests.fakes.tinker_client import FakeService
from tests.tinker.conftest import BASE

RUN_FIELDS = ("job_id", "status", "model_id", "error", "error_code", "step", "total_steps")


def run_fields(run: Any) -> dict[str, Any]:
    return {
        **{name: getattr(run, name) for name in RUN_FIELDS},
        "checkpoint": run.checkpoint,
        "metrics": run.metrics,
        "state_path": run.state_path,
        "run_dir": run.run_dir,
    }


async def test_state_round_trips_through_json(
    make_backend: Any, dataset: JSONLDataset, service: FakeService
) -> None:
    hp = {"batch_size": 2, "learning_rate": 2e-4, "n_epochs": 2, "seed": 4}
    run = await make_backend(checkpoint_every=3, api_key="tml-roundtrip-secret").train(
        dataset, BASE, hp, suffix="rt"
    )
    await run.wait()
    assert run.checkpoint is not None and len(run.metrics["loss_curve"]) == 10

    text = json.dumps(run.to_state())
    assert "tml-roundtrip-secret" not in text
    data = json.loads(text)
    assert data["backend"] == "tinker" and data["job_id"] == run.job_id
    assert redact(data) == data  # no secret-named field anywhere
    assert TinkerRunState.from_json(data) == run.state
    assert data["hyperparameters"] == make_backend().normalize_hyperparameters(hp)

    # Without the state file the dict alone must carry the run.
    run.state_path.unlink()
    calls = dict(service.world.calls)
    again = await make_backend().resume(data)
    assert run_fields(again) == run_fields(run)
    assert again.state == run.state and again.to_state() == data
    assert again.status == SUCCEEDED and await again.wait() == run.model_id
    assert service.world.calls == calls  # a finished run is not started again


async def test_state_written_before_the_typed_model_still_resumes(
    make_backend: Any, service: FakeService, tmp_path: Path
) -> None:
    """A state dict in the shape the untyped implementation wrote (same keys, plain dicts,
    canonical numbers) resumes, and its run continues from the checkpoint it names."""
    hold = FakeService(service.world)
    hold.hold_optim_after(3)
    data = JSONLDataset(
        [
            {
                "messages": [
                    {"role": "user", "content": f"Q{i}?"},
                    {"role": "assistant", "content": f"A{i}."},
                ]
            }
            for i in range(6)
        ]
    )
    first = await make_backend(service=hold, checkpoint_every=2).train(
        data, BASE, {"batch_size": 2, "n_epochs": 2}
    )
    for _ in range(10_000):
        if hold.held:
            break
        await asyncio.sleep(0.001)
    assert hold.held
    await first.detach()
    ours = first.to_state()
    ckpt = ours["checkpoint"]
    legacy = {
        "version": 1,
        "backend": "tinker",
        "job_id": ours["job_id"],
        "status": "running",
        "model_id": None,
        "error": None,
        "error_code": None,
        "base_model": BASE,
        "suffix": None,
        "hyperparameters": {
            "n_epochs": 2,
            "batch_size": 2,
            "learning_rate": 0.0001,
            "lora_rank": 32,
            "lr_schedule": "constant",
            "warmup_steps": 0,
            "weight_decay": 0,
            "grad_clip_norm": 0,
            "seed": 0,
            "train_on": "all_assistant",
            "max_length": None,
            "on_too_long": "reject",
        },
        "tokenizer": None,
        "max_length": ours["max_length"],
        "dataset_path": ours["dataset_path"],
        "dataset_hash": ours["dataset_hash"],
        "render_hash": ours["render_hash"],
        "n_examples": 6,
        "steps_per_epoch": 3,
        "total_steps": 6,
        "data_order_seed": 0,
        "step": 2,
        "epoch": 0,
        "checkpoint": {
            "path": ckpt["path"],
            "step": 2,
            "epoch": 0,
            "saved_at": "2025-01-01T00:00:00+00:00",
            "expires_at": "2025-01-15T00:00:00+00:00",
        },
        "sampler_path": None,
        "loss_curve": [
            {
                "step": s,
                "epoch": 0,
                "loss": 1.0,
                "learning_rate": 0.0001,
                "examples": 2,
                "trained_tokens": 7,
                "finished_at": 1.7e9,
            }
            for s in range(2)
        ],
        "restarts": 0,
        "run_dir": ours["run_dir"],
        "state_path": str(tmp_path / "legacy-state.json"),
        "created_at": "2025-01-01T00:00:00+00:00",
        "updated_at": "2025-01-01T00:00:00+00:00",
    }
    assert set(legacy) == set(ours)  # the typed state writes the same keys
    second = FakeService(service.world)
    resumed = await make_backend(service=second).resume(legacy)
    model_id = await resumed.wait()
    assert second.restores == [ckpt["path"]]
    assert [e["step"] for e in resumed.metrics["loss_curve"]] == list(range(6))
    assert len(service.world.lineage(model_id.split("@", 1)[1])) == 6
    saved = json.loads(Path(legacy["state_path"]).read_text())
    assert saved["status"] == SUCCEEDED and saved["hyperparameters"] == legacy["hyperparameters"]


async def test_bad_states_are_refused_with_the_field(make_backend: Any) -> None:
    with pytest.raises(ValidationError, match="not tinker"):
        await make_backend().resume({"backend": "openai", "job_id": "ftjob-1"})
    with pytest.raises(ValidationError, match=r"missing.*state_path"):
        await make_backend().resume({"backend": "tinker", "job_id": "tinker-1"})
    with pytest.raises(ValidationError, match=r"hyperparameters\.batch_size"):
        TinkerRunState.from_json(
            {
                "backend": "tinker",
                "job_id": "tinker-1",
                "base_model": BASE,
                "hyperparameters": {"batch_size": 0},
                "dataset_path": "d.jsonl",
                "dataset_hash": "h",
                "render_hash": "r",
                "n_examples": 1,
                "steps_per_epoch": 1,
                "total_steps": 1,
                "data_order_seed": 0,
                "run_dir": "runs/tinker-1",
                "state_path": "runs/tinker-1/state.json",
                "created_at": "2025-01-01T00:00:00+00:00",
            }
        )


# -- module boundary -----------------------------------------------------------------------
def _private_uses(path: Path) -> list[str]:
    """``obj._name`` on anything but ``self``, and ``_name`` imported from motools_tinker."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            private = node.attr.startswith("_") and not node.attr.startswith("__")
            on_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
            if private and not on_self:
                found.append(f"{path.name}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("motools_tinker"):
            found += [
                f"{path.name}:{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith("_")
            ]
    return found


def test_backend_and_run_use_only_each_others_public_api() -> None:
    package = Path(motools_tinker.__file__).parent
    for name in ("backend.py", "run.py"):
        assert _private_uses(package / name) == []


def test_the_boundary_check_catches_a_private_call(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from motools_tinker.run import _Options\n"
        "def f(self, run):\n    self._ok()\n    run._lock.acquire()\n"
    )
    assert _private_uses(sample) == ["sample.py:1: import _Options", "sample.py:4: ._lock"]
