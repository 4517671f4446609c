"""Tidy results of a sweep, seed statistics, paired comparisons, and paper-protocol checks.

:func:`collate` gives one row per (member, task, scorer, metric, seed) with the sweep's
parameters as columns (named by the last segment of their config path where unambiguous:
``learning_rate`` for ``submit_training.hyperparameters.learning_rate``);
:func:`collate_samples` one row per scored sample. :func:`summarise` aggregates over seeds
(mean, an interval that respects seeds -- see :mod:`motools.experiments.stats` -- the number
of seeds and samples, and protocol warnings); :func:`compare` gives the difference between
two settings, paired by seed and sample, with an interval and a p-value.

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
    "label", "seed", "task", "task_name", "scorer", "metric", "value", "stderr", "n_samples",
    "samples_per_question", "model_id",
)  # fmt: skip
#: Columns :func:`collate_samples` always has besides the sweep parameters.
SAMPLE_COLUMNS = (
    "label", "seed", "task", "task_name", "scorer", "sample_id", "epoch", "score", "raw",
    "model_id",
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
        evaluated = EvalResults(
            model_id=state.get("model_id") or "",
            metrics=results["metrics"],
            metadata={"task_names": results.get("task_names") or {}},
        )
        for summary in evaluated.summary_rows():
            task = summary["task"]
            rows.append(
                {
                    **base,
                    "task": task,
                    "task_name": summary["task_name"],
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
    parameters, ``seed``, ``task`` (as written in the config), ``task_name`` (the backend's
    canonical name), ``scorer``, ``metric``, ``value``, ``stderr``,
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


def _store_of(manifest: Manifest, home: str | os.PathLike[str] | None) -> Any:
    from motools.cache.store import open_store

    # The manifest lives in HOME/sweeps/, beside the store that holds the members' results.
    return open_store(home if home is not None else manifest.path.parent.parent)


def collate_samples(
    sweep: SweepResult | Manifest | SweepSpec | str | os.PathLike[str],
    *,
    home: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """One row per scored sample of every member that succeeded.

    Columns: ``label``, the sweep parameters, ``seed``, ``task``, ``task_name``, ``scorer``,
    ``sample_id``, ``epoch``, ``score`` (a float; NaN where the score has no numeric
    reading), ``raw`` (the score as the backend gave it) and ``model_id``. The samples are read
    from the results the store holds for each member (``df.attrs["missing"]`` lists members
    whose results are no longer there).
    """
    import pandas as pd

    manifest = _manifest_of(sweep, home)
    store = _store_of(manifest, home)
    names = short_names(manifest.params, reserved=SAMPLE_COLUMNS)
    param_columns = {names[p]: p for p in manifest.params if names[p] != "seed"}
    data: dict[str, list[Any]] = {c: [] for c in (*SAMPLE_COLUMNS, *param_columns)}
    missing = []
    number = EvalResults.numeric_score
    for state in manifest.members.values():
        results = state.get("results") or {}
        if state.get("status") != SUCCEEDED or not results.get("metrics"):
            continue
        blob = _results_blob(store, results.get("cache_key"))
        if blob is None:
            missing.append(state["label"])
            continue
        params = state.get("params") or {}
        config = state.get("config") or {}
        values = {
            column: _cell(params[path] if path in params else _get_path(config, path))
            for column, path in param_columns.items()
        }
        task_names = results.get("task_names") or (blob.get("metadata") or {}).get("task_names")
        task_names = task_names or {}
        label, seed, model_id = state["label"], config.get("seed"), state.get("model_id")
        for record in blob.get("samples") or []:
            raw_scores = record.get("raw_scores") or {}
            task = record.get("task")
            for scorer, score in (record.get("scores") or {}).items():
                numeric = number(score)
                data["label"].append(label)
                data["seed"].append(seed)
                data["task"].append(task)
                data["task_name"].append(task_names.get(task, task))
                data["scorer"].append(scorer)
                data["sample_id"].append(_cell(record.get("id")))
                data["epoch"].append(record.get("epoch"))
                data["score"].append(math.nan if numeric is None else numeric)
                data["raw"].append(_cell(raw_scores.get(scorer, score)))
                data["model_id"].append(model_id)
                for column, value in values.items():
                    data[column].append(value)
    columns = ["label", *param_columns, *SAMPLE_COLUMNS[1:]]
    df = pd.DataFrame({c: data[c] for c in columns}, columns=columns)
    df["score"] = df["score"].astype(float)
    df.attrs["params"] = {**param_columns, "seed": "seed"}
    df.attrs["sweep"] = manifest.sweep_id
    df.attrs["missing"] = missing
    return df


def _results_blob(store: Any, key: str | None) -> dict[str, Any] | None:
    if not key:
        return None
    record = store.get(key)
    if record is None or "results_blob" not in record.value:
        return None
    try:
        blob = store.get_json_blob(record.value["results_blob"])
    except Exception:  # a pruned blob: the aggregate metrics remain usable
        return None
    return blob if isinstance(blob, dict) else None


# -- summaries ----------------------------------------------------------------------------------
SUMMARY_COLUMNS = (
    "mean", "low", "high", "n_seeds", "n_samples", "method", "interval", "confidence", "warning",
)  # fmt: skip


class _SampleIndex:
    """Per-sample scores of a :func:`collate_samples` frame, by (label, task, scorer)."""

    def __init__(self, samples: pd.DataFrame | None) -> None:
        self.stats: dict[tuple[Any, ...], tuple[int, float, float, float]] = {}
        self.frame = samples
        self._groups: Any = None
        if samples is None or samples.empty:
            return
        scores = samples[["label", "task", "scorer", "score"]]
        grouped = scores.groupby(["label", "task", "scorer"], sort=False)["score"]
        table = grouped.agg(["count", "sum", "min", "max"])
        for key, row in zip(table.index, table.itertuples(index=False), strict=True):
            self.stats[key] = (int(row[0]), float(row[1]), float(row[2]), float(row[3]))

    def scores_of(self, labels: list[Any], task: Any, scorer: Any, values: list[float]) -> Any:
        """Per-seed score lists when the metric is the mean of these samples, else None."""
        found = []
        for label, value in zip(labels, values, strict=True):
            stat = self.stats.get((label, task, scorer))
            if stat is None or stat[0] == 0:
                return None
            count, total = stat[0], stat[1]
            if abs(total / count - value) > 1e-9 * max(1.0, abs(value)):
                return None  # this metric is not the mean of the scores (stderr, a share...)
            found.append(stat)
        return found

    def lists(self, labels: list[Any], task: Any, scorer: Any) -> list[list[float]]:
        assert self.frame is not None
        if self._groups is None:
            self._groups = self.frame.groupby(["label", "task", "scorer"], sort=False)[
                "score"
            ].indices
        col = self.frame["score"].to_numpy()
        return [col[self._groups[(label, task, scorer)]].tolist() for label in labels]


def _registered_task_metadata(tasks: Iterable[str]) -> dict[str, dict[str, Any]]:
    try:
        from motools.plugins import registrations

        table = registrations("task")
    except Exception:  # a broken plugin must not stop results from being read
        return {}
    return {t: dict(table[t].metadata) for t in tasks if t in table}


def references(tasks: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """``{task: [{"metric", "value", ...}]}``: the paper's numbers a task registration declares
    under its ``reference`` metadata key (entries without a metric and a number are skipped)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for task, meta in _registered_task_metadata(tasks).items():
        entries = meta.get("reference")
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, (list, tuple)):
            continue
        good = [
            dict(e)
            for e in entries
            if isinstance(e, Mapping)
            and isinstance(e.get("metric"), str)
            and isinstance(e.get("value"), (int, float))
        ]
        if good:
            out[task] = good
    return out


def reference_for(
    refs: Mapping[str, list[dict[str, Any]]], task: Any, metric: Any, scorer: Any = None
) -> dict[str, Any] | None:
    """The reference entry for (task, metric[, scorer]), or None."""
    for entry in refs.get(task, []):
        if entry["metric"] == metric and entry.get("scorer") in (None, scorer):
            return entry
    return None


def _row_warnings(
    task: Any,
    n_seeds: int,
    per_question: Any,
    protocols: Mapping[str, Mapping[str, Any]],
    option_messages: list[str],
) -> str:
    protocol = protocols.get(task)
    if not protocol:
        return ""
    found = []
    want = protocol.get("seeds")
    if isinstance(want, int) and n_seeds < want:
        found.append(f"{n_seeds} of the {want} seeds its paper uses")
    want = protocol.get("samples_per_question")
    if isinstance(want, int) and per_question is not None and per_question < want:
        found.append(f"{per_question} of the {want} samples per question its paper uses")
    prefix = f"task {task}: "
    found.extend(m[len(prefix) :] for m in option_messages if m.startswith(prefix) and "=" in m)
    return "; ".join(found)


def summarise(
    df: pd.DataFrame,
    *,
    samples: pd.DataFrame | None = None,
    method: str = "t",
    confidence: float = 0.95,
    by: Iterable[str] | None = None,
    value: str = "value",
    resamples: int = 2_000,
    seed: int = 0,
    reference: bool = False,
) -> pd.DataFrame:
    """Mean and a confidence interval over seeds, one row per group.

    Groups default to every sweep parameter except ``seed``, plus task, scorer and metric.
    Each seed is one replicate (see :mod:`motools.experiments.stats`): ``method="t"``
    (default) is Student t over the per-seed means, clipped to [0, 1] for a metric in that
    range; ``"bootstrap"`` a cluster bootstrap (seeds, then their samples), reproducible from
    ``seed``. With one seed the interval is taken over that seed's samples and labelled so;
    ``"wilson"`` is only accepted there. ``samples`` (from :func:`collate_samples`) supplies
    the per-sample scores; a metric uses them when it is their mean.

    Columns added: ``mean``, ``low``, ``high``, ``n_seeds``, ``n_samples`` (scored samples
    behind the row), ``method``, ``interval`` (how the interval was made, in words),
    ``confidence``, ``warning`` (where the row falls short of the task's paper protocol;
    empty if not) and, with ``reference=True``, ``reference`` and ``reference_source`` (the
    paper's number from the task registration's ``reference`` metadata; NaN if none).
    """
    import pandas as pd

    from motools.experiments.stats import seed_interval

    if by is None:
        params = [c for c in df.attrs.get("params", {}) if c != "seed" and c in df.columns]
        keys = [*params, *[k for k in KEY_COLUMNS if k in df.columns]]
    else:
        keys = list(by)
    missing = [k for k in [*keys, value] if k not in df.columns]
    if missing:
        raise KeyError(f"no column(s) {missing}; columns are {list(df.columns)}")
    extra = ["reference", "reference_source"] if reference else []
    if df.empty:
        return pd.DataFrame(columns=[*keys, *SUMMARY_COLUMNS, *extra])
    index = _SampleIndex(samples)
    tasks = sorted(map(str, df["task"].unique())) if "task" in df.columns else []
    protocols = _task_protocols(tasks)
    refs = references(tasks) if reference else {}
    option_messages = list(df.attrs.get("protocol_warnings") or [])
    out_rows = []
    groups = df.groupby(keys, dropna=False, sort=True) if keys else [((), df)]
    for group_key, rows in groups:
        rows = rows[rows[value].notna()]
        if rows.empty:
            continue
        key_values = group_key if isinstance(group_key, tuple) else (group_key,)
        values = [float(v) for v in rows[value]]
        labels = rows["label"].tolist() if "label" in rows else []
        task = rows["task"].iloc[0] if "task" in rows and rows["task"].nunique() == 1 else None
        scorer = (
            rows["scorer"].iloc[0] if "scorer" in rows and rows["scorer"].nunique() == 1 else None
        )
        stats = index.scores_of(labels, task, scorer, values) if labels and task else None
        bounded = all(0.0 <= v <= 1.0 for v in values) and (
            stats is None or all(s[2] >= 0.0 and s[3] <= 1.0 for s in stats)
        )
        lists = None
        if stats is not None and (method == "bootstrap" or len(values) == 1):
            lists = index.lists(labels, task, scorer)
        if stats is not None:
            n_samples: int | None = sum(s[0] for s in stats)
        elif "n_samples" in rows and rows["n_samples"].notna().all():
            n_samples = int(rows["n_samples"].sum())
        else:
            n_samples = None
        stderr = None
        if "stderr" in rows and len(values) == 1 and pd.notna(rows["stderr"].iloc[0]):
            stderr = float(rows["stderr"].iloc[0])
        interval = seed_interval(
            values,
            method,
            confidence,
            bounded=bounded,
            samples=lists,
            stderr=stderr,
            n_samples=n_samples,
            resamples=resamples,
            seed=seed,
        )
        per_question = None
        if "samples_per_question" in rows and rows["samples_per_question"].notna().any():
            per_question = int(rows["samples_per_question"].min())
        row = {
            **dict(zip(keys, key_values, strict=True)),
            "mean": interval.mean,
            "low": interval.low,
            "high": interval.high,
            "n_seeds": len(values),
            "n_samples": n_samples,
            "method": method,
            "interval": interval.label,
            "confidence": confidence,
            "warning": _row_warnings(task, len(values), per_question, protocols, option_messages),
        }
        if reference:
            metric = rows["metric"].iloc[0] if "metric" in rows else None
            entry = reference_for(refs, task, metric, scorer)
            row["reference"] = float(entry["value"]) if entry else math.nan
            row["reference_source"] = str(entry.get("source", "paper")) if entry else None
        out_rows.append(row)
    result = pd.DataFrame(out_rows, columns=[*keys, *SUMMARY_COLUMNS, *extra])
    result["n_samples"] = result["n_samples"].astype("Int64")
    result.attrs = dict(df.attrs)
    return result


# -- comparisons --------------------------------------------------------------------------------
COMPARE_COLUMNS = (
    "task", "scorer", "metric", "baseline", "treatment", "difference", "low", "high", "p_value",
    "n_pairs", "n_samples", "method", "confidence",
)  # fmt: skip


def _select(df: pd.DataFrame, which: str | Mapping[str, Any], what: str) -> pd.DataFrame:
    """Rows of one sweep member (a label) or one setting (``{parameter: value}``)."""
    if isinstance(which, str):
        rows = df[df["label"] == which]
        if rows.empty:
            raise ValueError(
                f"{what} {which!r} is not a member label; labels are "
                f"{', '.join(map(str, sorted(df['label'].unique())))}"
            )
        return rows
    mask = None
    for column, wanted in which.items():
        name = column
        if name not in df.columns:
            matches = [c for c, p in df.attrs.get("params", {}).items() if p == column]
            if not matches:
                raise ValueError(
                    f"{what}: no column {column!r}; parameters are "
                    f"{', '.join(df.attrs.get('params', {})) or '(none)'}"
                )
            name = matches[0]
        hit = df[name] == _cell(wanted)
        mask = hit if mask is None else mask & hit
    rows = df if mask is None else df[mask]
    if rows.empty:
        raise ValueError(f"{what} {dict(which)!r} matches no row of the sweep results")
    return rows


def compare(
    df: pd.DataFrame,
    *,
    baseline: str | Mapping[str, Any],
    treatment: str | Mapping[str, Any],
    samples: pd.DataFrame | None = None,
    metric: str | None = None,
    task: str | None = None,
    scorer: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """``treatment - baseline`` per (task, scorer, metric), with an interval and a p-value.

    ``baseline`` and ``treatment`` are a member label or a setting (``{"learning_rate": 0}``,
    parameter names or config paths). Pairing: by seed when both have seeds in common (a
    paired t over the per-seed differences; each difference is taken over the samples both
    seeds scored, by sample id and epoch, when ``samples`` are given and the metric is their
    mean); with one common seed, a paired t over those samples; with no seed in common, Welch's
    unpaired t over the seeds. The ``method`` column says which was used. When both sides are
    proportions (every value, and every sample score used, in [0, 1]) the interval is clipped
    to [-1, 1], the range their difference can take, and ``method`` says so.
    """
    import pandas as pd

    from motools.experiments.stats import clip_difference, paired_difference, welch_difference

    rows = df
    for column, wanted in (("metric", metric), ("task", task), ("scorer", scorer)):
        if wanted is not None:
            rows = rows[rows[column] == wanted]
    base, treat = _select(rows, baseline, "baseline"), _select(rows, treatment, "treatment")
    index = _SampleIndex(samples)
    out = []
    for (t, s, m), b_rows in base.groupby(["task", "scorer", "metric"], sort=True):
        t_rows = treat[(treat["task"] == t) & (treat["scorer"] == s) & (treat["metric"] == m)]
        if t_rows.empty:
            continue
        b_by_seed = dict(
            zip(b_rows["seed"], zip(b_rows["label"], b_rows["value"], strict=True), strict=True)
        )
        t_by_seed = dict(
            zip(t_rows["seed"], zip(t_rows["label"], t_rows["value"], strict=True), strict=True)
        )
        common = [seed for seed in b_by_seed if seed in t_by_seed]
        n_samples = None
        if common:
            pairs = [(b_by_seed[k], t_by_seed[k]) for k in common]
            labels = [p[0][0] for p in pairs] + [p[1][0] for p in pairs]
            values = [float(p[0][1]) for p in pairs] + [float(p[1][1]) for p in pairs]
            stats = index.scores_of(labels, t, s, values)
            use_samples = stats is not None
            bounded = all(0.0 <= v <= 1.0 for v in values) and (
                stats is None or all(st[2] >= 0.0 and st[3] <= 1.0 for st in stats)
            )
            if use_samples:
                diffs_by_seed = [
                    _paired_sample_differences(samples, bl, tl, t, s) for (bl, _), (tl, _) in pairs
                ]
                n_samples = sum(len(d) for d in diffs_by_seed)
                if len(common) == 1:
                    result = paired_difference(diffs_by_seed[0], confidence, unit="samples")
                    result = _relabel(
                        result, f"paired t over {len(diffs_by_seed[0])} samples of one seed"
                    )
                else:
                    per_seed = [sum(d) / len(d) for d in diffs_by_seed]
                    result = paired_difference(per_seed, confidence)
                    result = _relabel(
                        result,
                        f"paired t over {len(common)} seeds (samples paired by id and epoch)",
                    )
            else:
                result = paired_difference(
                    [float(tv) - float(bv) for (_, bv), (_, tv) in pairs], confidence
                )
            b_mean = sum(float(p[0][1]) for p in pairs) / len(pairs)
            t_mean = sum(float(p[1][1]) for p in pairs) / len(pairs)
        else:
            result = welch_difference(
                b_rows["value"].astype(float).tolist(),
                t_rows["value"].astype(float).tolist(),
                confidence,
            )
            b_mean, t_mean = float(b_rows["value"].mean()), float(t_rows["value"].mean())
            bounded = all(0.0 <= float(v) <= 1.0 for v in [*b_rows["value"], *t_rows["value"]])
        if bounded:
            result = clip_difference(result)
        out.append(
            {
                "task": t,
                "scorer": s,
                "metric": m,
                "baseline": b_mean,
                "treatment": t_mean,
                "difference": result.difference,
                "low": result.low,
                "high": result.high,
                "p_value": result.p_value,
                "n_pairs": result.n,
                "n_samples": n_samples,
                "method": result.method,
                "confidence": confidence,
            }
        )
    frame = pd.DataFrame(out, columns=list(COMPARE_COLUMNS))
    frame["n_samples"] = frame["n_samples"].astype("Int64")
    return frame


def _relabel(result: Any, method: str) -> Any:
    from dataclasses import replace

    return replace(result, method=method) if not result.method.startswith("one paired") else result


def _paired_sample_differences(
    samples: pd.DataFrame | None, base_label: Any, treat_label: Any, task: Any, scorer: Any
) -> list[float]:
    assert samples is not None
    cols = ["sample_id", "epoch", "score"]
    pick = (samples["task"] == task) & (samples["scorer"] == scorer)
    b = samples[pick & (samples["label"] == base_label)][cols]
    t = samples[pick & (samples["label"] == treat_label)][cols]
    both = b.merge(t, on=["sample_id", "epoch"], suffixes=("_b", "_t")).dropna()
    if both.empty:
        raise ValueError(
            f"task {task}: members {base_label} and {treat_label} scored no sample in common"
        )
    return (both["score_t"] - both["score_b"]).tolist()
