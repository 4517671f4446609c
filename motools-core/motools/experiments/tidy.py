"""Tidy results of a sweep, seed statistics, and checks against a task's paper protocol.

:func:`collate` gives one row per (member, task, scorer, metric, seed) with the sweep's
parameters as columns (named by the last segment of their config path where unambiguous:
``learning_rate`` for ``submit_training.hyperparameters.learning_rate``). :func:`summarise`
aggregates over seeds: mean and a t, Wilson or bootstrap interval per remaining group.

Tasks registered through the ``register_tasks`` hook may declare the protocol of their paper::

    register("em_first_plot", "mozoo.tasks.em:first_plot",
             protocol={"samples_per_question": 100, "temperature": 1.0,
                       "judge_model": "openai/gpt-4o-2024-08-06", "seeds": 3})

:func:`collate` warns (:class:`ProtocolWarning`) when a sweep used fewer samples per question
or fewer seeds than that, or another temperature or judge model where its config says.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from motools.evals.base import EvalResults
from motools.experiments.manifest import SUCCEEDED, Manifest, load_manifest
from motools.experiments.spec import short_names

if TYPE_CHECKING:
    import pandas as pd

    from motools.experiments.spec import SweepSpec
    from motools.experiments.sweep import SweepResult

#: Columns :func:`collate` always has besides the sweep parameters.
FIXED_COLUMNS = (
    "label", "seed", "task", "scorer", "metric", "value", "stderr", "n_samples",
    "samples_per_question", "model_id",
)  # fmt: skip
KEY_COLUMNS = ("task", "scorer", "metric")


class ProtocolWarning(UserWarning):
    """A sweep evaluated a task with less (or other) than its paper's protocol."""


def _manifest_of(
    sweep: SweepResult | Manifest | SweepSpec | str | os.PathLike[str],
    home: str | os.PathLike[str] | None,
) -> Manifest:
    from motools.experiments.sweep import SweepResult

    if isinstance(sweep, Manifest):
        return sweep
    if isinstance(sweep, SweepResult):
        return sweep.manifest()
    if isinstance(sweep, (str, os.PathLike)) and str(sweep).endswith(".jsonl"):
        return Manifest.read(sweep)
    return load_manifest(sweep, home=home)


def _cell(value: Any) -> Any:
    """Parameter values as DataFrame cells: scalars as they are, lists/dicts as JSON text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True)


def _get_path(config: Mapping[str, Any], path: str) -> Any:
    node: Any = config
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def collate_rows(manifest: Manifest) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The rows of :func:`collate` as dicts, and ``{column: dotted path}`` of the parameters."""
    names = short_names(manifest.params, reserved=FIXED_COLUMNS)
    rows: list[dict[str, Any]] = []
    for state in manifest.members.values():
        results = state.get("results") or {}
        if state.get("status") != SUCCEEDED or not results.get("metrics"):
            continue
        params = state.get("params") or {}
        config = state.get("config") or {}
        base: dict[str, Any] = {"label": state["label"]}
        for path in manifest.params:
            # A member that does not set a parameter (an ``include`` entry) has its config's value.
            value = params[path] if path in params else _get_path(config, path)
            base[names[path]] = _cell(value)
        base["seed"] = (state.get("config") or {}).get("seed")
        n_samples = results.get("n_samples") or {}
        per_question = results.get("samples_per_question") or {}
        evaluated = EvalResults(model_id=state.get("model_id") or "", metrics=results["metrics"])
        for summary in evaluated.summary_rows():
            task = summary["task"]
            rows.append(
                {
                    **base,
                    "task": task,
                    "scorer": summary["scorer"],
                    "metric": summary["metric"],
                    "value": summary["value"],
                    "stderr": summary["stderr"],
                    "n_samples": n_samples.get(task),
                    "samples_per_question": per_question.get(task),
                    "model_id": state.get("model_id"),
                }
            )
    return rows, {names[p]: p for p in manifest.params}


def collate(
    sweep: SweepResult | Manifest | SweepSpec | str | os.PathLike[str],
    *,
    home: str | os.PathLike[str] | None = None,
    check_protocol: bool = True,
) -> pd.DataFrame:
    """A tidy DataFrame: one row per (member, task, scorer, metric, seed).

    ``sweep`` is a :class:`SweepResult`, a :class:`Manifest`, a sweep spec or the path of a
    sweep file (its manifest is read from the motools home). Columns: ``label``, the sweep
    parameters, ``seed``, ``task``, ``scorer``, ``metric``, ``value``, ``stderr``,
    ``n_samples`` (scored samples of that task), ``samples_per_question``, ``model_id``.
    Only members that succeeded contribute rows. ``df.attrs["params"]`` maps each parameter
    column to its config path.
    """
    import pandas as pd

    manifest = _manifest_of(sweep, home)
    rows, params = collate_rows(manifest)
    # A parameter no collated member has a value for (set only by failed members) is noise.
    params = {c: p for c, p in params.items() if c == "seed" or any(r[c] is not None for r in rows)}
    columns = ["label", *[c for c in params if c != "seed"], *FIXED_COLUMNS[1:]]
    df = pd.DataFrame(rows, columns=columns)
    df.attrs["params"] = params
    df.attrs["sweep"] = manifest.sweep_id
    if check_protocol:
        found = protocol_warnings(df, manifest)
        df.attrs["protocol_warnings"] = found
        for message in found:
            warnings.warn(message, ProtocolWarning, stacklevel=2)
    return df


def _task_protocols(tasks: Iterable[str]) -> dict[str, dict[str, Any]]:
    try:
        from motools.plugins import registrations

        table = registrations("task")
    except Exception:  # a broken plugin must not stop results from being read
        return {}
    out = {}
    for task in tasks:
        reg = table.get(task)
        protocol = reg.metadata.get("protocol") if reg is not None else None
        if isinstance(protocol, Mapping):
            out[task] = dict(protocol)
    return out


def protocol_warnings(df: pd.DataFrame, manifest: Manifest | None = None) -> list[str]:
    """Messages for every way the sweep fell short of a task's declared paper protocol."""
    if df.empty:
        return []
    protocols = _task_protocols(sorted(df["task"].unique()))
    if not protocols:
        return []
    params = [c for c in df.attrs.get("params", {}) if c != "seed" and c in df.columns]
    messages = []
    for task, protocol in protocols.items():
        rows = df[df["task"] == task]
        want = protocol.get("samples_per_question")
        if isinstance(want, int) and rows["samples_per_question"].notna().any():
            used = int(rows["samples_per_question"].min())
            if used < want:
                messages.append(
                    f"task {task}: its paper protocol uses {want} samples per question; this "
                    f"sweep used {used} (set the evaluation's epochs/samples to {want} to match)"
                )
        want = protocol.get("seeds")
        if isinstance(want, int):
            per_group = rows.drop_duplicates("label")
            if params:
                counts = per_group.groupby(params, dropna=False)["seed"].nunique(dropna=False)
                used = int(counts.min())
            else:
                used = int(per_group["seed"].nunique(dropna=False))
            if used < want:
                messages.append(
                    f"task {task}: its paper protocol averages over {want} seeds; this sweep "
                    f"has {used} per setting (add seeds to the grid)"
                )
        if manifest is not None:
            messages.extend(_option_mismatches(task, protocol, rows, manifest))
    return messages


def _option_mismatches(
    task: str, protocol: Mapping[str, Any], rows: pd.DataFrame, manifest: Manifest
) -> list[str]:
    """Temperature / judge model set in a member's evaluate options that differ from the paper."""
    out = []
    for option in ("temperature", "judge_model"):
        want = protocol.get(option)
        if want is None:
            continue
        seen = set()
        for label in rows["label"].unique():
            config = manifest.members.get(label, {}).get("config") or {}
            options = (config.get("evaluate_model") or {}).get("options") or {}
            if option in options and options[option] != want:
                seen.add(options[option])
        if seen:
            used = ", ".join(map(str, sorted(seen, key=str)))
            out.append(
                f"task {task}: its paper protocol uses {option}={want}; this sweep used {used}"
            )
    return out


def summarise(
    df: pd.DataFrame,
    *,
    method: str = "t",
    confidence: float = 0.95,
    by: Iterable[str] | None = None,
    value: str = "value",
    resamples: int = 10_000,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and a confidence interval over seeds, one row per group.

    Groups default to every sweep parameter except ``seed``, plus task, scorer and metric.
    ``method``: ``t`` (Student t over per-seed values), ``wilson`` (per-seed proportions
    pooled by ``n_samples``, Wilson score interval) or ``bootstrap`` (percentile bootstrap
    of the mean, reproducible from ``seed``). Columns added: ``mean``, ``low``, ``high``,
    ``n_seeds``, ``n_samples`` (total), ``method``, ``confidence``. With one seed the t and
    bootstrap bounds are NaN.
    """
    import pandas as pd

    from motools.experiments.stats import mean_ci

    if by is None:
        params = [c for c in df.attrs.get("params", {}) if c != "seed" and c in df.columns]
        keys = [*params, *[k for k in KEY_COLUMNS if k in df.columns]]
    else:
        keys = list(by)
    missing = [k for k in [*keys, value] if k not in df.columns]
    if missing:
        raise KeyError(f"no column(s) {missing}; columns are {list(df.columns)}")
    out_rows = []
    if df.empty:
        return pd.DataFrame(
            columns=[*keys, "mean", "low", "high", "n_seeds", "n_samples", "method", "confidence"]
        )
    groups = df.groupby(keys, dropna=False, sort=True) if keys else [((), df)]
    for group_key, rows in groups:
        values = [float(v) for v in rows[value]]
        trials = (
            [float(n) if n is not None else math.nan for n in rows["n_samples"]]
            if "n_samples" in rows
            else None
        )
        interval = mean_ci(
            values, method, confidence, trials=trials, resamples=resamples, seed=seed
        )
        key_values = group_key if isinstance(group_key, tuple) else (group_key,)
        total = rows["n_samples"].sum(min_count=1) if "n_samples" in rows else None
        out_rows.append(
            {
                **dict(zip(keys, key_values, strict=True)),
                "mean": interval.mean,
                "low": interval.low,
                "high": interval.high,
                "n_seeds": len(rows),
                "n_samples": None if total is None or pd.isna(total) else int(total),
                "method": method,
                "confidence": confidence,
            }
        )
    result = pd.DataFrame(out_rows)
    result.attrs = dict(df.attrs)
    return result
