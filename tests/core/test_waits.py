"""Long waits say what they wait for; retries are bounded and printed; Ctrl-C says what to do.

Issue 12 items 12 and 13, through the command line and the public API, with the dummy
backend (a job that takes ``duration`` seconds of wall clock) and real sockets.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from motools.cli.main import main
from motools.datasets import JSONLDataset

HEARTBEAT = re.compile(
    r"motools: still waiting for dummy job (dummyjob-\w+): (queued|running) \((\d)s so far\)"
)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    JSONLDataset.from_pairs([(f"q{i}", f"a{i}") for i in range(5)]).save_sync(path)
    return path


@pytest.fixture
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTOOLS_HEARTBEAT", "0.3")


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- heartbeats ------------------------------------------------------------------------------


def test_train_prints_what_it_waits_for_and_for_how_long(
    data_file: Path, fast_heartbeat: None, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--backend", "dummy", "--model", "base", "--dataset", str(data_file)]
    assert main([*args, "--backend-option", "duration=1.5"]) == 0
    captured = capsys.readouterr()
    beats = HEARTBEAT.findall(captured.err)
    assert len(beats) >= 2, captured.err
    job_ids = {job for job, _, _ in beats}
    assert len(job_ids) == 1 and job_ids.pop() in captured.err.splitlines()[0]
    assert captured.out.strip().startswith("dummy/base@")  # stdout stays the model id only


def test_runs_wait_prints_heartbeats_too(
    data_file: Path, fast_heartbeat: None, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["train", "--backend", "dummy", "--model", "base", "--dataset", str(data_file)]
    assert main([*common, "--backend-option", "duration=1.2", "--detach"]) == 0
    run_id = capsys.readouterr().out.strip()
    assert main(["runs", "wait", run_id]) == 0
    beats = HEARTBEAT.findall(capsys.readouterr().err)
    assert beats and {job for job, _, _ in beats} == {run_id}


def test_workflow_run_prints_heartbeats_unless_quiet(
    tmp_path: Path, data_file: Path, fast_heartbeat: None, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "wf.yaml"

    def write(suffix: str) -> None:
        config.write_text(
            f"prepare_dataset:\n  dataset: {data_file}\n"
            "submit_training:\n  backend: dummy\n  model: base\n"
            f"  suffix: {suffix}\n  backend_options: {{duration: 1.2}}\n"
            "evaluate_model:\n  backend: dummy\n  tasks: [hello_world]\n"
        )

    write("loud")
    assert main(["workflow", "run", "train_and_evaluate", "--config", str(config)]) == 0
    assert HEARTBEAT.search(capsys.readouterr().err)
    write("quiet")
    assert main(["workflow", "run", "train_and_evaluate", "--config", str(config), "--quiet"]) == 0
    assert not HEARTBEAT.search(capsys.readouterr().err)


async def test_wait_reports_to_a_callback_or_the_log(caplog: pytest.LogCaptureFixture) -> None:
    import motools

    backend = motools.get_training_backend("dummy", duration=0.8)
    dataset = JSONLDataset.from_pairs([("q", "a")])
    events: list[Any] = []
    run = await backend.train(dataset, "base")
    await run.wait(on_wait=events.append, heartbeat=0.2)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and kinds.count("beat") >= 2
    beat = next(e for e in events if e.kind == "beat")
    assert beat.run == {"backend": "dummy", "job_id": run.job_id, "runs_remotely": True}
    assert run.job_id in beat.what and beat.elapsed > 0

    run = await backend.train(dataset, "other")
    with caplog.at_level(logging.INFO, logger="motools.wait"):
        await run.wait(heartbeat=0.2)
    assert any(f"still waiting for dummy job {run.job_id}" in r.message for r in caplog.records)


def test_heartbeat_setting_is_checked(
    data_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOTOOLS_HEARTBEAT", "often")
    args = ["train", "--backend", "dummy", "--model", "base", "--dataset", str(data_file)]
    assert main(args) == 1
    assert "MOTOOLS_HEARTBEAT='often' is not a number" in capsys.readouterr().err


# -- bounded, printed retries ------------------------------------------------------------------


async def test_unreachable_service_is_a_clear_error_after_printed_retries(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from motools.cli.waits import reported
    from motools.errors import MotoolsError, ServiceUnreachableError
    from motools.polling import Backoff, ensure_reachable

    port = free_port()
    url = f"http://user:hunter2@127.0.0.1:{port}/v1?key=sk-secret"
    with reported(), pytest.raises(ServiceUnreachableError) as info:
        await ensure_reachable(
            url,
            service="Example",
            hint="Check your network connection and EXAMPLE_BASE_URL.",
            attempts=3,
            backoff=Backoff(initial=0.01, maximum=0.01, minimum=0.0),
        )
    message = str(info.value)
    assert isinstance(info.value, MotoolsError)
    assert f"cannot reach Example at http://127.0.0.1:{port}/v1 after 3 attempts" in message
    assert "EXAMPLE_BASE_URL" in message
    err = capsys.readouterr().err
    retries = re.findall(
        r"cannot reach Example at \S+: .+ \(attempt (\d)/3\), retrying in 0 s", err
    )
    assert retries == ["1", "2"], err
    assert "hunter2" not in message + err and "sk-secret" not in message + err


# -- Ctrl-C ------------------------------------------------------------------------------------


def _start(args: list[str], home: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, MOTOOLS_HOME=str(home), MOTOOLS_HEARTBEAT="0.5")
    return subprocess.Popen(
        [sys.executable, "-m", "motools.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _interrupt_once_waiting(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Send SIGINT once the process printed a heartbeat; return its stdout and stderr."""
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        if HEARTBEAT.search(line) or not line:
            break
    assert HEARTBEAT.search(seen[-1]), "".join(seen)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    return out, "".join(seen) + err


def _run_status(home: Path, run_id: str) -> str:
    env = dict(os.environ, MOTOOLS_HOME=str(home))
    listed = subprocess.run(
        [sys.executable, "-m", "motools.cli.main", "runs", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return str({r["run_id"]: r["status"] for r in json.loads(listed.stdout)}[run_id])


def test_ctrl_c_while_training_says_the_job_keeps_running(data_file: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    proc = _start(
        [
            "train",
            "--backend",
            "dummy",
            "--model",
            "base",
            "--dataset",
            str(data_file),
            "--backend-option",
            "duration=60",
        ],
        home,
    )
    out, err = _interrupt_once_waiting(proc)
    assert proc.returncode == 130, err
    run_id = HEARTBEAT.search(err).group(1)  # type: ignore[union-attr]
    assert f"The dummy job {run_id} keeps running at the provider" in err
    assert f"motools runs wait {run_id}" in err and f"motools runs cancel {run_id}" in err
    assert "Traceback" not in err and out == ""
    # It did keep running: listed as live, and the commands it named work.
    assert _run_status(home, run_id) in {"queued", "running"}
    env = dict(os.environ, MOTOOLS_HOME=str(home))
    cancel = subprocess.run(
        [sys.executable, "-m", "motools.cli.main", "runs", "cancel", run_id],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert cancel.returncode == 0 and cancel.stdout.strip() == f"{run_id}: cancelled"


def test_ctrl_c_during_a_workflow_names_its_training_run(data_file: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = tmp_path / "wf.yaml"
    config.write_text(
        f"prepare_dataset:\n  dataset: {data_file}\n"
        "submit_training:\n  backend: dummy\n  model: base\n  backend_options: {duration: 60}\n"
        "evaluate_model:\n  backend: dummy\n  tasks: [hello_world]\n"
    )
    proc = _start(["workflow", "run", "train_and_evaluate", "--config", str(config)], home)
    _, err = _interrupt_once_waiting(proc)
    assert proc.returncode == 130, err
    run_id = HEARTBEAT.search(err).group(1)  # type: ignore[union-attr]
    assert "keeps running at the provider" in err and f"motools runs wait {run_id}" in err
    assert "Traceback" not in err
    assert _run_status(home, run_id) in {"queued", "running"}


def test_sweep_run_prints_heartbeats(
    tmp_path: Path, data_file: Path, fast_heartbeat: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        "workflow: train_and_evaluate\n"
        "base_config:\n"
        f"  prepare_dataset: {{dataset: {data_file}}}\n"
        "  submit_training: {backend: dummy, model: base, backend_options: {duration: 1.2}}\n"
        "  evaluate_model: {backend: dummy, tasks: [hello_world]}\n"
        "grid: {seed: [0, 1]}\n"
    )
    assert main(["sweep", "run", str(sweep)]) == 0
    beats = HEARTBEAT.findall(capsys.readouterr().err)
    assert len({job for job, _, _ in beats}) == 2  # both members' jobs


def test_ctrl_c_on_a_run_this_process_drives_says_it_pauses(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Tinker loop runs in the process that waits: stopping it pauses the job."""
    from motools.cli.waits import StderrReporter, interrupted
    from motools.polling import WaitEvent

    reporter = StderrReporter()
    run = {"backend": "tinker", "job_id": "tinker-abc", "runs_remotely": False}
    reporter(WaitEvent("start", "tinker job tinker-abc: running", 0.0, "", run))
    reporter(WaitEvent("interrupted", "tinker job tinker-abc: running", 3.0, "", run))
    assert interrupted() == 130
    err = capsys.readouterr().err
    assert "The tinker job tinker-abc is driven by this process" in err
    assert "keeps running at the provider" not in err
    assert "motools runs wait tinker-abc" in err and "motools runs cancel tinker-abc" in err
