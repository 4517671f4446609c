"""Team store benchmark (issue 16): the PostgreSQL store beside the embedded SQLite one.

(a) cache lookup latency (``Store.get`` of a random key that exists, decoded and checksum
    checked) with 10 / 10,000 / 1,000,000 records in the index. PostgreSQL stores are
    bulk-loaded with COPY (one schema per size), SQLite ones with one transaction of inserts.
    Target for PostgreSQL: flat within 2x from the smallest to the largest size, and < 5 ms
    at 1 M records. Median and p95 over ``--lookups`` lookups are printed.
(b) a 200-member cached sweep (``motools sweep run SWEEP.yaml --quiet``) as a whole process
    against the team store, cold once, then cached (median of ``--repeat``); the cached run
    must submit no job (the dummy backend's ``job_log`` is counted). Target < 2 s. For the
    team store the cached run is also timed from "another machine": a fresh ``MOTOOLS_HOME``
    each time (no sweep manifest, no local blob cache), as a colleague would run it.
    The team store's blobs are a folder (a shared filesystem path), or with ``--s3`` a moto S3
    server started here as a child process (its Python server dominates those figures).

Needs the local PostgreSQL server (127.0.0.1:5432, trust auth, user postgres, database
``test``); a database is created for the run and dropped at the end. Everything else lives in
a temporary folder.

    uv run python bench/team_store.py [--sizes 10 10000 1000000] [--lookups 2000]
        [--members 200] [--repeat 3] [--s3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

ADMIN_URL = os.environ.get("MOTOOLS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
COLUMNS = [
    "key",
    "kind",
    "schema_version",
    "status",
    "backend",
    "label",
    "fields",
    "value",
    "checksum",
    "created_at",
    "updated_at",
    "expires_at",
    "project",
]

SWEEP = """\
name: team-bench-{members}
workflow: train_and_evaluate
max_parallel: 16
base_config:
  prepare_dataset: {{dataset: "motools.demo:hello_world_dataset", sample_size: 10}}
  submit_training:
    backend: dummy
    model: gpt-4o-mini-2024-07-18
    hyperparameters: {{n_epochs: 3}}
    backend_options: {{job_log: "{log}"}}
  evaluate_model: {{backend: dummy, tasks: [hello_world], limit: 5}}
grid:
  submit_training.hyperparameters.learning_rate: {lrs}
  seed: {seeds}
"""


def report(name: str, value: str, target: str, ok: bool | None) -> None:
    mark = "" if ok is None else ("  ok" if ok else "  MISSED")
    print(f"  {name:<52} {value:>14}   target {target}{mark}", flush=True)


# -- rows ------------------------------------------------------------------------------------
def rows(n: int) -> Iterator[tuple[object, ...]]:
    """``n`` training records shaped like real ones (fields, state, model id)."""
    now = time.time()
    for i in range(n):
        key = hashlib.sha256(f"bench-{i}".encode()).hexdigest()
        fields = json.dumps(
            {"backend": "dummy", "model": "gpt-4o-mini", "dataset": key[:16], "seed": i},
            sort_keys=True,
            separators=(",", ":"),
        )
        value = json.dumps(
            {
                "job_id": f"job-{i}",
                "model_id": f"dummy/ft-{i}",
                "state": {"job_id": f"job-{i}", "duration": 0.0, "submitted_at": now},
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        checksum = hashlib.sha256(value.encode()).hexdigest()
        yield (key, "training", 1, "succeeded", "dummy", f"job-{i}", fields, value, checksum,
               now, now, None, "default")  # fmt: skip


def keys_of(n: int, count: int) -> list[str]:
    rng = random.Random(n)
    return [hashlib.sha256(f"bench-{rng.randrange(n)}".encode()).hexdigest() for _ in range(count)]


def time_lookups(store: object, keys: list[str]) -> tuple[float, float]:
    get = store.get  # type: ignore[attr-defined]
    for key in keys[:50]:  # warm the connection and caches
        get(key)
    samples = []
    for key in keys:
        t0 = time.perf_counter()
        record = get(key)
        samples.append(time.perf_counter() - t0)
        assert record is not None and record.status == "succeeded"
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95)]


# -- (a) ----------------------------------------------------------------------------------------
def bench_lookups_sqlite(tmp: Path, sizes: list[int], lookups: int) -> dict[int, float]:
    from motools.cache.store import Store

    out = {}
    for n in sizes:
        home = tmp / f"sqlite-{n}"
        store = Store(home, index="sqlite", blobs=str(home / "blobs"))
        t0 = time.perf_counter()
        with store.transaction() as conn:
            sql = f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
            conn.executemany(sql, rows(n))  # type: ignore[attr-defined]
        load = time.perf_counter() - t0
        median, p95 = time_lookups(store, keys_of(n, lookups))
        out[n] = median
        report(f"SQLite, {n:>9,} records: lookup median / p95",
               f"{median * 1e3:.3f} / {p95 * 1e3:.3f} ms", f"- (load {load:.1f} s)", None)  # fmt: skip
        store.close()
        shutil.rmtree(home)
    return out


def bench_lookups_pg(db_url: str, sizes: list[int], lookups: int, tmp: Path) -> dict[int, float]:
    import psycopg

    from motools.cache.postgres import PostgresIndex
    from motools.cache.store import Store

    out = {}
    for n in sizes:
        schema = f"bench_{n}"
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        url = f"{db_url}?options=-csearch_path%3D{schema}"
        store = Store(tmp / "pg-home", index=url, blobs=str(tmp / "pg-blobs"))
        assert isinstance(store.index, PostgresIndex)
        store.index.connect()  # creates the schema (migrations)
        t0 = time.perf_counter()
        store.index.copy_records(rows(n), COLUMNS)
        store.index.run(lambda conn: conn.execute("ANALYZE records"))
        load = time.perf_counter() - t0
        median, p95 = time_lookups(store, keys_of(n, lookups))
        out[n] = median
        report(f"PostgreSQL, {n:>9,} records: lookup median / p95",
               f"{median * 1e3:.3f} / {p95 * 1e3:.3f} ms", f"- (COPY {load:.1f} s)", None)  # fmt: skip
        store.close()
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return out


# -- (b) ----------------------------------------------------------------------------------------
def bench_sweep(tmp: Path, env: dict[str, str], label: str, members: int, repeat: int) -> None:
    work = tmp / f"sweep-{label}"
    work.mkdir()
    log = work / "jobs.jsonl"
    log.touch()
    seeds = 10
    lrs = [round(1e-5 * (1 + i), 8) for i in range(members // seeds)]
    sweep = work / "sweep.yaml"
    sweep.write_text(SWEEP.format(members=members, log=log, lrs=lrs, seeds=list(range(seeds))))
    env = {**os.environ, "MOTOOLS_HOME": str(work / "home"), **env}
    cmd = [sys.executable, "-m", "motools.cli.main", "sweep", "run", str(sweep), "--quiet"]

    def once(home: Path | None = None) -> float:
        run_env = env if home is None else {**env, "MOTOOLS_HOME": str(home)}
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=run_env, cwd=work, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"sweep failed ({label}): {proc.stderr[-2000:]}")
        return wall

    cold = once()
    submitted = len(log.read_text().splitlines())
    walls = [once() for _ in range(repeat)]
    again = len(log.read_text().splitlines()) - submitted
    cached = statistics.median(walls)
    report(f"{label}: cold {members}-member sweep (whole process)", f"{cold:.2f} s",
           f"{submitted} jobs (== {members})", submitted == members)  # fmt: skip
    report(f"{label}: cached {members}-member sweep (median of {repeat})", f"{cached:.2f} s",
           "< 2 s", cached < 2.0)  # fmt: skip
    if "MOTOOLS_STORE" in env and env["MOTOOLS_STORE"] != "sqlite":
        fresh = statistics.median(once(work / f"machine-{i}") for i in range(repeat))
        again = len(log.read_text().splitlines()) - submitted
        report(f"{label}: cached, from another machine (fresh home)", f"{fresh:.2f} s",
               "< 2 s", fresh < 2.0)  # fmt: skip
    report(f"{label}: jobs submitted by the cached runs", str(again), "== 0", again == 0)


# -- services ----------------------------------------------------------------------------------
def start_moto(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    log = (tmp / "moto.log").open("wb")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(
        Bucket="bench")  # fmt: skip
    return proc, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000, 1_000_000])
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--s3", action="store_true", help="also run (b) with blobs in moto S3")
    args = parser.parse_args()

    import psycopg

    name = f"motools_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    db_url = ADMIN_URL.rpartition("/")[0] + "/" + name
    moto: subprocess.Popen[bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="motools-team-bench-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            print("(a) cache lookup latency (Store.get of an existing key)", flush=True)
            sqlite = bench_lookups_sqlite(tmp, args.sizes, args.lookups)
            pg = bench_lookups_pg(db_url, args.sizes, args.lookups, tmp)
            lo, hi = args.sizes[0], args.sizes[-1]
            for label, figures in (("SQLite", sqlite), ("PostgreSQL", pg)):
                ratio = figures[hi] / figures[lo]
                report(f"{label}: {hi:,} / {lo:,} records", f"{ratio:.2f}x", "<= 2x (flat)",
                       ratio <= 2.0)  # fmt: skip
            report(f"PostgreSQL at {hi:,} records", f"{pg[hi] * 1e3:.3f} ms", "< 5 ms",
                   pg[hi] < 0.005)  # fmt: skip

            print(f"\n(b) {args.members}-member sweep as a whole process", flush=True)
            bench_sweep(tmp, {"MOTOOLS_STORE": "sqlite"}, "SQLite", args.members, args.repeat)
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute("CREATE SCHEMA sweep")
            team = {
                "MOTOOLS_STORE": f"{db_url}?options=-csearch_path%3Dsweep",
                "MOTOOLS_BLOBS": str(tmp / "shared-blobs"),
            }
            bench_sweep(tmp, team, "PostgreSQL + shared folder", args.members, args.repeat)
            if args.s3:
                moto, aws = start_moto(tmp)
                with psycopg.connect(db_url, autocommit=True) as conn:
                    conn.execute("CREATE SCHEMA sweep_s3")
                team = {
                    "MOTOOLS_STORE": f"{db_url}?options=-csearch_path%3Dsweep_s3",
                    "MOTOOLS_BLOBS": "s3://bench/blobs",
                    **aws,
                }
                bench_sweep(tmp, team, "PostgreSQL + S3 (moto)", args.members, args.repeat)
        finally:
            if moto is not None:
                os.kill(moto.pid, signal.SIGTERM)
                moto.wait(timeout=10)
            from motools.cache.store import close_stores

            close_stores()
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
