"""Every ```python block of motools-inspect's README runs, in order, in one namespace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.readme_blocks import python_blocks, run_readme


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path: Path) -> None:
    readme = REPO_ROOT / "motools-inspect" / "README.md"
    assert len(python_blocks(readme)) >= 2
    env = {k: v for k, v in os.environ.items() if k != "INSPECT_TELEMETRY"}
    env["MOTOOLS_HOME"] = str(tmp_path / "home")
    out = run_readme(readme, tmp_path, env)
    assert out.returncode == 0, out.stderr
    assert "README OK" in out.stdout
    assert "'includes': {'accuracy': 1.0" in out.stdout
    assert not (tmp_path / "logs").exists()
    assert list((tmp_path / "home" / "inspect-logs").glob("*.eval"))
