"""No network: real Inspect and the real ``openai`` SDK against a port where nothing listens.

The evaluation shows a heartbeat while it runs, prints each retried model call, stops after
the bounded number of retries and fails with one message naming the host (never the key).
"""

from __future__ import annotations

import re
import socket

import pytest

from motools.cli.main import main

KEY = "sk-test-inspect-unreachable-0123456789"


def test_eval_with_no_network_beats_retries_and_fails_clearly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("MOTOOLS_HEARTBEAT", "0.5")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    code = main(
        [
            "eval",
            "--backend",
            "inspect",
            "--model",
            "openai/gpt-4o-mini",
            "--task",
            "tests.inspect.sample_tasks:yes_task",
            "--limit",
            "1",
            "--option",
            f"model_base_url={url}",
            "--backend-option",
            "max_retries=1",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    err = captured.err
    assert re.search(
        r"motools: still waiting for Inspect evaluation of yes_task on openai/gpt-4o-mini: "
        r"0 sample\(s\) finished \(\d+s so far\)",
        err,
    ), err
    retries = re.findall(
        rf"motools: cannot reach gpt-4o-mini at {re.escape(url)}: APIConnectionError "
        r"\(attempt (\d)/2\), retrying in \d+ s",
        err,
    )
    assert retries == ["1"], err  # max_retries=1: one retry, then the error
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"motools: error: Could not reach openai/gpt-4o-mini at {url}")
    assert "Check your network connection" in last and "Traceback" not in err
    assert KEY not in err + captured.out


def test_max_retries_backend_option_is_checked() -> None:
    from motools.errors import ValidationError
    from motools_inspect.backend import InspectEvalBackend

    with pytest.raises(ValidationError, match="max_retries must be a whole number"):
        InspectEvalBackend(max_retries=-1)
