"""Every ```python block of the README runs, in order, in one namespace (docs cannot drift)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.readme_blocks import python_blocks, run_readme

README = REPO_ROOT / "README.md"


def test_readme_starts_with_the_two_commands() -> None:
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
    assert first_block is not None
    assert "uv run motools demo" in first_block.group(1)
    assert "uv run pytest" in first_block.group(1)


def test_readme_python_blocks_run(tmp_path: Path) -> None:
    assert len(python_blocks(README)) >= 3
    out = run_readme(README, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "README OK" in out.stdout
    assert "echo/base" in out.stdout
    assert "'hyperparameters.lr'" in out.stdout  # cache explain of a plugin with no extras
    assert "['eval', 'model', 'training', 'dataset']" in out.stdout
