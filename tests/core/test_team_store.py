"""The team store: several homes ("machines") sharing one PostgreSQL index and one S3 bucket.

Real components: the machine's PostgreSQL server and a moto S3 server (see
``tests/core/conftest.py``); whole ``motools`` processes where the point is several machines.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import motools
from motools.cache import CachedEvalBackend, StoreError, close_stores, open_store
from motools.cache.store import CorruptRecord, Store
from motools.cli.main import main
from motools.datasets import JSONLDataset

team_only = pytest.mark.team_only

WORKFLOW = """
seed: 3
prepare_dataset: {{dataset: "motools.demo:hello_world_dataset", sample_size: 8}}
submit_training:
  backend: dummy
  model: base-model
  hyperparameters: {{n_epochs: 2}}
  backend_options: {{duration: {duration}, job_log: "{log}"}}
wait_for_training: {{timeout: 120}}
evaluate_model: {{backend: dummy, tasks: [hello_world]}}
"""

SWEEP = """\
name: shared
workflow: train_and_evaluate
max_parallel: 9
base_config:
  prepare_dataset: {{dataset: "motools.demo:hello_world_dataset", sample_size: 6}}
  submit_training:
    backend: dummy
    model: base
    backend_options: {{duration: {duration}, job_log: "{log}"}}
  wait_for_training: {{timeout: 120}}
  evaluate_model: {{backend: dummy, tasks: [hello_world], limit: 5}}
grid:
  submit_training.hyperparameters.learning_rate: [1e-5, 1e-4, 1e-3]
  seed: [0, 1, 2]
"""


def motools_proc(*args: str, home: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "motools.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MOTOOLS_HOME": str(home), **env},
    )


def run_ok(*args: str, home: Path, timeout: float = 180, **env: str) -> tuple[str, str]:
    proc = motools_proc(*args, home=home, **env)
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return out, err


def jobs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


# -- which store -------------------------------------------------------------------------------
@team_only
def test_the_team_store_is_postgresql_and_s3(
    team_env: dict[str, str], s3_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store()
    digest = store.put_blob(b"shared bytes" * store.inline_max)  # large: an object in S3
    small = store.put_blob(b"shared bytes")  # small: a row in PostgreSQL
    info = cli_json(capsys, "store", "info", "--json")
    assert info["dialect"] == "postgresql" and info["chosen_by"] == "MOTOOLS_STORE"
    assert info["blobs"] == team_env["MOTOOLS_BLOBS"]
    # 1 baseline, 2 projects and made_by, 3 listing indexes, 4 small blobs
    assert info["schema_version"] == 4
    prefix = team_env["MOTOOLS_BLOBS"].split("/", 3)[3]
    listed = s3_server.client().list_objects_v2(Bucket="motools-test", Prefix=prefix)
    assert [o["Key"] for o in listed["Contents"]] == [f"{prefix}/{digest[:2]}/{digest}"]
    assert store.blob_location(small).startswith("postgresql://")
    colleague = Store(Path(info["home"]) / "colleague")  # another machine reads both
    assert colleague.get_blob(small) == b"shared bytes"
    assert colleague.get_blob(digest) == b"shared bytes" * store.inline_max
    colleague.close()
    assert not (Path(info["home"]) / "index.db").exists()  # nothing local


@team_only
def test_store_init_creates_then_finds_nothing_to_do(
    team_env: dict[str, str], pg_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.team_services import create_schema

    url = create_schema(pg_database, f"init_{os.getpid()}")
    assert cli_json(capsys, "store", "init", url, "--json") == {
        "index": url,
        "before": 0,
        "after": 4,
    }
    assert cli_json(capsys, "store", "init", url, "--json")["before"] == 4


@team_only
def test_store_use_writes_the_config_and_never_a_password(
    team_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, blobs = team_env["MOTOOLS_STORE"], team_env["MOTOOLS_BLOBS"]
    monkeypatch.delenv("MOTOOLS_STORE")
    monkeypatch.delenv("MOTOOLS_BLOBS")
    with_password = url.replace("postgres@", "postgres:hunter2@")
    assert main(["store", "use", with_password]) == 1
    err = capsys.readouterr().err
    assert "PGPASSWORD" in err and "hunter2" not in err
    assert main(["store", "use", url, "--blobs", blobs]) == 0
    capsys.readouterr()
    config = (motools.home() / "motools.toml").read_text()
    assert "hunter2" not in config and blobs in config
    info = cli_json(capsys, "store", "info", "--json")
    assert info["dialect"] == "postgresql" and info["chosen_by"].endswith("motools.toml")
    assert main(["store", "use", "sqlite"]) == 0
    capsys.readouterr()
    assert cli_json(capsys, "store", "info", "--json")["dialect"] == "sqlite"


@pytest.mark.sqlite_only(reason="points MOTOOLS_STORE at a port where no server listens")
def test_an_unreachable_store_is_one_line_naming_the_url_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.team_services import free_port

    port = free_port()
    monkeypatch.setenv("MOTOOLS_STORE", f"postgresql://lab:hunter2@127.0.0.1:{port}/motools")
    assert main(["cache", "ls"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"postgresql://lab@127.0.0.1:{port}/motools" in err and "hunter2" not in err


# -- two machines ------------------------------------------------------------------------------
@team_only
@pytest.mark.slow
def test_a_second_home_reruns_a_workflow_and_a_sweep_with_zero_new_jobs(
    team_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "jobs.log"
    config = tmp_path / "config.yaml"
    config.write_text(WORKFLOW.format(duration=0.3, log=log))
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP.format(duration=0.3, log=log))
    a, b = tmp_path / "laptop", tmp_path / "cluster"
    run_ok("workflow", "run", "train_and_evaluate", "--config", str(config), "--json", home=a)
    run_ok("sweep", "run", str(sweep), "--quiet", home=a)
    assert len(jobs(log)) == 10

    out, _ = run_ok(
        "workflow", "run", "train_and_evaluate", "--config", str(config), "--json", home=b
    )
    assert json.loads(out)["ok"]
    out, _ = run_ok("sweep", "run", str(sweep), "--json", home=b)
    assert json.loads(out)["counts"]["cached"] == 9
    assert len(jobs(log)) == 10, "the second machine paid again"
    out, _ = run_ok("sweep", "results", str(sweep), "--json", home=b)
    assert len(json.loads(out)) >= 3


@team_only
@pytest.mark.slow
def test_a_job_submitted_on_one_home_is_waited_on_cancelled_and_its_events_read_from_another(
    team_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "jobs.log"
    data = tmp_path / "train.jsonl"
    JSONLDataset.from_pairs([("q", "a")] * 3).save_sync(data)
    a, b = tmp_path / "laptop", tmp_path / "cluster"
    common = ["train", "--backend", "dummy", "--model", "base", "--dataset", str(data)]
    opts = ["--backend-option", "duration=2", "--backend-option", f"job_log={log}"]
    run_id, _ = run_ok(*common, *opts, "--detach", home=a)
    slow = ["--backend-option", "duration=60", "--backend-option", f"job_log={log}"]
    other, _ = run_ok(*common, *slow, "--seed", "7", "--detach", home=a)
    events, _ = run_ok("runs", "events", run_id.strip(), "--json", home=b)
    assert json.loads(events)[0]["status"] == "queued"  # read on the other machine
    model, _ = run_ok("runs", "wait", run_id.strip(), home=b)
    assert model.strip() == jobs(log)[0]["model_id"]
    events, _ = run_ok("runs", "events", run_id.strip(), "--json", home=b)
    assert [e["status"] for e in json.loads(events)] == ["queued", "running", "succeeded"]
    out, _ = run_ok("runs", "cancel", other.strip(), home=b)
    assert out.strip().endswith("cancelled")
    out, _ = run_ok("runs", "--json", home=a)
    statuses = {r["run_id"]: r["status"] for r in json.loads(out)}
    assert statuses == {run_id.strip(): "succeeded", other.strip(): "cancelled"}
    assert len(jobs(log)) == 2


@team_only
@pytest.mark.slow
def test_eight_homes_racing_on_one_key_submit_one_job(
    team_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "jobs.log"
    data = tmp_path / "train.jsonl"
    JSONLDataset.from_pairs([("q", "a")] * 3).save_sync(data)
    open_store().index.connect()  # the schema exists before the race (as `store init` makes it)
    procs = [
        motools_proc(
            "train",
            "--backend",
            "dummy",
            "--model",
            "base",
            "--dataset",
            str(data),
            "--backend-option",
            "duration=0.5",
            "--backend-option",
            f"job_log={log}",
            "--json",
            home=tmp_path / f"machine{i}",
        )
        for i in range(8)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    assert len({json.loads(out)["run_id"] for out, _ in outputs}) == 1
    assert len(jobs(log)) == 1


def test_a_claim_is_taken_over_only_when_stale(store_kind: str) -> None:
    import socket

    store = open_store()

    def set_claim(**columns: Any) -> None:
        with store.transaction() as conn:
            for column, value in columns.items():
                conn.execute(f"UPDATE claims SET {column} = ? WHERE key = 'k'", (value,))

    first = store.try_claim("k")
    assert first and store.try_claim("k") is None  # a live claimant holds it
    set_claim(host="another-machine", pid=1, claimed_at=time.time())
    assert store.try_claim("k", stale_after=60) is None  # another host: stale only by age
    set_claim(claimed_at=time.time() - 120)
    taken = store.try_claim("k", stale_after=60)
    assert taken and store.claim_holder("k") == taken
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    set_claim(host=socket.gethostname(), pid=dead.pid, claimed_at=time.time())
    again = store.try_claim("k", stale_after=3600)  # this host, a dead process: stale at once
    assert again and again != taken
    store.release_claim("k", again)
    assert store.claim_holder("k") is None


def test_streamed_reads_and_file_uploads_work_on_either_store(
    store_kind: str, tmp_path: Path
) -> None:
    import hashlib

    store = open_store()
    for i in range(7):
        store.put(f"k{i}", kind="step", status="succeeded", fields={}, value={"i": i})
    batches = list(store.index.stream("SELECT key FROM records ORDER BY key", (), batch=3))
    assert [[row[0] for row in b] for b in batches] == [
        ["k0", "k1", "k2"],
        ["k3", "k4", "k5"],
        ["k6"],
    ]
    data = b"streamed bytes " * 10_000
    digest = hashlib.sha256(data).hexdigest()
    store.blob_dir.mkdir(parents=True, exist_ok=True)
    finished = store.blob_dir / ".upload.tmp"  # where a streaming writer leaves its temp file
    finished.write_bytes(data)
    store.blobs.put_file(digest, finished)
    assert store.get_blob(digest) == data and not finished.exists()


# -- faults ------------------------------------------------------------------------------------
@team_only
async def test_a_failed_blob_write_commits_no_record(
    team_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTOOLS_BLOBS", "s3://no-such-bucket/results")
    store = open_store()
    backend = CachedEvalBackend(motools.get_eval_backend("dummy"), store)
    # The upload of its large results fails (the bucket is gone): the evaluation fails with
    # it, and nothing is recorded -- a record is only ever written after its blob.
    with pytest.raises(StoreError, match=r"blob .*s3://no-such-bucket/results failed"):
        await (await backend.evaluate("dummy/m", ["t1"], limit=1000)).wait()
    assert store.records(kind="eval") == []  # no record points at a missing blob


@team_only
def test_a_tampered_object_is_refused_on_read(
    team_env: dict[str, str], s3_server: Any, tmp_path: Path
) -> None:
    store = open_store()
    pad = "x" * store.inline_max  # large: an object in the bucket
    digest = store.put_json_blob({"accuracy": 0.5, "pad": pad})
    key = store.blob_location(digest).split("/", 3)[3]
    s3_server.client().put_object(
        Bucket="motools-test", Key=key, Body=f'{{"accuracy":0.99,"pad":"{pad}"}}'.encode()
    )
    colleague = Store(tmp_path / "colleague")  # another machine: nothing cached there
    with pytest.raises(CorruptRecord, match="tampered"):
        colleague.get_blob(digest)
    # This machine kept the bytes it wrote (checked by hash); the bucket's copy is reported.
    assert store.get_json_blob(digest) == {"accuracy": 0.5, "pad": pad}
    assert not store.blob_ok(digest, fresh=True)
    assert any(digest[:12] in p for p in store.verify()["problems"])
    colleague.close()


def test_a_newer_schema_is_read_but_never_written(store_kind: str) -> None:
    store = open_store()
    store.put("k", kind="step", status="succeeded", fields={}, value={"x": 1})
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO schema_migrations (version, description, motools_version, applied_at)"
            " VALUES (?, ?, ?, ?)",
            (99, "from the future", "9.9.0", time.time()),
        )
    close_stores()
    newer = open_store()
    assert newer.get("k").value == {"x": 1}  # reads work
    with pytest.raises(StoreError, match=r"schema version 99.*motools-core>=9\.9\.0"):
        newer.put("k2", kind="step", status="succeeded", fields={}, value={})


@pytest.mark.sqlite_only(reason="an index.db made before schema_migrations existed")
def test_an_existing_sqlite_store_is_upgraded_in_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from motools.cache.store import _SCHEMA

    home = motools.home()
    home.mkdir(parents=True)
    with sqlite3.connect(home / "index.db") as conn:  # the layout of schema version 1
        conn.executescript(_SCHEMA)
        conn.execute(
            "INSERT INTO records VALUES ('old', 'step', 1, 'succeeded', NULL, NULL, '{}', '{}',"
            " '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', 1, 1, NULL)"
        )
    store = open_store()
    assert store.get("old").value == {}
    assert store.index.schema()[0] == 4
    assert [r.key for r in store.records(project="default")] == ["old"]
    close_stores()
    assert cli_json(capsys, "store", "init", "sqlite", "--json")["before"] == 4  # nothing to do


# -- projects ----------------------------------------------------------------------------------
async def test_projects_separate_listings_but_share_cache_hits(
    store_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    log = tmp_path / "jobs.log"
    dataset = JSONLDataset.from_pairs([("q", "a")])
    options = {"job_log": str(log)}
    monkeypatch.setenv("MOTOOLS_PROJECT", "alpha")
    run = await motools.train(dataset, "m", backend="dummy", backend_options=options)
    await run.wait()
    assert [r["run_id"] for r in cli_json(capsys, "runs", "--json")] == [run.job_id]
    monkeypatch.setenv("MOTOOLS_PROJECT", "beta")
    assert cli_json(capsys, "runs", "--json") == []
    assert cli_json(capsys, "cache", "ls", "--json") == []
    again = await motools.train(dataset, "m", backend="dummy", backend_options=options)
    assert again.from_cache and again.job_id == run.job_id  # a colleague's run is a hit
    assert len(jobs(log)) == 1
    assert [r["run_id"] for r in cli_json(capsys, "runs", "--project", "alpha", "--json")] == [
        run.job_id
    ]
    assert len(cli_json(capsys, "runs", "--project", "*", "--json")) == 1
    monkeypatch.delenv("MOTOOLS_PROJECT")
    assert len(cli_json(capsys, "cache", "ls", "--kind", "training", "--json")) == 1


# -- access ------------------------------------------------------------------------------------
@team_only
def test_a_read_only_role_lists_and_reads_and_cannot_write(
    team_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import psycopg

    url = team_env["MOTOOLS_STORE"]
    data = tmp_path / "train.jsonl"
    JSONLDataset.from_pairs([("q", "a")] * 3).save_sync(data)
    train = ["train", "--backend", "dummy", "--model", "base", "--dataset", str(data), "--json"]
    run = cli_json(capsys, *train)
    assert main(["eval", "--backend", "dummy", "--model", run["model_id"], "--task", "t"]) == 0
    capsys.readouterr()
    close_stores()

    role = f"motools_reader_{os.getpid()}"
    schema = url.rsplit("%3D", 1)[1]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (sql,) = [b for b in re.findall(r"```sql\n(.*?)```", readme, flags=re.S) if "reader" in b]
    sql = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    sql = sql.replace("motools_reader", role).replace("public", schema)
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        conn.execute(f"DROP ROLE IF EXISTS {role}")
        for statement in sql.split(";"):  # the README's SQL, run as written (in our schema)
            if statement.strip():
                conn.execute(statement)
    try:
        monkeypatch.setenv("MOTOOLS_STORE", url.replace("postgres@", f"{role}@"))
        runs = cli_json(capsys, "runs", "--json")
        assert [r["run_id"] for r in runs] == [run["run_id"]]
        assert len(cli_json(capsys, "cache", "ls", "--json")) == 2
        chain = cli_json(capsys, "provenance", run["model_id"], "--json")
        assert [a["kind"] for a in chain] == ["model", "training", "dataset"]
        assert open_store().get_blob(chain[-1]["blob"])  # blobs read and verified
        assert main([*train[:-1], "--seed", "2"]) == 1
        err = capsys.readouterr().err
        assert "read-only" in err and len(err.strip().splitlines()) == 1
        assert main(["cache", "gc"]) == 1
        assert "read-only" in capsys.readouterr().err
    finally:
        close_stores()
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


# -- moving between stores ---------------------------------------------------------------------
def _local_store_with(n: int, home: Path, with_blobs: int) -> Store:
    store = Store(home, index="sqlite", blobs=str(home / "blobs"))
    now = time.time()
    rows = []
    for i in range(n):
        value: dict[str, Any] = {"i": i}
        if i < with_blobs:
            value["outputs_blob"] = store.put_json_blob({"member": i})
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
        import hashlib

        rows.append(
            (
                f"{i:064x}",
                "step",
                1,
                "succeeded",
                None,
                None,
                "{}",
                text,
                hashlib.sha256(text.encode()).hexdigest(),
                now,
                now + i,
                None,
                "default",
            )
        )
    with store.transaction() as conn:
        for row in rows:
            conn.execute(
                "INSERT INTO records (key, kind, schema_version, status, backend, label, fields,"
                " value, checksum, created_at, updated_at, expires_at, project)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                row,
            )
    return store


@team_only
@pytest.mark.slow
def test_push_of_10000_records_is_idempotent_and_resumes_after_kill_9(
    team_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, blobs = team_env["MOTOOLS_STORE"], team_env["MOTOOLS_BLOBS"]
    for name in ("MOTOOLS_STORE", "MOTOOLS_BLOBS"):
        monkeypatch.delenv(name)
    laptop = tmp_path / "laptop"
    local = _local_store_with(10_000, laptop, with_blobs=300)
    assert local.count() == 10_000

    proc = motools_proc("store", "push", url, "--blobs", blobs, home=laptop)
    assert proc.stderr is not None
    for line in proc.stderr:  # "  done/total records" after every batch
        if line.strip().endswith("records") and int(line.split("/")[0]) >= 4000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    team = Store(tmp_path / "elsewhere", index=url, blobs=blobs)
    partial = team.count()
    assert 0 < partial < 10_000, partial

    out, _ = run_ok("store", "push", url, "--blobs", blobs, "--json", home=laptop)
    resumed = json.loads(out)
    assert resumed["records"] == 10_000 - partial and resumed["records_skipped"] == partial
    assert team.count() == 10_000
    assert len(team.blob_digests()) == 300  # (small: rows of the team's index)
    out, _ = run_ok("store", "push", url, "--blobs", blobs, "--json", home=laptop)
    assert json.loads(out)["records"] == 0 and json.loads(out)["blobs"] == 0  # idempotent

    offline = tmp_path / "offline"
    out, _ = run_ok("store", "pull", url, "--blobs", blobs, "--json", home=offline)
    assert json.loads(out)["records"] == 10_000
    pulled = Store(offline, index="sqlite", blobs=str(offline / "blobs"))
    assert pulled.count() == 10_000 and pulled.get(f"{7:064x}").value["outputs_blob"]
    assert pulled.get_json_blob(pulled.get(f"{7:064x}").value["outputs_blob"]) == {"member": 7}
    team.close()


@team_only
@pytest.mark.slow
def test_postgresql_restarted_during_a_sweep_completes_with_the_planned_jobs(
    team_env: dict[str, str], tmp_path: Path
) -> None:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if not versions:
        pytest.skip("no local PostgreSQL cluster to restart")
    log = tmp_path / "jobs.log"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(
        SWEEP.format(duration=4.0, log=log).replace("max_parallel: 9", "max_parallel: 3")
    )
    proc = motools_proc("sweep", "run", str(sweep), "--json", home=tmp_path / "home")
    deadline = time.monotonic() + 60
    while len(jobs(log)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(jobs(log)) == 3, "the first wave was never submitted"
    # Restarted with a few seconds of downtime, while the members' status changes are due:
    # the store's calls in that window fail and are retried.
    cluster = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main"]
    subprocess.run([*cluster, "stop"], check=True, timeout=120)
    try:
        time.sleep(6)
    finally:
        subprocess.run([*cluster, "start"], check=True, timeout=120)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert json.loads(out)["counts"]["succeeded"] == 9
    assert len(jobs(log)) == 9 and len({j["job_id"] for j in jobs(log)}) == 9
    assert "is unreachable" in err and "retry 1/7" in err  # the bounded backoff, printed
