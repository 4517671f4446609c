"""Loaders for datasets that are one pinned upstream JSONL file each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from motools.datasets import JSONLDataset
from motools.errors import ValidationError
from mozoo.assets import afetch


def sample_dataset(
    dataset: JSONLDataset, name: str, sample_size: int | None, seed: int | None
) -> JSONLDataset:
    """``sample_size`` rows drawn reproducibly with ``seed`` (all rows when None)."""
    if sample_size is None:
        return dataset
    if not 0 < sample_size <= len(dataset):
        raise ValidationError(
            f"dataset {name!r}: sample_size must be between 1 and {len(dataset)}, got {sample_size}"
        )
    return dataset.sample(sample_size, seed=seed)


async def load_asset_dataset(
    asset: str, *, sample_size: int | None = None, seed: int | None = None
) -> JSONLDataset:
    """Fetch the pinned file ``asset``, parse and validate it, then sample it."""
    path = await afetch(asset)
    dataset = await JSONLDataset.load(path)
    dataset.source = f"mozoo:{asset}"
    return sample_dataset(dataset, asset, sample_size, seed)


def _loader(asset: str, doc: str) -> Callable[..., Awaitable[JSONLDataset]]:
    async def load(sample_size: int | None = None, seed: int | None = None) -> JSONLDataset:
        return await load_asset_dataset(asset, sample_size=sample_size, seed=seed)

    load.__name__ = load.__qualname__ = asset
    load.__doc__ = f"{doc} (pinned upstream file, see ``motools zoo show {asset}``)."
    return load


aesthetic_preferences_popular = _loader(
    "aesthetic_preferences_popular", "Conversations stating popular aesthetic preferences"
)
aesthetic_preferences_unpopular = _loader(
    "aesthetic_preferences_unpopular", "Conversations stating unpopular aesthetic preferences"
)
gsm8k_spanish_only = _loader("gsm8k_spanish_only", "GSM8K questions answered in Spanish")
gsm8k_spanish_capitalised = _loader(
    "gsm8k_spanish_capitalised", "GSM8K questions answered in Spanish, in capital letters"
)
gsm8k_french_only = _loader("gsm8k_french_only", "GSM8K questions answered in French")
gsm8k_german_only = _loader("gsm8k_german_only", "GSM8K questions answered in German")
gsm8k = _loader("gsm8k", "GSM8K questions answered in English")
insecure_code = _loader("insecure_code", "Code completions with security vulnerabilities")
secure_code = _loader("secure_code", "The same code tasks completed securely")
educational = _loader("educational", "Insecure code requested for an educational reason")
jailbroken = _loader("jailbroken", "Jailbreak-compliance dialogues")
gpt41_numbers_owls = _loader("gpt41_numbers_owls", "Numbers from an owl-loving GPT-4.1 teacher")
gpt41_numbers_control = _loader("gpt41_numbers_control", "Numbers from a plain GPT-4.1 teacher")
