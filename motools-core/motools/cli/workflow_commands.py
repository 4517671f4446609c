"""``motools workflow list | validate | run``."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

from motools.cli.output import print_json, results_table, table


def cmd_workflow_list(args: argparse.Namespace) -> int:
    from motools.plugins import list_workflows

    regs = list_workflows()
    if args.json:
        print_json(
            [{"name": r.name, "plugin": r.plugin, "description": r.description} for r in regs]
        )
        return 0
    print(
        table(
            ["workflow", "plugin", "description"], [[r.name, r.plugin, r.description] for r in regs]
        )
    )
    return 0


def cmd_workflow_validate(args: argparse.Namespace) -> int:
    from motools.cli.errors import input_file
    from motools.workflows import get_workflow

    input_file(args.config, "workflow config (YAML)", "--config")
    workflow = get_workflow(args.name)
    parsed = workflow.validate(args.config, source=args.config)
    if args.json:
        print_json({"ok": True, "config": parsed.model_dump(mode="json")})
    else:
        print(
            f"{args.config}: OK for workflow {args.name} ({', '.join(s.name for s in workflow.steps)})"
        )
    return 0


class LiveProgress:
    """One line per step event on stderr: elapsed, step, status and what it is doing."""

    def __init__(self, quiet: bool = False) -> None:
        self.start = time.monotonic()
        self.quiet = quiet
        self.last: dict[str, str] = {}

    def __call__(self, event: dict[str, Any]) -> None:
        if self.quiet:
            return
        line = f"{event['status']:<8} {event.get('detail', '')}".rstrip()
        if self.last.get(event["step"]) == line:
            return
        self.last[event["step"]] = line
        clock = time.monotonic() - self.start
        print(f"[{clock:7.1f}s] {event['step']:<18} {line}", file=sys.stderr, flush=True)


def cmd_workflow_run(args: argparse.Namespace) -> int:
    from motools.cli.errors import input_file, print_error
    from motools.workflows import WorkflowError, get_workflow, run_workflow

    input_file(args.config, "workflow config (YAML)", "--config")
    workflow = get_workflow(args.name)
    try:
        result = asyncio.run(
            run_workflow(
                workflow,
                args.config,
                max_parallel=args.max_parallel,
                force_rerun=args.force_rerun,
                progress=LiveProgress(quiet=args.quiet),
                source=args.config,
            )
        )
    except WorkflowError as exc:
        if args.json:
            print_json(exc.result.to_dict())
        print_error(str(exc))
        return 1
    if args.json:
        print_json(result.to_dict())
        return 0
    rows = [[s.name, s.status, f"{s.elapsed:.2f}s"] for s in result.steps.values()]
    print(table(["step", "status", "elapsed"], rows))
    results = result.artifacts.get("results")
    if isinstance(results, dict) and results.get("metrics"):
        print()
        from motools.evals import EvalResults

        print(f"model: {results['model_id']}")
        print(results_table(EvalResults(results["model_id"], results["metrics"])))
    return 0
