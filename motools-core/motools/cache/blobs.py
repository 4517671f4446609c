"""The seam between the store and where its blobs live: a folder, or S3-compatible storage.

Blobs are content-addressed (named by the sha256 of their bytes) and immutable. The store
checks every blob's hash when it reads it, so a damaged or tampered object is never used;
these classes only move bytes.

* :class:`LocalBlobs` -- ``blobs/ab/abcdef...`` under the motools home (or any folder: a
  shared filesystem path works for a team), written atomically (temp file, fsync, rename).
* :class:`S3Blobs` -- ``s3://bucket/prefix``: objects ``prefix/ab/abcdef...`` through boto3
  (endpoint and credentials from the standard ``AWS_*`` variables, ``AWS_ENDPOINT_URL`` for
  a non-AWS server). Imported only when such a URL is used. Blobs never change, so each
  machine keeps the ones it wrote or read in ``blob-cache/`` under its home and reads them
  from there (a cached copy whose hash fails is dropped and fetched again); ``read_fresh``
  and ``motools cache verify`` go to the bucket itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from motools.atomic import atomic_write
from motools.cache.index import StoreError


class BlobMissing(OSError):
    """No blob with that digest."""


class Blobs(ABC):
    """Bytes by sha256 digest."""

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the blobs are, safe to print."""

    @abstractmethod
    def read(self, digest: str) -> bytes:
        """The stored bytes (unchecked); raises :class:`BlobMissing`."""

    def read_fresh(self, digest: str) -> bytes:
        """:meth:`read` from the storage itself, past any local cache."""
        return self.read(digest)

    def sha256(self, digest: str, *, fresh: bool = False) -> str | None:
        """The sha256 of the bytes stored under ``digest`` (None if there are none), read
        chunk by chunk where the storage allows: checking a large blob never holds it."""
        try:
            data = self.read_fresh(digest) if fresh else self.read(digest)
        except BlobMissing:
            return None
        return hashlib.sha256(data).hexdigest()

    @abstractmethod
    def write(self, digest: str, data: bytes) -> None:
        """Store ``data`` under ``digest`` (whole or not at all)."""

    def put_file(self, digest: str, path: Path) -> None:
        """Store the finished file ``path`` (whose sha256 is ``digest``) and remove it."""
        try:
            self.write(digest, path.read_bytes())
        finally:
            path.unlink(missing_ok=True)

    @abstractmethod
    def delete(self, digest: str) -> None: ...

    @abstractmethod
    def digests(self) -> Iterator[str]:
        """Every stored digest (temp files of interrupted writes excluded)."""

    @abstractmethod
    def where(self, digest: str) -> str:
        """Where one blob is (a path or URL), for people."""

    def local_path(self, digest: str) -> Path | None:
        """The blob's file, when blobs are files here."""
        return None

    def stamp(self, digest: str) -> tuple[int, int, int] | None:
        """What changes when the bytes read for ``digest`` here are rewritten (the file's
        inode, size and mtime); None when there is nothing to stat."""
        path = self.local_path(digest)
        if path is None:
            return None
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def remove_temp_files(self) -> int:
        """Delete leftovers of interrupted writes; how many."""
        return 0


class LocalBlobs(Blobs):
    """Blob files in a folder: ``<dir>/ab/abcdef...``."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self._dir = os.fspath(directory)

    @property
    def location(self) -> str:
        return str(self.dir)

    def _file(self, digest: str) -> str:
        return os.path.join(self._dir, digest[:2], digest)

    def local_path(self, digest: str) -> Path:
        return Path(self._file(digest))

    def stamp(self, digest: str) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._file(digest))
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def where(self, digest: str) -> str:
        return self._file(digest)

    def read(self, digest: str) -> bytes:
        try:
            with open(self._file(digest), "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise BlobMissing(str(exc)) from exc

    def sha256(self, digest: str, *, fresh: bool = False) -> str | None:
        h = hashlib.sha256()
        try:
            with open(self._file(digest), "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        except OSError:
            return None
        return h.hexdigest()

    def write(self, digest: str, data: bytes) -> None:
        # Never half a blob (temp file + rename), and as durable against a power cut as the
        # WAL index beside it (no fsync): everything is verified on read, a lost blob recomputed.
        atomic_write(self.local_path(digest), data, durable=False)

    def put_file(self, digest: str, path: Path) -> None:
        target = self.local_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # same filesystem when the temp file is in this folder

    def delete(self, digest: str) -> None:
        self.local_path(digest).unlink(missing_ok=True)

    def digests(self) -> Iterator[str]:
        if self.dir.is_dir():
            for path in self.dir.glob("*/*"):
                if not path.name.startswith("."):
                    yield path.name

    def remove_temp_files(self) -> int:
        n = 0
        if self.dir.is_dir():
            for path in self.dir.glob("*/.*.tmp"):
                path.unlink(missing_ok=True)
                n += 1
        return n


class S3Blobs(Blobs):
    """Objects in an S3-compatible bucket: ``s3://bucket/prefix/ab/abcdef...``."""

    def __init__(self, url: str, cache_dir: Path | None = None) -> None:
        self.cache = LocalBlobs(cache_dir) if cache_dir is not None else None
        rest = url[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise StoreError(f"MOTOOLS_BLOBS={url!r} names no bucket: use s3://bucket/prefix")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._client: Any = None

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def _key(self, digest: str) -> str:
        name = f"{digest[:2]}/{digest}"
        return f"{self.prefix}/{name}" if self.prefix else name

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise StoreError("S3 blobs need boto3: pip install 'motools-core[team]'") from exc
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3")
                or os.environ.get("AWS_ENDPOINT_URL")
                or None,
                config=Config(
                    retries={"max_attempts": 4, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=60,
                ),
            )
        return self._client

    def where(self, digest: str) -> str:
        return f"s3://{self.bucket}/{self._key(digest)}"

    def stamp(self, digest: str) -> tuple[int, int, int] | None:
        """The stamp of this machine's copy (reads are served from it)."""
        return self.cache.stamp(digest) if self.cache is not None else None

    def _fail(self, what: str, exc: Exception) -> StoreError:
        return StoreError(f"{what} {self.location} failed: {' '.join(str(exc).split())}")

    def read(self, digest: str) -> bytes:
        if self.cache is not None:
            try:
                data = self.cache.read(digest)
            except BlobMissing:
                pass
            else:
                if hashlib.sha256(data).hexdigest() == digest:
                    return data
                self.cache.delete(digest)  # a damaged local copy: fetch the object again
        data = self.read_fresh(digest)
        if self.cache is not None:
            self._keep(digest, data)
        return data

    def _keep(self, digest: str, data: bytes) -> None:
        assert self.cache is not None
        if hashlib.sha256(data).hexdigest() != digest:
            return  # only intact bytes are kept
        with contextlib.suppress(OSError):  # a cache that cannot be written is only slower
            self.cache.write(digest, data)

    def read_fresh(self, digest: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(digest))
            return response["Body"].read()  # type: ignore[no-any-return]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise BlobMissing(f"{self.where(digest)} does not exist") from exc
            raise self._fail("reading a blob from", exc) from None
        except BotoCoreError as exc:
            raise self._fail("reading a blob from", exc) from None

    def write(self, digest: str, data: bytes) -> None:
        import base64
        import hashlib

        from botocore.exceptions import BotoCoreError, ClientError

        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(digest), Body=data, ChecksumSHA256=checksum
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("writing a blob to", exc) from None
        if self.cache is not None:
            self._keep(digest, data)

    def put_file(self, digest: str, path: Path) -> None:
        import base64
        import hashlib

        from botocore.exceptions import BotoCoreError, ClientError

        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        try:
            with path.open("rb") as fh:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(digest),
                    Body=fh,
                    ChecksumSHA256=base64.b64encode(h.digest()).decode(),
                )
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("writing a blob to", exc) from None
        finally:
            path.unlink(missing_ok=True)

    def delete(self, digest: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if self.cache is not None:
            self.cache.delete(digest)
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(digest))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("deleting a blob in", exc) from None

    def digests(self) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        paginator = self.client.get_paginator("list_objects_v2")
        prefix = f"{self.prefix}/" if self.prefix else ""
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    name = item["Key"].rsplit("/", 1)[-1]
                    if len(name) == 64:
                        yield name
        except (ClientError, BotoCoreError) as exc:
            raise self._fail("listing blobs in", exc) from None


def open_blobs(url: str | None, default_dir: Path, cache_dir: Path | None = None) -> Blobs:
    """The blob store a ``MOTOOLS_BLOBS`` value names (None: ``default_dir``); remote blobs
    are cached in ``cache_dir``."""
    if not url:
        return LocalBlobs(default_dir)
    if url.startswith("s3://"):
        return S3Blobs(url, cache_dir)
    if url.startswith("file://"):
        return LocalBlobs(Path(url[len("file://") :]).expanduser())
    if "://" in url:
        raise StoreError(
            f"MOTOOLS_BLOBS={url!r}: unknown kind of blob store; use s3://bucket/prefix or a "
            "folder path (a shared filesystem works)"
        )
    return LocalBlobs(Path(url).expanduser())
