"""The local executor: a detached worker that survives its client and resumes after kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.hf.conftest import FAST, chats

pytestmark = pytest.mark.slow

#: 60 optimizer steps, a checkpoint every 3, dropout on (so the random state must resume too).
LONG = {**FAST, "batch_size": 2, "n_epochs": 5, "checkpoint_every": 3, "lora_dropout": 0.1}


def adapter(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


async def wait_for(predicate: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie (our child, not yet reaped) counts as gone
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" in status.read_text()


async def test_kill_9_of_the_worker_resumes_at_the_next_planned_batch(tiny_base: Path) -> None:
    from motools_hf import HFTrainingBackend
    from motools_hf.runstate import holder_pid

    data = chats(24)
    backend = HFTrainingBackend(executor="local", device="cpu", threads=1)
    run = await backend.train(data, str(tiny_base), LONG)
    assert run.total_steps == 60

    def checkpointed() -> bool:
        return any(e["type"] == "checkpoint" for e in run.read_events())

    await wait_for(checkpointed)
    pid = holder_pid(run.run_dir)
    assert pid is not None and pid != os.getpid()
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: gone(pid), 10)
    killed_at = max(e["step"] for e in run.read_events() if e["type"] == "step")
    assert killed_at < run.total_steps - 1, "the worker finished before it could be killed"

    model_id = await run.wait(timeout=300)  # notices the dead worker and starts another
    events = run.read_events()
    resumed = [e for e in events if e["type"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["attempt"] == 2
    ckpt_step = resumed[0]["step"]
    assert ckpt_step % 3 == 0 and 0 < ckpt_step <= killed_at + 1
    second = [e["step"] for e in events if e["type"] == "step" and e["attempt"] == 2]
    assert second == list(range(ckpt_step, 60))  # exactly the planned steps that were left
    assert [e["step"] for e in run.loss_curve] == list(range(60))
    assert sum(e["type"] == "adapter_saved" for e in events) == 1
    assert run.attempts == 2 and model_id == f"hf/{run.adapter_path}"

    # ... and the adapter is bit-for-bit the one an uninterrupted run produces.
    inline = HFTrainingBackend(executor="inline", device="cpu", threads=1)
    straight = await inline.train(data, str(tiny_base), LONG)
    await straight.wait(timeout=300)
    import torch

    a, b = adapter(run.adapter_path), adapter(straight.adapter_path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


CLIENT = """
import asyncio, sys
from motools.datasets import JSONLDataset
from motools_hf import HFTrainingBackend
from tests.hf.conftest import FAST, chats

async def main():
    run = await HFTrainingBackend(executor="local", device="cpu", threads=1).train(
        chats(24), sys.argv[1], {**FAST, "batch_size": 2, "n_epochs": 2})
    print(run.job_id, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_kill_9_of_the_client_leaves_the_worker_training(
    tiny_base: Path, isolated: Path
) -> None:
    from motools_hf import HFTrainingBackend

    client = subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(tiny_base)],
        stdout=subprocess.PIPE,
        cwd=isolated,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        text=True,
    )
    assert client.stdout is not None
    job_id = client.stdout.readline().strip()
    assert job_id.startswith("hf-"), job_id
    client.send_signal(signal.SIGKILL)
    client.wait(10)

    # A new process (this one) re-attaches by the run id alone.
    run = await HFTrainingBackend().resume({"job_id": job_id})
    model_id = await run.wait(timeout=300)
    assert run.attempts == 1  # the first worker finished: it never needed restarting
    assert model_id == f"hf/{run.adapter_path}"
    assert [e["step"] for e in run.loss_curve] == list(range(24))
    state = json.loads((run.run_dir / "state.json").read_text())
    assert state["status"] == "succeeded" and "worker_pid" in state


async def test_cancel_stops_the_worker_and_keeps_a_checkpoint(tiny_base: Path) -> None:
    from motools.errors import TrainingError
    from motools_hf import HFTrainingBackend
    from motools_hf.runstate import holder_pid

    run = await HFTrainingBackend(device="cpu", threads=1).train(chats(24), str(tiny_base), LONG)
    await wait_for(lambda: any(e["type"] == "step" for e in run.read_events()))
    pid = holder_pid(run.run_dir)
    await run.cancel()
    with pytest.raises(TrainingError, match="cancelled"):
        await run.wait(timeout=120)
    assert run.status == "cancelled" and run.adapter_path is None
    ckpt = run.to_state()["checkpoint"]
    assert ckpt and ckpt["step"] == run.step and Path(ckpt["path"]).is_dir()
    assert pid is not None
    await wait_for(lambda: gone(pid), 10)
