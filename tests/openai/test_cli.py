"""``motools dataset validate FILE --backend openai --model M``: OpenAI's rules and a cost estimate."""

from __future__ import annotations

import json
from pathlib import Path

from motools.cli.main import main

MODEL = "gpt-4o-mini-2024-07-18"


def _write(path: Path, n: int) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"Question {i}?"},
                          {"role": "assistant", "content": f"Answer {i}."}]} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_validate_prints_the_cost_estimate(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # no key is needed for local checks
    path = _write(tmp_path / "train.jsonl", 20)
    assert main(["dataset", "validate", str(path), "--backend", "openai", "--model", MODEL, "--hp", "n_epochs=3"]) == 0
    out = capsys.readouterr().out
    assert "cost estimate:" in out and "n_epochs=3" in out and "usd_per_1m_tokens=3.0" in out
    assert f"{path}: OK (20 rows)" in out


def test_validate_reports_openai_problems(tmp_path, capsys):
    path = _write(tmp_path / "small.jsonl", 4)
    assert main(["dataset", "validate", str(path), "--backend", "openai", "--model", MODEL]) == 1
    out = capsys.readouterr().out
    assert "at least 10 examples, got 4 [openai]" in out
    assert "cost estimate" not in out


def test_validate_json_output(tmp_path, capsys):
    path = _write(tmp_path / "train.jsonl", 12)
    assert main(["dataset", "validate", str(path), "--backend", "openai", "--model", MODEL, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    estimate = result["cost_estimate"]
    assert result["ok"] and result["backend_problems"] == []
    assert estimate["billed_tokens"] == estimate["tokens_per_epoch"] * 8  # auto epochs for 12 rows
