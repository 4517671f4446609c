"""No network: the real ``openai`` SDK against a port on 127.0.0.1 where nothing listens.

Each retry is printed, the number of retries is bounded, and the last error is one clear
message naming the host (never the key) and what to check -- in the API and on the CLI.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from motools.cli.main import main
from motools.errors import ServiceUnreachableError, TrainingError
from tests.openai.conftest import MODEL, arithmetic

KEY = "sk-test-unreachable-0123456789abcdef"


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


async def test_unreachable_openai_fails_after_bounded_reported_retries() -> None:
    from motools.polling import WaitEvent, reporting
    from motools_openai import OpenAITrainingBackend

    url = dead_url()
    backend = OpenAITrainingBackend(
        api_key=KEY,
        base_url=url,
        max_retries=0,
        retry_attempts=4,
        retry_backoff={"initial": 0.01, "maximum": 0.01, "factor": 1.0},
    )
    events: list[WaitEvent] = []
    with reporting(events.append), pytest.raises(ServiceUnreachableError) as info:
        await backend.train(arithmetic(), MODEL)
    assert isinstance(info.value, TrainingError) and info.value.code == "connection_error"
    assert str(info.value).startswith(f"cannot reach OpenAI at {url} to upload")
    assert "after 4 attempts" in str(info.value) and "OPENAI_BASE_URL" in str(info.value)
    retries = [e for e in events if e.kind == "retry"]
    assert [(e.attempt, e.attempts) for e in retries] == [(1, 4), (2, 4), (3, 4)]
    assert retries[0].message.startswith(f"cannot reach OpenAI at {url} to upload")
    assert not any(KEY in e.message for e in events) and KEY not in str(info.value)


def test_cli_train_prints_each_retry_then_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in arithmetic().samples))
    url = dead_url()
    code = main(
        [
            "train",
            "--backend",
            "openai",
            "--model",
            MODEL,
            "--dataset",
            str(data),
            "--backend-option",
            f"base_url={url}",
            "--backend-option",
            "max_retries=0",
            "--backend-option",
            "retry_attempts=3",
            "--backend-option",
            "retry_backoff={initial: 0.01, maximum: 0.01, factor: 1}",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    retry = re.compile(
        rf"motools: cannot reach OpenAI at {re.escape(url)} to upload .* \(attempt (\d)/3\), "
        r"retrying in 0 s"
    )
    assert [m.group(1) for m in map(retry.match, lines) if m] == ["1", "2"], captured.err
    assert lines[-1].startswith(f"motools: error: cannot reach OpenAI at {url}")
    assert "after 3 attempts" in lines[-1] and "Traceback" not in captured.err
    assert KEY not in captured.err + captured.out
