"""The real services a team store runs on, for tests: PostgreSQL and an S3-compatible server.

* PostgreSQL: the machine's own server at 127.0.0.1:5432 (trust auth, user ``postgres``,
  database ``test``; ``.ci/run`` starts it). A test session creates its own database and
  drops it at the end; each test gets its own schema in it.
* S3: moto's server mode (``moto_server``) as a child process on a free port of 127.0.0.1,
  ended by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ADMIN_URL = os.environ.get("MOTOOLS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
BUCKET = "motools-test"


def pg_reachable() -> bool:
    import psycopg

    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


def _with_database(url: str, name: str) -> str:
    base, _, _db = url.rpartition("/")
    return f"{base}/{name}"


def create_database() -> tuple[str, str]:
    """A fresh database: (its URL, its name)."""
    import psycopg

    name = f"motools_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return _with_database(ADMIN_URL, name), name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_schema(database_url: str, schema: str) -> str:
    """Create ``schema`` and return a URL whose connections use it."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    return f"{database_url}?options=-csearch_path%3D{schema}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class S3Server:
    process: subprocess.Popen[bytes]
    endpoint: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def client(self) -> object:
        import boto3

        env = self.env()
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_s3(log: Path) -> S3Server:
    """moto's S3 server on a free local port, with the test bucket created."""
    exe = shutil.which("moto_server") or str(Path(sys.executable).parent / "moto_server")
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT
        )
    endpoint = f"http://127.0.0.1:{port}"
    server = S3Server(process, endpoint)
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(
                    f"moto_server did not start: {log.read_text()[-2000:]}"
                ) from None
            time.sleep(0.2)
    server.client().create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    return server
