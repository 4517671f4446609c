"""Plots of a sweep: a metric against a sweep parameter, mean and interval over seeds.

One panel per task (and per metric or scorer when there are several; ``facet=`` chooses),
one line per group (every other parameter that varies; ``group=`` chooses), so the legend
never mixes tasks with groups. Error bars come from
:func:`~motools.experiments.tidy.summarise`; the y label names the metric and the interval
method, a caption (or a label per point) gives the seeds and samples behind each point,
protocol warnings are printed under the plot, and ``reference=True`` draws the paper's number
from the task registration as a dashed line.

The file type follows ``out``'s suffix: PNG (``dpi``), PDF or SVG, through matplotlib's
canvases (``pip install 'motools-core[plots]'``); optionally a self-contained interactive
HTML file (inline SVG and a few lines of script: hover a point for its numbers, click a legend
entry to hide its line; nothing is fetched from the network).
"""

from __future__ import annotations

import html as html_lib
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from motools.errors import MotoolsError, ValidationError

if TYPE_CHECKING:
    import pandas as pd

COLORS = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
]  # fmt: skip
FORMATS = ("png", "pdf", "svg")
FACETS = ("task", "metric", "scorer")


def _matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as exc:
        raise MotoolsError(
            "plotting needs matplotlib, which is not installed: "
            "`pip install 'motools-core[plots]'` (or `pip install matplotlib`)"
        ) from exc
    return matplotlib


def _column(df: pd.DataFrame, name: str, what: str) -> str:
    """Accept a column name or the dotted config path of a parameter column."""
    if name in df.columns:
        return name
    for column, path in df.attrs.get("params", {}).items():
        if path == name:
            return str(column)
    params = list(df.attrs.get("params", {}))
    raise ValidationError(
        f"{what} {name!r} is not a column of the sweep results; parameters are "
        f"{', '.join(params) or '(none)'}, other columns {', '.join(map(str, df.columns))}"
    )


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


def prepare(
    data: Any,
    metric: str | Sequence[str],
    x: str,
    *,
    group: str | Sequence[str] | None = None,
    facet: str | Sequence[str] | None = None,
    task: str | None = None,
    scorer: str | None = None,
    method: str = "t",
    confidence: float = 0.95,
    samples: pd.DataFrame | None = None,
    reference: bool = False,
) -> tuple[pd.DataFrame, str, list[str], list[str]]:
    """The summary that a plot shows: ``(summary, x column, group columns, facet columns)``.

    ``data`` is what :func:`~motools.experiments.tidy.collate` accepts (its per-sample scores
    are then read too) or a collated DataFrame (pass ``samples=`` from ``collate_samples``).
    """
    import pandas as pd

    from motools.experiments.tidy import collate, collate_samples, summarise

    if isinstance(data, pd.DataFrame):
        df = data
    else:
        df = collate(data)
        if samples is None:
            samples = collate_samples(data)
    if df.empty:
        raise ValidationError("the sweep has no results yet (no member has succeeded)")
    metrics = _names(metric) or []
    known = set(df["metric"])
    for m in metrics:
        if m not in known:
            raise ValidationError(
                f"no metric {m!r} in the sweep results; metrics are {', '.join(sorted(known))}"
            )
    rows = df[df["metric"].isin(metrics)]
    for column, wanted in (("task", task), ("scorer", scorer)):
        if wanted is not None:
            if wanted not in set(rows[column]):
                raise ValidationError(
                    f"no {column} {wanted!r} reports {', '.join(metrics)}; "
                    f"{column}s: {', '.join(sorted(set(rows[column])))}"
                )
            rows = rows[rows[column] == wanted]
    x_col = _column(df, x, "x")
    facets = _names(facet)
    if facets is None:  # a panel per task, metric and scorer there is more than one of
        explicit = set(_names(group) or [])
        facets = [c for c in FACETS if c not in explicit and rows[c].nunique() > 1]
    else:
        facets = [_column(df, f, "facet") for f in facets]
    if group is None:
        params = [c for c in df.attrs.get("params", {}) if c not in ("seed", x_col, *facets)]
        groups = [c for c in params if rows[c].nunique(dropna=False) > 1]
    else:
        groups = [_column(df, g, "group") for g in _names(group) or []]
    for column in FACETS:  # several tasks/metrics/scorers must be told apart somewhere
        if column not in facets and column not in groups and rows[column].nunique() > 1:
            facets.append(column)
    rows = rows.copy()
    rows.attrs = dict(df.attrs)
    by = [*facets, *[g for g in groups if g not in facets], x_col]
    by += [k for k in FACETS if k not in by]
    summary = summarise(
        rows, samples=samples, method=method, confidence=confidence, by=by, reference=reference
    )
    return summary, x_col, groups, facets


def _numeric(values: Sequence[Any]) -> bool:
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
        for v in values
    )


@dataclass(frozen=True)
class Panel:
    """One set of axes: its title, y label, lines and the paper's reference line."""

    title: str
    ylabel: str
    series: list[tuple[str, list[dict[str, Any]]]]
    reference: tuple[float, str] | None = None


@dataclass(frozen=True)
class ChartSpec:
    """Everything a renderer (PNG/PDF/SVG, HTML) draws."""

    panels: list[Panel]
    order: list[Any]
    numeric: bool
    logx: bool
    x_col: str
    title: str
    groups: list[str]
    #: Seeds and samples behind the points, and how the intervals were made.
    caption: str
    warnings: list[str]
    #: Points differ in their number of seeds: each is labelled ``n=SEEDS``.
    label_points: bool = False


def _short_interval(label: str) -> str:
    """The interval method of a :func:`summarise` label, short enough for an axis."""
    clipped = ", clipped" if "clipped to" in label else ""
    for prefix, short in (
        ("t over", "t over seed means"),
        ("cluster bootstrap", "cluster bootstrap"),
        ("bootstrap over", "bootstrap over seed means"),
        ("one seed: Wilson", "one seed: Wilson"),
        ("one seed: t", "one seed: t over samples"),
        ("one seed: normal", "one seed: normal, stderr"),
        ("one seed: bootstrap", "one seed: bootstrap"),
    ):
        if label.startswith(prefix):
            return short + clipped
    return label


def chart_spec(
    summary: pd.DataFrame,
    x_col: str,
    groups: list[str],
    facets: list[str],
    *,
    confidence: float,
    logx: bool | None,
    title: str | None,
) -> ChartSpec:
    """Panels and series of a :func:`prepare` summary."""
    xs = list(dict.fromkeys(summary[x_col].tolist()))
    numeric = _numeric(xs)
    order = sorted(xs) if numeric else sorted(xs, key=str)
    position = {v: (v if numeric else i) for i, v in enumerate(order)}
    if logx is None:
        logx = numeric and min(order) > 0 and max(order) / min(order) >= 100
    panels = []
    split = summary.groupby(facets, dropna=False, sort=True) if facets else [((), summary)]
    for key, part in split:
        key = key if isinstance(key, tuple) else (key,)
        metric = str(part["metric"].iloc[0])
        series = []
        grouped = part.groupby(groups, dropna=False, sort=True) if groups else [((), part)]
        for gkey, rows in grouped:
            gkey = gkey if isinstance(gkey, tuple) else (gkey,)
            if len(groups) == 1:  # the legend's title names the column
                name = str(gkey[0])
            else:
                name = ", ".join(f"{g}={v}" for g, v in zip(groups, gkey, strict=True)) or "mean"
            points = [
                {
                    "x": position[r[x_col]],
                    "x_label": r[x_col],
                    "mean": float(r["mean"]),
                    "low": float(r["low"]),
                    "high": float(r["high"]),
                    "n_seeds": int(r["n_seeds"]),
                    "n_samples": _count(r["n_samples"]),
                }
                for r in rows.to_dict("records")
            ]
            points.sort(key=lambda p: p["x"])
            series.append((name, points))
        methods = " / ".join(dict.fromkeys(map(_short_interval, part["interval"])))
        ylabel = f"{metric}: mean, {round(confidence * 100)}% CI\n({methods})"
        reference = None
        if "reference" in part and part["reference"].notna().any():
            ref_rows = part[part["reference"].notna()]
            reference = (
                float(ref_rows["reference"].iloc[0]),
                str(ref_rows["reference_source"].iloc[0]),
            )
        panel_title = ", ".join(
            f"{f}={v}" if f != "task" else str(v) for f, v in zip(facets, key, strict=True)
        )
        panels.append(Panel(panel_title, ylabel, series, reference))
    seeds = {(int(r["n_seeds"]), _count(r["n_samples"])) for r in summary.to_dict("records")}
    caption = None
    if len(seeds) == 1:
        n_seeds, n_samples = next(iter(seeds))
        per = f" ({n_samples} scored samples in all)" if n_samples is not None else ""
        caption = f"Each point: mean over {n_seeds} seed{'s' if n_seeds != 1 else ''}{per}."
    labels = Counter(summary["interval"])
    notes = [f"Interval: {label}" + (f" ({n} point{'s' if n != 1 else ''})" if len(labels) > 1 else "") + "."
             for label, n in labels.items()]  # fmt: skip
    if caption is None:
        caption = "n = seeds behind each point."
    caption = " ".join([caption, *notes])
    warnings = []
    if "warning" in summary:
        for task, text in zip(summary["task"], summary["warning"], strict=True):
            line = f"Protocol warning, {task}: {text}"
            if text and line not in warnings:
                warnings.append(line)
    sweep = summary.attrs.get("sweep")
    metrics = ", ".join(dict.fromkeys(map(str, summary["metric"])))
    default = f"{metrics} vs {x_col}"
    return ChartSpec(
        panels=panels,
        order=order,
        numeric=numeric,
        logx=bool(logx),
        x_col=x_col,
        title=title or (f"{sweep}: {default}" if sweep else default),
        groups=groups,
        caption=caption,
        warnings=warnings,
        label_points=len(seeds) > 1,
    )


def _count(value: Any) -> int | None:
    try:
        return None if value is None or value != value else int(value)  # NaN != NaN
    except TypeError:  # pd.NA
        return None


def plot_metric(
    data: Any,
    metric: str | Sequence[str],
    x: str,
    *,
    out: str | os.PathLike[str] = "plot.png",
    html: str | os.PathLike[str] | None = None,
    group: str | Sequence[str] | None = None,
    facet: str | Sequence[str] | None = None,
    task: str | None = None,
    scorer: str | None = None,
    method: str = "t",
    confidence: float = 0.95,
    samples: pd.DataFrame | None = None,
    reference: bool = False,
    logx: bool | None = None,
    title: str | None = None,
    dpi: int = 150,
) -> pd.DataFrame:
    """Plot ``metric`` against sweep parameter ``x``; write ``out`` (and HTML); return the summary.

    ``out``'s suffix picks the format: ``.png`` (at ``dpi``), ``.pdf`` or ``.svg`` (vector).
    ``facet`` (``"task"``, ``"metric"``, ``"scorer"``) gives one panel per value; by default
    there is one per task, metric and scorer that varies. ``group`` names the parameter(s)
    with one line each. ``reference=True`` draws the paper's number a task registration
    declares (``reference`` metadata). ``logx`` defaults to a log axis when ``x`` is positive
    and spans two decades or more (learning rates).
    """
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValidationError(
            f"cannot write {out.name!r}: the plot's file type follows its suffix, one of "
            f"{', '.join('.' + f for f in FORMATS)}"
        )
    _matplotlib()  # fail before any work when matplotlib is missing
    summary, x_col, groups, facets = prepare(
        data,
        metric,
        x,
        group=group,
        facet=facet,
        task=task,
        scorer=scorer,
        method=method,
        confidence=confidence,
        samples=samples,
        reference=reference,
    )
    chart = chart_spec(
        summary, x_col, groups, facets, confidence=confidence, logx=logx, title=title
    )
    _figure(out, fmt, chart, dpi)
    if html is not None:
        _html(Path(html), chart)
    return summary


def _dodge(x: Any, i: int, count: int, order: list[Any], numeric: bool, logx: bool) -> Any:
    """Shift line ``i`` of ``count`` sideways a little so error bars at one x do not overlap."""
    if count < 2:
        return x
    shift = (i - (count - 1) / 2) * 0.012
    if not numeric:
        return x + shift * max(1, len(order) - 1)
    if logx:
        span = math.log10(max(order)) - math.log10(min(order)) or 1.0
        return x * 10 ** (shift * span)
    span = (max(order) - min(order)) or 1.0
    return x + shift * span


def _figure(path: Path, fmt: str, chart: ChartSpec, dpi: int) -> None:
    """PNG, PDF or SVG through matplotlib (no pyplot, no global backend)."""
    from matplotlib.figure import Figure

    n = len(chart.panels)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    footer = [*_wrap(chart.caption, 40 + 55 * min(len(chart.panels), 3)), *chart.warnings]
    width = 5.4 * ncols + (2.0 if chart.groups or len(chart.panels[0].series) > 1 else 0.4)
    height = 3.9 * nrows + 0.55 + 0.22 * len(footer)
    fig = Figure(figsize=(width, height), layout="constrained")
    bottom = (0.12 + 0.22 * len(footer)) / height if footer else 0.0
    fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True).ravel()
    handles: dict[str, Any] = {}
    for ax, panel in zip(axes, chart.panels, strict=False):
        for i, (name, points) in enumerate(panel.series):
            xs = [_dodge(p["x"], i, len(panel.series), chart.order, chart.numeric, chart.logx)
                  for p in points]  # fmt: skip
            means = [p["mean"] for p in points]
            below = [0.0 if math.isnan(p["low"]) else p["mean"] - p["low"] for p in points]
            above = [0.0 if math.isnan(p["high"]) else p["high"] - p["mean"] for p in points]
            color = COLORS[i % len(COLORS)]
            line = ax.errorbar(
                xs, means, yerr=[below, above], marker="o", capsize=4, linewidth=1.6,
                color=color, label=name,
            )  # fmt: skip
            handles.setdefault(name, line)
            if chart.label_points:  # seeds differ between points: say so at each
                for px, p in zip(xs, points, strict=True):
                    ax.annotate(
                        f"n={p['n_seeds']}", (px, p["mean"]), textcoords="offset points",
                        xytext=(5, 4), fontsize="x-small", color=color,
                    )  # fmt: skip
        if panel.reference is not None:
            value, source = panel.reference
            ref = ax.axhline(value, color="#444", linestyle="--", linewidth=1.1)
            handles.setdefault(f"paper ({source}): {value:g}", ref)
        if chart.logx:
            ax.set_xscale("log")
        if chart.numeric:
            ax.set_xticks(chart.order)
            ax.set_xticklabels([f"{v:g}" for v in chart.order])
            ax.minorticks_off()
        else:
            ax.set_xticks(range(len(chart.order)))
            ax.set_xticklabels([str(v) for v in chart.order])
        ax.set_xlabel(chart.x_col)
        ax.set_ylabel(panel.ylabel, fontsize="small", wrap=True)
        if panel.title:
            ax.set_title(panel.title, fontsize="medium")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(chart.panels) :]:
        ax.set_visible(False)
    fig.suptitle(chart.title)
    if len(handles) > 1 or chart.groups:
        fig.legend(
            list(handles.values()), list(handles), loc="outside right upper",
            title=", ".join(chart.groups) or None, fontsize="small",
        )  # fmt: skip
    for k, line in enumerate(footer):
        color = "#a33" if line.startswith("Protocol warning") else "#333"
        fig.text(0.01, (0.06 + 0.22 * (len(footer) - 1 - k)) / height, line,
                 fontsize="small", color=color)  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"format": fmt}
    if fmt == "png":
        options["dpi"] = dpi
    if fmt == "pdf":
        options["metadata"] = {"Title": chart.title, "Creator": "motools"}
    fig.savefig(path, **options)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` tick values on round numbers (1, 2 or 5 times a power of ten)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    ticks = []
    k = first
    while k * step <= high + 1e-9 * step:
        ticks.append(round(k * step, 12))
        k += 1
    return ticks


def _html(path: Path, chart: ChartSpec) -> None:
    """A self-contained interactive chart: inline SVG per panel, hover tooltips, a legend
    whose entries hide or show their line in every panel, y ticks on round values."""
    esc = html_lib.escape
    svgs = [_svg_panel(panel, chart) for panel in chart.panels]
    names = list(dict.fromkeys(name for panel in chart.panels for name, _ in panel.series))
    legend = "".join(
        f'<span class="legend" data-series="{i}" style="cursor:pointer;margin-right:14px">'
        f'<span style="display:inline-block;width:14px;height:10px;background:'
        f'{COLORS[i % len(COLORS)]}"></span> {esc(name)}</span>'
        for i, name in enumerate(names)
    )
    rows = "".join(
        f"<tr><td>{esc(panel.title)}</td><td>{esc(name)}</td><td>{esc(str(p['x_label']))}</td>"
        f"<td>{p['mean']:.4g}</td><td>{p['low']:.4g}</td><td>{p['high']:.4g}</td>"
        f"<td>{p['n_seeds']}</td><td>{'' if p['n_samples'] is None else p['n_samples']}</td></tr>"
        for panel in chart.panels
        for name, points in panel.series
        for p in points
    )
    notes = "".join(
        f'<p class="{"warn" if line.startswith("Protocol") else "note"}">{esc(line)}</p>'
        for line in [chart.caption, *chart.warnings]
    )
    script = (
        "document.querySelectorAll('.legend').forEach(function(l){l.addEventListener('click',"
        "function(){var hidden=l.style.opacity==='0.35';"
        "document.querySelectorAll('g.series[data-series=\"'+l.dataset.series+'\"]')"
        ".forEach(function(s){s.style.display=hidden?'':'none';});"
        "l.style.opacity=hidden?1:0.35;});});"
    )
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{esc(chart.title)}</title><style>body{{font:13px sans-serif;margin:16px}}"
        "svg text{font:12px sans-serif}table{border-collapse:collapse;margin-top:12px}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}.warn{color:#a33}"
        "</style></head><body>"
        f"<h3>{esc(chart.title)}</h3><div>{esc(', '.join(chart.groups))}{': ' if chart.groups else ''}"
        f"{legend}</div>"
        + "".join(svgs)
        + notes
        + "<p>Hover a point for its numbers; click a legend entry to hide or show its line.</p>"
        f"<table><tr><th>panel</th><th>group</th><th>{esc(chart.x_col)}</th><th>mean</th>"
        f"<th>low</th><th>high</th><th>seeds</th><th>samples</th></tr>{rows}</table>"
        f"<script>{script}</script></body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)


def _svg_panel(panel: Panel, chart: ChartSpec) -> str:
    esc = html_lib.escape
    order, numeric, logx = chart.order, chart.numeric, chart.logx
    width, height = 760, 400
    left, right, top, bottom = 80, 30, 34, 55
    pw, ph = width - left - right, height - top - bottom
    xs = (
        [(math.log10(v) if logx else float(v)) for v in order]
        if numeric
        else [float(i) for i in range(len(order))]
    )
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pad = (x_hi - x_lo) * 0.06
    x_lo, x_hi = x_lo - pad, x_hi + pad
    ys = [
        v
        for _, pts in panel.series
        for p in pts
        for v in (p["mean"], p["low"], p["high"])
        if not math.isnan(v)
    ]
    if panel.reference is not None:
        ys.append(panel.reference[0])
    y_lo, y_hi = min(ys), max(ys)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    ticks = nice_ticks(y_lo, y_hi)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    # The axis runs from the round tick at or below the data to the one at or above it.
    y_lo = min(y_lo, math.floor(y_lo / step + 1e-9) * step)
    y_hi = max(y_hi, math.ceil(y_hi / step - 1e-9) * step)
    ticks = nice_ticks(y_lo, y_hi)

    def sx(v: Any) -> float:
        t = (math.log10(v) if logx else float(v)) if numeric else float(v)
        return left + (t - x_lo) / (x_hi - x_lo) * pw

    def sy(v: float) -> float:
        return top + (1 - (v - y_lo) / (y_hi - y_lo)) * ph

    parts = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>',
    ]
    for i, v in enumerate(order):
        px = sx(v if numeric else i)
        label = f"{v:g}" if numeric else str(v)
        parts.append(
            f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{top + ph}" stroke="#eee"/>'
            f'<text x="{px:.1f}" y="{top + ph + 18}" text-anchor="middle">{esc(label)}</text>'
        )
    for v in ticks:
        py = sy(v)
        parts.append(
            f'<line x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" stroke="#eee"/>'
            f'<text class="ytick" x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{v:g}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 12}" text-anchor="middle">{esc(chart.x_col)}'
        f'</text><text transform="translate(16 {top + ph / 2}) rotate(-90)" '
        f'text-anchor="middle" font-size="11">{esc(panel.ylabel)}</text>'
        f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-weight="bold">'
        f"{esc(panel.title)}</text>"
    )
    if panel.reference is not None:
        value, source = panel.reference
        py = sy(value)
        parts.append(
            f'<line class="reference" x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" '
            f'stroke="#444" stroke-dasharray="6 4"/><text x="{left + pw - 4}" y="{py - 5:.1f}" '
            f'text-anchor="end" fill="#444">paper ({esc(source)}): {value:g}</text>'
        )
    names = list(dict.fromkeys(name for p in chart.panels for name, _ in p.series))
    for name, points in panel.series:
        i = names.index(name)
        color = COLORS[i % len(COLORS)]
        path_d = " ".join(
            f"{'M' if j == 0 else 'L'}{sx(p['x']):.1f},{sy(p['mean']):.1f}"
            for j, p in enumerate(points)
        )
        g = [f'<g class="series" data-series="{i}">']
        g.append(f'<path d="{path_d}" fill="none" stroke="{color}" stroke-width="2"/>')
        for p in points:
            px, py = sx(p["x"]), sy(p["mean"])
            if not math.isnan(p["low"]) and not math.isnan(p["high"]):
                lo, hi = sy(p["low"]), sy(p["high"])
                g.append(
                    f'<path d="M{px:.1f},{lo:.1f} L{px:.1f},{hi:.1f} M{px - 4:.1f},{lo:.1f} '
                    f'L{px + 4:.1f},{lo:.1f} M{px - 4:.1f},{hi:.1f} L{px + 4:.1f},{hi:.1f}" '
                    f'stroke="{color}" stroke-width="1.5"/>'
                )
            tip = (
                f"{name}\n{chart.x_col}={p['x_label']}\nmean={p['mean']:.4g}\n"
                f"interval=[{p['low']:.4g}, {p['high']:.4g}]\nseeds={p['n_seeds']}"
            )
            g.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{color}">'
                f"<title>{esc(tip)}</title></circle>"
            )
            if chart.label_points:
                g.append(
                    f'<text x="{px + 7:.1f}" y="{py - 6:.1f}" font-size="10" fill="{color}">'
                    f"n={p['n_seeds']}</text>"
                )
        g.append("</g>")
        parts.extend(g)
    parts.append("</svg>")
    return "".join(parts)
