"""Terminal output helpers: plain tables that fit a terminal, and ``--json``."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from typing import Any


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A left-aligned text table; columns are truncated to fit the terminal width."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    limit = shutil.get_terminal_size((120, 24)).columns
    while sum(widths) + 2 * (len(widths) - 1) > limit and max(widths) > 12:
        widest = widths.index(max(widths))
        widths[widest] -= 1

    def fmt(row: Sequence[str]) -> str:
        out = []
        for c, w in zip(row, widths, strict=True):
            out.append(c if len(c) <= w else c[: w - 1] + "…")
        return "  ".join(o.ljust(w) for o, w in zip(out, widths, strict=True)).rstrip()

    lines = [fmt(list(headers)), fmt(["-" * w for w in widths])]
    lines.extend(fmt(r) for r in cells)
    return "\n".join(lines)


def error(message: str) -> None:
    sys.stderr.write(f"motools: error: {message}\n")


def results_table(results: Any) -> str:
    """An ``EvalResults`` summary as a text table (without importing pandas)."""
    rows = [
        [r["task"], r["scorer"], r["metric"], r["value"], r["stderr"]]
        for r in results.summary_rows()
    ]
    return table(["task", "scorer", "metric", "value", "stderr"], rows)
