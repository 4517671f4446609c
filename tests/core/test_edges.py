"""Issue 12's edges, one regression test each: never pay twice, a damaged store is repairable,
small things users notice. (CLI messages and config validation: test_cli_errors.py; whole
processes killed or damaged: test_fault_injection.py.)"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import motools
from motools.cache import CachedEvalBackend, CachedTrainingBackend, open_store
from motools.cache.backends import SubmissionInDoubt
from motools.cli.main import main
from motools.datasets import JSONLDataset
from motools.evals import EvalJob, EvalResults
from motools.training.backends.dummy import DummyTrainingBackend
from tests.conftest import REPO_ROOT
from tests.core.blob_damage import in_index, overwrite_blob


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    JSONLDataset.from_pairs([(f"q{i}", f"a{i}") for i in range(5)]).save_sync(path)
    return path


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def jobs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []


# 1 ----------------------------------------------------------------------------------------
def test_gc_never_drops_a_job_that_may_be_running(
    tmp_path: Path, data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "jobs.log"
    train = [
        "train",
        "--backend",
        "dummy",
        "--model",
        "m",
        "--dataset",
        str(data_file),
        "--backend-option",
        "duration=60",
        "--backend-option",
        f"job_log={log}",
    ]
    assert main([*train, "--detach"]) == 0
    run_id = capsys.readouterr().out.strip()
    assert main(["cache", "gc", "--older-than-days", "0"]) == 0
    out = capsys.readouterr().out
    assert "kept 1 record(s) of jobs that may still be running" in out and run_id in out
    again = cli_json(capsys, *train, "--detach", "--json")
    assert again["run_id"] == run_id and again["attached"]
    assert len(jobs(log)) == 1


# 2: tests/core/test_cache.py (a damaged record is restored from its copy, or refused) ------


# 3 ----------------------------------------------------------------------------------------
class CountingEval:
    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    async def evaluate(self, model_id: str, eval_suite: Any, **kw: Any) -> EvalJob:
        self.calls += 1

        async def work() -> EvalResults:
            await asyncio.sleep(0.3)
            return EvalResults(model_id, {"t": {"judge": {"accuracy": 0.25}}})

        return EvalJob(work(), model_id=model_id, eval_suite=eval_suite, backend_name=self.name)


async def test_two_concurrent_evaluations_of_one_request_evaluate_once() -> None:
    inner = CountingEval()
    store = open_store()
    a, b = CachedEvalBackend(inner, store), CachedEvalBackend(inner, store)
    jobs_ = await asyncio.gather(a.evaluate("m", "t"), b.evaluate("m", "t"))
    results = await asyncio.gather(*(j.wait() for j in jobs_))
    assert inner.calls == 1
    assert results[0].metrics == results[1].metrics
    assert sum(bool(r.metadata.get("from_cache")) for r in results) == 1


def test_two_processes_evaluating_one_request_evaluate_once(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "motools.cli.main",
        "eval",
        "--backend",
        "dummy",
        "--model",
        "dummy/m",
        "--task",
        "t",
        "--backend-option",
        "delay=1.5",
        "--json",
    ]
    env = dict(os.environ)
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    results = [json.loads(out) for out, _ in outs]
    assert results[0]["metrics"] == results[1]["metrics"]
    # one of the two evaluated; the other waited for its results
    assert sorted(bool(r["metadata"].get("from_cache")) for r in results) == [False, True]


# 4 ----------------------------------------------------------------------------------------
async def test_an_interrupted_submission_is_found_by_its_token(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    dataset = JSONLDataset.from_pairs([("q", "a")])
    slow = CachedTrainingBackend(DummyTrainingBackend(job_log=str(log), submit_delay=30))
    task = asyncio.ensure_future(slow.train(dataset, "m"))
    while not jobs(log):
        await asyncio.sleep(0.02)
    # The process "dies" while the provider's answer is on its way: the claim is gone and
    # only the submitting record is left.
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    store = open_store()
    assert [r.status for r in store.records(kind="training")] == ["submitting"]
    run = await CachedTrainingBackend(DummyTrainingBackend(job_log=str(log))).train(dataset, "m")
    assert run.attached and run.job_id == jobs(log)[0]["job_id"]
    assert await run.wait() == jobs(log)[0]["model_id"]
    assert len(jobs(log)) == 1


async def test_without_a_lookup_an_interrupted_submission_stops_instead_of_paying_again() -> None:
    class NoLookup:
        name = "nolookup"
        submitted = 0

        async def train(self, *a: Any, **kw: Any) -> Any:
            NoLookup.submitted += 1
            raise AssertionError("must not submit again")

        async def resume(self, state: Any) -> Any:
            raise AssertionError

    backend = CachedTrainingBackend(NoLookup())
    dataset = JSONLDataset.from_pairs([("q", "a")])
    found = await backend.lookup(dataset, "m")
    backend.store.put(
        found.key,
        kind="training",
        status="submitting",
        fields=found.fields,
        backend="nolookup",
        value={"submission": "abc"},
    )
    with pytest.raises(SubmissionInDoubt, match=rf"cache forget {found.key[:12]}"):
        await backend.train(dataset, "m")
    assert NoLookup.submitted == 0


# 5 ----------------------------------------------------------------------------------------
def test_a_forced_rerun_keeps_the_old_run_as_superseded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "prepare_dataset: {dataset: motools.demo:hello_world_dataset, sample_size: 4}\n"
        "submit_training: {backend: dummy, model: m}\n"
        "evaluate_model: {backend: dummy, tasks: [t]}\n"
    )
    run = ["workflow", "run", "train_and_evaluate", "--config", str(config), "--json"]
    first = cli_json(capsys, *run)
    second = cli_json(capsys, *run, "--force-rerun", "submit_training")
    old_job = first["artifacts"]["training_job"]["job_id"]
    new_job = second["artifacts"]["training_job"]["job_id"]
    assert old_job != new_job
    runs = {r["run_id"]: r for r in cli_json(capsys, "runs", "--json")}
    assert runs[old_job]["status"] == "superseded" and runs[new_job]["status"] == "succeeded"
    chain = cli_json(capsys, "provenance", second["artifacts"]["results"]["cache_key"], "--json")
    training = next(a for a in chain if a["kind"] == "training")
    assert training["config"]["job_id"] == new_job
    store = open_store()
    new = next(r for r in store.records(kind="training") if r.label == new_job)
    old = next(r for r in store.records(kind="training") if r.label == old_job)
    assert new.created_at > old.created_at


# 6 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", ["small", "large"])
def test_writing_a_blob_over_a_damaged_copy_replaces_it(size: str) -> None:
    store = open_store()
    payload = b"payload" * (1 if size == "small" else store.inline_max)
    digest = store.put_blob(payload)
    assert in_index(store, digest) == (size == "small")  # a row of the index, or a file
    overwrite_blob(store, digest, payload.replace(b"a", b"4", 1))
    assert not store.blob_ok(digest)
    assert store.put_blob(payload) == digest
    assert store.get_blob(digest) == payload


def test_cache_verify_reports_and_repairs(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_train_and_evaluate())
    store = open_store()
    eval_record = store.records(kind="eval")[0]
    blob = eval_record.value["results_blob"]
    overwrite_blob(store, blob, b"{}")
    assert main(["cache", "verify"]) == 1
    out = capsys.readouterr().out
    assert f"blob {blob[:12]} fails its checksum" in out and "--repair" in out
    report = cli_json(capsys, "cache", "verify", "--repair", "--json")
    assert any("dropped with its blob" in f for f in report["fixed"])
    assert cli_json(capsys, "cache", "verify", "--json")["problems"] == []


async def _train_and_evaluate() -> None:
    dataset = JSONLDataset.from_pairs([("q", "a")])
    run = await motools.train(dataset, "m")
    await (await motools.evaluate(await run.wait(), ["t"])).wait()


# 7 ----------------------------------------------------------------------------------------
def test_a_malformed_index_is_one_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_train_and_evaluate())
    store = open_store()
    store.close()
    index = store.root / "index.db"
    with sqlite3.connect(index) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(index.read_bytes())
    for i in range(4096 + 16, len(data), 97):  # damage the pages, keep the header
        data[i] ^= 0xFF
    index.write_bytes(bytes(data))
    from motools.cache import store as store_module

    store_module._STORES.clear()
    assert main(["cache", "ls"]) == 1
    err = capsys.readouterr().err
    assert str(index) in err and "motools cache verify --repair" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["cache", "verify", "--repair"]) == 0
    capsys.readouterr()
    assert len(cli_json(capsys, "cache", "ls", "--json")) >= 2  # rebuilt from the copies


def test_a_home_that_is_a_file_is_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home-file"
    home.write_text("")
    monkeypatch.setenv("MOTOOLS_HOME", str(home))
    assert main(["cache", "ls"]) == 1
    err = capsys.readouterr().err
    assert f"{home} is a file, not a folder" in err and "Traceback" not in err


def test_listing_commands_work_on_a_read_only_store(tmp_path: Path) -> None:
    home = Path(os.environ["MOTOOLS_HOME"])
    asyncio.run(_train_and_evaluate())
    open_store().close()
    key = open_store().records(kind="eval")[0].key
    script = (
        f'mount --bind "{home}" "{home}" && mount -o remount,bind,ro "{home}" "{home}" && '
        f'for c in "cache ls" "runs" "provenance {key[:12]}" "train --backend dummy --model x '
        f'--dataset {tmp_path}/d.jsonl"; do {sys.executable} -m motools.cli.main $c; '
        'echo "exit=$?"; done'
    )
    JSONLDataset.from_pairs([("q", "b")]).save_sync(tmp_path / "d.jsonl")
    out = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True)
    if "mount" in out.stderr and "exit=" not in out.stdout:
        pytest.skip(f"cannot mount read-only here: {out.stderr.strip()}")
    exits = [line for line in out.stdout.splitlines() if line.startswith("exit=")]
    assert exits == ["exit=0", "exit=0", "exit=0", "exit=1"], out.stdout + out.stderr
    assert "is read-only" in out.stderr and "Traceback" not in out.stderr


# 14 ---------------------------------------------------------------------------------------
def test_written_files_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = JSONLDataset.from_pairs([("q", "a")]).save_sync(tmp_path / "d.jsonl")
        results = EvalResults("m", {"t": {"s": {"accuracy": 1.0}}})
        saved = results.save_sync(tmp_path / "r.json")
        blob = open_store().blob_path(open_store().put_blob(b"x"))
    finally:
        os.umask(old)
    for p in (path, saved, blob):
        assert stat.S_IMODE(Path(p).stat().st_mode) == 0o644, p


# 16 ---------------------------------------------------------------------------------------
def test_train_json_on_a_cache_hit_has_the_cache_key(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "--backend", "dummy", "--model", "m", "--dataset", str(data_file), "--json"]
    first = cli_json(capsys, *args)
    second = cli_json(capsys, *args)
    assert second["from_cache"] and second["cache_key"] == first["cache_key"] is not None


# 17 ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_missing_data_mirror_fails_under_ci(tmp_path: Path) -> None:
    env = dict(os.environ, CI="true", MOTOOLS_SHARED_DATA=str(tmp_path / "nowhere"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/zoo/test_assets.py::test_declarations_match_the_mirror_readme",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
    )
    assert out.returncode == 1, out.stdout
    assert "CI must run these tests" in out.stdout and "skipped" not in out.stdout
    env.pop("CI")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/zoo/test_assets.py::test_declarations_match_the_mirror_readme",
        ],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
    )
    assert "1 skipped" in out.stdout


# issue 16: a run's events are readable from any process that shares the store --------------
def test_runs_events_are_read_from_another_process(
    data_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        "train",
        "--backend",
        "dummy",
        "--model",
        "m",
        "--dataset",
        str(data_file),
        "--backend-option",
        "duration=0.2",
        "--detach",
        "--json",
    ]
    run_id = cli_json(capsys, *args)["run_id"]
    out = subprocess.run(
        [sys.executable, "-m", "motools.cli.main", "runs", "events", run_id, "--json"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    events = json.loads(out.stdout)
    assert events[0] == {"type": "status", "status": "queued", "time": events[0]["time"]}
    assert main(["runs", "wait", run_id]) == 0
    capsys.readouterr()
    final = cli_json(capsys, "runs", "events", run_id, "--json")
    assert [e["status"] for e in final] == ["queued", "running", "succeeded"]
