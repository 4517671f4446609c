"""Every ```python block of the README runs, in order, in one namespace (docs cannot drift)."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT

RUNNER = textwrap.dedent(
    """
    import ast, asyncio, sys, types
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


def python_blocks() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_starts_with_the_two_commands() -> None:
    text = (REPO_ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert first_block is not None
    assert "uv run motools demo" in first_block.group(1)
    assert "uv run pytest" in first_block.group(1)


def test_readme_python_blocks_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocks = python_blocks()
    assert len(blocks) >= 3
    out = subprocess.run(
        [sys.executable, "-c", RUNNER.format(blocks=blocks)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "README OK" in out.stdout
    assert "echo/base" in out.stdout
