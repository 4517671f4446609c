"""Kill the training process mid-run; a new process resumes from the state file and the
model ends up with exactly the planned optimizer steps, each on its planned batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from motools.datasets import JSONLDataset
from tests.conftest import REPO_ROOT
from tests.fakes.tinker_server import FakeTinkerServer
from tests.fakes.tinker_world import FakeTinkerWorld
from tests.tinker.conftest import planned_lineage

API_KEY = "tml-crash-test-secret-42"


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def read_state(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_killed_process_resumes_from_its_state_file(tmp_path: Path, tokenizer_dir: Path) -> None:
    hp = {"batch_size": 2, "n_epochs": 2, "seed": 9}
    data = JSONLDataset(
        [
            {
                "messages": [
                    {"role": "user", "content": f"Question {i}?"},
                    {"role": "assistant", "content": f"Answer {i}."},
                ]
            }
            for i in range(6)
        ]
    )
    dataset_path = tmp_path / "train.jsonl"
    data.save_sync(dataset_path)
    state_path = tmp_path / "run-state.json"
    world = FakeTinkerWorld()
    server = FakeTinkerServer(world).start()
    # Steps 1..5 go through (checkpoints after steps 2 and 4); the 6th optimizer step hangs.
    server.hold_optim_after = 5
    env = {
        **os.environ,
        "TINKER_API_KEY": API_KEY,
        "TINKER_BASE_URL": server.base_url,
        "TINKER_TELEMETRY": "0",
        "PYTHONPATH": str(REPO_ROOT),
    }
    worker = [sys.executable, "-m", "tests.tinker.crash_worker"]
    try:
        first = subprocess.Popen(
            [
                *worker,
                "train",
                str(dataset_path),
                str(tokenizer_dir),
                str(state_path),
                json.dumps(hp),
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(server.held.is_set, 180, "the training process to reach step 6")
            wait_for(
                lambda: ((read_state(state_path) or {}).get("checkpoint") or {}).get("step") == 4,
                60,
                "the checkpoint after step 4",
            )
        except AssertionError:
            first.kill()
            out, err = first.communicate()
            raise AssertionError(f"worker output:\n{out}\n{err}") from None
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        assert first.returncode == -signal.SIGKILL
        executed_before_crash = world.optimizer_steps
        lost = executed_before_crash - 4  # paid for, but not in any checkpoint
        assert lost == 1
        server.release()

        state = read_state(state_path)
        assert state is not None and state["status"] == "running"
        assert state["step"] == 4 and state["checkpoint"]["step"] == 4
        assert state["data_order_seed"] == 9 and state["checkpoint"]["expires_at"]
        assert API_KEY not in state_path.read_text()

        second = subprocess.run(
            [*worker, "resume", str(state_path)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert second.returncode == 0, second.stderr
        lines = [json.loads(line) for line in second.stdout.splitlines() if line.startswith("{")]
        assert lines[0] == {"event": "started", "job_id": state["job_id"], "step": 4}
        model_id = lines[-1]["model_id"]
        assert API_KEY not in second.stdout + second.stderr
    finally:
        server.stop()

    from transformers import AutoTokenizer

    planned = planned_lineage(data, AutoTokenizer.from_pretrained(str(tokenizer_dir)), hp)
    lineage = world.lineage(model_id.split("@", 1)[1])
    # The trained model took exactly the planned optimizer steps, each on its planned batch:
    assert len(lineage) == len(planned) == 6
    assert lineage == planned
    # and the service executed every planned step once, plus the one lost in the crash.
    assert world.optimizer_steps == len(planned) + lost
    final = read_state(state_path)
    assert final is not None and final["status"] == "succeeded" and final["model_id"] == model_id
    assert [e["step"] for e in final["loss_curve"]] == list(range(6))
