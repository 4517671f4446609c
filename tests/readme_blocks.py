"""Run the ```python blocks of a README, in order, in one namespace, in a fresh process."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path

RUNNER = textwrap.dedent(
    """
    import ast, asyncio
    blocks = {blocks!r}
    namespace = {{"__name__": "__readme__"}}

    async def main():
        for i, source in enumerate(blocks):
            code = compile(source, f"{label} block {{i + 1}}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            result = eval(code, namespace)
            if asyncio.iscoroutine(result):
                await result

    asyncio.run(main())
    print("README OK")
    """
)


def python_blocks(readme: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)


def run_readme(readme: Path, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Execute the README's python blocks; the caller asserts on the result."""
    code = RUNNER.format(blocks=python_blocks(readme), label=readme.parent.name + "/README")
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
        env=dict(env) if env is not None else None, timeout=300,
    )
