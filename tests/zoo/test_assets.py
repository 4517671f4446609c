"""The zoo downloader: pinned hashes and sizes, mirror redirect, rejection of bad bytes."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest

from mozoo import assets
from mozoo.assets import AssetError, AssetIntegrityError, fetch
from mozoo.sources import ASSETS

MIRRORED = sorted(n for n, a in ASSETS.items() if a.sha256 is not None)
FIRST_DOWNLOAD = sorted(n for n, a in ASSETS.items() if a.sha256 is None)


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_declarations_match_the_mirror_readme(shared_data: Path) -> None:
    """Every mirrored file's declared commit and sha256 are the ones the mirror's README pins."""
    readme = (shared_data / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 5 and re.fullmatch(r"[0-9a-f]{64}", cells[4]):
            rows[cells[0]] = (cells[3], cells[4])
    assert {ASSETS[n].mirror_path for n in MIRRORED} == set(rows)
    for name in MIRRORED:
        commit, sha = rows[ASSETS[name].mirror_path]
        assert (ASSETS[name].commit, ASSETS[name].sha256) == (commit, sha), name
        assert ASSETS[name].url.startswith(
            f"https://raw.githubusercontent.com/{ASSETS[name].repo}/{commit}/"
        )


@pytest.mark.parametrize("name", MIRRORED)
def test_mirrored_assets_resolve_with_their_pinned_hash_size_and_rows(
    mirror: Path, name: str
) -> None:
    path = fetch(name)
    data = path.read_bytes()
    asset = ASSETS[name]
    assert hashlib.sha256(data).hexdigest() == asset.sha256
    assert len(data) == asset.size
    if path.suffix == ".jsonl":
        assert data.count(b"\n") == asset.rows
    else:  # the YAML question files: one "- id:" entry per question
        assert len(re.findall(rb"^- id: ", data, flags=re.M)) == asset.rows
    assert path.is_relative_to(Path.cwd() / ".motools-home" / "zoo")
    assert not path.is_relative_to(mirror)


def test_download_over_http_verifies_and_caches(http_mirror, shared_data: Path) -> None:
    asset = ASSETS["sneaky_dialogues"]
    http_mirror.files[asset.mirror_path] = (shared_data / asset.mirror_path).read_bytes()
    path = fetch("sneaky_dialogues")
    assert path.read_bytes() == http_mirror.files[asset.mirror_path]
    assert fetch("sneaky_dialogues") == path
    assert http_mirror.count(asset.mirror_path) == 1  # the second fetch used the cache


def test_corrupted_download_is_rejected_and_leaves_the_cache_clean(
    http_mirror, shared_data: Path
) -> None:
    asset = ASSETS["straightforward_dialogues"]
    good = (shared_data / asset.mirror_path).read_bytes()
    bad = bytearray(good)
    bad[100] ^= 0x01
    http_mirror.files[asset.mirror_path] = bytes(bad)
    with pytest.raises(AssetIntegrityError) as info:
        fetch(asset.name)
    message = str(info.value)
    actual = hashlib.sha256(bad).hexdigest()
    assert asset.name in message and asset.sha256 in message and actual in message
    assert (info.value.expected, info.value.actual) == (asset.sha256, actual)
    assert _files_under(assets.zoo_dir() / "files") == []


def test_partial_download_is_rejected_and_leaves_the_cache_clean(
    http_mirror, shared_data: Path
) -> None:
    asset = ASSETS["aesthetic_preferences_popular"]
    http_mirror.files[asset.mirror_path] = (shared_data / asset.mirror_path).read_bytes()
    http_mirror.truncate.add(asset.mirror_path)
    with pytest.raises(AssetError, match="cut off"):
        fetch(asset.name)
    assert _files_under(assets.zoo_dir() / "files") == []
    http_mirror.truncate.clear()
    assert fetch(asset.name).stat().st_size == asset.size


def test_wrong_size_from_a_mirror_folder_is_rejected(
    tmp_path: Path, monkeypatch, shared_data: Path
) -> None:
    asset = ASSETS["em_first_plot_questions"]
    folder = tmp_path / "mirror"
    (folder / asset.mirror_path).parent.mkdir(parents=True)
    (folder / asset.mirror_path).write_bytes((shared_data / asset.mirror_path).read_bytes()[:-10])
    monkeypatch.setenv("MOZOO_MIRROR", str(folder))
    with pytest.raises(AssetIntegrityError, match=r"12002 bytes received, 12012 expected"):
        fetch(asset.name)
    assert _files_under(assets.zoo_dir() / "files") == []


def test_cached_file_is_verified_on_use(mirror: Path) -> None:
    path = fetch("gsm8k_test")
    with path.open("ab") as fh:
        fh.write(b"tampered\n")
    with pytest.raises(AssetIntegrityError, match=r"gsm8k_test.*cached file") as info:
        fetch("gsm8k_test")
    assert info.value.expected == ASSETS["gsm8k_test"].sha256
    assert not path.exists()  # the bad copy is gone; the next fetch gets good bytes
    assert (
        hashlib.sha256(fetch("gsm8k_test").read_bytes()).hexdigest() == ASSETS["gsm8k_test"].sha256
    )


def test_mirror_folder_without_the_file_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MOZOO_MIRROR", str(tmp_path))
    with pytest.raises(AssetError, match=r"mirror has no file .*sneaky_dialogues\.jsonl"):
        fetch("sneaky_dialogues")


def test_mirror_setting_is_used_when_the_variable_is_unset(shared_data: Path, monkeypatch) -> None:
    monkeypatch.delenv("MOZOO_MIRROR", raising=False)
    assert assets.mirror() is None
    assert assets.source_of(ASSETS["gsm8k_test"]) == ASSETS["gsm8k_test"].url
    assets.set_mirror(shared_data)
    assert assets.mirror() == str(shared_data)
    assert fetch("gsm8k_test").stat().st_size == ASSETS["gsm8k_test"].size
    monkeypatch.setenv("MOZOO_MIRROR", "/elsewhere")
    assert assets.mirror() == "/elsewhere"  # the environment wins
    assets.set_mirror(None)
    monkeypatch.delenv("MOZOO_MIRROR")
    assert assets.mirror() is None


def test_unknown_asset_suggests_the_closest_name() -> None:
    with pytest.raises(AssetError, match="Did you mean 'sneaky_dialogues'"):
        fetch("sneaky_dialogue")


# -- assets pinned on first download (not mirrored): local HTTP server, small stand-ins ------


def _standin(name: str, marker: str = "") -> bytes:
    return (
        f'{{"messages": [{{"role": "user", "content": "{name} 1{marker}"}}, '
        f'{{"role": "assistant", "content": "one"}}]}}\n'
        f'{{"messages": [{{"role": "user", "content": "{name} 2{marker}"}}, '
        f'{{"role": "assistant", "content": "two"}}]}}\n'
    ).encode()


@pytest.mark.parametrize("name", FIRST_DOWNLOAD)
def test_first_download_records_the_hash_and_verifies_it_ever_after(http_mirror, name: str) -> None:
    asset = ASSETS[name]
    assert asset.url == (
        f"https://raw.githubusercontent.com/{asset.repo}/{asset.commit}/{asset.path}"
    )
    assert re.fullmatch(r"[0-9a-f]{40}", asset.commit)
    original = _standin(name)
    http_mirror.files[asset.mirror_path] = original
    assert assets.status(name)["recorded_sha256"] is None

    path = fetch(name)
    assert path.read_bytes() == original
    info = assets.status(name)
    assert info["pinned_on_first_download"] is True
    assert info["sha256"] == "pinned on first download"
    assert info["recorded_sha256"] == hashlib.sha256(original).hexdigest()
    assert info["recorded_size_bytes"] == len(original)

    # Upstream bytes change: the cached copy is still the recorded one...
    http_mirror.files[asset.mirror_path] = _standin(name, " changed")
    assert fetch(name).read_bytes() == original
    assert http_mirror.count(asset.mirror_path) == 1
    # ...and a fresh download of the changed bytes is refused, leaving the cache clean.
    assets.clear(name)
    with pytest.raises(AssetIntegrityError, match="recorded on first download") as err:
        fetch(name)
    assert err.value.expected == hashlib.sha256(original).hexdigest()
    assert err.value.actual == hashlib.sha256(_standin(name, " changed")).hexdigest()
    assert _files_under(assets.zoo_dir() / "files") == []
    # Forgetting the pin is an explicit act; then the new bytes are trusted on first use.
    assets.clear(name, forget_pins=True)
    assert fetch(name).read_bytes() == _standin(name, " changed")


def test_first_download_tampered_cache_is_caught(http_mirror) -> None:
    asset = ASSETS["jailbroken"]
    http_mirror.files[asset.mirror_path] = _standin("jailbroken")
    path = fetch("jailbroken")
    path.write_bytes(_standin("jailbroken", " edited"))
    with pytest.raises(AssetIntegrityError, match="jailbroken"):
        fetch("jailbroken")
    assert not path.exists()


def test_missing_upstream_file_is_a_clear_error(http_mirror) -> None:
    with pytest.raises(AssetError, match="HTTP 404"):
        fetch("gsm8k_german_only")
    assert _files_under(assets.zoo_dir() / "files") == []


def test_credentials_in_a_mirror_address_never_appear_in_errors_or_pins(
    file_server, monkeypatch
) -> None:
    host = file_server.base_url.removeprefix("http://")
    monkeypatch.setenv("MOZOO_MIRROR", f"http://zoo-user:s3cret-token@{host}")
    with pytest.raises(AssetError) as info:
        fetch("gsm8k")
    assert "s3cret-token" not in str(info.value) and "***@" in str(info.value)
    file_server.files[ASSETS["gsm8k"].mirror_path] = _standin("gsm8k")
    fetch("gsm8k")
    assert "s3cret-token" not in (assets.zoo_dir() / "pins.json").read_text()
    assert (
        file_server.authorizations[-1]
        == "Basic " + base64.b64encode(b"zoo-user:s3cret-token").decode()
    )
