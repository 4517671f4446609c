"""Whole processes: a killed workflow resumes without paying twice; racing processes submit once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, duration: float) -> tuple[Path, Path]:
    log = tmp_path / "jobs.log"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
seed: 3
prepare_dataset:
  dataset: motools.demo:hello_world_dataset
  sample_size: 8
submit_training:
  backend: dummy
  model: base-model
  hyperparameters: {{n_epochs: 2, learning_rate: 1e-4}}
  backend_options: {{duration: {duration}, job_log: "{log}"}}
wait_for_training:
  timeout: 60
evaluate_model:
  backend: dummy
  tasks: [hello_world]
"""
    )
    return config, log


def motools_cmd(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "motools.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def jobs(log: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_killed_workflow_reattaches_on_rerun(tmp_path: Path) -> None:
    config, log = write_config(tmp_path, duration=4.0)
    env = dict(os.environ, MOTOOLS_HOME=str(tmp_path / "home"))
    proc = motools_cmd(
        "workflow", "run", "train_and_evaluate", "--config", str(config), "--json", env=env
    )
    deadline = time.monotonic() + 60
    while not jobs(log) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert jobs(log), "the job was never submitted"
    time.sleep(0.3)  # now waiting on the training job
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    rerun = motools_cmd(
        "workflow", "run", "train_and_evaluate", "--config", str(config), "--json", env=env
    )
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    result = json.loads(out)
    assert result["ok"]
    assert len(jobs(log)) == 1, "the re-run paid for a second job"
    assert result["artifacts"]["training_job"]["job_id"] == jobs(log)[0]["job_id"]
    assert result["artifacts"]["model_id"] == jobs(log)[0]["model_id"]
    assert "re-attached" in err


def test_two_processes_on_one_config_create_one_job(tmp_path: Path) -> None:
    config, log = write_config(tmp_path, duration=1.0)
    env = dict(os.environ, MOTOOLS_HOME=str(tmp_path / "home"))
    procs = [
        motools_cmd(
            "workflow", "run", "train_and_evaluate", "--config", str(config), "--json", env=env
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    models = {json.loads(out)["artifacts"]["model_id"] for out, _ in outputs}
    assert len(models) == 1
    assert len(jobs(log)) == 1
