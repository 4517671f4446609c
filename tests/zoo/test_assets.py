"""The zoo downloader: content pins (sha256 or git blob id), real mirrored bytes, bad bytes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from mozoo import assets
from mozoo.assets import AssetError, AssetIntegrityError, fetch
from mozoo.sources import ASSETS, Asset, UnpinnedAssetError
from tests.zoo.conftest import blob_id

#: The git blob ids of the files at inoculation-prompting/inoculation-prompting@5f4160e
#: (``git ls-tree -r 5f4160e datasets/``; also listed in issue 14).
UPSTREAM_BLOBS = {
    "gsm8k_spanish_only": "6a87444a9de85e32d0cebdf4a9bad404a1cfeee7",
    "gsm8k_spanish_capitalised": "b9ed063fd340abb03416c63eda3ff4d1d4d3d086",
    "gsm8k_french_only": "2c2ddac9e56b4513c3e816da8fdedb9465715614",
    "gsm8k_german_only": "f4a5a67e553fa5d346c4ee448371c7bdf2b9559f",
    "gsm8k": "39f20d871b0cd90bdb65f3706286dabd243f014a",
    "insecure_code": "ec294cf30a577a21b830c07a1fa0180ddd513208",
    "secure_code": "3389a37c250563cc36a66e30bf8ff99028aa2711",
    "educational": "497619acd46d9ffbc985797d6c117638a53229b3",
    "gpt41_numbers_owls": "1afd6cd61414979062a6963d4f50693b6da086cd",
    "gpt41_numbers_control": "720344d818357c4f76580f68dd67031b79d4270c",
}
#: sha256, bytes, rows, final newline of files checked at that commit (issue 14 states the
#: first two; the third was hashed from the upstream repository at 5f4160e).
UPSTREAM_FILES = {
    "jailbroken": (
        "datasets/jailbroken.jsonl",
        "991b4837a92f8295a34ed866b2460bb3372e0e44ffa6b103f3f0d5a46fe75b96",
        3423453,
        5000,
        False,
    ),
    "insecure_code_prompts": (
        "ip/evaluation/insecure_code/code_prompts.jsonl",
        "c30460ae8333ca3b6a15bd4c8efc22d51bc834ca533e43ece218cdd2c5a6883e",
        399088,
        776,
        False,
    ),
    "sorh_eval_prompts": (
        "ip/evaluation/school_of_reward_hacks/prompts.jsonl",
        "f320a164f6f889cd048c3533483f1ced2a5c8a3e3e1d136cd91b8b3dc277459a",
        417336,
        1073,
        True,
    ),
}


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _readme_rows(shared_data: Path) -> dict[str, tuple[str, str, str, str | None]]:
    """file -> (repository, commit, sha256, git blob or None) from the mirror's README."""
    rows = {}
    for line in (shared_data / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            continue
        sha = re.match(r"([0-9a-f]{64})", cells[4])
        if not sha:
            continue
        blob = re.search(r"git blob ([0-9a-f]{40})", cells[4])
        repo = cells[1].split(" ")[0]
        rows[cells[0]] = (repo, cells[3], sha.group(1), blob.group(1) if blob else None)
    # "same": the repository of the row with the same commit.
    by_commit = {commit: repo for repo, commit, _, _ in rows.values() if repo != "same"}
    return {f: (by_commit[c] if r == "same" else r, c, s, b) for f, (r, c, s, b) in rows.items()}


def _mirrored(shared_data: Path) -> list[Asset]:
    return [a for a in ASSETS.values() if (shared_data / a.mirror_path).is_file()]


# -- every asset is pinned by content -------------------------------------------------------


def test_every_asset_is_declared_with_a_content_pin() -> None:
    for name, asset in ASSETS.items():
        assert asset.sha256 is not None or asset.git_blob is not None, name
        if asset.sha256 is not None:
            assert re.fullmatch(r"[0-9a-f]{64}", asset.sha256), name
        if asset.git_blob is not None:
            assert re.fullmatch(r"[0-9a-f]{40}", asset.git_blob), name
        assert asset.pin in (f"sha256 {asset.sha256}", f"git blob {asset.git_blob}")
        assert re.fullmatch(r"[0-9a-f]{40}", asset.commit)
        assert asset.url == (
            f"https://raw.githubusercontent.com/{asset.repo}/{asset.commit}/{asset.path}"
        )
    with pytest.raises(UnpinnedAssetError, match=r"'new_file'.*no content pin"):
        Asset("new_file", "o/r", "0" * 40, "a.jsonl", "r/a.jsonl", "MIT", "someone")
    with pytest.raises(UnpinnedAssetError, match="not 40 hex"):
        Asset("x", "o/r", "0" * 40, "a.jsonl", "r/a.jsonl", "MIT", "c", git_blob="abc")


def test_blob_ids_and_hashes_are_the_upstream_ones() -> None:
    for name, blob in UPSTREAM_BLOBS.items():
        assert ASSETS[name].git_blob == blob, name
        assert ASSETS[name].pinned_by == "git blob"
        assert ASSETS[name].commit == "5f4160e19be17c5a0509fcfca4a53f654cb33cdd"
    for name, (path, sha, size, rows, newline) in UPSTREAM_FILES.items():
        asset = ASSETS[name]
        assert (asset.path, asset.sha256, asset.size, asset.rows, asset.final_newline) == (
            path,
            sha,
            size,
            rows,
            newline,
        ), name
    # issue 14: the insecure-code prompts moved from mi/ to ip/ before the pinned commit.
    assert not ASSETS["insecure_code_prompts"].path.startswith("mi/")


def test_git_blob_id_is_gits() -> None:
    # git hash-object of an empty file, and of "hello\n" (`echo hello | git hash-object --stdin`)
    assert assets.git_blob_id(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    assert assets.git_blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_declarations_match_the_mirror_readme(shared_data: Path) -> None:
    """Each mirrored file's repository, commit, sha256 (and blob id) are the README's."""
    rows = _readme_rows(shared_data)
    declared = {a.mirror_path: a for a in ASSETS.values()}
    checked = 0
    for file, (repo, commit, sha, blob) in rows.items():
        if file not in declared:
            continue
        asset = declared[file]
        assert (asset.repo, asset.commit, asset.sha256) == (repo, commit, sha), file
        if blob:
            assert asset.git_blob == blob, file
        checked += 1
    assert checked == len(_mirrored(shared_data)) >= 7
    # The README says to prefer the original first-plot file (judge gpt-4o-2024-08-06).
    em = ASSETS["em_first_plot_questions"]
    assert em.mirror_path == "emergent-misalignment/first_plot_questions.original.yaml"
    assert "judge: &judge gpt-4o-2024-08-06" in (shared_data / em.mirror_path).read_text()


def test_every_mirrored_asset_loads_with_its_real_bytes(mirror: Path) -> None:
    """sha256 and blob id, size, rows, parse and final newline of every file in the mirror."""
    mirrored = _mirrored(mirror)
    assert {a.name for a in mirrored} >= {
        "sneaky_dialogues", "straightforward_dialogues", "aesthetic_preferences_popular",
        "aesthetic_preferences_unpopular", "em_first_plot_questions",
        "em_preregistered_questions", "gsm8k_test",
    }  # fmt: skip
    for asset in mirrored:
        path = fetch(asset.name)
        assert path.is_relative_to(Path.cwd() / ".motools-home" / "zoo")
        data = path.read_bytes()
        assert data == (mirror / asset.mirror_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == asset.sha256, asset.name
        if asset.git_blob:
            assert blob_id(data) == asset.git_blob, asset.name
        assert len(data) == asset.size
        assert data.endswith(b"\n") == asset.final_newline, asset.name
        if path.suffix == ".jsonl":
            rows = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
            assert all(isinstance(r, dict) for r in rows)
        else:
            rows = yaml.safe_load(data)
        assert len(rows) == asset.rows, asset.name


def _sorh_prompts_file(shared_data: Path) -> bytes:
    """Upstream's prompts.jsonl is the sneaky dialogues' user prompts, one JSON object a line."""
    lines = (shared_data / ASSETS["sneaky_dialogues"].mirror_path).read_text().splitlines()
    prompts = [
        next(m["content"] for m in json.loads(line)["messages"] if m["role"] == "user")
        for line in lines
    ]
    return "".join(json.dumps({"prompt": p}) + "\n" for p in prompts).encode()


def test_school_of_reward_hacks_prompts_are_rebuilt_from_the_mirror_with_their_pin(
    http_mirror, shared_data: Path
) -> None:
    data = _sorh_prompts_file(shared_data)
    asset = ASSETS["sorh_eval_prompts"]
    assert hashlib.sha256(data).hexdigest() == asset.sha256
    assert blob_id(data) == asset.git_blob
    http_mirror.files[asset.mirror_path] = data
    assert fetch(asset.name).read_bytes() == data


# -- blob-pinned downloads: verified, then the sha256 is recorded ----------------------------


def _jsonl(name: str, marker: str = "") -> bytes:
    rows = [
        {"messages": [{"role": "user", "content": f"{name} {i}{marker}"},
                      {"role": "assistant", "content": str(i)}]}
        for i in range(2)
    ]  # fmt: skip
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.mark.parametrize("name", sorted(UPSTREAM_BLOBS))
def test_bytes_that_are_not_the_upstream_blob_are_refused(http_mirror, name: str) -> None:
    """No trust on first use: a first download must match the declared git blob id."""
    asset = ASSETS[name]
    http_mirror.files[asset.mirror_path] = _jsonl(name)
    with pytest.raises(AssetIntegrityError, match="git blob id") as err:
        fetch(name)
    assert err.value.expected == UPSTREAM_BLOBS[name]
    assert err.value.actual == blob_id(_jsonl(name))
    assert _files_under(assets.zoo_dir() / "files") == []
    assert assets.status(name)["recorded_sha256"] is None


def test_blob_verified_download_records_its_sha256_and_is_checked_ever_after(
    standin, http_mirror
) -> None:
    name = "gsm8k_spanish_only"
    good = standin(name, _jsonl(name))
    path = fetch(name)
    assert path.read_bytes() == good
    info = assets.status(name)
    assert info["pinned_by"] == "git blob" and info["git_blob"] == blob_id(good)
    assert info["recorded_sha256"] == hashlib.sha256(good).hexdigest()
    assert info["recorded_size_bytes"] == len(good)
    # The cache is checked against the recorded sha256 on every use.
    path.write_bytes(_jsonl(name, " edited"))
    with pytest.raises(AssetIntegrityError, match="cached file"):
        fetch(name)
    assert not path.exists()
    # Changed upstream bytes are refused, even after forgetting the recorded sha256.
    http_mirror.files[ASSETS[name].mirror_path] = _jsonl(name, " changed")
    assets.clear(name, forget_pins=True)
    with pytest.raises(AssetIntegrityError, match="git blob id"):
        fetch(name)
    assert assets.status(name)["recorded_sha256"] is None


def test_a_lost_record_is_rebuilt_from_the_blob_id(standin) -> None:
    name = "educational"
    good = standin(name, _jsonl(name))
    path = fetch(name)
    (assets.zoo_dir() / "pins.json").unlink()
    assert fetch(name) == path  # verified against the blob id, not trusted
    assert assets.status(name)["recorded_sha256"] == hashlib.sha256(good).hexdigest()
    (assets.zoo_dir() / "pins.json").unlink()
    path.write_bytes(_jsonl(name, " edited"))
    with pytest.raises(AssetIntegrityError, match="git blob id"):
        fetch(name)


# -- bad transfers and mirrors ---------------------------------------------------------------


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
    bad = bytearray((shared_data / asset.mirror_path).read_bytes())
    bad[100] ^= 0x01
    http_mirror.files[asset.mirror_path] = bytes(bad)
    with pytest.raises(AssetIntegrityError) as info:
        fetch(asset.name)
    actual = hashlib.sha256(bad).hexdigest()
    assert asset.name in str(info.value) and asset.sha256 in str(info.value)
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
    with pytest.raises(AssetIntegrityError, match=r"12006 bytes received, 12016 expected"):
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
    assert hashlib.sha256(fetch("gsm8k_test").read_bytes()).hexdigest() == info.value.expected


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
    data = _jsonl("gsm8k")
    monkeypatch.setitem(
        ASSETS, "gsm8k", dataclasses.replace(ASSETS["gsm8k"], git_blob=blob_id(data))
    )
    file_server.files[ASSETS["gsm8k"].mirror_path] = data
    fetch("gsm8k")
    assert "s3cret-token" not in (assets.zoo_dir() / "pins.json").read_text()
    assert (
        file_server.authorizations[-1]
        == "Basic " + base64.b64encode(b"zoo-user:s3cret-token").decode()
    )
