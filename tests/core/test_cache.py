"""The cache: keys, hits and misses for every field, re-attachment, failures, expiry, corruption."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import motools
from motools.cache import CachedEvalBackend, CachedTrainingBackend, Store, open_store
from motools.cache.backends import CacheWarning
from motools.cache.blobs import LocalBlobs
from motools.datasets import JSONLDataset
from motools.errors import HyperparameterError, TrainingError
from motools.training.backends.dummy import DummyTrainingBackend
from tests.core.blob_damage import in_index, overwrite_blob


@pytest.fixture
def store(isolated: Path) -> Store:
    return open_store()


@pytest.fixture
def dataset() -> JSONLDataset:
    return JSONLDataset.from_pairs([(f"q{i}", f"a{i}") for i in range(6)])


def job_count(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def cached(tmp_path: Path, store: Store, **kw: Any) -> CachedTrainingBackend:
    return CachedTrainingBackend(
        DummyTrainingBackend(job_log=str(tmp_path / "jobs.log"), **kw), store
    )


BASE = {"model": "m", "hyperparameters": {"n_epochs": 3}, "suffix": "s", "seed": 1}


async def train(backend: CachedTrainingBackend, dataset: JSONLDataset, **changes: Any) -> Any:
    args = {**BASE, **changes}
    run = await backend.train(
        dataset, args.pop("model"), args.pop("hyperparameters"), args.pop("suffix"), **args
    )
    await run.wait()
    return run


async def test_same_request_is_a_hit_and_returns_the_same_model(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    backend = cached(tmp_path, store)
    first = await train(backend, dataset)
    second = await train(backend, dataset)
    assert second.from_cache and not first.from_cache
    assert second.model_id == first.model_id and second.job_id == first.job_id
    assert job_count(tmp_path / "jobs.log") == 1


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("dataset", None),
        ("model", {"model": "other"}),
        ("hyperparameters", {"hyperparameters": {"n_epochs": 4}}),
        ("suffix", {"suffix": "t"}),
        ("seed", {"seed": 2}),
    ],
)
async def test_each_key_field_misses_when_it_changes(
    tmp_path: Path, store: Store, dataset: JSONLDataset, field: str, change: dict[str, Any] | None
) -> None:
    backend = cached(tmp_path, store)
    await train(backend, dataset)
    other_data = JSONLDataset.from_pairs([("x", "y")]) if field == "dataset" else dataset
    found = await backend.lookup(other_data, **{**BASE, **(change or {})})
    assert found.outcome == "miss"
    run = await train(backend, other_data, **(change or {}))
    assert not run.from_cache
    assert job_count(tmp_path / "jobs.log") == 2


async def test_backend_name_and_cache_version_are_in_the_key(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    backend = cached(tmp_path, store)
    await train(backend, dataset)

    class Renamed(DummyTrainingBackend):
        name = "renamed"

    class Bumped(DummyTrainingBackend):
        cache_version = "2"

    for cls in (Renamed, Bumped):
        other = CachedTrainingBackend(cls(job_log=str(tmp_path / "jobs.log")), store)
        assert (await other.lookup(dataset, **BASE)).outcome == "miss"


@pytest.mark.parametrize(
    "equivalent",
    [
        {"n_epochs": 3.0},
        {"n_epochs": 3, "batch_size": "auto"},
        {"batch_size": "auto", "n_epochs": 3.0, "lora_rank": None},
    ],
)
async def test_hyperparameters_are_normalised(
    tmp_path: Path, store: Store, dataset: JSONLDataset, equivalent: dict[str, Any]
) -> None:
    backend = cached(tmp_path, store)
    await train(backend, dataset)
    assert (
        await backend.lookup(dataset, **{**BASE, "hyperparameters": equivalent})
    ).outcome == "hit"


async def test_bad_hyperparameters_fail_before_anything_is_recorded(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    backend = cached(tmp_path, store)
    with pytest.raises(HyperparameterError):
        await backend.train(dataset, "m", {"n_epochs": "many"})
    assert store.count() == 0 and job_count(tmp_path / "jobs.log") == 0


async def test_in_flight_job_is_reattached_not_resubmitted(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    backend = cached(tmp_path, store, duration=0.6)
    first = await backend.train(dataset, "m", {"n_epochs": 3})
    record = store.find(first.job_id)[0]
    assert record.status in ("queued", "running")  # recorded at submission, before any wait
    again = await backend.train(dataset, "m", {"n_epochs": 3})
    assert again.attached and again.job_id == first.job_id
    assert await again.wait() == await first.wait()
    assert store.get(record.key).status == "succeeded"
    assert job_count(tmp_path / "jobs.log") == 1


async def test_failed_and_cancelled_jobs_are_misses(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    failing = cached(tmp_path, store, fail=True)
    with pytest.raises(TrainingError):
        await train(failing, dataset)
    assert store.records(kind="training")[0].status == "failed"
    healthy = cached(tmp_path, store)
    assert (await healthy.lookup(dataset, **BASE)).outcome == "miss"
    run = await train(healthy, dataset)
    assert run.status == "succeeded" and job_count(tmp_path / "jobs.log") == 2

    slow = cached(tmp_path, store, duration=30)
    run = await slow.train(dataset, "n", None)
    await run.cancel()
    assert (await slow.lookup(dataset, "n", None)).outcome == "miss"


async def test_expired_model_is_a_miss_with_a_warning(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    class Expiring(DummyTrainingBackend):
        async def train(self, *a: Any, **kw: Any) -> Any:
            run = await super().train(*a, **kw)
            run._state["expires_at"] = time.time() + 0.2
            return run

    backend = CachedTrainingBackend(Expiring(job_log=str(tmp_path / "jobs.log")), store)
    await train(backend, dataset)
    key = store.records(kind="training")[0].key
    assert store.get(key).expires_at is not None  # the record keeps the expiry it knew
    time.sleep(0.3)
    found = await backend.lookup(dataset, **BASE)
    assert found.outcome == "miss" and "expired" in found.reason
    with pytest.warns(CacheWarning, match="expired"):
        run = await train(backend, dataset)
    assert not run.from_cache and job_count(tmp_path / "jobs.log") == 2


async def test_backend_can_declare_a_model_gone(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    class Retiring(DummyTrainingBackend):
        retired = False

        def model_unavailable(self, model_id: str, state: dict[str, Any]) -> str | None:
            return f"base model of {model_id} was retired" if self.retired else None

    inner = Retiring()
    backend = CachedTrainingBackend(inner, store)
    await train(backend, dataset)
    assert (await backend.lookup(dataset, **BASE)).outcome == "hit"
    inner.retired = True
    found = await backend.lookup(dataset, **BASE)
    assert found.outcome == "miss" and "retired" in found.reason


def _tamper(store: Store, key: str) -> None:
    """Change a record's value behind the store's back (its checksum no longer matches)."""
    with store.transaction() as conn:
        conn.execute(
            'UPDATE records SET value = \'{"model_id": "tampered"}\' WHERE key = ?', (key,)
        )


@pytest.mark.sqlite_only(reason="second copies guard the SQLite file; PostgreSQL keeps none")
async def test_a_damaged_training_record_is_restored_from_its_copy(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    backend = cached(tmp_path, store)
    first = await train(backend, dataset)
    key = store.records()[0].key
    _tamper(store, key)
    with pytest.warns(RuntimeWarning, match="checksum.*restored it from its copy"):
        run = await train(backend, dataset)
    assert run.from_cache and run.model_id == first.model_id
    assert job_count(tmp_path / "jobs.log") == 1
    assert store.get(key).value["model_id"] == first.model_id  # the row itself is repaired


async def test_a_damaged_training_record_without_a_copy_stops_and_never_resubmits(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    from motools.cache.store import DamagedRecord

    backend = cached(tmp_path, store)
    await train(backend, dataset)
    key = store.records()[0].key
    _tamper(store, key)
    (store.root / "copies" / "records.jsonl").unlink(missing_ok=True)  # (the team store has none)
    with pytest.raises(DamagedRecord, match=rf"record {key[:12]}.*cache verify --repair"):
        await train(backend, dataset)
    assert job_count(tmp_path / "jobs.log") == 1
    assert store.records(kind="training") == []  # listed as damaged, not silently replaced


async def test_corrupt_eval_blob_is_a_miss(store: Store) -> None:
    backend = CachedEvalBackend(motools.get_eval_backend("dummy"), store)
    first = await (await backend.evaluate("dummy/m", ["t1"])).wait()
    blob = store.records(kind="eval")[0].value["results_blob"]
    overwrite_blob(store, blob, b"garbage")  # in the index, a folder or S3 (no local copy)
    with pytest.warns(CacheWarning, match="unreadable"):
        job = await backend.evaluate("dummy/m", ["t1"])
    assert (await job.wait()).metrics == first.metrics
    assert not job.from_cache


async def test_eval_cache_hits_and_misses(store: Store) -> None:
    backend = CachedEvalBackend(motools.get_eval_backend("dummy"), store)
    first = await (await backend.evaluate("dummy/m", ["t1", "t2"], limit=5)).wait()
    again = await backend.evaluate("dummy/m", ["t1", "t2"], limit=5, log_dir="/elsewhere")
    assert again.from_cache and (await again.wait()).metrics == first.metrics
    for model, tasks, opts in [
        ("dummy/n", ["t1", "t2"], {"limit": 5}),
        ("dummy/m", ["t1"], {"limit": 5}),
        ("dummy/m", ["t1", "t2"], {"limit": 6}),
    ]:
        assert backend.lookup(model, tasks, **opts).outcome == "miss"


async def test_failed_evaluation_is_not_cached(store: Store) -> None:
    class Broken:
        name = "broken"

        async def evaluate(self, model_id: str, eval_suite: Any, **kw: Any) -> Any:
            from motools.evals import EvalJob

            async def fail() -> Any:
                raise motools.EvaluationError("the task crashed")

            return EvalJob(fail(), model_id=model_id, eval_suite=eval_suite, backend_name="broken")

    backend = CachedEvalBackend(Broken(), store)
    with pytest.raises(motools.EvaluationError):
        await (await backend.evaluate("m", "t")).wait()
    assert store.records(kind="eval") == []


async def test_task_identity_includes_source_digest(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"mytasks_{uuid.uuid4().hex[:8]}"  # unique: the parametrised runs share importlib
    module = tmp_path / f"{name}.py"
    module.write_text("def task():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = CachedEvalBackend(motools.get_eval_backend("dummy"), store)
    before = backend.key_fields("dummy/m", f"{name}:task")
    assert before["tasks"][0]["source"]
    module.write_text("def task():\n    return 2\n")
    after = backend.key_fields("dummy/m", f"{name}:task")
    assert before["tasks"][0]["source"] != after["tasks"][0]["source"]


async def test_secrets_never_reach_the_store(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    secret = "sk-test-SECRET-abcdef123456"

    class KeyedBackend(DummyTrainingBackend):
        name = "keyed"

        def __init__(self, api_key: str) -> None:
            super().__init__()
            self._api_key = api_key

        async def train(
            self,
            dataset: Any,
            model: str,
            hyperparameters: Any = None,
            suffix: Any = None,
            api_key: str | None = None,
            **kw: Any,
        ) -> Any:
            return await super().train(dataset, model, hyperparameters, suffix, **kw)

    backend = CachedTrainingBackend(KeyedBackend(api_key=secret), store)
    run = await backend.train(dataset, "m", {"n_epochs": 2}, api_key=secret)
    await run.wait()
    evals = CachedEvalBackend(motools.get_eval_backend("dummy"), store)
    await (await evals.evaluate(run.model_id, "t", api_key=secret, auth_token=secret)).wait()
    files = [p for p in store.root.rglob("*") if p.is_file()]
    stored = [path.read_bytes() for path in files]
    for table in ("records", "artifacts", "claims"):  # the index, wherever it is
        stored += [repr(row).encode() for row in store._query(f"SELECT * FROM {table}")]
    stored += [store.get_blob(digest) for digest in store.blobs.digests()]
    assert len(stored) > 3
    for data in stored:
        assert secret.encode() not in data


async def test_two_concurrent_requests_in_one_process_submit_once(
    tmp_path: Path, store: Store, dataset: JSONLDataset
) -> None:
    import asyncio

    class SlowSubmit(DummyTrainingBackend):
        async def train(self, *a: Any, **kw: Any) -> Any:
            await asyncio.sleep(0.2)  # an upload: the other requests run meanwhile
            return await super().train(*a, **kw)

    backend = CachedTrainingBackend(
        SlowSubmit(duration=0.3, job_log=str(tmp_path / "jobs.log")), store
    )
    runs = await asyncio.gather(*(backend.train(dataset, "m", {"n_epochs": 3}) for _ in range(4)))
    assert len({r.job_id for r in runs}) == 1
    assert job_count(tmp_path / "jobs.log") == 1


async def test_cache_switch_on_high_level_apis(tmp_path: Path, dataset: JSONLDataset) -> None:
    log = str(tmp_path / "jobs.log")
    first = await motools.train(dataset, "m", backend="dummy", backend_options={"job_log": log})
    second = await motools.train(dataset, "m", backend="dummy", backend_options={"job_log": log})
    assert second.from_cache and await second.wait() == await first.wait()
    uncached = await motools.train(
        dataset, "m", backend="dummy", cache=False, backend_options={"job_log": log}
    )
    await uncached.wait()
    assert job_count(tmp_path / "jobs.log") == 2
    assert isinstance(motools.get_training_backend("dummy", cache=True), CachedTrainingBackend)
    job = await motools.evaluate(await first.wait(), "t")
    await job.wait()
    assert (await motools.evaluate(await first.wait(), "t")).from_cache


def test_dataset_valued_options_are_keyed_by_content() -> None:
    from motools.cache.keys import canonical

    a = JSONLDataset.from_pairs([("a", "b")])
    b = JSONLDataset.from_pairs([("a", "c")])
    assert canonical({"validation": a}) != canonical({"validation": b})
    assert canonical({"validation": a}) == canonical({"validation": JSONLDataset(list(a))})


async def test_small_results_are_a_row_committed_with_their_record(store: Store) -> None:
    """An evaluation's small results cost no file or object: they are a row of the index,
    written in the transaction of the record that points at them."""
    backend = CachedEvalBackend(motools.get_eval_backend("dummy"), store)
    first = await (await backend.evaluate("dummy/m", ["t1"], limit=3)).wait()
    digest = store.get(first.metadata["cache_key"]).value["results_blob"]
    assert in_index(store, digest) and list(store.blobs.digests()) == []
    assert store.blob_size(digest) == len(store.get_blob(digest)) <= store.inline_max
    assert store.blob_location(digest).startswith(store.index.location)
    again = await backend.evaluate("dummy/m", ["t1"], limit=3)
    assert again.from_cache and (await again.wait()).samples == first.samples
    large = await (await backend.evaluate("dummy/m", ["t1"], limit=1000)).wait()
    big = store.get(large.metadata["cache_key"]).value["results_blob"]
    assert not in_index(store, big) and list(store.blobs.digests()) == [big]


async def test_a_failed_record_write_leaves_no_small_results_behind(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from motools import provenance

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("provenance write failed")

    monkeypatch.setattr(provenance, "record_eval", broken)
    backend = CachedEvalBackend(motools.get_eval_backend("dummy"), store)
    with pytest.raises(RuntimeError, match="provenance write failed"):
        await (await backend.evaluate("dummy/m", ["t1"], limit=3)).wait()
    assert store.records(kind="eval") == [] and store.blob_digests() == set()


def test_a_small_blob_asked_for_as_a_file_is_written_out(store: Store) -> None:
    digest = store.put_blob(b'{"messages": []}\n')  # e.g. a tiny dataset pulled from a colleague
    path = store.blob_path(digest)
    assert path.read_bytes() == b'{"messages": []}\n'
    assert store.blob_ok(digest) and store.get_blob(digest) == path.read_bytes()


@pytest.mark.sqlite_only(reason="second copies are kept beside a SQLite index only")
def test_small_blobs_have_second_copies_that_rebuild_the_index(store: Store) -> None:
    kept = store.put_json_blob({"kept": 1})
    store.put("k", kind="eval", status="succeeded", fields={}, value={"results_blob": kept})
    dropped = store.put_json_blob({"dropped": 1})
    assert store.put_json_blob({"kept": 1}) == kept  # written once: one copy
    journal = store.copies_dir / "blobs.jsonl"
    assert len(journal.read_text().splitlines()) == 2
    assert store.gc()["blobs"] == 1  # the unreferenced one, with a tombstone in its copies
    counts = store.rebuild_index()
    assert counts["blobs"] == 1 and store.get_json_blob(kept) == {"kept": 1}
    assert not store.blob_ok(dropped)
    journal.unlink()  # the copy is lost: verify finds it, --repair writes it again
    assert "copy missing or stale" in " ".join(store.verify()["problems"])
    assert any("copy rewritten" in f for f in store.verify(repair=True)["fixed"])
    assert store.verify()["problems"] == [] and store.rebuild_index()["blobs"] == 1


def test_gc_removes_unreferenced_blobs_and_interrupted_writes(store: Store) -> None:
    kept = store.put_json_blob({"a": 1})
    store.put("k", kind="eval", status="succeeded", fields={}, value={"results_blob": kept})
    orphan = store.put_json_blob({"b": 2})  # small: both are rows of the index
    big = store.put_blob(b"b" * (store.inline_max + 1))  # a file or an object
    store.put("l", kind="eval", status="succeeded", fields={}, value={"results_blob": big})
    big_orphan = store.put_blob(b"c" * (store.inline_max + 1))
    local = isinstance(store.blobs, LocalBlobs)
    leftover = store.blob_dir / big[:2] / ".abc.123.tmp"
    if local:  # an interrupted local write; an object store has no half-written objects
        leftover.write_bytes(b"half")
    removed = store.gc()
    assert removed["blobs"] == 2 and removed["temp_files"] == (1 if local else 0)
    assert store.blob_ok(kept) and not store.blob_ok(orphan)
    assert store.blob_ok(big) and not store.blob_ok(big_orphan)
    assert store.blob_digests() == {kept, big}
    assert set(store.blobs.digests()) == {big}
    assert not leftover.exists()
