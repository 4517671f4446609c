"""No network: the real ``tinker`` SDK pointed at a port on 127.0.0.1 where nothing listens.

The SDK alone would retry silently for minutes; motools tries the host a bounded number of
times, prints each try, and fails with one error naming the host (never the key).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from motools.cli.main import main
from motools.errors import ServiceUnreachableError, TrainingError
from motools.polling import WaitEvent, reporting
from tests.tinker.conftest import BASE, make_dataset

KEY = "tml-unreachable-secret-0123456789"
FAST = {"initial": 0.01, "maximum": 0.01, "factor": 1.0}


@pytest.fixture
def dead_url(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TINKER_API_KEY", KEY)
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_train_fails_before_starting_when_tinker_is_unreachable(
    dead_url: str, tokenizer_dir: Path
) -> None:
    from motools_tinker import TinkerTrainingBackend

    backend = TinkerTrainingBackend(
        base_url=dead_url, tokenizer=str(tokenizer_dir), retry_attempts=3, retry_backoff=FAST
    )
    events: list[WaitEvent] = []
    with reporting(events.append), pytest.raises(ServiceUnreachableError) as info:
        await backend.train(make_dataset(4), BASE)
    message = str(info.value)
    assert message.startswith(f"cannot reach Tinker at {dead_url} after 3 attempts")
    assert "TINKER_BASE_URL" in message and KEY not in message
    retries = [e for e in events if e.kind == "retry"]
    assert [(e.attempt, e.attempts) for e in retries] == [(1, 3), (2, 3)]
    assert all(e.message.startswith(f"cannot reach Tinker at {dead_url}") for e in retries)


async def test_a_started_run_fails_clearly_instead_of_hanging(
    dead_url: str, tokenizer_dir: Path
) -> None:
    from motools_tinker import TinkerTrainingBackend

    backend = TinkerTrainingBackend(
        base_url=dead_url,
        tokenizer=str(tokenizer_dir),
        retry_attempts=2,
        retry_backoff=FAST,
        check_models=False,
    )
    run = await backend.train(make_dataset(4), BASE)
    events: list[WaitEvent] = []
    with pytest.raises(TrainingError) as info:
        await run.wait(on_wait=events.append, heartbeat=0.01)
    assert run.error_code == "unreachable"
    assert f"cannot reach Tinker at {dead_url} after 2 attempts" in str(info.value)
    assert events[0].run == {"backend": "tinker", "job_id": run.job_id, "runs_remotely": False}
    assert "step 0 of" in events[0].what


def test_cli_train_prints_each_try_then_one_error(
    dead_url: str, tokenizer_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "train.jsonl"
    make_dataset(4).save_sync(data)
    code = main(
        [
            "train",
            "--backend",
            "tinker",
            "--model",
            BASE,
            "--dataset",
            str(data),
            "--backend-option",
            f"base_url={dead_url}",
            "--backend-option",
            f"tokenizer={tokenizer_dir}",
            "--backend-option",
            "retry_attempts=3",
            "--backend-option",
            "retry_backoff={initial: 0.01, maximum: 0.01, factor: 1}",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    tries = re.compile(
        rf"motools: cannot reach Tinker at {re.escape(dead_url)}: .+ \(attempt (\d)/3\), "
        r"retrying in 0 s"
    )
    assert [m.group(1) for m in map(tries.match, lines) if m] == ["1", "2"], captured.err
    assert lines[-1].startswith(f"motools: error: cannot reach Tinker at {dead_url} after 3")
    assert "Traceback" not in captured.err and KEY not in captured.err + captured.out
