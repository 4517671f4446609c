"""Where a run's worker runs: ``local`` (a detached process), ``ray`` (a Ray job), ``inline``.

* ``local`` (default): ``python -m motools_hf.worker RUN_DIR`` in its own session, so it
  outlives the client. The executor takes the run's lock *before* spawning and hands the
  locked descriptor to the worker, so the run is never seen unlocked while its worker starts.
* ``ray``: the same command submitted through the Ray Jobs API (``address`` from the backend
  options or ``RAY_ADDRESS``), with the run folder in the job's metadata so any process can
  re-attach by submission id. The run folder must be on storage the cluster's nodes share.
* ``inline``: the loop in a thread of this process (notebooks, debugging, tests); it stops
  with the process.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from motools.errors import ValidationError
from motools_hf import runstate

EXECUTORS = ("local", "ray", "inline")

#: Environment variables a worker inherits from the client (never credentials).
_PASS_ENV = ("MOTOOLS_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HOME", "PYTHONPATH")


def worker_env() -> dict[str, str]:
    return {k: os.environ[k] for k in _PASS_ENV if k in os.environ}


class LocalExecutor:
    """Detached worker processes on this machine."""

    kind = "local"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, run_dir: Path, state: dict[str, Any]) -> bool:
        """Spawn a worker for ``run_dir`` unless a live process holds its lock."""
        lock = runstate.RunLock(run_dir / "lock")
        if not lock.acquire():
            return False
        assert lock.fd is not None
        try:
            with (run_dir / "worker.log").open("ab") as log:
                proc = subprocess.Popen(
                    [
                        self.python,
                        "-m",
                        "motools_hf.worker",
                        str(run_dir),
                        "--lock-fd",
                        str(lock.fd),
                    ],
                    pass_fds=(lock.fd,),
                    start_new_session=True,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **worker_env()},
                )
        finally:
            lock.release()  # the worker holds its own copy of the locked descriptor
        self.processes[str(run_dir)] = proc
        return True

    def reap(self, run_dir: Path) -> None:
        proc = self.processes.get(str(run_dir))
        if proc is not None and proc.poll() is not None:
            self.processes.pop(str(run_dir), None)

    def alive(self, run_dir: Path, state: Mapping[str, Any]) -> bool:
        self.reap(run_dir)
        return runstate.is_locked(run_dir)

    def cancel(self, run_dir: Path, state: Mapping[str, Any]) -> None:
        return None

    def logs(self, run_dir: Path, state: Mapping[str, Any]) -> str:
        path = run_dir / "worker.log"
        return path.read_text(errors="replace") if path.exists() else ""


class InlineExecutor:
    """The loop in a thread of this process."""

    kind = "inline"

    def __init__(self) -> None:
        self.threads: dict[str, tuple[threading.Thread, threading.Event]] = {}

    def start(self, run_dir: Path, state: dict[str, Any]) -> bool:
        from motools_hf.loop import run_worker

        if runstate.is_locked(run_dir):
            return False
        stop = threading.Event()
        thread = threading.Thread(
            target=run_worker,
            args=(run_dir,),
            kwargs={"stop": stop},
            daemon=True,
            name=f"motools-hf-{run_dir.name}",
        )
        self.threads[str(run_dir)] = (thread, stop)
        thread.start()
        return True

    def alive(self, run_dir: Path, state: Mapping[str, Any]) -> bool:
        entry = self.threads.get(str(run_dir))
        if entry is not None and entry[0].is_alive():
            return True
        return runstate.is_locked(run_dir)

    def cancel(self, run_dir: Path, state: Mapping[str, Any]) -> None:
        entry = self.threads.get(str(run_dir))
        if entry is not None:
            entry[1].set()

    def logs(self, run_dir: Path, state: Mapping[str, Any]) -> str:
        return ""


class RayExecutor:
    """Workers submitted as Ray jobs through the Jobs API."""

    kind = "ray"

    def __init__(self, address: str | None = None, python: str = "python") -> None:
        self.address = address or os.environ.get("RAY_ADDRESS")
        if not self.address:
            raise ValidationError(
                "hf backend: executor='ray' needs a cluster address: pass address='http://"
                "HEAD:8265' (the dashboard / Jobs API) or set RAY_ADDRESS"
            )
        self.python = python
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            try:
                from ray.job_submission import JobSubmissionClient
            except ImportError as exc:
                raise ValidationError(
                    "hf backend: executor='ray' needs Ray: pip install 'motools-hf[ray]'"
                ) from exc
            self._client = JobSubmissionClient(self.address)
        return self._client

    def start(self, run_dir: Path, state: dict[str, Any]) -> bool:
        attempt = int(state.get("executor", {}).get("submissions", 0))
        submission_id = state["job_id"] if attempt == 0 else f"{state['job_id']}-r{attempt}"
        entrypoint = f"{shlex.quote(self.python)} -m motools_hf.worker {shlex.quote(str(run_dir))}"
        self.client().submit_job(
            entrypoint=entrypoint,
            submission_id=submission_id,
            runtime_env={"env_vars": worker_env()},
            metadata={"motools_run_dir": str(run_dir), "motools_job_id": str(state["job_id"])},
        )
        info = state.setdefault("executor", {})
        info.update(
            kind="ray", address=self.address, submission_id=submission_id, submissions=attempt + 1
        )
        runstate.write_state(run_dir, state)
        return True

    def job_status(self, state: Mapping[str, Any]) -> str:
        sid = state["executor"]["submission_id"]
        return str(self.client().get_job_status(sid).value)

    def alive(self, run_dir: Path, state: Mapping[str, Any]) -> bool:
        return self.job_status(state) in ("PENDING", "RUNNING")

    def cancel(self, run_dir: Path, state: Mapping[str, Any]) -> None:
        # The worker stops at its next step (saving a checkpoint); a job that has not
        # started yet is stopped by Ray.
        if self.job_status(state) == "PENDING":
            self.client().stop_job(state["executor"]["submission_id"])

    def stop(self, state: Mapping[str, Any]) -> None:
        self.client().stop_job(state["executor"]["submission_id"])

    def logs(self, run_dir: Path, state: Mapping[str, Any]) -> str:
        return str(self.client().get_job_logs(state["executor"]["submission_id"]))

    def run_dir_of(self, submission_id: str) -> Path:
        """The run folder of a submission (from the job's metadata)."""
        info = self.client().get_job_info(submission_id)
        folder = (info.metadata or {}).get("motools_run_dir")
        if not folder:
            raise ValidationError(f"Ray job {submission_id!r} was not submitted by motools-hf")
        return Path(folder)


def make_executor(kind: str, *, address: str | None = None, python: str | None = None) -> Any:
    if kind == "local":
        return LocalExecutor(python)
    if kind == "inline":
        return InlineExecutor()
    if kind == "ray":
        return RayExecutor(address, python or "python")
    raise ValidationError(f"hf backend: unknown executor {kind!r} (choose one of {EXECUTORS})")
