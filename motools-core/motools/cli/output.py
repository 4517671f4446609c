"""Terminal output helpers: plain tables that fit a terminal, and ``--json``."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any


def print_json(data: Any) -> None:
    """``data`` as indented, standard JSON (a NaN is null), quickly even for thousands of rows."""
    import orjson

    try:
        text = orjson.dumps(
            data, default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
        ).decode()
    except TypeError:  # what orjson cannot write (an integer beyond 64 bits)
        text = json.dumps(data, indent=2, default=str)
    sys.stdout.write(text + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    keep: Sequence[str] = (),
    wrap: Sequence[str] = (),
) -> str:
    """A left-aligned text table that fits the terminal width (``$COLUMNS``, else 120).

    Columns named in ``keep`` are never shortened (names a user must type); columns in
    ``wrap`` are wrapped onto more lines rather than cut; other columns are cut with "…"
    when the table is too wide. If the kept columns alone are too wide, the table is.
    """
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    limit = shutil.get_terminal_size((120, 24)).columns
    fixed = {i for i, h in enumerate(headers) if h in keep}
    wrapped = {i for i, h in enumerate(headers) if h in wrap}
    minimum = [
        len(headers[i]) if i in fixed else (20 if i in wrapped else 12) for i in range(len(widths))
    ]
    minimum = [min(m, w) for m, w in zip(minimum, widths, strict=True)]
    while sum(widths) + 2 * (len(widths) - 1) > limit:
        shrinkable = [i for i in range(len(widths)) if i not in fixed and widths[i] > minimum[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1

    def lines_of(row: Sequence[str]) -> list[str]:
        parts: list[list[str]] = []
        for i, (c, w) in enumerate(zip(row, widths, strict=True)):
            if len(c) <= w or i in fixed:
                parts.append([c])
            elif i in wrapped:
                parts.append(textwrap.wrap(c, w, break_long_words=True) or [""])
            else:
                parts.append([c[: w - 1] + "…"])
        height = max(len(p) for p in parts)
        out = []
        for n in range(height):
            line = "  ".join(
                (p[n] if n < len(p) else "").ljust(w) for p, w in zip(parts, widths, strict=True)
            )
            out.append(line.rstrip())
        return out

    lines = lines_of(list(headers)) + lines_of(["-" * w for w in widths])
    for r in cells:
        lines.extend(lines_of(r))
    return "\n".join(lines)


def error(message: str) -> None:
    """Print ``message`` as ``motools: error:`` lines, one per problem."""
    from motools.cli.errors import print_error

    print_error(message)


def results_table(results: Any) -> str:
    """An ``EvalResults`` summary as a text table (without importing pandas)."""
    rows = [
        [r["task"], r["scorer"], r["metric"], r["value"], r["stderr"]]
        for r in results.summary_rows()
    ]
    return table(["task", "scorer", "metric", "value", "stderr"], rows)
