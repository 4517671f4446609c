"""Which store motools uses: the embedded default, or a team's, chosen by URL.

In order, the first that is set wins:

1. ``MOTOOLS_STORE`` (``postgresql://user@host:5432/db``, or ``sqlite`` for the default) and
   ``MOTOOLS_BLOBS`` (``s3://bucket/prefix``, or a folder path -- a shared filesystem works);
2. ``motools.toml`` in the motools home, written by ``motools store use URL``::

       [store]
       index = "postgresql://lab@db.example:5432/motools"
       blobs = "s3://lab-motools/blobs"

3. the embedded store: ``index.db`` (SQLite) and ``blobs/`` in the motools home.

``MOTOOLS_PROJECT`` names the project namespace records are filed under and listings show.
URLs never carry passwords: motools refuses to write one to ``motools.toml`` and prints URLs
without them (use ``PGPASSWORD`` or ``~/.pgpass``).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from motools.atomic import atomic_write
from motools.cache.index import StoreError
from motools.redaction import redact_url, url_has_password

STORE_VARIABLE = "MOTOOLS_STORE"
BLOBS_VARIABLE = "MOTOOLS_BLOBS"
PROJECT_VARIABLE = "MOTOOLS_PROJECT"
CONFIG_NAME = "motools.toml"
DEFAULT_PROJECT = "default"


@dataclass(frozen=True)
class StoreLocation:
    """Where the index and the blobs are; ``None`` means the embedded default."""

    index: str | None
    blobs: str | None
    #: Where the choice came from: ``MOTOOLS_STORE``, the config file, or ``default``.
    source: str

    @property
    def is_team(self) -> bool:
        return self.index is not None


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def normalise_index(url: str | None, where: str) -> str | None:
    if not url or url.strip().lower() in ("sqlite", "local", "default"):
        return None
    url = url.strip()
    if not is_postgres_url(url):
        raise StoreError(
            f"{where}: {redact_url(url)!r} is not a store URL; use postgresql://user@host:port/db "
            "(or `sqlite` for the local store)"
        )
    return url


def config_path(root: Path) -> Path:
    return root / CONFIG_NAME


def resolve_location(root: Path) -> StoreLocation:
    """The store for the motools home ``root``."""
    env_index = os.environ.get(STORE_VARIABLE)
    env_blobs = os.environ.get(BLOBS_VARIABLE)
    if env_index is not None or env_blobs:
        return StoreLocation(
            normalise_index(env_index, STORE_VARIABLE), env_blobs or None, STORE_VARIABLE
        )
    path = config_path(root)
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise StoreError(f"{path}: cannot read it ({exc}); fix or delete it") from None
        section = data.get("store", {})
        if not isinstance(section, dict):
            raise StoreError(f"{path}: [store] must be a table with `index` and `blobs`")
        index = section.get("index")
        blobs = section.get("blobs")
        return StoreLocation(
            normalise_index(index, f"{path}: store.index"), blobs or None, str(path)
        )
    return StoreLocation(None, None, "default")


def refuse_passwords(index: str | None, blobs: str | None) -> None:
    """A URL to be written to a file must not hold a password."""
    for url in (index, blobs):
        if url and url_has_password(url):
            raise StoreError(
                f"{redact_url(url)}: the URL holds a password; motools never writes one to a "
                "file. Leave it out and use PGPASSWORD or ~/.pgpass (and AWS_* variables for S3)"
            )


def save(root: Path, index: str | None, blobs: str | None) -> Path:
    """Write ``motools.toml`` choosing this store for the home ``root`` (no passwords)."""
    refuse_passwords(index, blobs)
    normal = normalise_index(index, "motools store use")
    lines = ["[store]"]
    lines.append(f"index = {json.dumps(normal or 'sqlite')}")
    if blobs:
        lines.append(f"blobs = {json.dumps(blobs)}")
    path = config_path(root)
    atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


def current_project() -> str:
    """The current project namespace (``MOTOOLS_PROJECT``, else ``default``)."""
    return os.environ.get(PROJECT_VARIABLE) or DEFAULT_PROJECT


def project_filter() -> str | None:
    """The project listings are limited to: ``MOTOOLS_PROJECT`` when set, else every project."""
    return os.environ.get(PROJECT_VARIABLE) or None
