"""The ray executor against a real local Ray head on 127.0.0.1, started and ended by its PID."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.hf.conftest import FAST, chats

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def session_processes(sid: int) -> list[int]:
    """Live (non-zombie) processes of session ``sid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``ray start --head --block`` as a child in its own session; ended by that PID."""
    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        pytest.skip("ray is not installed (uv sync --group hf)")
    temp = Path(tempfile_dir := str(tmp_path_factory.mktemp("ray")))
    dashboard = free_port()
    env = {
        **os.environ,
        "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
        "RAY_USAGE_STATS_ENABLED": "0",
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    head = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={free_port()}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dashboard}",
            "--include-dashboard=true",
            "--num-cpus=2",
            f"--temp-dir={tempfile_dir}",
            "--disable-usage-stats",
        ],
        stdout=(temp / "head.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=env,
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        from ray.job_submission import JobSubmissionClient

        deadline = time.monotonic() + 180
        while True:
            assert head.poll() is None, (temp / "head.log").read_text()[-3000:]
            try:
                JobSubmissionClient(address).list_jobs()
                break
            except Exception:
                assert time.monotonic() < deadline, "the Ray head did not start in 180 s"
                time.sleep(1)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # the head's own session: nothing else of Ray
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        deadline = time.monotonic() + 30
        while session_processes(head.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in session_processes(head.pid):
            os.kill(pid, signal.SIGKILL)
        assert session_processes(head.pid) == []


CLIENT = """
import asyncio, sys
from motools_hf import HFTrainingBackend
from tests.hf.conftest import FAST, chats

async def main():
    backend = HFTrainingBackend(executor="ray", address=sys.argv[2], python=sys.executable,
                                device="cpu", threads=1)
    run = await backend.train(chats(12), sys.argv[1], {**FAST, "n_epochs": 2})
    print(run.submission_id, flush=True)

asyncio.run(main())
"""


async def test_submit_exit_reattach_by_submission_id(
    ray_head: str, tiny_base: Path, isolated: Path
) -> None:
    from motools_hf import HFTrainingBackend

    client = subprocess.run(
        [sys.executable, "-c", CLIENT, str(tiny_base), ray_head],
        capture_output=True,
        text=True,
        cwd=isolated,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert client.returncode == 0, client.stderr[-3000:]
    submission_id = client.stdout.strip().splitlines()[-1]
    assert submission_id.startswith("hf-")

    # This process never saw the run: it finds it from the submission id alone.
    backend = HFTrainingBackend(executor="ray", address=ray_head)
    run = await backend.resume({"submission_id": submission_id})
    assert run.executor == "ray" and run.submission_id == submission_id
    model_id = await run.wait(timeout=300)
    assert model_id == f"hf/{run.adapter_path}"
    assert [e["step"] for e in run.loss_curve] == list(range(6))
    assert "motools-hf worker: run" in run.logs()
    from ray.job_submission import JobSubmissionClient

    client_ = JobSubmissionClient(ray_head)
    deadline = time.monotonic() + 60  # the job ends just after the worker's last line
    while (status := str(client_.get_job_status(submission_id).value)) == "RUNNING":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)
    assert status == "SUCCEEDED"


async def test_cancel_stops_a_ray_run(ray_head: str, tiny_base: Path) -> None:
    from motools.errors import TrainingError
    from motools_hf import HFTrainingBackend

    backend = HFTrainingBackend(
        executor="ray", address=ray_head, python=sys.executable, device="cpu", threads=1
    )
    run = await backend.train(chats(24), str(tiny_base), {**FAST, "batch_size": 1, "n_epochs": 20})
    deadline = time.monotonic() + 240
    while not any(e["type"] == "step" for e in run.read_events()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    await run.cancel()
    with pytest.raises(TrainingError, match="cancelled"):
        await run.wait(timeout=120)
    state: Any = json.loads(run.state_path.read_text())
    assert state["status"] == "cancelled" and state["step"] < run.total_steps
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_head)
    deadline = time.monotonic() + 60
    while str(client.get_job_status(run.submission_id).value) in ("PENDING", "RUNNING"):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)


async def test_a_killed_ray_worker_is_resubmitted_and_resumes(
    ray_head: str, tiny_base: Path
) -> None:
    from motools_hf import HFTrainingBackend
    from motools_hf.runstate import holder_pid

    backend = HFTrainingBackend(
        executor="ray", address=ray_head, python=sys.executable, device="cpu", threads=1
    )
    hp = {**FAST, "batch_size": 2, "n_epochs": 5, "checkpoint_every": 3}
    run = await backend.train(chats(24), str(tiny_base), hp)
    first = run.submission_id
    deadline = time.monotonic() + 240
    while not any(e["type"] == "checkpoint" for e in run.read_events()):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    pid = holder_pid(run.run_dir)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await run.wait(timeout=300)  # sees the failed job, submits a new one that resumes
    assert run.submission_id == f"{first}-r1"
    resumed = [e for e in run.read_events() if e["type"] == "resumed"]
    assert len(resumed) == 1 and resumed[0]["step"] % 3 == 0
    assert [e["step"] for e in run.loss_curve] == list(range(60))
    assert sum(e["type"] == "adapter_saved" for e in run.read_events()) == 1


def test_ray_without_an_address_fails_before_any_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from motools.errors import ValidationError
    from motools_hf import HFTrainingBackend

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ValidationError, match="RAY_ADDRESS"):
        HFTrainingBackend(executor="ray").executor()
