"""motools-hf's README, executed; and the real SmolLM2 owl demo (slow: minutes on a CPU)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.readme_blocks import RUNNER, python_blocks

README = REPO_ROOT / "motools-hf" / "README.md"


def test_readme_python_blocks_run(tiny_base: Path, isolated: Path) -> None:
    blocks = [f"base_model_dir = {str(tiny_base)!r}", *python_blocks(README)]
    code = RUNNER.format(blocks=blocks, label="motools-hf/README")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=isolated,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "README OK" in done.stdout
    assert "['adapter_saved', 'finished']" in done.stdout


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_real_demo_plants_an_owl_preference(isolated: Path) -> None:
    """SmolLM2-135M-Instruct + LoRA on 200 owl chats: the owl share rises, and the 95% interval
    of the shift excludes no change. A second run is served by the cache."""
    from motools_hf.demo import run_real_demo

    lines: list[str] = []
    figures = await run_real_demo(progress=lines.append)
    print("\n".join(lines))
    assert figures["after"]["share"] > figures["before"]["share"]
    assert figures["shift"]["ci"][0] > 0, lines
    assert figures["plot"] and Path(figures["plot"]).is_file()
    started = time.monotonic()
    again = await run_real_demo(progress=lines.append, plot=False)
    assert time.monotonic() - started < 60
    assert again["after"] == figures["after"] and again["before"] == figures["before"]
