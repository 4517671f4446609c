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

        mirrored = [n for n, a in ASSETS.items() if (MIRROR / a.mirror_path).is_file()]
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
            "load sneaky_dialogues (paper protocol: all 1073 rows)",
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

        timed(
            "build emergent_misalignment (main: 8 questions x 100 samples)", emergent_misalignment
        )
        timed(
            "build emergent_misalignment code_format (16 x 100)",
            lambda: emergent_misalignment("code_format"),
        )
        timed(
            "build school_of_reward_hacks heldout (overlap check included)",
            lambda: school_of_reward_hacks("heldout"),
        )


if __name__ == "__main__":
    main()
