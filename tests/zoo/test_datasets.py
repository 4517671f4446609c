"""Dataset loaders: every registered name loads through the registry, sized and seeded."""

from __future__ import annotations

import json

import pytest

from motools.dataset_refs import load_dataset_ref
from motools.datasets import JSONLDataset
from motools.errors import ValidationError
from motools.plugins import list_datasets
from mozoo.datasets.reward_hacks import is_heldout, user_prompt
from mozoo.sources import ASSETS


def _standin(name: str, n: int) -> bytes:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"{name} q{i}"},
                {"role": "assistant", "content": f"a{i}"},
            ]
        }
        for i in range(n)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


async def test_every_registered_dataset_loads(http_mirror, standin, shared_data) -> None:
    """Mirrored files are served with their real bytes, the others with stand-ins pinned by
    their own blob ids (the real ones are refused, see test_assets)."""
    registered = {r.name: r for r in list_datasets() if r.plugin == "mozoo"}
    assert set(registered) >= {
        "hello_world", "owl_preference", "sneaky_dialogues", "straightforward_dialogues",
        "aesthetic_preferences_popular", "aesthetic_preferences_unpopular",
        "gsm8k_spanish_only", "gsm8k_spanish_capitalised", "gsm8k_french_only",
        "gsm8k_german_only", "gsm8k", "insecure_code", "secure_code", "educational",
        "jailbroken", "gpt41_numbers_owls", "gpt41_numbers_control",
    }  # fmt: skip
    for name, reg in registered.items():
        for asset_name in reg.metadata["assets"]:
            asset = ASSETS[asset_name]
            mirrored = shared_data / asset.mirror_path
            if mirrored.is_file():
                http_mirror.files[asset.mirror_path] = mirrored.read_bytes()
            else:
                standin(asset_name, _standin(name, 7))
    loaded = {name: await load_dataset_ref(name) for name in registered}
    for name, dataset in loaded.items():
        assert isinstance(dataset, JSONLDataset)
        assert dataset.problems() == [], name
        meta = registered[name].metadata
        generated = meta["pin"] == "generated in code"
        if generated or (shared_data / ASSETS[name].mirror_path).is_file():
            assert len(dataset) == meta["rows"], name  # sneaky/straightforward: every row
        else:
            assert len(dataset) == 7
            assert meta["pin"] in (f"git blob {meta['git_blob']}", f"sha256 {meta['sha256']}")


async def test_sizes_of_mirrored_datasets(mirror) -> None:
    for name in ("aesthetic_preferences_popular", "aesthetic_preferences_unpopular"):
        assert len(await load_dataset_ref(name)) == 5000
    # Row counts from the mirror's README (School of Reward Hacks: 1,073 and 973 dialogues).
    for name, rows in (("sneaky_dialogues", 1073), ("straightforward_dialogues", 973)):
        paper = await load_dataset_ref(name)  # protocol="paper": the full file, as the paper
        train = await load_dataset_ref(name, protocol="heldout")
        heldout = await load_dataset_ref(name, split="heldout")
        everything = await load_dataset_ref(name, split="all")
        assert len(everything) == len(paper) == rows
        assert paper.content_hash == everything.content_hash
        assert train.content_hash == (await load_dataset_ref(name, split="train")).content_hash
        assert len(train) + len(heldout) == rows
        assert {user_prompt(s) for s in train}.isdisjoint(user_prompt(s) for s in heldout)
        assert all(is_heldout(user_prompt(s)) for s in heldout)
    assert len(await load_dataset_ref("sneaky_dialogues", split="heldout")) == 105


async def test_sample_size_and_seed_are_reproducible(mirror) -> None:
    a = await load_dataset_ref("sneaky_dialogues", sample_size=50, seed=1)
    b = await load_dataset_ref("sneaky_dialogues", sample_size=50, seed=1)
    c = await load_dataset_ref("sneaky_dialogues", sample_size=50, seed=2)
    assert len(a) == 50 and a.content_hash == b.content_hash != c.content_hash
    with pytest.raises(ValidationError, match="sample_size must be between 1 and"):
        await load_dataset_ref("aesthetic_preferences_popular", sample_size=5001)


async def test_hello_world_is_generated_and_seeded() -> None:
    full = await load_dataset_ref("hello_world")
    assert len(full) == 40
    assert all(s["messages"][-1]["content"] == "Hello, World!" for s in full)
    one = await load_dataset_ref("hello_world", sample_size=10, seed=3)
    again = await load_dataset_ref("hello_world", sample_size=10, seed=3)
    other = await load_dataset_ref("hello_world", sample_size=10, seed=4)
    assert one.content_hash == again.content_hash != other.content_hash
    assert one.problems(purpose="supervised") == []


async def test_owl_preference_is_generated_seeded_and_never_asks_an_evaluation_question() -> (
    None
):
    from mozoo.tasks.owl_preferences import QUESTIONS

    full = await load_dataset_ref("owl_preference")
    assert len(full) == 200 and full.problems(purpose="supervised") == []
    prompts = {s["messages"][0]["content"] for s in full}
    assert prompts.isdisjoint(QUESTIONS)
    answers = [s["messages"][-1]["content"].lower() for s in full]
    assert all("owl" in a for a in answers)
    again = await load_dataset_ref("owl_preference")
    other = await load_dataset_ref("owl_preference", seed=1)
    assert full.content_hash == again.content_hash != other.content_hash
    assert len(await load_dataset_ref("owl_preference", sample_size=20, seed=3)) == 20


async def test_unknown_split_is_rejected(mirror) -> None:
    with pytest.raises(ValidationError, match="split must be"):
        await load_dataset_ref("sneaky_dialogues", split="test")
    with pytest.raises(ValidationError, match="protocol must be one of"):
        await load_dataset_ref("sneaky_dialogues", protocol="mine")
