"""``motools train / eval / runs / cache / provenance / workflow`` as a researcher uses them."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest

from motools.cache import open_store
from motools.cli.main import main
from motools.datasets import JSONLDataset


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    JSONLDataset.from_pairs([(f"q{i}", f"a{i}") for i in range(5)]).save_sync(path)
    return path


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_train_twice_pays_once_and_runs_lists_it(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "train",
        "--backend",
        "dummy",
        "--model",
        "base",
        "--dataset",
        str(data_file),
        "--hp",
        "n_epochs=3",
        "--hp",
        "learning_rate=1e-4",
        "--suffix",
        "v1",
        "--json",
    ]
    first = run_json(capsys, *args)
    second = run_json(capsys, *args)
    assert (
        first["model_id"] == second["model_id"] and second["from_cache"] and not first["from_cache"]
    )
    runs = run_json(capsys, "runs", "--json")
    assert [r["run_id"] for r in runs] == [first["run_id"]]
    assert runs[0]["status"] == "succeeded" and runs[0]["model_id"] == first["model_id"]


def test_detach_then_wait_and_cancel(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["train", "--backend", "dummy", "--model", "base", "--dataset", str(data_file)]
    assert main([*common, "--backend-option", "duration=0.5", "--detach"]) == 0
    run_id = capsys.readouterr().out.strip()
    assert run_id.startswith("dummyjob-")
    assert main(["runs", "wait", run_id]) == 0
    assert capsys.readouterr().out.strip().startswith("dummy/base@")
    assert main([*common, "--suffix", "slow", "--backend-option", "duration=60", "--detach"]) == 0
    slow_id = capsys.readouterr().out.strip()
    assert main(["runs", "cancel", slow_id]) == 0
    assert "cancelled" in capsys.readouterr().out
    statuses = {r["run_id"]: r["status"] for r in run_json(capsys, "runs", "--json")}
    assert statuses == {run_id: "succeeded", slow_id: "cancelled"}


def test_eval_prints_the_metrics_table_and_caches(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "eval",
        "--backend",
        "dummy",
        "--model",
        "dummy/x",
        "--task",
        "t1",
        "--task",
        "t2",
        "--limit",
        "5",
    ]
    assert main(argv) == 0
    out = capsys.readouterr()
    assert "t1" in out.out and "accuracy" in out.out
    assert main(argv) == 0
    assert "(from cache)" in capsys.readouterr().err


def test_cache_ls_show_explain_gc(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = run_json(
        capsys,
        "train",
        "--backend",
        "dummy",
        "--model",
        "base",
        "--dataset",
        str(data_file),
        "--hp",
        "n_epochs=3",
        "--json",
    )
    entries = run_json(capsys, "cache", "ls", "--json")
    assert [e["kind"] for e in entries] == ["training"]
    shown = run_json(capsys, "cache", "show", train["run_id"])
    assert shown["value"]["model_id"] == train["model_id"]
    explain = f"cache explain train --backend dummy --model base --dataset {data_file}".split()
    hit = run_json(capsys, *explain, "--hp", "n_epochs=3.0", "--json")
    assert hit["outcome"] == "hit"
    miss = run_json(capsys, *explain, "--hp", "n_epochs=4", "--suffix", "x", "--json")
    assert miss["outcome"] == "miss"
    assert set(miss["nearest"]["differs"]) == {"hyperparameters.n_epochs", "suffix"}
    assert "dataset" in miss["matched"] and "model" in miss["matched"]
    assert (
        main(
            [
                "cache",
                "explain",
                "train",
                "--backend",
                "dummy",
                "--model",
                "base",
                "--dataset",
                str(data_file),
                "--hp",
                "n_epochs=4",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "differs: hyperparameters.n_epochs: wanted 4, cached 3" in text
    gc = run_json(capsys, "cache", "gc", "--json")
    assert gc["records"] == 0
    assert run_json(capsys, "cache", "ls", "--json")


def test_provenance_chains_eval_to_dataset_bytes(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = run_json(
        capsys,
        "train",
        "--backend",
        "dummy",
        "--model",
        "base",
        "--dataset",
        str(data_file),
        "--json",
    )
    assert main(["eval", "--backend", "dummy", "--model", train["model_id"], "--task", "t"]) == 0
    capsys.readouterr()
    eval_key = run_json(capsys, "cache", "ls", "--kind", "eval", "--json")[0]["key"]
    chain = run_json(capsys, "provenance", eval_key[:10], "--json")
    assert [a["kind"] for a in chain] == ["eval", "model", "training", "dataset"]
    dataset = chain[-1]
    stored = open_store().get_blob(dataset["blob"])  # a file, or an object in S3
    # The dataset is kept as its canonical JSONL: the bytes its content hash identifies.
    assert stored == b"".join(JSONLDataset.load_sync(data_file).canonical_chunks())
    assert [json.loads(line) for line in stored.splitlines()] == [
        json.loads(line) for line in data_file.read_text().splitlines()
    ]
    content_hash = JSONLDataset.load_sync(data_file).content_hash
    assert dataset["config"]["content_hash"] == content_hash
    assert hashlib.sha256(stored).hexdigest() == content_hash
    assert dataset["made_by"].endswith("@" + socket.gethostname())
    assert chain[2]["config"]["hyperparameters"]["n_epochs"] == "auto"
    assert "motools-core" in chain[0]["versions"]
    from motools.provenance import trace

    assert [a["id"] for a in trace(train["model_id"])] == [a["id"] for a in chain[1:]]


def test_workflow_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "prepare_dataset: {dataset: 'motools.demo:hello_world_dataset', sample_size: 4}\n"
        "submit_training: {backend: dummy, model: base}\n"
        "evaluate_model: {backend: dummy, tasks: [t]}\n"
    )
    names = [w["name"] for w in run_json(capsys, "workflow", "list", "--json")]
    assert {"train_and_evaluate", "evaluate_only"} <= set(names)
    assert main(["workflow", "validate", "train_and_evaluate", "--config", str(config)]) == 0
    capsys.readouterr()
    result = run_json(
        capsys, "workflow", "run", "train_and_evaluate", "--config", str(config), "--json"
    )
    assert result["ok"] and result["steps"]["submit_training"]["status"] == "done"
    assert main(["workflow", "run", "train_and_evaluate", "--config", str(config)]) == 0
    out = capsys.readouterr()
    assert "cached" in out.out and "accuracy" in out.out
    assert "prepare_dataset" in out.err  # live progress goes to stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text() + "extra_step: {}\n")
    assert main(["workflow", "validate", "train_and_evaluate", "--config", str(bad)]) == 1
    assert "extra_step: unknown key" in capsys.readouterr().err
