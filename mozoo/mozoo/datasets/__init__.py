"""Dataset loaders of the zoo: async, ``sample_size`` + ``seed``, returning ``JSONLDataset``.

Each loader reads its pinned upstream file through :func:`mozoo.assets.afetch` (verified,
cached, mirror-aware). The names registered with motools are listed in :mod:`mozoo.plugin`.
"""

from __future__ import annotations

from mozoo.datasets.files import (
    aesthetic_preferences_popular,
    aesthetic_preferences_unpopular,
    educational,
    gpt41_numbers_control,
    gpt41_numbers_owls,
    gsm8k,
    gsm8k_french_only,
    gsm8k_german_only,
    gsm8k_spanish_capitalised,
    gsm8k_spanish_only,
    insecure_code,
    jailbroken,
    load_asset_dataset,
    secure_code,
)
from mozoo.datasets.hello_world import hello_world
from mozoo.datasets.reward_hacks import sneaky_dialogues, straightforward_dialogues

__all__ = [
    "aesthetic_preferences_popular",
    "aesthetic_preferences_unpopular",
    "educational",
    "gpt41_numbers_control",
    "gpt41_numbers_owls",
    "gsm8k",
    "gsm8k_french_only",
    "gsm8k_german_only",
    "gsm8k_spanish_capitalised",
    "gsm8k_spanish_only",
    "hello_world",
    "insecure_code",
    "jailbroken",
    "load_asset_dataset",
    "secure_code",
    "sneaky_dialogues",
    "straightforward_dialogues",
]
