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
    p.add_argument(
        "--hp",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hyperparameter for the cost estimate (repeatable)",
    )
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

    return parser


def _resolve(handler: str) -> Handler:
    import importlib

    module, _, attr = handler.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


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
