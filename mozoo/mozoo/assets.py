"""The one downloader of the zoo: pinned, verified, cached, and redirectable to a mirror.

Every dataset and task file the zoo reads comes through :func:`fetch`:

* the source is the upstream address pinned to a commit (:mod:`mozoo.sources`), or a mirror:
  ``MOZOO_MIRROR`` (environment) or :func:`set_mirror` (a setting kept in the motools home)
  names a folder laid out like ``../shared/data`` (``<mirror>/<asset.mirror_path>``) or an
  ``http(s)://`` base address with the same layout;
* files are cached under ``<motools home>/zoo/files/<asset>/<file>`` (the home is
  :func:`motools.paths.home`: ``$MOTOOLS_HOME`` or ``./.motools``);
* every asset is pinned by its content (:mod:`mozoo.sources`): a declared sha256, or the git
  blob id upstream records for the file (``sha1(b"blob <size>\\0" + bytes)``). Bytes are
  verified on download *and* on every use; a mismatch raises :class:`AssetIntegrityError`
  naming the asset, the expected and the actual hash. Nothing is trusted on first use;
* after a download verified against its git blob id, the file's sha256 and size are recorded
  in ``<motools home>/zoo/pins.json``, and later uses are checked against that record (a lost
  or stale record is rebuilt from the blob id, never from unverified bytes);
* a download is written to a temporary file next to its destination and renamed into place
  only after it verified, so a partial or corrupt download never lands in the cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from motools.errors import MotoolsError
from mozoo.sources import ASSETS, Asset

MIRROR_ENV = "MOZOO_MIRROR"
CHUNK = 1 << 16
TIMEOUT_S = 60.0


class AssetError(MotoolsError):
    """An asset could not be fetched (unknown name, missing in the mirror, network error)."""


class AssetIntegrityError(AssetError):
    """An asset's bytes are not the pinned ones (wrong hash, wrong size, truncated)."""

    def __init__(self, asset: str, expected: str, actual: str, message: str) -> None:
        super().__init__(message)
        self.asset = asset
        self.expected = expected
        self.actual = actual


# -- where things live --------------------------------------------------------------------


def zoo_dir() -> Path:
    """``<motools home>/zoo`` (the home is resolved by :func:`motools.paths.home` alone)."""
    from motools.paths import home

    return home() / "zoo"


def cache_path(asset: Asset) -> Path:
    return zoo_dir() / "files" / asset.name / asset.filename


def _pins_path() -> Path:
    return zoo_dir() / "pins.json"


def _settings_path() -> Path:
    return zoo_dir() / "settings.json"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AssetError(f"{path} is not readable JSON ({exc}); fix or delete it") from exc
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from motools.atomic import atomic_write

    atomic_write(path, json.dumps(data, indent=2, sort_keys=True).encode())


def set_mirror(location: str | os.PathLike[str] | None) -> None:
    """Remember a mirror (folder or ``http(s)://`` base) in this motools home; None forgets it.

    The ``MOZOO_MIRROR`` environment variable, when set, wins over this setting.
    """
    settings = _read_json(_settings_path())
    if location is None:
        settings.pop("mirror", None)
    else:
        text = os.fspath(location)
        if not _is_url(text):
            text = str(Path(text).expanduser().resolve())
        settings["mirror"] = text
    _write_json(_settings_path(), settings)


def mirror() -> str | None:
    """The active mirror: ``$MOZOO_MIRROR``, else the ``set_mirror`` setting, else None."""
    env = os.environ.get(MIRROR_ENV)
    if env:
        return env
    value = _read_json(_settings_path()).get("mirror")
    return str(value) if value else None


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


# -- pins -----------------------------------------------------------------------------------


def recorded_pin(asset: Asset) -> dict[str, Any] | None:
    """The sha256 recorded after a blob-verified download of ``asset``, if any (and current)."""
    pin = _read_json(_pins_path()).get(asset.name)
    if not isinstance(pin, dict) or asset.git_blob is None:
        return None
    if pin.get("git_blob") != asset.git_blob:
        return None  # recorded for another declaration: verify against the blob id again
    return pin


def _record_pin(asset: Asset, sha256: str, size: int, source: str) -> None:
    pins = _read_json(_pins_path())
    pins[asset.name] = {
        "sha256": sha256,
        "size": size,
        "git_blob": asset.git_blob,
        "url": asset.url,
        "source": source,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_json(_pins_path(), pins)


def expected(asset: Asset) -> tuple[str | None, int | None]:
    """``(sha256, size)`` the bytes must have: declared, or recorded after a verified download."""
    if asset.sha256 is not None:
        return asset.sha256, asset.size
    pin = recorded_pin(asset)
    if pin is None:
        return None, asset.size
    return str(pin["sha256"]), int(pin["size"])


# -- lookup ---------------------------------------------------------------------------------


def get_asset(name: str | Asset) -> Asset:
    if isinstance(name, Asset):
        return name
    try:
        return ASSETS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(ASSETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise AssetError(
            f"Unknown zoo asset {name!r}.{hint} Known assets: {', '.join(sorted(ASSETS))}."
        ) from None


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def git_blob_id(data: bytes) -> str:
    """The id git gives a file with these bytes: ``sha1(b"blob <size>\\0" + data)``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def git_blob_file(path: Path) -> str:
    """:func:`git_blob_id` of a file, read in chunks."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(asset: Asset, want: str, got: str, where: str, what: str = "sha256") -> str:
    pinned = f"pinned to {asset.repo}@{asset.commit[:12]}"
    if what == "sha256" and asset.sha256 is None:
        pinned = "recorded in pins.json after a download verified against its git blob id"
    return (
        f"zoo asset {asset.name!r} ({asset.path}): {where} has {what} {got}, expected {want} "
        f"({pinned})."
    )


def _verify(asset: Asset, path: Path, sha: str, size: int, where: str, then: str) -> None:
    """Raise :class:`AssetIntegrityError` unless ``path`` (sha256 ``sha``) holds the pinned bytes."""
    want_sha, want_size = expected(asset)
    sizes = (
        f" ({size} bytes received, {want_size} expected)"
        if want_size is not None and size != want_size
        else ""
    )
    if want_sha is not None and (sha != want_sha or sizes):
        raise AssetIntegrityError(
            asset.name, want_sha, sha, _mismatch(asset, want_sha, sha, where) + sizes + then
        )
    if sizes and asset.git_blob is not None:
        blob = git_blob_file(path)
        raise AssetIntegrityError(
            asset.name,
            asset.git_blob,
            blob,
            _mismatch(asset, asset.git_blob, blob, where, "git blob id") + sizes + then,
        )
    if want_sha is None and asset.git_blob is not None:
        blob = git_blob_file(path)
        if blob != asset.git_blob:
            raise AssetIntegrityError(
                asset.name,
                asset.git_blob,
                blob,
                _mismatch(asset, asset.git_blob, blob, where, "git blob id") + then,
            )


# -- fetching -------------------------------------------------------------------------------


def source_of(asset: Asset) -> str:
    """Where :func:`fetch` would read ``asset`` from: a mirror file/URL, or upstream."""
    base = mirror()
    if base is None:
        return asset.url
    if _is_url(base):
        return base.rstrip("/") + "/" + asset.mirror_path
    return str(Path(base).expanduser() / asset.mirror_path)


def _redact(source: str) -> str:
    """``source`` without any ``user:password@`` part (never print credentials)."""
    if not _is_url(source):
        return source
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(source)
    if "@" not in parts.netloc:
        return source
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def _with_credentials(source: str) -> tuple[str, dict[str, str]]:
    """``(url without user:password@, headers)``: credentials travel as HTTP basic auth."""
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit

    headers = {"User-Agent": "mozoo"}
    parts = urlsplit(source)
    if parts.username is None:
        return source, headers
    userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    headers["Authorization"] = "Basic " + base64.b64encode(userinfo.encode()).decode()
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host)), headers


def _stream(source: str) -> Iterator[bytes]:
    """Yield the bytes of ``source``; raise if the transfer ends short of its announced length."""
    if not _is_url(source):
        path = Path(source)
        if not path.is_file():
            raise AssetError(
                f"the zoo mirror has no file {source} (mirror: {mirror()}); add the file there "
                f"or unset {MIRROR_ENV} to download from upstream"
            )
        with path.open("rb") as fh:
            yield from iter(lambda: fh.read(CHUNK), b"")
        return
    import http.client
    import urllib.error
    import urllib.request

    url, headers = _with_credentials(source)
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        raise AssetError(
            f"download of {_redact(source)} failed: HTTP {exc.code} {exc.reason}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise AssetError(f"download of {_redact(source)} failed: {exc}") from exc
    with response:
        announced = response.headers.get("Content-Length")
        received = 0
        try:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                received += len(chunk)
                yield chunk
        except (http.client.IncompleteRead, OSError) as exc:
            raise AssetError(
                f"download of {_redact(source)} was cut off after {received} bytes: {exc}"
            ) from exc
        if announced is not None and received != int(announced):
            raise AssetError(
                f"download of {_redact(source)} was cut off: {received} of {announced} bytes received"
            )


def _download(asset: Asset, dest: Path) -> Path:
    source = source_of(asset)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            for chunk in _stream(source):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        _verify(
            asset,
            Path(tmp),
            got,
            size,
            f"the download from {_redact(source)}",
            " The download was discarded; check the mirror or the upstream file.",
        )
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if asset.sha256 is None:
        _record_pin(asset, got, size, _redact(source))
    return dest


def _verify_cached(asset: Asset, path: Path) -> bool:
    """True if the cached file is good; False if there is none; raise (and drop it) if bad."""
    if not path.is_file():
        return False
    got, size = sha256_file(path)
    try:
        _verify(
            asset,
            path,
            got,
            size,
            f"the cached file {path}",
            " The corrupted file was removed from the cache; the next fetch downloads it again.",
        )
    except AssetIntegrityError:
        path.unlink(missing_ok=True)
        raise
    if asset.sha256 is None and recorded_pin(asset) is None:
        # Verified against the blob id, but the record was lost: record it again.
        _record_pin(asset, got, size, str(path))
    return True


def fetch(name: str | Asset) -> Path:
    """The verified local path of asset ``name``, downloading (or copying from the mirror) once."""
    asset = get_asset(name)
    path = cache_path(asset)
    if _verify_cached(asset, path):
        return path
    return _download(asset, path)


async def afetch(name: str | Asset) -> Path:
    """:func:`fetch` in a worker thread."""
    return await asyncio.to_thread(fetch, name)


def clear(name: str | None = None, *, forget_pins: bool = False) -> list[str]:
    """Delete cached files (of one asset, or all); recorded sha256s are kept unless
    ``forget_pins`` (the next download is then verified against the git blob id again)."""
    names = [get_asset(name).name] if name else list(ASSETS)
    removed = []
    for n in names:
        folder = zoo_dir() / "files" / n
        if folder.is_dir():
            for child in folder.iterdir():
                child.unlink()
            folder.rmdir()
            removed.append(n)
    if forget_pins:
        pins = _read_json(_pins_path())
        for n in names:
            pins.pop(n, None)
        if _pins_path().exists():
            _write_json(_pins_path(), pins)
    return removed


def status(name: str | Asset) -> dict[str, Any]:
    """Declared metadata plus what this motools home knows (cached? sha256 recorded?)."""
    asset = get_asset(name)
    info: dict[str, Any] = dict(asset.describe())
    if asset.sha256 is None:
        pin = recorded_pin(asset)
        info["recorded_sha256"] = pin["sha256"] if pin else None
        info["recorded_size_bytes"] = pin["size"] if pin else None
    with contextlib.suppress(OSError):
        info["cached"] = cache_path(asset).is_file()
    return info


__all__ = [
    "ASSETS",
    "Asset",
    "AssetError",
    "AssetIntegrityError",
    "afetch",
    "cache_path",
    "clear",
    "expected",
    "fetch",
    "get_asset",
    "git_blob_file",
    "git_blob_id",
    "mirror",
    "set_mirror",
    "source_of",
    "status",
]
