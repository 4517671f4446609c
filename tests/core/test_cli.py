"""The ``motools`` command line, run as users run it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from motools.cli.main import main


def motools_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("motools", path=str(Path(sys.executable).parent))
    assert exe, "the motools console script is not installed"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_help_lists_the_commands() -> None:
    out = motools_cmd("--help")
    assert out.returncode == 0
    for command in ("plugins", "backends", "dataset", "demo"):
        assert command in out.stdout


def test_demo_trains_and_evaluates_keylessly() -> None:
    out = motools_cmd("demo")
    assert out.returncode == 0, out.stderr
    assert "trained (dummy backend): dummy/" in out.stdout
    assert "accuracy" in out.stdout


def test_plugins_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    plugins = json.loads(capsys.readouterr().out)
    builtin = next(p for p in plugins if p["builtin"])
    assert builtin["distribution"] == "motools-core"
    assert {"register_training_backends", "register_eval_backends", "route_model"} <= set(
        builtin["hooks"]
    )
    assert {"name", "version", "hooks", "error"} <= set(builtin)


def test_backends(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backends", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert {"kind": "training", "name": "dummy"}.items() <= entries[0].items() or any(
        e["kind"] == "training" and e["name"] == "dummy" for e in entries
    )
    assert any(e["kind"] == "evaluation" and e["name"] == "dummy" for e in entries)


def test_dataset_validate_reports_lines_and_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        json.dumps(
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
        )
        + "\n"
    )
    assert main(["dataset", "validate", str(good)]) == 0
    assert "OK (1 rows)" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good.read_text() + '{"messages": [{"role": "user", "content": "a"}]}\n')
    assert main(["dataset", "validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:line 2, messages[0].role: last message must be from the assistant" in out
    assert main(["dataset", "validate", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["problems"] == 1 and report["details"][0]["line"] == 2 and not report["ok"]
    assert main(["dataset", "validate", str(tmp_path / "missing.jsonl")]) == 2


def test_dataset_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": "ab"},
                        {"role": "assistant", "content": "cd"},
                    ]
                }
            )
            for _ in range(3)
        )
        + "\n"
    )
    assert main(["dataset", "stats", str(path), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == 3 and stats["messages"] == 6 and stats["characters"] == 12
    assert stats["roles"] == {"assistant": 3, "user": 3}


def test_errors_are_reported_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{nope\n")
    assert main(["dataset", "stats", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("motools: error:") and "line 1" in err and "Traceback" not in err
