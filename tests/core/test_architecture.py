"""The shape of motools-core, enforced: layers point one way, no cycles, no feature probing.

The import graph is read from the source (module-level imports *and* imports inside functions,
which is where a lazy upward import would hide). Layers, lowest first:

0. primitives: errors, hookspecs, paths, redaction, refs, atomic, polling, hyperparameters,
   datasets, training, evals (contracts and the dummy backends)
1. plugins: finding names (plugins, builtin_plugin) and the built-in backends
   (``motools.training.backends``, ``motools.evals.backends``)
2. composer: api, quotas, cache, provenance, dataset_refs, workflows, demo
3. experiments
4. cli

A module may import its own layer or lower ones, never a higher one; and the graph has no
cycle. The seed alias modules (``motools.training.backends.openai`` ...) are the only place
core names a plugin package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

CORE = REPO_ROOT / "motools-core" / "motools"
PLUGIN_PACKAGES = ("motools_openai", "motools_tinker", "motools_inspect", "motools_hf", "mozoo")
SEED_ALIASES = {
    "motools.training.backends.openai",
    "motools.training.backends.tinker",
    "motools.evals.backends.inspect",
}

LAYERS: list[tuple[int, tuple[str, ...]]] = [
    (4, ("motools.cli",)),
    (3, ("motools.experiments",)),
    (
        2,
        (
            "motools.api",
            "motools.quotas",
            "motools.cache",
            "motools.provenance",
            "motools.dataset_refs",
            "motools.workflows",
            "motools.demo",
        ),
    ),
    # The built-in dummy backends are plugins too (registered through the same hook).
    (
        1,
        (
            "motools.plugins",
            "motools.builtin_plugin",
            "motools.training.backends",
            "motools.evals.backends",
        ),
    ),
    (
        0,
        (
            "motools.errors",
            "motools.hookspecs",
            "motools.paths",
            "motools.redaction",
            "motools.refs",
            "motools.atomic",
            "motools.polling",
            "motools.hyperparameters",
            "motools.datasets",
            "motools.training",
            "motools.evals",
            "motools._alias",
            "motools._lazy",
        ),
    ),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    for level, prefixes in LAYERS:
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return level
    return None


def imports_of(path: Path) -> set[str]:
    """Every motools module ``path`` imports, anywhere in the file (TYPE_CHECKING excluded)."""
    tree = ast.parse(path.read_text())
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    type_checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in ast.walk(node):
                type_checking.add(id(child))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            found.add(mod)
            # `from motools import provenance` imports a module, not a name
            for alias in node.names:
                candidate = f"{mod}.{alias.name}"
                if (CORE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                    CORE.parent / Path(*candidate.split(".")) / "__init__.py"
                ).exists():
                    found.add(candidate)
    return {m for m in found if m == "motools" or m.startswith(("motools.", *PLUGIN_PACKAGES))}


def graph() -> dict[str, set[str]]:
    out = {}
    for path in sorted(CORE.rglob("*.py")):
        name = module_name(path)
        out[name] = {m for m in imports_of(path) if m != "motools"}
    return out


def test_every_core_module_has_a_layer() -> None:
    missing = [m for m in graph() if m != "motools" and layer_of(m) is None]
    assert not missing, f"modules with no layer (add them to LAYERS): {missing}"


def test_layers_point_one_way() -> None:
    upward = []
    for module, imported in graph().items():
        if module == "motools":  # the lazy facade: imports only hookspecs at module level
            continue
        mine = layer_of(module)
        for target in imported:
            if target.startswith(PLUGIN_PACKAGES):
                continue
            theirs = layer_of(target)
            if theirs is not None and mine is not None and theirs > mine:
                upward.append(f"{module} (layer {mine}) imports {target} (layer {theirs})")
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    edges = graph()

    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif state.get(nxt) is None:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if state.get(node) is None:
            visit(node)
    # A package's __init__ re-exporting its own submodules is not a cycle of layers.
    real = [c for c in cycles if len({n.rsplit(".", 1)[0] for n in c} | {c[0]}) > 1]
    real = [
        c
        for c in real
        if not all(n == c[0] or n.startswith(c[0] + ".") or c[0].startswith(n + ".") for n in c)
    ]
    assert not real, "import cycles:\n" + "\n".join(" -> ".join(c) for c in real)


def test_only_seed_aliases_name_plugin_packages() -> None:
    offenders = []
    for module, imported in graph().items():
        named = sorted(m for m in imported if m.startswith(PLUGIN_PACKAGES))
        if named and module not in SEED_ALIASES:
            offenders.append(f"{module}: {named}")
    for path in CORE.rglob("*.py"):
        name = module_name(path)
        if name in SEED_ALIASES:
            continue
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        prefixes = tuple(f"{p}{sep}" for p in PLUGIN_PACKAGES for sep in ".:")
        offenders.extend(
            f"{name}:{node.lineno} names {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and node.value.startswith(prefixes)
        )
    assert not offenders, "\n".join(offenders)


#: Capabilities of the backend contract: core calls them, it never asks whether they exist.
CONTRACT_NAMES = {
    "cache_version",
    "normalize_hyperparameters",
    "validate_hyperparameters",
    "model_unavailable",
    "check_dataset",
    "estimate_cost",
    "task_identity",
    "find_submitted",
    "from_cache",
    "attached",
    "cache_key",
    "key",
    "error",
    "error_code",
    "backend_name",
    "poll_backoff",
}
PROBED_OBJECTS = ("backend", "run", "job", "inner", "impl", "cached")


def _probes(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if node.func.id not in ("getattr", "hasattr") or len(node.args) < 2:
            continue
        target, attr = node.args[0], node.args[1]
        attr_name = attr.value if isinstance(attr, ast.Constant) else None
        target_text = ast.unparse(target).lower()
        if attr_name in CONTRACT_NAMES or any(word in target_text for word in PROBED_OBJECTS):
            where = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_core_never_probes_backends_runs_or_jobs() -> None:
    probes = [p for path in sorted(CORE.rglob("*.py")) for p in _probes(path)]
    assert not probes, "getattr/hasattr probing of a backend, run or job:\n" + "\n".join(probes)


def test_the_probe_detector_detects(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def f(backend, run):\n"
        "    a = getattr(backend, 'normalize_hyperparameters', None)\n"
        "    b = getattr(run, 'anything', False)\n"
        "    c = getattr(config, 'name', None)\n"
    )
    assert len(_probes(bad)) == 2  # config.name is not a backend


@pytest.mark.parametrize("module", ["motools.api", "motools.workflows.builtin"])
def test_detector_sees_imports_inside_functions(module: str) -> None:
    path = CORE.parent / Path(*module.split("."))
    imported = imports_of(path.with_suffix(".py"))
    assert any(m.startswith("motools.") for m in imported)
