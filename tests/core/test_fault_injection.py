"""Fault injection: a workflow interrupted or damaged in every way we know, then run again.

Each case runs ``motools workflow run`` as a whole process (dummy backends with a job log: the
dummy's list of jobs at its "provider"), breaks something, runs the workflow again and checks:

(a) the provider got exactly the planned number of training jobs (one),
(b) the final results equal those of an uninterrupted run,
(c) no traceback was printed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def write_config(
    tmp_path: Path, *, duration: float, submit_delay: float = 0.0, eval_delay: float = 0.0
) -> tuple[Path, Path]:
    log = tmp_path / "jobs.log"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
seed: 5
prepare_dataset:
  dataset: motools.demo:hello_world_dataset
  sample_size: 8
submit_training:
  backend: dummy
  model: base-model
  hyperparameters: {{n_epochs: 2}}
  backend_options: {{duration: {duration}, job_log: "{log}", submit_delay: {submit_delay}}}
evaluate_model:
  backend: dummy
  tasks: [hello_world, other_task]
  backend_options: {{delay: {eval_delay}}}
"""
    )
    return config, log


def jobs(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def start(config: Path, home: Path, *prefix: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *prefix,
            sys.executable,
            "-m",
            "motools.cli.main",
            "workflow",
            "run",
            "train_and_evaluate",
            "--config",
            str(config),
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, MOTOOLS_HOME=str(home)),
    )


def finish(proc: subprocess.Popen[str]) -> tuple[dict[str, object], str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Traceback" not in out, err
    return json.loads(out), err


def results_of(result: dict[str, object]) -> dict[str, object]:
    artifacts = result["artifacts"]
    assert isinstance(artifacts, dict)
    return {"model_id": artifacts["model_id"], "metrics": artifacts["results"]["metrics"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """An uninterrupted run: what every damaged or interrupted one must end with."""
    tmp = tmp_path_factory.mktemp("reference")
    config, log = write_config(tmp, duration=0.0)
    result, _ = finish(start(config, tmp / "home"))
    assert len(jobs(log)) == 1
    return results_of(result)


def kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool], after: float = 0.3) -> None:
    deadline = time.monotonic() + 60
    while not ready():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.05)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def rerun_and_check(config: Path, home: Path, log: Path, reference: dict[str, object]) -> str:
    result, err = finish(start(config, home))
    assert len(jobs(log)) == 1, "the provider was paid for a second job"
    assert results_of(result) == reference
    return err


def records(home: Path) -> list[tuple[str, str]]:
    try:
        with sqlite3.connect(home / "index.db") as conn:
            return conn.execute("SELECT kind, status FROM records").fetchall()
    except sqlite3.OperationalError:  # the first process is still creating the index
        return []


def test_kill_during_submission(tmp_path: Path, reference: dict[str, object]) -> None:
    # The provider accepts the job (it is in its log) but answers slowly: killed in between.
    config, log = write_config(tmp_path, duration=0.5, submit_delay=30)
    home = tmp_path / "home"
    kill_when(start(config, home), lambda: bool(jobs(log)), after=0.5)
    assert ("training", "submitting") in records(home)
    fast, _ = write_config(tmp_path, duration=0.5)  # same job; the provider answers at once now
    err = rerun_and_check(fast, home, log, reference)
    assert "re-attached" in err


def test_kill_during_wait(tmp_path: Path, reference: dict[str, object]) -> None:
    config, log = write_config(tmp_path, duration=3.0)
    home = tmp_path / "home"
    kill_when(start(config, home), lambda: bool(jobs(log)), after=0.8)
    rerun_and_check(config, home, log, reference)


def test_kill_during_evaluation(tmp_path: Path, reference: dict[str, object]) -> None:
    config, log = write_config(tmp_path, duration=0.0, eval_delay=30)
    home = tmp_path / "home"
    proc = start(config, home)
    kill_when(
        proc, lambda: (home / "index.db").exists() and ("training", "succeeded") in records(home)
    )
    fast, _ = write_config(tmp_path, duration=0.0)
    rerun_and_check(fast, home, log, reference)


def test_interrupted_blob_write(tmp_path: Path, reference: dict[str, object]) -> None:
    # What a kill during a blob write leaves on a filesystem without atomic rename: a temp
    # file, and the dataset blob cut short.
    config, log = write_config(tmp_path, duration=0.0)
    home = tmp_path / "home"
    finish(start(config, home))
    blobs = sorted((home / "blobs").glob("*/*"), key=lambda p: p.stat().st_size)
    dataset_blob = next(p for p in blobs if b'"messages"' in p.read_bytes())
    (dataset_blob.parent / f".{dataset_blob.name}.abc.tmp").write_bytes(b"partial")
    dataset_blob.write_bytes(dataset_blob.read_bytes()[:20])
    rerun_and_check(config, home, log, reference)
    from motools.cache.store import Store

    assert Store(home).blob_ok(dataset_blob.name)  # written again, whole


def test_flipped_byte_in_a_record(tmp_path: Path, reference: dict[str, object]) -> None:
    config, log = write_config(tmp_path, duration=0.0)
    home = tmp_path / "home"
    finish(start(config, home))
    with sqlite3.connect(home / "index.db") as conn:
        key, value = conn.execute(
            "SELECT key, value FROM records WHERE kind = 'training'"
        ).fetchone()
        flipped = value.replace('"succeeded"', '"succeedeD"', 1)
        assert flipped != value
        conn.execute("UPDATE records SET value = ? WHERE key = ?", (flipped, key))
    rerun_and_check(config, home, log, reference)


def test_flipped_byte_in_a_blob(tmp_path: Path, reference: dict[str, object]) -> None:
    config, log = write_config(tmp_path, duration=0.0)
    home = tmp_path / "home"
    finish(start(config, home))
    with sqlite3.connect(home / "index.db") as conn:  # small results: a row of the index
        (value,) = conn.execute("SELECT value FROM records WHERE kind = 'eval'").fetchone()
        blob = json.loads(value)["results_blob"]
        (stored,) = conn.execute(
            "SELECT data FROM small_blobs WHERE digest = ?", (blob,)
        ).fetchone()
        data = bytearray(stored)
        data[len(data) // 2] ^= 0x01
        conn.execute("UPDATE small_blobs SET data = ? WHERE digest = ?", (bytes(data), blob))
    rerun_and_check(config, home, log, reference)


def test_flipped_byte_in_a_blob_file(tmp_path: Path, reference: dict[str, object]) -> None:
    config, log = write_config(tmp_path, duration=0.0)
    home = tmp_path / "home"
    finish(start(config, home))
    with sqlite3.connect(home / "index.db") as conn:  # the dataset: a file
        (blob,) = conn.execute("SELECT blob FROM artifacts WHERE kind = 'dataset'").fetchone()
    path = home / "blobs" / blob[:2] / blob
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    rerun_and_check(config, home, log, reference)


def test_flipped_byte_in_the_index(tmp_path: Path, reference: dict[str, object]) -> None:
    config, log = write_config(tmp_path, duration=0.0)
    home = tmp_path / "home"
    finish(start(config, home))
    index = home / "index.db"
    with sqlite3.connect(index) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(index.read_bytes())
    data[3] ^= 0x20  # "SQLite format 3" -> "SQlite format 3": no longer a database
    index.write_bytes(bytes(data))
    err = rerun_and_check(config, home, log, reference)
    assert "rebuilt the index" in err
    assert list(home.glob("index.db.damaged-*"))


def test_read_only_home(tmp_path: Path, reference: dict[str, object]) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount the home read-only")
    config, log = write_config(tmp_path, duration=0.0)
    home = tmp_path / "home"
    finish(start(config, home))
    probe = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f"mount --bind {home} {home} && mount -o remount,bind,ro {home} {home}",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.strip()}")
    script = (
        f'mount --bind "{home}" "{home}" && mount -o remount,bind,ro "{home}" "{home}" && exec "$@"'
    )
    proc = start(config, home, "unshare", "-m", "sh", "-c", script, "sh")
    result, _ = finish(proc)
    assert len(jobs(log)) == 1
    assert results_of(result) == reference
