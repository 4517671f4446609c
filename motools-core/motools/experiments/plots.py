"""Plots of a sweep: a metric against a sweep parameter, mean and interval over seeds.

One line per group (by default every other parameter that varies, and the task or scorer when
there are several), error bars from :func:`~motools.experiments.tidy.summarise`. PNG via
matplotlib's Agg canvas (``pip install 'motools-core[plots]'``), and optionally a
self-contained interactive HTML file (inline SVG and a few lines of script: hover a point for
its numbers, click a legend entry to hide its line; nothing is fetched from the network).
"""

from __future__ import annotations

import html as html_lib
import math
import os
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


def prepare(
    data: Any,
    metric: str,
    x: str,
    *,
    group: str | Sequence[str] | None = None,
    task: str | None = None,
    scorer: str | None = None,
    method: str = "t",
    confidence: float = 0.95,
) -> tuple[pd.DataFrame, str, list[str]]:
    """The summary that a plot shows: ``(summary, x column, group columns)``."""
    import pandas as pd

    from motools.experiments.tidy import collate, summarise

    df = data if isinstance(data, pd.DataFrame) else collate(data)
    if df.empty:
        raise ValidationError("the sweep has no results yet (no member has succeeded)")
    if metric not in set(df["metric"]):
        raise ValidationError(
            f"no metric {metric!r} in the sweep results; metrics are "
            f"{', '.join(sorted(set(df['metric'])))}"
        )
    rows = df[df["metric"] == metric]
    for column, wanted in (("task", task), ("scorer", scorer)):
        if wanted is not None:
            if wanted not in set(rows[column]):
                raise ValidationError(
                    f"no {column} {wanted!r} reports {metric!r}; "
                    f"{column}s: {', '.join(sorted(set(rows[column])))}"
                )
            rows = rows[rows[column] == wanted]
    x_col = _column(df, x, "x")
    if group is None:
        params = [c for c in df.attrs.get("params", {}) if c not in ("seed", x_col)]
        groups = [c for c in params if rows[c].nunique(dropna=False) > 1]
    else:
        names = [group] if isinstance(group, str) else list(group)
        groups = [_column(df, g, "group") for g in names]
    for column in ("task", "scorer"):
        if column not in groups and rows[column].nunique() > 1:
            groups.append(column)
    rows = rows.copy()
    rows.attrs = dict(df.attrs)
    summary = summarise(rows, method=method, confidence=confidence, by=[*groups, x_col])
    return summary, x_col, groups


@dataclass(frozen=True)
class ChartSpec:
    """Everything a renderer (PNG, HTML) draws: the series and how to label them."""

    series: list[tuple[str, list[dict[str, Any]]]]
    order: list[Any]
    numeric: bool
    logx: bool
    x_col: str
    ylabel: str
    title: str
    groups: list[str]


def _numeric(values: Sequence[Any]) -> bool:
    return all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
        for v in values
    )


def _series(
    summary: pd.DataFrame, x_col: str, groups: list[str]
) -> tuple[list[tuple[str, list[dict[str, Any]]]], list[Any], bool]:
    xs = list(dict.fromkeys(summary[x_col].tolist()))
    numeric = _numeric(xs)
    order = sorted(xs) if numeric else sorted(xs, key=str)
    position = {v: (v if numeric else i) for i, v in enumerate(order)}
    series: list[tuple[str, list[dict[str, Any]]]] = []
    grouped = summary.groupby(groups, dropna=False, sort=True) if groups else [((), summary)]
    for key, rows in grouped:
        key = key if isinstance(key, tuple) else (key,)
        if len(groups) == 1:  # the legend's title names the column
            name = str(key[0])
        else:
            name = ", ".join(f"{g}={v}" for g, v in zip(groups, key, strict=True)) or "mean"
        points = [
            {
                "x": position[r[x_col]],
                "x_label": r[x_col],
                "mean": float(r["mean"]),
                "low": float(r["low"]),
                "high": float(r["high"]),
                "n_seeds": int(r["n_seeds"]),
            }
            for r in rows.to_dict("records")
        ]
        points.sort(key=lambda p: p["x"])
        series.append((name, points))
    return series, order, numeric


def plot_metric(
    data: Any,
    metric: str,
    x: str,
    *,
    out: str | os.PathLike[str] = "plot.png",
    html: str | os.PathLike[str] | None = None,
    group: str | Sequence[str] | None = None,
    task: str | None = None,
    scorer: str | None = None,
    method: str = "t",
    confidence: float = 0.95,
    logx: bool | None = None,
    title: str | None = None,
) -> pd.DataFrame:
    """Plot ``metric`` against sweep parameter ``x``; write a PNG (and HTML); return the summary.

    ``data`` is what :func:`~motools.experiments.tidy.collate` accepts, or its DataFrame.
    ``logx`` defaults to a log axis when ``x`` is positive and spans two decades or more
    (learning rates).
    """
    summary, x_col, groups = prepare(
        data, metric, x, group=group, task=task, scorer=scorer, method=method, confidence=confidence
    )
    series, order, numeric = _series(summary, x_col, groups)
    if logx is None:
        logx = numeric and min(order) > 0 and max(order) / min(order) >= 100
    sweep = summary.attrs.get("sweep")
    title = title or (f"{sweep}: {metric} vs {x_col}" if sweep else f"{metric} vs {x_col}")
    ylabel = f"{metric} (mean, {round(confidence * 100)}% CI: {method})"
    chart = ChartSpec(series, order, numeric, bool(logx), x_col, ylabel, title, groups)
    _png(Path(out), chart)
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


def _png(path: Path, chart: ChartSpec) -> None:
    series, order, numeric, logx = chart.series, chart.order, chart.numeric, chart.logx
    x_col, ylabel, title, groups = chart.x_col, chart.ylabel, chart.title, chart.groups
    _matplotlib()
    from matplotlib.figure import Figure  # an Agg canvas; no pyplot, no global backend

    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    for i, (name, points) in enumerate(series):
        xs = [_dodge(p["x"], i, len(series), order, numeric, logx) for p in points]
        means = [p["mean"] for p in points]
        below = [0.0 if math.isnan(p["low"]) else p["mean"] - p["low"] for p in points]
        above = [0.0 if math.isnan(p["high"]) else p["high"] - p["mean"] for p in points]
        ax.errorbar(
            xs,
            means,
            yerr=[below, above],
            marker="o",
            capsize=4,
            linewidth=1.6,
            color=COLORS[i % len(COLORS)],
            label=name,
        )
    if logx:
        ax.set_xscale("log")
    if numeric:
        ax.set_xticks(order)
        ax.set_xticklabels([f"{v:g}" for v in order])
        ax.minorticks_off()
    else:
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([str(v) for v in order])
    ax.set_xlabel(x_col)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(series) > 1 or groups:
        ax.legend(title=", ".join(groups) or None, fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150, format="png")


def _html(path: Path, chart: ChartSpec) -> None:
    """A self-contained interactive chart: inline SVG, hover tooltips, click-to-hide legend."""
    series, order, numeric, logx = chart.series, chart.order, chart.numeric, chart.logx
    x_col, ylabel, title, groups = chart.x_col, chart.ylabel, chart.title, chart.groups
    width, height = 760, 440
    left, right, top, bottom = 70, 220, 40, 55
    pw, ph = width - left - right, height - top - bottom
    if numeric:
        xs = [math.log10(v) if logx else float(v) for v in order]
    else:
        xs = [float(i) for i in range(len(order))]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pad = (x_hi - x_lo) * 0.06
    x_lo, x_hi = x_lo - pad, x_hi + pad
    ys = [
        v
        for _, pts in series
        for p in pts
        for v in (p["mean"], p["low"], p["high"])
        if not math.isnan(v)
    ]
    y_lo, y_hi = min(ys), max(ys)
    if y_hi == y_lo:
        y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
    pad = (y_hi - y_lo) * 0.08
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def sx(v: Any) -> float:
        t = (math.log10(v) if logx else float(v)) if numeric else float(v)
        return left + (t - x_lo) / (x_hi - x_lo) * pw

    def sy(v: float) -> float:
        return top + (1 - (v - y_lo) / (y_hi - y_lo)) * ph

    esc = html_lib.escape
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
    for k in range(6):
        v = y_lo + (y_hi - y_lo) * k / 5
        py = sy(v)
        parts.append(
            f'<line x1="{left}" y1="{py:.1f}" x2="{left + pw}" y2="{py:.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{v:.3g}</text>'
        )
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 12}" text-anchor="middle">{esc(x_col)}</text>'
        f'<text transform="translate(16 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
        f"{esc(ylabel)}</text>"
        f'<text x="{left + pw / 2}" y="22" text-anchor="middle" font-weight="bold">'
        f"{esc(title)}</text>"
    )
    for i, (name, points) in enumerate(series):
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
                f"{name}\n{x_col}={p['x_label']}\nmean={p['mean']:.4g}\n"
                f"interval=[{p['low']:.4g}, {p['high']:.4g}]\nseeds={p['n_seeds']}"
            )
            g.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="5" fill="{color}">'
                f"<title>{esc(tip)}</title></circle>"
            )
        g.append("</g>")
        parts.extend(g)
        ly = top + 14 + i * 20
        parts.append(
            f'<g class="legend" data-series="{i}" style="cursor:pointer">'
            f'<rect x="{left + pw + 14}" y="{ly - 9}" width="14" height="10" fill="{color}"/>'
            f'<text x="{left + pw + 34}" y="{ly}">{esc(name)}</text></g>'
        )
    parts.append("</svg>")
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(str(p['x_label']))}</td><td>{p['mean']:.4g}</td>"
        f"<td>{p['low']:.4g}</td><td>{p['high']:.4g}</td><td>{p['n_seeds']}</td></tr>"
        for name, points in series
        for p in points
    )
    script = (
        "document.querySelectorAll('g.legend').forEach(function(l){l.addEventListener('click',"
        "function(){var s=document.querySelector('g.series[data-series=\"'+l.dataset.series+'\"]');"
        "var hidden=s.style.display==='none';s.style.display=hidden?'':'none';"
        "l.style.opacity=hidden?1:0.35;});});"
    )
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>body{{font:13px sans-serif;margin:16px}}"
        "svg text{font:12px sans-serif}table{border-collapse:collapse;margin-top:12px}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>"
        + "".join(parts)
        + f"<p>Hover a point for its numbers; click a legend entry to hide or show its line. "
        f"Groups: {esc(', '.join(groups) or 'none')}.</p>"
        f"<table><tr><th>group</th><th>{esc(x_col)}</th><th>mean</th><th>low</th><th>high</th>"
        f"<th>seeds</th></tr>{rows}</table><script>{script}</script></body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
