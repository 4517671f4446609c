"""Zoo figures: cost of the verified downloader and of building the zoo's tasks.

Run: ``uv run python bench/zoo_assets.py`` (uses ``../shared/data`` as the mirror and a
temporary motools home). Prints wall-clock figures; asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "data"


def timed(label: str, fn, repeat: int = 1):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    for _ in range(repeat):
        result = fn()
    ms = (time.perf_counter() - start) * 1000 / repeat
    print(f"{label:<58} {ms:9.1f} ms")
    return result


def main() -> None:
    with tempfile.TemporaryDirectory() as home:
        os.environ["MOTOOLS_HOME"] = home
        os.environ["MOZOO_MIRROR"] = str(MIRROR)
        from mozoo import assets
        from mozoo.sources import ASSETS

        mirrored = [n for n, a in ASSETS.items() if a.sha256]
        total = sum(ASSETS[n].size or 0 for n in mirrored)
        print(f"{len(mirrored)} mirrored assets, {total / 1e6:.2f} MB")
        timed(
            "first fetch of all (copy from mirror + sha256)",
            lambda: [assets.fetch(n) for n in mirrored],
        )
        timed(
            "cached fetch of all (sha256 verify on use), mean of 5",
            lambda: [assets.fetch(n) for n in mirrored],
            5,
        )

        from motools.dataset_refs import load_dataset_ref

        timed(
            "load sneaky_dialogues train split (1073 rows parsed)",
            lambda: asyncio.run(load_dataset_ref("sneaky_dialogues")),
        )
        timed(
            "load aesthetic_preferences_popular (5000 rows)",
            lambda: asyncio.run(load_dataset_ref("aesthetic_preferences_popular")),
        )
        timed(
            "import inspect_ai + mozoo.tasks.emergent_misalignment",
            lambda: __import__("mozoo.tasks.emergent_misalignment"),
        )
        from mozoo.tasks.emergent_misalignment import emergent_misalignment
        from mozoo.tasks.school_of_reward_hacks import school_of_reward_hacks

        timed("build emergent_misalignment (24 x 100 = 2400 samples)", emergent_misalignment)
        timed("build school_of_reward_hacks (overlap check included)", school_of_reward_hacks)


if __name__ == "__main__":
    main()
