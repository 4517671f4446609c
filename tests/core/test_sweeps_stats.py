"""Intervals over seeds, paired comparisons and reference lines against hand-computed values.

The frames are written by hand in the shape :func:`collate` and :func:`collate_samples` give,
so every expected number below can be checked with a calculator.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest

import motools
from motools.experiments import compare, summarise

T_975_2 = 4.302652729749464  # t quantile, 2 degrees of freedom (tables)
Z = 1.959963984540054


def frames(per_seed: dict[int, list[float]], lr: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A metric frame and a sample frame for one setting: ``{seed: [sample scores]}``."""
    rows, samples = [], []
    for seed, scores in per_seed.items():
        label = f"m-{lr}-{seed}"
        rows.append(
            {"label": label, "lr": lr, "seed": seed, "task": "t", "scorer": "match",
             "metric": "accuracy", "value": sum(scores) / len(scores), "n_samples": len(scores)}
        )  # fmt: skip
        samples += [
            {"label": label, "lr": lr, "seed": seed, "task": "t", "scorer": "match",
             "sample_id": i + 1, "epoch": 1, "score": float(v)}
            for i, v in enumerate(scores)
        ]  # fmt: skip
    df, sf = pd.DataFrame(rows), pd.DataFrame(samples)
    df.attrs["params"] = sf.attrs["params"] = {"lr": "lr", "seed": "seed"}
    return df, sf


def one_row(df: pd.DataFrame, sf: pd.DataFrame | None = None, **kw: Any) -> dict[str, Any]:
    [row] = summarise(df, samples=sf, **kw).to_dict("records")
    return row


def test_one_seed_falls_back_to_a_sample_level_wilson_interval() -> None:
    df, sf = frames({0: [1.0] * 12 + [0.0] * 8})
    row = one_row(df, sf)
    assert (round(row["low"], 4), round(row["high"], 4)) == (0.3866, 0.7812)  # textbook 12/20
    assert row["mean"] == 0.6 and row["n_seeds"] == 1 and row["n_samples"] == 20
    assert row["interval"].startswith("one seed: Wilson over 20 samples")
    assert "seed-to-seed variance not included" in row["interval"]


def test_three_seeds_with_samples_use_t_over_seed_means_clipped() -> None:
    # Seed means 0.75, 0.25, 0.75: mean 7/12, s = sqrt(1/12), half = t * s / sqrt(3).
    df, sf = frames({0: [1, 1, 0, 1], 1: [1, 0, 0, 0], 2: [1, 1, 1, 0]})
    row = one_row(df, sf)
    half = T_975_2 * math.sqrt(1 / 12) / math.sqrt(3)
    assert row["mean"] == pytest.approx(7 / 12)
    assert 7 / 12 - half < 0 and 7 / 12 + half > 1  # the raw t interval leaves [0, 1] ...
    assert (row["low"], row["high"]) == (0.0, 1.0)  # ... and is clipped, and says so
    assert row["interval"] == "t over 3 seed means, clipped to [0, 1]"
    assert (row["n_seeds"], row["n_samples"]) == (3, 12)
    # Seed means 0.5, 0.6, 0.7 (10 samples each): s = 0.1, nothing to clip.
    df, sf = frames({s: [1] * k + [0] * (10 - k) for s, k in enumerate((5, 6, 7))})
    row = one_row(df, sf)
    half = T_975_2 * 0.1 / math.sqrt(3)
    assert (row["low"], row["high"]) == (pytest.approx(0.6 - half), pytest.approx(0.6 + half))
    # The cluster bootstrap: reproducible, inside [0, 1], around the mean.
    a, b = one_row(df, sf, method="bootstrap"), one_row(df, sf, method="bootstrap")
    assert a == b and 0 <= a["low"] < 0.6 < a["high"] <= 1
    assert a["interval"] == "cluster bootstrap over 3 seeds and their samples"


def test_proportions_near_0_and_1_stay_inside_the_unit_interval() -> None:
    z2 = Z * Z
    row = one_row(*frames({0: [0.0] * 100}))  # 0 of 100: Wilson [0, z^2 / (n + z^2)]
    assert row["low"] == 0.0 and row["high"] == pytest.approx(z2 / (100 + z2))
    row = one_row(*frames({0: [1.0] * 100}))
    assert row["high"] == 1.0 and row["low"] == pytest.approx(100 / (100 + z2))
    # Seeds at 0, 0.01, 0.02 (of 100): s = 0.01; the t low bound is clipped to 0.
    df, sf = frames({s: [1.0] * k + [0.0] * (100 - k) for s, k in enumerate((0, 1, 2))})
    row = one_row(df, sf)
    assert row["low"] == 0.0 and row["high"] == pytest.approx(0.01 + T_975_2 * 0.01 / math.sqrt(3))
    df, sf = frames({s: [1.0] * k + [0.0] * (100 - k) for s, k in enumerate((100, 99, 98))})
    row = one_row(df, sf)
    assert row["high"] == 1.0 and row["low"] == pytest.approx(0.99 - T_975_2 * 0.01 / math.sqrt(3))


def test_a_metric_that_is_not_the_mean_of_the_scores_ignores_them() -> None:
    df, sf = frames({0: [1, 0], 1: [1, 1], 2: [0, 0]})
    df["value"] = [3.0, 5.0, 4.0]  # e.g. a 0-10 judge's mean: not bounded, not the scores' mean
    row = one_row(df, sf)
    half = T_975_2 * 1.0 / math.sqrt(3)
    assert (row["low"], row["high"]) == (pytest.approx(4 - half), pytest.approx(4 + half))
    assert row["interval"] == "t over 3 seed means"
    assert one_row(df.iloc[:1])["interval"] == "one seed, no sample data: no interval"


def test_paired_comparison_by_seed_and_by_sample() -> None:
    base, _base_s = frames({0: [1] * 5 + [0] * 5, 1: [1] * 6 + [0] * 4, 2: [1] * 7 + [0] * 3})
    treat, _treat_s = frames(
        {0: [1] * 6 + [0] * 4, 1: [1] * 8 + [0] * 2, 2: [1] * 7 + [0] * 3}, lr=1.0
    )
    treat.loc[2, "value"] = 0.75  # by seed only: differences 0.1, 0.2, 0.05
    df = pd.concat([base, treat], ignore_index=True)
    df.attrs["params"] = {"lr": "lr", "seed": "seed"}
    [row] = compare(df, baseline={"lr": 0.0}, treatment={"lr": 1.0}).to_dict("records")
    d = [0.1, 0.2, 0.05]
    mean = sum(d) / 3
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / 2) / math.sqrt(3)
    t = mean / se
    assert row["difference"] == pytest.approx(mean)
    assert (row["low"], row["high"]) == (
        pytest.approx(mean - T_975_2 * se),
        pytest.approx(mean + T_975_2 * se),
    )
    assert row["p_value"] == pytest.approx(1 - t / math.sqrt(t * t + 2))  # t cdf, 2 df, closed form
    assert row["n_pairs"] == 3
    assert row["method"] == "paired t over 3 seeds, clipped to [-1, 1]"  # both proportions

    # One seed each, paired by sample: differences 0, 1, 1, 0 -> t = sqrt(3), 3 df;
    # two-sided p = 1 - (2/pi) (x / (1 + x^2) + atan x) with x = t / sqrt(3) = 1.
    b1, b1s = frames({0: [1, 0, 0, 1]})
    t1, t1s = frames({0: [1, 1, 1, 1]}, lr=1.0)
    df = pd.concat([b1, t1], ignore_index=True)
    sf = pd.concat([b1s, t1s], ignore_index=True)
    [row] = compare(df, baseline=b1["label"][0], treatment=t1["label"][0], samples=sf).to_dict(
        "records"
    )
    assert row["difference"] == 0.5 and row["n_samples"] == 4
    assert row["p_value"] == pytest.approx(1 - (2 / math.pi) * (0.5 + math.pi / 4))
    assert row["method"] == "paired t over 4 samples of one seed, clipped to [-1, 1]"
    with pytest.raises(ValueError, match="matches no row"):
        compare(df, baseline={"lr": 5.0}, treatment={"lr": 1.0})


def test_a_difference_of_proportions_stays_inside_minus_1_to_1() -> None:
    # Differences 1, 0.1, 1 by seed: mean 0.7, se 0.3; the raw t interval reaches 1.99.
    base, _ = frames({0: [0] * 10, 1: [1] * 9 + [0], 2: [0] * 10})
    treat, _ = frames({0: [1] * 10, 1: [1] * 10, 2: [1] * 10}, lr=1.0)
    df = pd.concat([base, treat], ignore_index=True)
    df.attrs["params"] = {"lr": "lr", "seed": "seed"}
    [row] = compare(df, baseline={"lr": 0.0}, treatment={"lr": 1.0}).to_dict("records")
    half = T_975_2 * 0.3
    assert 0.7 + half > 1  # the raw interval leaves [-1, 1] ...
    assert row["high"] == 1.0 and row["low"] == pytest.approx(0.7 - half)  # ... and is clipped
    assert row["method"] == "paired t over 3 seeds, clipped to [-1, 1]"
    # A metric that is not a proportion (a 0-10 judge) is not clipped.
    df["value"] = df["value"] * 10
    [row] = compare(df, baseline={"lr": 0.0}, treatment={"lr": 1.0}).to_dict("records")
    assert row["high"] == pytest.approx(7 + 10 * half) and row["method"] == "paired t over 3 seeds"


class ReferencePlugin:
    @motools.hookimpl
    def register_tasks(self, register: Any) -> None:
        register(
            "t",
            "tests.core.test_sweeps_stats:frames",
            reference=[{"metric": "accuracy", "value": 0.42, "source": "Paper et al. 2025"}],
            protocol={"seeds": 5},
        )


def test_reference_numbers_and_protocol_warnings_from_the_task_registration() -> None:
    motools.plugins.register_plugin(ReferencePlugin(), name="reference-tasks")
    df, sf = frames({0: [1, 0], 1: [1, 1], 2: [0, 1]})
    row = one_row(df, sf, reference=True)
    assert row["reference"] == 0.42 and row["reference_source"] == "Paper et al. 2025"
    assert row["warning"] == "3 of the 5 seeds its paper uses"
    assert "reference" not in one_row(df, sf)
