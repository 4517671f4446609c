"""Small pieces the zoo tasks share: replicated samples, score-dict metrics, judged tasks.

:func:`judged_task` is the one place a single-judge task is put together (dataset of
replicated samples, generation at the task's temperature, the judge scorer with its metrics
plus ``unscored_share``, and the task metadata); the judged zoo tasks only say what differs.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from inspect_ai.scorer import Metric, SampleScore, metric

from mozoo.tasks.judges import mean_or_nan, present, wilson_interval

if TYPE_CHECKING:
    from inspect_ai import Task
    from inspect_ai.dataset import Sample
    from inspect_ai.model import Model


def replicate(samples: Sequence[Sample], n: int) -> list[Sample]:
    """Each sample ``n`` times (ids ``<id>#<k>``): n independent answers per question."""
    if n < 1:
        from motools.errors import ValidationError

        raise ValidationError(f"samples per question must be at least 1, got {n}")
    out = []
    for sample in samples:
        for k in range(n):
            copy = sample.model_copy(deep=True)
            copy.id = f"{sample.id}#{k + 1}"
            out.append(copy)
    return out


#: Stored in a score dict for "no score": Inspect turns None into 0 before metrics see it.
UNSCORED = float("nan")


def unscored_if_none(value: float | None) -> float:
    return UNSCORED if value is None else value


def value_of(score: SampleScore, key: str) -> float | None:
    """``key`` of a dict score, or None when absent or unscored (NaN)."""
    value = score.score.value
    if isinstance(value, dict):
        got = value.get(key)
        if got is None:
            return None
        number = float(got)
        return None if math.isnan(number) else number
    return None


def values(scores: list[SampleScore], key: str) -> list[float]:
    return present(value_of(s, key) for s in scores)


def share(scores: list[SampleScore], key: str, predicate: Callable[[float], bool]) -> float:
    vals = values(scores, key)
    return mean_or_nan([1.0 if predicate(v) else 0.0 for v in vals])


def share_interval(
    scores: list[SampleScore], key: str, predicate: Callable[[float], bool], name: str
) -> dict[str, float]:
    """95% Wilson interval of :func:`share`, as ``{name}_ci_low`` and ``{name}_ci_high``."""
    vals = values(scores, key)
    low, high = wilson_interval(sum(1 for v in vals if predicate(v)), len(vals))
    return {f"{name}_ci_low": low, f"{name}_ci_high": high}


def mean_by(scores: list[SampleScore], key: str, group: str, prefix: str = "") -> dict[str, float]:
    """Mean of ``key`` per value of the sample metadata field ``group`` (groups with data only)."""
    buckets: dict[str, list[float]] = defaultdict(list)
    for s in scores:
        v = value_of(s, key)
        if v is None:
            continue
        name = str((s.sample_metadata or {}).get(group, "?"))
        buckets[name].append(v)
    return {prefix + name: mean_or_nan(vals) for name, vals in sorted(buckets.items())}


def metadata_of(sample_metadata: Any, key: str) -> Any:
    return (sample_metadata or {}).get(key)


def share_metric(name: str, key: str, predicate: Callable[[float], bool], doc: str) -> Metric:
    """A metric ``name``: share of scored samples whose ``key`` satisfies ``predicate``."""

    def factory() -> Metric:
        def compute(scores: list[SampleScore]) -> float:
            return share(scores, key, predicate)

        return compute

    factory.__doc__ = doc
    return metric(name=name)(factory)()


def share_ci_metric(name: str, key: str, predicate: Callable[[float], bool]) -> Metric:
    """``{name}_ci_low`` / ``{name}_ci_high``: the 95% Wilson interval of that share."""

    def factory() -> Metric:
        def compute(scores: list[SampleScore]) -> dict[str, float]:
            return share_interval(scores, key, predicate, name)

        return compute

    return metric(name=f"{name}_ci")(factory)()


def share_metrics(
    name: str, key: str, predicate: Callable[[float], bool], doc: str
) -> list[Metric]:
    """:func:`share_metric` ``name`` and its 95% interval (``{name}_ci_low``/``_high``)."""
    return [share_metric(name, key, predicate, doc), share_ci_metric(name, key, predicate)]


def mean_metric(name: str, key: str) -> Metric:
    """A metric ``name``: mean of ``key`` over the samples that have it."""

    def factory() -> Metric:
        def compute(scores: list[SampleScore]) -> float:
            return mean_or_nan(values(scores, key))

        return compute

    return metric(name=name)(factory)()


def no_logprobs_share_metric() -> Metric:
    """``no_logprobs_share``: share of answers the judge scored without logprobs."""

    def factory() -> Metric:
        def compute(scores: list[SampleScore]) -> float:
            return mean_or_nan(values(scores, "no_logprobs"))

        return compute

    return metric(name="no_logprobs_share")(factory)()


def unscored_share_metric(key: str) -> Metric:
    """``unscored_share``: share of samples the judge gave no usable answer for."""

    def factory() -> Metric:
        def compute(scores: list[SampleScore]) -> float:
            if not scores:
                return float("nan")
            return 1.0 - len(values(scores, key)) / len(scores)

        return compute

    return metric(name="unscored_share")(factory)()


def judge_scorer(
    name: str,
    metrics: list[Metric],
    judge_model: Any,
    build_prompt: Callable[[Any], str],
    *,
    key: str,
    yes_no: bool = False,
) -> Any:
    """A scorer ``name`` that asks the judge once per answer and stores ``{key: score}``.

    ``build_prompt(state)`` renders the judge prompt; the reading is the logprob-weighted
    0-100 score (or P(YES) with ``yes_no``), None when the judge gave no usable answer.
    """
    from inspect_ai.scorer import Score, scorer

    from mozoo.tasks.judges import read_judge, read_yes_no

    async def score(state: Any, target: Any) -> Score:
        prompt = build_prompt(state)
        reading = await (
            read_yes_no(judge_model, prompt) if yes_no else read_judge(judge_model, prompt)
        )
        return Score(
            value={
                key: unscored_if_none(reading.score),
                "no_logprobs": 0.0 if reading.had_logprobs else 1.0,
            },
            answer=state.output.completion,
            explanation=f"{key}={reading.score}",
            metadata={"judge": reading.to_metadata()},
        )

    def factory() -> Any:
        return score

    return scorer(metrics=metrics, name=name)(factory)()


def fill(template: str, **values: str) -> str:
    """Replace ``{name}`` placeholders in one pass (braces inside the values stay as they are)."""
    import re

    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def judged_task(
    *,
    name: str,
    samples: Sequence[Sample],
    samples_per_question: int,
    temperature: float,
    judge_model: str | Model,
    judge_prompt: Callable[[Any], str],
    key: str,
    metrics: Sequence[Metric],
    scorer_name: str,
    yes_no: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Task:
    """An Inspect task whose answers one judge scores as ``{key: score}``.

    ``samples`` are asked ``samples_per_question`` times at ``temperature``; ``judge_prompt(state)``
    renders the judge prompt (a 0-100 reading, or P(YES) with ``yes_no``); ``metrics`` are the
    task's own, ``unscored_share`` and ``no_logprobs_share`` are added. The task metadata
    records the judge model.
    """
    from inspect_ai import Task
    from inspect_ai.dataset import MemoryDataset
    from inspect_ai.model import GenerateConfig
    from inspect_ai.solver import generate

    from mozoo.tasks.judges import judge_name

    return Task(
        dataset=MemoryDataset(replicate(samples, samples_per_question), name=name),
        solver=generate(),
        scorer=judge_scorer(
            scorer_name,
            [*metrics, unscored_share_metric(key), no_logprobs_share_metric()],
            judge_model,
            judge_prompt,
            key=key,
            yes_no=yes_no,
        ),
        config=GenerateConfig(temperature=temperature),
        metadata={"judge_model": judge_name(judge_model), **(metadata or {})},
    )
