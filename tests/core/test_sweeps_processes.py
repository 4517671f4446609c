"""Whole processes: a sweep killed half-way completes on re-run with exactly one job per member."""

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

SWEEP = """\
name: killed
workflow: train_and_evaluate
max_parallel: 3
base_config:
  prepare_dataset: {{dataset: "motools.demo:hello_world_dataset", sample_size: 6}}
  submit_training:
    backend: dummy
    model: base
    backend_options: {{duration: 2.5, job_log: "{log}"}}
  wait_for_training: {{timeout: 60}}
  evaluate_model: {{backend: dummy, tasks: [hello_world], limit: 5}}
grid:
  submit_training.hyperparameters.learning_rate: [1e-5, 1e-4, 1e-3]
  seed: [0, 1, 2]
"""


def motools(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "motools.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def jobs(log: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_killed_sweep_completes_on_rerun_with_exactly_the_planned_jobs(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP.format(log=log))
    env = dict(os.environ, MOTOOLS_HOME=str(tmp_path / "home"))

    first = motools("sweep", "run", str(sweep), "--quiet", env=env)
    deadline = time.monotonic() + 60
    while len(jobs(log)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(jobs(log)) == 3, "the first wave of jobs was never submitted"
    time.sleep(0.3)  # the three members are now waiting on their training jobs
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    submitted_before_kill = {j["job_id"] for j in jobs(log)}

    status = motools("sweep", "status", str(sweep), "--json", env=env)
    out, err = status.communicate(timeout=60)
    assert status.returncode == 0, err
    members = json.loads(out)["members"]
    interrupted = [m for m in members if m["status"] == "interrupted"]
    assert {m["job_id"] for m in interrupted} == submitted_before_kill
    assert sum(m["status"] == "planned" for m in members) == 6

    rerun = motools("sweep", "run", str(sweep), "--json", env=env)
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err
    result = json.loads(out)
    assert result["ok"] and result["counts"]["succeeded"] == 9
    all_jobs = jobs(log)
    assert len(all_jobs) == 9, f"expected exactly 9 jobs, the provider saw {len(all_jobs)}"
    assert len({j["job_id"] for j in all_jobs}) == 9
    # The three jobs in flight at the kill were re-attached to, not paid for again.
    assert submitted_before_kill <= {m["job_id"] for m in result["members"]}
    assert {m["model_id"] for m in result["members"]} == {j["model_id"] for j in all_jobs}

    again = motools("sweep", "run", str(sweep), "--json", env=env)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert json.loads(out)["counts"]["cached"] == 9
    assert len(jobs(log)) == 9


def test_sweep_help_stays_light() -> None:
    code = (
        "import contextlib, io, sys\n"
        "from motools.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['sweep', 'plot', '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = ('pandas', 'matplotlib', 'pydantic', 'motools.experiments', 'numpy')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
