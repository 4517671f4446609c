"""Means, confidence intervals and paired comparisons for metrics measured over seeds.

Everything here is plain Python (the t distribution comes from the regularised incomplete
beta function), so no scipy is needed. Intervals are returned as :class:`Interval`, whose
``label`` says in words how they were made.

A metric of a sweep is measured at two levels: samples within a seed, and seeds (each a
separate training run). The seed is the unit of replication, so intervals are taken over
per-seed means (see :func:`seed_interval`, used by
:func:`~motools.experiments.tidy.summarise`):

* ``t`` (default) -- Student t over the per-seed means; for a metric bounded in [0, 1] the
  bounds are clipped to [0, 1] and labelled so. The variance of per-seed means contains both
  the seed-to-seed and the within-seed (sampling) variance, so this accounts for both levels.
* ``bootstrap`` -- a two-stage cluster bootstrap: resample seeds, then samples within each
  drawn seed (seeds only when no per-sample scores are known); reproducible from ``seed``.
* With one seed there is no seed-to-seed spread to use: the interval falls back to the
  sample level (Wilson for 0/1 scores, t over sample scores otherwise) and its label says so.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist

METHODS = ("t", "wilson", "bootstrap")
#: The interval methods that respect seeds (``wilson`` pools samples and only fits one seed).
SEED_METHODS = ("t", "bootstrap")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = 0.95
    #: How the interval was made, in words (``"t over 3 seed means, clipped to [0, 1]"``).
    label: str = ""

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "method": self.method,
            "confidence": self.confidence,
            "label": self.label,
        }


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (exclusive), got {confidence}")


# -- the Student t distribution ---------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (inverse of :func:`t_cdf`)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be between 0 and 1 (exclusive), got {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    # Bracket, then bisect to full precision (monotone, so this always converges).
    lo, hi = 0.0, max(1.0, NormalDist().inv_cdf(p))
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


# -- intervals --------------------------------------------------------------------------------
def _clean(values: Sequence[float]) -> list[float]:
    out = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    if not out:
        raise ValueError("no values to summarise")
    return out


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean ± t(1-α/2, n-1) · s/√n. With one value the bounds are NaN (no spread to use)."""
    _check_confidence(confidence)
    xs = _clean(values)
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Interval(mean, math.nan, math.nan, n, "t", confidence)
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * math.sqrt(var / n)
    return Interval(mean, mean - half, mean + half, n, "t", confidence)


def wilson_interval(successes: float, trials: float, confidence: float = 0.95) -> Interval:
    """The Wilson score interval of a binomial proportion ``successes / trials``."""
    _check_confidence(confidence)
    if trials <= 0:
        raise ValueError(f"the Wilson interval needs at least one trial, got {trials}")
    if not 0 <= successes <= trials:
        raise ValueError(f"successes ({successes}) must lie between 0 and trials ({trials})")
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2.0 * trials)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / trials + z * z / (4.0 * trials * trials))
    return Interval(
        p, max(0.0, centre - half), min(1.0, centre + half), int(trials), "wilson", confidence
    )


def pooled_wilson(
    proportions: Sequence[float], trials: Sequence[float], confidence: float = 0.95
) -> Interval:
    """Wilson interval of per-seed proportions pooled by their number of scored samples."""
    if len(proportions) != len(trials):
        raise ValueError("proportions and trials must have the same length")
    successes = 0.0
    total = 0.0
    for p, n in zip(proportions, trials, strict=True):
        if n is None or (isinstance(n, float) and math.isnan(n)):
            raise ValueError(
                "the Wilson interval needs the number of scored samples of every seed "
                "(column n_samples); use method='t' or 'bootstrap' instead"
            )
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(
                f"the Wilson interval is for proportions in [0, 1]; got {p}. "
                "Use method='t' or 'bootstrap' for other metrics."
            )
        successes += float(p) * float(n)
        total += float(n)
    return wilson_interval(round(successes, 9), total, confidence)


def bootstrap_interval(
    values: Sequence[float],
    confidence: float = 0.95,
    *,
    resamples: int = 10_000,
    seed: int = 0,
    statistic: Callable[[Sequence[float]], float] | None = None,
) -> Interval:
    """Percentile bootstrap of ``statistic`` (default: the mean), reproducible from ``seed``."""
    _check_confidence(confidence)
    xs = _clean(values)
    n = len(xs)
    stat = statistic or (lambda v: math.fsum(v) / len(v))
    point = stat(xs)
    if n < 2:
        return Interval(point, math.nan, math.nan, n, "bootstrap", confidence)
    rng = random.Random(seed)
    estimates = sorted(stat(rng.choices(xs, k=n)) for _ in range(resamples))
    alpha = (1.0 - confidence) / 2.0
    return Interval(
        point,
        _percentile(estimates, alpha),
        _percentile(estimates, 1.0 - alpha),
        n,
        "bootstrap",
        confidence,
    )


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Linear interpolation between order statistics (numpy's default 'linear' method)."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def mean_ci(
    values: Sequence[float],
    method: str = "t",
    confidence: float = 0.95,
    *,
    trials: Sequence[float] | None = None,
    resamples: int = 10_000,
    seed: int = 0,
) -> Interval:
    """The mean of ``values`` with a ``method`` interval (``t``, ``wilson`` or ``bootstrap``).

    ``trials`` (scored samples per value) is required for ``wilson``.
    """
    if method == "t":
        return t_interval(values, confidence)
    if method == "bootstrap":
        return bootstrap_interval(values, confidence, resamples=resamples, seed=seed)
    if method == "wilson":
        if trials is None:
            raise ValueError("method='wilson' needs trials= (scored samples per value)")
        return pooled_wilson(values, trials, confidence)
    raise ValueError(f"unknown interval method {method!r}; choose one of {', '.join(METHODS)}")


# -- intervals that respect seeds -------------------------------------------------------------
def clip(interval: Interval, low: float = 0.0, high: float = 1.0) -> Interval:
    """``interval`` with its bounds clipped to ``[low, high]`` (NaN bounds stay NaN)."""

    def bound(v: float) -> float:
        return v if math.isnan(v) else min(high, max(low, v))

    label = f"{interval.label}, clipped to [{low:g}, {high:g}]"
    return replace(interval, low=bound(interval.low), high=bound(interval.high), label=label)


def cluster_bootstrap(
    clusters: Sequence[Sequence[float]],
    confidence: float = 0.95,
    *,
    resamples: int = 2_000,
    seed: int = 0,
) -> Interval:
    """Two-stage percentile bootstrap of the mean: resample clusters (seeds), then the values
    (samples) within each drawn cluster. The estimate is the mean of the cluster means."""
    _check_confidence(confidence)
    groups = [_clean(c) for c in clusters]
    k = len(groups)
    means = [math.fsum(g) / len(g) for g in groups]
    point = math.fsum(means) / k
    rng = random.Random(seed)
    estimates = []
    for _ in range(resamples):
        total = 0.0
        for _ in range(k):
            g = groups[rng.randrange(k)]
            total += math.fsum(rng.choices(g, k=len(g))) / len(g)
        estimates.append(total / k)
    estimates.sort()
    alpha = (1.0 - confidence) / 2.0
    label = f"cluster bootstrap over {k} seeds and their samples"
    return Interval(
        point,
        _percentile(estimates, alpha),
        _percentile(estimates, 1.0 - alpha),
        k,
        "bootstrap",
        confidence,
        label,
    )


def seed_interval(
    seed_values: Sequence[float],
    method: str = "t",
    confidence: float = 0.95,
    *,
    bounded: bool = False,
    samples: Sequence[Sequence[float]] | None = None,
    stderr: float | None = None,
    n_samples: int | None = None,
    resamples: int = 2_000,
    seed: int = 0,
) -> Interval:
    """The interval of a metric measured over seeds (one value per seed).

    ``samples`` are the per-sample scores of each seed, when the metric is their mean;
    ``bounded`` says the metric lies in [0, 1] (t bounds are then clipped). With one seed the
    interval is taken over that seed's samples (Wilson for 0/1 scores, t otherwise; or the
    metric's ``stderr`` with a normal quantile when no scores are known) and labelled so.
    """
    _check_confidence(confidence)
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r}; choose one of {', '.join(METHODS)}")
    values = _clean(seed_values)
    k = len(values)
    if k >= 2:
        if method == "wilson":
            raise ValueError(
                f"method='wilson' pools the samples of all {k} seeds into one binomial and so "
                "ignores seed-to-seed variance; use 't' (default) or 'bootstrap'"
            )
        if method == "bootstrap":
            if samples is not None:
                return cluster_bootstrap(samples, confidence, resamples=resamples, seed=seed)
            b = bootstrap_interval(values, confidence, resamples=resamples, seed=seed)
            return replace(b, label=f"bootstrap over {k} seed means")
        t = replace(t_interval(values, confidence), label=f"t over {k} seed means")
        return clip(t) if bounded else t
    return _one_seed(
        values[0], method, confidence, bounded, samples, stderr, n_samples, resamples, seed
    )


def _one_seed(
    value: float,
    method: str,
    confidence: float,
    bounded: bool,
    samples: Sequence[Sequence[float]] | None,
    stderr: float | None,
    n_samples: int | None,
    resamples: int,
    seed: int,
) -> Interval:
    note = "seed-to-seed variance not included"
    scores = _clean(samples[0]) if samples else None
    if scores is not None:
        n = len(scores)
        if method == "bootstrap":
            b = bootstrap_interval(scores, confidence, resamples=resamples, seed=seed)
            return replace(b, label=f"one seed: bootstrap over {n} samples ({note})")
        if all(v in (0.0, 1.0) for v in scores):
            w = wilson_interval(math.fsum(scores), n, confidence)
            return replace(w, label=f"one seed: Wilson over {n} samples ({note})")
        t = replace(t_interval(scores, confidence), label=f"one seed: t over {n} samples ({note})")
        return clip(t) if bounded else t
    if stderr is not None and not math.isnan(stderr) and n_samples:
        z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
        label = f"one seed: normal over {n_samples} samples from the metric's stderr ({note})"
        out = Interval(
            value, value - z * stderr, value + z * stderr, n_samples, "t", confidence, label
        )
        return clip(out) if bounded else out
    return Interval(
        value, math.nan, math.nan, 1, method, confidence, "one seed, no sample data: no interval"
    )


# -- comparisons ------------------------------------------------------------------------------
def t_pvalue(t: float, df: float) -> float:
    """Two-sided p-value of a t statistic with ``df`` degrees of freedom."""
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0
    return min(1.0, 2.0 * t_cdf(-abs(t), df))


@dataclass(frozen=True)
class Comparison:
    """A difference (treatment minus baseline) with its interval and two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float
    n: int
    method: str
    confidence: float = 0.95


def paired_difference(
    differences: Sequence[float], confidence: float = 0.95, *, unit: str = "seeds"
) -> Comparison:
    """Paired t: mean of ``differences`` with a t interval and the p-value of 'no difference'."""
    _check_confidence(confidence)
    d = _clean(differences)
    n = len(d)
    mean = math.fsum(d) / n
    if n < 2:
        return Comparison(
            mean, math.nan, math.nan, math.nan, n, f"one paired {unit[:-1]}: no test", confidence
        )
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in d) / (n - 1))
    se = sd / math.sqrt(n)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * se
    p = (1.0 if mean == 0 else 0.0) if se == 0 else t_pvalue(mean / se, n - 1)
    return Comparison(mean, mean - half, mean + half, p, n, f"paired t over {n} {unit}", confidence)


def clip_difference(result: Comparison) -> Comparison:
    """``result`` with its interval clipped to [-1, 1], the range of a difference of two
    proportions (NaN bounds stay NaN), and labelled so."""

    def bound(v: float) -> float:
        return v if math.isnan(v) else min(1.0, max(-1.0, v))

    return replace(
        result,
        low=bound(result.low),
        high=bound(result.high),
        method=f"{result.method}, clipped to [-1, 1]",
    )


def welch_difference(
    baseline: Sequence[float], treatment: Sequence[float], confidence: float = 0.95
) -> Comparison:
    """Welch's unpaired t for ``mean(treatment) - mean(baseline)``."""
    _check_confidence(confidence)
    a, b = _clean(baseline), _clean(treatment)
    na, nb = len(a), len(b)
    ma, mb = math.fsum(a) / na, math.fsum(b) / nb
    diff = mb - ma
    label = f"Welch t (unpaired: {na} and {nb} seeds, none in common)"
    if na < 2 or nb < 2:
        return Comparison(diff, math.nan, math.nan, math.nan, min(na, nb), label, confidence)
    va = math.fsum((x - ma) ** 2 for x in a) / (na - 1) / na
    vb = math.fsum((x - mb) ** 2 for x in b) / (nb - 1) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return Comparison(
            diff, diff, diff, 1.0 if diff == 0 else 0.0, min(na, nb), label, confidence
        )
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    half = t_quantile(0.5 + confidence / 2.0, df) * se
    return Comparison(
        diff, diff - half, diff + half, t_pvalue(diff / se, df), min(na, nb), label, confidence
    )
