"""Sweeps on the dummy backends: members, idempotent re-runs, failures, quotas, manifest, collate.

Jobs are counted where a provider would count them: the dummy backend's ``job_log`` (one line
per submitted job) and, for quotas, a dummy subclass that logs when each job starts and ends.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

import motools
from motools.errors import ValidationError
from motools.experiments import (
    Manifest,
    ProtocolWarning,
    SweepSpec,
    bootstrap_interval,
    collate,
    load_manifest,
    mean_ci,
    plot_metric,
    run_sweep,
    run_sweep_sync,
    summarise,
    t_interval,
    t_quantile,
    wilson_interval,
)
from motools.experiments.spec import expand
from motools.training.backends.dummy import DummyTrainingBackend

LR = "submit_training.hyperparameters.learning_rate"
TASKS = ["hello_world", "gsm8k"]


def base_config(log: Path | None = None, **backend_options: Any) -> dict[str, Any]:
    options = dict(backend_options)
    if log is not None:
        options["job_log"] = str(log)
    return {
        "prepare_dataset": {"dataset": "motools.demo:hello_world_dataset", "sample_size": 6},
        "submit_training": {
            "backend": "dummy",
            "model": "base",
            "hyperparameters": {"n_epochs": 2},
            "backend_options": options,
        },
        "evaluate_model": {"backend": "dummy", "tasks": TASKS, "limit": 8},
    }


GRID = {LR: [1e-5, 1e-4, 1e-3], "seed": [0, 1, 2]}


def jobs(log: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# -- running, re-running ----------------------------------------------------------------------
async def test_3x3_sweep_runs_then_rerun_creates_no_new_jobs(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    first = await run_sweep("train_and_evaluate", base_config(log), GRID, max_parallel=4)
    assert first.ok and len(first.members) == 9
    assert first.counts() == {"members": 9, "succeeded": 9, "cached": 0, "failed": 0}
    submitted = jobs(log)
    assert len(submitted) == 9
    assert {m.model_id for m in first.members} == {j["model_id"] for j in submitted}
    assert {m.training_job["job_id"] for m in first.members} == {j["job_id"] for j in submitted}
    # Every grid point is one member with its own frozen config.
    points = {(m.params[LR], m.params["seed"]) for m in first.members}
    assert points == {(lr, s) for lr in GRID[LR] for s in GRID["seed"]}
    for m in first.members:
        assert m.config["seed"] == m.params["seed"]
        assert m.config["submit_training"]["hyperparameters"]["learning_rate"] == m.params[LR]

    again = await run_sweep("train_and_evaluate", base_config(log), GRID, max_parallel=4)
    assert again.ok and all(m.cached for m in again.members)
    assert len(jobs(log)) == 9, "re-running the sweep paid for new jobs"
    assert [m.label for m in again.members] == [m.label for m in first.members]
    assert {m.label: m.model_id for m in again.members} == {
        m.label: m.model_id for m in first.members
    }
    assert again.manifest_path == first.manifest_path


async def test_a_job_that_ended_unwatched_is_recorded_on_reattach(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    config = base_config(log, duration=0.5)
    grid = {"seed": [0, 1]}
    interrupted = asyncio.create_task(run_sweep("train_and_evaluate", config, grid))
    while len(jobs(log)) < 2:
        await asyncio.sleep(0.02)
    interrupted.cancel()  # like a killed process: the jobs go on without anyone watching
    with pytest.raises(asyncio.CancelledError):
        await interrupted
    await asyncio.sleep(0.6)  # ...and end

    reattached = await run_sweep("train_and_evaluate", config, grid)
    assert reattached.ok and len(jobs(log)) == 2
    assert {m.training_job["job_id"] for m in reattached.members} == {
        j["job_id"] for j in jobs(log)
    }
    assert all(m.steps["submit_training"] == "done" for m in reattached.members)  # re-attached
    again = await run_sweep("train_and_evaluate", config, grid)
    assert all(m.cached for m in again.members), "the finished jobs were not recorded"
    assert len(jobs(log)) == 2


async def test_labels_are_content_addressed() -> None:
    config = base_config()
    spec_a = SweepSpec.parse({"base_config": config, "grid": {LR: [1e-4], "seed": [0]}})
    spec_b = SweepSpec.parse({"base_config": config, "grid": {"seed": [0], LR: [0.0001]}})
    config_c = json.loads(json.dumps(config))
    config_c["submit_training"]["hyperparameters"]["learning_rate"] = 1e-4
    spec_c = SweepSpec.parse({"base_config": config_c, "grid": {"seed": [0]}})
    labels = {expand(s)[0].label for s in (spec_a, spec_b, spec_c)}
    assert len(labels) == 1, "the same frozen config must give the same label"
    spec_d = SweepSpec.parse({"base_config": config, "grid": {LR: [2e-4], "seed": [0]}})
    assert expand(spec_d)[0].label not in labels


async def test_an_invalid_member_stops_the_sweep_before_anything_runs(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    with pytest.raises(ValidationError) as info:
        await run_sweep("train_and_evaluate", base_config(log), {LR: [1e-4, -1.0], "seed": [0]})
    message = str(info.value)
    assert f"{LR}=-1.0" in message and "learning_rate" in message
    assert not log.exists(), "a job was submitted although a member was invalid"
    with pytest.raises(ValidationError, match=r"evaluate_model\.temprature: unknown key"):
        await run_sweep(
            "train_and_evaluate", base_config(log), {"evaluate_model.temprature": [1.0]}
        )


async def test_one_failing_member_is_reported_while_the_rest_finish(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    grid = {LR: [1e-5, 1e-4, 1e-3], "seed": [0, 1]}
    failing = {"seed": 7, "submit_training.backend_options.fail": True}
    result = await run_sweep(
        "train_and_evaluate", base_config(log), grid, include=[failing], max_parallel=3
    )
    assert not result.ok
    assert len(result.members) == 7 and len(result.succeeded) == 6
    [bad] = result.failed
    assert bad.params == failing
    assert "asked to fail" in (bad.error or "")
    assert bad.steps["wait_for_training"] == "failed"
    assert bad.steps["evaluate_model"] == "skipped"
    assert len(jobs(log)) == 7
    status = load_manifest_for(result)
    assert status.counts() == {"succeeded": 6, "failed": 1}

    # Re-running reports it again without paying for it again...
    again = await run_sweep(
        "train_and_evaluate", base_config(log), grid, include=[failing], max_parallel=3
    )
    [bad_again] = again.failed
    assert bad_again.not_retried and bad_again.label == bad.label
    assert len(jobs(log)) == 7
    # ...until asked to retry it.
    retried = await run_sweep(
        "train_and_evaluate",
        base_config(log),
        grid,
        include=[failing],
        max_parallel=3,
        retry_failed=True,
    )
    [bad_retried] = retried.failed
    assert not bad_retried.not_retried
    assert len(jobs(log)) == 8, "--retry-failed should submit the failed member once more"
    assert len(retried.succeeded) == 6 and all(m.cached for m in retried.succeeded)


def load_manifest_for(result: Any) -> Manifest:
    return Manifest.read(result.manifest_path)


# -- provider quotas --------------------------------------------------------------------------
class TimedDummy(DummyTrainingBackend):
    """The dummy backend, also logging when each job starts and ends (the provider's view)."""

    name = "timed_dummy"

    def __init__(self, timeline: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeline = timeline

    async def train(self, *args: Any, **kwargs: Any) -> Any:
        run = await super().train(*args, **kwargs)
        state = run.to_state()
        start = float(state["created_at"])
        with open(self.timeline, "a") as fh:
            fh.write(json.dumps({"start": start, "end": start + float(state["duration"])}) + "\n")
        return run


class TimedPlugin:
    @motools.hookimpl
    def register_training_backends(self, register: Any) -> None:
        register("timed_dummy", TimedDummy, description="dummy with a job timeline")


def most_jobs_at_once(timeline: Path) -> int:
    spans = [json.loads(line) for line in timeline.read_text().splitlines()]
    return max(sum(1 for o in spans if o["start"] <= s["start"] < o["end"]) for s in spans)


@pytest.mark.slow  # three waves of 0.8 s jobs, plus a control run
async def test_quota_is_never_exceeded_on_the_backend(tmp_path: Path) -> None:
    motools.plugins.register_plugin(TimedPlugin(), name="timed")
    config = base_config()
    config["submit_training"]["backend"] = "timed_dummy"
    config["wait_for_training"] = {"timeout": 60}
    grid = {"seed": list(range(6))}

    # Control: without a quota the six jobs overlap, so the observation can see a breach.
    control = tmp_path / "control.log"
    config["submit_training"]["backend_options"] = {"duration": 1.5, "timeline": str(control)}
    free = await run_sweep("train_and_evaluate", config, grid, max_parallel=6)
    assert free.ok and most_jobs_at_once(control) > 2

    timeline = tmp_path / "timeline.log"
    config["submit_training"]["backend_options"] = {"duration": 0.8, "timeline": str(timeline)}
    grid = {"seed": list(range(10, 16))}
    limited = await run_sweep(
        "train_and_evaluate", config, grid, max_parallel=6, quotas={"timed_dummy": 2}
    )
    assert limited.ok, [m.error for m in limited.failed]
    assert len(timeline.read_text().splitlines()) == 6
    assert most_jobs_at_once(timeline) == 2, "the quota of 2 jobs in flight was exceeded"
    stats = limited.quotas["timed_dummy"]
    assert stats["peak"] == 2 and stats["waited"] >= 1 and stats["in_use"] == 0

    # Cache hits take no slot: the re-run neither submits nor queues.
    again = await run_sweep(
        "train_and_evaluate", config, grid, max_parallel=6, quotas={"timed_dummy": 1}
    )
    assert again.ok and all(m.cached for m in again.members)
    assert again.quotas["timed_dummy"]["peak"] == 0
    assert len(timeline.read_text().splitlines()) == 6


def test_quota_limits_are_validated() -> None:
    with pytest.raises(ValidationError, match=r"quotas\.openai"):
        motools.experiments.ProviderQuotas({"openai": 0})
    with pytest.raises(ValidationError, match=r"quotas\.openai"):
        SweepSpec.parse({"grid": {"seed": [0]}, "quotas": {"openai": 0}})


# -- the manifest -----------------------------------------------------------------------------
async def test_manifest_is_written_while_the_sweep_runs(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    config = base_config(log, duration=2.0)
    spec = SweepSpec.parse({"name": "live", "base_config": config, "grid": {"seed": [0, 1]}})
    task = asyncio.create_task(run_sweep(spec))
    seen: dict[str, Any] = {}
    for _ in range(200):
        await asyncio.sleep(0.02)
        try:
            manifest = load_manifest(spec)
        except ValidationError:
            continue
        running = [
            m
            for m in manifest.members.values()
            if m.get("status") == "running" and (m.get("training_job") or {}).get("job_id")
        ]
        if len(running) == 2:
            seen = {m["label"]: m["training_job"]["job_id"] for m in running}
            break
    assert not task.done(), "the sweep finished before its progress could be observed"
    assert set(seen.values()) == {j["job_id"] for j in jobs(log)}
    result = await task
    frame = result.to_frame()
    assert list(frame["status"]) == ["succeeded", "succeeded"]
    assert dict(zip(frame["label"], frame["job_id"], strict=True)) == seen
    assert set(frame["model_id"]) == {j["model_id"] for j in jobs(log)}
    assert {"label", "seed", "status", "job_id", "model_id", "eval_logs"} <= set(frame.columns)
    manifest = load_manifest(spec)
    for state in manifest.members.values():
        assert state["config"]["seed"] == state["params"]["seed"]
        assert state["results"]["metrics"].keys() == set(TASKS)
        assert state["results"]["n_samples"] == dict.fromkeys(TASKS, 8)


def test_sweep_file_errors_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("workflow: train_and_evaluate\ngrid: {seed: [0]}\nmax_paralel: 2\n")
    with pytest.raises(ValidationError, match=r"s\.yaml: invalid sweep file:\n  max_paralel"):
        SweepSpec.from_yaml(path)
    path.write_text("grid: {seed: 3}\n")
    with pytest.raises(ValidationError, match=r"grid\.seed"):
        SweepSpec.from_yaml(path)
    path.write_text("grid: {'seed;': [1]}\n")
    with pytest.raises(ValidationError, match="not a dotted config path"):
        SweepSpec.from_yaml(path)


def test_base_config_may_be_a_workflow_file_next_to_the_sweep(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(yaml.safe_dump(base_config()))
    sweep = tmp_path / "configs" / "sweep.yaml"
    sweep.write_text(
        "base_config: base.yaml\ngrid:\n  submit_training.hyperparameters.learning_rate: [1e-4]\n"
    )
    [member] = expand(SweepSpec.from_yaml(sweep))
    assert member.config["submit_training"]["hyperparameters"]["learning_rate"] == 0.0001
    assert member.config["evaluate_model"]["tasks"] == TASKS


def test_run_sweep_sync_and_exclude(tmp_path: Path) -> None:
    log = tmp_path / "jobs.log"
    result = run_sweep_sync(
        "train_and_evaluate",
        base_config(log),
        {LR: [1e-5, 1e-4], "seed": [0, 1]},
        exclude=[{LR: 1e-4, "seed": 1}],
    )
    assert result.ok and len(result.members) == 3
    assert (1e-4, 1) not in {(m.params[LR], m.params["seed"]) for m in result.members}


# -- collate, intervals, protocol -------------------------------------------------------------
def test_t_quantile_matches_tables() -> None:
    for p, df, table in [
        (0.975, 1, 12.706204736174698),
        (0.975, 2, 4.302652729749464),
        (0.975, 4, 2.7764451051977934),
        (0.975, 10, 2.2281388519649385),
        (0.995, 30, 2.749995653567),
        (0.9, 3, 1.6377443536962102),
    ]:
        assert t_quantile(p, df) == pytest.approx(table, rel=1e-9)
    assert t_quantile(0.025, 4) == pytest.approx(-2.7764451051977934, rel=1e-9)


def test_intervals_equal_hand_computed_values() -> None:
    # Wilson 95% for 12/20 (textbook value 0.3866 .. 0.7812).
    w = wilson_interval(12, 20)
    assert (round(w.low, 4), round(w.high, 4)) == (0.3866, 0.7812)
    assert w.mean == 0.6
    # t interval of 0.5, 0.6, 0.9: mean 2/3, s = sqrt(0.0433..), t(0.975, 2) = 4.3027.
    t = t_interval([0.5, 0.6, 0.9])
    s = math.sqrt(((0.5 - 2 / 3) ** 2 + (0.6 - 2 / 3) ** 2 + (0.9 - 2 / 3) ** 2) / 2)
    half = 4.302652729749464 * s / math.sqrt(3)
    assert t.mean == pytest.approx(2 / 3)
    assert (t.low, t.high) == (pytest.approx(2 / 3 - half), pytest.approx(2 / 3 + half))
    assert math.isnan(t_interval([0.4]).low)
    # Pooled Wilson: seeds scoring 0.5 and 0.7 on 10 samples each are 12 of 20.
    pooled = mean_ci([0.5, 0.7], "wilson", trials=[10, 10])
    assert (pooled.low, pooled.high) == (pytest.approx(w.low), pytest.approx(w.high))
    with pytest.raises(ValueError, match="proportions"):
        mean_ci([2.0, 3.0], "wilson", trials=[10, 10])


def test_bootstrap_interval() -> None:
    assert bootstrap_interval([0.3, 0.3, 0.3]).low == 0.3
    values = [0.2, 0.4, 0.5, 0.9, 0.35, 0.6]
    a, b = bootstrap_interval(values, seed=1), bootstrap_interval(values, seed=1)
    assert a == b, "the bootstrap must be reproducible from its seed"
    assert a.low < statistics.mean(values) < a.high
    assert a.low >= min(values) and a.high <= max(values)
    t = t_interval(values)
    assert a.high - a.low < t.high - t.low  # percentile bootstrap is narrower for n=6
    assert a.high - a.low > 0.5 * (t.high - t.low)


async def test_collate_is_tidy_and_matches_the_runs(tmp_path: Path) -> None:
    result = await run_sweep("train_and_evaluate", base_config(tmp_path / "j.log"), GRID)
    df = collate(result)
    assert len(df) == 9 * len(TASKS)  # one scorer, one metric (stderr is a column, not a row)
    assert list(df.columns[:3]) == ["label", "learning_rate", "seed"]
    assert df.attrs["params"] == {"learning_rate": LR, "seed": "seed"}
    assert not df.duplicated(["label", "task", "scorer", "metric", "seed"]).any()
    for m in result.members:
        for task in TASKS:
            [row] = df[(df["label"] == m.label) & (df["task"] == task)].to_dict("records")
            metrics = m.results["metrics"][task]["match"]
            assert row["value"] == metrics["accuracy"] and row["stderr"] == metrics["stderr"]
            assert row["learning_rate"] == m.params[LR] and row["seed"] == m.params["seed"]
            assert row["n_samples"] == 8 and row["model_id"] == m.model_id
    assert collate(
        SweepSpec.parse({"base_config": base_config(tmp_path / "j.log"), "grid": GRID})
    ).equals(df)

    summary = summarise(df, method="t")
    assert len(summary) == 3 * len(TASKS) and set(summary["n_seeds"]) == {3}
    for row in summary.to_dict("records"):
        values = df[(df["learning_rate"] == row["learning_rate"]) & (df["task"] == row["task"])][
            "value"
        ].tolist()
        mean = sum(values) / 3
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
        half = 4.302652729749464 * sd / math.sqrt(3)
        assert row["mean"] == pytest.approx(mean)
        # Accuracy lies in [0, 1]: the t bounds are clipped there, and the label says so.
        assert row["low"] == pytest.approx(max(0.0, mean - half))
        assert row["high"] == pytest.approx(min(1.0, mean + half))
        assert row["interval"] == "t over 3 seed means, clipped to [0, 1]"
        assert row["n_samples"] == 24 and row["warning"] == ""
    with pytest.raises(ValueError, match="ignores seed-to-seed variance"):
        summarise(df, method="wilson")


def proto_task() -> None:
    """A stand-in task; the dummy evaluation backend only needs its name."""


class ProtocolPlugin:
    @motools.hookimpl
    def register_tasks(self, register: Any) -> None:
        register(
            "proto_task",
            "tests.core.test_sweeps:proto_task",
            protocol={
                "samples_per_question": 3,
                "temperature": 1.0,
                "judge_model": "openai/gpt-4o",
                "seeds": 5,
            },
            reference=[{"metric": "accuracy", "value": 0.5, "source": "Proto et al. 2024"}],
        )


async def test_collate_warns_when_the_paper_protocol_is_not_met(tmp_path: Path) -> None:
    motools.plugins.register_plugin(ProtocolPlugin(), name="protocol-tasks")
    config = base_config(tmp_path / "j.log")
    config["evaluate_model"] = {
        "backend": "dummy",
        "tasks": ["proto_task", "plain_task"],
        "limit": 4,
        "options": {"temperature": 0.5},
    }
    result = await run_sweep("train_and_evaluate", config, {"seed": [0, 1]})
    with pytest.warns(ProtocolWarning) as caught:
        df = collate(result)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 3, messages
    table = summarise(df)  # the same shortfalls, on every row of the task they concern
    [proto] = table[table["task"] == "proto_task"]["warning"].tolist()
    assert "2 of the 5 seeds" in proto and "1 of the 3 samples per question" in proto
    assert "temperature=1.0" in proto
    assert table[table["task"] == "plain_task"]["warning"].tolist() == [""]
    assert any(
        "proto_task" in m and "3 samples per question" in m and "used 1" in m for m in messages
    )
    assert any("proto_task" in m and "5 seeds" in m and "has 2" in m for m in messages)
    assert any("temperature=1.0" in m and "0.5" in m for m in messages)
    assert not any("plain_task" in m for m in messages)
    assert df.attrs["protocol_warnings"] == messages


# -- plots ------------------------------------------------------------------------------------
async def test_plot_writes_a_valid_png_and_self_contained_html(tmp_path: Path) -> None:
    import matplotlib.image
    from PIL import Image

    result = await run_sweep("train_and_evaluate", base_config(), GRID)
    png, page = tmp_path / "plot.png", tmp_path / "plot.html"
    summary = plot_metric(result, "accuracy", LR, out=png, html=page, dpi=120)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(png).info["dpi"] == pytest.approx((120, 120), abs=0.1)
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[0] > 400 and pixels.shape[1] > 600
    assert pixels.std() > 0.05, "the image is blank"
    assert len(summary) == 3 * len(TASKS)  # one panel per task, three learning rates each
    assert set(summary["n_seeds"]) == {3} and set(summary["n_samples"]) == {24}
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == len(TASKS)
    assert "http://" not in text and "https://" not in text and "src=" not in text
    assert "Each point: mean over 3 seeds (24 scored samples in all)" in text
    # y ticks on round values: 1, 2, 2.5 or 5 times a power of ten apart, each a multiple.
    import re

    ticks = [float(v) for v in re.findall(r'class="ytick"[^>]*>([^<]+)<', text)]
    assert len(ticks) >= 3
    step = ticks[1] - ticks[0]
    assert round(step / 10 ** math.floor(math.log10(step)), 9) in (1, 2, 2.5, 5)
    assert all(abs(t / step - round(t / step)) < 1e-9 for t in ticks)
    with pytest.raises(ValidationError, match="no metric 'acc'"):
        plot_metric(result, "acc", "learning_rate", out=png)
    with pytest.raises(ValidationError, match="parameters are learning_rate, seed"):
        plot_metric(result, "accuracy", "lr", out=png)
    with pytest.raises(ValidationError, match=r"\.png, \.pdf, \.svg"):
        plot_metric(result, "accuracy", "learning_rate", out=tmp_path / "p.jpg")


async def test_pdf_and_svg_are_real_vector_files(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    result = await run_sweep("train_and_evaluate", base_config(), GRID)
    pdf, svg = tmp_path / "fig.pdf", tmp_path / "fig.svg"
    plot_metric(result, "accuracy", "learning_rate", out=pdf)
    plot_metric(result, "accuracy", "learning_rate", out=svg)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"/Type /Page" in data and b"startxref" in data
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.read_bytes()[:4] != b"\x89PNG"


async def test_facets_groups_labels_and_reference_line(tmp_path: Path) -> None:
    from motools.experiments.plots import chart_spec, prepare

    motools.plugins.register_plugin(ProtocolPlugin(), name="protocol-tasks")
    config = base_config()
    config["evaluate_model"] = {"backend": "dummy", "tasks": ["proto_task", "plain_task"],
                                "limit": 4}  # fmt: skip
    grid = {LR: [1e-5, 1e-4], "submit_training.hyperparameters.n_epochs": [1, 2], "seed": [0, 1]}
    result = await run_sweep("train_and_evaluate", config, grid)
    with pytest.warns(ProtocolWarning):
        summary, x, groups, facets = prepare(result, "accuracy", "learning_rate", reference=True)
    assert facets == ["task"] and groups == ["n_epochs"]  # tasks are panels, never legend lines
    chart = chart_spec(summary, x, groups, facets, confidence=0.95, logx=None, title=None)
    assert [p.title for p in chart.panels] == ["plain_task", "proto_task"]
    assert all(name in ("1", "2") for p in chart.panels for name, _ in p.series)
    assert chart.panels[0].ylabel.startswith("accuracy: mean, 95% CI")
    assert "t over seed means, clipped" in chart.panels[0].ylabel
    assert chart.panels[1].reference == (0.5, "Proto et al. 2024")
    assert chart.panels[0].reference is None
    assert "Each point: mean over 2 seeds" in chart.caption
    assert any("proto_task" in w and "2 of the 5 seeds" in w for w in chart.warnings)
    page = tmp_path / "p.html"
    with pytest.warns(ProtocolWarning):
        plot_metric(result, "accuracy", "learning_rate", out=tmp_path / "p.svg", html=page,
                    reference=True, facet="task", group="n_epochs")  # fmt: skip
    text = page.read_text()
    assert 'class="reference"' in text and "Proto et al. 2024" in text
    assert "Protocol warning, proto_task" in text
    with pytest.warns(ProtocolWarning):  # one panel per metric instead
        _, _, _, facets = prepare(
            result, "accuracy", "learning_rate", facet="metric", task="proto_task"
        )
    assert facets == ["metric"]


# -- command line -----------------------------------------------------------------------------
SWEEP_YAML = """\
name: cli-sweep
workflow: train_and_evaluate
max_parallel: 3
quotas: {{dummy: 2}}
base_config:
  prepare_dataset: {{dataset: "motools.demo:hello_world_dataset", sample_size: 6}}
  submit_training:
    backend: dummy
    model: base
    backend_options: {{job_log: "{log}", duration: 0.6}}
  evaluate_model: {{backend: dummy, tasks: [hello_world], limit: 8}}
grid:
  submit_training.hyperparameters.learning_rate: [1e-5, 1e-4]
  seed: [0, 1]
include:
  - {{seed: 9, submit_training.backend_options.fail: true}}
"""


def test_cli_run_status_results_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from motools.cli.main import main

    log = tmp_path / "jobs.log"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(SWEEP_YAML.format(log=log))
    assert main(["sweep", "run", str(sweep), "--dry-run"]) == 0
    assert "5 members" in capsys.readouterr().out and not log.exists()

    assert main(["sweep", "run", str(sweep)]) == 1  # one member fails
    out, err = capsys.readouterr()
    assert "4/5 succeeded" in out and "failed members:" in out and "asked to fail" in out
    assert "quota dummy: at most 2/2 jobs in flight" in out
    assert "5/5" in err  # live progress
    assert len(jobs(log)) == 5

    assert main(["sweep", "status", str(sweep), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["sweep"] == "cli-sweep"
    assert status["counts"] == {"succeeded": 4, "failed": 1}
    assert {r["job_id"] for r in status["members"]} == {j["job_id"] for j in jobs(log)}

    assert main(["sweep", "results", str(sweep), "--json", "--out", str(tmp_path / "r.csv")]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and {r["n_seeds"] for r in rows} == {2}
    assert (tmp_path / "r.csv").read_text().count("\n") == 1 + 4

    png = tmp_path / "p.png"
    assert main(["sweep", "plot", str(sweep), "--metric", "accuracy", "--x", "learning_rate",
                 "--out", str(png)]) == 0  # fmt: skip
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "wrote" in capsys.readouterr().out

    assert main(["sweep", "run", str(sweep), "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["counts"] == {"members": 5, "succeeded": 4, "cached": 4, "failed": 1}
    assert len(jobs(log)) == 5


def test_status_of_a_sweep_never_run_says_so(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text("grid: {seed: [0]}\nbase_config: {}\n")
    with pytest.raises(ValidationError, match="has not been run"):
        load_manifest(sweep)


async def test_plot_without_matplotlib_gives_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from motools.errors import MotoolsError

    result = await run_sweep("train_and_evaluate", base_config(), {"seed": [0]})
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(MotoolsError, match=r"pip install 'motools-core\[plots\]'"):
        plot_metric(result, "accuracy", "seed", out=tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()
