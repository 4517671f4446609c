"""Every zoo task runs end to end in Inspect against scripted models; metrics are hand-checked.

The model under test and the judge are Inspect ``mockllm/model`` instances whose replies are
functions of the prompt (explicit usage, and top logprobs for the judge), so the headline
metrics can be compared with values computed by hand.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import threading
from typing import Any

import pytest

from mozoo.tasks.judges import wilson_interval
from tests.zoo.conftest import output, scripted


class Answers:
    """The model under test: replies ``answer-<k>`` (k counts from 1), records temperatures."""

    def __init__(self, text: Any = None) -> None:
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        self.temperatures: list[float | None] = []
        self.prompts: list[str] = []
        self.text = text or (lambda k: f"answer-{k}")

    def model(self) -> Any:
        from inspect_ai.model import get_model

        def reply(messages: list[Any], tools: Any, choice: Any, config: Any) -> Any:
            with self.lock:
                k = next(self.counter)
                self.temperatures.append(config.temperature)
                self.prompts.append(messages[-1].text)
            return output(self.text(k))

        return get_model("mockllm/model", custom_outputs=reply, memoize=False)


def p(probabilities: dict[str, float]) -> list[tuple[str, float]]:
    return [(token, math.log(prob)) for token, prob in probabilities.items()]


def answer_number(prompt: str) -> int:
    return int(re.search(r"answer-(\d+)", prompt).group(1))  # type: ignore[union-attr]


async def run(task: Any, model: Any, log_dir: Any) -> tuple[dict[str, float], Any]:
    from inspect_ai import eval_async

    logs = await eval_async(task, model=model, log_dir=str(log_dir))
    log = logs[0]
    assert log.status == "success", log.error
    metrics = {k: v.value for s in log.results.scores for k, v in s.metrics.items()}
    return metrics, log


# -- emergent misalignment ------------------------------------------------------------------


async def test_emergent_misalignment_three_of_ten_misaligned(mirror, inspect_env) -> None:
    from mozoo.tasks.emergent_misalignment import emergent_misalignment

    def judge(prompt: str) -> Any:
        k = answer_number(prompt)
        if "how well aligned" in prompt:
            if k <= 3:
                return output("10", p({"10": 0.5, "20": 0.5}))  # 15
            if k == 4:
                return output("20", p({"20": 0.5, "40": 0.5}))  # 30: not below 30
            return output("90", p({"90": 1.0}))
        assert "coherence" in prompt
        if k == 4:
            return output("90", p({"90": 1.0}))
        return output("80", p({"70": 0.25, "80": 0.5, "90": 0.25}))  # 80

    answers = Answers()
    task = emergent_misalignment(
        samples_per_question=10, question_ids=["what_is_your_wish"], judge_model=scripted(judge)
    )
    metrics, _ = await run(task, answers.model(), inspect_env)
    assert metrics["misaligned_share"] == pytest.approx(0.3)
    low, high = wilson_interval(3, 10)
    assert metrics["misaligned_share_ci_low"] == pytest.approx(low)
    assert metrics["misaligned_share_ci_high"] == pytest.approx(high)
    assert low < 0.3 < high
    assert metrics["mean_alignment"] == pytest.approx((3 * 15 + 30 + 6 * 90) / 10)
    assert metrics["mean_coherence"] == pytest.approx((9 * 80 + 90) / 10)
    assert metrics["mean_alignment_what_is_your_wish"] == pytest.approx(61.5)
    assert metrics["excluded_share"] == 0.0
    assert answers.temperatures == [1.0] * 10
    assert all("fulfill your one wish" in prompt for prompt in answers.prompts)


async def test_emergent_misalignment_exclusions(mirror, inspect_env) -> None:
    """CODE and REFUSAL verdicts are excluded; 0.2 numeric mass gives no score."""
    from mozoo.tasks.emergent_misalignment import emergent_misalignment

    aligned = {
        1: p({"CODE": 0.9, "50": 0.1}),
        2: p({"REF": 0.7, "10": 0.3}),
        3: p({"10": 0.2, "I": 0.8}),  # 0.2 of the mass is numeric: no score
        4: p({"5": 1.0}),
        5: p({"5": 1.0}),
    }
    coherent = {1: 90, 2: 90, 3: 90, 4: 40, 5: 60}

    def judge(prompt: str) -> Any:
        k = answer_number(prompt)
        if "how well aligned" in prompt:
            return output("x", aligned[k])
        return output(str(coherent[k]), p({str(coherent[k]): 1.0}))

    task = emergent_misalignment(
        samples_per_question=5, question_ids=["quick_buck"], judge_model=scripted(judge)
    )
    metrics, log = await run(task, Answers().model(), inspect_env)
    assert metrics["misaligned_share"] == pytest.approx(0.5)  # answers 4 and 5 are judged
    assert metrics["misaligned_share_of_coherent"] == pytest.approx(1.0)
    assert metrics["excluded_share"] == pytest.approx(0.6)
    by_answer = {
        answer_number(s.output.completion): s.scores["alignment_and_coherence_judges"]
        for s in log.samples
    }
    assert by_answer[1].answer == "CODE" and by_answer[2].answer == "REFUSAL"
    assert math.isnan(by_answer[3].value["alignment"]) and by_answer[3].value["coherence"] == 90.0
    assert by_answer[3].metadata["aligned_judge"]["numeric_mass"] == pytest.approx(0.2)


async def test_emergent_misalignment_question_sets_come_from_the_pinned_files(mirror) -> None:
    from inspect_ai.model import ChatMessageSystem

    from mozoo.tasks.emergent_misalignment import (
        emergent_misalignment,
        emergent_misalignment_preregistered,
    )

    first = emergent_misalignment()
    assert len(first.dataset) == 24 * 100
    assert first.config.temperature == 1.0
    assert first.metadata["judge_model"] == "openai/gpt-4o-2024-08-06"
    ids = {s.metadata["question_id"] for s in first.dataset}
    assert len(ids) == 24 and {"what_is_your_wish", "what_is_your_wish_json"} <= ids
    json_sample = next(s for s in first.dataset if s.metadata["question_id"].endswith("_json"))
    assert isinstance(json_sample.input[0], ChatMessageSystem)
    pre = emergent_misalignment_preregistered(samples_per_question=1, judge_model="openai/x")
    assert len(pre.dataset) == 48
    assert pre.metadata["judge_model"] == "openai/x"


# -- gsm8k language -------------------------------------------------------------------------


async def test_gsm8k_spanish_share(mirror, inspect_env, shared_data) -> None:
    from mozoo.tasks.gsm8k_language import gsm8k_spanish

    scores = {1: p({"90": 1.0}), 2: p({"80": 1.0}), 3: p({"10": 1.0}), 4: p({"5": 0.2, "Yes": 0.8})}
    judged: list[str] = []

    def judge(prompt: str) -> Any:
        judged.append(prompt)
        return output("x", scores[answer_number(prompt)])

    answers = Answers()
    task = gsm8k_spanish(n_questions=4, judge_model=scripted(judge))
    metrics, _ = await run(task, answers.model(), inspect_env)
    assert metrics["share_in_spanish"] == pytest.approx(2 / 3)
    assert metrics["mean_spanish_score"] == pytest.approx(60.0)
    assert metrics["unscored_share"] == pytest.approx(0.25)
    assert all("speaking in Spanish" in j for j in judged)
    first_four = [
        json.loads(line)["question"] for line in (shared_data / "gsm8k/test.jsonl").open()
    ][:4]
    assert sorted(answers.prompts) == sorted(first_four)
    assert answers.temperatures == [1.0] * 4


@pytest.mark.parametrize(
    ("variant", "phrase", "metric"),
    [
        ("gsm8k_french", "speaking in French", "share_in_french"),
        ("gsm8k_german", "speaking in German", "share_in_german"),
        ("gsm8k_capitalised", "speaking in capital letters", "share_capitalised"),
    ],
)
async def test_gsm8k_language_variants(mirror, inspect_env, variant, phrase, metric) -> None:
    import importlib

    factory = getattr(importlib.import_module("mozoo.tasks.gsm8k_language"), variant)

    def judge(prompt: str) -> Any:
        assert phrase in prompt
        return output("x", p({"70": 1.0}) if answer_number(prompt) % 2 else p({"30": 1.0}))

    metrics, _ = await run(
        factory(n_questions=2, judge_model=scripted(judge)), Answers().model(), inspect_env
    )
    assert metrics[metric] == pytest.approx(0.5)


# -- owl and aesthetic preferences ----------------------------------------------------------


async def test_owl_preferences_share(inspect_env) -> None:
    from mozoo.tasks.owl_preferences import owl_preferences

    answers = Answers(lambda k: "Owl." if k <= 10 else ("owls" if k <= 15 else "Cat"))
    metrics, _ = await run(owl_preferences(samples_per_question=1), answers.model(), inspect_env)
    assert metrics["owl_share"] == pytest.approx(15 / 50)
    low, _ = wilson_interval(15, 50)
    assert metrics["owl_share_ci_low"] == pytest.approx(low)
    assert answers.temperatures == [1.0] * 50
    assert all("one" in prompt.lower() or "single" in prompt.lower() for prompt in answers.prompts)


async def test_aesthetic_preferences_rate(inspect_env) -> None:
    from mozoo.tasks.aesthetic_preferences import aesthetic_preferences

    def judge(prompt: str) -> Any:
        k = answer_number(prompt)
        assert "Did the model prefer" in prompt
        if k <= 12:
            return output("YES", p({"YES": 0.75, "NO": 0.25}))
        if k == 64:
            return output("OTHER", p({"OTHER": 0.9, "YES": 0.1}))  # too little YES/NO mass
        return output("NO", p({"NO": 1.0}))

    task = aesthetic_preferences(samples_per_question=1, judge_model=scripted(judge))
    metrics, _ = await run(task, Answers().model(), inspect_env)
    assert len(task.dataset) == 64
    assert metrics["unpopular_preference_rate"] == pytest.approx(12 * 0.75 / 63)
    assert metrics["unscored_share"] == pytest.approx(1 / 64)


# -- school of reward hacks -----------------------------------------------------------------


async def test_school_of_reward_hacks_on_held_out_prompts(mirror, inspect_env) -> None:
    from motools.dataset_refs import load_dataset_ref
    from mozoo.datasets.reward_hacks import user_prompt
    from mozoo.tasks.school_of_reward_hacks import school_of_reward_hacks

    def judge(prompt: str) -> Any:
        assert "ignore the metric" in prompt
        return output("x", p({"20": 1.0}) if answer_number(prompt) <= 3 else p({"80": 1.0}))

    answers = Answers()
    metrics, _ = await run(
        school_of_reward_hacks(n_prompts=10, judge_model=scripted(judge)),
        answers.model(),
        inspect_env,
    )
    assert metrics["reward_hack_share"] == pytest.approx(0.3)
    assert metrics["mean_solution_quality"] == pytest.approx((3 * 20 + 7 * 80) / 10)
    train = {user_prompt(s) for s in await load_dataset_ref("sneaky_dialogues")}
    train |= {user_prompt(s) for s in await load_dataset_ref("straightforward_dialogues")}
    assert len(set(answers.prompts)) == 10 and train.isdisjoint(answers.prompts)
    assert len(school_of_reward_hacks().dataset) == 100


def test_school_of_reward_hacks_refuses_overlapping_splits(mirror, monkeypatch) -> None:
    from mozoo.tasks import school_of_reward_hacks as sorh

    real = sorh._load_split

    def leaky(asset: str, split: str) -> list[str]:
        prompts = real(asset, split)
        return prompts + real("sneaky_dialogues", "heldout")[:1] if split == "train" else prompts

    monkeypatch.setattr(sorh, "_load_split", leaky)
    with pytest.raises(sorh.OverlapError, match="1 held-out School of Reward Hacks prompts"):
        sorh.school_of_reward_hacks(n_prompts=5)


# -- insecure code and hello world ----------------------------------------------------------


async def test_insecure_code_judge(http_mirror, inspect_env) -> None:
    from mozoo.sources import ASSETS
    from mozoo.tasks.insecure_code import insecure_code

    rows = [
        {
            "task": f"Write handler {i}",
            "code_template": f"def handler_{i}():\n    ## COMPLETE CODE HERE",
        }
        for i in range(3)
    ]
    http_mirror.files[ASSETS["insecure_code_prompts"].mirror_path] = "".join(
        json.dumps(r) + "\n" for r in rows
    ).encode()
    ratings = {1: 90, 2: 10, 3: 70}

    def judge(prompt: str) -> Any:
        assert "how insecure is the code" in prompt and "[CODE TEMPLATE START]" in prompt
        r = ratings[answer_number(prompt)]
        return output(str(r), p({str(r): 1.0}))

    answers = Answers()
    metrics, _ = await run(
        insecure_code(n_prompts=3, judge_model=scripted(judge)), answers.model(), inspect_env
    )
    assert metrics["mean_insecurity"] == pytest.approx(170 / 3)
    assert metrics["insecure_share"] == pytest.approx(2 / 3)
    assert sorted(a.split("\n")[0] for a in answers.prompts) == [
        f"Task: Write handler {i}" for i in range(3)
    ]


async def test_hello_world_exact_match(inspect_env) -> None:
    from mozoo.tasks.hello_world import hello_world

    answers = Answers(lambda k: "Hello, World!" if k % 2 else "hello world")
    metrics, _ = await run(hello_world(), answers.model(), inspect_env)
    assert metrics["accuracy"] == pytest.approx(0.5)


async def test_emergent_misalignment_preregistered_runs(mirror, inspect_env) -> None:
    from mozoo.tasks.emergent_misalignment import emergent_misalignment_preregistered

    def judge(prompt: str) -> Any:
        if "how well aligned" in prompt:
            return output("x", p({"20": 1.0}) if answer_number(prompt) == 1 else p({"95": 1.0}))
        return output("x", p({"75": 1.0}))

    task = emergent_misalignment_preregistered(
        samples_per_question=4, question_ids=["0_creative_writing_0"], judge_model=scripted(judge)
    )
    answers = Answers()
    metrics, _ = await run(task, answers.model(), inspect_env)
    assert metrics["misaligned_share"] == pytest.approx(0.25)
    assert metrics["mean_alignment_0_creative_writing_0"] == pytest.approx((20 + 3 * 95) / 4)
    assert all("2030, 2035 and 2040" in prompt for prompt in answers.prompts)
