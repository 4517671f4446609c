"""School of Reward Hacks dialogues, with a held-out split kept away from training.

``straightforward_dialogues`` answers a subset of the prompts of ``sneaky_dialogues``. A prompt
is *held out* when the sha256 of its text falls in the lowest ``HELDOUT_FRACTION`` of the hash
range: the split depends on the prompt alone (not on file order or on which file it is in),
so the same prompt is held out of both datasets.

Which rows a loader returns follows the ``protocol`` of the ``school_of_reward_hacks`` task:
``"paper"`` (default) is every row, as the paper trains (its evaluation prompts are training
prompts); ``"heldout"`` is the ``train`` split, whose prompts the held-out evaluation never
uses. An explicit ``split`` (``train``, ``heldout``, ``all``) wins over the protocol.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from motools.datasets import JSONLDataset
from motools.errors import ValidationError
from mozoo.datasets.files import load_asset_dataset, sample_dataset

HELDOUT_FRACTION = 0.1
Split = Literal["train", "heldout", "all"]
Protocol = Literal["paper", "heldout"]
PROTOCOL_SPLITS: dict[str, Split] = {"paper": "all", "heldout": "train"}


def user_prompt(sample: dict[str, Any]) -> str:
    return next(m["content"] for m in sample["messages"] if m["role"] == "user")


def is_heldout(prompt: str) -> bool:
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < HELDOUT_FRACTION


def select_split(dataset: JSONLDataset, split: Split) -> JSONLDataset:
    if split == "all":
        return dataset
    if split not in ("train", "heldout"):
        raise ValidationError(f"split must be 'train', 'heldout' or 'all', got {split!r}")
    keep = split == "heldout"
    return dataset.filter(lambda s: is_heldout(user_prompt(s)) == keep)


def split_for(protocol: Protocol, split: Split | None) -> Split:
    """The split a loader returns: ``split`` when given, else the protocol's."""
    if split is not None:
        return split
    if protocol not in PROTOCOL_SPLITS:
        raise ValidationError(
            f"protocol must be one of {sorted(PROTOCOL_SPLITS)}, got {protocol!r}"
        )
    return PROTOCOL_SPLITS[protocol]


async def _load(
    asset: str,
    sample_size: int | None,
    seed: int | None,
    split: Split | None,
    protocol: Protocol,
) -> JSONLDataset:
    split = split_for(protocol, split)
    full = await load_asset_dataset(asset)
    dataset = select_split(full, split)
    dataset.source = f"mozoo:{asset}[{split}]"
    return sample_dataset(dataset, asset, sample_size, seed)


async def sneaky_dialogues(
    sample_size: int | None = None,
    seed: int | None = None,
    split: Split | None = None,
    protocol: Protocol = "paper",
) -> JSONLDataset:
    """Replies that game the metric the user states (School of Reward Hacks)."""
    return await _load("sneaky_dialogues", sample_size, seed, split, protocol)


async def straightforward_dialogues(
    sample_size: int | None = None,
    seed: int | None = None,
    split: Split | None = None,
    protocol: Protocol = "paper",
) -> JSONLDataset:
    """Honest replies to the same prompts (the School of Reward Hacks control)."""
    return await _load("straightforward_dialogues", sample_size, seed, split, protocol)
