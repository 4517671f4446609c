"""Issue 17 behaviour: streamed blobs, one validation and one serialisation per row in a
workflow, training from the stored blob, paginated and streamed listings.

Costs themselves are measured by ``bench/scale.py``; these tests check what the cheaper code
does (same bytes, same records, each row handled once), never how long it takes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

import motools
import motools.datasets.jsonl as jsonl_module
import motools.datasets.stored as stored_module
from motools.cache import Store
from motools.cli.main import main
from motools.datasets import JSONLDataset
from motools.datasets.stored import StoredDataset
from motools.provenance import record_dataset
from motools.workflows import run_workflow
from tests.core.blob_damage import overwrite_blob, stored_bytes


def chat_rows(n: int) -> list[dict[str, Any]]:
    # Keys out of sorted order on purpose: the canonical form sorts them.
    return [
        {
            "messages": [
                {"role": "user", "content": f"question {i} ünïcode"},
                {"content": f"answer {i}", "role": "assistant", "weight": 1},
            ]
        }
        for i in range(n)
    ]


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# -- blobs ---------------------------------------------------------------------------------------
def test_a_streamed_blob_is_byte_identical_to_a_whole_one(tmp_path: Path) -> None:
    data = b"".join(orjson.dumps(r) + b"\n" for r in chat_rows(50))
    whole = Store(tmp_path / "a")
    streamed = Store(tmp_path / "b")
    digest = whole.put_blob(data)
    chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
    assert streamed.put_blob_stream(iter(chunks)) == digest == hashlib.sha256(data).hexdigest()
    assert streamed.blob_path(digest).read_bytes() == whole.blob_path(digest).read_bytes() == data
    assert streamed.get_blob(digest) == data
    # no temp file is left behind, and the blob has the permissions of any other file
    assert [p.name for p in streamed.blob_dir.rglob("*") if p.is_file()] == [digest]
    assert (
        streamed.blob_path(digest).stat().st_mode & 0o777
        == whole.blob_path(digest).stat().st_mode & 0o777
    )


def test_a_streamed_blob_replaces_a_damaged_one_and_keeps_an_intact_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    data = b"x" * 5000
    digest = store.put_blob_stream([data])
    path = store.blob_path(digest)
    path.write_bytes(b"y" + data[1:])  # flipped byte
    assert not store.blob_ok(digest)
    assert store.put_blob_stream([data[:10], data[10:]]) == digest
    assert store.blob_ok(digest) and path.read_bytes() == data
    before = path.stat().st_ino
    store.put_blob_stream([data])
    assert path.stat().st_ino == before  # intact: not rewritten
    assert not list(store.blob_dir.glob("*.tmp")) and not list(store.blob_dir.glob(".*"))


def test_a_stream_that_fails_midway_leaves_no_blob_and_no_temp_file(tmp_path: Path) -> None:
    store = Store(tmp_path)

    def chunks() -> Any:
        yield b"abc"
        raise RuntimeError("the producer broke")

    with pytest.raises(RuntimeError):
        store.put_blob_stream(chunks())
    assert [p for p in store.blob_dir.rglob("*") if p.is_file()] == []


def test_the_dataset_blob_is_the_canonical_jsonl_its_content_hash_names(tmp_path: Path) -> None:
    rows = chat_rows(30)
    store = Store(tmp_path / "home")
    dataset = JSONLDataset(rows)
    artifact = record_dataset(store, dataset)
    stored = store.get_artifact(artifact)
    assert stored is not None
    blob = store.get_blob(stored["blob"])
    expected = b"".join(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) + b"\n" for r in rows)
    assert blob == expected
    assert stored["blob"] == dataset.content_hash == JSONLDataset(rows).content_hash
    assert artifact == f"dataset:{dataset.content_hash}"
    # the chunking does not change the bytes
    assert b"".join(JSONLDataset(rows).canonical_chunks(chunk_size=1)) == expected
    # recording again (hash now known) keeps the one blob; a damaged blob is rewritten
    store.blob_path(stored["blob"]).write_bytes(b"damaged")
    assert record_dataset(store, JSONLDataset(rows)) == artifact
    assert store.get_blob(stored["blob"]) == expected


# -- one validation, one serialisation, one parse per row ---------------------------------------
@pytest.fixture
def counters(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counting wrappers around the real per-row functions (they still do the work)."""
    counts = {"check_sample": 0, "dumps": 0, "parses": 0, "stored_parses": 0}
    real_check = jsonl_module.check_sample
    real_dumps = orjson.dumps
    real_read = jsonl_module.read_jsonl

    def check_sample(*args: Any, **kwargs: Any) -> Any:
        counts["check_sample"] += 1
        return real_check(*args, **kwargs)

    def dumps(*args: Any, **kwargs: Any) -> Any:
        counts["dumps"] += 1
        return real_dumps(*args, **kwargs)

    def read_jsonl(*args: Any, **kwargs: Any) -> Any:
        counts["parses"] += 1
        return real_read(*args, **kwargs)

    def stored_read(*args: Any, **kwargs: Any) -> Any:
        counts["stored_parses"] += 1
        return real_read(*args, **kwargs)

    monkeypatch.setattr(jsonl_module, "check_sample", check_sample)
    monkeypatch.setattr(jsonl_module, "read_jsonl", read_jsonl)
    monkeypatch.setattr(stored_module, "read_jsonl", stored_read)
    monkeypatch.setattr(orjson, "dumps", dumps)
    return counts


def workflow_config(data: Path, **extra: Any) -> dict[str, Any]:
    return {
        "seed": 3,
        "prepare_dataset": {"dataset": str(data), **extra},
        "submit_training": {"backend": "dummy", "model": "base"},
        "evaluate_model": {"backend": "dummy", "tasks": ["hello_world"], "limit": 2},
    }


def test_a_cold_workflow_validates_serialises_and_parses_each_row_once(
    tmp_path: Path, counters: dict[str, int]
) -> None:
    rows = chat_rows(120)
    data = write_rows(tmp_path / "train.jsonl", rows)
    store = Store(tmp_path / "home")
    result = asyncio.run(run_workflow("train_and_evaluate", workflow_config(data), store=store))
    assert result.ok and result.steps["submit_training"].status == "done"
    assert counters["check_sample"] == len(rows)  # load validated them; nothing again
    assert counters["parses"] == 1  # the file, once
    assert counters["stored_parses"] == 0  # the dummy backend needs no row from the blob
    row_dumps = counters["dumps"]
    assert len(rows) <= row_dumps < len(rows) + 10  # one per row (+ a few small documents)
    # what was trained on is exactly the file's rows, kept once, named by their hash
    blob = store.get_blob(result.artifacts["dataset"]["blob"])
    assert [json.loads(line) for line in blob.splitlines()] == rows
    assert hashlib.sha256(blob).hexdigest() == result.artifacts["dataset"]["content_hash"]
    assert result.artifacts["dataset"]["content_hash"] == JSONLDataset(rows).content_hash


def test_a_sampled_dataset_is_validated_once_per_row_too(
    tmp_path: Path, counters: dict[str, int]
) -> None:
    data = write_rows(tmp_path / "train.jsonl", chat_rows(40))
    config = workflow_config(data, sample_size=10)
    result = asyncio.run(run_workflow("train_and_evaluate", config, store=Store(tmp_path / "h")))
    assert result.ok and result.artifacts["dataset"]["rows"] == 10
    assert counters["check_sample"] == 40


def test_validation_still_catches_a_bad_row_once_per_purpose() -> None:
    bad = JSONLDataset([{"messages": [{"role": "user", "content": "no answer"}]}], purpose=None)
    with pytest.raises(Exception, match="assistant"):
        bad.validate("supervised")
    good = JSONLDataset(chat_rows(3)).validate()
    assert good.problems() == [] and good.problems("preference")  # another purpose is checked


# -- training from the stored blob -------------------------------------------------------------
def test_a_stored_dataset_reads_its_rows_only_when_asked(tmp_path: Path) -> None:
    rows = chat_rows(8)
    store = Store(tmp_path)
    dataset = JSONLDataset(rows)
    record_dataset(store, dataset)
    path = store.blob_path(dataset.content_hash)
    stored = StoredDataset(path, content_hash=dataset.content_hash, rows=8, source="x.jsonl")
    assert len(stored) == 8 and stored.content_hash == dataset.content_hash
    assert stored.to_jsonl_bytes() == path.read_bytes()  # the stored bytes, as they are
    copy = stored.save_sync(tmp_path / "copy.jsonl")
    assert copy.read_bytes() == path.read_bytes()
    assert not stored.is_loaded
    assert list(stored) == rows and stored.is_loaded
    assert stored == dataset and stored.sample(3, seed=1) == dataset.sample(3, seed=1)


def test_a_damaged_stored_dataset_is_prepared_again_not_trained_on(tmp_path: Path) -> None:
    rows = chat_rows(5)
    data = write_rows(tmp_path / "train.jsonl", rows)
    store = Store(tmp_path / "home")
    config = workflow_config(data)
    first = asyncio.run(run_workflow("train_and_evaluate", config, store=store))
    blob = store.blob_path(first.artifacts["dataset"]["blob"])
    blob.write_bytes(blob.read_bytes()[:-3])
    config["submit_training"]["hyperparameters"] = {"n_epochs": 2}  # a new job
    again = asyncio.run(run_workflow("train_and_evaluate", config, store=store))
    assert again.steps["prepare_dataset"].status == "done"  # not served from the damaged blob
    assert [json.loads(line) for line in blob.read_bytes().splitlines()] == rows


# -- listings ------------------------------------------------------------------------------------
def fill(store: Store, n: int) -> list[str]:
    """``n`` training records, one second apart (newest last); statuses cycle."""
    keys = []
    statuses = ("succeeded", "running", "failed")
    for i in range(n):
        key = hashlib.sha256(f"k{i}".encode()).hexdigest()
        store.put(
            key,
            kind="training" if i % 4 else "step",
            status=statuses[i % 3],
            fields={"model": "base", "i": i},
            value={"model_id": f"m{i}", "i": i},
            backend="dummy",
            label=f"job-{i}",
        )
        with store.transaction() as conn:  # spread the times out, deterministically
            conn.execute(
                "UPDATE records SET updated_at = ?, created_at = ? WHERE key = ?",
                (1_700_000_000 + i, 1_700_000_000 + i, key),
            )
        keys.append(key)
    return keys


def test_records_are_paginated_filtered_and_streamed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    keys = fill(store, 20)
    everything = store.records()
    assert [r.key for r in everything] == keys[::-1]  # newest first
    pages = [store.records(limit=6, offset=o) for o in range(0, 20, 6)]
    assert [r.key for page in pages for r in page] == [r.key for r in everything]
    assert [r.key for r in store.iter_records(batch=3)] == [r.key for r in everything]
    running = store.records(kind="training", status="running")
    assert running and all(r.status == "running" and r.kind == "training" for r in running)
    both = store.records(status=["running", "failed"])
    assert {r.status for r in both} == {"running", "failed"}
    recent = store.records(since=1_700_000_000 + 15)
    assert [r.value["i"] for r in recent] == [19, 18, 17, 16, 15]
    assert store.count_records(kind="training") == len(store.records(kind="training"))
    assert store.count_records(status="running", since=1_700_000_000 + 10) == len(
        store.records(status="running", since=1_700_000_000 + 10)
    )
    plan = " ".join(
        str(row)
        for row in store._connect().execute(
            "EXPLAIN QUERY PLAN SELECT key FROM records WHERE kind = ? "
            "ORDER BY updated_at DESC LIMIT 5",
            ("training",),
        )
    )
    assert "TEMP B-TREE" not in plan  # the listing reads an index, it does not sort the table


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_runs_and_cache_ls_paginate_filter_and_stream_json_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from motools.cache import open_store

    store = open_store()
    fill(store, 30)
    training = store.count_records(kind="training")
    code, out, err = cli(capsys, "runs", "--limit", "5")
    assert code == 0 and len(out.splitlines()) == 2 + 5
    assert "5 newest shown" in err and "--offset 5" in err
    code, out, err = cli(capsys, "runs", "--limit", str(training))
    assert len(out.splitlines()) == 2 + training and err == ""  # everything fits: no note
    code, out, _ = cli(capsys, "runs", "--json", "--limit", "0")
    runs = json.loads(out)  # still one JSON document, now written run by run
    assert len(runs) == training and runs[0]["run_id"] == "job-29"
    code, out, _ = cli(capsys, "runs", "--jsonl", "--status", "running,failed", "--limit", "4")
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 4 and {r["status"] for r in lines} <= {"running", "failed"}
    code, out, _ = cli(capsys, "runs", "--jsonl", "--limit", "3", "--offset", "3")
    assert [r["run_id"] for r in map(json.loads, out.splitlines())] == [
        r["run_id"] for r in runs[3:6]
    ]
    since = datetime.fromtimestamp(1_700_000_000 + 20).isoformat()  # local time, as typed
    code, out, _ = cli(capsys, "cache", "ls", "--jsonl", "--since", since)
    assert [json.loads(line)["value"]["i"] for line in out.splitlines()] == list(range(29, 19, -1))
    code, out, _ = cli(capsys, "cache", "ls", "--since", "1h", "--json")
    assert json.loads(out) == []  # every record is from 2023
    code, _, err = cli(capsys, "cache", "ls", "--since", "yesterday-ish")
    assert code == 1 and "--since" in err and "2h" in err


# -- sweeps: members share what they have in common ----------------------------------------------
LOADS: list[int | None] = []


def counted_dataset(n: int = 6, *, seed: int = 0) -> JSONLDataset:
    """A dataset loader that counts its calls (one per preparation of the dataset)."""
    LOADS.append(seed)
    return JSONLDataset(
        {
            "messages": [
                {"role": "user", "content": f"hi {i} {seed}"},
                {"role": "assistant", "content": "hello"},
            ]
        }
        for i in range(n)
    )


def sweep_spec(log: Path, lrs: list[float], seeds: list[int], **extra: Any) -> Any:
    from motools.experiments import SweepSpec

    return SweepSpec.parse(
        {
            "name": "shared",
            "max_parallel": 8,
            "base_config": {
                "prepare_dataset": {"dataset": "tests.core.test_scale:counted_dataset"},
                "submit_training": {
                    "backend": "dummy",
                    "model": "base",
                    "backend_options": {"job_log": str(log)},
                },
                "evaluate_model": {"backend": "dummy", "tasks": ["hello_world"], "limit": 4},
            },
            "grid": {"submit_training.hyperparameters.learning_rate": lrs, "seed": seeds},
            **extra,
        }
    )


def test_members_sharing_a_dataset_prepare_it_once_each_even_at_once(tmp_path: Path) -> None:
    from motools.experiments import run_sweep

    LOADS.clear()
    log = tmp_path / "jobs.log"
    store = Store(tmp_path / "home")
    spec = sweep_spec(log, [1e-5, 2e-5, 3e-5, 4e-5], [0, 1])
    first = asyncio.run(run_sweep(spec, store=store))
    assert first.ok and len(first.members) == 8
    # 8 members, 8 running at once, 2 distinct (dataset, seed): 2 preparations, not 8
    assert sorted(LOADS) == [0, 1]
    assert len(log.read_text().splitlines()) == 8
    statuses = [m.steps["prepare_dataset"] for m in first.members]
    assert statuses.count("done") == 2 and statuses.count("cached") == 6
    again = asyncio.run(run_sweep(spec, store=store))
    assert again.counts()["cached"] == 8 and sorted(LOADS) == [0, 1]


def test_members_sharing_a_dataset_section_fingerprint_its_source_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import motools.workflows.builtin as builtin
    from motools.experiments import run_sweep

    taken: list[str] = []
    fingerprint = builtin._dataset_fingerprint

    def counted(config: Any) -> Any:
        taken.append(config.dataset)
        return fingerprint(config)

    monkeypatch.setattr(builtin, "_dataset_fingerprint", counted)
    store = Store(tmp_path / "home")
    spec = sweep_spec(tmp_path / "jobs.log", [1e-5, 2e-5, 3e-5], [0, 1])
    first = asyncio.run(run_sweep(spec, store=store))
    assert first.ok and len(first.members) == 6
    assert taken == ["tests.core.test_scale:counted_dataset"]  # once, for six members
    again = asyncio.run(run_sweep(spec, store=store))  # a new run looks at the source again
    assert again.counts()["cached"] == 6 and len(taken) == 2


def test_expanded_members_equal_one_by_one_validation() -> None:
    """Sections shared between members give the same frozen config and label as validating
    each member's whole config alone."""
    from motools.experiments.spec import Member, expand, member_label, set_path
    from motools.workflows import get_workflow

    spec = sweep_spec(
        Path("jobs.log"),
        [1e-5, 2e-5],
        [0, 1, 2],
        include=[{"seed": 7, "submit_training.hyperparameters.n_epochs": 5}],
        exclude=[{"seed": 1, "submit_training.hyperparameters.learning_rate": 2e-5}],
    )
    members: list[Member] = expand(spec)
    workflow = get_workflow("train_and_evaluate")
    assert len(members) == 6  # 2 x 3 - 1 excluded + 1 included
    for member in members:
        config = json.loads(json.dumps(spec.base_config))
        for path, value in member.params.items():
            set_path(config, path, value)
        alone = workflow.parse_config(config).model_dump(mode="json")
        assert member.config == alone
        assert list(member.config) == list(alone)  # the same order as well
        assert member.label == member_label("train_and_evaluate", alone)
    # members with the same submit_training values share one validated section object
    by_lr: dict[Any, set[int]] = {}
    for member in members:
        lr = member.params.get("submit_training.hyperparameters.learning_rate")
        by_lr.setdefault(lr, set()).add(id(member.parsed.submit_training))
    assert all(len(ids) == 1 for lr, ids in by_lr.items() if lr is not None)


def test_a_sweep_run_again_reads_its_records_ahead_in_few_queries(tmp_path: Path) -> None:
    from motools.experiments import run_sweep

    log = tmp_path / "jobs.log"
    store = Store(tmp_path / "home")
    spec = sweep_spec(log, [1e-5 * (i + 1) for i in range(10)], [0, 1, 2])
    asyncio.run(run_sweep(spec, store=store))
    single: list[str] = []
    query = store.index.query

    def counting(sql: str, args: Any = ()) -> Any:
        if "FROM records WHERE key = ?" in sql or "FROM small_blobs WHERE digest = ?" in sql:
            single.append(args[0])
        return query(sql, args)

    store.index.query = counting  # type: ignore[method-assign]
    again = asyncio.run(run_sweep(spec, store=store))
    assert again.counts()["cached"] == 30
    # every training and evaluation record, and the size of each evaluation's results, came
    # from the read-ahead; what is left is the dataset step each seed's members share (one
    # read of its record and one of its outputs each)
    assert len(single) == 6


def test_read_ahead_serves_finished_records_once_and_writes_win(tmp_path: Path) -> None:
    store = Store(tmp_path)
    for i, status in enumerate(["succeeded", "running", "succeeded"]):
        store.put(f"k{i}", kind="training", status=status, fields={}, value={"i": i})
    assert store.read_ahead(["k0", "k1", "k2", "missing"]) == 2  # in flight: read when asked
    store.update("k2", status="expired", value={"i": 2})
    assert store.get("k0").value == {"i": 0}
    assert store.get("k2").status == "expired"  # written after the read-ahead: the new one
    assert store.get("k1").status == "running"


def test_a_verified_blob_is_not_hashed_again_until_its_file_changes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    digest = store.put_blob(b"x" * (store.inline_max + 1))  # a file (small ones are rows)
    assert store.blob_ok(digest)
    reads: list[str] = []
    sha256 = store.blobs.sha256

    def counting(d: str, fresh: bool = False) -> str | None:
        reads.append(d)
        return sha256(d, fresh=fresh)

    store.blobs.sha256 = counting  # type: ignore[method-assign]
    assert store.blob_ok(digest) and store.blob_ok(digest) and reads == []
    path = store.blob_path(digest)
    path.write_bytes(b"y" * (store.inline_max + 1))  # tampered with: a new modification time
    assert not store.blob_ok(digest) and reads == [digest]


def dummy_eval(store: Store, tasks: list[str]) -> Any:
    """A function evaluating model ``m`` on ``tasks`` through the cache of ``store``."""
    from motools.cache import CachedEvalBackend
    from motools.evals.backends.dummy import DummyEvalBackend

    backend = CachedEvalBackend(DummyEvalBackend(), store)

    async def evaluate() -> Any:
        return await (await backend.evaluate("m", tasks, limit=3)).wait()

    return lambda: asyncio.run(evaluate())


def test_a_cached_evaluation_is_served_without_parsing_its_samples(tmp_path: Path) -> None:
    from motools.evals.base import StoredEvalResults

    evaluate = dummy_eval(Store(tmp_path), ["hello_world", "gsm8k"])
    fresh = evaluate()
    cached = evaluate()
    assert isinstance(cached, StoredEvalResults) and not cached.samples_loaded
    assert cached.metrics == fresh.metrics and cached.metadata["from_cache"]
    assert cached.samples == fresh.samples and cached.samples_loaded
    assert cached.to_dict()["samples"] == fresh.samples


def test_a_cached_evaluation_from_an_older_record_is_still_served(tmp_path: Path) -> None:
    store = Store(tmp_path)
    evaluate = dummy_eval(store, ["hello_world"])
    fresh = evaluate()
    key = fresh.metadata["cache_key"]
    older = {k: v for k, v in store.get(key).value.items() if k != "summary"}  # before 17
    store.update(key, status="succeeded", value=older)
    cached = evaluate()
    assert cached.metadata["from_cache"] and cached.samples == fresh.samples


def test_a_damaged_results_blob_behind_a_summary_is_evaluated_again(tmp_path: Path) -> None:
    from motools.cache.backends import CacheWarning

    store = Store(tmp_path)
    evaluate = dummy_eval(store, ["hello_world"])
    fresh = evaluate()
    blob = store.get(fresh.metadata["cache_key"]).value["results_blob"]
    overwrite_blob(store, blob, stored_bytes(store, blob)[:-5])
    with pytest.warns(CacheWarning, match="re-evaluating"):
        again = evaluate()
    assert not again.metadata.get("from_cache") and again.metrics == fresh.metrics


def test_writes_together_commit_once_and_copy_after_the_commit(tmp_path: Path) -> None:
    store = Store(tmp_path)
    journal = store.copies_dir / "records.jsonl"

    def both() -> None:
        store.put("a", kind="training", status="succeeded", fields={}, value={"n": 1})
        store.put("b", kind="eval", status="succeeded", fields={}, value={"n": 2})
        assert not journal.exists() or '"a"' not in journal.read_text()  # not yet

    store.together(both)
    assert store.get("a") is not None and store.get("b") is not None
    assert '"key":"a"' in journal.read_text() and '"key":"b"' in journal.read_text()

    def fails() -> None:
        store.put("c", kind="training", status="succeeded", fields={}, value={"n": 3})
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.together(fails)
    assert store.get("c") is None and '"key":"c"' not in journal.read_text()


def counting_commits(store: Store) -> list[int]:
    """Count ``store``'s write transactions (one commit each)."""
    commits = [0]
    transaction = store.index.transaction

    def counted() -> Any:
        commits[0] += 1
        return transaction()

    store.index.transaction = counted  # type: ignore[method-assign]
    return commits


async def test_concurrent_groups_share_one_commit_and_each_caller_waits_for_it(
    tmp_path: Path,
) -> None:
    store, other = Store(tmp_path), Store(tmp_path)  # other: a second connection
    commits = counting_commits(store)
    seen: dict[str, bool] = {}

    async def job(i: int) -> None:
        key = f"job-{i}"
        token = await store.try_claim_shared(key)
        assert token is not None and other.claim_holder(key) == token  # committed already

        def record() -> None:
            store.put(key, kind="training", status="succeeded", fields={"i": i}, value={})
            store.release_claim(key, token)

        await store.together_shared(record)
        seen[key] = other.get(key) is not None and other.claim_holder(key) is None

    await asyncio.gather(*(job(i) for i in range(8)))
    assert seen == {f"job-{i}": True for i in range(8)}
    assert commits[0] == 2  # the eight claims in one commit, the eight records in another
    journal = (store.copies_dir / "records.jsonl").read_text()
    assert all(f'"key":"job-{i}"' in journal for i in range(8))


async def test_a_failing_group_costs_the_groups_sharing_its_commit_nothing(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)

    def write(key: str, fail: bool = False) -> str:
        store.put(key, kind="eval", status="succeeded", fields={}, value={"k": key})
        if fail:
            raise ValueError(f"{key} refused")
        return key

    outcomes = await asyncio.gather(
        store.together_shared(lambda: write("a")),
        store.together_shared(lambda: write("b", fail=True)),
        store.together_shared(lambda: write("c")),
        return_exceptions=True,
    )
    assert outcomes[0] == "a" and outcomes[2] == "c"
    assert isinstance(outcomes[1], ValueError) and "b refused" in str(outcomes[1])
    assert store.get("a") is not None and store.get("c") is not None
    assert store.get("b") is None  # its write was rolled back with its failure
    journal = (store.copies_dir / "records.jsonl").read_text()
    assert '"key":"b"' not in journal and journal.count('"key":"a"') == 1


async def test_a_cancelled_caller_keeps_work_done_and_drops_work_not_started(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)

    def write(key: str) -> None:
        store.put(key, kind="training", status="succeeded", fields={}, value={})

    tasks = {
        "done": asyncio.create_task(store.together_shared(lambda: write("done"))),
        "not started": asyncio.create_task(
            store.together_shared(lambda: write("not started"), keep=False)
        ),
        "claim": asyncio.create_task(store.try_claim_shared("claimed")),
    }
    await asyncio.sleep(0)  # each is queued, waiting for the commit
    for task in tasks.values():
        task.cancel()
    for task in tasks.values():
        with pytest.raises(asyncio.CancelledError):
            await task
    assert store.get("done") is not None  # a record of work done is never dropped
    assert store.get("not started") is None
    assert store.claim_holder("claimed") is None  # no claim left behind


async def test_manifest_updates_are_one_line_per_member_and_standard_json(tmp_path: Path) -> None:
    from motools.experiments import SweepSpec
    from motools.experiments.manifest import Manifest, ManifestWriter
    from motools.experiments.spec import Member

    path = tmp_path / "m.jsonl"
    writer = ManifestWriter(path, delay=60)
    members = [Member("m-1", {"seed": 1}, {"seed": 1}), Member("m-2", {"seed": 2}, {"seed": 2})]
    writer.start(SweepSpec.parse({}), "s", members)
    for step in ("running", "trained", "succeeded"):
        writer.update("m-1", status=step, results={"metrics": {"t": {"s": {"stderr": math.nan}}}})
    writer.update("m-2", status="failed")
    assert len(path.read_text().splitlines()) == 1  # gathered, not yet written
    writer.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3  # the header, then one line per member
    assert [json.loads(line, parse_constant=pytest.fail) for line in lines]  # no NaN token
    read = Manifest.read(path)
    assert (
        read.members["m-1"]["status"] == "succeeded" and read.members["m-2"]["status"] == "failed"
    )
    assert read.members["m-1"]["results"]["metrics"]["t"]["s"]["stderr"] is None


def test_registrations_are_read_again_when_a_plugin_is_added() -> None:
    from motools.plugins import register_plugin, registrations, unregister_plugin

    class Extra:
        @motools.hookimpl
        def register_tasks(self, register: Any) -> None:
            register("scale_test_task", "tests.core.test_scale:counted_dataset")

    assert "scale_test_task" not in registrations("task")
    name = register_plugin(Extra(), name="scale-test-plugin")
    try:
        assert "scale_test_task" in registrations("task")
    finally:
        unregister_plugin(name=name)
    assert "scale_test_task" not in registrations("task")


def test_a_copy_put_together_from_encoded_parts_is_the_canonical_json() -> None:
    from motools.cache.store import Record, canonical_json, record_json

    for record in (
        Record("k", "eval", "succeeded", None, None, {}, {}, 1.5, 2.0),
        Record(
            "é\"key\":", "training", "running", "dum\\my", 'job "1"',
            {"b": [1, 2.5e-7, None], "a": {"ü": True}}, {"nan": float("nan"), "big": 10**30},
            1_700_000_000.123456, 1_700_000_001.0, 1.0e300, 3,
        ),
        Record(
            "tab\tkey", "eval", "del\x7f", "", "new\nline", {}, {}, 1e-06, 1e16,
            float("inf"), 10**30,
        ),
    ):  # fmt: skip
        whole = canonical_json(record.to_dict())
        parts = record_json(record, canonical_json(record.fields), canonical_json(record.value))
        assert parts == whole


def test_an_artifact_copy_put_together_from_its_columns_is_the_canonical_json(
    tmp_path: Path,
) -> None:
    from motools.cache.store import canonical_json

    store = Store(tmp_path)
    store.put_artifact(
        "eval:é\"x\"", kind="eval", inputs=["model:m", "a\\b"], config={"z": 1, "a": [None]},
        versions={"motools-core": "1.0"}, blob=None,
    )  # fmt: skip
    store.put_blob(b"small")
    for journal in ("artifacts.jsonl", "blobs.jsonl"):
        for line in (store.copies_dir / journal).read_text().splitlines():
            entry = json.loads(line)["entry"]
            assert line == canonical_json(
                {
                    "checksum": hashlib.sha256(canonical_json(entry).encode()).hexdigest(),
                    "entry": entry,
                }
            )


def test_a_same_size_tampered_results_blob_is_caught_when_its_samples_are_read(
    tmp_path: Path,
) -> None:
    """A hit checks the results blob's presence and size; its hash when samples are read."""
    from motools.cache.store import CorruptRecord

    store = Store(tmp_path)
    evaluate = dummy_eval(store, ["hello_world"])
    fresh = evaluate()
    blob = store.get(fresh.metadata["cache_key"]).value["results_blob"]
    data = stored_bytes(store, blob)
    overwrite_blob(store, blob, data.replace(b'"yes"', b'"YES"', 1))  # same length
    cached = dummy_eval(Store(tmp_path), ["hello_world"])()
    assert cached.metrics == fresh.metrics  # from the checksummed record
    with pytest.raises(CorruptRecord, match="fails its checksum"):
        _ = cached.samples


def test_the_log_is_folded_in_by_a_background_thread_and_at_exit(tmp_path: Path) -> None:
    import subprocess
    import sys
    import threading
    import time

    def checkpointers() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "motools-checkpoint"}

    others = checkpointers()  # (other tests' stores, idling out)
    store = Store(tmp_path)
    store.put("first", kind="step", status="succeeded", fields={}, value={})
    index = tmp_path / "index.db"
    before = index.stat().st_size
    for i in range(300):  # far fewer pages than a writer checkpoints itself after
        store.put(f"k{i}", kind="step", status="succeeded", fields={}, value={"pad": "x" * 500})
    deadline = time.monotonic() + 10
    while index.stat().st_size <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert index.stat().st_size > before  # the pages reached the database without a writer
    mine = checkpointers() - others
    assert mine
    store.close()
    assert not any(t.is_alive() for t in mine)
    assert not (tmp_path / "index.db-wal").exists()  # the last connection folded it away

    home = tmp_path / "other"
    script = (
        "from motools.cache import open_store\n"
        "store = open_store()\n"
        "for i in range(200):\n"
        "    store.put(f'k{i}', kind='step', status='succeeded', fields={}, value={})\n"
    )
    subprocess.run(
        [sys.executable, "-c", script], check=True, env={**os.environ, "MOTOOLS_HOME": str(home)}
    )
    assert (home / "index.db").exists() and not (home / "index.db-wal").exists()
