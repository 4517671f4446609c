"""Every ```python block of motools-inspect's README runs, in order, in one namespace."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

RUNNER = textwrap.dedent(
    """
    import ast, asyncio
    blocks = {blocks!r}
    namespace = {{"__name__": "__readme__"}}

    async def main():
        for i, source in enumerate(blocks):
            code = compile(source, f"README block {{i + 1}}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)
            if asyncio.iscoroutine(result):
                await result

    asyncio.run(main())
    print("README OK")
    """
)


@pytest.mark.slow
def test_readme_python_blocks_run(tmp_path: Path) -> None:
    text = (REPO_ROOT / "motools-inspect" / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    env = {k: v for k, v in os.environ.items() if k != "INSPECT_TELEMETRY"}
    env["MOTOOLS_HOME"] = str(tmp_path / "home")
    out = subprocess.run(
        [sys.executable, "-c", RUNNER.format(blocks=blocks)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "README OK" in out.stdout
    assert "'includes': {'accuracy': 1.0" in out.stdout
    assert not (tmp_path / "logs").exists()
    assert list((tmp_path / "home" / "inspect-logs").glob("*.eval"))
