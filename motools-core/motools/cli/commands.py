"""Implementations of the ``motools`` sub-commands (imported only when one runs)."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from motools.cli.output import print_json, table


def cmd_plugins(args: argparse.Namespace) -> int:
    from motools.plugins import list_plugins

    plugins = list_plugins()
    if args.json:
        print_json([p.to_dict() for p in plugins])
        return 0
    rows = [[p.name, p.distribution, p.version, ", ".join(p.hooks), p.error or ""] for p in plugins]
    print(table(["plugin", "distribution", "version", "hooks", "error"], rows))
    return 0


def cmd_backends(args: argparse.Namespace) -> int:
    from motools.plugins import list_eval_backends, list_training_backends

    entries = [("training", r) for r in list_training_backends()] + [
        ("evaluation", r) for r in list_eval_backends()
    ]
    if args.json:
        print_json(
            [
                {
                    "kind": kind,
                    "name": r.name,
                    "plugin": r.plugin,
                    "description": r.description,
                    "target": r.target if isinstance(r.target, str) else repr(r.target),
                }
                for kind, r in entries
            ]
        )
        return 0
    print(
        table(
            ["kind", "name", "plugin", "description"],
            [[k, r.name, r.plugin, r.description] for k, r in entries],
        )
    )
    return 0


def parse_assignments(
    items: list[str], option: str = "--hp", example: str = "n_epochs=3"
) -> dict[str, Any]:
    """``["n_epochs=3", "learning_rate=1e-4"]`` -> ``{"n_epochs": 3, "learning_rate": 0.0001}``."""
    import yaml

    from motools.cli.errors import UsageError
    from motools.errors import short_repr

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{option} {short_repr(item)}: expected KEY=VALUE, such as {example}")
        try:
            parsed = yaml.safe_load(value) if value else ""
        except yaml.YAMLError:
            parsed = value  # not a YAML scalar: take the text as given
        if isinstance(parsed, str):
            # YAML 1.1 reads "1e-4" as a string; a researcher means a float.
            with contextlib.suppress(ValueError):
                parsed = float(parsed) if any(c in parsed for c in ".eE") else int(parsed)
        out[key.strip()] = parsed
    return out


def cmd_dataset_validate(args: argparse.Namespace) -> int:
    from motools.cli.errors import input_file
    from motools.datasets import JSONLDataset, read_jsonl
    from motools.datasets.validation import Problem

    path = input_file(args.file, "JSONL dataset")
    samples, problems, total = read_jsonl(path, purpose=args.purpose)
    if not total and not samples:  # `train` refuses an empty dataset; so does validate
        problems = [Problem(0, "", "the file has no samples; a dataset needs at least one row")]
        total = 1
    result: dict[str, Any] = {
        "file": str(path),
        "rows": len(samples),
        "problems": total,
        "details": [p.__dict__ for p in problems],
    }
    backend_problems: list[Any] = []
    estimate: dict[str, Any] | None = None
    if args.backend and not total:
        import motools
        from motools.training import as_training_backend

        backend = as_training_backend(motools.get_training_backend(args.backend))
        dataset = JSONLDataset(samples, source=str(path))
        backend_problems = list(backend.check_dataset(dataset, model=args.model))
        hp = parse_assignments(args.hp)
        if args.model and not backend_problems:
            cost = backend.estimate_cost(dataset, args.model, hp)
            estimate = dict(cost) if cost is not None else None
        result["backend"] = args.backend
        result["backend_problems"] = [str(p) for p in backend_problems]
        result["cost_estimate"] = estimate
    ok = not total and not backend_problems
    if args.json:
        result["ok"] = ok
        print_json(result)
        return 0 if ok else 1
    for p in problems:
        print(f"{path}:{p}")
    if total > len(problems):
        print(f"... and {total - len(problems)} more")
    for p in backend_problems:
        print(f"{path}:{p} [{args.backend}]")
    if estimate:
        print("cost estimate: " + ", ".join(f"{k}={v}" for k, v in estimate.items()))
    if ok:
        print(f"{path}: OK ({len(samples)} rows)")
        return 0
    print(f"{path}: {total + len(backend_problems)} problem(s)")
    return 1


def cmd_dataset_stats(args: argparse.Namespace) -> int:
    from motools.cli.errors import input_file
    from motools.datasets import JSONLDataset

    stats = JSONLDataset.load_sync(input_file(args.file, "JSONL dataset")).stats()
    if args.json:
        print_json(stats)
        return 0
    print(table(["field", "value"], [[k, v] for k, v in stats.items() if k != "roles"]))
    print()
    print(table(["role", "messages"], list(stats["roles"].items())))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio
    import os
    import shutil
    import tempfile

    from motools.cache import Store
    from motools.cli.output import results_table
    from motools.cli.workflow_commands import LiveProgress
    from motools.demo import run_demo
    from motools.evals import EvalResults

    home = os.environ.get("MOTOOLS_HOME") or tempfile.mkdtemp(prefix="motools-demo-")
    try:
        first, second = asyncio.run(run_demo(LiveProgress(quiet=args.json), Store(home)))
    finally:
        if "MOTOOLS_HOME" not in os.environ:
            shutil.rmtree(home, ignore_errors=True)
    results = second.artifacts["results"]
    if args.json:
        print_json({"first_run": first.to_dict(), "second_run": second.to_dict()})
        return 0
    for label, run in (("first run", first), ("second run (same config)", second)):
        print(f"{label}:")
        print(
            table(
                ["step", "status", "elapsed"],
                [[s.name, s.status, f"{s.elapsed:.2f}s"] for s in run.steps.values()],
            )
        )
        print()
    print(f"trained (dummy backend): {results['model_id']}")
    print(results_table(EvalResults(results["model_id"], results["metrics"])))
    cached = sum(s.status == "cached" for s in second.steps.values())
    print(
        f"\nthe second run was served from the cache ({cached} of {len(second.steps)} steps): "
        "nothing was trained or evaluated twice."
    )
    return 0
