"""Means and confidence intervals over seeds: Student t, Wilson (proportions) and bootstrap.

Everything here is plain Python (the t quantile is computed from the regularised incomplete
beta function), so no scipy is needed. Intervals are returned as :class:`Interval`.

Which to use:

* ``t`` -- the mean of per-seed values with a Student t interval (the usual choice when each
  seed gives one number);
* ``wilson`` -- for a proportion (accuracy, misalignment rate): the per-seed proportions are
  pooled into ``successes / trials`` over every scored sample of every seed, and the Wilson
  score interval is taken on that pooled binomial;
* ``bootstrap`` -- a percentile bootstrap of the mean over seeds, seeded so it is reproducible.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

METHODS = ("t", "wilson", "bootstrap")


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    mean: float
    low: float
    high: float
    n: int
    method: str
    confidence: float = 0.95

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "mean": self.mean,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "method": self.method,
            "confidence": self.confidence,
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
