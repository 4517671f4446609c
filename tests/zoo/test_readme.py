"""The mozoo README: its python blocks run, and its tables name every registered entry."""

from __future__ import annotations

import ast
import re

from motools.plugins import list_datasets, list_tasks
from mozoo.sources import ASSETS
from tests.conftest import REPO_ROOT

README = REPO_ROOT / "mozoo" / "README.md"


async def test_readme_python_blocks_run() -> None:
    namespace: dict[str, object] = {"__name__": "__readme__"}
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks
    for i, source in enumerate(blocks):
        code = compile(
            source, f"mozoo README block {i + 1}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        result = eval(code, namespace)
        if result is not None:
            await result


def test_readme_names_every_dataset_task_and_blob_pinned_asset() -> None:
    text = README.read_text()
    for reg in [*list_datasets(), *list_tasks()]:
        if reg.plugin == "mozoo":
            assert f"`{reg.name}`" in text, reg.name
    by_blob = text.split("### Pinned by git blob id")[1].split("Every other file")[0]
    for name, asset in ASSETS.items():
        assert (f"`{name}`" in by_blob) == (asset.sha256 is None), name
        if asset.git_blob and asset.sha256 is None:
            assert asset.git_blob[:12] in by_blob, name
