"""Entry point of the ``motools`` command.

Only ``argparse`` is imported to build the parser, so ``motools --help`` stays fast;
each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def _add(sub: Any, name: str, handler: str, help: str, **kw: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help, **kw)
    parser.set_defaults(handler=handler)
    return parser


def _assignments(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    """A repeatable ``KEY=VALUE`` option."""
    parser.add_argument(flag, action="append", default=[], metavar="KEY=VALUE", help=help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motools",
        description="Train and evaluate model organisms with swappable backends.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = _add(sub, "plugins", "motools.cli.commands:cmd_plugins", "list installed plugins")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = _add(
        sub,
        "backends",
        "motools.cli.commands:cmd_backends",
        "list training and evaluation backends",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    ds = sub.add_parser(
        "dataset",
        help="inspect and validate JSONL datasets",
        description="inspect and validate JSONL datasets",
    )
    ds_sub = ds.add_subparsers(dest="dataset_command", metavar="SUBCOMMAND", required=True)
    p = _add(
        ds_sub,
        "validate",
        "motools.cli.commands:cmd_dataset_validate",
        "check a chat-format JSONL file; exit code 1 if it has problems",
    )
    p.add_argument("file")
    p.add_argument(
        "--purpose", default="auto", choices=["auto", "supervised", "chat", "preference"]
    )
    p.add_argument("--backend", help="also apply this training backend's own rules")
    p.add_argument("--model", help="base model the backend's rules and cost estimate use")
    _assignments(p, "--hp", "hyperparameter for the cost estimate (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = _add(
        ds_sub,
        "stats",
        "motools.cli.commands:cmd_dataset_stats",
        "rows, messages, roles and characters",
    )
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = _add(
        sub,
        "demo",
        "motools.cli.commands:cmd_demo",
        "keyless demo: build a dataset, train and evaluate with the dummy backends",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    S = "motools.cli.store_commands"

    def training_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", required=True, help="training backend name (motools backends)")
        p.add_argument("--model", required=True, help="base model")
        p.add_argument(
            "--dataset", required=True, help="JSONL path, module:function or registered name"
        )
        _assignments(p, "--hp", "hyperparameter (repeatable)")
        p.add_argument("--suffix")
        p.add_argument("--seed", type=int)
        _assignments(p, "--backend-option", "backend constructor argument (repeatable)")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    def eval_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", required=True, help="evaluation backend name")
        p.add_argument("--model", required=True, help="model id to evaluate")
        p.add_argument("--task", required=True, action="append", help="task (repeatable)")
        p.add_argument("--limit", type=int)
        _assignments(p, "--option", "evaluate() option such as temperature=1 (repeatable)")
        _assignments(p, "--backend-option", "backend constructor argument (repeatable)")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    p = _add(
        sub,
        "train",
        f"{S}:cmd_train",
        "train through the cache (never pays twice); prints the model id",
    )
    training_args(p)
    p.add_argument(
        "--detach", action="store_true", help="return once the job is submitted; print the run id"
    )
    p.add_argument("--force", action="store_true", help="submit a new job even if one is cached")

    p = _add(sub, "eval", f"{S}:cmd_eval", "evaluate through the cache; prints the metrics table")
    eval_args(p)
    p.add_argument("--force", action="store_true", help="evaluate again even if cached")

    cache = sub.add_parser(
        "cache", help="inspect the local cache", description="inspect the local cache"
    )
    cache_sub = cache.add_subparsers(dest="cache_command", metavar="SUBCOMMAND", required=True)
    p = _add(cache_sub, "ls", f"{S}:cmd_cache_ls", "list cache entries, newest first")
    p.add_argument("--kind", choices=["training", "eval", "step"])
    p.add_argument("--limit", type=int, default=50)
    p.add_argument(
        "--project",
        help="only this project's records (default: $MOTOOLS_PROJECT if set; '*' for all)",
    )
    p.add_argument("--json", action="store_true")
    p = _add(
        cache_sub, "show", f"{S}:cmd_cache_show", "print one entry (key prefix or run id) as JSON"
    )
    p.add_argument("key")
    p = _add(
        cache_sub,
        "explain",
        f"{S}:cmd_cache_explain",
        "say whether a request would hit, and which key fields differ from the nearest entry",
    )
    explain_sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    training_args(
        _add(explain_sub, "train", f"{S}:cmd_cache_explain", "explain a training request")
    )
    eval_args(_add(explain_sub, "eval", f"{S}:cmd_cache_explain", "explain an evaluation request"))
    p = _add(
        cache_sub,
        "gc",
        f"{S}:cmd_cache_gc",
        "drop failed/cancelled entries, stale claims and unreferenced blobs",
    )
    p.add_argument(
        "--older-than-days",
        type=float,
        help="also drop entries not touched for this long (never a job that may be running)",
    )
    p.add_argument("--json", action="store_true")
    p = _add(
        cache_sub,
        "verify",
        f"{S}:cmd_cache_verify",
        "check every record, record copy and blob; --repair fixes what it can",
    )
    p.add_argument("--repair", action="store_true", help="repair what can be repaired")
    p.add_argument("--json", action="store_true")
    p = _add(
        cache_sub,
        "forget",
        f"{S}:cmd_cache_forget",
        "drop one entry (key prefix or run id), e.g. an interrupted submission you checked",
    )
    p.add_argument("key")

    p = _add(sub, "runs", f"{S}:cmd_runs", "training runs: list, wait, cancel")
    p.add_argument(
        "--project",
        help="only this project's records (default: $MOTOOLS_PROJECT if set; '*' for all)",
    )
    p.add_argument("--json", action="store_true")
    runs_sub = p.add_subparsers(dest="runs_command", metavar="SUBCOMMAND")
    q = _add(
        runs_sub, "wait", f"{S}:cmd_runs_wait", "re-attach to a run and wait; prints the model id"
    )
    q.add_argument("run", help="run id (job id) or cache key prefix")
    q = _add(runs_sub, "cancel", f"{S}:cmd_runs_cancel", "cancel a run")
    q.add_argument("run", help="run id (job id) or cache key prefix")

    p = _add(
        sub,
        "provenance",
        f"{S}:cmd_provenance",
        "print what an artifact was made from, back to the dataset bytes",
    )
    p.add_argument("id", help="eval/training key (prefix), model id, job id or artifact id")
    p.add_argument("--json", action="store_true")

    T = "motools.cli.team_commands"
    store = sub.add_parser(
        "store",
        help="which store motools uses (local SQLite, or a team's PostgreSQL + S3)",
        description="which store motools uses (local SQLite, or a team's PostgreSQL + S3)",
    )
    store_sub = store.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)
    p = _add(store_sub, "info", f"{T}:cmd_store_info", "where the index and blobs are, schema")
    p.add_argument("--json", action="store_true")
    p = _add(
        store_sub,
        "use",
        f"{T}:cmd_store_use",
        "point this home at a store (writes motools.toml; `sqlite` for the local one)",
    )
    p.add_argument("url", help="postgresql://user@host:port/db (no password), or sqlite")
    p.add_argument("--blobs", help="s3://bucket/prefix or a shared folder")
    p = _add(store_sub, "init", f"{T}:cmd_store_init", "create or upgrade a store's schema")
    p.add_argument("url", help="postgresql://user@host:port/db, or sqlite")
    p.add_argument("--blobs", help="s3://bucket/prefix or a shared folder")
    p.add_argument("--json", action="store_true")
    for name, what in (
        ("push", "copy the local store into a team store"),
        ("pull", "copy a team store into the local one"),
    ):
        p = _add(
            store_sub,
            name,
            f"{T}:cmd_store_{name}",
            f"{what} (idempotent, resumable, every blob verified)",
        )
        p.add_argument("url", help="postgresql://user@host:port/db (no password)")
        p.add_argument("--blobs", help="the team store's blobs: s3://bucket/prefix or a folder")
        p.add_argument("--json", action="store_true")

    Z = "motools.cli.zoo_commands"
    zoo = sub.add_parser(
        "zoo",
        help="datasets and tasks registered by plugins (the model-organism zoo)",
        description="datasets and tasks registered by plugins (the model-organism zoo)",
    )
    zoo_sub = zoo.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND", required=True)
    p = _add(zoo_sub, "list", f"{Z}:cmd_zoo_list", "list registered datasets and tasks")
    p.add_argument("--kind", choices=["dataset", "task"], help="only datasets or only tasks")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = _add(
        zoo_sub,
        "show",
        f"{Z}:cmd_zoo_show",
        "source, commit, license, size, citation and protocol of one dataset or task",
    )
    p.add_argument("name")
    p.add_argument("--kind", choices=["dataset", "task"])
    p.add_argument("--json", action="store_true", help="machine-readable output")

    W = "motools.cli.workflow_commands"
    wf = sub.add_parser(
        "workflow", help="run declarative workflows", description="run declarative workflows"
    )
    wf_sub = wf.add_subparsers(dest="workflow_command", metavar="SUBCOMMAND", required=True)
    p = _add(wf_sub, "list", f"{W}:cmd_workflow_list", "list registered workflows")
    p.add_argument("--json", action="store_true")
    p = _add(
        wf_sub, "validate", f"{W}:cmd_workflow_validate", "check a config without running anything"
    )
    p.add_argument("name")
    p.add_argument("--config", required=True)
    p.add_argument("--json", action="store_true")
    p = _add(
        wf_sub, "run", f"{W}:cmd_workflow_run", "run a workflow; finished steps come from the cache"
    )
    p.add_argument("name")
    p.add_argument("--config", required=True)
    p.add_argument("--force-rerun", action="append", default=[], metavar="STEP")
    p.add_argument("--max-parallel", type=int, default=4)
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.add_argument("--json", action="store_true")

    SW = "motools.cli.sweep_commands"
    sw = sub.add_parser(
        "sweep",
        help="run grids of workflow runs (seeds, learning rates...); status, results, plots",
        description="run grids of workflow runs (seeds, learning rates...); status, results, plots",
    )
    sw_sub = sw.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND", required=True)
    p = _add(
        sw_sub,
        "run",
        f"{SW}:cmd_sweep_run",
        "run every member of a sweep file; finished members come from the cache",
    )
    p.add_argument("file", help="sweep YAML (workflow, base_config, grid, max_parallel, quotas)")
    p.add_argument(
        "--retry-failed", action="store_true", help="run members that failed before again"
    )
    p.add_argument("--max-parallel", type=int, help="members at once (default: the file's)")
    p.add_argument(
        "--dry-run", action="store_true", help="validate and list the members; run nothing"
    )
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = _add(sw_sub, "status", f"{SW}:cmd_sweep_status", "each member's status, job and model id")
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    def ci_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--ci",
            choices=["t", "bootstrap", "wilson"],
            default="t",
            help="interval: t over per-seed means, clipped to [0, 1] for proportions "
            "(default); cluster bootstrap over seeds and samples; wilson (one seed only)",
        )
        p.add_argument("--confidence", type=float, default=0.95)

    p = _add(
        sw_sub,
        "results",
        f"{SW}:cmd_sweep_results",
        "mean and confidence interval over seeds per setting, task and metric",
    )
    p.add_argument("file")
    p.add_argument("--out", help="also write the tidy per-seed rows to this CSV file")
    ci_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = _add(
        sw_sub,
        "plot",
        f"{SW}:cmd_sweep_plot",
        "plot a metric against a sweep parameter with error bars (PNG, optionally HTML)",
    )
    p.add_argument("file")
    p.add_argument(
        "--metric", required=True, help="metric name, e.g. accuracy (comma-separated: several)"
    )
    p.add_argument("--x", required=True, help="sweep parameter for the x axis")
    p.add_argument("--out", required=True, help="file to write: .png, .pdf or .svg")
    p.add_argument("--dpi", type=int, default=150, help="resolution of a PNG (default 150)")
    p.add_argument("--html", help="also write a self-contained interactive HTML file")
    p.add_argument("--group", help="parameter(s) giving one line each (comma-separated)")
    p.add_argument(
        "--facet",
        help="one panel per task, metric or scorer (comma-separated; default: each that varies)",
    )
    p.add_argument(
        "--reference", action="store_true", help="draw the paper's number the task declares"
    )
    p.add_argument("--task", help="only this task")
    p.add_argument("--scorer", help="only this scorer")
    p.add_argument("--xscale", choices=["auto", "log", "linear"], default="auto")
    ci_args(p)

    return parser


def _resolve(handler: str) -> Handler:
    from motools.refs import import_object

    handler_fn: Handler = import_object(handler)
    return handler_fn


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from motools import __version__

        print(f"motools {__version__}")
        return 0
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    from motools.errors import MotoolsError

    try:
        return _resolve(handler)(args)
    except MotoolsError as exc:
        from motools.cli.output import error

        error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
